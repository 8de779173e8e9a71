package server

import (
	"net/http"
	"time"

	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// cadenceStats answers the funnel, per-touch rates and raw counters, or
// with ?by=day the flows per UTC day (?from=&to= as YYYY-MM-DD, both
// included; default the last 30 days).
func (s *Server) cadenceStats(w http.ResponseWriter, r *http.Request, _ Token) {
	id := r.PathValue("id")
	q := r.URL.Query()
	switch q.Get("by") {
	case "":
		rep, err := s.e.Report(r.Context(), id)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
		return
	case "day":
	default:
		writeErr(w, http.StatusBadRequest, "bad_query", "by", "by=%q: want by=day, or no by for the totals", q.Get("by"))
		return
	}
	to := store.Midnight(s.e.Clock())
	from := to.AddDate(0, 0, -29)
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "bad_query", p.name, "%s=%q: want a UTC day as YYYY-MM-DD, such as 2026-03-02", p.name, v)
			return
		}
		*p.t = t
	}
	if q.Get("from") == "" && q.Get("to") != "" {
		from = to.AddDate(0, 0, -29)
	}
	if to.Before(from) {
		writeErr(w, http.StatusBadRequest, "bad_query", "to", "to=%s is before from=%s", to.Format(time.DateOnly), from.Format(time.DateOnly))
		return
	}
	if n := int(to.Sub(from).Hours()/24) + 1; n > store.MaxStatsDays {
		writeErr(w, http.StatusBadRequest, "bad_query", "from", "from=%s to=%s is %d days; ask for at most %d at once", from.Format(time.DateOnly), to.Format(time.DateOnly), n, store.MaxStatsDays)
		return
	}
	days, err := s.e.Trend(r.Context(), id, from, to)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Cadence string          `json:"cadence"`
		From    string          `json:"from"`
		To      string          `json:"to"`
		Days    []worker.DayRow `json:"days"`
	}{id, from.Format(time.DateOnly), to.Format(time.DateOnly), days})
}

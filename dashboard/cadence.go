package dashboard

import (
	"net/http"
	"sort"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// cadences lists every cadence's funnel at a glance.
func (d *Dashboard) cadences(w http.ResponseWriter, r *http.Request, s *Session) {
	var reps []*worker.Report
	for id := range d.e.Cadences() {
		rep, err := d.e.Report(r.Context(), id)
		if err != nil {
			d.fail(w, r, s, err, "The cadence reports could not be loaded.")
			return
		}
		reps = append(reps, rep)
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].ID < reps[j].ID })
	p := d.page(r, s, "Cadences")
	p.Nav = "cadences"
	d.render(w, r, http.StatusOK, "cadences", struct {
		page
		Reports []*worker.Report
	}{p, reps})
}

// cadence is one cadence's report: funnel, touches and what a crash left
// uncertain.
func (d *Dashboard) cadence(w http.ResponseWriter, r *http.Request, s *Session) {
	c, err := d.e.Cadence(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	rep, err := d.e.Report(r.Context(), c.ID)
	if err != nil {
		d.fail(w, r, s, err, "The cadence report could not be loaded.")
		return
	}
	uncertain, err := d.e.Uncertain(r.Context(), c.ID, d.e.Clock().Add(-7*24*time.Hour), 50)
	if err != nil {
		d.fail(w, r, s, err, "The cadence report could not be loaded.")
		return
	}
	n, err := trendDays(r.URL.Query().Get("days"))
	if err != nil {
		n = 30
	}
	to := store.Midnight(d.e.Clock())
	days, err := d.e.Trend(r.Context(), c.ID, to.AddDate(0, 0, 1-n), to)
	if err != nil {
		d.fail(w, r, s, err, "The cadence report could not be loaded.")
		return
	}
	p := d.page(r, s, c.Name)
	p.Nav = "cadences"
	d.render(w, r, http.StatusOK, "cadence", struct {
		page
		Report    *worker.Report
		Cadence   *cadence.Cadence
		Uncertain []store.UncertainTouch
		Funnel    funnelView
		Days      int
		Trends    []trend
		TrendRows []worker.DayRow
	}{p, rep, c, uncertain, funnel(rep), n, trends(days), days})
}

// funnelView is the cadence funnel's summary: how many are still in it,
// and how the rest ended, by reason.
type funnelView struct {
	InCadence int64
	Completed []worker.EndRow
	Exited    []worker.EndRow
	Goals     int64
}

func funnel(rep *worker.Report) funnelView {
	var f funnelView
	for st, n := range rep.States {
		if !cadence.State(st).Terminal() {
			f.InCadence += n
		}
	}
	for _, e := range rep.Ends {
		if e.State == string(cadence.Completed) {
			f.Completed = append(f.Completed, e)
		} else {
			f.Exited = append(f.Exited, e)
		}
	}
	for _, g := range rep.Goals {
		f.Goals += g.Count
	}
	return f
}

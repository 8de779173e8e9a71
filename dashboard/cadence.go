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
	p := d.page(r, s, c.Name)
	p.Nav = "cadences"
	d.render(w, r, http.StatusOK, "cadence", struct {
		page
		Report    *worker.Report
		Cadence   *cadence.Cadence
		Uncertain []store.UncertainTouch
	}{p, rep, c, uncertain})
}

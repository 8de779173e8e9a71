package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/nurture-dev/nurture/catalog"
	"github.com/nurture-dev/nurture/store"
)

// The versions page lists a cadence's published versions (the catalog:
// who published what, when and why), shows what each changed, and lets an
// admin preview and make a rollback: how many live enrollments an earlier
// version would move, exit or leave alone, before anything changes.

type versionsView struct {
	page
	ID, Name string
	Head     string
	Versions []catalog.Publication
	// Selected is the version whose changes are shown.
	Selected string
	Diff     []diffLine
	// Impact is a rollback preview (admins, a version other than the head).
	Impact *catalog.Impact
	// Unpublished says the cadence runs from files no catalog holds.
	Unpublished bool
}

type diffLine struct {
	Kind, Text string
}

func (d *Dashboard) catalog() *catalog.Catalog {
	return catalog.New(d.st, catalog.Options{Logger: d.cfg.Logger, Clock: d.e.Clock})
}

func (d *Dashboard) versions(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	c, err := d.e.Cadence(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	const msg = "The cadence's versions could not be loaded."
	v := versionsView{page: d.page(r, s, c.Name+" · versions"), ID: c.ID, Name: c.Name}
	v.Nav = "cadences"
	cat := d.catalog()
	pubs, err := cat.Versions(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.Unpublished = true
		d.render(w, r, http.StatusOK, "versions", v)
		return
	case err != nil:
		d.fail(w, r, s, err, msg)
		return
	}
	v.Versions, v.Head = pubs, pubs[0].Version
	v.Selected = r.URL.Query().Get("v")
	if v.Selected == "" {
		v.Selected = v.Head
	}
	diff, err := cat.DiffVersions(ctx, c.ID, "", v.Selected)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	v.Diff = diffLines(diff)
	if isAdmin(s) && v.Selected != v.Head {
		to, err := cat.Compile(ctx, c.ID, v.Selected)
		if err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
		p, err := cat.Get(ctx, c.ID, v.Selected)
		if err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
		im, err := cat.Preview(ctx, to, p.Source, catalog.PreviewOptions{Live: c, Now: d.e.Clock()})
		if err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
		v.Impact = &im
	}
	d.render(w, r, http.StatusOK, "versions", v)
}

// rollback makes an earlier version the head (admins), then this process
// runs it at once; every other process follows through its catalog watch.
func (d *Dashboard) rollback(w http.ResponseWriter, r *http.Request, s *Session) {
	id := r.PathValue("id")
	to := r.PostForm.Get("to")
	here := "/cadences/" + url.PathEscape(id) + "/versions"
	if !isAdmin(s) {
		d.forbidden(w, r, s, "Rollbacks are for admins", "You are logged in as "+s.Name+" ("+string(s.Role)+"). Making an earlier version live changes what every prospect gets next; an admin token can.")
		return
	}
	if _, err := d.e.Cadence(id); err != nil {
		http.NotFound(w, r)
		return
	}
	cat := d.catalog()
	res, err := cat.Rollback(r.Context(), id, to, "admin:"+s.Name, strings.TrimSpace(r.PostForm.Get("message")))
	if err != nil {
		http.Redirect(w, r, d.withFlash(here, d.notDone(w, r, err), ""), http.StatusSeeOther)
		return
	}
	if _, err := cat.Sync(r.Context(), d.e); err != nil {
		d.cfg.Logger.Warn("catalog: applying the rollback in this process failed; the watch retries", "err", err)
	}
	msg := "Version " + res.Version + " is live again; every worker switches before its next batch."
	if !res.Changed {
		msg = "Version " + res.Version + " was already live: nothing changed."
	}
	http.Redirect(w, r, d.withFlash("/cadences/"+url.PathEscape(id)+"/versions", msg, ""), http.StatusSeeOther)
}

// diffLines classifies a unified diff's lines for colouring.
func diffLines(diff string) []diffLine {
	var out []diffLine
	for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		kind := "ctx"
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			kind = "file"
		case strings.HasPrefix(l, "@@"):
			kind = "hunk"
		case strings.HasPrefix(l, "+"):
			kind = "add"
		case strings.HasPrefix(l, "-"):
			kind = "del"
		}
		out = append(out, diffLine{Kind: kind, Text: l})
	}
	return out
}

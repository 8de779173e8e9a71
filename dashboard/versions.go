package dashboard

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
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
	// Publish is the publish form (admins).
	Publish *publishView
}

type diffLine struct {
	Kind, Text string
}

func (d *Dashboard) catalog() *catalog.Catalog {
	return catalog.New(d.st, catalog.Options{Logger: d.cfg.Logger, Clock: d.e.Clock})
}

func (d *Dashboard) versions(w http.ResponseWriter, r *http.Request, s *Session) {
	c, err := d.e.Cadence(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	v, err := d.versionsOf(r, s, c, r.URL.Query().Get("v"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.NotFound(w, r)
		return
	case err != nil:
		d.fail(w, r, s, err, "The cadence's versions could not be loaded.")
		return
	}
	if isAdmin(s) {
		// The publish form starts from the live source, to edit.
		v.Publish = &publishView{Cadence: c.ID, CSRF: s.CSRF}
		if v.Head != "" {
			p, err := d.catalog().Get(r.Context(), c.ID, v.Head)
			if err != nil {
				d.fail(w, r, s, err, "The cadence's versions could not be loaded.")
				return
			}
			v.Publish.YAML = string(p.Source)
		}
	}
	d.render(w, r, http.StatusOK, "versions", v)
}

// versionsOf loads the versions page of c with selected ("" the head)
// shown; an unknown selected version is store.ErrNotFound.
func (d *Dashboard) versionsOf(r *http.Request, s *Session, c *cadence.Cadence, selected string) (versionsView, error) {
	ctx := r.Context()
	v := versionsView{page: d.page(r, s, c.Name+" · versions"), ID: c.ID, Name: c.Name}
	v.Nav = "cadences"
	cat := d.catalog()
	pubs, err := cat.Versions(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.Unpublished = true
		return v, nil
	case err != nil:
		return v, err
	}
	v.Versions, v.Head = pubs, pubs[0].Version
	v.Selected = selected
	if v.Selected == "" {
		v.Selected = v.Head
	}
	diff, err := cat.DiffVersions(ctx, c.ID, "", v.Selected)
	if err != nil {
		return v, err
	}
	v.Diff = diffLines(diff)
	if isAdmin(s) && v.Selected != v.Head {
		to, err := cat.Compile(ctx, c.ID, v.Selected)
		if err != nil {
			return v, err
		}
		p, err := cat.Get(ctx, c.ID, v.Selected)
		if err != nil {
			return v, err
		}
		im, err := cat.Preview(ctx, to, p.Source, catalog.PreviewOptions{Live: c, Now: d.e.Clock()})
		if err != nil {
			return v, err
		}
		v.Impact = &im
	}
	return v, nil
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

// Publishing from the dashboard (admins): the versions page's form, or
// /publish for a cadence new to this deployment, takes YAML pasted in a
// textarea or uploaded as a file and a message. "Preview" validates it
// (every problem with its position and source line, as `nurture validate`
// prints them, the text kept in the form) and shows the diff from the head
// and what the version would do to the live enrollments (catalog.Preview,
// as a rollback preview); "Publish" makes it the head, as POST
// /v1/cadences does: this process runs it at once, every other one
// switches through its catalog watch before its next batch. Publish goes
// through only for the version previewed over the head previewed against,
// so what an admin saw is what is published.

// publishView is the publish form and, after a preview, its outcome.
type publishView struct {
	// Cadence is the cadence the form publishes; "" takes the YAML's id
	// (a new cadence, from /publish).
	Cadence string
	CSRF    string
	YAML    string
	Message string
	// Problems are the YAML's validation problems, in file order.
	Problems []problemView
	// Refused says why a YAML that validates was not previewed.
	Refused string
	// Stale says why Publish showed a new preview instead of publishing.
	Stale string
	// Impact and Diff are the preview; Impact.Head is the head previewed
	// against.
	Impact *catalog.Impact
	Diff   []diffLine
}

// problemView is one validation problem; Text is it as the CLI prints it
// (the problem, then its source line and a caret, indented).
type problemView struct {
	Pos, Field, Msg, Text string
}

// Action is where the form posts.
func (p *publishView) Action() string {
	if p.Cadence == "" {
		return "/publish"
	}
	return "/cadences/" + url.PathEscape(p.Cadence) + "/publish"
}

// maxPublishBody bounds a publish form: a cadence of cadence.MaxFileSize
// percent-encoded, or uploaded and echoed in the textarea.
const maxPublishBody = 3*cadence.MaxFileSize + 64<<10

// publishForm reads a publish form's body for an admin session before
// authed does (its 64 KiB limit is for small forms; authed then finds the
// form parsed and checks its CSRF token as for any form). It refuses a
// cross-origin post first. Anyone else's body is left to authed.
func (d *Dashboard) publishForm(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" && !sameOrigin(r) {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		if s, err := d.session(r); err == nil && isAdmin(s) {
			r.Body = http.MaxBytesReader(w, r.Body, maxPublishBody)
			var err error
			if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
				err = r.ParseMultipartForm(maxPublishBody)
			} else {
				err = r.ParseForm()
			}
			if r.MultipartForm != nil {
				defer r.MultipartForm.RemoveAll()
			}
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, fmt.Sprintf("the form is larger than %d bytes: a cadence file is at most %d", maxPublishBody, cadence.MaxFileSize), http.StatusRequestEntityTooLarge)
				return
			}
			if err != nil {
				http.Error(w, "malformed form: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		h(w, r)
	}
}

// publishPage is /publish: the publish form for a cadence new to this
// deployment (its id is the YAML's).
func (d *Dashboard) publishPage(w http.ResponseWriter, r *http.Request, s *Session) {
	if !isAdmin(s) {
		d.publishForbidden(w, r, s)
		return
	}
	d.showPublish(w, r, s, nil, &publishView{CSRF: s.CSRF}, http.StatusOK)
}

func (d *Dashboard) publishForbidden(w http.ResponseWriter, r *http.Request, s *Session) {
	d.forbidden(w, r, s, "Publishing is for admins", "You are logged in as "+s.Name+" ("+string(s.Role)+"). Publishing a cadence changes what every prospect gets next; an admin token can.")
}

// publish previews or publishes a cadence version (step=preview|publish).
func (d *Dashboard) publish(w http.ResponseWriter, r *http.Request, s *Session) {
	if !isAdmin(s) {
		d.publishForbidden(w, r, s)
		return
	}
	ctx := r.Context()
	pv := &publishView{Cadence: r.PathValue("id"), CSRF: s.CSRF, Message: strings.TrimSpace(r.PostForm.Get("message"))}
	var live *cadence.Cadence
	if pv.Cadence != "" {
		c, err := d.e.Cadence(pv.Cadence)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		live = c
	}
	src, file, err := publishSource(r)
	if err != nil {
		d.fail(w, r, s, err, "The uploaded file could not be read.")
		return
	}
	pv.YAML = string(src)
	if strings.TrimSpace(pv.YAML) == "" {
		pv.Refused = "Nothing to preview: paste the cadence's YAML or choose a file."
		d.showPublish(w, r, s, live, pv, http.StatusUnprocessableEntity)
		return
	}
	name := file
	switch {
	case name != "":
	case pv.Cadence != "":
		name = pv.Cadence + ".yaml"
	default:
		name = "cadence.yaml"
	}
	c, err := cadence.Parse(name, src)
	var ve *cadence.ValidationError
	switch {
	case errors.As(err, &ve):
		pv.Problems = problemViews(ve)
		d.showPublish(w, r, s, live, pv, http.StatusUnprocessableEntity)
		return
	case err != nil:
		d.fail(w, r, s, err, "The cadence could not be checked.")
		return
	}
	if file == "" {
		c.File = c.ID + ".yaml" // as POST /v1/cadences names a body
	}
	if pv.Cadence != "" && c.ID != pv.Cadence {
		pv.Refused = fmt.Sprintf("This YAML is cadence %s, not %s: this page publishes %s only. Change its id, or publish it as a new cadence from /publish.", c.ID, pv.Cadence, pv.Cadence)
		d.showPublish(w, r, s, live, pv, http.StatusUnprocessableEntity)
		return
	}
	if err := catalog.CheckMessage(pv.Message); err != nil {
		pv.Refused = "The message cannot be kept: " + err.Error() + "."
		d.showPublish(w, r, s, live, pv, http.StatusUnprocessableEntity)
		return
	}
	if live == nil {
		live, _ = d.e.Cadence(c.ID) // /publish of a cadence this process runs
	}
	cat := d.catalog()
	if r.PostForm.Get("step") == "publish" {
		head, err := cat.Head(ctx, c.ID)
		if err != nil {
			d.fail(w, r, s, err, "The cadence could not be published.")
			return
		}
		switch {
		case r.PostForm.Get("version") != c.Version:
			pv.Stale = "Not published: the YAML changed since the preview. Check this preview, then publish."
		case r.PostForm.Get("head") != head:
			pv.Stale = "Not published: someone else made " + orNone(head) + " live since the preview. Check this preview, then publish."
		default:
			d.publishNow(w, r, s, cat, c, src, pv)
			return
		}
	}
	im, err := cat.Preview(ctx, c, src, catalog.PreviewOptions{Live: live, Now: d.e.Clock()})
	if err != nil {
		d.fail(w, r, s, err, "The preview could not be made.")
		return
	}
	pv.Impact = &im
	if im.Diff != "" {
		pv.Diff = diffLines(im.Diff)
	}
	d.showPublish(w, r, s, live, pv, http.StatusOK)
}

// publishNow makes c the head and redirects to its versions page.
func (d *Dashboard) publishNow(w http.ResponseWriter, r *http.Request, s *Session, cat *catalog.Catalog, c *cadence.Cadence, src []byte, pv *publishView) {
	here := "/cadences/" + url.PathEscape(c.ID) + "/versions"
	res, err := cat.PublishParsed(r.Context(), c, src, "admin:"+s.Name, pv.Message)
	if err != nil {
		back := here
		if pv.Cadence == "" {
			back = "/publish"
		}
		http.Redirect(w, r, d.withFlash(back, d.notDone(w, r, err), ""), http.StatusSeeOther)
		return
	}
	if res.Changed {
		if _, err := cat.Sync(r.Context(), d.e); err != nil {
			d.cfg.Logger.Warn("catalog: applying the publish in this process failed; the watch retries", "err", err)
		}
	}
	var msg string
	switch {
	case !res.Changed:
		msg = "Version " + res.Version + " was already live: nothing changed."
	case res.Previous == "":
		msg = "Published " + res.Version + ", the first version of " + c.ID + "; every worker runs it before its next batch."
	case !res.Stored:
		msg = "Version " + res.Version + ", published before, is live again (was " + res.Previous + "); every worker switches before its next batch."
	default:
		msg = "Published " + res.Version + " (was " + res.Previous + "); every worker switches before its next batch."
	}
	http.Redirect(w, r, d.withFlash(here, msg, ""), http.StatusSeeOther)
}

func orNone(v string) string {
	if v == "" {
		return "no version"
	}
	return v
}

// publishSource is the form's YAML: the uploaded file when one was chosen
// (with its name, for positions), else the textarea.
func publishSource(r *http.Request) (src []byte, file string, err error) {
	if r.MultipartForm != nil {
		if fhs := r.MultipartForm.File["file"]; len(fhs) > 0 && fhs[0].Size > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				return nil, "", err
			}
			defer f.Close()
			// One byte over the limit lets cadence.Parse say it is too big.
			src, err = io.ReadAll(io.LimitReader(f, cadence.MaxFileSize+1))
			return src, path.Base(strings.ReplaceAll(fhs[0].Filename, `\`, "/")), err
		}
	}
	// Browsers send a textarea's line breaks as CRLF.
	return []byte(strings.ReplaceAll(r.PostForm.Get("yaml"), "\r\n", "\n")), "", nil
}

// problemViews lists a validation error's problems, each as `nurture
// validate` prints it (cadence.ValidationError.Render).
func problemViews(ve *cadence.ValidationError) []problemView {
	out := make([]problemView, len(ve.Problems))
	for i, p := range ve.Problems {
		one := &cadence.ValidationError{Problems: []*cadence.FieldError{p}, Source: ve.Source}
		out[i] = problemView{Pos: p.Pos.String(), Field: p.Field, Msg: p.Msg, Text: strings.TrimRight(one.Render(nil), "\n")}
	}
	return out
}

// showPublish renders the publish form: on the versions page of live
// when the form is for one cadence, else on /publish.
func (d *Dashboard) showPublish(w http.ResponseWriter, r *http.Request, s *Session, live *cadence.Cadence, pv *publishView, status int) {
	w.Header().Set("Cache-Control", "no-store")
	if pv.Cadence == "" {
		pg := d.page(r, s, "Publish a cadence")
		pg.Nav = "cadences"
		d.render(w, r, status, "publish", struct {
			page
			Publish *publishView
		}{pg, pv})
		return
	}
	v, err := d.versionsOf(r, s, live, "")
	if err != nil {
		d.fail(w, r, s, err, "The cadence's versions could not be loaded.")
		return
	}
	v.Publish = pv
	d.render(w, r, status, "versions", v)
}

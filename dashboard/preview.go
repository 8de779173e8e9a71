package dashboard

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// Touch previews and "Send a test to me".
//
// /cadences/{id}/touches/{touch}/preview?prospect=&variant= shows a touch
// rendered for a prospect by worker.Engine.Preview — the send path's own
// gate and render, nothing sent or written — and what the send path would
// do with it now. The email's HTML is shown in an <iframe sandbox> (no
// scripts, no same-origin, no forms, no popups) whose document comes from
// .../preview/document with a CSP of its own (documentCSP) and
// X-Frame-Options: SAMEORIGIN, replacing for that one answer the DENY and
// the page CSP that ServeHTTP sets on everything; the page around it
// allows frames from 'self' only (pageCSP). What the frame shows is
// Untrack'ed: no open pixel, links straight to their destinations, an
// unsubscribe link that unsubscribes nobody, so looking at a preview never
// records an open or a click for the prospect. The outbox shows its
// messages the same way (outbox.go).

// routesPreview registers the preview, test send and document routes.
func (d *Dashboard) routesPreview() {
	d.mux.HandleFunc("GET /cadences/{id}/preview", d.authed(d.previewPick))
	d.mux.HandleFunc("GET /cadences/{id}/touches/{touch}/preview", d.authed(d.previewPage))
	d.mux.HandleFunc("GET /cadences/{id}/touches/{touch}/preview/document", d.authed(d.previewDocument))
	d.mux.HandleFunc("POST /cadences/{id}/touches/{touch}/test", d.authed(d.sendTest))
	d.mux.HandleFunc("GET /outbox/document", d.authed(d.outboxDocument))
}

const (
	// pageCSP is the dashboard's policy plus frames from the dashboard
	// itself, for pages that embed a message document.
	pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-src 'self'"
	// testToCookie remembers the last address (or number) a person sent a
	// test to, per channel, to fill in "Send a test to me".
	testToCookie = "nurture_test_to_"
)

// documentCSP is the policy of a message document: no scripts, no
// fetches, no forms, inline styles only, images from https and data: (or
// data: only, images off), framed by the dashboard only.
func documentCSP(images bool) string {
	img := "data: https:"
	if !images {
		img = "data:"
	}
	return "default-src 'none'; img-src " + img + "; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
}

// serveDocument answers a message document for the sandboxed frame.
func serveDocument(w http.ResponseWriter, status int, html string, images bool) {
	h := w.Header()
	h.Set("Content-Security-Policy", documentCSP(images))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(html))
}

// noteDocument is a document that says something instead of a message.
func noteDocument(msg string) string {
	return `<!doctype html><html lang="en"><meta charset="utf-8"><title>Preview</title><p style="font:16px system-ui,sans-serif;color:#566072">` +
		html.EscapeString(msg) + `</p></html>`
}

// previewPath is the preview page of a touch for a prospect.
func previewPath(cadenceID, touchID, prospect, variant string) string {
	p := "/cadences/" + url.PathEscape(cadenceID) + "/touches/" + url.PathEscape(touchID) + "/preview"
	q := url.Values{}
	if prospect != "" {
		q.Set("prospect", prospect)
	}
	if variant != "" {
		q.Set("variant", variant)
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// previewPick sends /cadences/{id}/preview?touch=&prospect=&variant= to
// the touch's preview page: the touch asked for, else the prospect's
// enrollment's next touch, else the cadence's first. The touch chooser and
// the prospect page's Preview links come through here.
func (d *Dashboard) previewPick(w http.ResponseWriter, r *http.Request, s *Session) {
	c, err := d.e.Cadence(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	prospect := strings.TrimSpace(q.Get("prospect"))
	t := c.Touch(q.Get("touch"))
	if t == nil && prospect != "" {
		if l, err := d.st.Enrollment(r.Context(), store.EnrollmentID(prospect, c.ID)); err == nil && !l.Enrollment.State.Terminal() {
			t = c.TouchAt(l.Enrollment.Stage, l.Enrollment.Step)
		}
	}
	if t == nil {
		t = firstTouch(c)
	}
	if t == nil {
		http.NotFound(w, r)
		return
	}
	variant := q.Get("variant")
	if !slices.ContainsFunc(t.Variants, func(v cadence.Variant) bool { return v.ID == variant }) {
		variant = ""
	}
	http.Redirect(w, r, previewPath(c.ID, t.ID, prospect, variant), http.StatusSeeOther)
}

func firstTouch(c *cadence.Cadence) *cadence.Touch {
	for _, st := range c.Stages {
		if len(st.Touches) > 0 {
			return st.Touches[0]
		}
	}
	return nil
}

// touchOption is one entry of the touch chooser.
type touchOption struct {
	ID, Label string
	Selected  bool
}

type verdictView struct {
	// Kind is send, defer, hold or skip; Text says it in a sentence.
	Kind, Text string
	// Until is when a deferred touch may go; Due when the enrollment's
	// next touch is due.
	Until, Due stamp
}

type headerView struct{ Name, Value string }

type previewData struct {
	page
	CadenceID, CadenceName string
	TouchID, TouchName     string
	Channel                cadence.Channel
	Touches                []touchOption
	Variants               []string
	// Query is the prospect as typed; Variant the variant asked for.
	Query, Variant string
	Problem        string
	P              *worker.Preview
	ProspectName   string
	Verdict        verdictView
	Zone           string
	Headers        []headerView
	// Note, Text and SMS are the preview's, as shown: a sentence, and
	// the content untracked (worker.Engine.Untrack).
	Note, Text, SMS string
	// Document is the frame's URL; Images and Narrow the view, with the
	// links that switch them.
	Document             string
	Images, Narrow       bool
	ImagesURL, NarrowURL string
	TestTo               string
	TestAction           string
}

// previewPage shows a touch rendered for a prospect, with a prospect,
// touch and variant chooser and the "Send a test to me" form.
func (d *Dashboard) previewPage(w http.ResponseWriter, r *http.Request, s *Session) {
	c, err := d.e.Cadence(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	t := c.Touch(r.PathValue("touch"))
	if t == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	data := previewData{CadenceID: c.ID, CadenceName: cadenceName(c), TouchID: t.ID, TouchName: humanize(t.ID), Channel: t.Channel,
		Query: strings.TrimSpace(q.Get("prospect")), Variant: q.Get("variant"), Images: q.Get("images") != "off", Narrow: q.Get("width") == "phone",
		TestAction: "/cadences/" + url.PathEscape(c.ID) + "/touches/" + url.PathEscape(t.ID) + "/test"}
	data.page = d.page(r, s, "Preview: "+data.TouchName+" · "+data.CadenceName)
	data.Nav = "cadences"
	for _, st := range c.Stages {
		for _, x := range st.Touches {
			data.Touches = append(data.Touches, touchOption{ID: x.ID, Label: humanize(st.ID) + " · " + humanize(x.ID) + " (" + string(x.Channel) + ")", Selected: x == t})
		}
	}
	for _, v := range t.Variants {
		data.Variants = append(data.Variants, v.ID)
	}
	if ck, err := r.Cookie(testToCookie + string(t.Channel)); err == nil {
		data.TestTo, _ = url.QueryUnescape(ck.Value)
	}
	status := http.StatusOK
	if data.Query != "" {
		pv, err := d.e.Preview(r.Context(), c.ID, t.ID, data.Query, data.Variant)
		var ue *worker.UnknownError
		switch {
		case errors.As(err, &ue):
			status, data.Problem = http.StatusNotFound, asSentence(err.Error())
		case err != nil:
			d.fail(w, r, s, err, "The preview could not be made.")
			return
		default:
			d.fillPreview(&data, c, &pv, q)
		}
	}
	w.Header().Set("Content-Security-Policy", pageCSP)
	d.render(w, r, status, "preview", data)
}

// fillPreview puts a rendered preview into the page.
func (d *Dashboard) fillPreview(data *previewData, c *cadence.Cadence, pv *worker.Preview, q url.Values) {
	data.P = pv
	data.ProspectName = displayName(pv.Prospect)
	loc, _ := zoneOf(pv.Prospect, c)
	data.Zone = zoneName(loc)
	now := d.e.Clock()
	if pv.Note != "" {
		data.Note = asSentence(pv.Note)
	}
	data.Text, data.SMS = d.e.Untrack(pv.Text), d.e.Untrack(pv.SMS)
	switch pv.Verdict {
	case cadence.Send:
		data.Verdict = verdictView{Kind: "send", Text: "Would be sent now."}
		switch {
		case pv.Current && pv.DueAt.After(now):
			data.Verdict = verdictView{Kind: "send", Text: "Due later; every send-time check passes now.", Due: stamp{T: pv.DueAt, loc: loc, now: now}}
		case !pv.Current:
			data.Verdict.Text = "Would be sent if it were due now: every send-time check passes."
		}
	case cadence.Defer:
		data.Verdict = verdictView{Kind: "defer", Text: "Would wait: " + withStop(pv.Reason), Until: stamp{T: pv.Until, loc: loc, now: now}}
	case cadence.Hold:
		data.Verdict = verdictView{Kind: "hold", Text: "Would be held, not sent: " + withStop(pv.Reason)}
	case cadence.Skip:
		data.Verdict = verdictView{Kind: "skip", Text: "Would be skipped, not sent: " + withStop(pv.Reason)}
	}
	names := make([]string, 0, len(pv.Headers))
	for k := range pv.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		data.Headers = append(data.Headers, headerView{k, d.e.Untrack(pv.Headers[k])})
	}
	if pv.HTML != "" {
		doc := url.Values{"prospect": {pv.Prospect.ID}, "variant": {pv.Variant}}
		if !data.Images {
			doc.Set("images", "off")
		}
		data.Document = "/cadences/" + url.PathEscape(pv.Cadence) + "/touches/" + url.PathEscape(pv.Touch) + "/preview/document?" + doc.Encode()
	}
	// Links that switch one view setting and keep the rest of the query.
	toggle := func(key, value string, set bool) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "flash" && k != "undo" {
				v[k] = vs
			}
		}
		if set {
			v.Set(key, value)
		} else {
			v.Del(key)
		}
		return previewPath(pv.Cadence, pv.Touch, "", "") + "?" + v.Encode()
	}
	data.ImagesURL = toggle("images", "off", data.Images)
	data.NarrowURL = toggle("width", "phone", !data.Narrow)
}

// previewDocument is the frame's document: the preview's HTML, untracked.
func (d *Dashboard) previewDocument(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	images := q.Get("images") != "off"
	pv, err := d.e.Preview(r.Context(), r.PathValue("id"), r.PathValue("touch"), q.Get("prospect"), q.Get("variant"))
	var ue *worker.UnknownError
	var re *worker.RequestError
	switch {
	case errors.As(err, &ue), errors.As(err, &re):
		serveDocument(w, http.StatusNotFound, noteDocument(asSentence(err.Error())), images)
	case err != nil:
		id := d.logInternal(w, r, err)
		serveDocument(w, http.StatusInternalServerError, noteDocument("The preview could not be made (request id "+id+")."), images)
	case pv.HTML == "":
		serveDocument(w, http.StatusOK, noteDocument("This message has no HTML part."), images)
	default:
		serveDocument(w, http.StatusOK, d.e.Untrack(pv.HTML), images)
	}
}

// sendTest sends a test of the touch to the address the person typed and
// returns to the preview with what happened.
func (d *Dashboard) sendTest(w http.ResponseWriter, r *http.Request, s *Session) {
	cid, tid := r.PathValue("id"), r.PathValue("touch")
	prospect, variant := strings.TrimSpace(r.PostForm.Get("prospect")), r.PostForm.Get("variant")
	to := strings.TrimSpace(r.PostForm.Get("to"))
	say := func(msg string) {
		http.Redirect(w, r, d.withFlash(back(r, previewPath(cid, tid, prospect, variant)), msg, ""), http.StatusSeeOther)
	}
	res, err := d.e.SendTest(r.Context(), cid, tid, prospect, variant, to, by(s))
	var ue *worker.UnknownError
	var re *worker.RequestError
	var le *worker.TestLimitError
	var ce *channels.Error
	switch {
	case err == nil:
		m := &res.Message
		what := "“" + m.Subject + "”"
		if m.Channel == cadence.SMS {
			what = "the SMS"
		}
		http.SetCookie(w, &http.Cookie{Name: testToCookie + string(m.Channel), Value: url.QueryEscape(m.To), Path: "/", MaxAge: int((90 * 24 * time.Hour).Seconds()),
			HttpOnly: true, Secure: d.cfg.Secure, SameSite: http.SameSiteStrictMode})
		say("Sent a test of " + what + " to " + m.To + ". You may send " + plural(res.Remaining, "more test") + " this hour.")
	case errors.As(err, &ue), errors.As(err, &re), errors.As(err, &le):
		say("Not sent: " + withStop(err.Error()))
	case errors.As(err, &ce):
		say("Not sent: the provider refused the test (" + ce.Error() + ").")
	default:
		say(d.notDone(w, r, err))
	}
}

// asSentence makes an error's text a sentence: capitalized, with a full
// stop unless it ends with one already ("… did you mean e2e?").
func asSentence(s string) string { return capitalize(withStop(s)) }

// withStop ends s with a full stop unless it ends with a stop already.
func withStop(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "!") {
		return s
	}
	return s + "."
}

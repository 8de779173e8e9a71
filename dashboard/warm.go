package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// The sales home: my warm leads.
//
// A rep sees their own leads (the token's name is the owner) and can
// switch to everyone's; an admin picks any owner that has enrollments, or
// everyone. The choice is kept in a cookie, for the user who made it. Leads a rep marked handled
// leave the inbox for the Handled tab until a newer reply arrives.

const (
	scopeCookie = "nurture_scope"
	everyone    = "*"
	// warmLimit is how many warm leads a page considers.
	warmLimit = 500
	// ownersFor is how long the list of owners is cached: it scans Redis.
	ownersFor = 15 * time.Second
)

// scope is whose leads a page shows.
type scope struct {
	Owner string // "" is everyone
	Mine  bool
	Label string // "My warm leads", "Warm leads of kim", "Everyone's warm leads"
}

func (d *Dashboard) scopeOf(w http.ResponseWriter, r *http.Request, s *Session, owners []string) scope {
	choice, explicit := r.URL.Query().Get("owner"), r.URL.Query().Has("owner")
	if !explicit {
		// The cookie is the browser's; the choice is the user's.
		if c, err := r.Cookie(scopeCookie); err == nil {
			if who, v, ok := strings.Cut(c.Value, "|"); ok && who == url.QueryEscape(s.Name) {
				choice, _ = url.QueryUnescape(v)
			}
		}
	}
	if !isAdmin(s) && choice != everyone {
		choice = s.Name // a rep's choices are mine or everyone's
	}
	if choice == "" {
		// An admin who owns leads starts on them, else on everyone's.
		choice = everyone
		for _, o := range owners {
			if o == s.Name {
				choice = s.Name
			}
		}
	}
	if explicit {
		http.SetCookie(w, &http.Cookie{Name: scopeCookie, Value: url.QueryEscape(s.Name) + "|" + url.QueryEscape(choice), Path: "/", HttpOnly: true,
			Secure: d.cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 365 * 24 * 3600})
	}
	switch choice {
	case everyone:
		return scope{Label: "Everyone's warm leads"}
	case s.Name:
		return scope{Owner: s.Name, Mine: true, Label: "My warm leads"}
	}
	return scope{Owner: choice, Label: "Warm leads of " + choice}
}

// ownerList caches store.Owners.
type ownerList struct {
	mu   sync.Mutex
	at   time.Time
	list []string
}

func (d *Dashboard) owners(ctx context.Context) ([]string, error) {
	d.ownerCache.mu.Lock()
	defer d.ownerCache.mu.Unlock()
	if d.ownerCache.list != nil && time.Since(d.ownerCache.at) < ownersFor {
		return d.ownerCache.list, nil
	}
	list, err := d.st.Owners(ctx)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []string{}
	}
	d.ownerCache.list, d.ownerCache.at = list, time.Now()
	return list, nil
}

// leadView is one warm lead as the inbox shows it.
type leadView struct {
	EID, PID              string
	Name, Company, Title  string
	Email, Phone, Owner   string
	Cadence, Stage, Touch string
	Reply                 string
	// Shortened says Reply is the start of a longer reply: the timeline
	// keeps server.ExcerptChars characters of it and no more.
	Shortened bool
	Since     stamp
	Handled   *store.HandledMark
	HandledAt stamp
	Actions   actionsView
}

func (d *Dashboard) warm(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	const msg = "The warm leads could not be loaded."
	var owners []string
	if isAdmin(s) {
		var err error
		if owners, err = d.owners(ctx); err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
	}
	sc := d.scopeOf(w, r, s, owners)
	tab := r.URL.Query().Get("view")
	if tab != "handled" {
		tab = "inbox"
	}
	order := r.URL.Query().Get("sort")
	if order != "waiting" {
		order = "newest"
	}
	leads, err := d.e.WarmLeads(ctx, sc.Owner, warmLimit)
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	eids := make([]string, len(leads))
	for i, l := range leads {
		eids[i] = l.Enrollment.ID
	}
	marks, err := d.st.HandledMarks(ctx, eids)
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	now := d.e.Clock()
	here := pathWithQuery(r)
	var inbox, handled []leadView
	for i, l := range leads {
		v := d.leadView(l, marks[i], s, here, now)
		if marks[i].Covers(l.Since) {
			handled = append(handled, v)
		} else {
			v.Handled = nil
			inbox = append(inbox, v)
		}
	}
	if order == "waiting" {
		sort.SliceStable(inbox, func(i, j int) bool { return inbox[i].Since.T.Before(inbox[j].Since.T) })
	}
	shown := inbox
	if tab == "handled" {
		shown = handled
	}
	hol, err := d.holidayForm(ctx, s, sc, owners)
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	p := d.page(r, s, sc.Label)
	p.Nav = "warm"
	d.render(w, r, http.StatusOK, "warm", struct {
		page
		Scope           scope
		Owners          []string
		Tab, Sort       string
		Leads           []leadView
		Inbox, Handled  int
		ScopeQuery      string
		Holiday         holidayForm
		MoreThanLimited bool
	}{p, sc, owners, tab, order, shown, len(inbox), len(handled), scopeQuery(sc), hol, len(leads) >= warmLimit})
}

// shortened says a reply's timeline line is an excerpt cut short (see
// server.ExcerptChars): it ends in "…", or in "…" then the note a reply
// matched by sender address alone carries.
func shortened(reply string) bool {
	reply = strings.TrimSuffix(reply, " (matched by sender address only)")
	return strings.HasSuffix(reply, "…")
}

func scopeQuery(sc scope) string {
	if sc.Owner == "" {
		return "owner=" + url.QueryEscape(everyone)
	}
	return "owner=" + url.QueryEscape(sc.Owner)
}

func (d *Dashboard) leadView(l worker.WarmLead, mark *store.HandledMark, s *Session, here string, now time.Time) leadView {
	e := l.Enrollment
	c, _ := d.e.Cadence(e.CadenceID)
	loc, _ := zoneOf(l.Prospect, c)
	v := leadView{EID: e.ID, PID: e.ProspectID, Cadence: cadenceName(c), Stage: stageName(c, e.Stage), Reply: l.Reply,
		Shortened: shortened(l.Reply), Since: stamp{T: l.Since, loc: loc, now: now}, Handled: mark}
	if c == nil {
		v.Cadence = humanize(e.CadenceID)
	}
	if p := l.Prospect; p != nil {
		v.Name, v.Company, v.Title, v.Email, v.Phone, v.Owner = displayName(p), p.Company, p.Title, p.Email, p.Phone, p.Owner
	}
	if v.Name == "" {
		v.Name = e.ProspectID
	}
	if mark != nil {
		v.HandledAt = stamp{T: mark.At, loc: loc, now: now}
	}
	v.Actions = actionsFor(e, s.CSRF, here, v.Name, v.Cadence, mark.Covers(l.Since))
	return v
}

// pathWithQuery is the request's path and query without flash and undo,
// to come back to after an action.
func pathWithQuery(r *http.Request) string {
	q := r.URL.Query()
	q.Del("flash")
	q.Del("undo")
	if len(q) == 0 {
		return r.URL.Path
	}
	return r.URL.Path + "?" + q.Encode()
}

// actionsView is the buttons of one enrollment: the one that fits its
// state first, the rest in a menu.
type actionsView struct {
	EID, CSRF, Back string
	// Label names the lead for screen readers: "Ada Lovelace's SaaS
	// trial nurture cadence".
	Label   string
	Primary []button
	More    []button
}

type button struct {
	Action, Text, Help string
	Main               bool
}

func actionsFor(e cadence.Enrollment, csrf, back, name, cad string, handled bool) actionsView {
	v := actionsView{EID: e.ID, CSRF: csrf, Back: back, Label: possessive(name) + " " + cad + " cadence"}
	pause := button{Action: "pause", Text: "Pause", Help: "nothing is sent until someone resumes it"}
	resume := button{Action: "resume", Text: "Resume", Main: true, Help: "carries on where it stopped, with the wait it had left"}
	snooze := button{Action: "snooze", Text: "Snooze 3 days", Help: "then it carries on by itself"}
	stop := button{Action: "stop", Text: "Stop the cadence", Help: "ends it for this prospect; nothing more is sent from it"}
	switch e.State {
	case cadence.Warm:
		if handled {
			v.Primary = []button{{Action: "unhandle", Text: "Back to inbox", Help: "shows the lead in the inbox again"}, pause}
		} else {
			v.Primary = []button{{Action: "handled", Text: "Mark handled", Main: true, Help: "takes it off the inbox; the cadence stays as it is"}, pause}
		}
		v.More = []button{{Action: "resume", Text: "Resume the cadence", Help: "sends its next touches again"}, snooze, stop}
	case cadence.Active:
		v.Primary = []button{pause}
		v.More = []button{snooze, stop}
	case cadence.Paused:
		v.Primary = []button{resume}
		v.More = []button{stop}
	case cadence.Snoozed:
		v.Primary = []button{resume}
		v.More = []button{{Action: "pause", Text: "Pause instead", Help: "held until someone resumes it, not by a date"}, stop}
	}
	return v
}

// holidayForm is the "I'm on holiday" card.
type holidayForm struct {
	Owner  string // a rep's own name; "" lets an admin choose
	Owners []string
	Count  int // the rep's enrollments
	Min    string
	Until  string
}

func (d *Dashboard) holidayForm(ctx context.Context, s *Session, sc scope, owners []string) (holidayForm, error) {
	today := d.e.Clock().UTC()
	f := holidayForm{Min: today.AddDate(0, 0, 1).Format(time.DateOnly), Until: today.AddDate(0, 0, 7).Format(time.DateOnly), Owners: owners}
	if !isAdmin(s) {
		f.Owner = s.Name
		n, err := d.st.OwnerEnrollmentCount(ctx, s.Name)
		if err != nil {
			return f, err
		}
		f.Count = int(n)
	}
	return f, nil
}

// holidayPlan is what a holiday pause would do to an owner's book.
type holidayPlan struct {
	Owner, Until string
	UntilAt      stamp
	Total        int
	Pause        []string // enrollment ids to pause: running or snoozed
	Active       int
	Snoozed      int
	Warm         int
	Paused       int
	Finished     int
	Unreadable   int
}

// holidayParams reads and checks an owner and a return date. A rep may
// name only themselves.
func (d *Dashboard) holidayParams(s *Session, owner, until string) (string, time.Time, string) {
	owner = strings.TrimSpace(owner)
	if !isAdmin(s) {
		if owner != "" && owner != s.Name {
			return "", time.Time{}, "You can pause only your own enrollments (" + s.Name + "'s). Ask an admin to pause someone else's."
		}
		owner = s.Name
	}
	if owner == "" {
		return "", time.Time{}, "Choose whose enrollments to pause."
	}
	if until == "" {
		return owner, time.Time{}, "Give the day you are back."
	}
	t, err := time.Parse(time.DateOnly, until)
	if err != nil {
		return owner, time.Time{}, "The return day must be a date (YYYY-MM-DD)."
	}
	if !t.After(d.e.Clock()) {
		return owner, time.Time{}, "The return day must be after today."
	}
	return owner, t, ""
}

// plan reads an owner's enrollments and sorts them by what a holiday
// pause does to them.
func (d *Dashboard) plan(ctx context.Context, owner string, until time.Time) (holidayPlan, error) {
	p := holidayPlan{Owner: owner, Until: until.Format(time.DateOnly), UntilAt: stamp{T: until, loc: time.UTC, now: d.e.Clock()}}
	ids, err := d.st.OwnerEnrollments(ctx, owner)
	if err != nil {
		return p, err
	}
	sort.Strings(ids)
	p.Total = len(ids)
	for start := 0; start < len(ids); start += 200 {
		chunk := ids[start:min(start+200, len(ids))]
		loaded, err := d.st.Enrollments(ctx, chunk)
		if err != nil {
			// One bad record fails a batch read: read them one by one.
			loaded = make([]*store.Loaded, len(chunk))
			for i, id := range chunk {
				if l, err := d.st.Enrollment(ctx, id); err == nil {
					loaded[i] = &l
				} else if !errors.Is(err, store.ErrNotFound) {
					p.Unreadable++
					p.Pause = append(p.Pause, id) // tried, and reported, when applied
				}
			}
		}
		for i, l := range loaded {
			if l == nil {
				continue
			}
			switch l.Enrollment.State {
			case cadence.Active:
				p.Active++
				p.Pause = append(p.Pause, chunk[i])
			case cadence.Snoozed:
				p.Snoozed++
				p.Pause = append(p.Pause, chunk[i])
			case cadence.Warm:
				p.Warm++
			case cadence.Paused:
				p.Paused++
			default:
				p.Finished++
			}
		}
	}
	return p, nil
}

// holiday previews a holiday pause: how many enrollments it pauses and
// which it leaves alone, with a button to confirm.
func (d *Dashboard) holiday(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	q := r.URL.Query()
	var owners []string
	if isAdmin(s) {
		var err error
		if owners, err = d.owners(ctx); err != nil {
			d.fail(w, r, s, err, "The holiday pause could not be prepared.")
			return
		}
	}
	data := struct {
		page
		Plan    holidayPlan
		Problem string
		Unknown bool
		Owners  []string
		Form    holidayForm
	}{page: d.page(r, s, "Holiday pause"), Owners: owners}
	data.Nav = "warm"
	data.Form, _ = d.holidayForm(ctx, s, scope{}, owners)
	owner, until, problem := d.holidayParams(s, q.Get("owner"), q.Get("until"))
	if problem != "" {
		data.Problem = problem
		data.Plan.Owner = owner
		status := http.StatusBadRequest
		if !isAdmin(s) && strings.HasPrefix(problem, "You can pause only") {
			status = http.StatusForbidden
		}
		d.render(w, r, status, "holiday", data)
		return
	}
	data.Form.Until = until.Format(time.DateOnly)
	var err error
	if data.Plan, err = d.plan(ctx, owner, until); err != nil {
		d.fail(w, r, s, err, "The holiday pause could not be prepared.")
		return
	}
	if data.Plan.Total == 0 {
		data.Unknown = true
	}
	d.render(w, r, http.StatusOK, "holiday", data)
}

// bulkPause pauses an owner's running and snoozed enrollments until a
// date, once the preview was confirmed. Leads waiting for sales stay in
// the warm list (a pause would end on the return day and send them the
// next touch), and paused ones keep their own pause.
func (d *Dashboard) bulkPause(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	owner, until, problem := d.holidayParams(s, r.PostForm.Get("owner"), r.PostForm.Get("until"))
	if problem != "" {
		if !isAdmin(s) && strings.HasPrefix(problem, "You can pause only") {
			d.forbidden(w, r, s, "Not yours to pause", problem)
			return
		}
		http.Redirect(w, r, d.withFlash("/warm", "Not done: "+problem, ""), http.StatusSeeOther)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, "/holiday?"+url.Values{"owner": {owner}, "until": {until.Format(time.DateOnly)}}.Encode(), http.StatusSeeOther)
		return
	}
	p, err := d.plan(ctx, owner, until)
	if err != nil {
		http.Redirect(w, r, d.withFlash("/warm", d.notDone(w, r, err), ""), http.StatusSeeOther)
		return
	}
	whose := possessive(owner)
	if owner == s.Name {
		whose = "your"
	}
	if p.Total == 0 {
		http.Redirect(w, r, d.withFlash("/warm", "Nothing paused: no enrollments belong to "+owner+".", ""), http.StatusSeeOther)
		return
	}
	ev := cadence.Event{Kind: cadence.EvPaused, By: by(s), Reason: "owner on holiday", Until: until}
	paused, skipped := 0, 0
	var failed []string
	for _, id := range p.Pause {
		_, err := d.e.Apply(ctx, id, ev)
		switch {
		case err == nil:
			paused++
		case errors.Is(err, cadence.ErrInvalidTransition), errors.Is(err, cadence.ErrStale), errors.Is(err, store.ErrNotFound):
			skipped++ // it changed since the plan was made
		default:
			failed = append(failed, id+": "+err.Error())
		}
	}
	var b strings.Builder
	if paused == 0 {
		fmt.Fprintf(&b, "Nothing was paused: none of %s %s is running or snoozed.", whose, plural(p.Total, "enrollment"))
	} else {
		fmt.Fprintf(&b, "Paused %d of %s enrollments until %s UTC.", paused, whose, p.UntilAt.Long())
	}
	var left []string
	if p.Warm > 0 {
		left = append(left, plural(p.Warm, "lead")+" waiting for sales")
	}
	if p.Paused > 0 {
		left = append(left, fmt.Sprintf("%d already paused", p.Paused))
	}
	if p.Finished > 0 {
		left = append(left, fmt.Sprintf("%d finished", p.Finished))
	}
	if skipped > 0 {
		left = append(left, fmt.Sprintf("%d that changed meanwhile", skipped))
	}
	if len(left) > 0 {
		b.WriteString(" Left as they were: " + strings.Join(left, ", ") + ".")
	}
	if len(failed) > 0 {
		// Per-enrollment failures are internal: log them, show how many.
		id := d.logInternal(w, r, fmt.Errorf("holiday pause of %s: %d failed: %s", owner, len(failed), strings.Join(failed, "; ")))
		fmt.Fprintf(&b, " %d could not be paused (request id %s).", len(failed), id)
	}
	to := "/warm"
	if isAdmin(s) {
		to += "?owner=" + url.QueryEscape(owner)
	}
	http.Redirect(w, r, d.withFlash(to, b.String(), ""), http.StatusSeeOther)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

package dashboard_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// fixture is a dashboard over a real Redis with sam's and kim's prospects.
type fixture struct {
	t      *testing.T
	rdb    redis.UniversalClient
	e      *worker.Engine
	d      *dashboard.Dashboard
	ts     *httptest.Server
	sam    string // sam's session cookie (sales)
	ops    string // ops's (admin)
	csrf   string // sam's CSRF token
	opsTok string // ops's CSRF token
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	d, err := dashboard.New(config(e))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(d)
	t.Cleanup(ts.Close)
	f := &fixture{t: t, rdb: rdb, e: e, d: d, ts: ts}
	f.sam = login(t, ts.URL, salesSecret)
	f.ops = login(t, ts.URL, adminSecret)
	_, page := loggedIn(t, ts.URL, f.sam)
	f.csrf = csrfOf(t, page)
	_, page = loggedIn(t, ts.URL, f.ops)
	f.opsTok = csrfOf(t, page)
	return f
}

// enroll enrolls a prospect in c1.
func (f *fixture) enroll(p *store.Prospect) string {
	f.t.Helper()
	if p.Email == "" {
		p.Email = p.ID + "@example.com"
	}
	en, err := f.e.Enroll(context.Background(), p, "c1")
	if err != nil {
		f.t.Fatal(err)
	}
	return en.ID
}

// reply makes an enrollment warm with a reply.
func (f *fixture) reply(eid, text string) {
	f.t.Helper()
	if _, err := f.e.Apply(context.Background(), eid, cadence.Event{Kind: cadence.EvReplied, Touch: "one", Channel: cadence.Email, By: "email", Reason: text}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) enrollment(eid string) store.Loaded {
	f.t.Helper()
	l, err := f.e.Store().Enrollment(context.Background(), eid)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

// get loads a page with the session and extra cookies; it must answer 200.
func (f *fixture) get(cookie, path string, extra ...*http.Cookie) string {
	f.t.Helper()
	r, err := http.NewRequest("GET", f.ts.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	r.AddCookie(&http.Cookie{Name: "nurture_session", Value: cookie})
	for _, c := range extra {
		r.AddCookie(c)
	}
	resp, err := client.Do(r)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
	}
	return string(b)
}

// post posts a form as sam (or with another cookie and CSRF token) and
// returns the redirect.
func (f *fixture) post(cookie, csrf, path string, form url.Values) *http.Response {
	f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrf)
	resp, body := do(f.t, req{method: "POST", url: f.ts.URL + path, cookie: cookie, form: form})
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("POST %s: %d\n%s", path, resp.StatusCode, body)
	}
	return resp
}

// follow loads a redirect's target: its flash and its undo token.
func (f *fixture) follow(cookie string, resp *http.Response) (flash, undo, page string) {
	f.t.Helper()
	page = f.get(cookie, resp.Header.Get("Location"))
	if m := flashRE.FindStringSubmatch(page); m != nil {
		flash = html.UnescapeString(m[1])
	}
	if m := undoRE.FindStringSubmatch(page); m != nil {
		undo = html.UnescapeString(m[1])
	}
	return flash, undo, page
}

var (
	undoRE  = regexp.MustCompile(`name="undo" value="([^"]+)"`)
	leadRE  = regexp.MustCompile(`<li class="lead" id="lead-([^"]+)" data-eid="[^"]+" data-owner="([^"]*)">`)
	ownerRE = regexp.MustCompile(`<select name="owner">(.*?)</select>`)
)

// leads lists the enrollment ids of a warm-lead page and their owners.
func leads(page string) map[string]string {
	out := map[string]string{}
	for _, m := range leadRE.FindAllStringSubmatch(page, -1) {
		out[html.UnescapeString(m[1])] = m[2]
	}
	return out
}

// A rep's home is their own warm leads, with name, company, contact,
// cadence, stage, how long ago they replied and the reply; everyone's is
// one click away and the choice sticks. An admin picks any owner that has
// enrollments from a list.
func TestWarmLeadsAreMineByDefault(t *testing.T) {
	f := newFixture(t)
	ada := f.enroll(&store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines", Email: "ada@analytical.example", Phone: "+12125550100", Owner: "sam", TimeZone: "America/New_York"})
	grace := f.enroll(&store.Prospect{ID: "grace", FirstName: "Grace", LastName: "Hopper", Company: "Navy", Owner: "kim"})
	quiet := f.enroll(&store.Prospect{ID: "alan", FirstName: "Alan", LastName: "Turing", Owner: "lee"})
	f.reply(ada, "Can we talk on Tuesday?")
	f.reply(grace, "Send me a quote")

	home := f.get(f.sam, "/")
	if got := leads(home); len(got) != 1 || got[ada] != "sam" {
		t.Fatalf("sam's home lists %v, want only %s", got, ada)
	}
	for _, want := range []string{"<h1>My warm leads</h1>", "Ada Lovelace", "Analytical Engines", "mailto:ada@analytical.example", "tel:&#43;12125550100",
		"c1 · Only stage", "Can we talk on Tuesday?", `href="/prospects/ada"`, "replied just now", "Inbox (1)", "Handled (0)"} {
		if !strings.Contains(home, want) {
			t.Errorf("sam's home lacks %q", want)
		}
	}
	if strings.Contains(home, "Grace") || strings.Contains(home, `<select name="owner">`) {
		t.Error("sam's home shows kim's lead or the owner list")
	}
	// One primary action for a warm lead, the rest behind "More actions".
	primary, more := actionsOf(t, home, ada)
	if strings.Join(primary, ",") != "handled,pause" || strings.Join(more, ",") != "resume,snooze,stop" {
		t.Errorf("warm lead: primary %v, more %v", primary, more)
	}

	// Everyone's leads, and the choice persists in a cookie.
	resp, body := do(t, req{method: "GET", url: f.ts.URL + "/warm?owner=*", cookie: f.sam})
	if got := leads(body); resp.StatusCode != 200 || len(got) != 2 || got[grace] != "kim" || !strings.Contains(body, "owner kim") {
		t.Fatalf("everyone's leads: %d %v", resp.StatusCode, got)
	}
	var scope *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "nurture_scope" {
			scope = c
		}
	}
	if scope == nil || !scope.HttpOnly || scope.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the scope choice is not kept in a strict HttpOnly cookie: %+v", scope)
	}
	if got := leads(f.get(f.sam, "/", scope)); len(got) != 2 {
		t.Fatalf("with the scope cookie, sam's home lists %v, want everyone's", got)
	}
	// It is sam's choice, not the browser's: an admin logging in on it
	// starts on their own default.
	kims := &http.Cookie{Name: "nurture_scope", Value: "ops|kim"}
	if got := leads(f.get(f.ops, "/warm", &http.Cookie{Name: "nurture_scope", Value: "sam|kim"})); len(got) != 2 {
		t.Fatalf("ops with sam's choice of kim in the cookie: %v, want ops's own default (everyone's)", got)
	}
	if got := leads(f.get(f.ops, "/warm", kims)); len(got) != 1 || got[grace] != "kim" {
		t.Fatalf("ops with his own scope cookie for kim: %v", got)
	}
	// A rep's choices are theirs or everyone's: another owner is theirs.
	if got := leads(f.get(f.sam, "/warm?owner=kim")); len(got) != 1 || got[ada] != "sam" {
		t.Fatalf("sam asking for kim's leads gets %v, want his own", got)
	}

	// An admin starts on everyone's (ops owns none) and chooses among the
	// owners that have enrollments.
	page := f.get(f.ops, "/warm")
	if got := leads(page); len(got) != 2 || !strings.Contains(page, "Everyone&#39;s warm leads") {
		t.Fatalf("admin's warm leads: %v", got)
	}
	m := ownerRE.FindStringSubmatch(page)
	if m == nil || !strings.Contains(m[1], "<option>kim</option>") || !strings.Contains(m[1], "<option>lee</option>") || !strings.Contains(m[1], "<option>sam</option>") {
		t.Fatalf("admin's owner list: %v", m)
	}
	if got := leads(f.get(f.ops, "/warm?owner=kim")); len(got) != 1 || got[grace] != "kim" {
		t.Fatalf("admin choosing kim: %v", got)
	}
	// The admin's home is the cadences.
	if home := f.get(f.ops, "/"); !strings.Contains(home, "<h1>Cadences</h1>") {
		t.Fatal("the admin's home is not the cadences")
	}
	_ = quiet
}

var (
	actsRE = regexp.MustCompile(`(?s)<div class="acts">(.*?)</div></details></div>|<div class="acts">(.*?)</div>`)
	btnRE  = regexp.MustCompile(`<button data-action="([a-z]+)"`)
)

// actionsOf returns the primary buttons and the "More actions" ones of an
// enrollment's card on a page.
func actionsOf(t *testing.T, page, eid string) (primary, more []string) {
	t.Helper()
	i := strings.Index(page, `id="lead-`+eid+`"`)
	if i < 0 {
		i = strings.Index(page, `id="enrollment-`+eid+`"`)
	}
	if i < 0 {
		t.Fatalf("no card for %s", eid)
	}
	card := page[i:]
	if j := strings.Index(card[1:], `id="lead-`); j > 0 {
		card = card[:j]
	}
	if j := strings.Index(card, `<ol class="timeline">`); j > 0 {
		card = card[:j]
	}
	head, menu, _ := strings.Cut(card, `<details class="more">`)
	for _, m := range btnRE.FindAllStringSubmatch(head, -1) {
		primary = append(primary, m[1])
	}
	for _, m := range btnRE.FindAllStringSubmatch(menu, -1) {
		more = append(more, m[1])
	}
	return primary, more
}

// Each state offers the one action that fits it, the rest in a menu; a
// finished enrollment offers none.
func TestOneActionPerState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ids := map[cadence.State]string{}
	for _, st := range []cadence.State{cadence.Active, cadence.Paused, cadence.Snoozed, cadence.Warm, cadence.Exited} {
		ids[st] = f.enroll(&store.Prospect{ID: "p-" + string(st), FirstName: "P", LastName: string(st), Owner: "sam"})
	}
	steps := map[cadence.State]cadence.Event{
		cadence.Paused:  {Kind: cadence.EvPaused, By: "sales:sam"},
		cadence.Snoozed: {Kind: cadence.EvSnoozed, By: "sales:sam", Until: f.e.Clock().Add(48 * time.Hour)},
		cadence.Warm:    {Kind: cadence.EvReplied, Touch: "one", By: "email", Reason: "hi"},
		cadence.Exited:  {Kind: cadence.EvStopped, By: "sales:sam"},
	}
	for st, ev := range steps {
		if _, err := f.e.Apply(ctx, ids[st], ev); err != nil {
			t.Fatal(err)
		}
	}
	want := map[cadence.State][2]string{
		cadence.Active:  {"pause", "snooze,stop"},
		cadence.Paused:  {"resume", "stop"},
		cadence.Snoozed: {"resume", "pause,stop"},
		cadence.Warm:    {"handled,pause", "resume,snooze,stop"},
		cadence.Exited:  {"", ""},
	}
	for st, w := range want {
		page := f.get(f.sam, "/prospects/"+store.ProspectOf(ids[st]))
		primary, more := actionsOf(t, page, ids[st])
		if strings.Join(primary, ",") != w[0] || strings.Join(more, ",") != w[1] {
			t.Errorf("%s: primary %v, more %v; want %s / %s", st, primary, more, w[0], w[1])
		}
		if st == cadence.Paused && !strings.Contains(page, `class="primary" aria-label="Resume: P paused&#39;s c1 cadence"`) {
			t.Errorf("paused: Resume is not the primary button named for the prospect:\n%s", page)
		}
	}
}

// Pausing a warm lead says so in words and offers Undo; Undo puts it
// back exactly as it was, waiting for sales in the inbox, and works once,
// for the session that paused it.
func TestPauseAndUndo(t *testing.T) {
	f := newFixture(t)
	ada := f.enroll(&store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Owner: "sam"})
	f.reply(ada, "Let's talk")
	before := f.enrollment(ada)
	stats := func() map[string]int64 {
		s, err := f.e.Stats(context.Background(), "c1")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	flash, undo, page := f.follow(f.sam, f.post(f.sam, f.csrf, "/act/"+ada+"/pause", url.Values{"back": {"/warm"}}))
	if flash != "Paused Ada Lovelace's c1 cadence." || undo == "" || !strings.Contains(page, `data-action="undo"`) {
		t.Fatalf("pause: flash %q, undo %q", flash, undo)
	}
	if _, ok := leads(page)[ada]; ok {
		t.Fatal("the paused lead is still in the inbox")
	}
	if st := f.enrollment(ada).Enrollment.State; st != cadence.Paused {
		t.Fatalf("after Pause: %s", st)
	}
	// Another session may not use the token.
	if flash, _, _ := f.follow(f.ops, f.post(f.ops, f.opsTok, "/undo", url.Values{"undo": {undo}, "back": {"/warm"}})); flash != "Not undone: only the session that did it can undo it." {
		t.Fatalf("undo by another session: %q", flash)
	}
	if f.enrollment(ada).Enrollment.State != cadence.Paused {
		t.Fatal("an undo by another session changed the enrollment")
	}

	flash, again, page := f.follow(f.sam, f.post(f.sam, f.csrf, "/undo", url.Values{"undo": {undo}, "back": {"/warm"}}))
	if flash != "Undone: Ada Lovelace's c1 cadence is waiting for sales again." || again != "" {
		t.Fatalf("undo: flash %q, undo %q", flash, again)
	}
	if _, ok := leads(page)[ada]; !ok {
		t.Fatal("the lead is not back in the inbox after Undo")
	}
	after := f.enrollment(ada)
	got, want := after.Enrollment, before.Enrollment
	if got.Generation <= want.Generation {
		t.Fatalf("undo did not move the generation on: %d -> %d", want.Generation, got.Generation)
	}
	got.Generation = want.Generation
	if got != want {
		t.Fatalf("after undo the enrollment is\n%+v\nwant it as before the pause\n%+v", got, want)
	}
	if s := stats(); s["state:warm"] != 1 || s["state:paused"] != 0 {
		t.Fatalf("state counters after undo: warm %d, paused %d", s["state:warm"], s["state:paused"])
	}
	tl, err := f.e.Timeline(context.Background(), ada)
	if err != nil {
		t.Fatal(err)
	}
	if last := tl[len(tl)-1]; last.Kind != "undo" || last.By != "sales:sam" || last.From != cadence.Paused || last.To != cadence.Warm {
		t.Fatalf("last timeline entry %+v, want the undo", last)
	}
	// The token works once.
	if flash, _, _ := f.follow(f.sam, f.post(f.sam, f.csrf, "/undo", url.Values{"undo": {undo}, "back": {"/warm"}})); !strings.HasPrefix(flash, "Not undone: Ada Lovelace's c1 cadence changed since") {
		t.Fatalf("second undo: %q", flash)
	}
	// A made-up token is refused.
	if flash, _, _ := f.follow(f.sam, f.post(f.sam, f.csrf, "/undo", url.Values{"undo": {"AQ" + strings.Repeat("A", 40)}})); flash != "Not undone: that Undo button is not valid." {
		t.Fatalf("forged undo: %q", flash)
	}
}

// Undo restores a running enrollment's schedule (pause) and brings back a
// stopped one (stop), counters included.
func TestUndoRestoresScheduleAndStop(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	eid := f.enroll(&store.Prospect{ID: "ken", FirstName: "Ken", LastName: "Thompson", Owner: "sam"})
	// Send the first touch so the enrollment waits three days for the next.
	if _, err := f.e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvSent, Touch: "one", Channel: cadence.Email}); err != nil {
		t.Fatal(err)
	}
	before := f.enrollment(eid).Enrollment
	if before.State != cadence.Active || before.DueAt.IsZero() {
		t.Fatalf("setup: %+v", before)
	}
	for _, action := range []string{"pause", "stop", "snooze"} {
		flash, undo, _ := f.follow(f.sam, f.post(f.sam, f.csrf, "/act/"+eid+"/"+action, nil))
		if undo == "" {
			t.Fatalf("%s: no undo (flash %q)", action, flash)
		}
		if flash, _, _ := f.follow(f.sam, f.post(f.sam, f.csrf, "/undo", url.Values{"undo": {undo}})); flash != "Undone: Ken Thompson's c1 cadence is running again." {
			t.Fatalf("undo %s: %q", action, flash)
		}
		got := f.enrollment(eid).Enrollment
		if got.State != cadence.Active || !got.DueAt.Equal(before.DueAt) || got.Remaining != before.Remaining || got.Stage != before.Stage {
			t.Fatalf("after undoing %s: %+v\nwant the schedule of %+v", action, got, before)
		}
	}
	s, err := f.e.Stats(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if s["state:active"] != 1 || s["state:exited"] != 0 || s["state:paused"] != 0 || s["state:snoozed"] != 0 || s["in:only"] != 1 {
		t.Fatalf("counters after the undos: %v", s)
	}
	// The enrollment is due again where it was: the dispatcher sees it.
	l := f.enrollment(eid)
	due, err := f.rdb.ZScore(ctx, f.e.Store().Keys().Due(store.Shard("ken"), store.LaneEmail), eid).Result()
	if err != nil || int64(due) != l.Enrollment.DueAt.UnixMilli() {
		t.Fatalf("due set score %v (%v), want %d", due, err, l.Enrollment.DueAt.UnixMilli())
	}
}

// "Mark handled" takes a lead off the inbox without touching its cadence,
// to the Handled tab; Undo and "Back to inbox" bring it back, and a newer
// reply brings it back by itself.
func TestMarkHandled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ada := f.enroll(&store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Owner: "sam"})
	busy := f.enroll(&store.Prospect{ID: "ken", FirstName: "Ken", LastName: "Thompson", Owner: "sam"})
	f.reply(ada, "Let's talk")
	before := f.enrollment(ada)

	flash, undo, page := f.follow(f.sam, f.post(f.sam, f.csrf, "/act/"+ada+"/handled", url.Values{"back": {"/warm"}}))
	if flash != "Marked Ada Lovelace handled: off the inbox. The c1 cadence stays as it was." || undo == "" {
		t.Fatalf("handled: flash %q, undo %q", flash, undo)
	}
	if _, ok := leads(page)[ada]; ok || !strings.Contains(page, "Handled (1)") {
		t.Fatal("a handled lead is still in the inbox")
	}
	if after := f.enrollment(ada); after.Rev != before.Rev {
		t.Fatalf("marking handled changed the enrollment: rev %d -> %d", before.Rev, after.Rev)
	}
	handled := f.get(f.sam, "/warm?view=handled")
	if _, ok := leads(handled)[ada]; !ok || !strings.Contains(handled, "handled by sam") {
		t.Fatalf("the Handled tab does not list the lead:\n%s", handled)
	}
	if primary, _ := actionsOf(t, handled, ada); strings.Join(primary, ",") != "unhandle,pause" {
		t.Fatalf("handled lead's buttons: %v", primary)
	}
	if page := f.get(f.sam, "/prospects/ada"); !strings.Contains(page, "handled by sam") {
		t.Fatal("the prospect page does not say the lead was handled")
	}
	ttl, err := f.rdb.PTTL(ctx, f.e.Store().Keys().Handled(ada)).Result()
	if err != nil || ttl < store.HandledKeep-time.Minute || ttl > store.HandledKeep {
		t.Fatalf("handled mark TTL %v (%v), want about %v", ttl, err, store.HandledKeep)
	}

	// Undo: back in the inbox.
	flash, redo, page := f.follow(f.sam, f.post(f.sam, f.csrf, "/undo", url.Values{"undo": {undo}, "back": {"/warm"}}))
	if _, ok := leads(page)[ada]; flash != "Undone: Ada Lovelace is back in the inbox." || !ok || redo == "" {
		t.Fatalf("undo handled: flash %q, in inbox %v", flash, ok)
	}
	// Mark it again, then "Back to inbox".
	f.post(f.sam, f.csrf, "/act/"+ada+"/handled", nil)
	flash, _, _ = f.follow(f.sam, f.post(f.sam, f.csrf, "/act/"+ada+"/unhandle", url.Values{"back": {"/warm"}}))
	if flash != "Moved Ada Lovelace back to the inbox." {
		t.Fatalf("unhandle: %q", flash)
	}
	// Handled, then a newer reply: back in the inbox.
	f.post(f.sam, f.csrf, "/act/"+ada+"/handled", nil)
	if _, ok := leads(f.get(f.sam, "/"))[ada]; ok {
		t.Fatal("handled lead in the inbox")
	}
	if _, err := f.e.Apply(ctx, ada, cadence.Event{Kind: cadence.EvReplied, At: f.e.Clock().Add(time.Minute), Touch: "one", By: "email", Reason: "Any news?"}); err != nil {
		t.Fatal(err)
	}
	if page := f.get(f.sam, "/"); !strings.Contains(page, "Any news?") {
		t.Fatal("a newer reply did not bring the handled lead back to the inbox")
	}
	// Only a lead waiting for sales can be handled.
	if flash, _, _ := f.follow(f.sam, f.post(f.sam, f.csrf, "/act/"+busy+"/handled", nil)); flash != "Not done: Ken Thompson is not waiting for sales (the cadence is running)." {
		t.Fatalf("handling a running enrollment: %q", flash)
	}
	marks, err := f.e.Store().HandledMarks(ctx, []string{busy, ada, "nobody~c1"})
	if err != nil || marks[0] != nil || marks[1] == nil || marks[1].By != "sam" || marks[2] != nil {
		t.Fatalf("HandledMarks: %+v %v", marks, err)
	}
}

// The holiday pause previews what it does and pauses a rep's running and
// snoozed enrollments only; a rep cannot pause anyone else's book, and an
// owner without enrollments is a warning, not "paused 0".
func TestHolidayPause(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	run := f.enroll(&store.Prospect{ID: "run", FirstName: "Run", LastName: "Ning", Owner: "sam"})
	warm := f.enroll(&store.Prospect{ID: "warm", FirstName: "Wa", LastName: "Rm", Owner: "sam"})
	done := f.enroll(&store.Prospect{ID: "done", FirstName: "Do", LastName: "Ne", Owner: "sam"})
	kims := f.enroll(&store.Prospect{ID: "kims", FirstName: "Kim's", LastName: "Lead", Owner: "kim"})
	f.reply(warm, "hello")
	if _, err := f.e.Apply(ctx, done, cadence.Event{Kind: cadence.EvStopped, By: "api"}); err != nil {
		t.Fatal(err)
	}
	until := "2026-03-20"

	page := f.get(f.sam, "/holiday?until="+until)
	for _, want := range []string{"Pause 1 of sam's 3 enrollments until", "1 waiting for sales: left in the warm list", "1 finished", `name="confirm" value="yes"`} {
		if !strings.Contains(page, want) {
			t.Errorf("sam's preview lacks %q", want)
		}
	}
	if f.enrollment(run).Enrollment.State != cadence.Active {
		t.Fatal("the preview paused something")
	}
	// sam cannot preview or pause kim's book.
	if resp, body := do(t, req{method: "GET", url: f.ts.URL + "/holiday?owner=kim&until=" + until, cookie: f.sam}); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "You can pause only your own enrollments") {
		t.Fatalf("sam previewing kim's: %d\n%s", resp.StatusCode, body)
	}
	resp, body := do(t, req{method: "POST", url: f.ts.URL + "/bulk/pause", cookie: f.sam, form: url.Values{"csrf": {f.csrf}, "owner": {"kim"}, "until": {until}, "confirm": {"yes"}}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `href="/"`) {
		t.Fatalf("sam pausing kim's: %d\n%s", resp.StatusCode, body)
	}
	if f.enrollment(kims).Enrollment.State != cadence.Active {
		t.Fatal("sam paused kim's enrollment")
	}
	// Without the confirmation, a POST goes to the preview.
	resp = f.post(f.sam, f.csrf, "/bulk/pause", url.Values{"until": {until}})
	if loc := resp.Header.Get("Location"); loc != "/holiday?owner=sam&until="+until {
		t.Fatalf("unconfirmed pause goes to %q", loc)
	}
	flash, _, _ := f.follow(f.sam, f.post(f.sam, f.csrf, "/bulk/pause", url.Values{"until": {until}, "confirm": {"yes"}}))
	if flash != "Paused 1 of your enrollments until Fri 20 Mar 00:00 UTC. Left as they were: 1 lead waiting for sales, 1 finished." {
		t.Fatalf("holiday pause flash %q", flash)
	}
	got := f.enrollment(run).Enrollment
	if got.State != cadence.Paused || !got.Until.Equal(time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)) || got.Reason != "owner on holiday" {
		t.Fatalf("paused enrollment: %+v", got)
	}
	if f.enrollment(warm).Enrollment.State != cadence.Warm {
		t.Fatal("the holiday pause paused a lead waiting for sales")
	}

	// An admin chooses among existing owners; a name with no enrollments
	// is a warning and offers nothing to confirm.
	page = f.get(f.ops, "/holiday?owner=kimm&until="+until)
	if !strings.Contains(page, "No enrollments belong to “kimm”") || !strings.Contains(page, "Owners with enrollments: kim, sam.") || strings.Contains(page, `name="confirm"`) {
		t.Fatalf("admin preview of an unknown owner:\n%s", page)
	}
	if flash, _, _ := f.follow(f.ops, f.post(f.ops, f.opsTok, "/bulk/pause", url.Values{"owner": {"kimm"}, "until": {until}, "confirm": {"yes"}})); flash != "Nothing paused: no enrollments belong to kimm." {
		t.Fatalf("admin pausing an unknown owner: %q", flash)
	}
	page = f.get(f.ops, "/holiday?owner=kim&until="+until)
	if !strings.Contains(page, "Pause 1 of kim's 1 enrollment until") {
		t.Fatalf("admin preview of kim's:\n%s", page)
	}
	if flash, _, _ := f.follow(f.ops, f.post(f.ops, f.opsTok, "/bulk/pause", url.Values{"owner": {"kim"}, "until": {until}, "confirm": {"yes"}})); flash != "Paused 1 of kim's enrollments until Fri 20 Mar 00:00 UTC." {
		t.Fatalf("admin pausing kim's: %q", flash)
	}
	// A date in the past is refused.
	if resp, body := do(t, req{method: "GET", url: f.ts.URL + "/holiday?until=2026-03-01", cookie: f.sam}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "The return day must be after today.") {
		t.Fatalf("past return day: %d\n%s", resp.StatusCode, body)
	}
}

// The queue monitor is in admins' menu once mounted; a rep who opens it
// gets a page saying why, with a way home.
func TestMonitorLinkAndRefusal(t *testing.T) {
	f := newFixture(t)
	if strings.Contains(f.get(f.ops, "/cadences"), `href="/monitor/"`) {
		t.Fatal("the monitor is linked before it is mounted")
	}
	monitor := httptest.NewServer(f.d.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "asynqmon")
	})))
	defer monitor.Close()
	page := f.get(f.ops, "/cadences")
	if !strings.Contains(page, `<a href="/monitor/" target="_blank" rel="noopener" id="monitor-link"`) || !strings.Contains(page, "close the tab to return") {
		t.Fatalf("admin's menu has no monitor link and note:\n%s", page)
	}
	if strings.Contains(f.get(f.sam, "/cadences"), `href="/monitor/"`) {
		t.Fatal("a rep's menu links the monitor")
	}
	resp, body := do(t, req{method: "GET", url: monitor.URL + "/monitor/", cookie: f.sam})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "<h1>The queue monitor is for admins</h1>") || !strings.Contains(body, `<a class="button" href="/" id="home-link">`) ||
		!strings.Contains(body, "<style>") || !strings.Contains(body, "sam (sales)") {
		t.Fatalf("rep on the monitor: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := do(t, req{method: "GET", url: monitor.URL + "/monitor/", cookie: f.ops}); resp.StatusCode != 200 || body != "asynqmon" {
		t.Fatalf("admin on the monitor: %d %q", resp.StatusCode, body)
	}
}

// The login page says where a token comes from.
func TestLoginExplainsTokens(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ts := serve(t, config(newEngine(t, rdb, prefix)))
	_, body := do(t, req{method: "GET", url: ts.URL + "/login"})
	if !strings.Contains(body, "Your administrator gives you a token from NURTURE_API_TOKENS; in the demo, the terminal prints one.") ||
		!strings.Contains(body, `aria-describedby="token-help"`) {
		t.Fatalf("login page:\n%s", body)
	}
}

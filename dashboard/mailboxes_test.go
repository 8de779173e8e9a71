package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/internal/browsertest"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// testMailboxes has a rep's mailbox on a relay in New York's day, one
// warming up (its fourth day on mailboxNow) and a newsletter address.
const testMailboxes = `relays:
  workspace:
    host: smtp.workspace.example
    limits: {per_day: 2000}
mailboxes:
  sam:
    address: sam@acme.example
    name: Sam Rivera
    owners: [sam]
    pools: [sales]
    relay: workspace
    time_zone: America/New_York
    limits: {per_minute: 2, per_hour: 40, per_day: 100}
  ada:
    address: ada@acme.example
    name: Ada Park
    owners: [ada]
    pools: [sales]
    limits: {per_day: 100}
    warmup: {start: 20, growth: 10%, since: 2026-11-20}
  news:
    address: news@acme.example
    limits: {per_hour: 500}
`

// mailboxNow is Monday 2026-11-23 15:00 UTC, 10:00 in New York.
var mailboxNow = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

// mbFixture is the dashboard fixture over an engine with testMailboxes.
type mbFixture struct {
	*fixture
	cfg *senders.Config
	st  *store.Store
	clk *enginetest.Clock
	now time.Time
}

func newMailboxFixture(t *testing.T) *mbFixture {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("c1.yaml", []byte(enginetest.EmailCadence("c1", "0", "3d")))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := senders.Parse("mailboxes.yaml", []byte(testMailboxes), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(mailboxNow)
	ob, _ := channels.NewOutbox("", 10, clk.Now)
	signer, _ := tokens.NewSigner(tokenKey)
	st := store.New(rdb, prefix)
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Senders: cfg,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
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
	return &mbFixture{fixture: f, cfg: cfg, st: st, clk: clk, now: mailboxNow}
}

// use records n sends today from a mailbox, as the worker's limit check
// does.
func (f *mbFixture) use(id string, n int) {
	f.t.Helper()
	mb := f.cfg.Mailbox(id)
	a := store.LimitAsk{Group: "mb:" + id, DayCap: mb.DayCap(f.now), Day: senders.Day(f.now, mb.Zone), DayEnd: senders.NextDay(f.now, mb.Zone), CountDay: true, Want: n}
	g, err := f.st.AcquireSends(context.Background(), []store.LimitAsk{a}, f.now)
	if err != nil || g[0].Granted != n {
		f.t.Fatalf("acquire %d sends from %s: %+v %v", n, id, g, err)
	}
}

// brake puts a group's brake on at at: a full window of sends, then
// enough bad outcomes to trip the rule.
func (f *mbFixture) brake(group, outcome string, bad int, at time.Time) string {
	f.t.Helper()
	ctx := context.Background()
	b := f.cfg.Brakes
	sent := make([]string, b.Window)
	for i := range sent {
		sent[i] = group
	}
	if err := f.st.RecordSent(ctx, sent, b.Window); err != nil {
		f.t.Fatal(err)
	}
	rule := store.BrakeRule{Window: b.Window, BounceRate: b.BounceRate, ComplaintRate: b.ComplaintRate}
	var reason string
	for i := 0; i < bad; i++ {
		r, err := f.st.RecordOutcome(ctx, group, outcome, rule, at)
		if err != nil {
			f.t.Fatal(err)
		}
		if r != "" {
			reason = r
		}
	}
	if reason == "" {
		f.t.Fatalf("%d %s outcomes put no brake on %s", bad, outcome, group)
	}
	return reason
}

var (
	tagRE   = regexp.MustCompile(`<[^>]+>`)
	styleRE = regexp.MustCompile(`(?s)<style>.*?</style>`)
	punctRE = regexp.MustCompile(` ([:;,.])`)
)

// text is an HTML fragment's text with its spaces collapsed, as it reads:
// tags become spaces, except before punctuation.
func text(s string) string {
	t := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(styleRE.ReplaceAllString(s, ""), " "))), " ")
	return punctRE.ReplaceAllString(t, "$1")
}

// card is the text of a mailbox's card on the mailboxes page.
func card(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<li class="card mailbox[^"]*" id="mailbox-` + id + `" data-mailbox="` + id + `">(.*?)</li>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no card for mailbox %s:\n%s", id, page)
	}
	return text(m[1])
}

// The mailboxes page gives each mailbox's day in exact numbers: today's
// sends against today's limit (the warm-up ramp's value), the rates, a
// slow-down with what is in effect meanwhile, owners, pools and relay.
func TestMailboxesPage(t *testing.T) {
	f := newMailboxFixture(t)
	f.use("sam", 63)
	f.use("ada", 26) // all of today's warm-up limit
	for _, at := range []time.Time{f.now.Add(-3 * time.Minute), f.now.Add(-time.Minute)} {
		if _, err := f.st.SlowDown(context.Background(), "mb:sam", at); err != nil {
			t.Fatal(err)
		}
	}

	page := f.get(f.sam, "/mailboxes")
	if !strings.Contains(page, `<a href="/mailboxes" aria-current="page">Mailboxes</a>`) {
		t.Errorf("no current Mailboxes entry in the menu")
	}
	if strings.Contains(page, `id="brakes"`) {
		t.Errorf("a brake banner with no brake on")
	}
	if got := text(regexp.MustCompile(`(?s)<p id="mailboxes-summary">.*?</p>`).FindString(page)); got != "3 mailboxes: 1 at today's limit, 1 slowed down, 1 warming up." {
		t.Errorf("summary %q", got)
	}
	for id, want := range map[string]string{
		"sam": "Sam Rivera sam@acme.example yours mailbox sam 63 of 100 today " +
			"Slowed down 4× after the provider asked to; recovers automatically (for now at most 1 every 2 min and 10 an hour; the slow-down halves every 10 min without another such answer) " +
			"Rate at most 2 a minute and 40 an hour Sends for prospects owned by sam Pools sales Relay workspace · at most 2000 a day over every mailbox on it Its day midnight to midnight, America/New_York",
		"ada": "Ada Park ada@acme.example mailbox ada 26 of 26 today · daily limit reached: more emails wait until Tue 24 Nov 00:00 (UTC) " +
			"Warm-up warm-up day 4: limit 26 today, rising 10 %/day to 100 Rate no per-minute or per-hour limit Sends for prospects owned by ada Pools sales Relay default (SMTP_HOST) Its day midnight to midnight, UTC",
		"news": "news@acme.example mailbox news 0 today, no daily limit Rate at most 500 an hour Sends for no owner: cadences that name it or its pools Pools none Relay default (SMTP_HOST) Its day midnight to midnight, UTC",
	} {
		if got := card(t, page, id); got != want {
			t.Errorf("mailbox %s:\n got %s\nwant %s", id, got, want)
		}
	}
	for _, want := range []string{`<span style="width:63%"></span>`, `<span class="full" style="width:100%"></span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the bar %s", want)
		}
	}
	if strings.Contains(page, "mailboxes.yaml") {
		t.Errorf("a rep is shown the file to edit")
	}
	if page := f.get(f.ops, "/mailboxes"); !strings.Contains(page, "Read from <code>mailboxes.yaml</code> at start") || strings.Contains(page, `class="tag">yours`) {
		t.Errorf("an admin's page: the file, and no mailbox is theirs")
	}
}

// Before its first day a warming mailbox is held to the first day's
// limit, and once the ramp reaches per_day the page says it is done.
func TestMailboxWarmupEnds(t *testing.T) {
	f := newMailboxFixture(t)
	f.clk.Add(-4 * 24 * time.Hour) // Thu 19 Nov
	page := f.get(f.ops, "/mailboxes")
	if got := card(t, page, "ada"); !strings.Contains(got, "0 of 20 today Warm-up warm-up starts Fri 20 Nov 2026: limit 20 today, then rising 10 %/day to 100 ") {
		t.Errorf("ada before her warm-up: %s", got)
	}
	f.clk.Add(18 * 24 * time.Hour) // Mon 7 Dec: 20 × 1.1^17 ≥ 100
	page = f.get(f.ops, "/mailboxes")
	if got := card(t, page, "ada"); !strings.Contains(got, "0 of 100 today Warm-up warm-up done (day 18): the full limit of 100 a day ") {
		t.Errorf("ada after her warm-up: %s", got)
	}
	if !strings.Contains(page, `<p id="mailboxes-summary">3 mailboxes, all sending normally.`) {
		t.Errorf("a finished warm-up still counts as warming up")
	}
}

// Without a mailboxes file the menu has no Mailboxes entry and the page
// says how to configure them instead of showing an empty table.
func TestMailboxesPageUnconfigured(t *testing.T) {
	f := newFixture(t)
	page := f.get(f.sam, "/warm")
	if strings.Contains(page, `href="/mailboxes"`) {
		t.Errorf("Mailboxes in the menu with no mailboxes configured")
	}
	page = f.get(f.ops, "/mailboxes")
	for _, want := range []string{`id="no-mailboxes"`, "<code>NURTURE_MAILBOXES</code>", "<code>docs/sending.md#sender-mailboxes</code>", "from: {mailbox: owner}"} {
		if !strings.Contains(page, want) {
			t.Errorf("unconfigured page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="mailboxes"`) {
		t.Errorf("a mailbox list with no mailboxes")
	}
}

var brakeItemRE = regexp.MustCompile(`(?s)<li data-brake="([^"]+)">(.*?)</li>`)

// brakesOf reads a page's brake banner: each brake's kind:id and text.
func brakesOf(page string) map[string]string {
	out := map[string]string{}
	for _, m := range brakeItemRE.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// A brake is named on every page with its reason and since when; an
// admin resumes it from the banner (CSRF-checked) and a rep cannot; the
// flash says what happens next.
func TestBrakeBannerAndResume(t *testing.T) {
	f := newMailboxFixture(t)
	ctx := context.Background()
	at := f.now.Add(-90 * time.Minute)
	reason := f.brake("mb:sam", store.OutcomeBounced, 11, at)
	if reason != "hard bounces: 11 of the last 200 sends (5.5%), over the 5.0% limit" {
		t.Fatalf("reason %q", reason)
	}
	if got := f.brake("cad:c1", store.OutcomeComplaint, 1, at); got != "complaints: 1 of the last 200 sends (0.5%), over the 0.3% limit" {
		t.Fatalf("cadence reason %q", got)
	}

	// A rep sees both on any page, without a button.
	page := f.get(f.sam, "/warm")
	if !strings.Contains(page, `<section class="brakes" id="brakes" aria-labelledby="brakes-h"><h2 id="brakes-h">Sending stopped by 2 brakes</h2>`) {
		t.Fatalf("no banner on /warm:\n%s", page)
	}
	bs := brakesOf(page)
	if got := text(bs["mailbox:sam"]); got != "Mailbox sam (sam@acme.example): "+reason+". Stopped since Mon 23 Nov 13:30 UTC (1 h ago); its emails are held, none dropped. An admin resumes it once the cause is fixed." {
		t.Errorf("rep's mailbox brake: %q", got)
	}
	if got := text(bs["cadence:c1"]); !strings.HasPrefix(got, "c1 cadence: complaints: 1 of the last 200 sends") {
		t.Errorf("rep's cadence brake: %q", got)
	}
	if strings.Contains(page, `action="/mailboxes/resume"`) {
		t.Errorf("a rep is offered Resume sending")
	}
	if !strings.Contains(bs["mailbox:sam"], `<a href="/mailboxes#mailbox-sam">`) || !strings.Contains(bs["cadence:c1"], `<a href="/cadences/c1">`) {
		t.Errorf("the banner does not link to what is stopped: %v", bs)
	}
	if c := card(t, f.get(f.sam, "/mailboxes"), "sam"); !strings.Contains(c, "Stopped by its brake: "+reason+", since Mon 23 Nov 13:30 UTC. Its emails are held until an admin resumes sending.") {
		t.Errorf("sam's card: %s", c)
	}
	if _, body := do(t, req{method: "GET", url: f.ts.URL + "/login"}); strings.Contains(body, `id="brakes"`) {
		t.Errorf("the login page shows the brakes")
	}

	// A rep cannot resume, even by posting the form.
	resp, _ := do(t, req{method: "POST", url: f.ts.URL + "/mailboxes/resume", cookie: f.sam, form: url.Values{"csrf": {f.csrf}, "kind": {"mailbox"}, "id": {"sam"}}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("rep resume: %d", resp.StatusCode)
	}
	// Nor can an admin's session without its CSRF token.
	for _, tok := range []string{"", f.csrf} {
		resp, _ = do(t, req{method: "POST", url: f.ts.URL + "/mailboxes/resume", cookie: f.ops, form: url.Values{"csrf": {tok}, "kind": {"mailbox"}, "id": {"sam"}}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("resume with CSRF token %q: %d", tok, resp.StatusCode)
		}
	}
	if b, _ := f.e.Brakes(ctx); len(b) != 2 {
		t.Fatalf("refused requests lifted a brake: %+v", b)
	}

	// The admin's banner has a labelled button per brake, coming back here.
	page = f.get(f.ops, "/cadences/c1")
	for _, b := range []struct{ key, label string }{{"mailbox:sam", "Mailbox sam (sam@acme.example)"}, {"cadence:c1", "c1 cadence"}} {
		kind, id, _ := strings.Cut(b.key, ":")
		want := `<input type="hidden" name="kind" value="` + kind + `"><input type="hidden" name="id" value="` + id + `"><input type="hidden" name="back" value="/cadences/c1"><button class="primary" data-action="resume-sending" aria-label="Resume sending: ` + b.label + `">Resume sending</button>`
		if !strings.Contains(brakesOf(page)[b.key], want) {
			t.Errorf("admin's %s brake lacks its form %s:\n%s", b.key, want, brakesOf(page)[b.key])
		}
	}
	flash, _, page := f.follow(f.ops, f.post(f.ops, f.opsTok, "/mailboxes/resume", url.Values{"kind": {"mailbox"}, "id": {"sam"}, "back": {"/cadences/c1"}}))
	if flash != "Sending resumed for mailbox sam. The emails it held go out within the hour; its bounce and complaint counts start afresh." {
		t.Errorf("flash %q", flash)
	}
	if bs := brakesOf(page); len(bs) != 1 || bs["cadence:c1"] == "" || !strings.Contains(page, ">Sending stopped by a brake</h2>") {
		t.Errorf("after resuming sam the banner has %v", bs)
	}
	flash, _, _ = f.follow(f.ops, f.post(f.ops, f.opsTok, "/mailboxes/resume", url.Values{"kind": {"mailbox"}, "id": {"sam"}}))
	if flash != "Nothing to do: mailbox sam was not stopped; someone may have resumed it already." {
		t.Errorf("second resume flash %q", flash)
	}
	flash, _, _ = f.follow(f.ops, f.post(f.ops, f.opsTok, "/mailboxes/resume", url.Values{"kind": {"relay"}, "id": {"workspace"}}))
	if flash != "Not done: that is not a mailbox or cadence brake." {
		t.Errorf("unknown kind flash %q", flash)
	}
	f.follow(f.ops, f.post(f.ops, f.opsTok, "/mailboxes/resume", url.Values{"kind": {"cadence"}, "id": {"c1"}}))
	if b, err := f.e.Brakes(ctx); err != nil || len(b) != 0 {
		t.Errorf("brakes after resuming both: %+v %v", b, err)
	}
	if page := f.get(f.sam, "/warm"); strings.Contains(page, `id="brakes"`) {
		t.Errorf("the banner outlives the brakes")
	}
	if c := card(t, f.get(f.sam, "/mailboxes"), "sam"); strings.Contains(c, "Stopped") {
		t.Errorf("sam's card after resuming: %s", c)
	}
}

// In Chromium at 1400 and 390 px, as an admin with a brake on and a
// mailbox slowed down: the mailboxes page and the banner on another page
// do not scroll sideways, every control is on screen, and axe-core finds
// no serious WCAG 2.1 A/AA violation; Resume sending works from the
// keyboard. A failed step or check keeps a screenshot (browsertest.ShotDir
// says where); SCREENSHOTS=DIR keeps one of each page.
func TestMailboxesPageInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	f := newMailboxFixture(t)
	f.use("sam", 63)
	f.use("ada", 12)
	if _, err := f.st.SlowDown(context.Background(), "mb:sam", f.now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "nurture-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true), chromedp.UserDataDir(profile))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	shots := browsertest.ShotDir(t)
	for _, width := range []int64{1400, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			// Each width starts with sam's mailbox stopped (the last one
			// resumed it).
			f.brake("mb:sam", store.OutcomeBounced, 11, f.now.Add(-90*time.Minute))
			ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
			defer cancel()
			// The first Run starts the tab for as long as ctx lasts; each
			// step has a deadline of its own, so one that hangs leaves the
			// tab alive for its screenshot.
			if err := chromedp.Run(ctx); err != nil {
				t.Fatal(err)
			}
			shot := func(name string) string {
				return browsertest.Screenshot(ctx, t, shots, fmt.Sprintf("mailboxes-%d-%s", width, name))
			}
			run := func(step string, actions ...chromedp.Action) {
				t.Helper()
				sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
				defer scancel()
				if err := chromedp.Run(sctx, actions...); err != nil {
					if path := shot("failed-" + step); path != "" {
						t.Logf("screenshot of the failure: %s", path)
					}
					t.Fatalf("%s: %v", step, err)
				}
			}
			run("open", chromedp.EmulateViewport(width, 900), chromedp.Navigate(f.ts.URL+"/login"), chromedp.WaitVisible(`#token`, chromedp.ByQuery),
				chromedp.SendKeys(`#token`, adminSecret+kb.Enter, chromedp.ByQuery), chromedp.WaitVisible(`#brakes`, chromedp.ByQuery))
			check := func(name string) {
				t.Helper()
				var l struct {
					ScrollWidth, InnerWidth int
					Outside                 []string
				}
				run("layout of "+name, chromedp.Evaluate(`(() => {
  const w = window.innerWidth, out = [];
  for (const el of document.querySelectorAll('button, a, input, select, .bar, dd, h1, h2')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || el.classList.contains('skip')) continue;
    if (r.left < 0 || r.right > w + 0.5) out.push(el.tagName + ' ' + (el.textContent || el.name).trim().slice(0, 40));
  }
  return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w, Outside: out};
})()`, &l))
				bad := false
				if l.ScrollWidth > l.InnerWidth || len(l.Outside) > 0 {
					bad = true
					t.Errorf("%s at %d px: scrollWidth %d > %d, outside the window %v", name, width, l.ScrollWidth, l.InnerWidth, l.Outside)
				}
				var violations []browsertest.Violation
				run("axe of "+name, chromedp.ActionFunc(func(ctx context.Context) error {
					var err error
					violations, err = browsertest.Axe(ctx)
					return err
				}))
				for _, v := range violations {
					if v.Serious() {
						bad = true
						t.Errorf("%s at %d px: %v", name, width, v)
					} else {
						t.Logf("%s at %d px: %v", name, width, v)
					}
				}
				if bad {
					if path := shot("failed-" + name); path != "" {
						t.Logf("screenshot of the failure: %s", path)
					}
				} else if browsertest.EveryPage() {
					shot(name)
				}
			}
			check("cadences with the banner")
			run("mailboxes", chromedp.Navigate(f.ts.URL+"/mailboxes"), chromedp.WaitVisible(`#mailbox-sam`, chromedp.ByQuery))
			check("mailboxes")

			// Keyboard: focus the banner's button, Enter; the flash says
			// it is done and the banner is gone.
			var flash string
			var banners int
			run("resume from the keyboard", chromedp.Focus(`#brakes button`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter),
				chromedp.WaitVisible(`#flash-text`, chromedp.ByQuery), chromedp.Text(`#flash-text`, &flash, chromedp.ByQuery),
				chromedp.Evaluate(`document.querySelectorAll('#brakes').length`, &banners))
			if !strings.HasPrefix(flash, "Sending resumed for mailbox sam.") || banners != 0 {
				t.Errorf("after Resume sending: flash %q, %d banners", flash, banners)
			}
			check("mailboxes after resuming")
		})
	}
}

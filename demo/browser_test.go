package demo_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/demo"
	"github.com/nurture-dev/nurture/internal/browsertest"
	"github.com/nurture-dev/nurture/worker"
)

// browser is one headless Chromium for a test, with screenshots in
// browsertest.ShotDir: $SCREENSHOTS, else a temporary directory kept and
// named when the test fails.
type browser struct {
	t     *testing.T
	alloc context.Context
	shots string
	n     int
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	bin := browsertest.Chromium(t)
	shots := browsertest.ShotDir(t)
	// Chromium may still be writing its profile as it exits: remove it
	// with a few retries rather than through t.TempDir.
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
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(profile), chromedp.WindowSize(1400, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	return &browser{t: t, alloc: actx, shots: shots}
}

// tab opens a tab of the given width.
func (b *browser) tab(width int64) (context.Context, context.CancelFunc) {
	// This Chromium sends CDP events newer than cdproto knows; chromedp
	// logs each it cannot decode. Keep its other errors.
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			b.t.Log(msg)
		}
	}))
	ctx, tcancel := context.WithTimeout(ctx, 300*time.Second)
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
		b.t.Fatal(err)
	}
	return ctx, func() { tcancel(); cancel() }
}

// shot saves a full-page screenshot named after the test and step.
func (b *browser) shot(ctx context.Context, name string) {
	b.n++
	browsertest.Screenshot(ctx, b.t, b.shots, fmt.Sprintf("%s-%02d-%s", b.t.Name(), b.n, name))
}

// run runs actions, and on failure keeps a screenshot and stops the test.
// A step gets pageTimeout of its own, so one that hangs leaves the tab
// alive for the screenshot.
func (b *browser) run(ctx context.Context, step string, actions ...chromedp.Action) {
	b.t.Helper()
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	err := chromedp.Run(sctx, actions...)
	if d := time.Since(start); d > 5*time.Second {
		b.t.Logf("%s took %v", step, d.Round(time.Millisecond))
	}
	if err != nil {
		b.shot(ctx, "failed-"+step)
		b.t.Fatalf("%s: %v", step, err)
	}
}

// clickAndLoad clicks a form's button and waits for the page it leads to.
func clickAndLoad(sel string) chromedp.Action {
	return andLoad(chromedp.Click(sel, chromedp.ByQuery))
}

// andLoad does an action that submits a form and waits for the page it
// leads to (a new document: performance.timeOrigin changes).
func andLoad(a chromedp.Action) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var before float64
		if err := chromedp.Evaluate(`performance.timeOrigin`, &before).Do(ctx); err != nil {
			return err
		}
		if err := a.Do(ctx); err != nil {
			return err
		}
		for {
			var now float64
			// Evaluating during the navigation fails: try again.
			err := chromedp.Evaluate(`document.readyState === 'complete' ? performance.timeOrigin : 0`, &now).Do(ctx)
			if err == nil && now != 0 && now != before {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// fatal keeps a screenshot and fails the test.
func (b *browser) fatal(ctx context.Context, step, format string, args ...any) {
	b.t.Helper()
	b.shot(ctx, "failed-"+step)
	b.t.Fatalf(step+": "+format, args...)
}

// layout is what a page's geometry tells about a narrow screen.
type layout struct {
	ScrollWidth, InnerWidth int
	// Outside lists visible buttons, links and inputs that end past the
	// right edge of the window.
	Outside []string
	// Logout is whether the Log out button is inside the window.
	Logout bool
}

const layoutJS = `(() => {
  const w = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll('button, a, input, select, summary')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (el.closest('.scroll')) continue; // tables scroll in their own box
    if (el.classList.contains('skip')) continue; // the skip link shows on focus
    if (r.left < 0 || r.right > w + 0.5) out.push((el.textContent || el.name || el.tagName).trim().slice(0, 40) + ' [' + Math.round(r.left) + '..' + Math.round(r.right) + ']');
  }
  const lo = document.querySelector('#logout');
  let logout = false;
  if (lo) { const r = lo.getBoundingClientRect(); logout = r.width > 0 && r.left >= 0 && r.right <= w && r.top >= 0; }
  return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w, Outside: out, Logout: logout};
})()`

// checkLayout checks that the page does not scroll sideways and that
// every control is on screen, and saves a screenshot.
func (b *browser) checkLayout(ctx context.Context, name string, loggedIn bool) {
	b.t.Helper()
	var l layout
	b.run(ctx, "layout of "+name, chromedp.Evaluate(layoutJS, &l))
	b.shot(ctx, name)
	if l.ScrollWidth > l.InnerWidth {
		b.fatal(ctx, name, "the page scrolls sideways: scrollWidth %d > innerWidth %d", l.ScrollWidth, l.InnerWidth)
	}
	if len(l.Outside) > 0 {
		b.fatal(ctx, name, "controls outside the %d px window: %v", l.InnerWidth, l.Outside)
	}
	if loggedIn && !l.Logout {
		b.fatal(ctx, name, "Log out is not visible")
	}
}

// TestBrowserSalesWorksWarmLeads drives the demo's dashboard in headless
// Chromium as sales rep sam, on a desktop (1400 px) and a phone (390 px):
// log in, see only sam's warm leads with full names, pause one, undo it,
// pause it again, read the prospect's timeline in sentences, and find no
// page that scrolls sideways or hides a control.
func TestBrowserSalesWorksWarmLeads(t *testing.T) {
	browsertest.Chromium(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Prospects: 200, DaySeconds: 1, Seed: 5, Trickle: -1, Ready: func(i demo.Info) { ready <- i }})
	}()
	var info demo.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}
	defer func() {
		cancel()
		<-done
	}()
	for _, width := range []int64{1400, 390} {
		t.Run(fmt.Sprintf("%dpx", width), func(t *testing.T) {
			salesSession(t, newBrowser(t, context.Background()), info, width)
		})
	}
}

var namesRE = regexp.MustCompile(`^\S+ \S`)

func salesSession(t *testing.T, b *browser, info demo.Info, width int64) {
	ctx, cancel := b.tab(width)
	defer cancel()
	bg := context.Background()

	b.run(ctx, "login page", chromedp.Navigate(info.URL+"/"), chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery))
	var help string
	b.run(ctx, "login help", chromedp.Text(`#token-help`, &help, chromedp.ByQuery))
	if !strings.Contains(help, "NURTURE_API_TOKENS") || !strings.Contains(help, "the terminal prints one") {
		b.fatal(ctx, "login", "the login page does not say where a token comes from: %q", help)
	}
	b.checkLayout(ctx, "login", false)
	b.run(ctx, "log in", chromedp.SendKeys(`input[name="token"]`, info.SalesToken, chromedp.ByQuery), chromedp.Submit(`input[name="token"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#warm`, chromedp.ByQuery))

	// Wait for one of sam's leads, and one of someone else's, reloading
	// the page as a rep would.
	var eid string
	start := time.Now()
	deadline := start.Add(120 * time.Second)
	nudged := false
	for {
		var eids, owners []string
		b.run(ctx, "warm leads", chromedp.Navigate(info.URL+"/"), chromedp.WaitVisible(`#warm`, chromedp.ByQuery),
			chromedp.Evaluate(`[...document.querySelectorAll('#warm li.lead[data-eid]')].map(l => l.dataset.eid)`, &eids),
			chromedp.Evaluate(`[...document.querySelectorAll('#warm li.lead[data-eid]')].map(l => l.dataset.owner)`, &owners))
		for _, o := range owners {
			if o != "sam" {
				b.fatal(ctx, "mine", "sam's home shows a lead of %q: %v", o, owners)
			}
		}
		all, err := info.Engine.WarmLeads(bg, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		others := 0
		for _, l := range all {
			if l.Prospect.Owner != "sam" {
				others++
			}
		}
		if len(eids) > 0 && others > 0 {
			eid = eids[0]
			break
		}
		if len(eids) == 0 && !nudged && time.Since(start) > 30*time.Second {
			// The demo's replies are random: some seeds and timings give
			// sam none. One of his prospects replies, through the same
			// engine call the inbound webhook makes.
			nudged = replyAsSam(t, info)
		}
		if time.Now().After(deadline) {
			b.fatal(ctx, "warm", "within 120 s no warm lead of sam (%d shown) and of another owner (%d)", len(eids), others)
		}
		time.Sleep(time.Second)
	}
	var heading, name string
	lead := `#lead-` + cssEscape(eid)
	b.run(ctx, "lead", chromedp.Text(`h1`, &heading, chromedp.ByQuery), chromedp.Text(lead+` .lead-name`, &name, chromedp.ByQuery))
	if heading != "My warm leads" || !namesRE.MatchString(name) {
		b.fatal(ctx, "lead", "heading %q, lead name %q: want My warm leads and a full name", heading, name)
	}
	b.checkLayout(ctx, "warm-leads", true)
	// The rest of a lead's actions are behind "More actions", on screen
	// when opened.
	var more []string
	b.run(ctx, "more actions", chromedp.Click(lead+` details.more summary`, chromedp.ByQuery), chromedp.WaitVisible(lead+` details.more button[data-action="stop"]`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('`+jsEscape(lead)+` details.more button')].map(b => b.dataset.action)`, &more))
	if strings.Join(more, ",") != "resume,snooze,stop" {
		b.fatal(ctx, "more actions", "More actions of a warm lead: %v", more)
	}
	b.checkLayout(ctx, "more-actions", true)

	// Pause, undo, pause again.
	var flash string
	b.run(ctx, "pause", clickAndLoad(lead+` button[data-action="pause"]`), chromedp.WaitVisible(`#flash`, chromedp.ByQuery), chromedp.Text(`#flash-text`, &flash, chromedp.ByQuery))
	if !strings.HasPrefix(flash, "Paused "+name+"'s ") || !strings.HasSuffix(flash, " cadence.") {
		b.fatal(ctx, "pause", "flash %q, want Paused %s's … cadence.", flash, name)
	}
	if st := state(t, info, eid); st != cadence.Paused {
		b.fatal(ctx, "pause", "%s is %s after Pause", eid, st)
	}
	var gone bool
	b.run(ctx, "paused lead leaves", chromedp.Evaluate(`document.querySelector('`+jsEscape(lead)+`') === null`, &gone))
	if !gone {
		b.fatal(ctx, "pause", "the paused lead is still in the inbox")
	}
	b.checkLayout(ctx, "paused-flash", true)
	b.run(ctx, "undo", clickAndLoad(`#undo`), chromedp.WaitVisible(`#flash`, chromedp.ByQuery), chromedp.Text(`#flash-text`, &flash, chromedp.ByQuery), chromedp.WaitVisible(lead, chromedp.ByQuery))
	if !strings.HasPrefix(flash, "Undone: "+name+"'s ") || !strings.HasSuffix(flash, "is waiting for sales again.") {
		b.fatal(ctx, "undo", "flash %q", flash)
	}
	if st := state(t, info, eid); st != cadence.Warm {
		b.fatal(ctx, "undo", "%s is %s after Undo, want warm", eid, st)
	}
	b.shot(ctx, "undone")
	// Again from the keyboard: the button takes focus and Enter presses it.
	b.run(ctx, "pause again", chromedp.Focus(lead+` button[data-action="pause"]`, chromedp.ByQuery), andLoad(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery), chromedp.Text(`#flash-text`, &flash, chromedp.ByQuery))
	if !strings.HasPrefix(flash, "Paused ") || state(t, info, eid) != cadence.Paused {
		b.fatal(ctx, "pause again", "flash %q, state %s", flash, state(t, info, eid))
	}
	// Undo from the keyboard too, which leaves the lead warm for the next
	// width: the demo's replies are random, and sam may have only one.
	b.run(ctx, "undo again", chromedp.Focus(`#undo`, chromedp.ByQuery), andLoad(chromedp.KeyEvent("\r")),
		chromedp.WaitVisible(lead, chromedp.ByQuery))
	if st := state(t, info, eid); st != cadence.Warm {
		b.fatal(ctx, "undo again", "%s is %s after the second Undo, want warm", eid, st)
	}

	// The prospect's timeline says all of it, in the prospect's zone.
	pid := strings.Split(eid, "~")[0]
	var lines []string
	var stamps []map[string]string
	b.run(ctx, "prospect page", chromedp.Navigate(info.URL+"/prospects/"+pid))
	b.run(ctx, "timeline shown", chromedp.WaitVisible(`.timeline`, chromedp.ByQuery))
	b.run(ctx, "timeline",
		chromedp.Evaluate(`[...document.querySelectorAll('#enrollment-`+jsEscape(cssEscape(eid))+` .timeline li')].map(li => li.textContent)`, &lines),
		chromedp.Evaluate(`[...document.querySelectorAll('.timeline time')].map(t => ({text: t.textContent, title: t.title}))`, &stamps))
	text := strings.Join(lines, "\n")
	for _, want := range []string{"Paused by sam — from the dashboard", "Undone by sam — undid the pause; waiting for sales again", "Waiting for sales since ", "Replied to ", "Enrolled in "} {
		if !strings.Contains(text, want) {
			b.fatal(ctx, "timeline", "timeline lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "->") || strings.Contains(text, "sales:sam") {
		b.fatal(ctx, "timeline", "timeline in machine words:\n%s", text)
	}
	for _, s := range stamps {
		if strings.Contains(s["text"], "UTC") || !strings.HasSuffix(s["title"], " UTC") {
			b.fatal(ctx, "timeline", "time %q (title %q): want local time with UTC in the title", s["text"], s["title"])
		}
	}
	b.checkLayout(ctx, "prospect", true)

	// Every other page, at this width.
	for _, p := range []struct{ name, path, wait string }{
		{"cadences", "/cadences", `a[href="/cadences/saas-trial"]`},
		{"cadence", "/cadences/saas-trial", `#funnel`},
		{"handled", "/warm?view=handled", `#warm`},
		{"everyone", "/warm?owner=*", `#warm`},
		// A return day a year ahead: a cadence day here is a second, so a
		// week ahead can be in the past by the time the page loads.
		{"holiday", "/holiday?until=" + info.Clock().AddDate(1, 0, 0).Format(time.DateOnly), `#holiday-plan`},
		{"prospects", "/prospects", `input[name="q"]`},
		{"outbox", "/outbox", `h1`},
		{"monitor-refused", "/monitor/", `#forbidden`},
	} {
		b.run(ctx, p.name, chromedp.Navigate(info.URL+p.path), chromedp.WaitVisible(p.wait, chromedp.ByQuery))
		b.checkLayout(ctx, p.name, true)
	}
	// The cadence's trend chart: bars standing on the axis, the peak day
	// the chart's full height, nothing sized by other rules.
	var bars []map[string]float64
	today := info.Clock().UTC()
	days := trend(t, info, today)
	b.run(ctx, "trend", chromedp.Navigate(info.URL+"/cadences/saas-trial?days=90"), chromedp.WaitVisible(`#trend-sent svg`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const s = document.querySelector('#trend-sent svg').getBoundingClientRect();
			return [...document.querySelectorAll('#trend-sent rect.day')].map(r => { const b = r.getBoundingClientRect();
				return {gap: s.bottom - b.bottom, h: b.height, svg: s.height, w: b.width}; }); })()`, &bars))
	tallest := 0.0
	for _, bar := range bars {
		if math.Abs(bar["gap"]) > 1 || bar["h"] <= 0 || bar["h"] > bar["svg"]+0.5 || bar["w"] <= 0 {
			b.fatal(ctx, "trend", "a bar of the sent trend does not stand on the axis: %v", bar)
		}
		tallest = max(tallest, bar["h"])
	}
	sendDays := daysWithSends(days)
	// A cadence day here is a second: read the engine again after the
	// page, and allow a day either side of the two reads.
	after := trend(t, info, info.Clock().UTC())
	sendDaysAfter := daysWithSends(after)
	lo, hi := min(sendDays, sendDaysAfter)-1, max(sendDays, sendDaysAfter)+1
	if sendDays == 0 || len(bars) < lo || len(bars) > hi || math.Abs(tallest-bars[0]["svg"]) > 1 {
		b.fatal(ctx, "trend", "sent trend: %d bars for %d–%d days with sends, tallest %.1f px of %v", len(bars), sendDays, sendDaysAfter, tallest, bars)
	}
	b.shot(ctx, "trend")
	var home string
	b.run(ctx, "monitor refused", chromedp.Navigate(info.URL+"/monitor/"), chromedp.WaitVisible(`#home-link`, chromedp.ByQuery), chromedp.AttributeValue(`#home-link`, "href", &home, nil, chromedp.ByQuery))
	if home != "/" {
		b.fatal(ctx, "monitor", "the refusal's link home is %q", home)
	}
	// Put the scope back to mine for the next width.
	b.run(ctx, "mine again", chromedp.Navigate(info.URL+"/warm?owner=sam"), chromedp.WaitVisible(`#warm`, chromedp.ByQuery))
	// And the login page once logged out.
	b.run(ctx, "log out", clickAndLoad(`#logout`), chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery))
	b.checkLayout(ctx, "logged-out", false)

	// An admin chooses whose leads from the owners that exist, and has
	// the queue monitor in the menu.
	var owners []string
	var monitor string
	b.run(ctx, "admin", chromedp.SendKeys(`input[name="token"]`, info.AdminToken, chromedp.ByQuery), andLoad(chromedp.Submit(`input[name="token"]`, chromedp.ByQuery)),
		chromedp.Navigate(info.URL+"/warm"), chromedp.WaitVisible(`#scope select`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#scope option')].map(o => o.textContent)`, &owners),
		chromedp.AttributeValue(`#monitor-link`, "href", &monitor, nil, chromedp.ByQuery))
	if strings.Join(owners, ",") != "Everyone,kim,lee,sam" || monitor != "/monitor/" {
		b.fatal(ctx, "admin", "owner list %v, monitor link %q", owners, monitor)
	}
	b.checkLayout(ctx, "admin-warm", true)
	b.run(ctx, "admin cadences", chromedp.Navigate(info.URL+"/cadences"), chromedp.WaitVisible(`#monitor-note`, chromedp.ByQuery))
	b.checkLayout(ctx, "admin-cadences", true)
	b.run(ctx, "admin log out", clickAndLoad(`#logout`), chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery))
}

// trend reads saas-trial's last 90 days from the engine, trying again
// when the embedded Redis is too busy to answer in time (under -race).
func trend(t *testing.T, info demo.Info, today time.Time) []worker.DayRow {
	t.Helper()
	var err error
	for i := 0; i < 5; i++ {
		var days []worker.DayRow
		if days, err = info.Engine.Trend(context.Background(), "saas-trial", today.AddDate(0, 0, -89), today); err == nil {
			return days
		}
		time.Sleep(time.Second)
	}
	t.Fatal(err)
	return nil
}

// daysWithSends counts the days that sent anything.
func daysWithSends(days []worker.DayRow) int {
	n := 0
	for _, d := range days {
		if d.Sent > 0 {
			n++
		}
	}
	return n
}

// replyAsSam makes one of sam's running saas-trial enrollments reply.
func replyAsSam(t *testing.T, info demo.Info) bool {
	t.Helper()
	ctx := context.Background()
	ids, err := info.Engine.Store().OwnerEnrollments(ctx, "sam")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.HasSuffix(id, "~saas-trial") {
			continue
		}
		l, err := info.Engine.Store().Enrollment(ctx, id)
		if err != nil || l.Enrollment.State != cadence.Active {
			continue
		}
		if _, err := info.Engine.Apply(ctx, id, cadence.Event{Kind: cadence.EvReplied, Touch: "welcome", Channel: cadence.Email, By: "email", Reason: "Yes, let's talk next week."}); err == nil {
			t.Logf("no warm lead of sam after 30 s: %s replied", id)
			return true
		}
	}
	return false
}

func state(t *testing.T, info demo.Info, eid string) cadence.State {
	t.Helper()
	l, err := info.Engine.Store().Enrollment(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	return l.Enrollment.State
}

// cssEscape escapes an id for a CSS selector.
func cssEscape(s string) string {
	r := strings.NewReplacer("~", `\~`, ".", `\.`, "@", `\@`, ":", `\:`)
	return r.Replace(s)
}

// jsEscape escapes a string for a single-quoted JavaScript literal.
func jsEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

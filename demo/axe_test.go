package demo_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/demo"
	"github.com/nurture-dev/nurture/internal/browsertest"
)

// axeLog runs axe on pages and keeps what it found for a summary.
type axeLog struct {
	b *browser
	// counts is rule id and impact by page, for the summary.
	counts map[string]map[string]int
	pages  []string
	rules  int // how many rules axe ran on the last page
}

// check runs axe over the page open in ctx: a serious or critical
// violation fails the test (after every page is seen), others are logged.
func (a *axeLog) check(ctx context.Context, page string) {
	t := a.b.t
	t.Helper()
	var r *browsertest.AxeReport
	a.b.run(ctx, "axe "+page, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		r, err = browsertest.RunAxe(ctx)
		return err
	}))
	a.pages = append(a.pages, page)
	a.rules = r.Rules
	c := map[string]int{}
	a.counts[page] = c
	for _, v := range r.Violations {
		c[v.ID+" ("+v.Impact+")"] += len(v.Nodes)
		if v.Serious() {
			t.Errorf("%s: %v", page, v)
		} else {
			t.Logf("%s: %v", page, v)
		}
	}
	// axe no longer checks ids that no ARIA attribute refers to (WCAG 2.2
	// dropped 4.1.1), but a label's for= or a test's selector needs them
	// unique.
	var dups []string
	a.b.run(ctx, "ids of "+page, chromedp.Evaluate(`(() => {
  const seen = {};
  for (const el of document.querySelectorAll('[id]')) seen[el.id] = (seen[el.id] || 0) + 1;
  return Object.keys(seen).filter(id => seen[id] > 1);
})()`, &dups))
	for _, id := range dups {
		c["duplicate id"]++
		t.Errorf("%s: id %q is on more than one element", page, id)
	}
	if len(r.Incomplete) > 0 {
		var ids []string
		for _, v := range r.Incomplete {
			ids = append(ids, fmt.Sprintf("%s×%d (first %s)", v.ID, len(v.Nodes), v.Nodes[0].Target))
		}
		t.Logf("%s: axe could not decide (check by hand): %s", page, strings.Join(ids, ", "))
	}
}

// missed records a page that could not be checked, and fails the test.
func (a *axeLog) missed(page, why string) {
	a.b.t.Helper()
	a.b.t.Errorf("%s: not checked: %s", page, why)
	a.pages = append(a.pages, page)
	a.counts[page] = map[string]int{"NOT CHECKED: " + why: 1}
}

// summary logs the violations of each page, one line a page.
func (a *axeLog) summary() {
	var b strings.Builder
	for _, p := range a.pages {
		var ids []string
		for id, n := range a.counts[p] {
			ids = append(ids, fmt.Sprintf("%s×%d", id, n))
		}
		sort.Strings(ids)
		if len(ids) == 0 {
			ids = []string{"none"}
		}
		fmt.Fprintf(&b, "\n  %-28s %s", p, strings.Join(ids, ", "))
	}
	a.b.t.Logf("axe %v (%d rules) violations by page (elements):%s", browsertest.AxeTags, a.rules, b.String())
}

// TestAxeDashboard runs axe-core (internal/browsertest/axe) over every
// dashboard page of the demo in headless Chromium, at 1400 and 390 px, as
// sales rep sam and as an admin: no page may have a serious or critical
// violation of WCAG 2.0/2.1 A and AA or of axe's best practices, nor an
// id used twice (which axe no longer checks). Pages are checked in the
// states a user sees: a warm lead with its menu open, the flash after an
// action, a search that finds nothing, a wrong token.
func TestAxeDashboard(t *testing.T) {
	browsertest.Chromium(t)
	start := time.Now()
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
	b := newBrowser(t, context.Background())
	a := &axeLog{b: b, counts: map[string]map[string]int{}}
	for _, width := range []int64{1400, 390} {
		axeWidth(t, b, a, info, width)
	}
	a.summary()
	t.Logf("%d pages in %v", len(a.pages), time.Since(start).Round(time.Second))
}

// pageTimeout is how long a page may take to show: a page that takes
// longer fails the test, and the others are still checked (within the
// tab's 300 s for each width).
const pageTimeout = 60 * time.Second

func axeWidth(t *testing.T, b *browser, a *axeLog, info demo.Info, width int64) {
	ctx, cancel := b.tab(width)
	defer cancel()
	w := fmt.Sprintf("%d/", width)
	see := func(name string, loggedIn bool) {
		t.Helper()
		b.checkLayout(ctx, fmt.Sprintf("%d-%s", width, name), loggedIn)
		a.check(ctx, w+name)
	}
	// A return day a month ahead: a cadence day is a second, and a week
	// ahead can be today by the time a loaded machine serves the page.
	back := func() string { return info.Clock().AddDate(0, 0, 30).Format(time.DateOnly) }
	visit := func(name, path, wait string) {
		t.Helper()
		pctx, pcancel := context.WithTimeout(ctx, pageTimeout)
		defer pcancel()
		start := time.Now()
		if err := chromedp.Run(pctx, chromedp.Navigate(info.URL+path), chromedp.WaitVisible(wait, chromedp.ByQuery)); err != nil {
			b.shot(ctx, fmt.Sprintf("%d-failed-%s", width, name))
			a.missed(w+name, fmt.Sprintf("%s did not show %s within %v: %v", path, wait, pageTimeout, err))
			return
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Logf("%s%s took %v", w, name, d.Round(time.Millisecond))
		}
		see(name, true)
	}

	b.run(ctx, "login page", chromedp.Navigate(info.URL+"/"), chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery))
	see("login", false)
	b.run(ctx, "wrong token", chromedp.SendKeys(`input[name="token"]`, "not-a-token", chromedp.ByQuery), andLoad(chromedp.Submit(`input[name="token"]`, chromedp.ByQuery)),
		chromedp.WaitVisible(`p[role="alert"]`, chromedp.ByQuery))
	see("login-wrong-token", false)
	b.run(ctx, "log in", chromedp.SendKeys(`input[name="token"]`, info.SalesToken, chromedp.ByQuery), andLoad(chromedp.Submit(`input[name="token"]`, chromedp.ByQuery)),
		chromedp.Navigate(info.URL+"/warm?owner=sam"), chromedp.WaitVisible(`#warm`, chromedp.ByQuery))

	// The pages that need no warm lead first, while the demo makes some.
	// Pages other engineers are rebuilding wait only for their heading.
	visit("holiday", "/holiday?until="+back(), `#holiday-plan`)
	visit("holiday-bad-date", "/holiday?until=someday", `#holiday-problem`)
	visit("cadences", "/cadences", `main h1`)
	visit("cadence", "/cadences/saas-trial", `main h1`)
	visit("versions", "/cadences/saas-trial/versions", `main h1`)
	visit("prospects", "/prospects", `input[name="q"]`)
	visit("prospects-not-found", "/prospects?q=nobody%40example.com", `input[name="q"]`)
	visit("outbox", "/outbox", `main h1`)
	visit("monitor-refused", "/monitor/", `#forbidden`)
	visit("everyone", "/warm?owner=*", `#warm`)

	// Wait for a lead of sam's: the demo's replies take a few cadence days.
	var eid string
	waited := time.Now()
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(time.Second) {
		leads, err := info.Engine.WarmLeads(context.Background(), "sam", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(leads) > 0 {
			eid = leads[0].Enrollment.ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("within 120 s sam has no warm lead")
		}
	}
	if d := time.Since(waited); d > time.Second {
		t.Logf("%swaited %v for a warm lead of sam's", w, d.Round(time.Second))
	}
	lead := `#lead-` + cssEscape(eid)
	b.run(ctx, "mine again", chromedp.Navigate(info.URL+"/warm?owner=sam"), chromedp.WaitVisible(lead, chromedp.ByQuery))
	see("warm-leads", true)
	b.run(ctx, "more actions", chromedp.Click(lead+` details.more summary`, chromedp.ByQuery), chromedp.WaitVisible(lead+` details.more button[data-action="stop"]`, chromedp.ByQuery),
		chromedp.Click(`#holiday summary`, chromedp.ByQuery), chromedp.WaitVisible(`#holiday input[name="until"]`, chromedp.ByQuery),
		chromedp.Evaluate(`window.scrollTo(0, 0)`, nil)) // opening the holiday card scrolled Log out away
	see("warm-menus-open", true)
	b.run(ctx, "mark handled", clickAndLoad(lead+` button[data-action="handled"]`), chromedp.WaitVisible(`#undo`, chromedp.ByQuery))
	see("handled-flash", true)
	visit("handled", "/warm?view=handled", lead)
	// Back to the inbox, which leaves the lead as it was for the next width.
	b.run(ctx, "back to inbox", clickAndLoad(lead+` button[data-action="unhandle"]`), chromedp.WaitVisible(`#flash`, chromedp.ByQuery))
	see("unhandled-flash", true)
	pid := strings.Split(eid, "~")[0]
	visit("prospect", "/prospects/"+pid, `.timeline`)
	visit("preview", "/cadences/saas-trial/preview?prospect="+pid, `main h1`)
	b.run(ctx, "log out", clickAndLoad(`#logout`), chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery))

	b.run(ctx, "admin", chromedp.SendKeys(`input[name="token"]`, info.AdminToken, chromedp.ByQuery), andLoad(chromedp.Submit(`input[name="token"]`, chromedp.ByQuery)))
	visit("admin-warm", "/warm", `#scope select`)
	visit("admin-holiday", "/holiday?owner=sam&until="+back(), `#holiday-plan`)
	visit("admin-holiday-unknown", "/holiday?owner=nobody&until="+back(), `#holiday-problem`)
	visit("admin-cadences", "/cadences", `#monitor-note`)
	visit("admin-versions", "/cadences/saas-trial/versions", `main h1`)
	b.run(ctx, "admin log out", clickAndLoad(`#logout`), chromedp.WaitVisible(`input[name="token"]`, chromedp.ByQuery))
}

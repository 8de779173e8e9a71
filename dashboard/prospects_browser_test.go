package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/nurture-dev/nurture/internal/browsertest"
	"github.com/nurture-dev/nurture/store"
)

// In Chromium at 1400 and 390 px, as sales rep sam: the prospect list does
// not scroll sideways, every control is on screen and labelled, and the
// search, the filters and the pages work from the keyboard alone; axe-core
// finds no serious WCAG 2.1 A/AA violation. A failed step or check keeps
// a screenshot (browsertest.ShotDir says where); SCREENSHOTS=DIR keeps
// one of each page.
func TestProspectPageInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	f := newFixture(t)
	f.book()
	for i := 0; i < 27; i++ {
		f.enroll(&store.Prospect{ID: fmt.Sprintf("long%02d", i), FirstName: "Maximiliana-Josefina", LastName: fmt.Sprintf("Vandenberghe-Oppenheimer%02d", i),
			Company: "Internationale Handelsgesellschaft für Maschinenbau", Email: fmt.Sprintf("maximiliana.josefina.vandenberghe%02d@handelsgesellschaft.example", i), Owner: "sam"})
	}
	f.reindex()
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
			ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
			defer cancel()
			// The first Run starts the tab for as long as ctx lasts; each
			// step has a deadline of its own, so one that hangs leaves the
			// tab alive for its screenshot.
			if err := chromedp.Run(ctx); err != nil {
				t.Fatal(err)
			}
			shot := func(name string) string {
				return browsertest.Screenshot(ctx, t, shots, fmt.Sprintf("prospects-%d-%s", width, name))
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
				chromedp.SendKeys(`#token`, salesSecret+kb.Enter, chromedp.ByQuery), chromedp.WaitVisible(`#warm`, chromedp.ByQuery),
				chromedp.Navigate(f.ts.URL+"/prospects?owner=sam"), chromedp.WaitVisible(`#prospects`, chromedp.ByQuery))
			check := func(name string) {
				t.Helper()
				var l struct {
					ScrollWidth, InnerWidth int
					Outside, Unlabelled     []string
				}
				run("layout of "+name, chromedp.Evaluate(`(() => {
  const w = window.innerWidth, out = [], unl = [];
  for (const el of document.querySelectorAll('button, a, input, select')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || el.classList.contains('skip')) continue;
    if (r.left < 0 || r.right > w + 0.5) out.push((el.textContent || el.name).trim().slice(0, 40));
    if ((el.tagName === 'INPUT' || el.tagName === 'SELECT') && el.labels.length === 0) unl.push(el.name);
  }
  return {ScrollWidth: document.documentElement.scrollWidth, InnerWidth: w, Outside: out, Unlabelled: unl};
})()`, &l))
				bad := false
				if l.ScrollWidth > l.InnerWidth || len(l.Outside) > 0 || len(l.Unlabelled) > 0 {
					bad = true
					t.Errorf("%s at %d px: scrollWidth %d, outside the window %v, unlabelled %v", name, width, l.ScrollWidth, l.Outside, l.Unlabelled)
				}
				// axe-core: no serious or critical WCAG 2.1 A/AA violation.
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
			check("the list")

			// Keyboard only: type in the search box, Enter; then Tab to a
			// filter, choose a state with the arrow keys, and submit.
			var ids []string
			run("search", chromedp.Focus(`#q`, chromedp.ByQuery), chromedp.SendKeys(`#q`, "lov"+kb.Enter, chromedp.ByQuery),
				chromedp.WaitVisible(`#clear`, chromedp.ByQuery), // only on a search
				chromedp.Evaluate(`[...document.querySelectorAll('#prospects li.lead')].map(l => l.dataset.pid)`, &ids))
			if strings.Join(ids, ",") != "ada" {
				t.Errorf("q=lov from the keyboard lists %v", ids)
			}
			check("a search")
			run("clear", chromedp.Navigate(f.ts.URL+"/prospects?owner=sam"), chromedp.WaitVisible(`#prospects`, chromedp.ByQuery))
			var page1 []string
			run("page 1", chromedp.Evaluate(`[...document.querySelectorAll('#prospects li.lead')].map(l => l.dataset.pid)`, &page1))
			var url string
			run("next from the keyboard", chromedp.Focus(`#next`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter),
				chromedp.WaitVisible(`#prev`, chromedp.ByQuery), chromedp.Location(&url),
				chromedp.Evaluate(`[...document.querySelectorAll('#prospects li.lead')].map(l => l.dataset.pid)`, &ids))
			if len(page1) != 25 || len(ids) != 4 || !strings.Contains(url, "cursor=") {
				t.Errorf("pages: %d then %d (%s)", len(page1), len(ids), url)
			}
			check("page 2")
			run("state filter from the keyboard", chromedp.Navigate(f.ts.URL+"/prospects?owner=sam"), chromedp.WaitVisible(`#state`, chromedp.ByQuery),
				chromedp.Focus(`#state`, chromedp.ByQuery), chromedp.SetValue(`#state`, "warm", chromedp.ByQuery),
				chromedp.Focus(`#search-button`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`#no-matches`, chromedp.ByQuery))
			check("no matches")
			run("an address nobody has", chromedp.Navigate(f.ts.URL+"/prospects?q=nobody%40example.com"), chromedp.WaitVisible(`#exact-miss`, chromedp.ByQuery))
			check("exact miss")
			run("a bad filter", chromedp.Navigate(f.ts.URL+"/prospects?state=asleep"), chromedp.WaitVisible(`#problem`, chromedp.ByQuery))
			check("bad filter")
		})
	}
}

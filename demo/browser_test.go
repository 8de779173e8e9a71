package demo_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/demo"
	"github.com/nurture-dev/nurture/internal/browsertest"
)

// TestBrowserSalesPausesAWarmLead drives the dashboard in headless
// Chromium: log in, open a cadence funnel, find a warm lead, click Pause,
// see the timeline say so; then pause an active prospect whose touch is
// due within the next cadence day from its prospect page, and see the
// engine send it nothing. Screenshots are kept when the test fails
// (SCREENSHOTS=dir keeps them always).
func TestBrowserSalesPausesAWarmLead(t *testing.T) {
	bin := browsertest.Chromium(t)
	shots := os.Getenv("SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Prospects: demoProspects, DaySeconds: demoDay.Seconds(), Seed: 5, Ready: func(i demo.Info) { ready <- i }})
	}()
	var info demo.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start")
	}

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
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	bctx, tcancel := context.WithTimeout(bctx, 120*time.Second)
	defer tcancel()

	n := 0
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			n++
			return os.WriteFile(filepath.Join(shots, filepath.Base(t.Name())+"-"+string(rune('0'+n))+"-"+name+".png"), buf, 0o644)
		})
	}
	failed := true
	defer func() {
		if failed {
			t.Logf("screenshots in %s", shots)
		}
	}()

	var funnel string
	err = chromedp.Run(bctx,
		chromedp.Navigate(info.URL+"/"),
		chromedp.WaitVisible(`input[name="token"]`),
		chromedp.SendKeys(`input[name="token"]`, info.SalesToken),
		chromedp.Submit(`input[name="token"]`),
		chromedp.WaitVisible(`a[href="/cadences/saas-trial"]`),
		chromedp.Click(`a[href="/cadences/saas-trial"]`),
		chromedp.WaitVisible(`#funnel`),
		chromedp.Text(`#funnel`, &funnel),
		shot("funnel"),
	)
	if err != nil {
		t.Fatalf("login and funnel: %v", err)
	}
	if !strings.Contains(funnel, "awareness") || !strings.Contains(funnel, "decision") {
		t.Fatalf("funnel: %q", funnel)
	}

	// Wait for a warm lead, reloading the page as a rep would.
	var hasLead bool
	deadline := time.Now().Add(60 * time.Second)
	for !hasLead && time.Now().Before(deadline) {
		err := chromedp.Run(bctx, chromedp.Navigate(info.URL+"/warm"), chromedp.WaitVisible(`#warm`),
			chromedp.Evaluate(`document.querySelector('#warm button[data-action="pause"]') !== null`, &hasLead))
		if err != nil {
			t.Fatal(err)
		}
		if !hasLead {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if !hasLead {
		chromedp.Run(bctx, shot("no-warm-lead"))
		t.Fatal("no warm lead appeared within 60 s")
	}
	var action, flash string
	err = chromedp.Run(bctx,
		shot("warm-leads"),
		chromedp.AttributeValue(`#warm button[data-action="pause"]`, "formaction", &action, nil),
		chromedp.Evaluate(`document.querySelector('#warm button[data-action="pause"]').form.getAttribute('action')`, &action),
		chromedp.Click(`#warm button[data-action="pause"]`),
		chromedp.WaitVisible(`#flash`),
		chromedp.Text(`#flash`, &flash),
	)
	if err != nil {
		t.Fatalf("pause: %v", err)
	}
	// action is /act/EID/pause
	eid := strings.TrimSuffix(strings.TrimPrefix(action, "/act/"), "/pause")
	if !strings.Contains(flash, "pause done") {
		t.Fatalf("flash %q", flash)
	}
	pid := strings.Split(eid, "~")[0]
	var timeline string
	err = chromedp.Run(bctx,
		chromedp.Navigate(info.URL+"/prospects/"+pid),
		chromedp.WaitVisible(`.timeline`),
		chromedp.Text(`#enrollment-`+cssEscape(eid)+` .timeline`, &timeline),
		shot("timeline"),
	)
	if err != nil {
		t.Fatalf("prospect page: %v", err)
	}
	if !strings.Contains(timeline, "paused: warm -> paused by sales:sam") {
		t.Fatalf("timeline does not show the pause:\n%s", timeline)
	}
	if l, err := info.Engine.Store().Enrollment(ctx, eid); err != nil {
		t.Fatal(err)
	} else if l.Enrollment.State != cadence.Paused {
		t.Fatalf("warm lead after Pause: %s", l.Enrollment.State)
	}

	// The warm lead had no touch due anyway. Pause an ACTIVE prospect whose
	// next touch is due within the next cadence day from its prospect page,
	// as a rep would, and watch the outbox until that touch would certainly
	// have gone out (a twin in the same position got its own, and a cadence
	// day has passed since the due time): nothing goes to it, and it stays
	// paused.
	var q quietCheck
	for attempt := 0; ; attempt++ {
		pair := duePair(t, ctx, info, demoProspects, 0.5)
		sel := `#enrollment-` + cssEscape(pair.target.eid)
		var state string
		err = chromedp.Run(bctx,
			chromedp.Navigate(info.URL+"/prospects/"+pair.target.pid),
			chromedp.WaitVisible(sel+` button[data-action="pause"]`),
			chromedp.AttributeValue(sel+` [data-state]`, "data-state", &state, nil),
			chromedp.Click(sel+` button[data-action="pause"]`),
			chromedp.WaitVisible(`#flash`),
			chromedp.Text(`#flash`, &flash),
		)
		if err != nil {
			chromedp.Run(bctx, shot("active-pause"))
			t.Fatalf("pausing %s on its prospect page: %v", pair.target.eid, err)
		}
		if state != "active" || !strings.Contains(flash, "pause done") {
			t.Fatalf("%s: page showed it %q before the click; flash %q", pair.target.eid, state, flash)
		}
		var ok bool
		if q, ok = pausedInTime(t, ctx, info, pair); ok {
			break
		}
		if attempt == 4 {
			t.Fatalf("five prospects in a row were sent their touch before the pause landed")
		}
	}
	if err := chromedp.Run(bctx, chromedp.WaitVisible(`#enrollment-`+cssEscape(q.target.eid)+` [data-state="paused"]`), shot("active-paused")); err != nil {
		t.Fatalf("prospect page does not show %s paused: %v", q.target.eid, err)
	}
	// Watch from a second session of the same rep (the browser stays on
	// the prospect page).
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := hc.PostForm(info.URL+"/login", url.Values{"token": {info.SalesToken}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("second login: %v %v", err, resp)
	}
	resp.Body.Close()
	q.watch(t, ctx, hc, info, demoDay)
	failed = false
	chromedp.Cancel(bctx) // close the browser before the demo stops
	cancel()
	<-done
}

// cssEscape escapes an id for a CSS selector.
func cssEscape(s string) string {
	r := strings.NewReplacer("~", `\~`, ".", `\.`, "@", `\@`, ":", `\:`)
	return r.Replace(s)
}

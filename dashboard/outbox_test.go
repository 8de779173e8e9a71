package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/browsertest"
	"github.com/nurture-dev/nurture/store"
)

var (
	articleRE = regexp.MustCompile(`<article class="outbox-msg" data-key="([^"]*)" data-channel="([^"]*)">`)
	// demoCardRE is how demo's TestDemo reads a message off the page.
	demoCardRE = regexp.MustCompile(`<div class="card"><strong>(email|sms)</strong> to (\S+) (\d{4}-\d\d-\d\d \d\d:\d\d) UTC`)
	countRE    = regexp.MustCompile(`(?s)<p id="outbox-count" role="status">(.*?)</p>`)
)

// outboxPage loads /outbox with a query and returns the page, its message
// keys in order and its count sentence.
func (f *pvFixture) outboxPage(query string) (page string, keys []string, count string) {
	f.t.Helper()
	resp, page := f.get("/outbox" + query)
	if resp.StatusCode != 200 {
		f.t.Fatalf("GET /outbox%s: %d\n%s", query, resp.StatusCode, page)
	}
	for _, m := range articleRE.FindAllStringSubmatch(page, -1) {
		keys = append(keys, html.UnescapeString(m[1]))
	}
	if m := countRE.FindStringSubmatch(page); m != nil {
		count = strings.Join(strings.Fields(html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], ""))), " ")
	}
	return page, keys, count
}

func TestOutboxPage(t *testing.T) {
	ctx := context.Background()
	f := newPVFixture(t, 100)
	f.enroll(&store.Prospect{ID: "ada", Email: "ada@example.com", Phone: "+13125550100", FirstName: "Ada", Company: "Analytical", TimeZone: "America/Chicago"})
	f.enroll(&store.Prospect{ID: "bob", Email: "bob@example.com", FirstName: "Bob", Company: "B", TimeZone: "America/Chicago"})
	adaOffer, err := f.e.Preview(ctx, "pv", "offer", "ada", "")
	if err != nil {
		t.Fatal(err)
	}
	f.dispatch() // both offers
	f.clk.Add(24 * time.Hour)
	f.dispatch() // ada's ping (bob has no phone)
	if _, err := f.e.SendTest(ctx, "pv", "offer", "bob", "a", "sam@acme.example", "sales:sam"); err != nil {
		t.Fatal(err)
	}
	kept := f.ob.Messages()
	if len(kept) != 4 {
		t.Fatalf("outbox holds %d", len(kept))
	}

	page, keys, count := f.outboxPage("")
	if count != "4 messages, newest first. The dev outbox keeps only the newest 100 messages, in memory." {
		t.Errorf("count %q", count)
	}
	if len(keys) != 4 || keys[0] != kept[3].Key || keys[3] != kept[0].Key {
		t.Fatalf("not newest first: %v", keys)
	}
	if cards := demoCardRE.FindAllStringSubmatch(page, -1); len(cards) != 4 || cards[0][2] != "sam@acme.example" || cards[1][1] != "sms" {
		t.Errorf("each message starts with its channel, recipient and time: %v", cards)
	}
	for _, want := range []string{
		`<span class="state warm">Test</span> [Test] Pricing for Bob</h2>`,
		`<div class="card"><strong>email</strong> to ada@example.com 2026-03-02 16:00 UTC`,
		`">` + adaOffer.Subject + `</h2>`,
		`<dt>From</dt><dd>Acme &lt;hello@acme.example&gt;</dd>`,
		`<dt>To</dt><dd>ada@example.com</dd>`,
		`<dt>Touch</dt><dd><a href="/cadences/pv">pv</a> · offer <span class="muted">(variant ` + adaOffer.Variant + `)</span></dd>`,
		`<a href="/prospects/ada">ada</a> · <a href="/cadences/pv/touches/offer/preview?prospect=ada">preview this touch</a>`,
		`<dt>Touch</dt><dd><a href="/cadences/pv">pv</a> · ping</dd>`,
		`<pre class="outbox-sms">Zoë says hi Ada, reply STOP to opt out</pre><p class="muted">1 segment · UCS-2</p>`,
		`<label for="f-cadence">Cadence <select id="f-cadence" name="cadence">`, `<label for="f-touch">Touch <input id="f-touch" name="touch"`,
		`<label for="f-prospect">Prospect <input id="f-prospect" name="prospect"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("outbox page lacks %s", want)
		}
	}
	if adaOffer.Text != "" && !strings.Contains(page, `" tabindex="0">`+html.EscapeString(f.e.Untrack(adaOffer.Text))) || !strings.Contains(page, `<pre class="outbox-text" role="region" aria-label="Text part of the message to ada@example.com at `) {
		t.Errorf("ada's text part is not shown untracked: %q", adaOffer.Text)
	}
	// The HTML parts: sandboxed frames whose documents are the sent HTML
	// without tracking.
	tags := iframeRE.FindAllString(page, -1)
	if adaOffer.HTML != "" && len(tags) == 0 {
		t.Fatal("no frame for an HTML part")
	}
	for _, tag := range tags {
		checkSandbox(t, tag)
		if !strings.Contains(tag, `loading="lazy"`) {
			t.Errorf("outbox frames load lazily: %s", tag)
		}
	}
	// ada's offer: its document is what was sent, untracked.
	adaKey := ""
	for _, m := range kept {
		if m.To == "ada@example.com" && m.Channel == "email" {
			adaKey = m.Key
		}
	}
	if adaOffer.HTML != "" {
		resp, doc := f.get("/outbox/document?key=" + url.QueryEscape(adaKey))
		if resp.StatusCode != 200 {
			t.Fatalf("document: %d %s", resp.StatusCode, doc)
		}
		checkDocumentHeaders(t, resp, true)
		if doc != f.e.Untrack(adaOffer.HTML) {
			t.Fatalf("outbox document\n%s\nwant the sent HTML untracked\n%s", doc, f.e.Untrack(adaOffer.HTML))
		}
	}
	if resp, doc := f.get("/outbox/document?key=gone"); resp.StatusCode != 404 || !strings.Contains(doc, "no longer holds this message (it keeps the newest 100)") {
		t.Errorf("unknown key: %d %s", resp.StatusCode, doc)
	} else {
		checkDocumentHeaders(t, resp, true)
	}

	// Filters.
	for _, tc := range []struct {
		query string
		n     int
		count string
	}{
		{"?prospect=ada", 2, "2 matching messages, newest first."},
		{"?prospect=ADA%40example.com", 1, "1 matching message, newest first."},
		{"?touch=ping", 1, "1 matching message, newest first."},
		{"?cadence=pv&touch=offer", 3, "3 matching messages, newest first."},
		{"?prospect=sam%40acme.example", 1, "1 matching message, newest first."},
		{"?cadence=other", 0, ""},
	} {
		page, keys, count := f.outboxPage(tc.query)
		if len(keys) != tc.n || !strings.HasPrefix(count, tc.count) {
			t.Errorf("%s: %d messages, count %q; want %d, %q", tc.query, len(keys), count, tc.n, tc.count)
		}
		if tc.n == 0 && !strings.Contains(page, `id="outbox-empty">No kept message matches.`) {
			t.Errorf("%s: no empty message", tc.query)
		}
		if tc.query == "?touch=ping" && (!strings.Contains(page, `name="touch" value="ping"`) || !strings.Contains(page, `<a class="button" href="/outbox">Clear</a>`)) {
			t.Errorf("the filter form does not keep its values")
		}
	}
}

// A full outbox says how much it keeps and that older messages are gone;
// the page lists the newest 200.
func TestOutboxCapped(t *testing.T) {
	f := newPVFixture(t, 250)
	for i := range 260 {
		if _, err := f.ob.SendSMS(context.Background(), &channels.SMS{Key: fmt.Sprintf("sms-%03d", i), To: "+13125550100", Body: "hello"}); err != nil {
			t.Fatal(err)
		}
		f.clk.Add(time.Minute)
	}
	oldest := f.ob.Messages()[0].At
	_, keys, count := f.outboxPage("")
	want := "Showing the newest 200 of 250 messages, newest first. The dev outbox keeps only the newest 250 messages, in memory, and is full: anything sent before " +
		oldest.UTC().Format("2006-01-02 15:04 UTC") + " is no longer here."
	if count != want {
		t.Errorf("count\n%q\nwant\n%q", count, want)
	}
	if len(keys) != 200 || keys[0] != "sms-259" || keys[199] != "sms-060" {
		t.Errorf("listed %d, from %v to %v", len(keys), keys[0], keys[len(keys)-1])
	}
	if _, keys, count := f.outboxPage("?prospect=nobody"); len(keys) != 0 || !strings.HasPrefix(count, "The dev outbox keeps") {
		t.Errorf("filtered out: %d, %q", len(keys), count)
	}
}

// In Chromium at 1400 and 390 px: the preview shows the subject and its
// sandboxed frame loads the rendered HTML (the document policy and
// X-Frame-Options let the dashboard frame it), the SMS preview shows the
// text, and the outbox shows the message sent, subject and frame; no page
// scrolls sideways and axe finds nothing serious. A failed step or check
// keeps a screenshot of the page (browsertest.ShotDir says where).
func TestPreviewAndOutboxInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	ctx := context.Background()
	f := newPVFixture(t, 100)
	f.enroll(&store.Prospect{ID: "ada", Email: "ada@example.com", Phone: "+13125550100", FirstName: "Ada", Company: "Analytical", TimeZone: "America/Chicago"})
	f.dispatch()
	f.clk.Add(24 * time.Hour)
	f.dispatch()
	if _, err := f.e.SendTest(ctx, "pv", "offer", "ada", "a", "sam@acme.example", "sales:sam"); err != nil {
		t.Fatal(err)
	}
	shots := browsertest.ShotDir(t)
	for _, width := range []int64{1400, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) { previewAndOutboxAt(t, f, bin, shots, width) })
	}
}

func previewAndOutboxAt(t *testing.T, f *pvFixture, bin, shots string, width int64) {
	// A browser per width: frames are found among the browser's targets,
	// and none must be left from the other width. Chromium may still be
	// writing its profile as it exits: remove it with a few retries
	// rather than through t.TempDir.
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
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(profile))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	// The tab has no deadline, each step has its own: a step that times
	// out leaves the tab alive for its screenshot.
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Log(msg)
		}
	}))
	defer bcancel()
	// The first Run starts the browser and the tab for as long as the
	// context it is given: bctx, not a step's.
	if err := chromedp.Run(bctx); err != nil {
		t.Fatal(err)
	}
	shot := func(name string) string {
		return browsertest.Screenshot(bctx, t, shots, fmt.Sprintf("TestPreviewAndOutboxInChromium-%d-%s", width, name))
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Run(ctx, actions...); err != nil {
			if path := shot("failed-" + strings.ReplaceAll(step, " ", "-")); path != "" {
				t.Logf("screenshot of the failure: %s", path)
			}
			t.Fatalf("%s at %d px: %v", step, width, err)
		}
	}
	// errorf fails the test and marks the page for a screenshot (done).
	var wrong bool
	errorf := func(format string, args ...any) {
		t.Helper()
		wrong = true
		t.Errorf(fmt.Sprintf("at %d px: ", width)+format, args...)
	}
	done := func(name string) {
		t.Helper()
		if wrong {
			if path := shot("failed-" + name); path != "" {
				t.Logf("screenshot of the failure: %s", path)
			}
		} else if browsertest.EveryPage() {
			shot(name)
		}
		wrong = false
	}
	u, _ := url.Parse(f.ts.URL)
	run("start", chromedp.EmulateViewport(width, 900), chromedp.ActionFunc(func(ctx context.Context) error {
		return network.SetCookie("nurture_session", f.sam).WithDomain(u.Hostname()).WithPath("/").WithHTTPOnly(true).Do(ctx)
	}))
	var frames []context.CancelFunc
	defer func() {
		for _, cancel := range frames {
			cancel()
		}
	}()
	// frameText waits for a frame holding a document from path and
	// returns its text. Chromium runs sandboxed frames in a process (a
	// target) of their own; a refused frame would be an error page.
	frameText := func(path string, text *string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			for {
				infos, err := chromedp.Targets(ctx)
				if err != nil {
					return err
				}
				var seen []string
				for _, in := range infos {
					seen = append(seen, in.Type+" "+in.URL)
					if in.Type == "iframe" && strings.HasPrefix(in.URL, "chrome-error:") {
						return fmt.Errorf("frame refused: %s", in.URL)
					}
					if in.Type != "iframe" || !strings.HasPrefix(in.URL, f.ts.URL+path) {
						continue
					}
					// Cancelling this context would close the frame's target:
					// that waits for the end of the test.
					fctx, cancel := chromedp.NewContext(bctx, chromedp.WithTargetID(in.TargetID))
					frames = append(frames, cancel)
					return chromedp.Run(fctx, chromedp.Evaluate(`document.readyState === 'complete' ? document.body.innerText : ''`, text))
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("no frame from %s (targets: %v): %w", path, seen, ctx.Err())
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
	}
	fits := func(what string) {
		t.Helper()
		var over int
		run("width of "+what, chromedp.Evaluate(`document.documentElement.scrollWidth - document.documentElement.clientWidth`, &over))
		if over > 0 {
			errorf("%s scrolls sideways by %d px", what, over)
		}
		var vs []browsertest.Violation
		run("axe on "+what, chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			vs, err = browsertest.Axe(ctx)
			return err
		}))
		for _, v := range vs {
			if v.Serious() {
				errorf("%s: %v", what, v)
			} else {
				t.Logf("%s at %d px: %v", what, width, v)
			}
		}
	}
	var text, subject string
	run("preview", chromedp.Navigate(f.ts.URL+"/cadences/pv/touches/offer/preview?prospect=ada&variant=a"), chromedp.WaitVisible("#preview-frame", chromedp.ByID),
		chromedp.Text("#preview-subject", &subject, chromedp.ByID), frameText("/cadences/pv/touches/offer/preview/document", &text))
	if !strings.Contains(text, "Hi Ada") || !strings.Contains(text, "Pricing") {
		errorf("the preview frame shows %q", text)
	}
	if subject != "Pricing for Ada" {
		errorf("the preview's subject is %q, want Pricing for Ada", subject)
	}
	fits("the preview")
	done("preview")
	run("sms preview", chromedp.Navigate(f.ts.URL+"/cadences/pv/touches/ping/preview?prospect=ada"), chromedp.WaitVisible("#preview-sms", chromedp.ByID),
		chromedp.Text("#preview-sms", &text, chromedp.ByID))
	if !strings.Contains(text, "Zoë says hi Ada") {
		errorf("the SMS preview shows %q", text)
	}
	fits("the SMS preview")
	done("sms-preview")
	// The newest message first: the test send of offer to sam.
	run("outbox", chromedp.Navigate(f.ts.URL+"/outbox"), chromedp.WaitVisible("#outbox-filter", chromedp.ByID),
		chromedp.Click("details.outbox-html summary", chromedp.ByQuery), frameText("/outbox/document", &text),
		chromedp.Evaluate(`document.querySelector('details.outbox-html').closest('article').querySelector('h2').innerText`, &subject))
	if !strings.Contains(text, "Hi Ada") {
		errorf("the outbox frame shows %q", text)
	}
	if !strings.Contains(subject, "Pricing for Ada") {
		errorf("the outbox message with the frame is headed %q, want its subject Pricing for Ada", subject)
	}
	fits("the outbox")
	done("outbox")
}

package dashboard_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// previewCadence has an email touch with two variants (a tracked link, a
// field without fallback in b) and an SMS.
const previewCadence = `id: pv
name: Preview trial
timezone: UTC
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - id: offer
        channel: email
        variants:
          - {id: a, template: offer-a, weight: 1}
          - {id: b, template: offer-b, weight: 1}
      - {id: ping, channel: sms, delay: 1d, template: ping}
templates:
  offer-a:
    subject: "Pricing for {{ .FirstName | default \"you\" }}"
    text: "See our pricing"
    html: "<html><body><p>Hi {{ .FirstName | default \"there\" }}</p><a href=\"https://acme.example/pricing?x=1&y=2\">Pricing</a></body></html>"
  offer-b:
    subject: "Pricing for {{ .Company }}"
    text: "B"
  ping: {sms: "Zoë says hi {{ .FirstName | default \"there\" }}, reply STOP to opt out"}
`

// pvFixture is a dashboard with a dev outbox over a real Redis.
type pvFixture struct {
	t      *testing.T
	cid    string
	e      *worker.Engine
	ob     *channels.Outbox
	clk    *enginetest.Clock
	ts     *httptest.Server
	sam    string
	csrf   string
	secure bool
}

func newPVFixture(t *testing.T, keep int) *pvFixture {
	t.Helper()
	return newCadenceFixture(t, keep, previewCadence)
}

// newCadenceFixture is a pvFixture over another cadence.
func newCadenceFixture(t *testing.T, keep int, src string) *pvFixture {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("c.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", keep, clk.Now)
	signer, _ := tokens.NewSigner(tokenKey)
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", MessageIDDomain: "n.example", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(e)
	cfg.Outbox = ob
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(d)
	t.Cleanup(ts.Close)
	f := &pvFixture{t: t, cid: c.ID, e: e, ob: ob, clk: clk, ts: ts}
	f.sam = login(t, ts.URL, salesSecret)
	_, page := loggedIn(t, ts.URL, f.sam)
	f.csrf = csrfOf(t, page)
	return f
}

func (f *pvFixture) enroll(p *store.Prospect) string {
	f.t.Helper()
	en, err := f.e.Enroll(context.Background(), p, f.cid)
	if err != nil {
		f.t.Fatal(err)
	}
	return en.ID
}

func (f *pvFixture) dispatch() {
	f.t.Helper()
	if _, err := f.e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: f.e}); err != nil {
		f.t.Fatal(err)
	}
}

// get loads a path as sam with extra cookies.
func (f *pvFixture) get(path string, cookies ...*http.Cookie) (*http.Response, string) {
	f.t.Helper()
	r, err := http.NewRequest("GET", f.ts.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	r.AddCookie(&http.Cookie{Name: "nurture_session", Value: f.sam})
	for _, c := range cookies {
		r.AddCookie(c)
	}
	resp, err := client.Do(r)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var (
	iframeRE  = regexp.MustCompile(`<iframe[^>]*>`)
	iframeSrc = regexp.MustCompile(`\ssrc="([^"]+)"`)
)

// frameOf returns the page's one iframe tag and its document path.
func frameOf(t *testing.T, page string) (tag, src string) {
	t.Helper()
	tags := iframeRE.FindAllString(page, -1)
	if len(tags) != 1 {
		t.Fatalf("want one iframe, found %d:\n%s", len(tags), page)
	}
	m := iframeSrc.FindStringSubmatch(tags[0])
	if m == nil {
		t.Fatalf("iframe without src: %s", tags[0])
	}
	return tags[0], html.UnescapeString(m[1])
}

// checkSandbox fails unless tag is sandboxed with no permission at all.
func checkSandbox(t *testing.T, tag string) {
	t.Helper()
	if !regexp.MustCompile(`<iframe\s(?:[^>]*\s)?sandbox[\s>]`).MatchString(tag) || strings.Contains(tag, "allow-") || strings.Contains(tag, `sandbox="`) {
		t.Errorf("the frame must carry a bare sandbox attribute (no allow-scripts, no allow-same-origin): %s", tag)
	}
}

// checkDocumentHeaders fails unless a message document has its own strict
// policy and may be framed by the dashboard only.
func checkDocumentHeaders(t *testing.T, resp *http.Response, images bool) {
	t.Helper()
	img := "img-src data: https:"
	if !images {
		img = "img-src data:;"
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'; ") || !strings.Contains(csp, img) || !strings.Contains(csp, "style-src 'unsafe-inline'") ||
		!strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "script-src") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("document CSP %q", csp)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
		t.Errorf("document X-Frame-Options %q, want SAMEORIGIN", got)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("document headers: %v", resp.Header)
	}
}

func TestPreviewPage(t *testing.T) {
	ctx := context.Background()
	f := newPVFixture(t, 100)
	eid := f.enroll(&store.Prospect{ID: "ada", Email: "ada@example.com", Phone: "+13125550100", FirstName: "Ada", Company: "Analytical", TimeZone: "America/Chicago", Owner: "sam"})
	f.enroll(&store.Prospect{ID: "bob", Email: "bob@example.com", FirstName: "Bob", TimeZone: "America/Chicago", Owner: "sam"})
	chosen := f.e.Cadences()["pv"].Touch("offer").ChooseVariant(eid)
	resp, page := f.get("/cadences/pv/touches/offer/preview?prospect=ada%40example.com&variant=a")
	if resp.StatusCode != 200 {
		t.Fatalf("preview: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src 'self'") || !strings.HasPrefix(csp, "default-src 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("the page itself: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	for _, want := range []string{`id="preview-subject">Pricing for Ada<`, `Would be sent now.<`, `<label for="pick-prospect">Prospect <input`, `<pre id="preview-text">See our pricing`,
		`<option selected>a</option>`, `name="csrf" value="` + f.csrf + `"`, `action="/cadences/pv/touches/offer/test"`, `type="email" autocomplete="email"`,
		`<option value="offer" selected>`, `href="/prospects/ada"`} {
		if !strings.Contains(page, want) {
			t.Errorf("preview page lacks %q", want)
		}
	}
	tag, src := frameOf(t, page)
	checkSandbox(t, tag)
	if !strings.Contains(tag, `title="HTML part of`) {
		t.Errorf("the frame has no title: %s", tag)
	}

	// The frame's document: the preview's HTML without tracking, under
	// its own policy.
	resp, doc := f.get(src)
	if resp.StatusCode != 200 {
		t.Fatalf("document %s: %d %s", src, resp.StatusCode, doc)
	}
	checkDocumentHeaders(t, resp, true)
	pv, err := f.e.Preview(ctx, "pv", "offer", "ada", "a")
	if err != nil {
		t.Fatal(err)
	}
	if doc != f.e.Untrack(pv.HTML) || !strings.Contains(pv.HTML, "https://n.example/o/") {
		t.Fatalf("document:\n%s\nwant the untracked preview of\n%s", doc, pv.HTML)
	}
	// Nothing on the page or in the frame can act for the prospect: no
	// live unsubscribe token, no tracking link.
	for _, tok := range regexp.MustCompile(`https://n\.example/[ocu]/[A-Za-z0-9_-]+`).FindAllString(pv.Text+pv.HTML+pv.Headers["List-Unsubscribe"], -1) {
		if tok != "https://n.example/u/test-message" && (strings.Contains(page, tok) || strings.Contains(doc, tok)) {
			t.Errorf("the preview shows the live link %s", tok)
		}
	}
	if !strings.Contains(page, `id="untracked-note">Shown without tracking`) {
		t.Errorf("the page does not say the view is untracked")
	}
	if strings.Contains(doc, "/o/") || strings.Contains(doc, "/c/") || !strings.Contains(doc, `href="https://acme.example/pricing?x=1&amp;y=2"`) ||
		!strings.Contains(doc, "https://n.example/u/test-message") {
		t.Errorf("the document should be untracked: %s", doc)
	}
	// Images off: the toggle, and a document policy without https images.
	_, page = f.get("/cadences/pv/touches/offer/preview?prospect=ada&variant=a&images=off")
	_, src = frameOf(t, page)
	if !strings.Contains(page, `id="toggle-images">Images on<`) || !strings.Contains(src, "images=off") {
		t.Errorf("images off: %s", src)
	}
	resp, _ = f.get(src)
	checkDocumentHeaders(t, resp, false)
	// Previewing sent and changed nothing.
	if n := len(f.ob.Messages()); n != 0 {
		t.Fatalf("previews sent %d messages", n)
	}
	if l, _ := f.e.Store().Enrollment(ctx, eid); l.Rev != 1 || l.Enrollment.Step != 0 {
		t.Errorf("enrollment after previews: rev %d %+v", l.Rev, l.Enrollment)
	}
	// The variant the send path picks, when none is asked for.
	if _, page = f.get("/cadences/pv/touches/offer/preview?prospect=ada"); !strings.Contains(page, "<dd>"+chosen.ID+" <span class=\"muted\">(template "+chosen.Template+", the one the send path picks") {
		t.Errorf("default variant %s not shown", chosen.ID)
	}

	// Held: variant b needs a company; the reason, and no test form.
	_, page = f.get("/cadences/pv/touches/offer/preview?prospect=bob&variant=b")
	if !strings.Contains(page, "Would be held, not sent: template offer-b subject: field Company is empty") || strings.Contains(page, `id="send-test"`) || strings.Contains(page, "<iframe") {
		t.Errorf("held preview:\n%s", page)
	}
	// The SMS, with its segments.
	_, page = f.get("/cadences/pv/touches/ping/preview?prospect=ada")
	if !strings.Contains(page, `<pre id="preview-sms">Zoë says hi Ada, reply STOP to opt out</pre>`) || !strings.Contains(page, `1 segment · UCS-2 · 38 characters`) ||
		!strings.Contains(page, `type="tel" autocomplete="tel"`) || !strings.Contains(page, `id="preview-note">The enrollment&#39;s next touch is offer, not this one.</p>`) ||
		!strings.Contains(page, "Would be sent if it were due now: every send-time check passes.") {
		t.Errorf("sms preview:\n%s", page)
	}
	// Unknown prospect: 404 that says so.
	resp, page = f.get("/cadences/pv/touches/offer/preview?prospect=zed")
	if resp.StatusCode != 404 || !strings.Contains(page, `id="preview-problem"><p>No prospect has the id, email address or phone number &#34;zed&#34;.</p>`) {
		t.Errorf("unknown prospect: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := f.get("/cadences/pv/touches/nope/preview?prospect=ada"); resp.StatusCode != 404 {
		t.Errorf("unknown touch: %d", resp.StatusCode)
	}
	if resp, body := f.get("/cadences/pv/touches/offer/preview/document?prospect=zed"); resp.StatusCode != 404 || !strings.Contains(body, "No prospect") {
		t.Errorf("document of an unknown prospect: %d %s", resp.StatusCode, body)
	} else {
		checkDocumentHeaders(t, resp, true)
	}
	// Without a session: to the login page, even for the document.
	r, _ := http.NewRequest("GET", f.ts.URL+src, nil)
	if resp, err := client.Do(r); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("document without a session: %v %v", resp.StatusCode, err)
	}
}

// The touch chooser and the prospect page's Preview link go to the
// enrollment's next touch.
func TestPreviewPick(t *testing.T) {
	f := newPVFixture(t, 100)
	f.enroll(&store.Prospect{ID: "ada", Email: "ada@example.com", Phone: "+13125550100", FirstName: "Ada", Company: "Analytical", TimeZone: "America/Chicago", Owner: "sam"})
	_, page := f.get("/prospects/ada")
	if !strings.Contains(page, `<a href="/cadences/pv/preview?prospect=ada" aria-label="Preview the next touch of Preview trial">Preview</a>`) {
		t.Fatalf("prospect page has no Preview link:\n%s", page)
	}
	for _, tc := range []struct{ path, want string }{
		{"/cadences/pv/preview?prospect=ada", "/cadences/pv/touches/offer/preview?prospect=ada"},
		{"/cadences/pv/preview?prospect=ada&touch=ping&variant=a", "/cadences/pv/touches/ping/preview?prospect=ada"},
		{"/cadences/pv/preview?prospect=ada&touch=offer&variant=b", "/cadences/pv/touches/offer/preview?prospect=ada&variant=b"},
		{"/cadences/pv/preview?prospect=nobody", "/cadences/pv/touches/offer/preview?prospect=nobody"},
	} {
		resp, _ := f.get(tc.path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
			t.Errorf("%s: %d %s, want %s", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
	}
	f.dispatch() // offer goes out; ping is next
	if resp, _ := f.get("/cadences/pv/preview?prospect=ada"); resp.Header.Get("Location") != "/cadences/pv/touches/ping/preview?prospect=ada" {
		t.Errorf("after the offer: %s", resp.Header.Get("Location"))
	}
	if _, page := f.get("/cadences/pv/touches/ping/preview?prospect=ada"); !strings.Contains(page, `Due later; every send-time check passes now. It goes <time datetime="2026-03-03T16:00:00Z"`) ||
		!strings.Contains(page, `(America/Chicago) if nothing changes.`) {
		t.Errorf("the next touch, due tomorrow:\n%s", page)
	}
	if resp, _ := f.get("/cadences/nope/preview?prospect=ada"); resp.StatusCode != 404 {
		t.Errorf("unknown cadence: %d", resp.StatusCode)
	}
}

func TestSendTestFromThePreview(t *testing.T) {
	f := newPVFixture(t, 100)
	f.enroll(&store.Prospect{ID: "ada", Email: "ada@example.com", FirstName: "Ada", Company: "Analytical", TimeZone: "America/Chicago", Owner: "sam"})
	back := "/cadences/pv/touches/offer/preview?prospect=ada&variant=a"
	post := func(csrf string, form url.Values) (*http.Response, string) {
		form.Set("csrf", csrf)
		return do(t, req{method: "POST", url: f.ts.URL + "/cadences/pv/touches/offer/test", cookie: f.sam, form: form})
	}
	resp, body := post(f.csrf, url.Values{"prospect": {"ada"}, "variant": {"a"}, "to": {"Sam@Acme.example"}, "back": {back}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send a test: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, back+"&flash=") {
		t.Fatalf("back to %s", loc)
	}
	var remembered *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "nurture_test_to_email" {
			remembered = c
		}
	}
	if remembered == nil || !remembered.HttpOnly || remembered.SameSite != http.SameSiteStrictMode {
		t.Fatalf("the address is not remembered: %v", resp.Cookies())
	}
	_, page := f.get(loc, remembered)
	m := flashRE.FindStringSubmatch(page)
	if m == nil || html.UnescapeString(m[1]) != "Sent a test of “[Test] Pricing for Ada” to sam@acme.example. You may send 9 more tests this hour." {
		t.Fatalf("flash %v", m)
	}
	if !strings.Contains(page, `name="to" type="email" autocomplete="email" value="sam@acme.example"`) {
		t.Errorf("the form does not offer the address again")
	}
	kept := f.ob.Messages()
	if len(kept) != 1 || kept[0].To != "sam@acme.example" || kept[0].Subject != "[Test] Pricing for Ada" {
		t.Fatalf("outbox: %+v", kept)
	}
	msg, err := mail.ReadMessage(strings.NewReader(kept[0].Body))
	if err != nil || msg.Header.Get("X-Nurture-Test") != "1" {
		t.Fatalf("test message headers: %v %v", err, msg.Header)
	}

	// Refusals come back as flashes; a bad CSRF token sends nothing.
	for _, tc := range []struct{ to, want string }{
		{"not an address", `Not sent: "not an address" is not an email address; this touch is an email, so the test goes to an address such as you@example.com.`},
		{"", "Not sent: give the email address or phone number to send the test to."},
	} {
		resp, _ := post(f.csrf, url.Values{"prospect": {"ada"}, "to": {tc.to}, "back": {back}})
		_, page := f.get(resp.Header.Get("Location"))
		if m := flashRE.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != tc.want {
			t.Errorf("to %q: flash %v, want %q", tc.to, m, tc.want)
		}
	}
	if resp, _ := post("wrong", url.Values{"prospect": {"ada"}, "to": {"sam@acme.example"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad CSRF: %d", resp.StatusCode)
	}
	for i := 0; i < worker.TestSendLimit-1; i++ {
		post(f.csrf, url.Values{"prospect": {"ada"}, "to": {"sam@acme.example"}})
	}
	resp, _ = post(f.csrf, url.Values{"prospect": {"ada"}, "to": {"sam@acme.example"}, "back": {back}})
	_, page = f.get(resp.Header.Get("Location"))
	if m := flashRE.FindStringSubmatch(page); m == nil || !strings.HasPrefix(html.UnescapeString(m[1]), "Not sent: test send limit reached: 10 per hour per person; the next one is possible in ") {
		t.Errorf("over the limit: %v", m)
	}
	if n := len(f.ob.Messages()); n != worker.TestSendLimit {
		t.Errorf("outbox holds %d", n)
	}
}

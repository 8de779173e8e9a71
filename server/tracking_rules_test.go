package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
	"github.com/nurture-dev/nurture/worker"
)

// newHarnessWith is newHarness with chosen cadences and, when sms is not
// nil, an SMS sender of the test's own (email still goes to the outbox).
func newHarnessWith(t testing.TB, sms channels.SMSSender, yamls ...string) *harness {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	cads := map[string]*cadence.Cadence{}
	for _, y := range yamls {
		c, err := cadence.Parse("c.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		cads[c.ID] = c
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", 1000, clk.Now)
	if sms == nil {
		sms = ob
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	st := store.New(rdb, prefix)
	h := &harness{t: t, st: st, clk: clk, outbox: ob, signer: signer}
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	h.url = ts.URL
	e, err := worker.New(worker.Config{Store: st, Cadences: cads, Email: ob, SMS: sms, Tokens: signer, Clock: clk.Now, PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	srv, err := server.New(server.Config{Engine: e, PublicURL: ts.URL, TwilioAuthToken: twilioToken, Brand: "Acme", HelpContact: "help@acme.example",
		Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}, {Name: "sam", Role: server.RoleSales, Secret: salesToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	h.srv = srv
	return h
}

// engagementCadence is an email cadence whose first stage advances on a
// human open or on a click (trigger), to a stage that waits 30 days.
func engagementCadence(id, trigger string) string {
	return `id: ` + id + `
name: ` + id + `
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: first
    touches:
      - {id: hello, channel: email, template: mail}
      - {id: later, channel: email, delay: 20d, template: mail}
    advance:
      - {on: ` + trigger + `, to: engaged}
  - id: engaged
    touches:
      - {id: follow, channel: email, delay: 30d, template: mail}
templates:
  mail:
    subject: "Hi"
    text: "Hello"
    html: "<html><body><p>Hello</p><a href=\"https://acme.example/pricing?x=1&y=2\">Pricing</a> <a href=\"{{ .UnsubscribeURL }}\">Unsubscribe</a></body></html>"
`
}

var (
	rulesPixelRe = regexp.MustCompile(`/o/([A-Za-z0-9_.=~\-]+)`)
	rulesClickRe = regexp.MustCompile(`/c/([A-Za-z0-9_.=~\-]+)`)
	rulesUnsubRe = regexp.MustCompile(`href="([^"]*/u/[^"]+)"`)
	rulesAngleRe = regexp.MustCompile(`<([^>]+)>`)
)

// emailTo returns the decoded MIME source of the outbox email to addr.
func (h *harness) emailTo(addr string) string {
	h.t.Helper()
	for _, m := range h.outbox.Messages() {
		if m.Channel == "email" && m.To == addr {
			return decodeQP(m.Body)
		}
	}
	h.t.Fatalf("no email to %s in the outbox", addr)
	return ""
}

// hit requests path with a User-Agent (none at all when ua is empty),
// without following redirects.
func (h *harness) hit(method, path, ua string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, nil)
	req.Header.Set("User-Agent", ua) // an empty value sends no User-Agent
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const chromeUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

// TestMachineOpenAndScannerClickRules drives the open pixel and the click
// redirect as mail clients and scanners do, at set times after the send:
// an open 4.9 s after sending, or by Apple's proxy (User-Agent exactly
// Mozilla/5.0), is a machine open; 5.1 s later from a browser it is a
// person. A click 1.9 s after sending, by HEAD, by a bot or security
// scanner User-Agent or with no User-Agent is a scanner click; 2.1 s
// later from a browser it is a person (COMPLIANCE.md 17-18). Machine opens
// and scanner clicks are counted apart (machine_opened, scanner_clicked)
// and never advance a prospect; a person's open or click does. Every click
// still redirects to its destination.
func TestMachineOpenAndScannerClickRules(t *testing.T) {
	ctx := context.Background()
	h := newHarnessWith(t, nil, engagementCadence("opens", "human_open"), engagementCadence("clicks", "click"))
	type probe struct {
		id, cadence string
		at          time.Duration // after the send
		method, ua  string
		human       bool
	}
	const dest = "https://acme.example/pricing?x=1&y=2"
	probes := []probe{
		{"click-1.9s", "clicks", 1900 * time.Millisecond, "GET", chromeUA, false},
		{"click-2.1s", "clicks", 2100 * time.Millisecond, "GET", chromeUA, true},
		{"open-4.9s", "opens", 4900 * time.Millisecond, "GET", chromeUA, false},
		{"open-5.1s", "opens", 5100 * time.Millisecond, "GET", chromeUA, true},
		{"open-apple-proxy", "opens", time.Hour, "GET", "Mozilla/5.0", false},
		{"click-head", "clicks", time.Hour, "HEAD", chromeUA, false},
		{"click-barracuda", "clicks", time.Hour, "GET", "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))", false},
		{"click-safelinks", "clicks", time.Hour, "GET", "Mozilla/5.0 (Windows NT 10.0) Microsoft SafeLinks", false},
		{"click-python", "clicks", time.Hour, "GET", "python-requests/2.31.0", false},
		{"click-no-ua", "clicks", time.Hour, "GET", "", false},
		{"click-1h", "clicks", time.Hour, "GET", chromeUA, true},
	}
	for _, p := range probes {
		if _, err := h.e.Enroll(ctx, &store.Prospect{ID: p.id, Email: p.id + "@example.com"}, p.cadence); err != nil {
			t.Fatal(err)
		}
	}
	sentAt := h.clk.Now()
	h.send()
	for _, p := range probes {
		h.clk.Add(sentAt.Add(p.at).Sub(h.clk.Now()))
		body := h.emailTo(p.id + "@example.com")
		if p.cadence == "opens" {
			m := rulesPixelRe.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("%s: no open pixel", p.id)
			}
			if resp := h.hit(p.method, "/o/"+m[1], p.ua); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" {
				t.Errorf("%s: pixel answered %d %s", p.id, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		} else {
			m := rulesClickRe.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("%s: no tracked link", p.id)
			}
			if resp := h.hit(p.method, "/c/"+m[1], p.ua); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != dest {
				t.Errorf("%s: click answered %d Location %q, want 302 to %s", p.id, resp.StatusCode, resp.Header.Get("Location"), dest)
			}
		}
	}
	want := map[string]int64{}
	for _, p := range probes {
		key := map[[2]bool]string{{true, true}: "opened", {true, false}: "machine_opened", {false, true}: "clicked", {false, false}: "scanner_clicked"}[[2]bool{p.cadence == "opens", p.human}]
		want[p.cadence+" t:hello:"+key]++
		eid := p.id + "~" + p.cadence
		e := h.enrollment(eid)
		tl, err := h.e.Timeline(ctx, eid)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, en := range tl {
			lines = append(lines, en.Text())
		}
		if p.human && e.Stage != "engaged" {
			t.Errorf("%s (%s %s after the send, %q): a person's engagement left the prospect in %s\n%s", p.id, p.method, p.at, p.ua, e.Stage, strings.Join(lines, "\n"))
		}
		if !p.human && e.Stage != "first" {
			t.Errorf("%s (%s %s after the send, %q): a machine advanced the prospect to %s\n%s", p.id, p.method, p.at, p.ua, e.Stage, strings.Join(lines, "\n"))
		}
		if !p.human && e.StageEngaged {
			t.Errorf("%s: a machine counted as engagement", p.id)
		}
	}
	for _, cid := range []string{"opens", "clicks"} {
		stats, err := h.e.Stats(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"opened", "machine_opened", "clicked", "scanner_clicked"} {
			if got, w := stats["t:hello:"+k], want[cid+" t:hello:"+k]; got != w {
				t.Errorf("%s t:hello:%s = %d, want %d (stats %v)", cid, k, got, w, stats)
			}
		}
	}
}

// TestUnsubscribeLinkServedNotTracked follows the links of a sent email
// through the server: the List-Unsubscribe URL and the body's unsubscribe
// link are the same /u/ URL, which serves the one-click page (and records
// no click), and no /c/ link redirects to an unsubscribe URL.
func TestUnsubscribeLinkServedNotTracked(t *testing.T) {
	ctx := context.Background()
	h := newHarnessWith(t, nil, engagementCadence("clicks", "click"))
	if _, err := h.e.Enroll(ctx, &store.Prospect{ID: "ada", Email: "ada@example.com"}, "clicks"); err != nil {
		t.Fatal(err)
	}
	h.send()
	raw := h.outbox.Messages()[0].Body
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	lu := rulesAngleRe.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if lu == nil || !strings.HasPrefix(lu[1], h.url+"/u/") {
		t.Fatalf("List-Unsubscribe %q, want a %s/u/ URL", msg.Header.Get("List-Unsubscribe"), h.url)
	}
	body := decodeQP(raw)
	links := rulesUnsubRe.FindAllStringSubmatch(body, -1)
	if len(links) == 0 {
		t.Fatalf("no /u/ link in the body:\n%s", body)
	}
	for _, l := range links {
		if l[1] != lu[1] {
			t.Errorf("body unsubscribe link %s differs from List-Unsubscribe %s", l[1], lu[1])
		}
	}
	h.clk.Add(time.Hour)
	if resp := h.hit("GET", strings.TrimPrefix(lu[1], h.url), chromeUA); resp.StatusCode != 200 {
		t.Errorf("GET %s: %d", lu[1], resp.StatusCode)
	}
	clicks := rulesClickRe.FindAllStringSubmatch(body, -1)
	if len(clicks) != 1 {
		t.Errorf("%d tracked links, want 1 (pricing)", len(clicks))
	}
	for _, c := range clicks {
		resp := h.hit("HEAD", "/c/"+c[1], chromeUA)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || strings.Contains(loc, "/u/") {
			t.Errorf("/c/ link answered %d to %q", resp.StatusCode, loc)
		}
		if ref, err := tracking.Decode(h.signer, tracking.KindClick, c[1]); err != nil || strings.Contains(ref.URL, "/u/") {
			t.Errorf("click token names %q (%v)", ref.URL, err)
		}
	}
	if p := h.prospect("ada"); p.EmailBlocked != "" {
		t.Fatalf("following links unsubscribed: %q", p.EmailBlocked)
	}
}

// smsSink is an SMS sender that keeps each message exactly as the engine
// handed it over, and answers with a Twilio-like message SID.
type smsSink struct {
	mu   sync.Mutex
	sent []channels.SMS
}

func (s *smsSink) SendSMS(_ context.Context, m *channels.SMS) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, *m)
	return fmt.Sprintf("SM%032d", len(s.sent)), nil
}

func (s *smsSink) Sent() []channels.SMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]channels.SMS(nil), s.sent...)
}

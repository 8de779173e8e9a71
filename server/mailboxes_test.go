package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// mailboxServer is an engine with sender mailboxes behind the HTTP API.
type mailboxServer struct {
	e   *worker.Engine
	st  *store.Store
	clk *enginetest.Clock
	ob  *channels.Outbox
	url string
}

func newMailboxServer(t *testing.T, cadenceSrc, mailboxes string) *mailboxServer {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("trial.yaml", []byte(cadenceSrc))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := senders.Parse("mailboxes.yaml", []byte(mailboxes), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", 100, clk.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	st := store.New(rdb, prefix)
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer,
		Clock: clk.Now, PublicURL: "https://n.example", Senders: cfg})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Engine: e, PublicURL: "https://n.example",
		Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}, {Name: "sam", Role: server.RoleSales, Secret: salesToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &mailboxServer{e: e, st: st, clk: clk, ob: ob, url: ts.URL}
}

func (m *mailboxServer) call(t *testing.T, method, path, token, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, m.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMailboxesAPI: GET /v1/mailboxes shows today's sends against today's
// warm-up limit and the brakes; only an admin lifts a brake.
func TestMailboxesAPI(t *testing.T) {
	m := newMailboxServer(t, testCadence, `mailboxes:
  sam:
    address: sam@acme.example
    name: Sam Rivera
    owners: [sam]
    limits: {per_hour: 40, per_day: 100}
    warmup: {start: 20, growth: 10%, since: 2026-03-01}
`)
	st, clk := m.st, m.clk
	call := func(method, path, token string) (int, map[string]any) {
		t.Helper()
		code, b := m.call(t, method, path, token, "", "")
		var out map[string]any
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		return code, out
	}
	ctx := context.Background()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// 7 sends today through the limiter, as the worker takes them.
	if _, err := st.AcquireSends(ctx, []store.LimitAsk{{Group: "mb:sam", PerHour: 40, DayCap: 22, Day: day, DayEnd: day.Add(24 * time.Hour), CountDay: true, Cadence: "trial", Want: 7}}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	code, out := call("GET", "/v1/mailboxes", salesToken)
	mbs, _ := out["mailboxes"].([]any)
	if code != 200 || out["configured"] != true || len(mbs) != 1 {
		t.Fatalf("GET /v1/mailboxes: %d %v", code, out)
	}
	mb := mbs[0].(map[string]any)
	// Day 2 of a warm-up from 20 at +10 %: 22.
	if mb["id"] != "sam" || mb["sent_today"] != 7.0 || mb["limit_today"] != 22.0 || mb["sending"] != true || mb["slow_down_factor"] != 1.0 || mb["from"] != "Sam Rivera <sam@acme.example>" {
		t.Fatalf("mailbox: %v", mb)
	}
	// A brake: 11 bounces in a window of 200.
	rule := store.BrakeRule{Window: 200, BounceRate: 0.05, ComplaintRate: 0.003}
	for i := 0; i < 11; i++ {
		if _, err := st.RecordOutcome(ctx, "mb:sam", store.OutcomeBounced, rule, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	_, out = call("GET", "/v1/mailboxes", salesToken)
	bs, _ := out["brakes"].([]any)
	if len(bs) != 1 || bs[0].(map[string]any)["kind"] != "mailbox" || !strings.HasPrefix(bs[0].(map[string]any)["reason"].(string), "hard bounces: 11 with 0 sent so far (5.5% of a 200-send window)") {
		t.Fatalf("brakes: %v", out["brakes"])
	}
	if m := out["mailboxes"].([]any)[0].(map[string]any); m["sending"] != false {
		t.Fatalf("braked mailbox still sending: %v", m)
	}
	if code, _ := call("POST", "/v1/mailboxes/sam/resume", salesToken); code != http.StatusForbidden {
		t.Fatalf("sales resume: %d", code)
	}
	if code, out := call("POST", "/v1/mailboxes/nobody/resume", adminToken); code != http.StatusNotFound {
		t.Fatalf("unknown mailbox: %d %v", code, out)
	}
	if code, out := call("POST", "/v1/mailboxes/sam/resume", adminToken); code != 200 || out["resumed"] != "mailbox sam" {
		t.Fatalf("admin resume: %d %v", code, out)
	}
	if code, out := call("POST", "/v1/mailboxes/sam/resume", adminToken); code != http.StatusConflict || errCode(out) != "no_brake" {
		t.Fatalf("resume without a brake: %d %v", code, out)
	}
	if code, out := call("POST", "/v1/cadences/trial/resume-sending", adminToken); code != http.StatusConflict {
		t.Fatalf("cadence without a brake: %d %v", code, out)
	}
}

// TestReplyToOwnerMailboxWarmsTheRepsLead: with from: {mailbox: owner}
// the email goes from the rep's mailbox without a Reply-To; the
// prospect's reply, delivered to the inbound webhook as the rep's mailbox
// forwards it, is matched by its In-Reply-To and turns the lead warm in
// that rep's list.
func TestReplyToOwnerMailboxWarmsTheRepsLead(t *testing.T) {
	src := strings.Replace(testCadence, `from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}`,
		`from: {mailbox: owner, sms: "+15005550006"}`, 1)
	if src == testCadence {
		t.Fatal("test cadence's from line changed; update the replacement")
	}
	m := newMailboxServer(t, src, "mailboxes:\n  sam: {address: sam@acme.example, name: Sam Rivera, owners: [sam]}\n  kim: {address: kim@acme.example, owners: [kim]}\n")
	ctx := context.Background()
	en, err := m.e.Enroll(ctx, &store.Prospect{ID: "ada", Email: "ada@example.com", FirstName: "Ada", Owner: "sam", TimeZone: "UTC"}, "trial")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.e.DispatchOnce(ctx, enginetest.SyncQueue{E: m.e}); err != nil {
		t.Fatal(err)
	}
	msgs := m.ob.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sent %d", len(msgs))
	}
	parsed, err := mail.ReadMessage(strings.NewReader(msgs[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := mail.ParseAddress(parsed.Header.Get("From"))
	if from == nil || from.Address != "sam@acme.example" || from.Name != "Sam Rivera" || parsed.Header.Get("Reply-To") != "" {
		t.Fatalf("From %q Reply-To %q", parsed.Header.Get("From"), parsed.Header.Get("Reply-To"))
	}
	reply := "From: Ada <ada@example.com>\r\nTo: Sam Rivera <sam@acme.example>\r\nSubject: Re: Hi Ada\r\nMessage-ID: <r1@mail.example>\r\nIn-Reply-To: " +
		parsed.Header.Get("Message-ID") + "\r\n\r\nYes, call me Tuesday.\r\n"
	if code, text := m.call(t, "POST", "/webhooks/email", adminToken, "message/rfc822", reply); code != 200 || !strings.Contains(text, `"matched": true`) {
		t.Fatalf("reply: %d %s", code, text)
	}
	leads, err := m.e.WarmLeads(ctx, "sam", 10)
	if err != nil || len(leads) != 1 || leads[0].Enrollment.ID != en.ID || !strings.Contains(leads[0].Reply, "Yes, call me Tuesday.") {
		t.Fatalf("sam's warm leads: %+v %v", leads, err)
	}
	if leads, _ := m.e.WarmLeads(ctx, "kim", 10); len(leads) != 0 {
		t.Fatalf("kim's: %+v", leads)
	}
}

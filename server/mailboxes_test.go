package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

// TestMailboxesAPI: GET /v1/mailboxes shows today's sends against today's
// warm-up limit and the brakes; only an admin lifts a brake.
func TestMailboxesAPI(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("trial.yaml", []byte(testCadence))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := senders.Parse("mailboxes.yaml", []byte(`mailboxes:
  sam:
    address: sam@acme.example
    name: Sam Rivera
    owners: [sam]
    limits: {per_hour: 40, per_day: 100}
    warmup: {start: 20, growth: 10%, since: 2026-03-01}
`), nil)
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
	call := func(method, path, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return resp.StatusCode, out
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
	m := mbs[0].(map[string]any)
	// Day 2 of a warm-up from 20 at +10 %: 22.
	if m["id"] != "sam" || m["sent_today"] != 7.0 || m["limit_today"] != 22.0 || m["sending"] != true || m["slow_down_factor"] != 1.0 || m["from"] != "Sam Rivera <sam@acme.example>" {
		t.Fatalf("mailbox: %v", m)
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

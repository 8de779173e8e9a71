package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// TestOptOutsDuringARedisOutageAreSpooledAndApplied: with Redis down a
// one-click unsubscribe and an SMS STOP are acknowledged (200), kept on
// disk, and applied with their original time once Redis is back.
func TestOptOutsDuringARedisOutageAreSpooledAndApplied(t *testing.T) {
	rs := redistest.StartServer(t, "--appendonly", "yes")
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: 1, ReadTimeout: 500 * time.Millisecond})
	defer rdb.Close()
	c, err := cadence.Parse("trial.yaml", []byte(testCadence))
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", 100, clk.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	st := store.New(rdb, "spool")
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	defer ts.Close()
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, Clock: clk.Now, PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sp, err := server.OpenSpool(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Engine: e, PublicURL: ts.URL, TwilioAuthToken: twilioToken, Spool: sp,
		Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ctx := context.Background()
	for _, p := range []*store.Prospect{{ID: "ada", Email: "ada@example.com", FirstName: "Ada"}, {ID: "bob", Email: "bob@example.com", Phone: "+14155550142", FirstName: "Bob"}} {
		if _, err := e.Enroll(ctx, p, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.DispatchOnce(ctx, enginetest.SyncQueue{E: e}); err != nil {
		t.Fatal(err)
	}
	var unsub string
	for _, m := range ob.Messages() {
		if msg, err := mail.ReadMessage(strings.NewReader(m.Body)); err == nil && msg.Header.Get("To") == "<ada@example.com>" {
			unsub = unsubRe.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))[1]
		}
	}
	if unsub == "" {
		t.Fatal("no email to ada with a List-Unsubscribe link")
	}

	// Redis goes away; the opt-outs arrive.
	restarted := make(chan struct{})
	go func() { rs.Restart(3 * time.Second); close(restarted) }()
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Ping(ctx).Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("redis did not go down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	optedAt := clk.Now()
	resp, err := http.Post(unsub, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("one-click unsubscribe during the outage: %s", resp.Status)
	}
	form := url.Values{"From": {"+14155550142"}, "Body": {"STOP"}, "MessageSid": {"SMspool1"}}
	code, body := twilioPost(t, ts.URL, "/webhooks/twilio/sms", form)
	if code != http.StatusOK || !strings.Contains(body, "unsubscribed") {
		t.Fatalf("SMS STOP during the outage: %d %s", code, body)
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Fatalf("spool holds %d files, want 2", len(files))
	}

	<-restarted
	clk.Add(time.Hour) // applied later, recorded at the time it arrived
	n, err := srv.DrainSpool(ctx)
	if err != nil || n != 2 {
		t.Fatalf("drain: %d applied, %v", n, err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("spool still holds %d files after draining", len(files))
	}
	ada, _ := st.Prospect(ctx, "ada")
	bob, _ := st.Prospect(ctx, "bob")
	if ada.EmailBlocked == "" || bob.SMSBlocked == "" {
		t.Fatalf("after the drain: ada email blocked %q, bob sms blocked %q", ada.EmailBlocked, bob.SMSBlocked)
	}
	l, err := st.Enrollment(ctx, "ada~trial")
	if err != nil {
		t.Fatal(err)
	}
	if l.Enrollment.State != cadence.Exited {
		t.Fatalf("ada's enrollment is %s, want exited", l.Enrollment.State)
	}
	found := false
	for _, en := range mustTimeline(t, e, "ada~trial") {
		if en.Kind == string(cadence.EvUnsubscribed) && en.At.Equal(optedAt) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no unsubscribed entry at the original time %v", optedAt)
	}
	// Draining again changes nothing.
	if n, err := srv.DrainSpool(ctx); n != 0 || err != nil {
		t.Fatalf("second drain: %d, %v", n, err)
	}
}

// twilioPost posts a Twilio-signed webhook to base+path.
func twilioPost(t *testing.T, base, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(base+path, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	io.Copy(&b, resp.Body)
	return resp.StatusCode, b.String()
}

func mustTimeline(t *testing.T, e *worker.Engine, eid string) []cadence.Entry {
	t.Helper()
	tl, err := e.Timeline(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

const limitCadence = `id: outreach
name: Outreach
timezone: UTC
from: {mailbox: owner}
postal_address: "1 Main St, Springfield"
send_window: {days: everyday, start: "09:00", end: "17:00"}
stages:
  - id: intro
    touches:
      - {id: hello, channel: email, delay: 0, template: hello}
templates:
  hello: {subject: "Hello {{ .FirstName }}", text: "Hi"}
`

const limitMailboxes = `mailboxes:
  sam:
    address: sam@acme.example
    name: Sam Rivera
    owners: [sam]
    limits: {per_day: 100}
`

// TestMailboxDailyLimitAcrossWorkers: two worker processes share one
// mailbox with a daily limit of 100; 300 enrollments are due at once.
// On an accelerated clock (NURTURE_CLOCK, one day per 15 s) exactly 100
// go out each day, inside the send window, none twice, none lost.
func TestMailboxDailyLimitAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns worker processes; skipped with -short")
	}
	const prospects, perDay = 300, 100
	const speed = 5760.0 // one day per 15 real seconds (the window: 5 s)
	bin := buildNurture(t)
	rdb, prefix := redistest.Client(t)
	sink := smtptest.Start(t)
	// A relay's pace: one worker alone would need about a second for a
	// day's 100 on its two connections, so the other one (whose task poll
	// idles for up to a second) takes part; over a loopback sink that
	// answers at once the first worker awake drains the day by itself.
	sink.Delay = 20 * time.Millisecond
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "outreach.yaml"), []byte(limitCadence), 0o644); err != nil {
		t.Fatal(err)
	}
	mbFile := filepath.Join(t.TempDir(), "mailboxes.yaml")
	if err := os.WriteFile(mbFile, []byte(limitMailboxes), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2027, 2, 1, 8, 0, 0, 0, time.UTC)
	anchor := time.Now()
	clockEnv := fmt.Sprintf("%s,%g,%d", start.Format(time.RFC3339), speed, anchor.UnixMilli())
	clock, err := parseTestClock(clockEnv)
	if err != nil {
		t.Fatal(err)
	}
	virtual := func(real time.Time) time.Time { return start.Add(time.Duration(float64(real.Sub(anchor)) * speed)) }

	c, err := cadence.LoadFile(filepath.Join(dir, "outreach.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(testTokenKey))
	ob, _ := channels.NewOutbox("", 1, time.Now)
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer,
		PublicURL: "https://n.example", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var ps []*store.Prospect
	for i := 0; i < prospects; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("m%03d", i), Email: fmt.Sprintf("m%03d@initech.example", i), FirstName: "Pat", Owner: "sam", TimeZone: "UTC"})
	}
	for _, r := range e.EnrollBatch(context.Background(), ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	env := childEnv()
	for k, v := range redistest.Env(t) {
		env = append(env, k+"="+v)
	}
	env = append(env, "NURTURE_PREFIX="+prefix, "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+testTokenKey, "NURTURE_MAILBOXES="+mbFile,
		"NURTURE_CLOCK="+clockEnv, "NURTURE_LEASE=240h", // claims and sends are owned for 150 real seconds
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_TASK_BATCH=20", "SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", "SMTP_CONNECTIONS=2")
	_, logs, stop := startWorkers(t, bin, env, []string{"--tick", "50ms", "--concurrency", "2"}, "worker-a", "worker-b")
	defer stop()
	deadline := time.Now().Add(90 * time.Second)
	for sink.Count() < prospects && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	perDayCount := map[string]int{}
	seen := map[string]int{}
	helo := map[string]int{}
	for _, m := range sink.Messages() {
		at := virtual(m.At)
		seen[m.MessageID]++
		helo[m.Helo]++
		perDayCount[at.Format("Mon 2 Jan")]++
		if h := at.Hour(); h < 9 || h >= 17 {
			// The sink's clock reading trails the worker's by the time
			// the message took: allow a few virtual minutes.
			if !(h == 17 && at.Minute() < 15) {
				t.Errorf("%s sent at %s, outside the 09:00-17:00 window", m.To, at.Format("Mon 15:04"))
			}
		}
		if m.From != "sam@acme.example" {
			t.Errorf("envelope from %q", m.From)
		}
	}
	if len(seen) != prospects {
		for i, l := range logs {
			t.Logf("worker %d log:\n%s", i, tail(l.String(), 3000))
		}
		t.Fatalf("%d of %d touches delivered (by day %v)", len(seen), prospects, perDayCount)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	for _, d := range []string{"Mon 1 Feb", "Tue 2 Feb", "Wed 3 Feb"} {
		if perDayCount[d] != perDay {
			t.Errorf("%s: %d sent, want %d (by day: %v)", d, perDayCount[d], perDay, perDayCount)
		}
	}
	if helo["worker-a"] == 0 || helo["worker-b"] == 0 {
		t.Errorf("one worker sent everything: %v", helo)
	}
	// A prospect sent on Wednesday waited with the limit on its timeline.
	found := false
	for _, m := range sink.Messages() {
		if virtual(m.At).Weekday() != time.Wednesday {
			continue
		}
		tl, err := e.Timeline(context.Background(), store.EnrollmentID(strings.TrimSuffix(m.To, "@initech.example"), c.ID))
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range tl {
			if en.Kind == "deferred" && strings.Contains(en.Reason, "mailbox sam daily limit 100 reached; next slot") {
				found = true
			}
		}
		break
	}
	if !found {
		t.Error("no deferral naming the daily limit on a Wednesday prospect's timeline")
	}
	t.Logf("by day: %v; by worker: %v", perDayCount, helo)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

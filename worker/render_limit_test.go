package worker_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// sendObserver records what the engine reports to metrics.
type sendObserver struct {
	mu     sync.Mutex
	sent   int
	failed []string // channel/class
}

func (o *sendObserver) Sent(cadence.Channel, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent++
}

func (o *sendObserver) SendFailed(ch cadence.Channel, class string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = append(o.failed, string(ch)+"/"+class)
}
func (o *sendObserver) Event(cadence.EventKind) {}
func (o *sendObserver) Claimed(int)             {}

func (o *sendObserver) counts() (int, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent, append([]string(nil), o.failed...)
}

// newObservedRig is newRig with an engine that reports to an observer,
// over the same store, clock, in-process SMTP server and a Twilio fake.
func newObservedRig(t *testing.T) (*rig, *sendObserver) {
	t.Helper()
	r := newRig(t)
	mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: r.smtp.Port, TLS: "none", Connections: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mailer.Close() })
	r.twilio = &twilioFake{faults: map[string][]int{}}
	ts := httptest.NewServer(r.twilio)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	tw, err := channels.NewTwilio(channels.TwilioConfig{AccountSID: "AC123", AuthToken: "secret", Transport: rewriteHost{u}})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	obs := &sendObserver{}
	r.e, err = worker.New(worker.Config{Store: r.st, Cadences: map[string]*cadence.Cadence{r.c.ID: r.c}, Email: mailer, SMS: tw,
		Tokens: signer, Clock: r.clk.Now, PublicURL: "https://n.example", MessageIDDomain: "n.example", Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return r, obs
}

// storeFirstName overwrites the prospect's first name through the store,
// bypassing the API's (and Normalize's) input limits, as for a prospect
// stored before those limits existed.
func storeFirstName(t *testing.T, r *rig, p *store.Prospect, name string) {
	t.Helper()
	p.FirstName = name
	if err := r.st.UpsertProspect(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got, err := r.st.Prospect(context.Background(), p.ID)
	if err != nil || len(got.FirstName) != len(name) {
		t.Fatalf("stored first name: %v", err)
	}
}

// heldReasons returns the reasons of the timeline's "held" entries for a
// touch.
func heldReasons(t *testing.T, r *rig, eid, touch string) []string {
	t.Helper()
	lines, err := r.st.TimelineLines(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	// Repeated identical holds are one coalesced line: count each of its
	// holds.
	var out []string
	for _, l := range lines {
		if l.Entry.Kind == "held" && l.Entry.Touch == touch {
			for i := 0; i < l.Count; i++ {
				out = append(out, l.Entry.Reason)
			}
		}
	}
	return out
}

// TestOversizedEmailIsHeldNotRetried: a stored prospect whose first name
// makes the welcome email too large is held with a reason naming the
// limit and the size; nothing reaches the SMTP server, no attempt counts
// as a transport failure, re-checks keep holding it, and once the data is
// fixed it is sent.
func TestOversizedEmailIsHeldNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name      string
		firstName string
		want      []string
	}{
		// The template package stops rendering a part at 1 MiB: the
		// reason names the field that made it so large.
		{"past the render cap", strings.Repeat("x", 10<<20),
			[]string{"email is over 1 MiB", "the prospect's first_name is 10 MiB", "over the 512 KiB limit"}},
		// Every part renders, but together they pass 512 KiB (the welcome
		// template uses the first name in subject, text and HTML).
		{"over the email cap", strings.Repeat("x", 300<<10),
			[]string{"email is 900.", "subject 300 KiB", "over the 512 KiB limit"}},
		{"subject over a header line", strings.Repeat("x", 1000),
			[]string{"subject is 1008 bytes, over the 998-byte limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r, obs := newObservedRig(t)
			p := ada()
			en := r.enroll(t, p)
			storeFirstName(t, r, p, tc.firstName)

			if n := r.dispatch(t); n != 1 {
				t.Fatalf("claimed %d, want 1", n)
			}
			check := func(round int) {
				t.Helper()
				if n, s := r.smtp.Count(), r.smtp.Sessions(); n != 0 || s != 0 {
					t.Fatalf("round %d: the SMTP server saw %d messages over %d connections, want none", round, n, s)
				}
				if sent, failed := obs.counts(); sent != 0 || len(failed) != 0 {
					t.Fatalf("round %d: observer saw %d sends and failures %v, want none", round, sent, failed)
				}
				reasons := heldReasons(t, r, en.ID, "welcome")
				if len(reasons) != round {
					t.Fatalf("round %d: %d held entries, want %d:\n%s", round, len(reasons), round, r.timeline(t, en.ID))
				}
				reason := reasons[round-1]
				for _, w := range tc.want {
					if !strings.Contains(reason, w) {
						t.Errorf("round %d: held reason %q does not say %q", round, reason, w)
					}
				}
				if strings.Contains(reason, "xxxxxxxx") || len(reason) > 300 {
					t.Errorf("round %d: held reason carries the content (%d bytes)", round, len(reason))
				}
				tl, err := r.e.Timeline(ctx, en.ID)
				if err != nil {
					t.Fatal(err)
				}
				if n := countEntries(tl, "retry"); n != 0 {
					t.Errorf("round %d: %d retry entries:\n%s", round, n, r.timeline(t, en.ID))
				}
				s := r.state(t, en.ID)
				if s.State != cadence.Active || s.Stage != "awareness" || s.Step != 0 || !s.DueAt.Equal(r.clk.Now().Add(6*time.Hour)) {
					t.Errorf("round %d: %s %s[%d] due %s, want active awareness[0] due in 6h", round, s.State, s.Stage, s.Step, s.DueAt)
				}
				stats, err := r.e.Stats(ctx, r.c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stats["t:welcome:sent"] != 0 || stats["t:welcome:bounced"] != 0 || stats["t:welcome:skipped"] != 0 {
					t.Errorf("round %d: stats %v", round, stats)
				}
			}
			check(1)

			// The re-check holds it again; still no attempt.
			r.clk.Add(6 * time.Hour)
			r.dispatch(t)
			check(2)

			// Fixed data: the touch goes out, once (the next re-check falls
			// at 22:00 in Chicago, after the send window: it waits for the
			// morning).
			storeFirstName(t, r, p, "Ada")
			r.clk.Add(6 * time.Hour)
			r.dispatch(t)
			r.clk.Add(12 * time.Hour)
			r.dispatch(t)
			msgs := r.smtp.Messages()
			if len(msgs) != 1 || msgs[0].Header.Get("Subject") != "Welcome Ada" {
				t.Fatalf("after the fix: %d messages", len(msgs))
			}
			if sent, failed := obs.counts(); sent != 1 || len(failed) != 0 {
				t.Errorf("after the fix: observer saw %d sends and failures %v", sent, failed)
			}
		})
	}
}

// TestOversizedSMSIsHeld: an SMS body over 10 segments, or one whose
// first name stops rendering, is held with the limit in the reason and
// never reaches Twilio.
func TestOversizedSMSIsHeld(t *testing.T) {
	for _, tc := range []struct {
		name      string
		firstName string
		want      []string
	}{
		{"over 10 segments", strings.Repeat("x", 2000),
			[]string{"sms is over the 10-segment limit", "14 segments, 2026 characters"}},
		{"past the render cap", strings.Repeat("x", 10<<20),
			[]string{"sms is over 1 MiB", "the prospect's first_name is 10 MiB", "over the 10-segment limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, obs := newObservedRig(t)
			p := ada()
			en := r.enroll(t, p)
			r.dispatch(t) // the welcome email, with a normal name
			if r.smtp.Count() != 1 {
				t.Fatalf("welcome: %d messages", r.smtp.Count())
			}
			storeFirstName(t, r, p, tc.firstName)
			r.clk.Add(24 * time.Hour)
			if n := r.dispatch(t); n != 1 {
				t.Fatalf("claimed %d, want the nudge", n)
			}
			if sms := r.twilio.Sent(); len(sms) != 0 {
				t.Fatalf("Twilio got %d messages", len(sms))
			}
			if _, failed := obs.counts(); len(failed) != 0 {
				t.Errorf("failures %v, want none", failed)
			}
			reasons := heldReasons(t, r, en.ID, "nudge")
			if len(reasons) != 1 {
				t.Fatalf("%d held entries for the nudge:\n%s", len(reasons), r.timeline(t, en.ID))
			}
			for _, w := range tc.want {
				if !strings.Contains(reasons[0], w) {
					t.Errorf("held reason %q does not say %q", reasons[0], w)
				}
			}
			if s := r.state(t, en.ID); s.State != cadence.Active || s.Step != 1 || !s.DueAt.Equal(r.clk.Now().Add(6*time.Hour)) {
				t.Errorf("%s step %d due %s, want active at the nudge, due in 6h", s.State, s.Step, s.DueAt)
			}
		})
	}
}

package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

const tollFreeCadence = `id: tollfree
name: Toll free
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "08:00", end: "20:00"}
stages:
  - id: only
    touches:
      - {id: text, channel: sms, template: text}
templates:
  text: {sms: "Hi from Acme, reply STOP to opt out"}
`

// TestTollFreeNumberIsHeld: a prospect whose only number is toll-free and
// who has no timezone is not texted in a guessed zone: the SMS is held with
// the reason, and goes once the timezone is set.
func TestTollFreeNumberIsHeld(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	c, err := cadence.Parse("tollfree.yaml", []byte(tollFreeCadence))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{c.ID: c})
	p := &store.Prospect{ID: "desk", Phone: "1-800-555-0100"}
	en, err := r.e.Enroll(ctx, p, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.dispatch(t)
	if sent := r.twilio.Sent(); len(sent) != 0 {
		t.Fatalf("texted a toll-free number without a zone: %v", sent)
	}
	const want = "+1 800 number: toll-free numbers have no time zone; set the prospect's timezone"
	tl, err := r.e.Timeline(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	held := false
	for _, e := range tl {
		if e.Kind == "held" && e.Touch == "text" && e.Reason == want {
			held = true
		}
	}
	if !held {
		t.Fatalf("no hold saying %q:\n%s", want, r.timeline(t, en.ID))
	}
	if s := r.state(t, en.ID); s.State != cadence.Active || s.Step != 0 || !s.DueAt.Equal(r.clk.Now().Add(6*time.Hour)) {
		t.Errorf("held enrollment: %s step %d due %s", s.State, s.Step, s.DueAt)
	}

	// With the prospect's timezone the re-check sends it (22:00 UTC is
	// 16:00 in Chicago).
	p.TimeZone = "America/Chicago"
	if err := r.e.UpsertProspect(ctx, p); err != nil {
		t.Fatal(err)
	}
	r.clk.Add(6 * time.Hour)
	r.dispatch(t)
	if sent := r.twilio.Sent(); len(sent) != 1 || sent[0].Get("To") != "+18005550100" {
		t.Fatalf("after setting the timezone: %v\n%s", sent, r.timeline(t, en.ID))
	}
}

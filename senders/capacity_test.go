package senders_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/senders"
)

const planCadence = `id: plan
name: Plan
timezone: UTC
from: {mailbox: owner}
postal_address: "1 Main St"
send_window: {days: mon-fri, start: "09:00", end: "17:00"}
stages:
  - id: only
    touches:
      - {id: one, channel: email, delay: 0, template: t}
      - {id: two, channel: email, delay: 2d, template: t}
templates:
  t: {subject: "Hi", text: "Hello"}
`

const planMailboxes = `mailboxes:
  sam: {address: sam@acme.example, owners: [sam], limits: {per_hour: 30, per_day: 100}}
  ada:
    address: ada@acme.example
    owners: [ada]
    limits: {per_day: 100}
    warmup: {start: 20, growth: 10%, since: 2026-01-05}
`

// TestPlanHoldsEveryLimit: replaying a simulated run through the
// mailboxes never sends more than a day's cap (the warm-up's that day),
// accounts for every email wanted, and says when each mailbox filled up.
func TestPlanHoldsEveryLimit(t *testing.T) {
	c, err := cadence.Parse("plan.yaml", []byte(planCadence))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := senders.Parse("mb.yaml", []byte(planMailboxes), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 600, Seed: 1, Start: start, Days: 60, RecordEmails: true, BounceRate: 1e-9, ReplyRate: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Emails) != rep.Sends[cadence.Email] {
		t.Fatalf("recorded %d emails of %d sent", len(rep.Emails), rep.Sends[cadence.Email])
	}
	plan, err := senders.Plan(cfg, c, rep.Emails, start.Add(60*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Mailboxes) != 2 || plan.Mailboxes[0].Mailbox.ID != "sam" {
		t.Fatalf("mailboxes: %+v", plan.Mailboxes)
	}
	total := 0
	for _, mp := range plan.Mailboxes {
		total += mp.Wanted
		if mp.Sent+mp.Queued != mp.Wanted {
			t.Errorf("%s: sent %d + queued %d != wanted %d", mp.Mailbox.ID, mp.Sent, mp.Queued, mp.Wanted)
		}
		for day, n := range mp.PerDay {
			if limit := mp.Mailbox.DayCap(day.Add(12 * time.Hour)); n > limit {
				t.Errorf("%s sent %d on %s, over its limit of %d", mp.Mailbox.ID, n, day.Format(time.DateOnly), limit)
			}
		}
		if mp.FirstFull.IsZero() || mp.Slipped == 0 {
			t.Errorf("%s: 600 prospects × 2 emails over two 100-a-day mailboxes must fill them: %+v", mp.Mailbox.ID, mp)
		}
	}
	if total != len(rep.Emails) {
		t.Fatalf("planned %d of %d emails", total, len(rep.Emails))
	}
	// Ada's first day allows 20 (warm-up), the next 22.
	ada := plan.Mailboxes[1]
	if n := ada.PerDay[start]; n != 20 {
		t.Errorf("ada's first day: %d sent, want the warm-up's 20", n)
	}
	if n := ada.PerDay[start.AddDate(0, 0, 1)]; n != 22 {
		t.Errorf("ada's second day: %d sent, want 22", n)
	}
	var out bytes.Buffer
	plan.WriteText(&out, start)
	for _, want := range []string{"sam (sam@acme.example): wanted", "first at a limit on day 1", "sends that waited for the mailbox ada daily limit", "sends slipped: median"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// A cadence that sends from from.email has no mailbox to plan.
	plain, _ := cadence.Parse("p.yaml", []byte(strings.Replace(planCadence, "from: {mailbox: owner}", `from: {email: "a@acme.example"}`, 1)))
	if _, err := senders.Plan(cfg, plain, rep.Emails, start); err == nil || !strings.Contains(err.Error(), "set from.mailbox") {
		t.Fatalf("plan of a from.email cadence: %v", err)
	}
}

package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

const abCadence = `id: ab
name: A/B
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "08:00", end: "20:00"}
exit:
  - on: unsubscribe
  - on: goal
    goal: booked
stages:
  - id: awareness
    touches:
      - id: welcome
        channel: email
        variants:
          - {id: short, template: short, weight: 1}
          - {id: story, template: story, weight: 1}
      - {id: nudge, channel: email, delay: 1d, template: plain}
    advance:
      - {on: click, to: decision}
  - id: decision
    touches:
      - {id: offer, channel: email, delay: 1d, template: plain}
    then: exit
templates:
  short: {subject: "Five minutes, {{ .FirstName | default \"there\" }}", text: "Short"}
  story: {subject: "A story for {{ .Company | default \"you\" }}", text: "Story"}
  plain: {subject: "News", text: "Hello"}
`

// TestReportSaysHowAndWhy follows prospects through a cadence and checks
// that the report says how each stage was entered, why each enrollment
// ended, what each variant did and why touches were skipped — and that
// the per-day flows add up to the totals, each on the day it happened.
func TestReportSaysHowAndWhy(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c, err := cadence.Parse("ab.yaml", []byte(abCadence))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{c.ID: c})
	r.c = c
	var eids []string
	for i := 0; i < 8; i++ {
		p := &store.Prospect{ID: fmt.Sprintf("p%d", i), Email: fmt.Sprintf("p%d@x.example", i), FirstName: "Pat", Company: "Initech", TimeZone: "America/Chicago"}
		if i == 7 {
			p.Email, p.Phone = "", "+13125550107" // no email: every touch skipped
		}
		eids = append(eids, r.enroll(t, p).ID)
	}
	day0 := r.clk.Now()
	r.dispatch(t) // welcome to 7, skipped for p7
	// p0 and p1 click (advance by rule), p2 unsubscribes, p3 books (goal exit).
	for i, ev := range []cadence.Event{
		{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, By: "link"},
		{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, By: "link"},
		{Kind: cadence.EvUnsubscribed, By: "one-click"},
		{Kind: cadence.EvGoal, Goal: "booked", By: "crm"},
	} {
		if _, err := r.e.Apply(ctx, eids[i], ev); err != nil {
			t.Fatal(err)
		}
	}
	// Replayed click: counted in the total, not as a second clicked message.
	if _, err := r.e.Apply(ctx, eids[0], cadence.Event{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, By: "link"}); err != nil {
		t.Fatal(err)
	}
	// p4, p5 and p6 open welcome (people, not machines): opens are shown,
	// never compared.
	for _, eid := range eids[4:7] {
		if _, err := r.e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvOpened, Touch: "welcome", Channel: cadence.Email, By: "pixel"}); err != nil {
			t.Fatal(err)
		}
	}
	for d := 0; d < 4; d++ {
		r.clk.Add(24 * time.Hour)
		r.dispatch(t)
		r.dispatch(t) // a stage end due at the same time as the next touch
	}
	rep, err := r.e.Report(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	stage := map[string]int{}
	for i, s := range rep.Stages {
		stage[s.ID] = i
	}
	dec := rep.Stages[stage["decision"]]
	// p0, p1 by their click; p4, p5, p6 when awareness's touches ran out
	// (p7, skipped everywhere, also runs out).
	if dec.ByRule != 2 || dec.ByTime != 4 || dec.Entered != 6 {
		t.Errorf("decision entered %d: by rule %d, by time %d; want 6: 2 by rule, 4 by time", dec.Entered, dec.ByRule, dec.ByTime)
	}
	ends := map[string]int64{}
	for _, e := range rep.Ends {
		ends[e.State+":"+e.Code] = e.Count
	}
	want := map[string]int64{"exited:unsubscribed": 1, "exited:goal": 1, "exited:ran_out": 6}
	if fmt.Sprint(ends) != fmt.Sprint(want) {
		t.Errorf("ends %v, want %v", ends, want)
	}
	if len(rep.Goals) != 1 || rep.Goals[0].Code != "booked" || rep.Goals[0].Count != 1 {
		t.Errorf("goals %+v, want booked 1", rep.Goals)
	}
	var welcome, offer *worker.TouchRow
	for i := range rep.Touches {
		switch rep.Touches[i].ID {
		case "welcome":
			welcome = &rep.Touches[i]
		case "offer":
			offer = &rep.Touches[i]
		}
	}
	if welcome.Sent != 7 || welcome.Clicked != 2 || welcome.ClickedTotal != 3 {
		t.Errorf("welcome sent %d clicked %d (total %d), want 7, 2, 3", welcome.Sent, welcome.Clicked, welcome.ClickedTotal)
	}
	if len(welcome.Skips) != 1 || welcome.Skips[0].Code != "no_email" || welcome.Skips[0].Count != 1 || welcome.Skips[0].Label != "no email address" {
		t.Errorf("welcome skips %+v, want no_email 1", welcome.Skips)
	}
	if offer.Sent != 5 || offer.Skipped != 1 {
		t.Errorf("offer sent %d skipped %d, want 5 and 1 (p0, p1, p4, p5, p6; p7 has no email)", offer.Sent, offer.Skipped)
	}
	if welcome.Headline != "Five minutes, {FirstName}" {
		t.Errorf("welcome headline %q", welcome.Headline)
	}
	// Each variant's sends match the X-Nurture-Touch headers the sink got.
	got := map[string]int64{}
	for _, m := range r.smtp.Messages() {
		if h := m.Header.Get("X-Nurture-Touch"); strings.HasPrefix(h, "ab/welcome/") {
			got[strings.TrimPrefix(h, "ab/welcome/")]++
		}
	}
	var sum, clicks, opens int64
	for _, v := range welcome.Variants {
		if v.Sent != got[v.ID] {
			t.Errorf("variant %s sent %d, the sink got %d", v.ID, v.Sent, got[v.ID])
		}
		sum, clicks, opens = sum+v.Sent, clicks+v.Clicked, opens+v.Opened
	}
	// Two clicks and no replies are too few to compare, and three human
	// opens do not stand in for them: no leader.
	if len(welcome.Variants) != 2 || sum != 7 || clicks != 2 || opens != 3 || welcome.AB == nil || welcome.AB.Leader != "" || welcome.AB.Confident ||
		!strings.HasPrefix(welcome.AB.Note, "Not enough replies or clicks yet") {
		t.Errorf("variants %+v ab %+v: want two summing to 7 sent, 2 clicks and 3 opens, not enough to compare", welcome.Variants, welcome.AB)
	}
	// Per day: the totals, each on its day.
	days, err := r.e.Trend(ctx, c.ID, day0.AddDate(0, 0, -1), r.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var sent, enrolled, exited, clicked, unsub, goals int64
	for _, d := range days {
		sent, enrolled, exited, clicked, unsub, goals = sent+d.Sent, enrolled+d.Enrolled, exited+d.Exited, clicked+d.Clicked, unsub+d.Unsubscribed, goals+d.Goal
	}
	if sent != welcome.Sent+rep.Touches[1].Sent+offer.Sent || enrolled != 8 || exited != 8 || clicked != 2 || unsub != 1 || goals != 1 {
		t.Errorf("daily sums: sent %d enrolled %d exited %d clicked %d unsubscribed %d goals %d", sent, enrolled, exited, clicked, unsub, goals)
	}
	if days[0].Sent != 0 || days[1].Date != day0.Format(time.DateOnly) || days[1].Sent != 7 || days[1].Enrolled != 8 || days[1].Touches["welcome"].Sent != 7 {
		t.Errorf("day before %+v, first day %+v: want nothing, then 8 enrolled and 7 welcome sends", days[0], days[1])
	}
	// The day hashes expire (kept 400 days).
	ttl, err := r.st.Redis().TTL(ctx, r.st.Keys().DailyStats(store.Shard("p0"), c.ID, day0)).Result()
	if err != nil || ttl < 399*24*time.Hour {
		t.Errorf("day counters TTL %v (%v), want about 400 days", ttl, err)
	}
}

// TestComplaintCountsForItsTouch: a complaint naming a touch counts for
// the cadence (complained), the touch (t:TOUCH:complained), its A/B
// variant and the day, the day's per-touch row included; one naming no
// touch counts for the cadence and the day only.
func TestComplaintCountsForItsTouch(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c, err := cadence.Parse("ab.yaml", []byte(abCadence))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{c.ID: c})
	r.c = c
	a := r.enroll(t, &store.Prospect{ID: "a", Email: "a@x.example", TimeZone: "America/Chicago"})
	b := r.enroll(t, &store.Prospect{ID: "b", Email: "b@x.example", TimeZone: "America/Chicago"})
	r.dispatch(t)
	if _, err := r.e.Apply(ctx, a.ID, cadence.Event{Kind: cadence.EvComplained, Touch: "welcome", Channel: cadence.Email, By: "feedback loop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Apply(ctx, b.ID, cadence.Event{Kind: cadence.EvComplained, Channel: cadence.Email, By: "feedback loop"}); err != nil {
		t.Fatal(err)
	}
	st, err := r.e.Stats(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	variant := c.Touch("welcome").ChooseVariant(a.ID).ID
	if st["complained"] != 2 || st["t:welcome:complained"] != 1 || st["v:welcome:"+variant+":complained"] != 1 {
		t.Fatalf("complained %d, t:welcome:complained %d, v:welcome:%s:complained %d; want 2, 1, 1: %v",
			st["complained"], st["t:welcome:complained"], variant, st["v:welcome:"+variant+":complained"], st)
	}
	rows, err := r.e.Trend(ctx, c.ID, r.clk.Now(), r.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Complained != 2 || rows[0].Touches["welcome"].Complained != 1 {
		t.Fatalf("day rows: %+v", rows)
	}
}

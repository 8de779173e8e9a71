package cadence_test

import (
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// TestEngagementIsListedPerMessage: an enrollment lists the touches a
// person opened or clicked, once each, whatever the state; machine opens
// and scanner clicks are not listed; sending a touch again starts its
// message afresh.
func TestEngagementIsListedPerMessage(t *testing.T) {
	c := mustParse(t, twoStage)
	e := c.Start(cadence.Enrollment{ID: "e1"}, t0, chicago).Enrollment
	at := t0.Add(24 * time.Hour)
	apply := func(ev cadence.Event) {
		t.Helper()
		at = at.Add(time.Minute)
		ev.At = at
		o, err := c.Apply(e, ev, chicago)
		if err != nil {
			t.Fatalf("%s %s: %v", ev.Kind, ev.Touch, err)
		}
		e = o.Enrollment
	}
	apply(cadence.Event{Kind: cadence.EvSent, Touch: "t1", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvOpened, Touch: "t1", Channel: cadence.Email, Machine: true})
	apply(cadence.Event{Kind: cadence.EvClicked, Touch: "t1", Channel: cadence.Email, Machine: true})
	if e.HasOpened("t1") || e.HasClicked("t1") {
		t.Fatalf("machine events listed: opened %q clicked %q", e.Opened, e.Clicked)
	}
	for i := 0; i < 3; i++ {
		apply(cadence.Event{Kind: cadence.EvClicked, Touch: "t1", Channel: cadence.Email})
	}
	if !e.HasClicked("t1") || e.HasOpened("t1") || e.Clicked != "t1" || e.Stage != "s2" {
		t.Fatalf("after three clicks: opened %q clicked %q stage %s", e.Opened, e.Clicked, e.Stage)
	}
	apply(cadence.Event{Kind: cadence.EvOpened, Touch: "t1", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvOpened, Touch: "t2", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvOpened, Touch: "t1", Channel: cadence.Email})
	if e.Opened != "t1,t2" || !e.HasOpened("t2") || e.HasOpened("") || e.HasClicked("t2") {
		t.Fatalf("opens: opened %q clicked %q", e.Opened, e.Clicked)
	}
	apply(cadence.Event{Kind: cadence.EvStopped, By: "sales:sam"})
	apply(cadence.Event{Kind: cadence.EvClicked, Touch: "t3", Channel: cadence.Email})
	if !e.HasClicked("t3") || e.Clicked != "t1,t3" {
		t.Fatalf("a click after the end is still the touch's: clicked %q", e.Clicked)
	}
}

const loopStage = `id: loop
name: Loop
timezone: UTC
from: {email: "a@example.com"}
postal_address: "1 Main St"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: s1
    touches:
      - {id: t1, channel: email, delay: 1d, template: mail}
      - {id: t2, channel: email, delay: 1d, template: mail}
    then: s1
templates:
  mail: {subject: "Hi", text: "Hello"}
`

// TestResendStartsAfresh: a stage entered again sends its touches again;
// each send is a new message whose opens and clicks count anew.
func TestResendStartsAfresh(t *testing.T) {
	c := mustParse(t, loopStage)
	e := c.Start(cadence.Enrollment{ID: "e1"}, t0, time.UTC).Enrollment
	at := t0
	apply := func(ev cadence.Event) {
		t.Helper()
		at = at.Add(24 * time.Hour)
		ev.At = at
		o, err := c.Apply(e, ev, time.UTC)
		if err != nil {
			t.Fatalf("%s %s: %v", ev.Kind, ev.Touch, err)
		}
		e = o.Enrollment
	}
	apply(cadence.Event{Kind: cadence.EvSent, Touch: "t1", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvClicked, Touch: "t1", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvOpened, Touch: "t1", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvSent, Touch: "t2", Channel: cadence.Email})
	apply(cadence.Event{Kind: cadence.EvClicked, Touch: "t2", Channel: cadence.Email})
	if e.Clicked != "t1,t2" || e.Opened != "t1" || e.Stage != "s1" || e.Step != 0 {
		t.Fatalf("before the second round: clicked %q opened %q at %s[%d]", e.Clicked, e.Opened, e.Stage, e.Step)
	}
	apply(cadence.Event{Kind: cadence.EvSent, Touch: "t1", Channel: cadence.Email})
	if e.HasClicked("t1") || e.HasOpened("t1") || e.Clicked != "t2" || e.Opened != "" {
		t.Fatalf("t1 sent again: clicked %q opened %q", e.Clicked, e.Opened)
	}
}

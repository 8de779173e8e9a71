package cadence_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

const twoStage = `id: two
name: Two stages
timezone: America/Chicago
from: {email: "a@example.com", sms: "+15005550006"}
postal_address: "1 Main St"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: s1
    touches:
      - {id: t1, channel: email, delay: 1d, template: mail}
      - {id: t2, channel: sms, delay: 2d, template: text}
    advance:
      - {on: click, to: s2}
  - id: s2
    touches:
      - {id: t3, channel: email, delay: 3d, template: mail}
templates:
  mail: {subject: "Hi", text: "Hello"}
  text: {sms: "Hello"}
`

var (
	chicago = mustZone("America/Chicago")
	t0      = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC) // a Monday
)

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// inState returns an enrollment of twoStage in the given state, at s1 step 1
// (t2 due), built through the public API.
func inState(t *testing.T, c *cadence.Cadence, st cadence.State) cadence.Enrollment {
	t.Helper()
	o := c.Start(cadence.Enrollment{ID: "e1"}, t0, chicago)
	o, err := c.Apply(o.Enrollment, cadence.Event{Kind: cadence.EvSent, At: t0.Add(24 * time.Hour), Touch: "t1"}, chicago)
	if err != nil {
		t.Fatal(err)
	}
	e := o.Enrollment
	at := t0.Add(25 * time.Hour)
	var ev cadence.Event
	switch st {
	case cadence.Active:
		return e
	case cadence.Paused:
		ev = cadence.Event{Kind: cadence.EvPaused, By: "sales:alice", Reason: "call booked"}
	case cadence.Snoozed:
		ev = cadence.Event{Kind: cadence.EvSnoozed, Until: at.Add(10 * 24 * time.Hour)}
	case cadence.Warm:
		ev = cadence.Event{Kind: cadence.EvReplied}
	case cadence.Completed:
		for _, k := range []string{"t2", "t3"} {
			e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvSent, At: e.DueAt, Touch: k})
		}
		if e.State != cadence.Completed {
			t.Fatalf("not completed: %+v", e)
		}
		return e
	case cadence.Exited:
		ev = cadence.Event{Kind: cadence.EvStopped, By: "sales:bob"}
	}
	ev.At = at
	return mustApply(t, c, e, ev)
}

func mustApply(t *testing.T, c *cadence.Cadence, e cadence.Enrollment, ev cadence.Event) cadence.Enrollment {
	t.Helper()
	o, err := c.Apply(e, ev, chicago)
	if err != nil {
		t.Fatalf("%s: %v", ev.Kind, err)
	}
	return o.Enrollment
}

// TestEveryStateEventPair pins the outcome of every event in every state:
// the next state, or the typed error.
func TestEveryStateEventPair(t *testing.T) {
	c := mustParse(t, twoStage)
	states := []cadence.State{cadence.Active, cadence.Paused, cadence.Snoozed, cadence.Warm, cadence.Completed, cadence.Exited}
	// Columns follow states. "=" keeps the state; ERR is
	// ErrInvalidTransition; STALE is ErrStale.
	want := map[cadence.EventKind][6]string{
		cadence.EvSent:         {"=", "=", "=", "=", "STALE", "STALE"},
		cadence.EvSkipped:      {"=", "=", "=", "=", "STALE", "STALE"},
		cadence.EvDelivered:    {"=", "=", "=", "=", "=", "="},
		cadence.EvOpened:       {"=", "=", "=", "=", "=", "="},
		cadence.EvClicked:      {"=", "=", "=", "=", "=", "="},
		cadence.EvReplied:      {"warm", "warm", "warm", "=", "=", "="},
		cadence.EvAutoReplied:  {"snoozed", "=", "=", "=", "=", "="},
		cadence.EvBounced:      {"exited", "exited", "exited", "exited", "=", "="},
		cadence.EvComplained:   {"exited", "exited", "exited", "exited", "=", "="},
		cadence.EvUnsubscribed: {"exited", "exited", "exited", "exited", "=", "="},
		cadence.EvSMSOptOut:    {"=", "=", "=", "=", "=", "="},
		cadence.EvSMSOptIn:     {"=", "=", "=", "=", "=", "="},
		cadence.EvPaused:       {"paused", "paused", "paused", "paused", "ERR", "ERR"},
		cadence.EvResumed:      {"ERR", "active", "active", "active", "ERR", "ERR"},
		cadence.EvSnoozed:      {"snoozed", "snoozed", "snoozed", "snoozed", "ERR", "ERR"},
		cadence.EvGoal:         {"=", "=", "=", "=", "=", "="},
		cadence.EvDue:          {"ERR", "ERR", "ERR", "ERR", "ERR", "ERR"},
		cadence.EvStopped:      {"exited", "exited", "exited", "exited", "ERR", "ERR"},
	}
	if len(want) != len(cadence.EventKinds) {
		t.Fatalf("table covers %d events, the machine has %d", len(want), len(cadence.EventKinds))
	}
	at := t0.Add(26 * time.Hour)
	for _, kind := range cadence.EventKinds {
		for i, st := range states {
			t.Run(fmt.Sprintf("%s/%s", st, kind), func(t *testing.T) {
				e := inState(t, c, st)
				ev := cadence.Event{Kind: kind, At: at, Touch: "t2", Hard: true, By: "test", Until: at.Add(48 * time.Hour), Goal: "converted"}
				if kind == cadence.EvDelivered || kind == cadence.EvOpened || kind == cadence.EvClicked {
					ev.Touch = "t1"
				}
				o, err := c.Apply(e, ev, chicago)
				exp := want[kind][i]
				switch exp {
				case "ERR":
					if !errors.Is(err, cadence.ErrInvalidTransition) {
						t.Fatalf("want ErrInvalidTransition, got %v (state %s)", err, o.Enrollment.State)
					}
					return
				case "STALE":
					if !errors.Is(err, cadence.ErrStale) {
						t.Fatalf("want ErrStale, got %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if exp == "=" {
					exp = string(st)
				}
				if got := string(o.Enrollment.State); got != exp {
					t.Fatalf("state %s, want %s", got, exp)
				}
				if len(o.Entries) == 0 {
					t.Fatalf("no timeline entry for %s in %s", kind, st)
				}
			})
		}
	}
}

func TestGlobalActionsEvenAfterTheEnd(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Completed)
	for kind, act := range map[cadence.EventKind]cadence.Action{
		cadence.EvBounced: cadence.ActSuppressEmail, cadence.EvComplained: cadence.ActSuppressEmail,
		cadence.EvUnsubscribed: cadence.ActUnsubscribeEmail, cadence.EvSMSOptOut: cadence.ActOptOutSMS, cadence.EvSMSOptIn: cadence.ActOptInSMS,
	} {
		o, err := c.Apply(e, cadence.Event{Kind: kind, At: e.LastTouchAt.Add(time.Hour), Hard: true}, chicago)
		if err != nil || len(o.Actions) != 1 || o.Actions[0] != act {
			t.Errorf("%s after completion: actions %v err %v, want %s", kind, o.Actions, err, act)
		}
	}
}

func TestPausedTimeDoesNotCountAgainstAWait(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Active) // t2 due 2d after t1 was sent at t0+24h
	due := e.DueAt
	if want := t0.Add(72 * time.Hour); !due.Equal(want) {
		t.Fatalf("t2 due %v, want %v", due, want)
	}
	pauseAt := t0.Add(48 * time.Hour) // 24h left
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvPaused, At: pauseAt, By: "sales:alice"})
	if !e.DueAt.IsZero() || e.Remaining != 24*time.Hour {
		t.Fatalf("paused: due %v remaining %v", e.DueAt, e.Remaining)
	}
	resumeAt := pauseAt.Add(10 * 24 * time.Hour)
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvResumed, At: resumeAt, By: "sales:alice"})
	if want := resumeAt.Add(24 * time.Hour); !e.DueAt.Equal(want) || e.State != cadence.Active {
		t.Fatalf("resumed: due %v want %v (%s)", e.DueAt, want, e.State)
	}
}

func TestSendThatRacedAPauseIsNotRepeated(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Paused)
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvSent, At: t0.Add(26 * time.Hour), Touch: "t2"})
	if e.State != cadence.Paused || e.Step != 2 {
		t.Fatalf("want paused at step 2, got %s step %d", e.State, e.Step)
	}
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvResumed, At: t0.Add(30 * time.Hour)})
	// s1 is done: resuming finishes the stage when due, not resends t2.
	o, err := c.Apply(e, cadence.Event{Kind: cadence.EvDue, At: e.DueAt}, chicago)
	if err != nil {
		t.Fatal(err)
	}
	if o.Enrollment.Stage != "s2" {
		t.Fatalf("want s2, got %s[%d]", o.Enrollment.Stage, o.Enrollment.Step)
	}
}

func TestClickAdvancesAndMachineOpenDoesNot(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Active)
	at := t0.Add(25 * time.Hour)
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvClicked, At: at, Touch: "t1", Machine: true})
	if e.Stage != "s1" || e.StageEngaged {
		t.Fatalf("scanner click moved the prospect: %s engaged=%v", e.Stage, e.StageEngaged)
	}
	o, err := c.Apply(e, cadence.Event{Kind: cadence.EvClicked, At: at, Touch: "t1"}, chicago)
	if err != nil {
		t.Fatal(err)
	}
	if o.Enrollment.Stage != "s2" || o.Enrollment.Step != 0 {
		t.Fatalf("click did not advance: %s[%d]", o.Enrollment.Stage, o.Enrollment.Step)
	}
	last := o.Entries[len(o.Entries)-1].Text()
	if !strings.Contains(last, "stage s1 -> s2") || !strings.Contains(last, "click on t1") {
		t.Errorf("timeline does not explain the move: %q", last)
	}
	if want := at.Add(3 * 24 * time.Hour); !o.Enrollment.DueAt.Equal(want) {
		t.Errorf("t3 due %v, want %v", o.Enrollment.DueAt, want)
	}
}

func TestReplyWarmsAndNotifiesAutoReplySnoozes(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Active)
	at := t0.Add(30 * time.Hour)
	o, _ := c.Apply(e, cadence.Event{Kind: cadence.EvReplied, At: at, Channel: cadence.Email}, chicago)
	if o.Enrollment.State != cadence.Warm || len(o.Actions) != 1 || o.Actions[0] != cadence.ActNotifyWarm {
		t.Fatalf("reply: %s %v", o.Enrollment.State, o.Actions)
	}
	o, _ = c.Apply(e, cadence.Event{Kind: cadence.EvAutoReplied, At: at}, chicago)
	if o.Enrollment.State != cadence.Snoozed || !o.Enrollment.Until.Equal(at.In(chicago).AddDate(0, 0, 7)) || len(o.Actions) != 0 {
		t.Fatalf("auto-reply: %s until %v actions %v", o.Enrollment.State, o.Enrollment.Until, o.Actions)
	}
	// The snooze ends by itself.
	o, err := c.Apply(o.Enrollment, cadence.Event{Kind: cadence.EvDue, At: o.Enrollment.Until}, chicago)
	if err != nil || o.Enrollment.State != cadence.Active {
		t.Fatalf("snooze end: %v %s", err, o.Enrollment.State)
	}
}

func TestNoEngagementRuleAndThen(t *testing.T) {
	src := strings.Replace(twoStage, "      - {on: click, to: s2}", "      - {on: click, to: s2}\n      - {on: no_engagement, after: 5d, to: complete}", 1)
	c := mustParse(t, src)
	e := inState(t, c, cadence.Active)
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvSent, At: e.DueAt, Touch: "t2"})
	if e.Stage != "s1" || e.Step != 2 || !e.DueAt.Equal(t0.Add(72*time.Hour).In(chicago).AddDate(0, 0, 5)) {
		t.Fatalf("stage end should wait 5d: %s[%d] due %v", e.Stage, e.Step, e.DueAt)
	}
	quiet := mustApply(t, c, e, cadence.Event{Kind: cadence.EvDue, At: e.DueAt})
	if quiet.State != cadence.Completed {
		t.Fatalf("no engagement: %s", quiet.State)
	}
	engaged := mustApply(t, c, e, cadence.Event{Kind: cadence.EvOpened, At: e.DueAt.Add(-time.Hour), Touch: "t1"})
	engaged = mustApply(t, c, engaged, cadence.Event{Kind: cadence.EvDue, At: e.DueAt})
	if engaged.Stage != "s2" || engaged.State != cadence.Active {
		t.Fatalf("engaged prospect should go on to s2: %s %s", engaged.State, engaged.Stage)
	}
}

func TestStaleAndDuplicateSends(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Active)
	_, err := c.Apply(e, cadence.Event{Kind: cadence.EvSent, At: t0.Add(30 * time.Hour), Touch: "t1"}, chicago)
	if !errors.Is(err, cadence.ErrStale) {
		t.Fatalf("a second 'sent' for t1 must be stale, got %v", err)
	}
}

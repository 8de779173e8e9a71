package cadence_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// Generation is never reused: every transition raises it, so a claim made
// before any of them can never become current again.
func TestGenerationOnlyGrows(t *testing.T) {
	c := mustParse(t, twoStage)
	o := c.Start(cadence.Enrollment{ID: "e1"}, t0, chicago)
	e := o.Enrollment
	seen := map[int64]bool{e.Generation: true}
	at := t0
	step := func(ev cadence.Event) {
		t.Helper()
		at = at.Add(time.Hour)
		ev.At = at
		prev := e.Generation
		e = mustApply(t, c, e, ev)
		if e.Generation <= prev || seen[e.Generation] {
			t.Fatalf("%s: generation %d after %d", ev.Kind, e.Generation, prev)
		}
		seen[e.Generation] = true
	}
	step(cadence.Event{Kind: cadence.EvSent, Touch: "t1"})
	step(cadence.Event{Kind: cadence.EvPaused, By: "sales:alice"})
	step(cadence.Event{Kind: cadence.EvResumed, By: "sales:alice"})
	step(cadence.Event{Kind: cadence.EvSnoozed, Until: at.Add(48 * time.Hour)})
	step(cadence.Event{Kind: cadence.EvResumed})
	step(cadence.Event{Kind: cadence.EvClicked, Touch: "t1"})
	step(cadence.Event{Kind: cadence.EvStopped, By: "sales:bob"})

	// A touch that moved under a new version invalidates old claims too.
	v2 := mustParse(t, strings.Replace(twoStage, "      - {id: t1, channel: email, delay: 1d, template: mail}\n", "      - {id: t0, channel: email, delay: 1d, template: mail}\n      - {id: t1, channel: email, delay: 1d, template: mail}\n", 1))
	e = c.Start(cadence.Enrollment{ID: "e2"}, t0, chicago).Enrollment
	before := e.Generation
	moved, _, ok := v2.Rebase(e, t0.Add(time.Hour))
	if !ok || moved.Step != 1 || moved.Generation <= before {
		t.Fatalf("rebase: ok %v step %d generation %d after %d", ok, moved.Step, moved.Generation, before)
	}
}

// Every timeline line says the state it was written in.
func TestEntriesCarryTheState(t *testing.T) {
	c := mustParse(t, twoStage)
	e := c.Start(cadence.Enrollment{ID: "e1"}, t0, chicago).Enrollment
	o, err := c.Apply(e, cadence.Event{Kind: cadence.EvSent, At: t0.Add(24 * time.Hour), Touch: "t1", MessageID: "<m1@n>", Mailbox: "mb1"}, chicago)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range o.Entries {
		if en.From == "" || en.To == "" {
			t.Errorf("entry %+v has no state", en)
		}
	}
	e = o.Enrollment
	if e.PrevMessageID != "<m1@n>" || e.Mailbox != "mb1" {
		t.Fatalf("message id %q mailbox %q", e.PrevMessageID, e.Mailbox)
	}
	// A send that does not name them keeps the ones known.
	e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvSent, At: e.DueAt, Touch: "t2"})
	if e.PrevMessageID != "<m1@n>" || e.Mailbox != "mb1" {
		t.Fatalf("after an sms: message id %q mailbox %q", e.PrevMessageID, e.Mailbox)
	}
}

func TestStopReasonAndEntryText(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Active)
	for reason, want := range map[string]string{"": "stopped", "wrong lead": "stopped: wrong lead"} {
		got := mustApply(t, c, e, cadence.Event{Kind: cadence.EvStopped, At: t0.Add(30 * time.Hour), By: "sales:bob", Reason: reason})
		if got.Reason != want {
			t.Errorf("stop with reason %q: %q, want %q", reason, got.Reason, want)
		}
	}
	for en, want := range map[cadence.Entry]string{
		{Kind: "enrolled", ToStage: "s1"}:                   "enrolled at stage s1",
		{Kind: "enrolled", ToStage: "s1", Reason: "import"}: "enrolled at stage s1: import",
	} {
		if got := en.Text(); got != want {
			t.Errorf("Text() = %q, want %q", got, want)
		}
	}
}

// Machine opens and scanner clicks are recorded as such; a person's open
// and click mark the previous email.
func TestEngagementMarks(t *testing.T) {
	c := mustParse(t, twoStage)
	e := inState(t, c, cadence.Active)
	at := t0.Add(26 * time.Hour)
	for kind, want := range map[cadence.EventKind]string{cadence.EvOpened: "machine open", cadence.EvClicked: "scanner click"} {
		o, err := c.Apply(e, cadence.Event{Kind: kind, At: at, Touch: "t1", Machine: true}, chicago)
		if err != nil || len(o.Entries) == 0 || !strings.HasPrefix(o.Entries[0].Reason, want) {
			t.Errorf("machine %s: %+v %v", kind, o.Entries, err)
		}
	}
	opened := mustApply(t, c, e, cadence.Event{Kind: cadence.EvOpened, At: at, Touch: "t1"})
	if !opened.PrevEmailOpened || opened.PrevEmailClicked {
		t.Errorf("open: opened %v clicked %v", opened.PrevEmailOpened, opened.PrevEmailClicked)
	}
}

// Advance rules: a goal rule names its goal or takes any; a reply rule
// applies to an active prospect.
func TestGoalAndReplyRules(t *testing.T) {
	src := strings.Replace(twoStage, "    advance:\n      - {on: click, to: s2}\n", "    advance:\n      - {on: goal, goal: demo, to: s2}\n      - {on: goal, to: s3}\n      - {on: reply, to: s2}\n", 1) +
		"" // s3 below
	src = strings.Replace(src, "templates:\n", "  - id: s3\n    touches:\n      - {id: t4, channel: email, delay: 3d, template: mail}\ntemplates:\n", 1)
	c := mustParse(t, src)
	e := inState(t, c, cadence.Active)
	at := t0.Add(30 * time.Hour)
	for goal, stage := range map[string]string{"demo": "s2", "trial": "s3"} {
		if got := mustApply(t, c, e, cadence.Event{Kind: cadence.EvGoal, At: at, Goal: goal}); got.Stage != stage {
			t.Errorf("goal %s: stage %s, want %s", goal, got.Stage, stage)
		}
	}
	if got := mustApply(t, c, e, cadence.Event{Kind: cadence.EvReplied, At: at}); got.Stage != "s2" || got.State != cadence.Active {
		t.Errorf("reply: %s %s, want s2 active", got.Stage, got.State)
	}
}

// A chain of stages without touches is followed to its end, however long.
func TestLongChainOfEmptyStages(t *testing.T) {
	var b strings.Builder
	b.WriteString("id: chain\nname: Chain\ntimezone: America/Chicago\nfrom: {email: \"a@example.com\"}\npostal_address: \"1 Main St\"\nstages:\n")
	for i := 0; i < 11; i++ {
		fmt.Fprintf(&b, "  - id: s%d\n", i)
	}
	b.WriteString("  - id: last\n    touches:\n      - {id: hello, channel: email, template: mail}\ntemplates:\n  mail: {subject: \"Hi\", text: \"Hello\"}\n")
	c := mustParse(t, b.String())
	e := c.Start(cadence.Enrollment{ID: "e1"}, t0, chicago).Enrollment
	if e.State != cadence.Active || e.Stage != "last" || e.NextTouch != "hello" {
		t.Fatalf("%s at %s, next %q (%s)", e.State, e.Stage, e.NextTouch, e.Reason)
	}
}

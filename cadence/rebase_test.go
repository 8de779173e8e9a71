package cadence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// edited returns twoStage with stage s1's touch list replaced.
func edited(t *testing.T, touches string) *cadence.Cadence {
	t.Helper()
	old := "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t2, channel: sms, delay: 2d, template: text}\n"
	c, err := cadence.Parse("two.yaml", []byte(strings.Replace(twoStage, old, touches, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnrollmentRemembersItsNextTouch(t *testing.T) {
	c := edited(t, "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t2, channel: sms, delay: 2d, template: text}\n")
	o := c.Start(cadence.Enrollment{ID: "e1"}, t0, chicago)
	if o.Enrollment.NextTouch != "t1" {
		t.Fatalf("after enrolling: next touch %q", o.Enrollment.NextTouch)
	}
	e := mustApply(t, c, o.Enrollment, cadence.Event{Kind: cadence.EvSent, At: t0.Add(24 * time.Hour), Touch: "t1"})
	if e.NextTouch != "t2" {
		t.Fatalf("after t1: next touch %q", e.NextTouch)
	}
}

func TestRebaseFindsTheNextTouchByID(t *testing.T) {
	v1 := edited(t, "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t2, channel: sms, delay: 2d, template: text}\n")
	e := inState(t, v1, cadence.Active) // sent t1, waiting for t2 at position 2
	if _, _, changed := v1.Rebase(e, t0); changed {
		t.Fatal("rebased onto its own version")
	}
	cases := []struct {
		name, touches string
		step          int
		next, reason  string
	}{
		{"a touch inserted before it", "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t0, channel: email, delay: 1d, template: mail}\n      - {id: t2, channel: sms, delay: 2d, template: text}\n",
			2, "t2", "next touch t2 moved from position 2 to 3"},
		{"touches reordered", "      - {id: t2, channel: sms, delay: 2d, template: text}\n      - {id: t1, channel: email, delay: 1d, template: mail}\n",
			0, "t2", "next touch t2 moved from position 2 to 1"},
		{"its touch removed", "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t9, channel: email, delay: 1d, template: mail}\n",
			1, "t9", "next touch t2 was removed, going on with t9"},
		{"only copy edited", "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t2, channel: sms, delay: 3d, template: text}\n",
			1, "t2", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v2 := edited(t, tc.touches)
			got, note, changed := v2.Rebase(e, t0)
			if !changed || got.Version != v2.Version || got.Step != tc.step || got.NextTouch != tc.next {
				t.Fatalf("rebased to step %d next %q version %s (changed %v)", got.Step, got.NextTouch, got.Version, changed)
			}
			if !strings.Contains(note.Reason, "now following version "+v2.Version) || (tc.reason != "" && !strings.Contains(note.Reason, tc.reason)) {
				t.Fatalf("note %q", note.Reason)
			}
			if moved := got.Step != e.Step; moved != (got.Generation != e.Generation) {
				t.Fatalf("generation %d -> %d with step %d -> %d: a claim for the old position must go stale", e.Generation, got.Generation, e.Step, got.Step)
			}
			// Sending what it waits for never leads back to t1, sent before
			// the edit (the reorder puts t1 after t2).
			if got.NextTouch != "" {
				after := mustApply(t, v2, got, cadence.Event{Kind: cadence.EvSent, At: got.DueAt, Touch: got.NextTouch})
				if after.NextTouch == "t1" && after.Stage == "s1" {
					t.Fatalf("t1 would be sent twice: %+v", after)
				}
			}
		})
	}
}

// A new version without the enrollment's stage: it exits, with the
// reason, the next time anything schedules it — never a crash.
func TestStageRemovedByANewVersionEndsTheEnrollment(t *testing.T) {
	v1 := edited(t, "      - {id: t1, channel: email, delay: 1d, template: mail}\n      - {id: t2, channel: sms, delay: 2d, template: text}\n")
	s1 := twoStage[strings.Index(twoStage, "  - id: s1\n"):strings.Index(twoStage, "  - id: s2\n")]
	v2, err := cadence.Parse("two.yaml", []byte(strings.Replace(twoStage, s1, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []cadence.State{cadence.Active, cadence.Paused, cadence.Warm} {
		e := inState(t, v1, st)
		e, _, _ = v2.Rebase(e, t0)
		at := t0.Add(48 * time.Hour)
		// Engagement in the removed stage is recorded without a crash.
		if _, err := v2.Apply(e, cadence.Event{Kind: cadence.EvClicked, Touch: "t1", At: at}, chicago); err != nil && !strings.Contains(err.Error(), "invalid") {
			t.Fatalf("%s, click: %v", st, err)
		}
		if e.State != cadence.Active {
			e = mustApply(t, v2, e, cadence.Event{Kind: cadence.EvResumed, By: "sales:alice", At: at})
		}
		// When its next step falls due there is nothing to follow: it exits.
		e = mustApply(t, v2, e, cadence.Event{Kind: cadence.EvDue, At: e.DueAt.Add(time.Minute)})
		if e.State != cadence.Exited || !strings.Contains(e.Reason, "stage s1 is not in version "+v2.Version) {
			t.Fatalf("%s: %s (%q), want exited because the stage is gone", st, e.State, e.Reason)
		}
	}
}

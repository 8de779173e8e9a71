package cadence_test

import (
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

const goalSim = `id: g
name: Goal
timezone: America/Chicago
from: {email: "a@example.com"}
postal_address: "1 Main St"
stages:
  - id: s1
    touches:
      - {id: a, channel: email, template: mail}
      - {id: b, channel: email, delay: 2d, template: mail}
      - {id: c, channel: email, delay: 2d, template: mail}
    advance:
      - {on: no_engagement, after: 30d, to: exit}
      - {on: goal, goal: demo, to: won}
  - id: won
    touches:
      - {id: thanks, channel: email, template: mail}
templates:
  mail: {subject: "Hi", text: "Hello"}
`

// The simulated goal is the one the cadence's goal rule or goal exit names.
func TestSimulateUsesTheNamedGoal(t *testing.T) {
	c := mustParse(t, goalSim)
	rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 2000, Seed: 1, Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entered["won"] == 0 {
		t.Errorf("no prospect reached the goal stage: %v", rep.Entered)
	}
	// No A/B section for a cadence without variants.
	var out strings.Builder
	rep.WriteText(&out, c)
	if strings.Contains(out.String(), "A/B variants") {
		t.Errorf("an A/B section without variants:\n%s", out.String())
	}
	exits := strings.Replace(goalSim, "      - {on: goal, goal: demo, to: won}\n", "", 1) + "exit:\n  - on: unsubscribe\n  - {on: goal, goal: demo}\n"
	c = mustParse(t, exits)
	rep, err = cadence.Simulate(c, cadence.SimConfig{Prospects: 2000, Seed: 1, Days: 30})
	if err != nil {
		t.Fatal(err)
	}
	goals := 0
	for k, n := range rep.Final {
		if strings.Contains(k, "goal") {
			goals += n
		}
	}
	if goals == 0 {
		t.Errorf("no prospect exited on the goal: %v", rep.Final)
	}
}

func TestSimulateReport(t *testing.T) {
	c, err := cadence.LoadFile("../examples/saas-trial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 300, Seed: 3, Days: 60, RecordEmails: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Transitions <= 0 || len(rep.Emails) == 0 || len(rep.Emails) != rep.Sends[cadence.Email] {
		t.Fatalf("transitions %d, %d recorded emails for %d sent", rep.Transitions, len(rep.Emails), rep.Sends[cadence.Email])
	}
	for _, e := range rep.Emails {
		if e.Touch.Channel != cadence.Email {
			t.Fatalf("recorded a %s send", e.Touch.Channel)
		}
	}
	// Days runs from 1 to 3650.
	for days, ok := range map[int]bool{1: true, 3650: true, 3651: false} {
		if _, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 1, Seed: 3, Days: days}); (err == nil) != ok {
			t.Errorf("days %d: %v", days, err)
		}
	}
}

package cadence_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// base is a valid cadence with two stages, variants and both channels; the
// tables below each break one thing in it.
const base = `id: saas-trial
name: SaaS trial
timezone: America/New_York
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "Acme Inc., 100 Main Street, Springfield, IL 62701"
send_window: {days: mon-fri, start: "09:00", end: "17:00"}
stages:
  - id: awareness
    touches:
      - id: welcome
        channel: email
        delay: 0
        template: welcome
      - id: follow-up
        channel: email
        delay: 2d
        template: follow-up
      - id: checkin
        channel: sms
        delay: 1 business day
        template: checkin-sms
        if: [has_phone]
    advance:
      - {on: click, to: decision}
  - id: decision
    touches:
      - id: demo
        channel: email
        delay: 1d
        variants:
          - {id: short, template: welcome, weight: 1}
          - {id: long, template: follow-up, weight: 1}
    then: complete
templates:
  welcome:
    subject: "Welcome, {{ .FirstName | default \"there\" }}"
    text: |
      Hi {{ .FirstName | default "there" }}, your trial is live.
  follow-up:
    subject: "Re: Welcome"
    text: "Did you get a chance to connect your data?"
  checkin-sms:
    sms: "Stuck? Reply here. Reply STOP to opt out."
`

func TestBaseIsValid(t *testing.T) {
	c, err := cadence.Parse("saas.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Stages) != 2 || len(c.Templates) != 3 {
		t.Fatalf("stages %d, templates %d", len(c.Stages), len(c.Templates))
	}
}

// edit replaces old, which must occur exactly once in base.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if n := strings.Count(base, old); n != 1 {
		t.Fatalf("%q occurs %d times in base", old, n)
	}
	return strings.Replace(base, old, new, 1)
}

func allProblems(t *testing.T, src string) string {
	t.Helper()
	_, err := cadence.Parse("saas.yaml", []byte(src))
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	return ve.Error()
}

// TestEveryProblemAtOnce is the file from the issue: an unknown stage in a
// rule, a bad delay and a bad time, plus a misspelt key. Before, the
// decode problems hid the unknown stage.
func TestEveryProblemAtOnce(t *testing.T) {
	src := `id: saas-trial
name: SaaS trial
timezone: America/New_York
from: {email: "Acme <hello@acme.example>"}
postal_address: "Acme Inc., 100 Main Street, Springfield, IL 62701"
send_windw: {days: mon-fri, start: "09:00", end: "17:00"}
stages:
  - id: awareness
    touches:
      - id: welcome
        channel: email
        delay: 2 fortnights
        template: welcome
        window: {start: "9am", end: "17:00"}
    advance:
      - {on: click, to: decisoin}
  - id: decision
    touches:
      - {id: demo, channel: email, delay: 1d, template: welcome}
templates:
  welcome: {subject: "Welcome", text: "Hi {{ .FirstName | default \"there\" }}"}
`
	want := strings.Join([]string{
		`saas.yaml:6:1: send_windw: unknown field; did you mean send_window?`,
		`saas.yaml:12:16: stages[0].touches[0].delay: cannot read "2 fortnights" as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)`,
		`saas.yaml:14:25: stages[0].touches[0].window.start: cannot read "9am" as a time of day (expected HH:MM, 00:00 to 24:00)`,
		`saas.yaml:16:25: stages[0].advance[0].to: unknown stage "decisoin"; did you mean decision?`,
	}, "\n")
	if got := allProblems(t, src); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestProblemMessages has one case per kind of problem, with the exact and
// complete list of problems, so a check that adds noise about a field that
// is already reported fails here too.
func TestProblemMessages(t *testing.T) {
	cases := []struct {
		name string
		src  func(t *testing.T) string
		want []string
	}{
		// Keys.
		{"misspelt key", func(t *testing.T) string { return edit(t, "send_window:", "send_windw:") },
			[]string{`saas.yaml:6:1: send_windw: unknown field; did you mean send_window?`}},
		{"misspelt key, wrong case", func(t *testing.T) string { return edit(t, "postal_address:", "Postal_Address:") },
			[]string{`saas.yaml:5:1: Postal_Address: unknown field; did you mean postal_address?`}},
		{"unknown key, nothing close", func(t *testing.T) string { return edit(t, "send_window:", "colour: blue\nsend_window:") },
			[]string{`saas.yaml:6:1: colour: unknown field (expected one of: id, name, description, timezone, from, postal_address, send_window, holidays, sms_quiet_hours, frequency_caps, reply, exit, stages, templates)`}},
		{"misspelt required key is not also missing", func(t *testing.T) string {
			return edit(t, "        channel: sms\n", "        chanel: sms\n")
		}, []string{`saas.yaml:19:9: stages[0].touches[2].chanel: unknown field; did you mean channel?`}},
		{"misspelt template key: no 'needs a template' as well", func(t *testing.T) string {
			return edit(t, "        template: welcome\n", "        tempalte: welcome\n")
		}, []string{`saas.yaml:13:9: stages[0].touches[0].tempalte: unknown field; did you mean template?`}},
		{"a key given twice", func(t *testing.T) string { return edit(t, "name: SaaS trial\n", "name: SaaS trial\nname: again\n") },
			[]string{`saas.yaml:3:1: name: field "name" is given twice`}},
		{"required key missing", func(t *testing.T) string { return edit(t, "name: SaaS trial\n", "") },
			[]string{`saas.yaml:1:1: name: required field "name" is missing`}},
		{"wrong type", func(t *testing.T) string {
			return edit(t, "    then: complete\n", "    then: complete\n    advance: click\n")
		},
			[]string{`saas.yaml:34:14: stages[1].advance: expected a list, found "click"`}},

		// Values.
		{"misspelt choice", func(t *testing.T) string { return edit(t, "        channel: sms\n", "        channel: smss\n") },
			[]string{`saas.yaml:19:18: stages[0].touches[2].channel: found "smss", expected one of: email, sms; did you mean sms?`}},
		{"unknown choice", func(t *testing.T) string { return edit(t, "        channel: sms\n", "        channel: pigeon\n") },
			[]string{`saas.yaml:19:18: stages[0].touches[2].channel: found "pigeon", expected one of: email, sms`}},
		{"bad delay", func(t *testing.T) string { return edit(t, "delay: 2d", "delay: 2 fortnights") },
			[]string{`saas.yaml:16:16: stages[0].touches[1].delay: cannot read "2 fortnights" as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)`}},
		{"bad time", func(t *testing.T) string { return edit(t, `start: "09:00"`, `start: "9am"`) },
			[]string{`saas.yaml:6:37: send_window.start: cannot read "9am" as a time of day (expected HH:MM, 00:00 to 24:00)`}},
		{"bad time does not also make the window close before it opens", func(t *testing.T) string { return edit(t, `end: "17:00"`, `end: "5pm"`) },
			[]string{`saas.yaml:6:51: send_window.end: cannot read "5pm" as a time of day (expected HH:MM, 00:00 to 24:00)`}},
		{"window closes before it opens", func(t *testing.T) string { return edit(t, `end: "17:00"`, `end: "08:00"`) },
			[]string{`saas.yaml:6:51: send_window.end: window closes at 08:00, not after it opens at 09:00`}},
		{"bad days", func(t *testing.T) string { return edit(t, "days: mon-fri", "days: [mon, someday]") },
			[]string{`saas.yaml:6:27: send_window.days: cannot read "someday" as a day of week (expected mon..sun, a range like mon-fri, weekdays, weekends or everyday)`}},
		{"bad holiday", func(t *testing.T) string { return edit(t, "stages:\n", "holidays: [2026-13-01]\nstages:\n") },
			[]string{`saas.yaml:7:12: holidays[0]: cannot read "2026-13-01" as a date (expected YYYY-MM-DD)`}},
		{"bad time zone", func(t *testing.T) string { return edit(t, "America/New_York", "America/New_Yrok") },
			[]string{`saas.yaml:3:11: timezone: unknown time zone "America/New_Yrok" (expected an IANA name such as America/Chicago)`}},
		{"bad id", func(t *testing.T) string { return edit(t, "id: saas-trial", "id: SaaS Trial") },
			[]string{`saas.yaml:1:5: id: "SaaS Trial" is not a valid id (lowercase letters, digits, - and _, at most 63)`}},
		{"bad sender number", func(t *testing.T) string { return edit(t, `"+15005550006"`, `"555-0006"`) },
			[]string{`saas.yaml:4:49: from.sms: "555-0006" is not an E.164 number (expected +15551234567)`}},

		// Stages.
		{"misspelt stage in a rule", func(t *testing.T) string { return edit(t, "to: decision", "to: decisoin") },
			[]string{`saas.yaml:24:25: stages[0].advance[0].to: unknown stage "decisoin"; did you mean decision?`}},
		{"unknown stage in a rule", func(t *testing.T) string { return edit(t, "to: decision", "to: nowhere") },
			[]string{`saas.yaml:24:25: stages[0].advance[0].to: unknown stage "nowhere" (stages: awareness, decision; or complete, exit)`}},
		{"misspelt then", func(t *testing.T) string { return edit(t, "then: complete", "then: compelte") },
			[]string{`saas.yaml:33:11: stages[1].then: unknown stage "compelte"; did you mean complete?`}},
		{"misspelt reply stage", func(t *testing.T) string {
			return edit(t, "stages:\n", "reply: {action: advance, to: decison}\nstages:\n")
		},
			[]string{`saas.yaml:7:30: reply.to: unknown stage "decison"; did you mean decision?`}},
		{"duplicate stage id", func(t *testing.T) string { return edit(t, "  - id: decision\n", "  - id: awareness\n") },
			[]string{
				`saas.yaml:24:25: stages[0].advance[0].to: unknown stage "decision" (stages: awareness; or complete, exit)`,
				`saas.yaml:25:9: stages[1].id: duplicate stage id "awareness"`,
			}},
		{"rule naming a stage whose id is broken is not also unknown", func(t *testing.T) string {
			return edit(t, "  - id: decision\n", "  - id: [decision]\n")
		}, []string{`saas.yaml:25:9: stages[1].id: expected a single value, found a list`}},

		// Touches.
		{"duplicate touch id", func(t *testing.T) string { return edit(t, "      - id: follow-up\n", "      - id: welcome\n") },
			[]string{`saas.yaml:14:13: stages[0].touches[1].id: duplicate touch id "welcome" (first at saas.yaml:10:9)`}},
		{"misspelt condition", func(t *testing.T) string { return edit(t, "if: [has_phone]", "if: [has_phon]") },
			[]string{`saas.yaml:22:14: stages[0].touches[2].if[0]: unknown condition "has_phon"; did you mean has_phone?`}},

		// Templates.
		{"misspelt template", func(t *testing.T) string { return edit(t, "template: follow-up\n", "template: follow_up\n") },
			[]string{`saas.yaml:17:19: stages[0].touches[1].template: template "follow_up" is not defined; did you mean follow-up?`}},
		{"unknown template", func(t *testing.T) string { return edit(t, "template: follow-up\n", "template: goodbye\n") },
			[]string{`saas.yaml:17:19: stages[0].touches[1].template: template "goodbye" is not defined (templates: checkin-sms, follow-up, welcome)`}},
		{"misspelt variant template", func(t *testing.T) string { return edit(t, "template: welcome, weight", "template: welcom, weight") },
			[]string{`saas.yaml:31:35: stages[1].touches[0].variants[0].template: template "welcom" is not defined; did you mean welcome?`}},
		{"template of the other channel", func(t *testing.T) string {
			return edit(t, "template: checkin-sms", "template: welcome\n        thread: true")
		},
			[]string{
				`saas.yaml:21:19: stages[0].touches[2].template: template "welcome" is an email template, but the touch is sms`,
				`saas.yaml:22:17: stages[0].touches[2].thread: only email touches can thread`,
			}},
		{"misspelt template function", func(t *testing.T) string { return edit(t, `"Re: Welcome"`, `"Re: {{ .FirstName | uper }}"`) },
			[]string{`saas.yaml:40:35: templates.follow-up.subject: function "uper" not defined; did you mean upper?`}},
		{"misspelt template function in a block", func(t *testing.T) string {
			return edit(t, `      Hi {{ .FirstName | default "there" }}, your trial is live.`, "      Hi there,\n      your trial is {{ \"live\" | titel }}.")
		}, []string{`saas.yaml:39:33: templates.welcome.text: function "titel" not defined; did you mean title?`}},
		{"unknown template function", func(t *testing.T) string { return edit(t, `"Re: Welcome"`, `"Re: {{ shout .FirstName }}"`) },
			[]string{`saas.yaml:40:22: templates.follow-up.subject: function "shout" not defined (functions: default, lower, title, trim, upper)`}},
		{"misspelt template field", func(t *testing.T) string { return edit(t, `"Re: Welcome"`, `"Re: {{ .Firstname | default \"you\" }}"`) },
			[]string{`saas.yaml:40:22: templates.follow-up.subject: unknown field .Firstname; did you mean .FirstName?`}},
		{"broken template is not also undefined", func(t *testing.T) string { return edit(t, `"Re: Welcome"`, `["Re: Welcome"]`) },
			[]string{`saas.yaml:40:14: templates.follow-up.subject: expected a single value, found a list`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Join(tc.want, "\n")
			if got := allProblems(t, tc.src(t)); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	cases := []struct {
		name       string
		candidates []string
		want       string // "" for no suggestion
	}{
		{"send_windw", []string{"send_window", "sms_quiet_hours"}, "send_window"},
		{"decisoin", []string{"awareness", "decision", "complete", "exit"}, "decision"}, // a swap is one edit
		{"follow_up", []string{"welcome", "follow-up"}, "follow-up"},
		{"uper", []string{"default", "upper", "lower", "trim", "title"}, "upper"},
		{"Channel", []string{"id", "channel"}, "channel"}, // case is ignored
		{"ID", []string{"id", "name"}, "id"},
		{"stage_entyr", []string{"previous", "stage_entry"}, "stage_entry"},
		{"tempalte", []string{"template", "variants"}, "template"},
		{"templte", []string{"template", "variants"}, "template"},
		{"sesnd_windw", []string{"send_window"}, "send_window"}, // two edits in a long name
		{"sned_widnwo", []string{"send_window"}, ""},            // three is too many
		{"tmie", []string{"time"}, "time"},
		{"tmei", []string{"time"}, ""},                       // two edits in four letters is too many
		{"if", []string{"id", "name"}, ""},                   // two letters: only case differences
		{"cap", []string{"cat", "car"}, ""},                  // a tie is no suggestion
		{"lowr", []string{"lower", "power"}, "lower"},        // one edit beats two
		{"colour", []string{"id", "name", "stages"}, ""},     // nothing close
		{"awareness", []string{"awareness", "decision"}, ""}, // itself is not a suggestion
		{"", []string{"a", "b"}, ""},
		{"x", nil, ""},
	}
	for _, tc := range cases {
		got, ok := cadence.Suggest(tc.name, tc.candidates)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Suggest(%q, %q) = %q, %v; want %q", tc.name, tc.candidates, got, ok, tc.want)
		}
	}
}

func TestLookupStageAndTouch(t *testing.T) {
	c := mustParse(t, base)
	if s, err := c.LookupStage("decision"); err != nil || s.ID != "decision" {
		t.Fatalf("LookupStage(decision) = %v, %v", s, err)
	}
	if tt, err := c.LookupTouch("checkin"); err != nil || tt.ID != "checkin" {
		t.Fatalf("LookupTouch(checkin) = %v, %v", tt, err)
	}
	for _, tc := range []struct {
		lookup func() error
		want   string
	}{
		{func() error { _, err := c.LookupTouch("folow-up"); return err }, `cadence saas-trial has no touch "folow-up"; did you mean follow-up?`},
		{func() error { _, err := c.LookupTouch("intro"); return err }, `cadence saas-trial has no touch "intro" (touches: checkin, demo, follow-up, welcome)`},
		{func() error { _, err := c.LookupStage("decisoin"); return err }, `cadence saas-trial has no stage "decisoin"; did you mean decision?`},
		{func() error { _, err := c.LookupStage("onboarding"); return err }, `cadence saas-trial has no stage "onboarding" (stages: awareness, decision)`},
	} {
		err := tc.lookup()
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %s", err, tc.want)
		}
		if !errors.Is(err, cadence.ErrNotFound) {
			t.Errorf("%v does not wrap ErrNotFound", err)
		}
	}
}

// BenchmarkParseManyProblems is a file near the size limit where every
// stage has an unknown stage, an unknown template, a bad delay and a
// misspelt key: the suggestions must not make loading quadratic.
func BenchmarkParseManyProblems(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("id: t\nname: T\ntimezone: UTC\nfrom: {email: a@example.com}\npostal_address: x\nstages:\n")
	for i := 0; sb.Len() < 900_000; i++ {
		fmt.Fprintf(&sb, "  - id: s%d\n    touches:\n      - {id: t%d, channel: email, delay: 2 fortnights, template: nope, tempalte: x}\n    advance:\n      - {on: click, to: nowhere%d}\n", i, i, i)
	}
	src := []byte(sb.String())
	for b.Loop() {
		if _, err := cadence.Parse("big.yaml", src); err == nil {
			b.Fatal("no problems found")
		}
	}
}

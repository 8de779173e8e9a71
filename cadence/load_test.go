package cadence_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// minimal is a valid cadence the table tests edit.
const minimal = `id: t
name: Test
timezone: America/Chicago
from: {email: "a@example.com", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
stages:
  - id: awareness
    touches:
      - id: hello
        channel: email
        template: hello
templates:
  hello:
    subject: "Hi"
    text: "Hello {{ .FirstName | default \"there\" }}"
`

func mustParse(t *testing.T, src string) *cadence.Cadence {
	t.Helper()
	c, err := cadence.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func problems(t *testing.T, src string) []string {
	t.Helper()
	_, err := cadence.Parse("test.yaml", []byte(src))
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.Error()
	}
	return out
}

func TestExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("expected at least two examples, found %v", files)
	}
	for _, f := range files {
		c, err := cadence.LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !strings.HasPrefix(c.Version, "v") || len(c.Version) != 13 {
			t.Errorf("%s: version %q", f, c.Version)
		}
		// An example's id is its file name, so no two share one.
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); c.ID != want {
			t.Errorf("%s: id %q, want %q", f, c.ID, want)
		}
	}
}

func TestLoadReportsEveryProblemWithPosition(t *testing.T) {
	// One pass: problems found while decoding (a bad zone, an unknown
	// field, a bad delay, a bad channel) and the checks that need the whole
	// file (unknown stages and templates, duplicate ids, templates that do
	// not compile) are all reported together, in file order.
	_, err := cadence.LoadFile("testdata/bad.yaml")
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want ValidationError, got %v", err)
	}
	want := []string{
		`testdata/bad.yaml:1:5: id: "Bad Id" is not a valid id (lowercase letters, digits, - and _, at most 63)`,
		`testdata/bad.yaml:3:11: timezone: unknown time zone "Mars/Olympus" (expected an IANA name such as America/Chicago)`,
		`testdata/bad.yaml:4:1: colour: unknown field (expected one of: id, name, description, timezone, from, postal_address, send_window, holidays, sms_quiet_hours, frequency_caps, reply, exit, stages, templates)`,
		`testdata/bad.yaml:6:3: from: the cadence has SMS touches but from gives neither sms nor messaging_service`,
		`testdata/bad.yaml:10:8: send_window.end: window closes at 09:00, not after it opens at 17:00`,
		`testdata/bad.yaml:15:18: stages[0].touches[0].channel: email touch, but postal_address is not set (required in every marketing email)`,
		`testdata/bad.yaml:16:16: stages[0].touches[0].delay: cannot read "2 fortnights" as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)`,
		`testdata/bad.yaml:18:13: stages[0].touches[1].id: duplicate touch id "hello" (first at testdata/bad.yaml:14:9)`,
		`testdata/bad.yaml:20:19: stages[0].touches[1].template: template "nope" is not defined (templates: hello, long-sms)`,
		`testdata/bad.yaml:22:18: stages[0].touches[2].channel: found "pigeon", expected one of: email, sms`,
		`testdata/bad.yaml:26:13: stages[0].advance[0].to: unknown stage "nowhere" (stages: awareness; or complete, exit)`,
		`testdata/bad.yaml:29:14: templates.hello.subject: unclosed action`,
		`testdata/bad.yaml:33:10: templates.hello.text: function "shout" not defined (functions: default, lower, title, trim, upper)`,
		`testdata/bad.yaml:35:10: templates.long-sms.sms: body is 11 segments, 1579 characters (GSM-7) before personalization; the limit is 10 segments and 1600 characters`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestSemanticProblems(t *testing.T) {
	src := `id: Bad Id
name: Test
timezone: America/Chicago
from: {email: "a@example.com"}
send_window:
  days: mon-fri
  start: "17:00"
  end: "09:00"
stages:
  - id: awareness
    touches:
      - id: hello
        channel: email
        template: hello
      - id: hello
        channel: sms
        template: nope
      - id: sms2
        channel: sms
        template: hello
    advance:
      - on: click
        to: nowhere
      - on: no_engagement
        to: awareness
  - id: awareness
templates:
  hello:
    subject: "Hi {{ .FirstName "
    text: |
      Hello
      {{ shout .FirstName }}
  other:
    subject: "x"
    text: |
      Hello
      {{ .Nickname }}
`
	got := strings.Join(problems(t, src), "\n")
	for _, want := range []string{
		`test.yaml:1:5: id: "Bad Id" is not a valid id`,
		`test.yaml:8:8: send_window.end: window closes at 09:00, not after it opens at 17:00`,
		`test.yaml:13:18: stages[0].touches[0].channel: email touch, but postal_address is not set`,
		`test.yaml:15:13: stages[0].touches[1].id: duplicate touch id "hello" (first at test.yaml:12:9)`,
		`test.yaml:17:19: stages[0].touches[1].template: template "nope" is not defined (templates: hello, other)`,
		`test.yaml:23:13: stages[0].advance[0].to: unknown stage "nowhere" (stages: awareness; or complete, exit)`,
		`test.yaml:24:9: stages[0].advance[1].after: on: no_engagement needs after`,
		`test.yaml:26:9: stages[1].id: duplicate stage id "awareness"`,
		`test.yaml:29:14: templates.hello.subject:`,
		`test.yaml:32:10: templates.hello.text: function "shout" not defined (functions: default, lower, title, trim, upper)`,
		`test.yaml:37:10: templates.other.text: unknown field .Nickname (known: FirstName, `,
		`test.yaml:4:7: from: the cadence has SMS touches but from gives neither sms nor messaging_service`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestMalformedInputNeverPanics(t *testing.T) {
	cases := map[string]struct{ src, want string }{
		"empty":          {"", "empty file"},
		"not yaml":       {"id: [unclosed", "malformed YAML"},
		"tabs":           {"id: t\n\tname: x", "malformed YAML"},
		"scalar root":    {"just a string", "expected a mapping"},
		"list root":      {"- a\n- b", "expected a mapping"},
		"wrong type":     {strings.Replace(minimal, "stages:", "stages: 5\nx_stages:", 1), "stages: expected a list"},
		"stage not map":  {strings.Replace(minimal, "  - id: awareness\n", "  - awareness\n  - id: awareness\n", 1), "stages[0]: expected a mapping"},
		"alias":          {"id: &a t\nname: *a", "aliases are not supported"},
		"unbalanced tpl": {strings.Replace(minimal, `subject: "Hi"`, `subject: "Hi {{"`, 1), "templates.hello.subject"},
		"missing ref":    {strings.Replace(minimal, "template: hello", "template: bye", 1), `template "bye" is not defined`},
		"kind mismatch":  {strings.Replace(minimal, "channel: email", "channel: sms", 1), `template "hello" is an email template, but the touch is sms`},
		"bad window":     {minimal + "send_window: {start: \"25:00\", end: \"09:00\"}\n", `cannot read "25:00" as a time of day`},
		"bad days":       {minimal + "send_window: {days: [someday], start: \"09:00\", end: \"10:00\"}\n", `cannot read "someday" as a day of week`},
		"bad holiday":    {minimal + "holidays: [2026-13-01]\n", "expected YYYY-MM-DD"},
		"bad condition":  {strings.Replace(minimal, "template: hello\n", "template: hello\n        if: [is_vip]\n", 1), `unknown condition "is_vip"`},
		"duplicate key":  {minimal + "name: again\n", `field "name" is given twice`},
		"wide quiet":     {minimal + "sms_quiet_hours: {start: \"07:00\", end: \"21:00\"}\n", "wider than the legal 08:00-21:00"},
		"bad cap":        {minimal + "frequency_caps: {email: {max: 0, per: 1d}}\n", "must be at least 1"},
		"sms too long":   {minimal + "  long:\n    sms: \"" + strings.Repeat("x", 1700) + "\"\n", "the limit is 10 segments"},
		"bad sender":     {strings.Replace(minimal, `+15005550006`, `555-0006`, 1), "not an E.164 number"},
		"deep nesting":   {"templates: " + strings.Repeat("[", 200) + strings.Repeat("]", 200), "templates: expected a mapping"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := cadence.Parse("test.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestHugeFileIsRejectedUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, []byte("id: t\nname: "+strings.Repeat("x", 10<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := cadence.LoadFile(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestVersionFollowsContentNotFormatting(t *testing.T) {
	a := mustParse(t, minimal)
	reformatted := "# a comment\n" + strings.Replace(minimal, `from: {email: "a@example.com", sms: "+15005550006"}`, "from:\n  sms: \"+15005550006\"\n  email: a@example.com", 1)
	b := mustParse(t, reformatted)
	if a.Version != b.Version {
		t.Errorf("reformatting changed the version: %s vs %s", a.Version, b.Version)
	}
	c := mustParse(t, strings.Replace(minimal, `subject: "Hi"`, `subject: "Hello"`, 1))
	if c.Version == a.Version {
		t.Errorf("editing a template kept version %s", a.Version)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	if c.Reply.Action != cadence.ReplyWarm || c.Reply.AutoReplySnooze.Days != 7 {
		t.Errorf("reply policy defaults: %+v", c.Reply)
	}
	if len(c.Exits) != 3 {
		t.Errorf("default exits: %+v", c.Exits)
	}
	if c.Window != cadence.DefaultWindow {
		t.Errorf("default window: %v", c.Window)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	for _, p := range []string{"../examples/saas-trial.yaml", "../examples/shop-winback.yaml", "testdata/bad.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("id: &a [*a]"))
	f.Add([]byte(misindented))
	f.Add([]byte("from: {email: [a\n\"b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := cadence.Parse("fuzz.yaml", data)
		if err == nil && (c == nil || len(c.Stages) == 0) {
			t.Fatalf("nil error but no usable cadence")
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("empty error message")
		}
	})
}

package cadence_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// onlyProblem parses src as file and returns its one problem.
func onlyProblem(t *testing.T, file, src string) *cadence.FieldError {
	t.Helper()
	_, err := cadence.Parse(file, []byte(src))
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	if len(ve.Problems) != 1 {
		t.Fatalf("want one problem, got %d:\n%v", len(ve.Problems), err)
	}
	return ve.Problems[0]
}

// The file a new user wrote: a touch's channel indented one space too
// little on line 7. gopkg.in/yaml.v3 reported "saas.yaml:3: malformed YAML:
// 3: did not find expected key", line 3 being "stages:".
const misindented = `id: saas-trial
name: SaaS trial
stages:
  - id: awareness
    touches:
    - id: welcome
     channel: email
      template: welcome
`

func TestSyntaxErrorPointsAtTheMistake(t *testing.T) {
	cases := []struct {
		name, src, want, snippet string
	}{
		{"key indented one space too little", misindented,
			`saas.yaml:7:6: malformed YAML: did not find expected key; check the indentation: "channel" is at column 6, "id" on line 6 at column 7`,
			"     channel: email\n     ^"},
		{"key indented one space too little, indented list",
			"id: t\nname: T\nstages:\n  - id: awareness\n    touches:\n      - id: welcome\n       channel: email\n        template: welcome\n",
			`saas.yaml:7:8: malformed YAML: did not find expected '-' indicator; check the indentation: "channel" is at column 8, "id" on line 6 at column 9`,
			"       channel: email\n       ^"},
		{"key indented one space too much",
			"id: t\nname: T\nstages:\n  - id: awareness\n    touches:\n      - id: welcome\n         channel: email\n",
			`saas.yaml:7:10: malformed YAML: mapping values are not allowed in this context; check the indentation: "channel" is at column 10, deeper than "id" on line 6 at column 9`,
			"         channel: email\n         ^"},
		{"top-level key indented",
			"id: t\n name: T\n",
			`saas.yaml:2:2: malformed YAML: mapping values are not allowed in this context; check the indentation: "name" is at column 2, deeper than "id" on line 1 at column 1`,
			" name: T\n ^"},
		{"nested key between two levels",
			"id: t\nfrom:\n  email: a@example.com\n sms: \"+15005550006\"\n",
			`saas.yaml:4:2: malformed YAML: did not find expected key; check the indentation: "sms" is at column 2, "email" on line 3 at column 3`,
			` sms: "+15005550006"` + "\n ^"},
		{"key after a block scalar",
			"templates:\n  hello:\n    text: |\n      Hello\n   subject: Hi\n",
			`saas.yaml:5:4: malformed YAML: did not find expected key; check the indentation: "subject" is at column 4, "text" on line 3 at column 5`,
			"   subject: Hi\n   ^"},
		{"list item indented one space too little",
			"stages:\n  - id: a\n  - id: b\n - id: c\n",
			`saas.yaml:4:2: malformed YAML: did not find expected key; check the indentation: the list item is at column 2, the list item on line 3 at column 3`,
			" - id: c\n ^"},
		{"key among list items",
			"holidays:\n  - 2026-12-25\n  stages: []\n",
			`saas.yaml:3:3: malformed YAML: did not find expected '-' indicator; "stages" lines up with the list item on line 2 but does not start with "- "`,
			"  stages: []\n  ^"},
		{"colon in a plain value",
			"id: t\nname: Trial: 14 days\n",
			`saas.yaml:2:12: malformed YAML: mapping values are not allowed in this context; quote a value that contains ": "`,
			"name: Trial: 14 days\n           ^"},
		{"tab indentation",
			"id: t\n\tname: T\n",
			`saas.yaml:2:1: malformed YAML: found a tab character that violates indentation; indent with spaces, not tabs`,
			"\tname: T\n^"},
		{"unclosed list",
			"id: t\nholidays: [2026-12-25\n# the end\n",
			`saas.yaml:2:11: malformed YAML: this [ is never closed (no ] before the end of the file)`,
			"holidays: [2026-12-25\n          ^"},
		{"unclosed quote",
			"id: t\nname: \"Trial\nstages: []\n",
			`saas.yaml:2:7: malformed YAML: this " is never closed (no " before the end of the file)`,
			"name: \"Trial\n      ^"},
		{"unclosed mapping followed by more",
			"from: {email: a@example.com\nname: T\n",
			`saas.yaml:2:5: malformed YAML: did not find expected ',' or '}'; the { at line 1, column 7 is still open here`,
			"name: T\n    ^"},
		{"key without a colon",
			"id: t\nname: T\nstages\ntimezone: UTC\n",
			`saas.yaml:3:1: malformed YAML: could not find expected ':' after "stages"`,
			"stages\n^"},
		{"character that starts no value",
			"id: t\nname: @home\n",
			`saas.yaml:2:7: malformed YAML: found character that cannot start any token; quote the value`,
			"name: @home\n      ^"},
		{"error in a second document",
			minimal + "---\nstages:\n  - id: a\n - id: b\n",
			`saas.yaml:19:2: malformed YAML: did not find expected key; check the indentation: the list item is at column 2, the list item on line 18 at column 3`,
			" - id: b\n ^"},
		{"CRLF line ends and a byte order mark",
			"\ufeffid: t\r\n name: T\r\n",
			`saas.yaml:2:2: malformed YAML: mapping values are not allowed in this context; check the indentation: "name" is at column 2, deeper than "id" on line 1 at column 1`,
			" name: T\n ^"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := onlyProblem(t, "saas.yaml", tc.src)
			if got := p.Error(); got != tc.want {
				t.Errorf("message\n got: %s\nwant: %s", got, tc.want)
			}
			if got := p.Snippet([]byte(tc.src)); got != tc.snippet {
				t.Errorf("snippet\n got: %q\nwant: %q", got, tc.snippet)
			}
		})
	}
}

func TestSecondDocumentIsAProblem(t *testing.T) {
	src := minimal + "---\nid: other\n"
	got := problems(t, src)
	want := []string{"test.yaml:16:1: a second YAML document starts here; a cadence file holds one (remove the --- and what follows, or put it in its own file)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A trailing separator with nothing after it is harmless.
	mustParse(t, minimal+"---\n")
}

func TestSnippet(t *testing.T) {
	src := []byte("id: t\n\tname:\tx\nlast")
	long := strings.Repeat("a", 100) + "X" + strings.Repeat("b", 100)
	cases := []struct {
		name string
		src  []byte
		pos  cadence.Pos
		want string
	}{
		{"caret under the column", src, cadence.Pos{Line: 1, Column: 5}, "id: t\n    ^"},
		{"tabs kept so the caret lines up", src, cadence.Pos{Line: 2, Column: 8}, "\tname:\tx\n\t     \t^"},
		{"no column: the line alone", src, cadence.Pos{Line: 2}, "\tname:\tx"},
		{"last line without a newline", src, cadence.Pos{Line: 3, Column: 1}, "last\n^"},
		{"caret just past the end", src, cadence.Pos{Line: 3, Column: 5}, "last\n    ^"},
		{"line past the end of the file", src, cadence.Pos{Line: 4, Column: 1}, ""},
		{"no line", src, cadence.Pos{}, ""},
		{"long line cut around the column", []byte(long), cadence.Pos{Line: 1, Column: 101},
			"…" + long[40:160] + "…\n" + strings.Repeat(" ", 61) + "^"},
		{"long line, column near the start", []byte(long), cadence.Pos{Line: 1, Column: 3},
			long[:120] + "…\n  ^"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &cadence.FieldError{Pos: tc.pos, Msg: "x"}
			if got := e.Snippet(tc.src); got != tc.want {
				t.Errorf("got:\n%q\nwant:\n%q", got, tc.want)
			}
		})
	}
}

func TestRenderShowsEveryProblemWithItsLine(t *testing.T) {
	src := strings.Replace(minimal, "channel: email", "channel: email\n        delay: 2 fortnights", 1) + "send_window: {start: \"9am\", end: \"17:00\"}\n"
	_, err := cadence.Parse("test.yaml", []byte(src))
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	want := `test.yaml:11:16: stages[0].touches[0].delay: cannot read "2 fortnights" as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)
            delay: 2 fortnights
                   ^
test.yaml:17:22: send_window.start: cannot read "9am" as a time of day (expected HH:MM, 00:00 to 24:00)
    send_window: {start: "9am", end: "17:00"}
                         ^
`
	if got := ve.Render([]byte(src)); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoadFileErrorCarriesItsSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "saas.yaml")
	if err := os.WriteFile(path, []byte(misindented), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := cadence.LoadFile(path)
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	if string(ve.Source) != misindented {
		t.Fatalf("Source %q", ve.Source)
	}
	want := path + `:7:6: malformed YAML: did not find expected key; check the indentation: "channel" is at column 6, "id" on line 6 at column 7
         channel: email
         ^
`
	if got := ve.Render(nil); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

package cadence_test

import (
	"errors"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// YAML errors at the edges of the file and of a line keep their hints.
func TestSyntaxMessagesAtTheEdges(t *testing.T) {
	for src, want := range map[string]string{
		// The error on the last line, with no newline after it.
		"id: t\n name: x": `f.yaml:2:2: malformed YAML: mapping values are not allowed in this context; check the indentation: "name" is at column 2, deeper than "id" on line 1 at column 1`,
		// An opener in the first column, on the only line.
		"{id: t\n":        "f.yaml:1:1: malformed YAML: this { is never closed (no } before the end of the file)",
		"id: [a, b":       "f.yaml:1:5: malformed YAML: this [ is never closed (no ] before the end of the file)",
		"id: \"abc":       `f.yaml:1:5: malformed YAML: this " is never closed (no " before the end of the file)`,
		"id: t\n\"ab":     `f.yaml:2:1: malformed YAML: this " is never closed (no " before the end of the file)`,
		"id: t\nname: \"": `f.yaml:2:7: malformed YAML: this " is never closed (no " before the end of the file)`,
		// A key that starts with a dash is not a list item.
		"-x: 1\n  y: 2": `f.yaml:2:3: malformed YAML: mapping values are not allowed in this context; check the indentation: "y" is at column 3, deeper than "-x" on line 1 at column 1`,
		// The line above is a list item in the first column.
		"stages:\n- id: a\n    touches: x\n": `f.yaml:3:5: malformed YAML: mapping values are not allowed in this context; check the indentation: "touches" is at column 5, deeper than "id" on line 2 at column 3`,
	} {
		_, err := cadence.Parse("f.yaml", []byte(src))
		if err == nil || err.Error() != want {
			t.Errorf("%q:\ngot  %v\nwant %s", src, err, want)
		}
	}
	// Any other error is reported as it is, without a position.
	if p := cadence.SyntaxProblem("f.yaml", []byte("x"), errors.New("boom")); p.Pos.Line != 0 || p.Msg != "malformed YAML: boom" {
		t.Errorf("plain error: %+v", p)
	}
}

// A suggestion is made only when one candidate is closest, also when the
// other differs only by its length.
func TestSuggestTies(t *testing.T) {
	for _, c := range []struct {
		name  string
		cands []string
		want  string
	}{
		{"abcd", []string{"abce", "abcde"}, ""},
		{"abcde", []string{"abcdf", "abcd"}, ""},
		{"abcd", []string{"abce", "abxyz"}, "abce"},
	} {
		got, ok := cadence.Suggest(c.name, c.cands)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Suggest(%q, %q) = %q %v, want %q", c.name, c.cands, got, ok, c.want)
		}
	}
}

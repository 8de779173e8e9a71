package cadence_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// Validation at its boundaries: what is just allowed loads, what is just
// not is reported.
func TestValidationBoundaries(t *testing.T) {
	noEmail := strings.Replace(minimal, `from: {email: "a@example.com", sms: "+15005550006"}`, `from: {mailbox: owner, sms: "+15005550006"}`, 1)
	for name, src := range map[string]string{
		"quiet hours as wide as the law": minimal + "sms_quiet_hours: {start: \"08:00\", end: \"21:00\"}\n",
		"email from a mailbox only":      noEmail,
		"optional field null":            minimal + "description: ~\n",
	} {
		if _, err := cadence.Parse("test.yaml", []byte(src)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, tc := range map[string]struct{ src, want string }{
		"empty window":        {minimal + "send_window: {start: \"09:00\", end: \"09:00\"}\n", "send_window.end: window closes at 09:00, not after it opens at 09:00"},
		"zero cap period":     {minimal + "frequency_caps: {email: {max: 1, per: 0h}}\n", `frequency_caps.email.per: must be a positive period in minutes, hours or days, found "0h"`},
		"quiet hours earlier": {minimal + "sms_quiet_hours: {start: \"07:59\", end: \"21:00\"}\n", "wider than the legal 08:00-21:00"},
		"quiet hours later":   {minimal + "sms_quiet_hours: {start: \"08:00\", end: \"21:01\"}\n", "wider than the legal 08:00-21:00"},
		"required field null": {strings.Replace(minimal, "name: Test", "name: ~", 1), "test.yaml:2:7: name: is required and may not be empty"},
		"no sender for email": {strings.Replace(minimal, `from: {email: "a@example.com", sms: "+15005550006"}`, `from: {sms: "+15005550006"}`, 1), "email touch, but neither from.email nor from.mailbox is set"},
	} {
		got := problems(t, tc.src)
		if len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s: got %q, want one problem with %q", name, got, tc.want)
		}
	}
}

// A file of exactly MaxFileSize bytes is read; a bad one keeps its source
// for Render.
func TestFileOfMaxSize(t *testing.T) {
	pad := func(src string) []byte {
		return []byte(src + "#" + strings.Repeat("x", cadence.MaxFileSize-len(src)-2) + "\n")
	}
	ok := pad(minimal)
	if len(ok) != cadence.MaxFileSize {
		t.Fatalf("padded to %d", len(ok))
	}
	if _, err := cadence.Parse("test.yaml", ok); err != nil {
		t.Fatalf("a valid file of MaxFileSize bytes: %v", err)
	}
	bad := pad(strings.Replace(minimal, "name: Test", "name: ~", 1))
	_, err := cadence.Parse("test.yaml", bad)
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) || len(ve.Source) != cadence.MaxFileSize {
		t.Fatalf("an invalid file of MaxFileSize bytes: %v, source of %d bytes", err, len(ve.Source))
	}
}

// Problems come in file order, also within one line.
func TestProblemsInColumnOrder(t *testing.T) {
	got := problems(t, minimal+"send_window: {start: \"9am\", end: \"5pm\"}\n")
	if len(got) != 2 || !strings.Contains(got[0], "send_window.start") || !strings.Contains(got[1], "send_window.end") {
		t.Fatalf("got %q", got)
	}
}

func TestSnippetEdges(t *testing.T) {
	long := strings.Repeat("a", 100) + "X" + strings.Repeat("b", 100)
	for _, tc := range []struct {
		name string
		src  string
		pos  cadence.Pos
		want string
	}{
		{"long line, column near the end", long, cadence.Pos{Line: 1, Column: 195}, "…" + long[81:] + "\n" + strings.Repeat(" ", 114) + "^"},
		{"column far past the end", "last", cadence.Pos{Line: 1, Column: 8}, "last\n       ^"},
		{"byte order mark on line 1 dropped", "\ufeffid: t\nname: x", cadence.Pos{Line: 1, Column: 1}, "id: t\n^"},
		{"only on line 1", "id: t\n\ufeffname: x", cadence.Pos{Line: 2, Column: 1}, "\ufeffname: x\n^"},
	} {
		e := &cadence.FieldError{Pos: tc.pos, Msg: "x"}
		if got := e.Snippet([]byte(tc.src)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// Render shows the first and the last line's snippets too.
	ve := &cadence.ValidationError{Problems: []*cadence.FieldError{
		{Pos: cadence.Pos{File: "f.yaml", Line: 1, Column: 1}, Field: "x", Msg: "a"},
		{Pos: cadence.Pos{File: "f.yaml", Line: 3, Column: 2}, Field: "z", Msg: "b"},
	}}
	want := "f.yaml:1:1: x: a\n    x: 1\n    ^\nf.yaml:3:2: z: b\n    z: 3\n     ^\n"
	if got := ve.Render([]byte("x: 1\ny: 2\nz: 3")); got != want {
		t.Errorf("Render: got %q, want %q", got, want)
	}
}

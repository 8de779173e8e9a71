package cadence

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a cadence source file.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return "-"
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// FieldError is one problem in a cadence definition: where it is, which field
// (as a dotted path such as stages[1].touches[0].delay), what was found and
// what was expected.
type FieldError struct {
	Pos   Pos
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Field, e.Msg)
}

// Snippet returns the source line the problem is on and, when the column is
// known, a caret under that column, so a CLI, an API response and the
// dashboard can all show the same thing:
//
//	name: Trial: 14 days
//	           ^
//
// src is the file the problem was found in. Tabs before the column are
// kept in the caret line so it lines up however tabs are shown. A line
// longer than 120 characters is cut to the part around the column, marked
// with "…". Snippet returns "" when the position has no line or the line is
// not in src. The result has no trailing newline.
func (e *FieldError) Snippet(src []byte) string {
	line, ok := sourceLine(src, e.Pos.Line)
	if !ok {
		return ""
	}
	return snippet(line, e.Pos.Column)
}

// snippet renders line with a caret under col (1-based, in characters; 0
// means unknown, and gives the line alone).
func snippet(line string, col int) string {
	runes := []rune(line)
	const width, context = 120, 60
	if len(runes) > width {
		at := col - 1
		if at < 0 {
			at = 0
		}
		from := max(0, min(at-context, len(runes)-width))
		to := min(len(runes), from+width)
		cut := string(runes[from:to])
		if from > 0 {
			cut = "…" + cut
			col = col - from + 1
		}
		if to < len(runes) {
			cut += "…"
		}
		runes = []rune(cut)
	}
	if col <= 0 {
		return string(runes)
	}
	var caret strings.Builder
	for i := 0; i < col-1; i++ {
		if i < len(runes) && runes[i] == '\t' {
			caret.WriteRune('\t')
		} else {
			caret.WriteByte(' ')
		}
	}
	caret.WriteByte('^')
	return string(runes) + "\n" + caret.String()
}

// sourceLine returns line n (1-based) of src without its line break.
func sourceLine(src []byte, n int) (string, bool) {
	if n < 1 {
		return "", false
	}
	rest := src
	for i := 1; i < n; i++ {
		_, after, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			return "", false
		}
		rest = after
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	if n == 1 {
		line = bytes.TrimPrefix(line, []byte(bom))
	}
	return strings.TrimSuffix(string(line), "\r"), true
}

// ValidationError holds every problem found in one load, in file order.
type ValidationError struct {
	Problems []*FieldError
	// Source is the file that was parsed, for Render and Snippet (nil for
	// a file over MaxFileSize).
	Source []byte
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Render lists every problem like Error, each followed by its Snippet from
// src, the file that was parsed (nil means e.Source), indented by four
// spaces:
//
//	saas.yaml:7:6: malformed YAML: did not find expected key; …
//	         channel: email
//	         ^
//
// It ends with a newline.
func (e *ValidationError) Render(src []byte) string {
	if src == nil {
		src = e.Source
	}
	lines := splitLines(src)
	var b strings.Builder
	for _, p := range e.Problems {
		b.WriteString(p.Error())
		b.WriteByte('\n')
		if p.Pos.Line < 1 || p.Pos.Line > len(lines) {
			continue
		}
		if sn := snippet(lines[p.Pos.Line-1], p.Pos.Column); sn != "" {
			for _, l := range strings.Split(sn, "\n") {
				b.WriteString("    ")
				b.WriteString(l)
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

// Unwrap exposes each problem to errors.Is / errors.As.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// problems collects field errors during a load.
type problems struct {
	list []*FieldError
}

func (p *problems) add(pos Pos, field, format string, args ...any) {
	p.list = append(p.list, &FieldError{Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i].Pos, p.list[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &ValidationError{Problems: p.list}
}

// Sentinel errors callers branch on.
var (
	// ErrInvalidTransition is returned when an event does not apply to an
	// enrollment in its current state (for example resuming an active one).
	ErrInvalidTransition = errors.New("invalid transition")
	// ErrNoSendWindow means no allowed send time exists within the search
	// horizon (for example candidate time zones whose windows never overlap).
	ErrNoSendWindow = errors.New("no allowed send time")
	// ErrInvalidPhone is returned for a phone number that cannot be stored
	// as E.164.
	ErrInvalidPhone = errors.New("invalid phone number")
)

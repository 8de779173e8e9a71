package cadence

import (
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

// ValidationError holds every problem found in one load, in file order.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
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

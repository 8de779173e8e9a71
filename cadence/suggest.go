package cadence

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/nurture-dev/nurture/templates"
)

// Suggest returns the candidate that name is most likely a typo of: the
// one closest by edit distance (insertions, deletions, substitutions and
// swaps of two neighbouring characters, ignoring case), when that distance
// is small for the length of name (at most 1 for 3 to 5 characters, 2 for
// longer; names under 3 characters only match ignoring case) and no other
// candidate is as close. ok is false when there is no such candidate.
func Suggest(name string, candidates []string) (best string, ok bool) {
	n := []rune(strings.ToLower(name))
	limit := min(2, len(n)/3)
	bestDist, ties := limit+1, 0
	var rows [3][]int
	for _, c := range candidates {
		if c == name || c == best {
			continue
		}
		d := editDistance(n, []rune(strings.ToLower(c)), bestDist, &rows)
		switch {
		case d < bestDist:
			best, bestDist, ties = c, d, 1
		case d == bestDist && d <= limit:
			ties++
		}
	}
	if ties != 1 || bestDist > limit {
		return "", false
	}
	return best, true
}

// didYouMean is "; did you mean X?" for the closest candidate, or "".
func didYouMean(name string, candidates []string) string {
	if s, ok := Suggest(name, candidates); ok {
		return "; did you mean " + s + "?"
	}
	return ""
}

// suggestBudget bounds the work spent on suggestions in one file (in
// characters compared), so that a file of thousands of unknown names
// against thousands of stages still loads in milliseconds; past it,
// problems are reported without a suggestion.
const suggestBudget = 4 << 20

// didYouMean is the package didYouMean within the decoder's budget.
func (d *decoder) didYouMean(name string, candidates []string) string {
	cost := 0
	for _, c := range candidates {
		cost += len(name) * len(c)
	}
	if d.suggestCost+cost > suggestBudget {
		return ""
	}
	d.suggestCost += cost
	return didYouMean(name, candidates)
}

// editDistance is the optimal string alignment distance between a and b
// (Damerau-Levenshtein where no substring is edited twice). It stops early
// and returns a value > bound when the distance is certainly over bound.
// rows is scratch space reused across calls.
func editDistance(a, b []rune, bound int, rows *[3][]int) int {
	if d := len(a) - len(b); d > bound || -d > bound {
		return bound + 1
	}
	for i := range rows {
		if cap(rows[i]) < len(b)+1 {
			rows[i] = make([]int, len(b)+1)
		}
		rows[i] = rows[i][:len(b)+1]
	}
	// Two rows back (for swaps), previous, current.
	prev2, prev, cur := rows[0], rows[1], rows[2]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > bound {
			return bound + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// listNames joins names for a message, at most 20 of them.
func listNames(names []string) string {
	const most = 20
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d in all)", strings.Join(names[:most], ", "), len(names))
}

// ErrNotFound is wrapped by LookupStage and LookupTouch for an id the
// cadence does not have.
var ErrNotFound = errors.New("not found")

// LookupStage is Stage for an id that comes from a person (an API request,
// a command-line flag): an unknown id is an error wrapping ErrNotFound that
// names the closest stage id, if one is close.
func (c *Cadence) LookupStage(id string) (*Stage, error) {
	if s := c.Stage(id); s != nil {
		return s, nil
	}
	ids := make([]string, len(c.Stages))
	for i, s := range c.Stages {
		ids[i] = s.ID
	}
	return nil, unknownID(c.ID, "stage", "stages", id, ids)
}

// LookupTouch is Touch for an id that comes from a person: an unknown id is
// an error wrapping ErrNotFound that names the closest touch id, if one is
// close.
func (c *Cadence) LookupTouch(id string) (*Touch, error) {
	if t := c.Touch(id); t != nil {
		return t, nil
	}
	var ids []string
	for _, s := range c.Stages {
		for _, t := range s.Touches {
			ids = append(ids, t.ID)
		}
	}
	return nil, unknownID(c.ID, "touch", "touches", id, ids)
}

func unknownID(cadence, kind, kinds, id string, ids []string) error {
	if hint := didYouMean(id, ids); hint != "" {
		return &notFoundError{fmt.Sprintf("cadence %s has no %s %q%s", cadence, kind, id, hint)}
	}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	return &notFoundError{fmt.Sprintf("cadence %s has no %s %q (%s: %s)", cadence, kind, id, kinds, strings.Join(sorted, ", "))}
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

var (
	undefinedFunc = regexp.MustCompile(`^function "([^"]+)" not defined$`)
	unknownTField = regexp.MustCompile(`^unknown field \.([A-Za-z0-9_]+) \(known: `)
)

// templateProblem adds a suggestion to a problem from templates.Compile for
// an unknown function or field, and returns the name to find in the
// source line ("" for other problems).
func templateProblem(msg string) (string, string) {
	if m := undefinedFunc.FindStringSubmatch(msg); m != nil {
		if hint := didYouMean(m[1], templates.Funcs()); hint != "" {
			return msg + hint, m[1]
		}
		return fmt.Sprintf("%s (functions: %s)", msg, strings.Join(templates.Funcs(), ", ")), m[1]
	}
	if m := unknownTField.FindStringSubmatch(msg); m != nil {
		if s, ok := Suggest(m[1], templates.Fields); ok {
			return fmt.Sprintf("unknown field .%s; did you mean .%s?", m[1], s), "." + m[1]
		}
		return msg, "." + m[1]
	}
	return msg, ""
}

// columnOf finds token as a whole word in the source line of pos, from
// pos's column on, and returns its 1-based column; pos.Column if it is not
// there.
func (d *decoder) columnOf(token string, pos Pos) int {
	if pos.Line < 1 || pos.Line > len(d.lines) {
		return pos.Column
	}
	line := []rune(d.lines[pos.Line-1])
	tok := []rune(token)
	word := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	for i := max(pos.Column-1, 0); i+len(tok) <= len(line); i++ {
		if string(line[i:i+len(tok)]) != token {
			continue
		}
		if (i > 0 && word(line[i-1]) && word(tok[0])) || (i+len(tok) < len(line) && word(line[i+len(tok)])) {
			continue
		}
		return i + 1
	}
	return pos.Column
}

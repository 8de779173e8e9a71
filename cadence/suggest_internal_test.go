package cadence

import (
	"strconv"
	"strings"
	"testing"
)

func TestListNames(t *testing.T) {
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "s" + strconv.Itoa(i)
		}
		return out
	}
	if got := listNames(names(20)); got != strings.Join(names(20), ", ") {
		t.Errorf("20 names: %q", got)
	}
	if got, want := listNames(names(21)), strings.Join(names(20), ", ")+", … (21 in all)"; got != want {
		t.Errorf("21 names: %q, want %q", got, want)
	}
}

// columnOf finds a token as a whole word from the position's column on.
func TestColumnOf(t *testing.T) {
	d := &decoder{lines: []string{"template: welcom", "x: welcomer welcom", "  - {template: welcom}", "welcom"}}
	for _, c := range []struct {
		line, col, want int
	}{
		{1, 11, 11}, // at the column, at the end of the first line
		{1, 10, 11},
		{1, 1, 11},
		{2, 1, 13}, // not inside "welcomer"
		{3, 1, 16},
		{4, 1, 1}, // the last line
		{5, 3, 3}, // no such line: the column given
		{0, 3, 3},
	} {
		if got := d.columnOf("welcom", Pos{Line: c.line, Column: c.col}); got != c.want {
			t.Errorf("line %d col %d: %d, want %d", c.line, c.col, got, c.want)
		}
	}
	if got := d.columnOf("missing", Pos{Line: 2, Column: 4}); got != 4 {
		t.Errorf("absent token: %d, want 4", got)
	}
	d = &decoder{lines: []string{"x: awelcom welcom_x welcom"}}
	if got := d.columnOf("welcom", Pos{Line: 1, Column: 1}); got != 21 {
		t.Errorf("word boundaries: %d, want 21", got)
	}
}

// Suggestions stop once the file has spent the budget.
func TestSuggestBudget(t *testing.T) {
	cands := []string{"welcome", "followup"}
	cost := len("welcom") * (len("welcome") + len("followup"))
	d := &decoder{suggestCost: suggestBudget - cost}
	if got := d.didYouMean("welcom", cands); got != "; did you mean welcome?" {
		t.Fatalf("within the budget: %q", got)
	}
	if d.suggestCost != suggestBudget {
		t.Fatalf("spent %d, want %d", d.suggestCost, suggestBudget)
	}
	if got := d.didYouMean("welcom", cands); got != "" {
		t.Fatalf("past the budget: %q", got)
	}
}

package inbound

import "testing"

// span quotes the original text of a folded range, including a whole rune
// whose expansion the range splits (ß → ss).
func TestSpan(t *testing.T) {
	f := fold("Grüße, hello")
	for _, c := range []struct {
		i, j int
		want string
	}{
		{0, 4, "Grüß"}, // "grus": half of "ss"
		{0, 5, "Grüß"},
		{0, 3, "Grü"},
		{8, 10, "he"},
		{8, len(f.s), "hello"},
		{3, 3, ""},
		{0, len(f.s) + 1, ""},
	} {
		if got := f.span(c.i, c.j); got != c.want {
			t.Errorf("span(%d, %d) of %q = %q, want %q", c.i, c.j, f.s, got, c.want)
		}
	}
}

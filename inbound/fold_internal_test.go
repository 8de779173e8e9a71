package inbound

import (
	"strings"
	"testing"
)

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

// The language is read from the first 401 words.
func TestLanguageFromTheFirstWords(t *testing.T) {
	for text, want := range map[string]string{
		strings.Repeat("the ", 450) + strings.Repeat("le ", 1000): "en",
		strings.Repeat("xyz ", 400) + "le":                        "fr",
		strings.Repeat("xyz ", 401) + "le":                        "",
	} {
		if got := detectLang(foldString(text)); got != want {
			t.Errorf("%.20q…: lang %q, want %q", text, got, want)
		}
	}
}

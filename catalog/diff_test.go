package catalog

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCadenceDiffUnifiedFormat(t *testing.T) {
	a := "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\n"
	b := "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\ntwelve\nthirteen\n"
	want := `--- a
+++ b
@@ -1,6 +1,6 @@
 one
 two
-three
+THREE
 four
 five
 six
@@ -10,3 +10,4 @@
 ten
 eleven
 twelve
+thirteen
`
	if got := Diff("a", "b", []byte(a), []byte(b)); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := Diff("a", "b", []byte(a), []byte(a)); got != "" {
		t.Fatalf("equal inputs: %q", got)
	}
	// From nothing, and a last line without a newline.
	if got := Diff("none", "new", nil, []byte("x\ny")); got != "--- none\n+++ new\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n" {
		t.Fatalf("from empty:\n%s", got)
	}
	if got := Diff("a", "b", []byte("x\ny"), []byte("x\ny\n")); got != "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+y\n" {
		t.Fatalf("newline added at the end:\n%s", got)
	}
	// Changes 6 lines apart share a hunk (their contexts touch); 7 apart
	// do not.
	lines := func(n int, change ...int) string {
		var b strings.Builder
		for i := range n {
			s := strconv.Itoa(i)
			for _, c := range change {
				if c == i {
					s = "changed"
				}
			}
			b.WriteString(s + "\n")
		}
		return b.String()
	}
	base := lines(30)
	if n := strings.Count(Diff("a", "b", []byte(base), []byte(lines(30, 5, 12))), "@@ -"); n != 1 {
		t.Errorf("changes with 6 lines between: %d hunks, want 1", n)
	}
	if n := strings.Count(Diff("a", "b", []byte(base), []byte(lines(30, 5, 13))), "@@ -"); n != 2 {
		t.Errorf("changes with 7 lines between: %d hunks, want 2", n)
	}
}

// lcs is the textbook dynamic program, to check that the diff is a
// shortest one.
func lcs(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			default:
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

// applyPatch applies a unified diff to a, checking every context and
// deleted line and every hunk range against a and the result.
func applyPatch(t *testing.T, a []byte, patch string) []byte {
	t.Helper()
	if patch == "" {
		return a
	}
	old := splitLines(string(a))
	lines := strings.SplitAfter(patch, "\n")
	if !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		t.Fatalf("no header:\n%s", patch)
	}
	var out []string
	pos := 0 // next line of old to copy
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	for i := 2; i < len(lines) && lines[i] != ""; {
		m := hunkHeader.FindStringSubmatch(strings.TrimSuffix(lines[i], "\n"))
		if m == nil {
			t.Fatalf("line %d is not a hunk header: %q\n%s", i, lines[i], patch)
		}
		aStart, aLen, bStart, bLen := num(m[1], 0), num(m[2], 1), num(m[3], 0), num(m[4], 1)
		from := aStart - 1
		if aLen == 0 {
			from = aStart
		}
		if from < pos {
			t.Fatalf("hunk %q overlaps the previous one", lines[i])
		}
		out = append(out, old[pos:from]...)
		pos = from
		if got := len(out) + 1; bLen > 0 && got != bStart || bLen == 0 && len(out) != bStart {
			t.Fatalf("hunk %q: new side starts at %d", lines[i], got)
		}
		i++
		var seenA, seenB int
		for ; i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@"); i++ {
			l := lines[i]
			if strings.HasPrefix(l, `\ No newline at end of file`) {
				continue // handled with the line before
			}
			text := l[1:]
			if i+1 < len(lines) && strings.HasPrefix(lines[i+1], `\ No newline`) {
				text = strings.TrimSuffix(text, "\n")
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(old) || old[pos] != text {
					t.Fatalf("hunk line %q does not match old line %d", l, pos+1)
				}
				pos++
				seenA++
				if l[0] == ' ' {
					out = append(out, text)
					seenB++
				}
			case '+':
				out = append(out, text)
				seenB++
			default:
				t.Fatalf("bad hunk line %q", l)
			}
		}
		if seenA != aLen || seenB != bLen {
			t.Fatalf("hunk ranges -%d +%d, lines -%d +%d", aLen, bLen, seenA, seenB)
		}
	}
	out = append(out, old[pos:]...)
	return []byte(strings.Join(out, ""))
}

// Random inputs over a small alphabet: the patch rebuilds the new text
// from the old and changes the fewest lines.
func TestCadenceDiffIsAShortestEditScript(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() []byte {
		var b strings.Builder
		n := rng.IntN(25)
		for range n {
			b.WriteString(string(rune('a' + rng.IntN(4))))
			b.WriteByte('\n')
		}
		if n > 0 && rng.IntN(5) == 0 {
			return []byte(strings.TrimSuffix(b.String(), "\n"))
		}
		return []byte(b.String())
	}
	for i := range 3000 {
		a, b := gen(), gen()
		if rng.IntN(3) == 0 { // a few edits of a rather than unrelated text
			lines := splitLines(string(a))
			for range rng.IntN(4) + 1 {
				if len(lines) > 0 {
					lines[rng.IntN(len(lines))] = "z\n"
				}
				lines = append(lines, "tail\n")
			}
			b = []byte(strings.Join(lines, ""))
		}
		d := Diff("a", "b", a, b)
		if got := applyPatch(t, a, d); string(got) != string(b) {
			t.Fatalf("case %d: patch gives %q, want %q\n%s", i, got, b, d)
		}
		al, bl := splitLines(string(a)), splitLines(string(b))
		changed := 0
		for _, l := range strings.Split(d, "\n")[min(2, len(strings.Split(d, "\n"))):] {
			if strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-") {
				changed++
			}
		}
		if want := len(al) + len(bl) - 2*lcs(al, bl); changed != want {
			t.Fatalf("case %d: %d changed lines, a shortest script has %d\n%q\n%q\n%s", i, changed, want, a, b, d)
		}
	}
}

// A large file with a few edits diffs fast and small (linear space: no
// quadratic table).
func TestCadenceDiffOfALargeFile(t *testing.T) {
	var a, b strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&a, "line %d\n", i)
		switch i {
		case 100, 10000, 19999:
			fmt.Fprintf(&b, "edited %d\n", i)
		default:
			fmt.Fprintf(&b, "line %d\n", i)
		}
	}
	start := time.Now()
	d := Diff("a", "b", []byte(a.String()), []byte(b.String()))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
	if strings.Count(d, "@@ -") != 3 || strings.Count(d, "\n-line") != 3 || strings.Count(d, "\n+edited") != 3 {
		t.Fatalf("diff:\n%s", d)
	}
	// Unrelated texts cost nothing: no line can match.
	var c strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&c, "other %d\n", i)
	}
	start = time.Now()
	if got := applyPatch(t, []byte(a.String()), Diff("a", "c", []byte(a.String()), []byte(c.String()))); string(got) != c.String() {
		t.Fatal("unrelated texts: the patch does not rebuild the new one")
	}
	t.Logf("20,000 lines against 4,000 unrelated ones: %v", time.Since(start))
	// Shared lines in a scrambled order: the budget bounds the work and
	// the diff stays correct.
	rng := rand.New(rand.NewPCG(3, 4))
	var x, y strings.Builder
	for range 30000 {
		fmt.Fprintf(&x, "%d\n", rng.IntN(3))
		fmt.Fprintf(&y, "%d\n", rng.IntN(3))
	}
	start = time.Now()
	d = Diff("x", "y", []byte(x.String()), []byte(y.String()))
	took := time.Since(start)
	if got := applyPatch(t, []byte(x.String()), d); string(got) != y.String() {
		t.Fatal("scrambled texts: the patch does not rebuild the new one")
	}
	t.Logf("30,000 scrambled lines each way: %v", took)
	if took > 20*time.Second {
		t.Errorf("scrambled texts took %v", took)
	}
}

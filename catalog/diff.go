package catalog

import (
	"fmt"
	"strings"
)

// DiffContext is the number of unchanged lines shown around each change.
const DiffContext = 3

// Diff returns a unified diff (as `diff -u` writes it) turning a into b,
// line by line, or "" when they are equal. fromName and toName head the
// diff ("--- fromName", "+++ toName"). The edit script is a shortest one
// (Myers' O(ND) algorithm in linear space), so the diff of two versions
// that differ in a few lines stays a few lines whatever the file's size.
func Diff(fromName, toName string, a, b []byte) string {
	al, bl := splitLines(string(a)), splitLines(string(b))
	edits := diffLines(al, bl)
	hunks := groupHunks(edits, DiffContext)
	if len(hunks) == 0 {
		return ""
	}
	var w strings.Builder
	fmt.Fprintf(&w, "--- %s\n+++ %s\n", fromName, toName)
	for _, h := range hunks {
		fmt.Fprintf(&w, "@@ -%s +%s @@\n", hunkRange(h.aStart, h.aLen), hunkRange(h.bStart, h.bLen))
		for _, e := range h.edits {
			var line string
			switch e.kind {
			case opEqual:
				line = " " + al[e.a]
			case opDelete:
				line = "-" + al[e.a]
			case opInsert:
				line = "+" + bl[e.b]
			}
			w.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				w.WriteString("\n\\ No newline at end of file\n")
			}
		}
	}
	return w.String()
}

// splitLines splits s after each "\n"; the last line keeps no newline
// when s does not end with one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type opKind byte

const (
	opEqual opKind = iota
	opDelete
	opInsert
)

// edit is one line of the edit script: a is the index in the old lines
// (equal, delete), b in the new (equal, insert).
type edit struct {
	kind opKind
	a, b int
}

// diffLines returns a shortest edit script turning a into b (or, past
// diffBudget, a valid but longer one).
func diffLines(a, b []string) []edit {
	// Lines become numbers, and lines that occur on one side only are
	// left out of the search: they can never match, so the result is the
	// same, and two unrelated texts cost nothing.
	ids := map[string]int{}
	for _, l := range b {
		if _, ok := ids[l]; !ok {
			ids[l] = len(ids)
		}
	}
	inBoth := make([]bool, len(ids))
	var an, am []int // a's kept lines as numbers, and their indices in a
	for i, l := range a {
		if id, ok := ids[l]; ok {
			inBoth[id] = true
			an, am = append(an, id), append(am, i)
		}
	}
	var bn, bm []int
	for j, l := range b {
		if id := ids[l]; inBoth[id] {
			bn, bm = append(bn, id), append(bm, j)
		}
	}
	d := &differ{a: an, b: bn, inA: make([]bool, len(an)), inB: make([]bool, len(bn))}
	if n := len(an) + len(bn); n > 0 {
		size := 2*((n+1)/2) + 3
		d.vf, d.vb = make([]int, size), make([]int, size)
	}
	d.compare(0, len(an), 0, len(bn))
	matchedA, matchedB := make([]bool, len(a)), make([]bool, len(b))
	for i, ok := range d.inA {
		matchedA[am[i]] = ok
	}
	for j, ok := range d.inB {
		matchedB[bm[j]] = ok
	}
	// Matched lines pair up in order (they form a common subsequence);
	// unmatched ones are deletions and insertions, deletions first.
	var out []edit
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && !matchedA[i]:
			out = append(out, edit{kind: opDelete, a: i, b: j})
			i++
		case j < len(b) && !matchedB[j]:
			out = append(out, edit{kind: opInsert, a: i, b: j})
			j++
		default:
			out = append(out, edit{kind: opEqual, a: i, b: j})
			i++
			j++
		}
	}
	return out
}

// diffBudget bounds the search (steps along diagonals): two large texts
// that share many lines in a scrambled order would otherwise cost
// O(N·D). Past it, what is left unsearched is shown as deleted and
// inserted whole: still a correct diff, only not the shortest.
var diffBudget = 1 << 24

// differ finds a longest common subsequence of a and b by Myers'
// divide-and-conquer on the middle snake, marking the matched lines.
type differ struct {
	a, b     []int
	inA, inB []bool
	vf, vb   []int
	work     int
}

func (d *differ) compare(aLo, aHi, bLo, bHi int) {
	for aLo < aHi && bLo < bHi && d.a[aLo] == d.b[bLo] {
		d.inA[aLo], d.inB[bLo] = true, true
		aLo, bLo = aLo+1, bLo+1
	}
	for aLo < aHi && bLo < bHi && d.a[aHi-1] == d.b[bHi-1] {
		d.inA[aHi-1], d.inB[bHi-1] = true, true
		aHi, bHi = aHi-1, bHi-1
	}
	if aLo == aHi || bLo == bHi || d.work > diffBudget {
		return // only deletions or only insertions are left (or no budget)
	}
	x, y, u, v, ok := d.middleSnake(aLo, aHi, bLo, bHi)
	if !ok {
		return
	}
	for i := 0; i < u-x; i++ {
		d.inA[aLo+x+i], d.inB[bLo+y+i] = true, true
	}
	d.compare(aLo, aLo+x, bLo, bLo+y)
	d.compare(aLo+u, aHi, bLo+v, bHi)
}

// middleSnake returns the middle snake of a shortest edit path between
// a[aLo:aHi] and b[bLo:bHi], from (x, y) to (u, v) relative to aLo, bLo.
// Both ranges are non-empty and differ in their first and last lines.
// It reports false when the budget ran out first.
func (d *differ) middleSnake(aLo, aHi, bLo, bHi int) (x, y, u, v int, ok bool) {
	n, m := aHi-aLo, bHi-bLo
	delta := n - m
	odd := delta&1 != 0
	maxD := (n + m + 1) / 2
	off := maxD + 1
	vf, vb := d.vf, d.vb
	vf[off+1], vb[off+1] = 0, 0
	for D := 0; D <= maxD; D++ {
		if d.work += 2*D + 2; d.work > diffBudget {
			return 0, 0, 0, 0, false
		}
		// Forward paths of D edits; vf[off+k] is the furthest x on
		// diagonal k = x - y.
		for k := -D; k <= D; k += 2 {
			var px int
			if k == -D || (k != D && vf[off+k-1] < vf[off+k+1]) {
				px = vf[off+k+1]
			} else {
				px = vf[off+k-1] + 1
			}
			py := px - k
			sx, sy := px, py
			for px < n && py < m && d.a[aLo+px] == d.b[bLo+py] {
				px, py = px+1, py+1
			}
			d.work += px - sx
			vf[off+k] = px
			// Reverse diagonal delta-k, reached with D-1 edits.
			if rk := delta - k; odd && rk >= -(D-1) && rk <= D-1 && px+vb[off+rk] >= n {
				return sx, sy, px, py, true
			}
		}
		// Reverse paths of D edits, on the reversed sequences: vb[off+k]
		// is the furthest x counted from the ends on diagonal k.
		for k := -D; k <= D; k += 2 {
			var px int
			if k == -D || (k != D && vb[off+k-1] < vb[off+k+1]) {
				px = vb[off+k+1]
			} else {
				px = vb[off+k-1] + 1
			}
			py := px - k
			sx, sy := px, py
			for px < n && py < m && d.a[aHi-1-px] == d.b[bHi-1-py] {
				px, py = px+1, py+1
			}
			d.work += px - sx
			vb[off+k] = px
			if fk := delta - k; !odd && fk >= -D && fk <= D && px+vf[off+fk] >= n {
				return n - px, m - py, n - sx, m - sy, true
			}
		}
	}
	panic("catalog: no middle snake") // unreachable: D = maxD always meets
}

// hunk is a run of edits shown together, with its ranges (0-based
// starts) in the old and new lines.
type hunk struct {
	edits        []edit
	aStart, aLen int
	bStart, bLen int
}

// groupHunks cuts the edit script into hunks with ctx lines of context
// around changes; changes closer than 2*ctx share a hunk.
func groupHunks(edits []edit, ctx int) []hunk {
	var out []hunk
	for i := 0; i < len(edits); {
		if edits[i].kind == opEqual {
			i++
			continue
		}
		start := max(0, i-ctx)
		// Extend over changes while the unchanged gap between them is at
		// most 2*ctx lines.
		end := i
		for j := i; j < len(edits); j++ {
			if edits[j].kind != opEqual {
				end = j
				continue
			}
			if j-end > 2*ctx {
				break
			}
		}
		stop := min(len(edits), end+ctx+1)
		h := hunk{edits: edits[start:stop], aStart: edits[start].a, bStart: edits[start].b}
		for _, e := range h.edits {
			switch e.kind {
			case opEqual:
				h.aLen++
				h.bLen++
			case opDelete:
				h.aLen++
			case opInsert:
				h.bLen++
			}
		}
		out = append(out, h)
		i = stop
	}
	return out
}

// hunkRange writes a hunk's range as diff -u does: "start,len" with a
// 1-based start, "start" alone for one line, and for an empty range the
// line before it.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

package inbound

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// folded is text prepared for matching: lower case, accents removed
// (NFKD, combining marks dropped; ß → ss, æ → ae, œ → oe), typographic
// apostrophes, quotes and dashes made ASCII, runs of spaces and tabs made
// one space; line breaks are kept. off maps each byte of s back to the
// byte of orig it came from, so a match can be quoted verbatim.
type folded struct {
	s    string
	orig string
	off  []int // len(s)+1 entries
}

// fold prepares text for matching.
func fold(orig string) *folded {
	var b strings.Builder
	off := make([]int, 0, len(orig)+1)
	b.Grow(len(orig))
	emit := func(s string, at int) {
		for i := 0; i < len(s); i++ {
			off = append(off, at)
		}
		b.WriteString(s)
	}
	lastSpace := false
	for i, r := range orig {
		if r == utf8.RuneError || r == '\r' {
			continue
		}
		if r == '\n' {
			emit("\n", i)
			lastSpace = false
			continue
		}
		if unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' {
			if !lastSpace {
				emit(" ", i)
				lastSpace = true
			}
			continue
		}
		lastSpace = false
		if r < utf8.RuneSelf {
			emit(string(unicode.ToLower(r)), i)
			continue
		}
		if s, ok := foldSpecial[r]; ok {
			emit(s, i)
			continue
		}
		var fr []rune
		for _, d := range norm.NFKD.String(string(r)) {
			if unicode.Is(unicode.Mn, d) {
				continue
			}
			fr = append(fr, unicode.ToLower(d))
		}
		emit(string(fr), i)
	}
	off = append(off, len(orig))
	return &folded{s: b.String(), orig: orig, off: off}
}

var foldSpecial = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o", 'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d",
	'’': "'", '‘': "'", 'ʼ': "'", '´': "'", '`': "'", '“': "\"", '”': "\"", '«': "\"", '»': "\"", '„': "\"",
	'–': "-", '—': "-", '‐': "-", '‑': "-", '−': "-", '…': "...", '\u00a0': " ",
}

// span returns the original text of folded bytes [i, j).
func (f *folded) span(i, j int) string {
	if i < 0 || j > len(f.s) || i >= j {
		return ""
	}
	a, z := f.off[i], f.off[j]
	if j < len(f.s) && f.off[j] == f.off[j-1] {
		// j splits the expansion of one rune (ß → ss): include that rune.
		_, size := utf8.DecodeRuneInString(f.orig[z:])
		z += size
	}
	return strings.TrimSpace(f.orig[a:z])
}

// foldString is fold without the offset map.
func foldString(s string) string { return fold(s).s }

var langWords = map[string][]string{
	"en": {"the", "and", "you", "is", "are", "i", "to", "for", "of", "my", "will", "be", "with", "this", "that", "on", "me", "we", "thanks", "please", "not", "it", "your", "in", "hi", "our"},
	"fr": {"le", "la", "les", "des", "je", "vous", "est", "pas", "pour", "et", "une", "du", "au", "suis", "merci", "bonjour", "nous", "votre", "vos", "ne", "mon", "mes", "cordialement", "avec", "sur"},
	"de": {"der", "die", "das", "und", "ich", "sie", "nicht", "ist", "mit", "bin", "bitte", "ein", "eine", "zu", "im", "vielen", "dank", "ihre", "ihr", "wir", "uns", "gruss", "grusse", "mich", "sehr", "fur", "auf"},
	"es": {"el", "los", "las", "que", "y", "en", "por", "para", "estoy", "gracias", "su", "un", "una", "hola", "muy", "mi", "sus", "usted", "saludos", "nos", "con", "del", "al", "lo", "este", "esta"},
}

var langIndex = func() map[string][]string {
	m := map[string][]string{}
	for lang, ws := range langWords {
		for _, w := range ws {
			m[w] = append(m[w], lang)
		}
	}
	return m
}()

// detectLang guesses en, fr, de or es from function words in folded text;
// "" when there is nothing to go on.
func detectLang(fs string) string {
	score := map[string]int{}
	n := 0
	for _, w := range strings.FieldsFunc(fs, func(r rune) bool { return !unicode.IsLetter(r) }) {
		for _, l := range langIndex[w] {
			score[l]++
		}
		if n++; n > 400 {
			break
		}
	}
	best, bestN := "", 0
	for _, l := range []string{"en", "fr", "de", "es"} {
		if score[l] > bestN {
			best, bestN = l, score[l]
		}
	}
	return best
}

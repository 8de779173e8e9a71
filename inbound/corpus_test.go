package inbound_test

import (
	"bufio"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

// Floors for the labelled corpus (testdata/replies, generated from the
// hand-written testdata/corpus/*.txt by testdata/gen; the sets dev, round2,
// round3 and blind are explained in testdata/corpus/README.md). The floors
// apply to the whole corpus; each set is printed too. Opt-out and
// out-of-office precision matter most: a false opt-out loses a lead, a
// false out-of-office silences a human reply.
const (
	minPrecisionOptOut = 0.97
	minPrecisionOOO    = 0.97
	minRecall          = 0.85 // every class
	minDateAccuracy    = 0.90 // out-of-office notices that state a return day
	minReferral        = 0.85 // wrong-person replies that name an address
)

type corpusCase struct {
	file, class, lang, style, returnOn, referral, set string
}

func readManifest(t *testing.T) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "replies", "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := strings.Split(l, "\t")
		if len(c) != 7 {
			t.Fatalf("manifest line %q", l)
		}
		dash := func(s string) string {
			if s == "-" {
				return ""
			}
			return s
		}
		out = append(out, corpusCase{c[0], c[1], c[2], c[3], dash(c[4]), dash(c[5]), c[6]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{60,}`)

// TestReplyCorpus classifies every message of the corpus through
// ParseEmail, prints precision and recall per class, and fails under the
// floors above. It also checks what sales see: the excerpt never carries
// our quoted unsubscribe link or undecoded base64, and is not empty for a
// human reply.
func TestReplyCorpus(t *testing.T) {
	cases := readManifest(t)
	if len(cases) < 300 {
		t.Fatalf("corpus has %d messages, want at least 300", len(cases))
	}
	type result struct {
		c   corpusCase
		got inbound.Class
	}
	var results []result
	var wrong, dateMiss, refMiss, excerptBad []string
	datesWant, datesOK, refWant, refOK := 0, 0, 0, 0
	for _, c := range cases {
		raw, err := os.ReadFile(filepath.Join("testdata", "replies", c.file))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		sent, err := mail.ParseDate(m.Header.Get("Date"))
		if err != nil {
			t.Fatalf("%s: Date: %v", c.file, err)
		}
		e, err := inbound.ParseEmail(raw, sent.Add(7*time.Minute).UTC())
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		want, got := inbound.Class(c.class), e.Reply.Class
		results = append(results, result{c, got})
		if got != want {
			wrong = append(wrong, fmt.Sprintf("%-50s %-7s want %-18s got %-18s %s", c.file, c.set, want, got, e.Reply.Reason))
		}
		if want == inbound.ClassOutOfOffice {
			if c.returnOn != "" {
				datesWant++
			}
			switch {
			case e.ReturnOn.String() == c.returnOn && c.returnOn != "":
				datesOK++
			case e.ReturnOn.String() != c.returnOn:
				dateMiss = append(dateMiss, fmt.Sprintf("%-50s %-7s want %-10s got %-10s from %q", c.file, c.set, orNone(c.returnOn), orNone(e.ReturnOn.String()), e.Reply.UntilPhrase))
			}
		}
		if c.referral != "" {
			refWant++
			if e.Reply.Referral == c.referral {
				refOK++
			} else {
				refMiss = append(refMiss, fmt.Sprintf("%-50s %-7s want %s got %q", c.file, c.set, c.referral, e.Reply.Referral))
			}
		}
		// Kind is what today's server routes on: machine-made classes must
		// not warm a lead, human ones must.
		switch {
		case got == inbound.ClassOutOfOffice || got == inbound.ClassAutoReply || got == inbound.ClassBounce:
			if e.Kind != inbound.KindAutoReply {
				t.Errorf("%s: class %s but kind %s", c.file, got, e.Kind)
			}
		case got == inbound.ClassPositive || got == inbound.ClassNotNow:
			if e.Kind != inbound.KindReply {
				t.Errorf("%s: class %s but kind %s", c.file, got, e.Kind)
			}
		}
		if strings.Contains(e.Excerpt, "fieldnote.io/u/") || base64Run.MatchString(e.Excerpt) ||
			(e.Excerpt == "" && (want == inbound.ClassPositive || want == inbound.ClassNotNow || want == inbound.ClassWrongPerson)) {
			excerptBad = append(excerptBad, fmt.Sprintf("%-50s %q", c.file, e.Excerpt))
		}
	}

	// table prints precision and recall per class over the results in
	// set ("" for all) and returns them.
	var b strings.Builder
	table := func(set string) (prec, rec map[inbound.Class]float64, n map[inbound.Class]int) {
		prec, rec, n = map[inbound.Class]float64{}, map[inbound.Class]float64{}, map[inbound.Class]int{}
		tp, fp := map[inbound.Class]int{}, map[inbound.Class]int{}
		total, ok := 0, 0
		byLang := map[string][2]int{}
		for _, r := range results {
			if set != "" && r.c.set != set {
				continue
			}
			want := inbound.Class(r.c.class)
			total++
			n[want]++
			l := byLang[r.c.lang]
			l[0]++
			if r.got == want {
				tp[want]++
				ok++
				l[1]++
			} else {
				fp[r.got]++
			}
			byLang[r.c.lang] = l
		}
		name := set
		if name == "" {
			name = "all"
		}
		fmt.Fprintf(&b, "\n[%s: %d messages]\n%-20s %5s %5s %5s %9s %7s\n", name, total, "class", "n", "tp", "fp", "precision", "recall")
		for _, cl := range inbound.Classes {
			prec[cl], rec[cl] = ratio(tp[cl], tp[cl]+fp[cl]), ratio(tp[cl], n[cl])
			fmt.Fprintf(&b, "%-20s %5d %5d %5d %9.3f %7.3f\n", cl, n[cl], tp[cl], fp[cl], prec[cl], rec[cl])
		}
		fmt.Fprintf(&b, "%-20s %5d %5d %25.3f\n", "accuracy", total, ok, ratio(ok, total))
		for _, lang := range []string{"en", "fr", "de", "es"} {
			fmt.Fprintf(&b, "  lang %-14s %5d %5d %25.3f\n", lang, byLang[lang][0], byLang[lang][1], ratio(byLang[lang][1], byLang[lang][0]))
		}
		return prec, rec, n
	}
	for _, set := range []string{"dev", "round2", "round3", "blind"} {
		table(set)
	}
	prec, rec, n := table("")
	fmt.Fprintf(&b, "return dates: %d/%d exact (%.3f); referrals: %d/%d (%.3f)\n", datesOK, datesWant, ratio(datesOK, datesWant), refOK, refWant, ratio(refOK, refWant))
	t.Log(b.String())
	for _, w := range wrong {
		t.Log("misclassified: " + w)
	}
	for _, w := range dateMiss {
		t.Log("return date:   " + w)
	}
	for _, w := range refMiss {
		t.Log("referral:      " + w)
	}
	for _, cl := range inbound.Classes {
		if n[cl] == 0 {
			t.Errorf("no %s messages in the corpus", cl)
			continue
		}
		if rec[cl] < minRecall {
			t.Errorf("%s recall %.3f < %.2f", cl, rec[cl], minRecall)
		}
	}
	if prec[inbound.ClassOptOut] < minPrecisionOptOut {
		t.Errorf("opt_out precision %.3f < %.2f", prec[inbound.ClassOptOut], minPrecisionOptOut)
	}
	if prec[inbound.ClassOutOfOffice] < minPrecisionOOO {
		t.Errorf("out_of_office precision %.3f < %.2f", prec[inbound.ClassOutOfOffice], minPrecisionOOO)
	}
	if ratio(datesOK, datesWant) < minDateAccuracy {
		t.Errorf("return dates %d/%d exact, below %.2f", datesOK, datesWant, minDateAccuracy)
	}
	if ratio(refOK, refWant) < minReferral {
		t.Errorf("referrals %d/%d, below %.2f", refOK, refWant, minReferral)
	}
	for _, x := range excerptBad {
		t.Errorf("excerpt shown to sales: %s", x)
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

package inbound

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Date is a calendar day, with no time of day and no zone. A return date
// read from an out-of-office notice is a Date: the caller decides when on
// that day to resume (the start of the prospect's send window, in the
// prospect's zone).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the calendar day of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether d is the zero Date (no date).
func (d Date) IsZero() bool { return d == Date{} }

// String formats d as YYYY-MM-DD ("" for the zero Date).
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// In is the first instant of d in loc (midnight, or the first instant that
// exists when a DST change skips midnight). Add the send window's opening
// time with At rather than to this instant.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// At is hour:min on d in loc.
func (d Date) At(hour, min int, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hour, min, 0, 0, loc)
}

// AddDays is d moved by n days.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Weekday is d's day of the week.
func (d Date) Weekday() time.Weekday { return d.utc().Weekday() }

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool { return d.utc().Before(e.utc()) }

// After reports whether d is a later day than e.
func (d Date) After(e Date) bool { return e.Before(d) }

// MarshalText renders d as YYYY-MM-DD (empty for the zero Date).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads YYYY-MM-DD (empty is the zero Date).
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	t, err := time.Parse("2006-01-02", string(b))
	if err != nil {
		return err
	}
	*d = DateOf(t)
	return nil
}

func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC) }

// mkDate validates a calendar day (no 31/02).
func mkDate(y int, m time.Month, day int) (Date, bool) {
	if m < 1 || m > 12 || day < 1 || day > 31 {
		return Date{}, false
	}
	d := DateOf(time.Date(y, m, day, 12, 0, 0, 0, time.UTC))
	return d, d.Month == m && d.Day == day
}

func daysBetween(a, b Date) int { return int(b.utc().Sub(a.utc()).Hours() / 24) }

// nextOccurrence is month/day in the first year that puts it after ref.
func nextOccurrence(m time.Month, day int, ref Date) (Date, bool) {
	for y := ref.Year; y <= ref.Year+1; y++ {
		if d, ok := mkDate(y, m, day); ok && d.After(ref) {
			return d, true
		}
	}
	// 29 February: the next leap year may be further out; not a return date.
	return Date{}, false
}

// Word lists, folded (no accents). Longer forms first: RE2 alternation
// prefers the leftmost alternative.
const (
	monthAlt   = `january|february|march|april|may|june|july|august|september|october|november|december|janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre|januar|februar|marz|juni|juli|oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|sept|janv|fevr|avr|juil|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec|dez|ene|dic|mrz`
	wdFullAlt  = `monday|tuesday|wednesday|thursday|friday|saturday|sunday|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lunes|martes|miercoles|jueves|viernes|sabado|domingo`
	wdAlt      = wdFullAlt + `|mon|tues|tue|wed|thurs|thu|fri|sat|sun|lun|mer|jeu|ven|sam|dim|mo|di|mi|do|fr|sa|so`
	numWordAlt = `a|an|one|two|three|four|five|six|seven|eight|nine|ten|twelve|\d{1,2}|un|une|deux|trois|quatre|cinq|einer|einem|ein|zwei|drei|vier|funf|sechs|una|dos|tres|cuatro|cinco|seis`
	unitAlt    = `days?|weeks?|jours?|semaines?|tagen?|tage|wochen?|dias?|semanas?`
)

var months = func() map[string]time.Month {
	m := map[string]time.Month{}
	names := [][]string{
		{"january", "janvier", "januar", "enero", "jan", "janv", "ene"},
		{"february", "fevrier", "februar", "febrero", "feb", "fevr"},
		{"march", "mars", "marz", "marzo", "mar", "mrz"},
		{"april", "avril", "abril", "apr", "avr"},
		{"may", "mai", "mayo"},
		{"june", "juin", "juni", "junio", "jun"},
		{"july", "juillet", "juli", "julio", "jul", "juil"},
		{"august", "aout", "agosto", "aug"},
		{"september", "septembre", "septiembre", "setiembre", "sep", "sept"},
		{"october", "octobre", "oktober", "octubre", "oct"},
		{"november", "novembre", "noviembre", "nov"},
		{"december", "decembre", "dezember", "diciembre", "dec", "dez", "dic"},
	}
	for i, ns := range names {
		for _, n := range ns {
			m[n] = time.Month(i + 1)
		}
	}
	return m
}()

var weekdays = func() map[string]time.Weekday {
	m := map[string]time.Weekday{}
	for i, ns := range [][]string{
		{"sunday", "dimanche", "sonntag", "domingo"},
		{"monday", "lundi", "montag", "lunes"},
		{"tuesday", "mardi", "dienstag", "martes"},
		{"wednesday", "mercredi", "mittwoch", "miercoles"},
		{"thursday", "jeudi", "donnerstag", "jueves"},
		{"friday", "vendredi", "freitag", "viernes"},
		{"saturday", "samedi", "samstag", "sabado"},
	} {
		for _, n := range ns {
			m[n] = time.Weekday(i)
		}
	}
	return m
}()

var numWords = map[string]int{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12,
	"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "ein": 1, "einer": 1, "einem": 1, "zwei": 2, "drei": 3, "vier": 4, "funf": 5, "sechs": 6,
	"una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6}

func numWord(s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return numWords[s]
}

// Date expressions, tried in this order; a later one never overlaps an
// earlier match.
var (
	isoRe      = regexp.MustCompile(`\b(20\d\d)-(\d{1,2})-(\d{1,2})\b`)
	numRe      = regexp.MustCompile(`\b(\d{1,2})([./])(\d{1,2})(?:[./](\d{4}|\d{2}))?\b\.?`)
	numDashRe  = regexp.MustCompile(`\b(\d{1,2})-(\d{1,2})-(\d{4}|\d{2})\b`)
	dayMonRe   = regexp.MustCompile(`\b(?:(?:` + wdAlt + `)\.?,?\s+(?:(?:the|le|den|el)\s+)?)?(\d{1,2})(?:st|nd|rd|th|er|eme|e|\.)?\s+(?:of\s+|de\s+)?(` + monthAlt + `)\b\.?(?:,?\s+(?:de\s+)?(\d{4}))?`)
	monDayRe   = regexp.MustCompile(`\b(?:(?:` + wdAlt + `)\.?,?\s+)?(` + monthAlt + `)\b\.?\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?`)
	wdDayRe    = regexp.MustCompile(`\b(?:` + wdFullAlt + `)\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th|er)?\b`)
	ordinalRe  = regexp.MustCompile(`\b(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b`)
	dayLeRe    = regexp.MustCompile(`\b(?:le|el|am|zum|dem|den)\s+(\d{1,2})(?:er)?\b\.?`)
	weekdayRe  = regexp.MustCompile(`\b(?:next\s+|this\s+(?:coming\s+)?)?(` + wdFullAlt + `)\b(?:\s+prochain|\s+que\s+viene|\s+proximo)?`)
	tomorrowRe = regexp.MustCompile(`\b(tomorrow|demain|morgen|manana)\b`)
	nextWeekRe = regexp.MustCompile(`\b(next\s+week|(?:la\s+)?semaine\s+prochaine|nachste[nr]?\s+woche|kommende[nr]?\s+woche|(?:la\s+)?(?:proxima|siguiente)\s+semana|la\s+semana\s+que\s+viene|(?:the\s+)?rest\s+of\s+(?:this|the)\s+week|(?:the\s+)?end\s+of\s+(?:this|the)\s+week)\b`)
	inNRe      = regexp.MustCompile(`\b(?:in|dans|en|dentro\s+de|d'ici)\s+(` + numWordAlt + `)\s+(` + unitAlt + `)\b`)
	forNRe     = regexp.MustCompile(`\b(?:for|pour|pendant|fur|durante|por)\s+(?:the\s+next\s+|the\s+)?(` + numWordAlt + `)\s+(` + unitAlt + `)\b`)
	thisWeekRe = regexp.MustCompile(`\b(?:out|away|off|absent|absente|abwesend|nicht\s+im\s+buro|fuera|ausente|on\s+leave|en\s+conges)\b[^.\n]{0,30}?\b(this\s+week|cette\s+semaine|diese\s+woche|esta\s+semana)\b`)
	monthEndRe = regexp.MustCompile(`\b((?:the\s+)?end\s+of\s+(?:the\s+)?month|fin\s+du\s+mois|ende\s+des\s+monats|monatsende|(?:el\s+)?final\s+de(?:l)?\s+mes|fin\s+de\s+mes)\b`)
)

type dateKind int

const (
	kindNone     dateKind = iota
	kindStart             // "from X": when the absence starts
	kindDuration          // "for 3 days"
	kindUntil             // "until X"
	kindRange             // "X – Y", "du X au Y": Y is the last day away
	kindReturn            // "back on X"
	kindAfter             // "after X" (follow-ups)
)

type dateHit struct {
	start, end int
	d          Date
	kind       dateKind
	inclusive  bool // "through", "einschließlich", "inclus"
	fixed      bool // already the return day (durations, "next week")
}

type dateCtx struct {
	ref      Date
	dayFirst bool // dd/mm when both readings are plausible
	lang     string
}

// newDateCtx: dd/mm vs mm/dd. Dotted dates (14.12.) are always day first;
// for slashes, French, German and Spanish text is day first, and English is
// month first only when the message was written at a UTC offset between
// −10:00 and −03:30 (the US and Canada), else day first (UK, Ireland,
// Australia, India, Europe).
func newDateCtx(sent time.Time, lang string) dateCtx {
	_, off := sent.Zone()
	us := lang == "en" || lang == ""
	us = us && off >= -10*3600 && off <= -(3*3600+1800)
	return dateCtx{ref: DateOf(sent), dayFirst: !us, lang: lang}
}

// resolveYMD: a day/month pair with an optional year, the next occurrence
// after ref when the year is missing.
func (c dateCtx) resolveYMD(y int, m time.Month, day int) (Date, bool) {
	if y == 0 {
		return nextOccurrence(m, day, c.ref)
	}
	if y < 100 {
		y += 2000
	}
	return mkDate(y, m, day)
}

// resolveNumeric picks dd/mm or mm/dd: the only valid reading; else the
// one that lands in the next 60 days; else the language's convention.
func (c dateCtx) resolveNumeric(a, b, y int, dotted bool) (Date, bool) {
	dm, okDM := c.resolveYMD(y, time.Month(b), a)
	if dotted {
		return dm, okDM
	}
	md, okMD := c.resolveYMD(y, time.Month(a), b)
	switch {
	case okDM && !okMD:
		return dm, true
	case okMD && !okDM:
		return md, true
	case !okDM && !okMD:
		return Date{}, false
	}
	soon := func(d Date) bool { return d.After(c.ref) && daysBetween(c.ref, d) <= 60 }
	if soon(dm) != soon(md) {
		if soon(dm) {
			return dm, true
		}
		return md, true
	}
	if c.dayFirst {
		return dm, true
	}
	return md, true
}

func (c dateCtx) nextWeekday(wd time.Weekday) Date {
	n := (int(wd) - int(c.ref.Weekday()) + 7) % 7
	if n == 0 {
		n = 7
	}
	return c.ref.AddDays(n)
}

// nextMonday is the Monday of the following week.
func (c dateCtx) nextMonday() Date { return c.nextWeekday(time.Monday) }

// nextDayOfMonth: "the 14th" is the next 14th after ref.
func (c dateCtx) nextDayOfMonth(day int) (Date, bool) {
	for k := 0; k < 3; k++ {
		first := DateOf(time.Date(c.ref.Year, c.ref.Month+time.Month(k), 1, 12, 0, 0, 0, time.UTC))
		if d, ok := mkDate(first.Year, first.Month, day); ok && d.After(c.ref) {
			return d, true
		}
	}
	return Date{}, false
}

func unitDays(u string) int {
	switch {
	case strings.HasPrefix(u, "w"), strings.HasPrefix(u, "sem"):
		return 7
	}
	return 1
}

// findDates lists every date expression in folded text fs, resolved
// against the context, without looking at the words around it yet.
func (c dateCtx) findDates(fs string) []dateHit {
	var hits []dateHit
	taken := func(s, e int) bool {
		for _, h := range hits {
			if s < h.end && e > h.start {
				return true
			}
		}
		return false
	}
	add := func(s, e int, d Date, ok, fixed bool) {
		if ok && !taken(s, e) {
			hits = append(hits, dateHit{start: s, end: e, d: d, fixed: fixed})
		}
	}
	atoi := func(m []int, k int) int {
		if m[2*k] < 0 {
			return 0
		}
		n, _ := strconv.Atoi(fs[m[2*k]:m[2*k+1]])
		return n
	}
	str := func(m []int, k int) string {
		if m[2*k] < 0 {
			return ""
		}
		return fs[m[2*k]:m[2*k+1]]
	}
	for _, m := range isoRe.FindAllStringSubmatchIndex(fs, -1) {
		d, ok := mkDate(atoi(m, 1), time.Month(atoi(m, 2)), atoi(m, 3))
		add(m[0], m[1], d, ok, false)
	}
	for _, m := range numRe.FindAllStringSubmatchIndex(fs, -1) {
		if !numberAlone(fs, m[0], m[1]) || timeFollows(fs[m[1]:]) {
			continue
		}
		d, ok := c.resolveNumeric(atoi(m, 1), atoi(m, 3), atoi(m, 4), str(m, 2) == ".")
		add(m[0], m[1], d, ok, false)
	}
	for _, m := range numDashRe.FindAllStringSubmatchIndex(fs, -1) {
		if !numberAlone(fs, m[0], m[1]) {
			continue
		}
		d, ok := c.resolveNumeric(atoi(m, 1), atoi(m, 2), atoi(m, 3), false)
		add(m[0], m[1], d, ok, false)
	}
	for _, m := range dayMonRe.FindAllStringSubmatchIndex(fs, -1) {
		d, ok := c.resolveYMD(atoi(m, 3), months[str(m, 2)], atoi(m, 1))
		add(m[0], m[1], d, ok, false)
	}
	for _, m := range monDayRe.FindAllStringSubmatchIndex(fs, -1) {
		d, ok := c.resolveYMD(atoi(m, 3), months[str(m, 1)], atoi(m, 2))
		add(m[0], m[1], d, ok, false)
	}
	for _, re := range []*regexp.Regexp{wdDayRe, ordinalRe, dayLeRe} {
		for _, m := range re.FindAllStringSubmatchIndex(fs, -1) {
			if timeFollows(fs[m[1]:]) || strings.HasPrefix(strings.TrimLeft(fs[m[1]:], " "), "%") {
				continue
			}
			d, ok := c.nextDayOfMonth(atoi(m, 1))
			add(m[0], m[1], d, ok, false)
		}
	}
	for _, m := range nextWeekRe.FindAllStringIndex(fs, -1) {
		add(m[0], m[1], c.nextMonday(), true, true)
	}
	for _, m := range monthEndRe.FindAllStringIndex(fs, -1) {
		first := DateOf(time.Date(c.ref.Year, c.ref.Month+1, 1, 12, 0, 0, 0, time.UTC))
		add(m[0], m[1], first, true, true)
	}
	for _, m := range weekdayRe.FindAllStringSubmatchIndex(fs, -1) {
		add(m[0], m[1], c.nextWeekday(weekdays[str(m, 1)]), true, false)
	}
	for _, m := range tomorrowRe.FindAllStringIndex(fs, -1) {
		add(m[0], m[1], c.ref.AddDays(1), true, false)
	}
	for _, m := range inNRe.FindAllStringSubmatchIndex(fs, -1) {
		if n := numWord(str(m, 1)); n > 0 {
			add(m[0], m[1], c.ref.AddDays(n*unitDays(str(m, 2))), true, true)
		}
	}
	// "absent this week": back next Monday.
	for _, m := range thisWeekRe.FindAllStringSubmatchIndex(fs, -1) {
		if !taken(m[2], m[3]) {
			hits = append(hits, dateHit{start: m[2], end: m[3], d: c.nextMonday(), kind: kindDuration, fixed: true})
		}
	}
	for _, m := range forNRe.FindAllStringSubmatchIndex(fs, -1) {
		if n := numWord(str(m, 1)); n > 0 && !taken(m[0], m[1]) {
			hits = append(hits, dateHit{start: m[0], end: m[1], d: c.ref.AddDays(n * unitDays(str(m, 2))), kind: kindDuration, fixed: true})
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].start < hits[j].start })
	return hits
}

// numberAlone: not part of a longer number, IP address or phone number.
func numberAlone(fs string, s, e int) bool {
	if s > 0 && strings.ContainsRune("0123456789./-+:", rune(fs[s-1])) {
		return false
	}
	rest := fs[e:]
	return !(len(rest) > 0 && (rest[0] >= '0' && rest[0] <= '9' || (len(rest) > 1 && strings.ContainsRune("./-:", rune(rest[0])) && rest[1] >= '0' && rest[1] <= '9')))
}

var timeAfter = regexp.MustCompile(`^\s*(uhr|h\b|am\b|pm\b|a\.m|p\.m|heures?\b|hrs?\b|:\d)`)

func timeFollows(rest string) bool { return timeAfter.MatchString(rest) }

// Words just before a date that say what it is. Fillers between the
// keyword and the date are allowed.
const filler = `(?:\s*(?:,|on|in|at|the|to|office|the\s+office|work|my\s+desk|again|le|la|au|bureau|a|nouveau|partir|du|des|de|am|ab|dem|den|zum|im|buro|wieder|el|del|oficina|desde|from|starting|` + wdAlt + `))*\s*$`

var (
	rangeConnRe = regexp.MustCompile(`(?:\s*(-|\b(?:to|au|al|bis(?:\s+(?:zum|einschliesslich|inkl\.?|inklusive|und\s+mit))?|through|thru|until|till|jusqu'au|hasta(?:\s+el)?|y|et|and)\b)\s*(?:the\s+|le\s+|el\s+|dem\s+|den\s+|zum\s+)?)$`)
	dayBeforeRe = regexp.MustCompile(`\b\d{1,2}(?:st|nd|rd|th|er|\.)?\s*$`)
	untilRe     = regexp.MustCompile(`\b(until|till|til|through|thru|up\s+to\s+and\s+including|bis(?:\s+(?:zum|zur|einschliesslich|inkl\.?|inklusive|und\s+mit|am|auf))?|jusqu'(?:au|a|a\s+la|a\s+ce)|hasta(?:\s+el(?:\s+dia)?)?)` + filler)
	returnRe    = regexp.MustCompile(`\b(back|return|returning|returns|i\s+return|be\s+back|in\s+the\s+office|reachable|available|de\s+retour|retour(?:\s+prevu)?|reviens|reviendrai|rentre|rentrerai|joignable|disponible|zuruck|wieder\s+(?:da|im\s+buro|erreichbar|verfugbar|im\s+haus|fur\s+sie\s+da)|erreichbar|de\s+vuelta|de\s+regreso|regreso|regresare|regresamos|vuelvo|volvere|reincorporo|reincorporare|estare\s+disponible)` + filler)
	startRe     = regexp.MustCompile(`\b(from|starting|beginning|as\s+of|ab|a\s+partir|a\s+compter|des|desde|vom|von|du|del)(?:\s+(?:the|dem|den|le|el|du|de|del))?\s*$`)
	afterRe     = regexp.MustCompile(`\b(after|apres|nach|despues\s+de(?:l)?|passe|past)(?:\s+(?:the|le|dem|den|el|la))?\s*$`)
	returnVerb  = regexp.MustCompile(`\b(back|return|reachable|available|in\s+the\s+office|de\s+retour|joignable|disponible|wieder|zuruck|erreichbar|de\s+vuelta|de\s+regreso|regreso|vuelvo|volvere|reincorpor)`)
	germanBack  = regexp.MustCompile(`^\.?\s*(?:(?:bin|ist|sind)\s+(?:ich|er|sie|wir)\s+)?(?:wieder|zuruck)\b`)
	inclusiveRe = regexp.MustCompile(`^\s*\(?(inclus|incluse|inclusive|inclusivement|einschliesslich|inkl\.?|included)\b`)
	// A clause ends at a line break, ! ? ; or a full stop after a word of
	// four letters or more (not "déc. 2026", not "14.12. wieder").
	clauseEnd = regexp.MustCompile(`[\n!?;]|[a-z]{4}\.\s`)
)

// clauseStart is where the clause containing position p begins (looking
// back 200 bytes at most).
func clauseStart(fs string, p int) int {
	start := max(0, p-200)
	base := start
	for _, m := range clauseEnd.FindAllStringIndex(fs[base:p], -1) {
		start = base + m[1]
	}
	return start
}

// classify gives each hit its role from the words around it.
func (c dateCtx) classify(fs string, hits []dateHit) {
	for i := range hits {
		h := &hits[i]
		if h.kind == kindDuration {
			continue
		}
		cs := clauseStart(fs, h.start)
		before := fs[cs:h.start]
		after := fs[h.end:]
		if len(after) > 40 {
			after = after[:40]
		}
		if cut := strings.IndexAny(after, ",\n;"); cut >= 0 {
			after = after[:cut]
		}
		h.inclusive = inclusiveRe.MatchString(after)
		if m := rangeConnRe.FindStringSubmatchIndex(before); m != nil && m[0] > 0 {
			pre := strings.TrimRight(before[:m[0]], " ")
			prevEnds := false
			for _, p := range hits[:i] {
				if p.end >= cs && strings.TrimRight(fs[cs:p.end], " ") == pre {
					prevEnds = true
				}
			}
			if prevEnds || dayBeforeRe.MatchString(pre) {
				switch conn := before[m[2]:m[3]]; conn {
				case "until", "till":
					h.kind = kindUntil
				default:
					h.kind = kindRange
					if strings.HasPrefix(conn, "bis") && strings.Contains(conn, " ") {
						h.inclusive = true
					}
				}
				continue
			}
		}
		switch {
		case untilRe.MatchString(before):
			h.kind = kindUntil
			m := untilRe.FindStringSubmatch(before)
			switch w := m[1]; {
			case w == "through" || w == "thru" || strings.HasPrefix(w, "up to") || strings.Contains(w, "einschliesslich") || strings.Contains(w, "inkl") || strings.Contains(w, "und mit"):
				h.inclusive = true
			}
		case returnRe.MatchString(before):
			h.kind = kindReturn
		case startRe.MatchString(before):
			kw := startRe.FindStringIndex(before)
			if returnVerb.MatchString(before[:kw[0]]) || germanBack.MatchString(after) {
				h.kind = kindReturn
			} else {
				h.kind = kindStart
			}
		case afterRe.MatchString(before):
			h.kind = kindAfter
		case germanBack.MatchString(after):
			h.kind = kindReturn
		}
	}
}

// returnDay turns a hit into the first day back.
func (c dateCtx) returnDay(h dateHit) Date {
	switch h.kind {
	case kindUntil:
		if h.fixed {
			return h.d
		}
		if h.inclusive || (c.lang != "en" && c.lang != "") {
			return h.d.AddDays(1)
		}
		return h.d
	case kindRange, kindAfter:
		if h.fixed {
			return h.d
		}
		return h.d.AddDays(1)
	}
	return h.d
}

func (c dateCtx) plausible(d Date) bool {
	return d.After(c.ref) && daysBetween(c.ref, d) <= 366
}

// ParseReturnDate reads the first day someone is back from the text of an
// out-of-office notice (subject and body). sent is when the notice was
// written — the message's Date header, in the writer's own offset, or the
// time it was received: relative dates ("back tomorrow", "back in two
// weeks", "for 3 days", "back next week", "until Monday", "until the 14th")
// count from its calendar day, and a date without a year is the next one
// after it. The phrase that gave the date is returned with it; the zero
// Date when no plausible date (after sent, within a year) is found.
//
// Formats: "14/12/2026", "12/14", "14.12.", "2026-12-14", "December 14",
// "Dec 14th, 2026", "14 December", "the 14th", weekdays, in English,
// French ("de retour le 14 décembre", "jusqu'au 3 janvier inclus", "du 2
// au 11 décembre"), German ("zurück am 14.12.", "ab dem 14. Dezember wieder
// im Büro", "bis einschließlich 11.12.") and Spanish ("de vuelta el 14 de
// diciembre", "hasta el 7 de enero", "del 2 al 10 de diciembre").
//
// Which day is "back":
//   - "back/returning/de retour/zurück/de vuelta … X", "ab X wieder", "from
//     X" next to a return verb: X.
//   - English "until X" / "till X": X ("out until Monday" means back on
//     Monday); "through X", "X inclusive": the day after.
//   - French "jusqu'au X", German "bis X", Spanish "hasta X": the day after
//     X — these usually include X, and a day late is better than a day early.
//   - Ranges "X – Y", "from X to Y", "du X au Y", "vom X bis Y", "del X al
//     Y": the day after Y.
//   - "for 3 days", "for two weeks": sent + that many days; "next week", "the
//     rest of the week": the next Monday.
//
// A stated return ("back on X") wins over an "until" or a range, which win
// over a duration; otherwise the first one in the text.
//
// dd/mm or mm/dd: dotted dates (14.12.) are day first. For slashes, a
// reading that is not a valid date is dropped ("31/02" gives no date); if
// both are valid, the one that falls within the next 60 days wins; if both
// do, French, German and Spanish text is day first, English is month first
// only when sent's UTC offset is between −10:00 and −03:30 (US, Canada),
// else day first.
func ParseReturnDate(text string, sent time.Time) (Date, string) {
	f := fold(text)
	c := newDateCtx(sent, detectLang(f.s))
	hits := c.findDates(f.s)
	c.classify(f.s, hits)
	rank := map[dateKind]int{kindReturn: 3, kindUntil: 2, kindRange: 2, kindDuration: 1}
	best, bestRank := -1, 0
	for i, h := range hits {
		r := rank[h.kind]
		if r == 0 || !c.plausible(c.returnDay(h)) {
			continue
		}
		if r > bestRank {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return Date{}, ""
	}
	h := hits[best]
	return c.returnDay(h), phraseAround(f, h)
}

// phraseAround quotes the hit with its keyword (the clause up to 60 bytes
// before it).
func phraseAround(f *folded, h dateHit) string {
	s := clauseStart(f.s, h.start)
	if h.start-s > 60 {
		s = h.start - 60
		if sp := strings.IndexByte(f.s[s:h.start], ' '); sp >= 0 {
			s += sp + 1
		}
	}
	return f.span(s, h.end)
}

// Follow-up times for "not now" replies.
var (
	quarterRe   = regexp.MustCompile(`\b(?:q([1-4])|(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter|(premier|deuxieme|second|troisieme|quatrieme)\s+trimestre|t([1-4])|([1-4])\.\s*quartal|(ersten|zweiten|dritten|vierten)\s+quartal|(primer|segundo|tercer|cuarto)\s+trimestre)\b`)
	nextQRe     = regexp.MustCompile(`\b(?:next\s+quarter|(?:le\s+)?trimestre\s+prochain|prochain\s+trimestre|(?:nachsten|kommenden)\s+quartal|(?:proximo|siguiente)\s+trimestre)\b`)
	nextYearRe  = regexp.MustCompile(`\b(?:next\s+year|(?:the\s+)?new\s+year|l'annee\s+prochaine|nachste[sn]?\s+jahr|(?:im\s+)?neuen\s+jahr|(?:im\s+)?kommenden\s+jahr|el\s+ano\s+que\s+viene|el\s+(?:proximo|siguiente)\s+ano|(?:el\s+)?nuevo\s+ano)\b`)
	nextMonthRe = regexp.MustCompile(`\b(?:next\s+month|le\s+mois\s+prochain|nachste[nr]?\s+monat|el\s+(?:proximo|siguiente)\s+mes|el\s+mes\s+que\s+viene)\b`)
	inMonthsRe  = regexp.MustCompile(`\b(?:in|dans|en|dentro\s+de|d'ici|within)\s+(` + numWordAlt + `|a\s+few|a\s+couple(?:\s+of)?|several|quelques|ein\s+paar|einigen|unos|unas|algunos|algunas)\s+(weeks?|months?|semaines|mois|wochen|monaten|monat|semanas|meses|mes)\b`)
	monthNameRe = regexp.MustCompile(`\b(?:in|en|im|around|by|until|till|for|early|late|mid|fin|debut|anfang|ende|mitte|a\s+principios\s+de|a\s+finales\s+de)\s+(?:de\s+|d')?(january|february|march|april|may|june|july|august|september|october|november|december|janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre|januar|februar|marz|juni|juli|oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre)\b`)
	seasonRe    = regexp.MustCompile(`\b(?:(after\s+(?:the\s+)?summer|apres\s+l'ete|nach\s+dem\s+sommer|despues\s+del\s+verano)|(spring|printemps|fruhjahr|fruhling|primavera)|(summer|l'ete|cet\s+ete|sommer|verano)|((?:the|this|next|in|early|late)\s+fall|autumn|automne|herbst|otono))\b`)
	holidaysRe  = regexp.MustCompile(`\b(?:after|apres|nach|despues\s+de)\s+(?:the\s+|les\s+|den\s+|las\s+)?(holidays|new\s+year|christmas|fetes|noel|weihnachten|feiertagen|neujahr|fiestas|navidad|ano\s+nuevo)\b`)
)

// followUpDate reads when a "not now" reply asks to be contacted again: an
// explicit date after "after/until/from" ("circle back after the 15th of
// January"), else a quarter (the first day of that quarter), "next
// quarter/month/year", a month name (its first day), a season (northern
// hemisphere: 1 March, 1 June, 1 September; "after the summer" is 1
// September), "after the holidays" (the first Monday of January) or "in N
// weeks/months". The zero Date when none is stated.
func followUpDate(f *folded, sent time.Time, lang string) (Date, string) {
	c := newDateCtx(sent, lang)
	fs := f.s
	hits := c.findDates(fs)
	c.classify(fs, hits)
	for _, h := range hits {
		switch h.kind {
		case kindAfter, kindUntil, kindReturn, kindRange:
			if d := c.returnDay(h); c.plausible(d) {
				return d, phraseAround(f, h)
			}
		}
	}
	type cand struct {
		at  int
		d   Date
		end int
	}
	var cands []cand
	addC := func(m []int, d Date) {
		if c.plausible(d) {
			cands = append(cands, cand{m[0], d, m[1]})
		}
	}
	firstOf := func(y int, m time.Month) Date { return Date{y, m, 1} }
	nextFirst := func(m time.Month) Date {
		d := firstOf(c.ref.Year, m)
		if !d.After(c.ref) || d.Month == c.ref.Month {
			d = firstOf(c.ref.Year+1, m)
		}
		return d
	}
	for _, m := range quarterRe.FindAllStringSubmatchIndex(fs, -1) {
		q := 0
		for k := 1; k <= 7; k++ {
			if m[2*k] < 0 {
				continue
			}
			w := fs[m[2*k]:m[2*k+1]]
			if n, err := strconv.Atoi(w); err == nil {
				q = n
			} else {
				q = map[string]int{"first": 1, "1st": 1, "premier": 1, "ersten": 1, "primer": 1, "second": 2, "2nd": 2, "deuxieme": 2, "zweiten": 2, "segundo": 2,
					"third": 3, "3rd": 3, "troisieme": 3, "dritten": 3, "tercer": 3, "fourth": 4, "4th": 4, "quatrieme": 4, "vierten": 4, "cuarto": 4}[w]
			}
		}
		if q > 0 && (int(c.ref.Month)-1)/3+1 != q {
			addC(m, nextFirst(time.Month(3*q-2)))
		}
	}
	for _, m := range nextQRe.FindAllStringIndex(fs, -1) {
		addC(m, nextFirst(time.Month(((int(c.ref.Month)-1)/3+1)%4*3+1)))
	}
	for _, m := range nextYearRe.FindAllStringIndex(fs, -1) {
		addC(m, firstOf(c.ref.Year+1, time.January))
	}
	for _, m := range nextMonthRe.FindAllStringIndex(fs, -1) {
		addC(m, DateOf(time.Date(c.ref.Year, c.ref.Month+1, 1, 12, 0, 0, 0, time.UTC)))
	}
	for _, m := range inMonthsRe.FindAllStringSubmatchIndex(fs, -1) {
		w, unit := fs[m[2]:m[3]], fs[m[4]:m[5]]
		n := numWord(w)
		if n == 0 {
			n = 3
			if strings.Contains(w, "couple") {
				n = 2
			}
		}
		if strings.HasPrefix(unit, "w") || strings.HasPrefix(unit, "sem") {
			addC(m, c.ref.AddDays(7*n))
		} else {
			addC(m, DateOf(time.Date(c.ref.Year, c.ref.Month+time.Month(n), c.ref.Day, 12, 0, 0, 0, time.UTC)))
		}
	}
	for _, m := range monthNameRe.FindAllStringSubmatchIndex(fs, -1) {
		addC(m, nextFirst(months[fs[m[2]:m[3]]]))
	}
	for _, m := range seasonRe.FindAllStringSubmatchIndex(fs, -1) {
		for k, mo := range []time.Month{time.September, time.March, time.June, time.September} {
			if m[2*(k+1)] >= 0 {
				addC(m, nextFirst(mo))
			}
		}
	}
	for _, m := range holidaysRe.FindAllStringIndex(fs, -1) {
		y := c.ref.Year
		if c.ref.Month >= time.September {
			y++
		}
		jan := Date{y, time.January, 2}
		for jan.Weekday() != time.Monday {
			jan = jan.AddDays(1)
		}
		addC(m, jan)
	}
	if len(cands) == 0 {
		return Date{}, ""
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].at < cands[j].at })
	return cands[0].d, f.span(cands[0].at, cands[0].end)
}

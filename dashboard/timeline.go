package dashboard

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// Timelines and times for people: each timeline entry becomes a sentence
// ("Waiting for sales since Tue 14:02 — replied to Welcome"), repeats in a
// row become one line that counts them, and times are in the prospect's
// zone with UTC in a title attribute.

// stamp is a time shown in a zone, relative to now (the engine's clock).
type stamp struct {
	T   time.Time
	loc *time.Location
	now time.Time
}

// IsZero reports whether there is no time to show.
func (s stamp) IsZero() bool { return s.T.IsZero() }

func (s stamp) in() time.Time {
	if s.loc == nil {
		return s.T.UTC()
	}
	return s.T.In(s.loc)
}

// Long is the date and time in the zone: "Tue 3 Mar 14:02" ("… 2027" in
// another year than now).
func (s stamp) Long() string {
	t := s.in()
	if !s.now.IsZero() && t.Year() != s.now.In(t.Location()).Year() {
		return t.Format("Mon 2 Jan 2006 15:04")
	}
	return t.Format("Mon 2 Jan 15:04")
}

// Short is "Tue 14:02" within six days of now, else Long.
func (s stamp) Short() string {
	t := s.in()
	if d := s.T.Sub(s.now); !s.now.IsZero() && d < 6*24*time.Hour && d > -6*24*time.Hour {
		return t.Format("Mon 15:04")
	}
	return s.Long()
}

// UTC is the time in UTC, for the title attribute.
func (s stamp) UTC() string { return s.T.UTC().Format("2006-01-02 15:04 UTC") }

// ISO is the time for the datetime attribute.
func (s stamp) ISO() string { return s.T.UTC().Format(time.RFC3339) }

// Ago says how long before now the time was: "3 h ago".
func (s stamp) Ago() string { return ago(s.now.Sub(s.T)) }

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// zoneOf is the zone a prospect's times are shown in and how it was
// found: the prospect's own, the one its phone number implies, the
// cadence's default, else UTC.
func zoneOf(p *store.Prospect, c *cadence.Cadence) (*time.Location, string) {
	if p != nil && p.TimeZone != "" {
		if loc, err := cadence.LoadZone(p.TimeZone); err == nil {
			return loc, loc.String() + " (the prospect's zone)"
		}
	}
	if p != nil && p.Phone != "" {
		if zs := cadence.ZonesForPhone(p.Phone); len(zs) > 0 {
			return zs[0], zs[0].String() + " (from the phone number)"
		}
	}
	if c != nil && c.Zone != nil {
		return c.Zone, c.Zone.String() + " (the cadence's default)"
	}
	return time.UTC, "UTC"
}

// part is a piece of a sentence: text, or a time.
type part struct {
	Text string
	At   *stamp
}

// sentence builds a line of text with times in it.
type sentence struct {
	parts []part
	loc   *time.Location
	now   time.Time
}

func (s *sentence) text(t string) *sentence {
	if t == "" {
		return s
	}
	if n := len(s.parts); n > 0 && s.parts[n-1].At == nil {
		s.parts[n-1].Text += t
		return s
	}
	s.parts = append(s.parts, part{Text: t})
	return s
}

func (s *sentence) time(t time.Time) *sentence {
	s.parts = append(s.parts, part{At: &stamp{T: t, loc: s.loc, now: s.now}})
	return s
}

// line is one line of a timeline as shown.
type line struct {
	At    stamp
	Kind  string
	Parts []part
	// Quote is a reply's text, shown under the sentence.
	Quote string
	// Count is how many entries in a row the line stands for.
	Count int
	First stamp
	// Tone is a CSS class: warm, bad, quiet or "".
	Tone string
}

// Plain is the line's text without markup (tests, flashes).
func (l line) Plain() string {
	var b strings.Builder
	for _, p := range l.Parts {
		if p.At != nil {
			b.WriteString(p.At.Short())
		} else {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// repeatable are the kinds of entry that recipients, providers and the
// schedule repeat: the same one in a row is shown once, counted.
var repeatable = map[string]bool{"deferred": true, "held": true, "retry": true, "opened": true, "clicked": true, "delivered": true}

// foldedRE finds the note a store adds to a coalesced line's reason:
// "×3, last 2026-03-02T15:04:05Z", alone or in parentheses.
var foldedRE = regexp.MustCompile(`(?:^| \()×(\d+), last (\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))\)?$`)

// unfold takes a coalesced line's note off its reason: how many entries
// it stands for and the newest one's time.
func unfold(en cadence.Entry) (cadence.Entry, int, time.Time) {
	m := foldedRE.FindStringSubmatchIndex(en.Reason)
	if m == nil {
		return en, 1, en.At
	}
	n, err1 := strconv.Atoi(en.Reason[m[2]:m[3]])
	last, err2 := time.Parse(time.RFC3339, en.Reason[m[4]:m[5]])
	if err1 != nil || err2 != nil || n < 1 {
		return en, 1, en.At
	}
	en.Reason = en.Reason[:m[0]]
	return en, n, last
}

// sameLine reports whether b repeats a: the same entry but for its times.
func sameLine(a, b cadence.Entry) bool {
	return repeatable[a.Kind] && a.Kind == b.Kind && a.Touch == b.Touch && a.Channel == b.Channel &&
		a.Reason == b.Reason && a.By == b.By && a.From == b.From && a.To == b.To
}

// describe turns a timeline (oldest first) into lines, newest first.
func describe(c *cadence.Cadence, tl []cadence.Entry, loc *time.Location, now time.Time) []line {
	type run struct {
		en    cadence.Entry // the newest of the run (its Until wins)
		first time.Time
		last  time.Time
		n     int
	}
	var runs []run
	for _, raw := range tl {
		en, n, last := unfold(raw)
		if k := len(runs); k > 0 && sameLine(runs[k-1].en, en) {
			r := &runs[k-1]
			r.n += n
			if last.After(r.last) {
				r.last, r.en = last, en
			}
			continue
		}
		runs = append(runs, run{en: en, first: en.At, last: last, n: n})
	}
	out := make([]line, 0, len(runs))
	lastReply := ""
	for _, r := range runs {
		s := &sentence{loc: loc, now: now}
		l := line{At: stamp{T: r.last, loc: loc, now: now}, First: stamp{T: r.first, loc: loc, now: now}, Kind: r.en.Kind, Count: r.n}
		say(s, &l, c, r.en, lastReply)
		if r.en.Kind == string(cadence.EvReplied) {
			lastReply = r.en.Touch
		}
		if r.n > 1 {
			s.text(fmt.Sprintf(", %d times (first ", r.n)).time(r.first).text(")")
		}
		l.Parts = s.parts
		out = append(out, l)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// say writes the sentence of one entry.
func say(s *sentence, l *line, c *cadence.Cadence, en cadence.Entry, lastReply string) {
	touch := touchName(c, en.Touch)
	by := who(en.By)
	reason := en.Reason
	switch en.Kind {
	case "enrolled":
		s.text("Enrolled in " + cadenceName(c) + ", starting at " + stageName(c, en.ToStage))
		if strings.HasPrefix(reason, "version ") {
			s.text(" (" + reason + ")")
		}
	case "stage":
		if en.Stage == "" {
			s.text("Moved to " + stageName(c, en.ToStage))
		} else {
			s.text("Moved from " + stageName(c, en.Stage) + " to " + stageName(c, en.ToStage))
		}
		s.text(dash(stageReason(c, reason)))
	case "state":
		switch {
		case en.To == cadence.Completed:
			s.text("Finished the cadence" + dash(stageReason(c, reason)))
		case by != "":
			l.Tone = "bad"
			s.text("Stopped by " + by + dash(strings.TrimPrefix(strings.TrimPrefix(reason, "stopped"), ": ")))
		case en.To == cadence.Exited:
			l.Tone = "bad"
			s.text("Left the cadence" + dash(stageReason(c, reason)))
		default:
			s.text(capitalize(fmt.Sprintf("%s → %s", stateWords(en.From), stateWords(en.To))) + dash(reason))
		}
	case string(cadence.EvSent):
		s.text("Sent " + touch + channelWords(en.Channel))
		s.text(dash(reason))
	case string(cadence.EvSkipped):
		l.Tone = "quiet"
		s.text("Skipped " + touch + dash(reason))
	case string(cadence.EvDelivered):
		l.Tone = "quiet"
		s.text(capitalize(touch) + " was delivered")
	case string(cadence.EvOpened):
		if strings.HasPrefix(reason, "machine open") || strings.Contains(reason, "Privacy Protection") || strings.Contains(reason, "not counted") {
			l.Tone = "quiet"
			s.text(capitalize(touch) + " was opened by a machine, not a person" + dash(strings.TrimSuffix(reason, ": not counted as engagement")) + "; not counted")
		} else {
			s.text("Opened " + touch + dash(reason))
		}
	case string(cadence.EvClicked):
		if strings.Contains(reason, "scanner") {
			l.Tone = "quiet"
			s.text("A link scanner clicked " + touch + "; not counted")
		} else {
			s.text("Clicked a link in " + touch)
			if reason != "" {
				s.text(": " + reason)
			}
		}
	case string(cadence.EvReplied):
		l.Tone = "warm"
		if en.Touch != "" {
			s.text("Replied to " + touch)
		} else {
			s.text("Replied")
		}
		if en.Channel != "" {
			s.text(channelWords(en.Channel))
		}
		l.Quote = reason
	case "warm":
		l.Tone = "warm"
		s.text("Waiting for sales since ").time(en.At)
		if lastReply != "" {
			s.text(" — replied to " + touchName(c, lastReply))
		} else {
			s.text(" — replied")
		}
	case "auto_replied":
		if en.To == cadence.Snoozed && en.From != en.To {
			s.text("Out of office: snoozed until ").time(en.Until).text(dash(strings.TrimPrefix(reason, "auto-reply: ")))
		} else {
			s.text("Auto-reply recorded" + dash(reason))
		}
	case string(cadence.EvPaused):
		s.text("Paused by " + orWord(by, "someone"))
		if !en.Until.IsZero() {
			s.text(" until ").time(en.Until)
		}
		s.text(dash(reason))
	case string(cadence.EvSnoozed):
		s.text("Snoozed by " + orWord(by, "someone") + " until ").time(en.Until).text(dash(reason))
	case string(cadence.EvResumed):
		if en.By == "schedule" && reason == "pause ended" {
			s.text("Resumed: the " + stateNoun(en.From) + " ended")
		} else {
			s.text("Resumed by " + orWord(by, "someone") + dash(reason))
		}
	case string(cadence.EvGoal):
		s.text("Reached the goal " + strings.TrimPrefix(reason, "goal "))
		if by != "" {
			s.text(" (reported by " + by + ")")
		}
	case "soft_bounce":
		l.Tone = "bad"
		s.text(capitalize(touch) + " bounced softly; it will be tried again" + dash(reason))
	case "hard_bounce":
		l.Tone = "bad"
		s.text(capitalize(touch) + " bounced: the address is not emailed again" + dash(reason))
	case string(cadence.EvComplained):
		l.Tone = "bad"
		s.text("Marked " + touch + " as spam: no more email to this address" + dash(reason))
	case string(cadence.EvUnsubscribed):
		l.Tone = "bad"
		s.text("Unsubscribed from email")
		if by != "" {
			s.text(" (" + by + ")")
		}
		s.text(dash(reason))
	case string(cadence.EvSMSOptOut):
		l.Tone = "bad"
		s.text("Opted out of SMS" + dash(reason))
	case string(cadence.EvSMSOptIn):
		s.text("Opted back in to SMS" + dash(reason))
	case "deferred":
		l.Tone = "quiet"
		s.text("Held " + touch)
		if !en.Until.IsZero() {
			s.text(" until ").time(en.Until)
		}
		s.text(dash(deferReason(reason)))
	case "held":
		l.Tone = "bad"
		s.text("Cannot send " + touch + dash(reason))
		if !en.Until.IsZero() {
			s.text("; checking again ").time(en.Until)
		}
	case "retry":
		l.Tone = "quiet"
		s.text("Sending " + touch + " failed")
		if !en.Until.IsZero() {
			s.text("; trying again ").time(en.Until)
		}
		s.text(dash(reason))
	case undoKind:
		s.text("Undone by " + orWord(by, "someone") + dash(reason))
	case "version", "trimmed":
		s.text(capitalize(reason))
	default:
		s.text(capitalize(en.Text()))
	}
}

func dash(s string) string {
	if s == "" {
		return ""
	}
	return " — " + s
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// who names the one who caused an entry: "sales:sam" is sam.
func who(by string) string {
	if _, name, ok := strings.Cut(by, ":"); ok && (strings.HasPrefix(by, "sales:") || strings.HasPrefix(by, "admin:")) {
		return name
	}
	switch by {
	case "schedule":
		return "the schedule"
	case "api":
		return "the API"
	case "crm":
		return "the CRM"
	}
	return by
}

// humanize makes an id readable: "trial-ending-sms" is "Trial ending SMS".
func humanize(id string) string {
	words := strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' || r == ' ' })
	for i, w := range words {
		switch strings.ToLower(w) {
		case "sms", "api", "crm", "url", "faq", "ab":
			words[i] = strings.ToUpper(w)
		}
	}
	return capitalize(strings.Join(words, " "))
}

func touchName(c *cadence.Cadence, id string) string {
	if id == "" {
		return "a message"
	}
	return humanize(id)
}

func stageName(c *cadence.Cadence, id string) string {
	if c != nil {
		if st := c.Stage(id); st != nil && st.Name != "" && st.Name != st.ID {
			return st.Name
		}
	}
	return humanize(id)
}

func cadenceName(c *cadence.Cadence) string {
	if c == nil {
		return "the cadence"
	}
	if c.Name != "" {
		return c.Name
	}
	return humanize(c.ID)
}

func channelWords(ch cadence.Channel) string {
	switch ch {
	case cadence.Email:
		return " by email"
	case cadence.SMS:
		return " by SMS"
	case "":
		return ""
	}
	return " by " + string(ch)
}

// stateWords says what a state means to a rep.
func stateWords(s cadence.State) string {
	switch s {
	case cadence.Active:
		return "running"
	case cadence.Paused:
		return "paused"
	case cadence.Snoozed:
		return "snoozed"
	case cadence.Warm:
		return "waiting for sales"
	case cadence.Completed:
		return "finished"
	case cadence.Exited:
		return "ended"
	}
	return string(s)
}

func stateNoun(s cadence.State) string {
	if s == cadence.Snoozed {
		return "snooze"
	}
	return "pause"
}

var (
	clickOnRE    = regexp.MustCompile(`^click on (.+)$`)
	openOnRE     = regexp.MustCompile(`^human_open on (.+)$`)
	replyOnRE    = regexp.MustCompile(`^reply on (.+)$`)
	touchesRE    = regexp.MustCompile(`^stage (.+) touches done$`)
	noEngageRE   = regexp.MustCompile(`^no engagement for (.+)$`)
	zoneSourceRE = regexp.MustCompile(` \(zone [^)]*\)$`)
	windowRE     = regexp.MustCompile(`^outside send window (\S+) (\d\d:\d\d)-(\d\d:\d\d) in (.+)$`)
	smsHoursRE   = regexp.MustCompile(`^outside SMS hours (\S+) (\d\d:\d\d)-(\d\d:\d\d)(?: \((\w+)\))? in (.+)$`)
	capRE        = regexp.MustCompile(`^frequency cap (\d+) per (\S+)$`)
	stateCapRE   = regexp.MustCompile(`^(\w+) limit of (\d+) marketing SMS per 24h$`)
)

// stageReason says why a stage changed.
func stageReason(c *cadence.Cadence, r string) string {
	if m := clickOnRE.FindStringSubmatch(r); m != nil {
		return "clicked " + touchName(c, m[1])
	}
	if m := openOnRE.FindStringSubmatch(r); m != nil {
		return "opened " + touchName(c, m[1])
	}
	if m := replyOnRE.FindStringSubmatch(r); m != nil {
		return "replied to " + touchName(c, m[1])
	}
	if m := touchesRE.FindStringSubmatch(r); m != nil {
		return "every " + stageName(c, m[1]) + " touch done"
	}
	if m := noEngageRE.FindStringSubmatch(r); m != nil {
		return "no opens, clicks or replies for " + m[1]
	}
	if r == "goal" || strings.HasPrefix(r, "goal ") {
		return "reached the " + r
	}
	return r
}

// deferReason says why a touch waits: "outside the send window (Mon–Fri
// 09:00–17:00 in America/Chicago)".
func deferReason(r string) string {
	r = zoneSourceRE.ReplaceAllString(r, "")
	if m := windowRE.FindStringSubmatch(r); m != nil {
		return "outside the send window (" + days(m[1]) + " " + m[2] + "–" + m[3] + " in " + m[4] + ")"
	}
	if m := smsHoursRE.FindStringSubmatch(r); m != nil {
		s := "outside SMS hours (" + days(m[1]) + " " + m[2] + "–" + m[3] + " in " + m[5]
		if m[4] != "" {
			s += ", " + m[4] + " rules"
		}
		return s + ")"
	}
	if m := capRE.FindStringSubmatch(r); m != nil {
		return "the frequency cap (" + m[1] + " per " + period(m[2]) + ")"
	}
	if m := stateCapRE.FindStringSubmatch(r); m != nil {
		return m[1] + "'s limit of " + m[2] + " marketing SMS a day"
	}
	return r
}

// period shortens a Go duration: "24h0m0s" is "24h".
func period(s string) string {
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if s == "24h" {
		return "day"
	}
	return s
}

var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// days writes "Mon,Tue,Wed,Thu,Fri" as "Mon–Fri".
func days(list string) string {
	idx := map[string]int{}
	for i, d := range weekdays {
		idx[d] = i
	}
	var on [7]bool
	for _, d := range strings.Split(list, ",") {
		i, ok := idx[d]
		if !ok {
			return list
		}
		on[i] = true
	}
	var out []string
	for i := 0; i < 7; {
		if !on[i] {
			i++
			continue
		}
		j := i
		for j+1 < 7 && on[j+1] {
			j++
		}
		switch {
		case j == i:
			out = append(out, weekdays[i])
		case j == i+1:
			out = append(out, weekdays[i], weekdays[j])
		default:
			out = append(out, weekdays[i]+"–"+weekdays[j])
		}
		i = j + 1
	}
	if len(out) == 1 && out[0] == "Mon–Sun" {
		return "every day"
	}
	return strings.Join(out, ", ")
}

// status says where an enrollment is now, for the top of its card.
func status(c *cadence.Cadence, e *cadence.Enrollment, tl []cadence.Entry, loc *time.Location, now time.Time) []part {
	s := &sentence{loc: loc, now: now}
	switch e.State {
	case cadence.Warm:
		s.text("Waiting for sales")
		for i := len(tl) - 1; i >= 0; i-- {
			if tl[i].Kind == "warm" {
				s.text(" since ").time(tl[i].At)
				break
			}
		}
	case cadence.Paused:
		s.text("Paused")
		if e.By != "" {
			s.text(" by " + who(e.By))
		}
		if !e.Until.IsZero() {
			s.text(" until ").time(e.Until)
		}
		s.text(dash(e.Reason))
	case cadence.Snoozed:
		s.text("Snoozed")
		if !e.Until.IsZero() {
			s.text(" until ").time(e.Until)
		}
		s.text(dash(strings.TrimPrefix(e.Reason, "auto-reply: ")))
	case cadence.Active:
		s.text("Running")
		if t := c.TouchAt(e.Stage, e.Step); t != nil {
			s.text(" — next: " + touchName(c, t.ID) + channelWords(t.Channel))
		} else {
			s.text(" — " + stageName(c, e.Stage) + " ends")
		}
		if !e.DueAt.IsZero() {
			s.text(", due ").time(e.DueAt)
		}
	case cadence.Completed:
		s.text("Finished" + dash(stageReason(c, e.Reason)))
	case cadence.Exited:
		s.text("Ended" + dash(stageReason(c, e.Reason)))
	default:
		s.text(string(e.State))
	}
	return s.parts
}

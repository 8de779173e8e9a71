package cadence

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// The spec types mirror the YAML file format field for field. Their tags
// drive decoding (yaml, required, enum) and the JSON Schema (desc).

// Spec is one cadence file.
type Spec struct {
	ID            string                  `yaml:"id" required:"true" desc:"Stable identifier, lowercase letters, digits and dashes."`
	Name          string                  `yaml:"name" required:"true" desc:"Human-readable name shown in the dashboard."`
	Description   string                  `yaml:"description" desc:"Free text for people reading the cadence."`
	TimeZone      Zone                    `yaml:"timezone" required:"true" desc:"Fallback IANA time zone for email when the recipient's zone is unknown."`
	From          FromSpec                `yaml:"from" required:"true" desc:"Sender identities."`
	PostalAddress string                  `yaml:"postal_address" desc:"Sender postal address shown in every marketing email (CAN-SPAM)."`
	SendWindow    *WindowSpec             `yaml:"send_window" desc:"When touches may be sent, in the recipient's time zone. Default: every day 08:00-20:00."`
	Holidays      []Date                  `yaml:"holidays" desc:"Dates (YYYY-MM-DD) on which nothing is sent and which business-day delays skip."`
	SMSQuietHours *WindowSpec             `yaml:"sms_quiet_hours" desc:"Allowed hours for marketing SMS; may only narrow the legal default 08:00-21:00 (08:00-20:00 in FL, OK, MD, WA)."`
	FrequencyCaps CapsSpec                `yaml:"frequency_caps" desc:"Per-prospect limits per channel over a rolling period."`
	Reply         ReplySpec               `yaml:"reply" desc:"What a human reply does. Default: mark the lead warm and pause for sales."`
	Exit          []ExitSpec              `yaml:"exit" desc:"Events that end the cadence. Default: unsubscribe, complaint, hard_bounce."`
	Stages        []StageSpec             `yaml:"stages" required:"true" desc:"Ordered journey stages."`
	Templates     map[string]TemplateSpec `yaml:"templates" desc:"Message templates by name, referenced by touches."`
	At            Positions               `yaml:"-"`
}

// FromSpec names the senders.
type FromSpec struct {
	Email            string    `yaml:"email" desc:"From address, e.g. \"Acme <hello@acme.example>\"."`
	ReplyTo          string    `yaml:"reply_to" desc:"Reply-To address; replies are matched back to the enrollment."`
	SMS              string    `yaml:"sms" desc:"Sending phone number in E.164."`
	MessagingService string    `yaml:"messaging_service" desc:"Twilio Messaging Service SID, instead of sms."`
	Mailbox          string    `yaml:"mailbox" desc:"Sender mailbox (NURTURE_MAILBOXES) for email: owner (the prospect's owner's mailbox; replies go to the rep), pool:NAME (spread over a pool) or a mailbox id. A prospect keeps its mailbox for the whole enrollment; email is the fallback when none fits."`
	At               Positions `yaml:"-"`
}

// WindowSpec is a weekly window: days of week and an hour range.
type WindowSpec struct {
	Days  Weekdays  `yaml:"days" desc:"Days of week: mon..sun, ranges like mon-fri, or weekdays / everyday."`
	Start Clock     `yaml:"start" required:"true" desc:"Opening time HH:MM, local to the recipient."`
	End   Clock     `yaml:"end" required:"true" desc:"Closing time HH:MM (exclusive), after start; 24:00 allowed."`
	At    Positions `yaml:"-"`
}

// CapsSpec holds per-channel frequency caps.
type CapsSpec struct {
	Email *CapSpec `yaml:"email" desc:"Cap on emails per prospect."`
	SMS   *CapSpec `yaml:"sms" desc:"Cap on SMS per prospect."`
}

// CapSpec is "at most Max messages per Per".
type CapSpec struct {
	Max int       `yaml:"max" required:"true" desc:"Most messages in the period."`
	Per Delay     `yaml:"per" required:"true" desc:"Rolling period, e.g. 24h or 7d."`
	At  Positions `yaml:"-"`
}

// ReplySpec is the reply policy.
type ReplySpec struct {
	Action          string `yaml:"action" enum:"warm,advance,exit,ignore" desc:"warm (default): pause for sales; advance: go to stage 'to'; exit: end the cadence; ignore: record only."`
	To              string `yaml:"to" desc:"Target stage for action advance."`
	AutoReplySnooze Delay  `yaml:"auto_reply_snooze" desc:"Snooze after an auto-reply without a readable return date. Default 7d."`
	// Per-class actions for replies the inbound classifier recognises.
	// An opt-out request is not among them: it always unsubscribes
	// (COMPLIANCE.md 22).
	OutOfOffice      *OutOfOfficeSpec `yaml:"out_of_office" desc:"An out-of-office reply. Default: snooze until the send window opens on the return day, else for auto_reply_snooze."`
	AutoReply        *SnoozeSpec      `yaml:"auto_reply" desc:"Any other automatic reply. Default: snooze for auto_reply_snooze."`
	BounceInDisguise *SnoozeSpec      `yaml:"bounce_in_disguise" desc:"A delivery failure sent as a plain message (never suppresses the address). Default: snooze for auto_reply_snooze."`
	NotNow           *NotNowSpec      `yaml:"not_now" desc:"A reply asking to be contacted later. Default: snooze until the date it names, else treated as a reply."`
	WrongPerson      *WrongPersonSpec `yaml:"wrong_person" desc:"A reply saying the prospect is not the right contact. Default: pause, with the referral on the timeline."`
	At               Positions        `yaml:"-"`
}

// OutOfOfficeSpec is the action for out-of-office replies. An auto-reply
// never marks the lead warm (COMPLIANCE.md 19), so warm is not offered.
type OutOfOfficeSpec struct {
	Action   string    `yaml:"action" enum:"snooze_until_return,ignore" desc:"snooze_until_return (default): snooze until the send window opens on the return day; ignore: record on the timeline only."`
	Fallback Delay     `yaml:"fallback" desc:"For snooze_until_return, the snooze when no return day can be read. Default: reply.auto_reply_snooze."`
	At       Positions `yaml:"-"`
}

// SnoozeSpec is the action for automatic replies and bounces in disguise.
type SnoozeSpec struct {
	Action string    `yaml:"action" enum:"snooze,ignore" desc:"snooze (default): pause sending for a while (an auto-reply naming a return day: until then); ignore: record on the timeline only."`
	For    Delay     `yaml:"for" desc:"For snooze, how long. Default: reply.auto_reply_snooze."`
	At     Positions `yaml:"-"`
}

// NotNowSpec is the action for "not now, try again later" replies.
type NotNowSpec struct {
	Action   string    `yaml:"action" enum:"snooze_until_date,warm" desc:"snooze_until_date (default): snooze until the send window opens on the date the reply names; warm: treat it as a reply (the reply action)."`
	Fallback Delay     `yaml:"fallback" desc:"For snooze_until_date, the snooze when the reply names no date. Default: none, the reply is treated as a reply."`
	At       Positions `yaml:"-"`
}

// WrongPersonSpec is the action for "I'm not the right person" replies.
type WrongPersonSpec struct {
	Action string    `yaml:"action" enum:"pause,exit,warm" desc:"pause (default): pause for a person to follow the referral; exit: end the cadence; warm: treat it as a reply (the reply action)."`
	At     Positions `yaml:"-"`
}

// ExitSpec is one cadence-wide exit rule.
type ExitSpec struct {
	On   string    `yaml:"on" required:"true" enum:"unsubscribe,hard_bounce,complaint,sms_opt_out,goal,reply" desc:"Event that ends the cadence."`
	Goal string    `yaml:"goal" desc:"For on: goal, the goal name (e.g. converted); empty matches any goal."`
	At   Positions `yaml:"-"`
}

// StageSpec is one journey stage.
type StageSpec struct {
	ID      string        `yaml:"id" required:"true" desc:"Stage identifier, e.g. awareness."`
	Name    string        `yaml:"name" desc:"Display name."`
	Touches []TouchSpec   `yaml:"touches" desc:"Ordered touches of this stage."`
	Advance []AdvanceSpec `yaml:"advance" desc:"Rules that move the prospect to another stage."`
	Then    string        `yaml:"then" desc:"Where to go when the touches are done: next (default), complete, exit, or a stage id."`
	At      Positions     `yaml:"-"`
}

// TouchSpec is one timed message.
type TouchSpec struct {
	ID        string        `yaml:"id" required:"true" desc:"Touch identifier, unique in the cadence."`
	Channel   string        `yaml:"channel" required:"true" enum:"email,sms" desc:"email or sms."`
	Delay     Delay         `yaml:"delay" desc:"Wait before this touch: 0, 30m, 2h, 3d, 1w, 2 business days."`
	DelayFrom string        `yaml:"delay_from" enum:"previous,stage_entry" desc:"What the delay counts from: previous touch (default) or stage entry."`
	Template  string        `yaml:"template" desc:"Template name; required unless variants are given."`
	Variants  []VariantSpec `yaml:"variants" desc:"A/B variants, chosen per enrollment by weight."`
	If        []string      `yaml:"if" desc:"Conditions, all must hold: has_phone, has_email, opened_previous, not_opened_previous, clicked_previous, not_clicked_previous, attr.NAME=VALUE, attr.NAME!=VALUE."`
	Window    *WindowSpec   `yaml:"window" desc:"Send window for this touch, replacing the cadence's."`
	Thread    bool          `yaml:"thread" desc:"Email only: send as a reply to the enrollment's previous email (In-Reply-To/References), so mail clients thread them."`
	At        Positions     `yaml:"-"`
}

// VariantSpec is one A/B variant.
type VariantSpec struct {
	ID       string    `yaml:"id" required:"true" desc:"Variant identifier, reported in stats."`
	Template string    `yaml:"template" required:"true" desc:"Template name."`
	Weight   int       `yaml:"weight" desc:"Relative weight, default 1."`
	At       Positions `yaml:"-"`
}

// AdvanceSpec moves a prospect to another stage.
type AdvanceSpec struct {
	On    string    `yaml:"on" required:"true" enum:"click,human_open,reply,goal,no_engagement" desc:"Trigger."`
	After Delay     `yaml:"after" desc:"For no_engagement: how long after the stage's last touch without engagement."`
	Goal  string    `yaml:"goal" desc:"For on: goal, the goal name; empty matches any."`
	To    string    `yaml:"to" required:"true" desc:"Target stage id, or complete / exit."`
	At    Positions `yaml:"-"`
}

// TemplateSpec is one template: email parts or an SMS body.
type TemplateSpec struct {
	Subject Source    `yaml:"subject" desc:"Email subject (Go text/template)."`
	Text    Source    `yaml:"text" desc:"Email plain-text body (Go text/template)."`
	HTML    Source    `yaml:"html" desc:"Email HTML body (Go html/template, auto-escaped)."`
	SMS     Source    `yaml:"sms" desc:"SMS body (Go text/template)."`
	At      Positions `yaml:"-"`
}

// Source is template text with the file line its first character is on, so
// template errors can point into the cadence file.
type Source struct {
	Text string
	Pos  Pos
}

func (s *Source) decodeNode(d *decoder, n *yaml.Node, field string) {
	if !d.scalar(n, field) {
		return
	}
	s.Text = n.Value
	s.Pos = d.pos(n)
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		// Block scalar content starts on the line after the indicator.
		s.Pos.Line++
		s.Pos.Column = 0
	}
}

// Delay is a wait: absolute duration plus calendar and business days.
type Delay struct {
	Duration     time.Duration
	Days         int
	BusinessDays int
	Text         string
}

// IsZero reports whether the delay waits not at all.
func (d Delay) IsZero() bool { return d.Duration == 0 && d.Days == 0 && d.BusinessDays == 0 }

func (d Delay) String() string {
	if d.Text != "" {
		return d.Text
	}
	return "0"
}

var delayPart = regexp.MustCompile(`^\s*(\d+)\s*(business\s+days?|bd|weeks?|w|days?|d|hours?|h|minutes?|mins?|m|seconds?|s)\s*`)

// ParseDelay parses "0", "30m", "2h", "3d", "1w", "2 business days", and
// sums of parts such as "1d 12h".
func ParseDelay(s string) (Delay, error) {
	d := Delay{Text: strings.TrimSpace(s)}
	rest := strings.ToLower(d.Text)
	if rest == "0" || rest == "" || rest == "now" {
		return d, nil
	}
	for rest != "" {
		m := delayPart.FindStringSubmatch(rest)
		if m == nil {
			return Delay{}, fmt.Errorf("cannot read %q as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)", s)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 3650 {
			return Delay{}, fmt.Errorf("delay %q is out of range (at most 3650 of a unit)", s)
		}
		switch unit := m[2]; {
		case strings.HasPrefix(unit, "business"), unit == "bd":
			d.BusinessDays += n
		case strings.HasPrefix(unit, "w"):
			d.Days += 7 * n
		case strings.HasPrefix(unit, "d"):
			d.Days += n
		case strings.HasPrefix(unit, "h"):
			d.Duration += time.Duration(n) * time.Hour
		case strings.HasPrefix(unit, "m"):
			d.Duration += time.Duration(n) * time.Minute
		default:
			d.Duration += time.Duration(n) * time.Second
		}
		rest = rest[len(m[0]):]
	}
	return d, nil
}

func (dl *Delay) decodeNode(d *decoder, n *yaml.Node, field string) {
	if !d.scalar(n, field) {
		return
	}
	v, err := ParseDelay(n.Value)
	if err != nil {
		d.fail(n, field, "%v", err)
		return
	}
	*dl = v
}

// Clock is a time of day in minutes since midnight (0..1440).
type Clock int

func (c Clock) String() string {
	h, m := int(c)/60, int(c)%60
	return string([]byte{byte('0' + h/10), byte('0' + h%10), ':', byte('0' + m/10), byte('0' + m%10)})
}

// ParseClock parses HH:MM, 00:00 to 24:00.
func ParseClock(s string) (Clock, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("cannot read %q as a time of day (expected HH:MM, 00:00 to 24:00)", s)
	}
	return Clock(hh*60 + mm), nil
}

func (c *Clock) decodeNode(d *decoder, n *yaml.Node, field string) {
	if !d.scalar(n, field) {
		return
	}
	v, err := ParseClock(n.Value)
	if err != nil {
		d.fail(n, field, "%v", err)
		return
	}
	*c = v
}

// Weekdays is a set of days of the week, indexed by time.Weekday.
type Weekdays [7]bool

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func parseDay(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 3 {
		s = s[:3]
	}
	d, ok := dayNames[s]
	return d, ok
}

// ParseWeekdays parses a list of day names, ranges (mon-fri) and the words
// weekdays, weekends and everyday.
func ParseWeekdays(items []string) (Weekdays, error) {
	var w Weekdays
	for _, it := range items {
		switch strings.ToLower(strings.TrimSpace(it)) {
		case "weekdays":
			for d := time.Monday; d <= time.Friday; d++ {
				w[d] = true
			}
			continue
		case "weekends":
			w[time.Saturday], w[time.Sunday] = true, true
			continue
		case "everyday", "daily", "all":
			w = Weekdays{true, true, true, true, true, true, true}
			continue
		}
		from, to, isRange := strings.Cut(it, "-")
		a, ok1 := parseDay(from)
		b := a
		ok2 := true
		if isRange {
			b, ok2 = parseDay(to)
		}
		if !ok1 || !ok2 {
			return w, fmt.Errorf("cannot read %q as a day of week (expected mon..sun, a range like mon-fri, weekdays, weekends or everyday)", it)
		}
		for d := a; ; d = (d + 1) % 7 {
			w[d] = true
			if d == b {
				break
			}
		}
	}
	return w, nil
}

func (w *Weekdays) decodeNode(d *decoder, n *yaml.Node, field string) {
	var items []string
	switch n.Kind {
	case yaml.ScalarNode:
		items = strings.Split(n.Value, ",")
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if !d.scalar(c, field) {
				return
			}
			if _, err := ParseWeekdays([]string{c.Value}); err != nil {
				d.fail(c, field, "%v", err) // at the item, not the list
				return
			}
			items = append(items, c.Value)
		}
	default:
		d.fail(n, field, "expected a list of days, found %s", kindName(n))
		return
	}
	v, err := ParseWeekdays(items)
	if err != nil {
		d.fail(n, field, "%v", err)
		return
	}
	*w = v
}

func (w Weekdays) String() string {
	mask := 0
	for d, open := range w {
		if open {
			mask |= 1 << d
		}
	}
	return weekdayNames[mask]
}

// weekdayNames holds the rendering of every day set: gate reasons print
// windows for every deferred touch.
var weekdayNames = func() (out [128]string) {
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	for mask := range out {
		var names []string
		for _, d := range order {
			if mask&(1<<d) != 0 {
				names = append(names, d.String()[:3])
			}
		}
		out[mask] = strings.Join(names, ",")
	}
	return out
}()

// Zone is an IANA time zone.
type Zone struct {
	*time.Location
}

func (z *Zone) decodeNode(d *decoder, n *yaml.Node, field string) {
	if !d.scalar(n, field) {
		return
	}
	loc, err := LoadZone(n.Value)
	if err != nil {
		d.fail(n, field, "%v", err)
		return
	}
	z.Location = loc
}

// LoadZone loads an IANA zone name, rejecting the empty name and "Local",
// which would make behaviour depend on the machine.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q (expected an IANA name such as America/Chicago)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (expected an IANA name such as America/Chicago)", name)
	}
	return loc, nil
}

// Date is a civil date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

func (dt Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", dt.Year, dt.Month, dt.Day) }

// DateOf returns the civil date of t in its own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

func (dt *Date) decodeNode(d *decoder, n *yaml.Node, field string) {
	if !d.scalar(n, field) {
		return
	}
	t, err := time.Parse("2006-01-02", n.Value)
	if err != nil {
		d.fail(n, field, "cannot read %q as a date (expected YYYY-MM-DD)", n.Value)
		return
	}
	*dt = DateOf(t)
}

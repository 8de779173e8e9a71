package cadence

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is an enrollment's state.
type State string

const (
	// Active enrollments are sending: DueAt is when the next step is due.
	Active State = "active"
	// Paused enrollments are held by a person; Until, if set, resumes them.
	Paused State = "paused"
	// Snoozed enrollments wait until Until (an auto-reply or a sales snooze).
	Snoozed State = "snoozed"
	// Warm enrollments replied and wait for sales to resume or stop them.
	Warm State = "warm"
	// Completed enrollments ran every stage.
	Completed State = "completed"
	// Exited enrollments ended early; Reason says why.
	Exited State = "exited"
)

// States lists every state.
var States = []State{Active, Paused, Snoozed, Warm, Completed, Exited}

// Terminal reports whether no further sends can happen.
func (s State) Terminal() bool { return s == Completed || s == Exited }

// EventKind names what happened to an enrollment.
type EventKind string

const (
	EvSent         EventKind = "sent"
	EvSkipped      EventKind = "skipped"
	EvDelivered    EventKind = "delivered"
	EvOpened       EventKind = "opened"
	EvClicked      EventKind = "clicked"
	EvReplied      EventKind = "replied"
	EvAutoReplied  EventKind = "auto_replied"
	EvBounced      EventKind = "bounced"
	EvComplained   EventKind = "complained"
	EvUnsubscribed EventKind = "unsubscribed"
	EvSMSOptOut    EventKind = "sms_opt_out"
	EvSMSOptIn     EventKind = "sms_opt_in"
	EvPaused       EventKind = "paused"
	EvResumed      EventKind = "resumed"
	EvSnoozed      EventKind = "snoozed"
	EvGoal         EventKind = "goal"
	EvDue          EventKind = "due"
	EvStopped      EventKind = "stopped"
)

// EventKinds lists every event kind.
var EventKinds = []EventKind{EvSent, EvSkipped, EvDelivered, EvOpened, EvClicked, EvReplied,
	EvAutoReplied, EvBounced, EvComplained, EvUnsubscribed, EvSMSOptOut, EvSMSOptIn,
	EvPaused, EvResumed, EvSnoozed, EvGoal, EvDue, EvStopped}

// Event is something that happened to an enrollment, at At.
type Event struct {
	Kind EventKind
	At   time.Time
	// Touch is the touch id the event is about (sent, skipped, delivered,
	// opened, clicked, bounced).
	Touch   string
	Channel Channel
	// Machine marks an automated open (Apple MPP, prefetch) or a scanner
	// click: recorded, never engagement.
	Machine bool
	// Hard marks a hard bounce.
	Hard bool
	// Until ends a pause, snooze or auto-reply absence.
	Until time.Time
	// By says who or what caused it (sales:alice, twilio, api).
	By     string
	Reason string
	Goal   string
	// MessageID is the sent email's Message-ID, kept so a later touch can
	// thread under it.
	MessageID string
	// Mailbox is the sender mailbox an email was sent from.
	Mailbox string
}

// Enrollment is one prospect's run through one cadence version.
type Enrollment struct {
	ID         string
	ProspectID string
	CadenceID  string
	Version    string
	State      State
	// FirstStage is the stage the enrollment started in.
	FirstStage string
	Stage      string
	// Step is the index of the next touch in Stage; len(touches) means the
	// stage's touches are done and its end is due.
	Step int
	// Generation changes on every reschedule, so a claim made before it is
	// recognised as stale.
	Generation     int64
	EnrolledAt     time.Time
	StageEnteredAt time.Time
	LastTouchAt    time.Time
	// DueAt is when the next step runs (active) or when a pause or snooze
	// ends (paused/snoozed with Until); zero otherwise.
	DueAt time.Time
	// Remaining is the wait left when the enrollment stopped being active;
	// resuming restores it, so paused time does not count against a wait.
	Remaining time.Duration
	Until     time.Time
	By        string
	Reason    string
	// StageEngaged records a human open, click or reply since stage entry.
	StageEngaged     bool
	LastEngagedAt    time.Time
	PrevEmail        string
	PrevEmailOpened  bool
	PrevEmailClicked bool
	// PrevMessageID is the Message-ID of the last email sent.
	PrevMessageID string
	// Mailbox is the sender mailbox its emails go from (senders), kept so
	// every touch of a thread comes from the same inbox.
	Mailbox string
	// NextTouch is the id of the touch at Step ("" at the stage's end), so
	// a new version of the cadence can find it again by id (Rebase).
	NextTouch string
	// StageDone lists the ids of the stage's touches already sent or
	// skipped, comma separated, so a version that reorders them never
	// repeats one.
	StageDone string
	// Opened and Clicked list the ids of the touches a person opened or
	// clicked since each was last sent, comma separated, so engagement is
	// counted once per message however often it is repeated (HasOpened,
	// HasClicked). Machine opens and scanner clicks are not listed.
	Opened, Clicked string
}

// HasOpened reports whether a person opened the touch's message (as last
// sent).
func (e *Enrollment) HasOpened(touch string) bool { return touch != "" && listHas(e.Opened, touch) }

// HasClicked reports whether a person clicked a link in the touch's message
// (as last sent).
func (e *Enrollment) HasClicked(touch string) bool { return touch != "" && listHas(e.Clicked, touch) }

// Entry is one line of an enrollment's timeline.
type Entry struct {
	At      time.Time
	Kind    string
	Touch   string
	Channel Channel
	From    State
	To      State
	Stage   string
	ToStage string
	By      string
	Reason  string
	Until   time.Time
}

// Text renders the entry for people: "paused by sales:alice: on holiday".
func (en Entry) Text() string {
	s := en.Kind
	switch {
	case en.Kind == "enrolled":
		return "enrolled at stage " + en.ToStage + prefixed(": ", en.Reason)
	case en.ToStage != "":
		s = fmt.Sprintf("stage %s -> %s", orDash(en.Stage), en.ToStage)
	}
	if en.Touch != "" {
		s += " " + en.Touch
		if en.Channel != "" {
			s += " (" + string(en.Channel) + ")"
		}
	}
	if en.From != en.To {
		s += fmt.Sprintf(": %s -> %s", orDash(string(en.From)), en.To)
	}
	if en.By != "" {
		s += " by " + en.By
	}
	if en.Reason != "" {
		s += ": " + en.Reason
	}
	if !en.Until.IsZero() {
		s += " until " + en.Until.UTC().Format(time.RFC3339)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Action is a side effect beyond the enrollment that the engine must carry
// out, usually across every cadence.
type Action string

const (
	ActNotifyWarm       Action = "notify_warm"
	ActSuppressEmail    Action = "suppress_email"
	ActUnsubscribeEmail Action = "unsubscribe_email"
	ActSoftBounce       Action = "soft_bounce"
	ActOptOutSMS        Action = "opt_out_sms"
	ActOptInSMS         Action = "opt_in_sms"
)

// Outcome is the result of applying an event.
type Outcome struct {
	Enrollment Enrollment
	Entries    []Entry
	Actions    []Action
}

// ErrStale marks an event about a touch that is not the enrollment's
// current one (a late or duplicate delivery): nothing changes.
var ErrStale = errors.New("stale event")

// EnrolledEntry is the first timeline line of an enrollment, derived from
// the enrollment itself (stores need not keep it).
func EnrolledEntry(e *Enrollment) Entry {
	return Entry{At: e.EnrolledAt, Kind: "enrolled", To: Active, ToStage: e.FirstStage, Reason: "version " + e.Version}
}

// Start begins an enrollment at the first stage. The first entry of the
// outcome is always EnrolledEntry.
func (c *Cadence) Start(e Enrollment, at time.Time, loc *time.Location) Outcome {
	e.CadenceID, e.Version = c.ID, c.Version
	e.State, e.EnrolledAt, e.FirstStage = Active, at, c.Stages[0].ID
	m := machine{c: c, loc: loc, at: at, o: Outcome{Enrollment: e}}
	m.enterStage(c.Stages[0].ID, "enrolled", "version "+c.Version)
	return m.o
}

// Apply applies ev to e. loc is the recipient's zone, used for calendar and
// business-day arithmetic. It returns the new enrollment, its timeline
// entries and the actions to carry out, or ErrInvalidTransition / ErrStale.
// Global actions (suppression, opt-out) are returned even for enrollments
// that have ended.
func (c *Cadence) Apply(e Enrollment, ev Event, loc *time.Location) (Outcome, error) {
	var o Outcome
	err := c.ApplyInto(&o, e, ev, loc)
	return o, err
}

// ApplyInto is Apply writing into out, reusing its slices: hot loops (the
// simulator, batch workers) apply millions of events without garbage. On
// error out holds e unchanged and no entries or actions.
func (c *Cadence) ApplyInto(out *Outcome, e Enrollment, ev Event, loc *time.Location) error {
	m := machine{c: c, loc: loc, at: ev.At, o: Outcome{Enrollment: e, Entries: out.Entries[:0], Actions: out.Actions[:0]}}
	err := m.apply(ev)
	if err != nil {
		m.o.Enrollment, m.o.Entries, m.o.Actions = e, m.o.Entries[:0], m.o.Actions[:0]
	}
	*out = m.o
	return err
}

type machine struct {
	c   *Cadence
	loc *time.Location
	at  time.Time
	o   Outcome
}

func (m *machine) e() *Enrollment { return &m.o.Enrollment }

func (m *machine) entry(en Entry) {
	en.At = m.at
	if en.From == "" && en.To == "" {
		en.From, en.To = m.e().State, m.e().State
	}
	m.o.Entries = append(m.o.Entries, en)
}

func (m *machine) invalid(ev Event) error {
	return fmt.Errorf("%w: %s while %s", ErrInvalidTransition, ev.Kind, m.e().State)
}

func (m *machine) apply(ev Event) error {
	e := m.e()
	st := e.State
	switch ev.Kind {
	case EvSent, EvSkipped:
		return m.touchDone(ev)
	case EvDelivered:
		m.entry(Entry{Kind: string(ev.Kind), Touch: ev.Touch, Channel: ev.Channel})
	case EvOpened, EvClicked:
		m.engage(ev)
	case EvReplied:
		m.reply(ev)
	case EvAutoReplied:
		if st != Active {
			m.entry(Entry{Kind: string(ev.Kind), Reason: "auto-reply recorded; already " + string(st)})
			return nil
		}
		until := ev.Until
		if !until.After(m.at) {
			until = m.c.Reply.AutoReplySnooze.After(m.at, m.loc, m.c.Holidays)
		}
		m.hold(Snoozed, "auto_replied", ev.By, "auto-reply: "+orDefault(ev.Reason, "out of office"), until)
	case EvBounced:
		if !ev.Hard {
			m.o.Actions = append(m.o.Actions, ActSoftBounce)
			m.entry(Entry{Kind: "soft_bounce", Touch: ev.Touch, Channel: Email, Reason: ev.Reason})
			return nil
		}
		m.o.Actions = append(m.o.Actions, ActSuppressEmail)
		m.entry(Entry{Kind: "hard_bounce", Touch: ev.Touch, Channel: Email, Reason: ev.Reason})
		if !st.Terminal() && m.c.exitsOn("hard_bounce", "") {
			m.end(Exited, "hard bounce")
		}
	case EvComplained:
		m.o.Actions = append(m.o.Actions, ActSuppressEmail)
		m.entry(Entry{Kind: string(ev.Kind), Touch: ev.Touch, Reason: ev.Reason})
		if !st.Terminal() {
			m.end(Exited, "spam complaint")
		}
	case EvUnsubscribed:
		m.o.Actions = append(m.o.Actions, ActUnsubscribeEmail)
		m.entry(Entry{Kind: string(ev.Kind), By: ev.By, Reason: ev.Reason})
		if !st.Terminal() && m.c.exitsOn("unsubscribe", "") {
			m.end(Exited, "unsubscribed")
		}
	case EvSMSOptOut:
		m.o.Actions = append(m.o.Actions, ActOptOutSMS)
		m.entry(Entry{Kind: string(ev.Kind), Channel: SMS, By: ev.By, Reason: ev.Reason})
		if !st.Terminal() && m.c.exitsOn("sms_opt_out", "") {
			m.end(Exited, "sms opt-out")
		}
	case EvSMSOptIn:
		m.o.Actions = append(m.o.Actions, ActOptInSMS)
		m.entry(Entry{Kind: string(ev.Kind), Channel: SMS, By: ev.By, Reason: ev.Reason})
	case EvPaused:
		if st.Terminal() {
			return m.invalid(ev)
		}
		m.hold(Paused, "paused", ev.By, ev.Reason, ev.Until)
	case EvSnoozed:
		if st.Terminal() {
			return m.invalid(ev)
		}
		if !ev.Until.After(m.at) {
			return fmt.Errorf("%w: snooze needs a time after %s", ErrInvalidTransition, m.at.UTC().Format(time.RFC3339))
		}
		m.hold(Snoozed, "snoozed", ev.By, ev.Reason, ev.Until)
	case EvResumed:
		if st == Active || st.Terminal() {
			return m.invalid(ev)
		}
		m.resume("resumed", ev.By, ev.Reason)
	case EvDue:
		return m.due(ev)
	case EvGoal:
		m.entry(Entry{Kind: string(ev.Kind), By: ev.By, Reason: "goal " + ev.Goal})
		if st.Terminal() {
			return nil
		}
		if st == Active {
			if r := m.rule(OnGoal, ev.Goal); r != nil {
				m.enterStage(r.To, "goal", "goal "+ev.Goal)
				return nil
			}
		}
		if m.c.exitsOn("goal", ev.Goal) {
			m.end(Exited, "goal "+ev.Goal)
		}
	case EvStopped:
		if st.Terminal() {
			return m.invalid(ev)
		}
		m.o.Enrollment.By = ev.By
		m.end(Exited, "stopped"+prefixed(": ", ev.Reason))
		m.o.Entries[len(m.o.Entries)-1].By = ev.By
	default:
		return fmt.Errorf("%w: unknown event %q", ErrInvalidTransition, ev.Kind)
	}
	return nil
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// touchDone records a sent or skipped touch and moves to the next step. A
// send that raced a pause still counts, so resuming never repeats it.
func (m *machine) touchDone(ev Event) error {
	e := m.e()
	t := m.c.Touch(ev.Touch)
	if t == nil || t.Stage.ID != e.Stage || t.Index != e.Step || e.State.Terminal() {
		if ev.Kind == EvSent && t != nil {
			// Record a send we cannot place, so the timeline is honest.
			m.entry(Entry{Kind: "sent", Touch: ev.Touch, Channel: t.Channel, Reason: "late: enrollment had moved on"})
			return fmt.Errorf("%w: %s for touch %s, enrollment at %s[%d] (%s)", ErrStale, ev.Kind, ev.Touch, e.Stage, e.Step, e.State)
		}
		return fmt.Errorf("%w: %s for touch %s, enrollment at %s[%d] (%s)", ErrStale, ev.Kind, ev.Touch, e.Stage, e.Step, e.State)
	}
	m.entry(Entry{Kind: string(ev.Kind), Touch: t.ID, Channel: t.Channel, Reason: ev.Reason})
	e.Step++
	if e.StageDone != "" {
		e.StageDone += ","
	}
	e.StageDone += t.ID
	e.LastTouchAt = m.at
	if ev.Kind == EvSent {
		// A new message: its opens and clicks are its own.
		e.Opened, e.Clicked = listWithout(e.Opened, t.ID), listWithout(e.Clicked, t.ID)
	}
	if ev.Kind == EvSent && t.Channel == Email {
		e.PrevEmail, e.PrevEmailOpened, e.PrevEmailClicked = t.ID, false, false
		if ev.MessageID != "" {
			e.PrevMessageID = ev.MessageID
		}
		if ev.Mailbox != "" {
			e.Mailbox = ev.Mailbox
		}
	}
	m.schedule()
	return nil
}

// nextDue computes when the current step is due, and whether the step is
// the stage's end.
func (m *machine) nextDue() (time.Time, bool) {
	e := m.e()
	s := m.c.Stage(e.Stage)
	if e.Step < len(s.Touches) {
		t := s.Touches[e.Step]
		anchor := e.StageEnteredAt
		if e.Step > 0 && !t.FromEntry {
			anchor = e.LastTouchAt
		}
		return t.Delay.After(anchor, m.loc, m.c.Holidays), false
	}
	if r := s.NoEngagement; r != nil {
		anchor := e.StageEnteredAt
		if e.LastTouchAt.After(anchor) {
			anchor = e.LastTouchAt
		}
		return r.After.After(anchor, m.loc, m.c.Holidays), true
	}
	return m.at, true
}

// schedule sets the next due time; an active stage with nothing left to
// wait for finishes at once.
func (m *machine) schedule() {
	e := m.e()
	if m.c.Stage(e.Stage) == nil {
		m.stageGone()
		return
	}
	e.Step = m.c.skipDone(e)
	e.NextTouch = ""
	if t := m.c.TouchAt(e.Stage, e.Step); t != nil {
		e.NextTouch = t.ID
	}
	due, end := m.nextDue()
	e.Generation++
	if e.State != Active {
		e.Remaining = max(0, due.Sub(m.at))
		return
	}
	if end && m.c.Stage(e.Stage).NoEngagement == nil {
		m.finishStage()
		return
	}
	if due.Before(m.at) {
		due = m.at
	}
	e.DueAt = due
}

func (m *machine) due(ev Event) error {
	e := m.e()
	switch e.State {
	case Paused, Snoozed:
		if e.Until.IsZero() || e.Until.After(m.at) {
			return m.invalid(ev)
		}
		m.resume("resumed", "schedule", "pause ended")
		return nil
	case Active:
		if m.c.Stage(e.Stage) == nil {
			m.stageGone()
			return nil
		}
		if e.Step < len(m.c.Stage(e.Stage).Touches) {
			return fmt.Errorf("%w: due at touch %s[%d]: send it, do not apply due", ErrInvalidTransition, e.Stage, e.Step)
		}
		if e.DueAt.After(m.at) {
			return fmt.Errorf("%w: stage end due at %s, not yet", ErrStale, e.DueAt.UTC().Format(time.RFC3339))
		}
		m.finishStage()
		return nil
	}
	return m.invalid(ev)
}

// finishStage moves on when a stage's touches are done.
func (m *machine) finishStage() {
	e := m.e()
	s := m.c.Stage(e.Stage)
	if s == nil {
		m.stageGone()
		return
	}
	if r := s.NoEngagement; r != nil && !e.StageEngaged {
		m.enterStage(r.To, "no_engagement", "no engagement for "+r.After.String())
		return
	}
	target := s.Then
	if target == ThenNext {
		if s.Index+1 < len(m.c.Stages) {
			target = m.c.Stages[s.Index+1].ID
		} else {
			target = ThenComplete
		}
	}
	m.enterStage(target, "stage_done", "stage "+s.ID+" touches done")
}

// enterStage moves to a stage, or completes / exits.
func (m *machine) enterStage(target, kind, reason string) {
	e := m.e()
	switch target {
	case ThenComplete:
		m.end(Completed, reason)
		return
	case ThenExit:
		m.end(Exited, reason)
		return
	}
	from := e.Stage
	e.Stage, e.Step, e.StageEnteredAt, e.StageEngaged, e.StageDone = target, 0, m.at, false, ""
	if kind == "enrolled" {
		m.entry(Entry{Kind: kind, To: Active, ToStage: target, Reason: reason})
	} else {
		m.entry(Entry{Kind: "stage", Stage: from, ToStage: target, Reason: reason})
	}
	// A chain of empty stages could loop; stop after visiting each once.
	if len(m.o.Entries) > 4*len(m.c.Stages)+8 {
		m.end(Exited, "stage loop without touches")
		return
	}
	m.schedule()
}

// end moves to a terminal state.
func (m *machine) end(to State, reason string) {
	e := m.e()
	m.entry(Entry{Kind: "state", From: e.State, To: to, Reason: reason})
	e.State, e.Reason = to, reason
	e.DueAt, e.Until, e.Remaining = time.Time{}, time.Time{}, 0
	e.Generation++
}

// stageGone ends an enrollment whose stage a new version of the cadence
// removed: there is no touch or rule left to follow.
func (m *machine) stageGone() {
	m.end(Exited, "stage "+m.e().Stage+" is not in version "+m.c.Version+" of the cadence")
}

// hold pauses, snoozes or warms: the wait left is kept for resume.
func (m *machine) hold(to State, kind, by, reason string, until time.Time) {
	e := m.e()
	if e.State == Active {
		e.Remaining = max(0, e.DueAt.Sub(m.at))
	}
	m.entry(Entry{Kind: kind, From: e.State, To: to, By: by, Reason: reason, Until: until})
	e.State, e.By, e.Reason, e.Until = to, by, reason, until
	e.DueAt = until
	e.Generation++
}

func (m *machine) resume(kind, by, reason string) {
	e := m.e()
	m.entry(Entry{Kind: kind, From: e.State, To: Active, By: by, Reason: reason})
	e.State, e.By, e.Reason, e.Until = Active, "", "", time.Time{}
	e.DueAt = m.at.Add(e.Remaining)
	e.Remaining = 0
	e.Generation++
}

// rule returns the active stage's advance rule for a trigger.
func (m *machine) rule(on Trigger, goal string) *AdvanceRule {
	s := m.c.Stage(m.e().Stage)
	if s == nil {
		return nil
	}
	for i := range s.Advance {
		r := &s.Advance[i]
		if r.On == on && (on != OnGoal || r.Goal == "" || r.Goal == goal) {
			return r
		}
	}
	return nil
}

func (m *machine) engage(ev Event) {
	e := m.e()
	if ev.Machine {
		reason := "machine open: not counted as engagement"
		if ev.Kind == EvClicked {
			reason = "scanner click: not counted as engagement"
		}
		m.entry(Entry{Kind: string(ev.Kind), Touch: ev.Touch, Channel: ev.Channel, Reason: orDefault(ev.Reason, reason)})
		return
	}
	m.entry(Entry{Kind: string(ev.Kind), Touch: ev.Touch, Channel: ev.Channel, Reason: ev.Reason})
	if ev.Touch != "" {
		if ev.Kind == EvClicked {
			e.Clicked = listWith(e.Clicked, ev.Touch)
		} else {
			e.Opened = listWith(e.Opened, ev.Touch)
		}
	}
	if e.State.Terminal() {
		return
	}
	e.LastEngagedAt = m.at
	e.StageEngaged = true
	if ev.Touch != "" && ev.Touch == e.PrevEmail {
		e.PrevEmailOpened = true
		if ev.Kind == EvClicked {
			e.PrevEmailClicked = true
		}
	}
	if e.State != Active {
		return
	}
	// A click proves a human open, so it fires human_open rules too.
	var r *AdvanceRule
	if ev.Kind == EvClicked {
		r = m.rule(OnClick, "")
	}
	if r == nil {
		r = m.rule(OnHumanOpen, "")
	}
	if r != nil {
		m.enterStage(r.To, string(r.On), string(r.On)+" on "+orDefault(ev.Touch, "a message"))
	}
}

func (m *machine) reply(ev Event) {
	e := m.e()
	m.entry(Entry{Kind: string(ev.Kind), Touch: ev.Touch, Channel: ev.Channel, By: ev.By, Reason: ev.Reason})
	if e.State.Terminal() || e.State == Warm {
		return
	}
	e.LastEngagedAt, e.StageEngaged = m.at, true
	if e.State == Active {
		if r := m.rule(OnReply, ""); r != nil {
			m.enterStage(r.To, "reply", "replied")
			return
		}
	}
	if m.c.exitsOn("reply", "") {
		m.end(Exited, "replied")
		return
	}
	switch m.c.Reply.Action {
	case ReplyIgnore:
	case ReplyExit:
		m.end(Exited, "replied")
	case ReplyAdvance:
		if e.State == Active {
			m.enterStage(m.c.Reply.To, "reply", "replied")
		}
	default:
		m.hold(Warm, "warm", ev.By, "replied: waiting for sales", time.Time{})
		m.o.Actions = append(m.o.Actions, ActNotifyWarm)
	}
}

// Rebase moves an enrollment made under another version of this cadence
// onto this version. The touch it waits for is found again by id, so
// touches added before it or removed around it do not put it on a
// different touch; if that touch was removed it goes on with whatever now
// sits at its position. (An enrollment whose stage was removed exits when
// it is next scheduled.) It reports false when nothing changes; otherwise
// the entry explains the move for the timeline.
func (c *Cadence) Rebase(e Enrollment, at time.Time) (Enrollment, Entry, bool) {
	if e.Version == c.Version || e.State.Terminal() {
		return e, Entry{}, false
	}
	note := Entry{At: at, Kind: "version", Reason: "now following version " + c.Version + " (was " + e.Version + ")"}
	e.Version = c.Version
	s := c.Stage(e.Stage)
	if s == nil || e.NextTouch == "" {
		return e, note, true
	}
	for i, t := range s.Touches {
		if t.ID == e.NextTouch {
			if i != e.Step {
				note.Reason += fmt.Sprintf("; next touch %s moved from position %d to %d", t.ID, e.Step+1, i+1)
				e.Step = i
				e.Generation++ // claims made for the old position are stale
			}
			return e, note, true
		}
	}
	step := e.Step
	note.Reason += "; next touch " + e.NextTouch + " was removed"
	e.NextTouch = ""
	e.Step = c.skipDone(&e)
	if t := c.TouchAt(e.Stage, e.Step); t != nil {
		e.NextTouch = t.ID
		note.Reason += ", going on with " + t.ID
	}
	if e.Step != step {
		e.Generation++
	}
	return e, note, true
}

// skipDone returns the first step at or after e.Step whose touch was not
// already sent or skipped in this stage (only a reordering version can put
// one there).
func (c *Cadence) skipDone(e *Enrollment) int {
	step := e.Step
	for e.StageDone != "" {
		t := c.TouchAt(e.Stage, step)
		if t == nil || !listHas(e.StageDone, t.ID) {
			break
		}
		step++
	}
	return step
}

// listWith returns list with id added (at the end) unless it is there.
func listWith(list, id string) string {
	switch {
	case listHas(list, id):
		return list
	case list == "":
		return id
	}
	return list + "," + id
}

// listWithout returns list without id.
func listWithout(list, id string) string {
	if !listHas(list, id) {
		return list
	}
	var out []string
	for _, item := range strings.Split(list, ",") {
		if item != id {
			out = append(out, item)
		}
	}
	return strings.Join(out, ",")
}

func listHas(list, id string) bool {
	for len(list) > 0 {
		var item string
		item, list, _ = strings.Cut(list, ",")
		if item == id {
			return true
		}
	}
	return false
}

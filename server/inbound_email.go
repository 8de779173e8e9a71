package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/inbound"
	"github.com/nurture-dev/nurture/store"
)

// BadMessageError is returned for input that is not a usable email.
type BadMessageError struct{ Err error }

func (e *BadMessageError) Error() string { return "bad message: " + e.Err.Error() }
func (e *BadMessageError) Unwrap() error { return e.Err }

// How an inbound email was attributed (EmailResult.MatchedBy).
const (
	// MatchedByMessageID: a signed Message-ID of ours in In-Reply-To or
	// References, or in a report's returned message, named the enrollment
	// and the touch.
	MatchedByMessageID = "message_id"
	// MatchedBySender: a reply naming none of our messages, matched by its
	// From address to every enrollment of that prospect.
	MatchedBySender = "sender"
	// MatchedByFinalRecipient and MatchedByOriginalRecipient: a report
	// naming none of our messages, matched by the address it reports on
	// (Final-Recipient, or an ARF's Original-Rcpt-To), else the address the
	// message was first sent to (Original-Recipient: a forwarding alias).
	MatchedByFinalRecipient    = "final_recipient"
	MatchedByOriginalRecipient = "original_recipient"
)

// EmailResult says what an inbound email was and what was done with it.
type EmailResult struct {
	Kind inbound.Kind `json:"kind"`
	// Matched reports that the message was attributed to a prospect and
	// recorded.
	Matched bool `json:"matched"`
	// Class is a reply's or auto-reply's classification (inbound.Class).
	Class inbound.Class `json:"class,omitempty"`
	// ReturnOn is an out-of-office sender's first day back (YYYY-MM-DD).
	ReturnOn inbound.Date `json:"return_on,omitzero"`
	// MatchedBy is how it was attributed (MatchedByMessageID …).
	MatchedBy string `json:"matched_by,omitempty"`
	// Verified reports that the message names one of our signed
	// Message-IDs. A bounce or complaint report that does not is recorded
	// for review and changes nothing (COMPLIANCE.md 23), unless
	// Config.TrustUnverifiedReports.
	Verified bool `json:"verified"`
	// Enrollments it was applied to, and the touch it answers or reports
	// on (when a Message-ID of ours named it).
	Enrollments []string `json:"enrollments,omitempty"`
	Touch       string   `json:"touch,omitempty"`
	// Action is what was done: replied, unsubscribed, auto_replied,
	// snoozed, paused, exited, ignored (recorded on the timeline only),
	// hard_bounce, soft_bounce, delivery_delayed,
	// delivery_report, complained, or unverified (recorded, not applied).
	Action string `json:"action,omitempty"`
	// Duplicate reports a message processed before: nothing changed.
	Duplicate bool `json:"duplicate,omitempty"`
}

// ProcessEmail classifies a raw inbound email and applies it to the
// enrollment and touch it is about (attributed by our signed Message-ID,
// else by address): a reply is read by inbound.ClassifyReply — an opt-out
// request unsubscribes, an out-of-office notice snoozes to the return day,
// other automatic replies and disguised bounces snooze by the cadence's
// default (a disguised bounce as good as a DSN — our Message-ID in its
// copy, a 5.1.x status for the prospect's address — is a hard bounce:
// applyTextBounce), "not now" snoozes to the day asked for, "wrong person" pauses,
// anything else warms the lead; a DSN bounces (a delay is noted), an ARF
// report is a complaint — if it names a message we sent. A message seen
// before changes nothing. The webhook and the IMAP poller both use it.
func (s *Server) ProcessEmail(ctx context.Context, raw []byte) (EmailResult, error) {
	msg, err := inbound.ParseEmail(raw, s.e.Clock())
	if err != nil {
		return EmailResult{}, &BadMessageError{Err: err}
	}
	base := EmailResult{Kind: msg.Kind}
	if msg.Kind == inbound.KindReply || msg.Kind == inbound.KindAutoReply {
		base.Class, base.ReturnOn = msg.Reply.Class, msg.ReturnOn
	}
	legacy := ""
	if k := msg.LegacyKey(); k != "" {
		legacy = "mail:" + k
	}
	var res EmailResult
	ran, err := s.onceSteps(ctx, "mail:"+msg.Key(), legacy, func(p *progress) error {
		res = base
		now := s.e.Clock()
		if msg.Kind == inbound.KindBounce || msg.Kind == inbound.KindComplaint {
			return s.applyReport(ctx, p, msg, now, &res)
		}
		return s.applyReply(ctx, p, msg, now, &res)
	})
	if err == nil && !ran {
		res = base
		res.Duplicate = true
	}
	return res, err
}

// attribution is whom an inbound message is about.
type attribution struct {
	pid string
	// eids are the enrollments to apply it to; touch, when set, is the
	// touch of eids[0] that a Message-ID of ours named.
	eids     []string
	touch    string
	by       string
	verified bool
}

// ourMessage finds the first of ids that is one of our Message-IDs
// (signed, or in the index of earlier versions). Store errors are returned:
// a report must not pass for unverified because Redis did not answer.
func (s *Server) ourMessage(ctx context.Context, ids []string) (eid, touch string, ok bool, err error) {
	for _, id := range ids {
		eid, touch, err := s.e.MessageOwner(ctx, id)
		switch {
		case err == nil && eid != "":
			return eid, touch, true, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return "", "", false, err
		}
	}
	return "", "", false, nil
}

// attribute resolves a message: by our Message-ID, else by the addresses
// given in order (each with how it matched).
func (s *Server) attribute(ctx context.Context, refs []string, addrs ...[2]string) (attribution, error) {
	eid, touch, ok, err := s.ourMessage(ctx, refs)
	if err != nil {
		return attribution{}, err
	}
	if ok {
		a := attribution{pid: store.ProspectOf(eid), by: MatchedByMessageID, verified: true}
		ids, err := s.e.ProspectEnrollments(ctx, a.pid)
		if err != nil {
			return attribution{}, err
		}
		if slices.Contains(ids, eid) {
			a.eids, a.touch = []string{eid}, touch
		} else {
			// The enrollment is gone (its cadence was removed): the
			// prospect's others get it, without a touch of theirs.
			a.eids = ids
		}
		return a, nil
	}
	for _, addr := range addrs {
		if addr[0] == "" {
			continue
		}
		pid, err := s.st.ProspectIDByEmail(ctx, addr[0])
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return attribution{}, err
		}
		ids, err := s.e.ProspectEnrollments(ctx, pid)
		if err != nil {
			return attribution{}, err
		}
		return attribution{pid: pid, eids: ids, by: addr[1]}, nil
	}
	return attribution{}, nil
}

func (a *attribution) result(res *EmailResult) {
	res.MatchedBy, res.Verified, res.Enrollments, res.Touch = a.by, a.verified, a.eids, a.touch
	res.Matched = a.pid != ""
}

// touchFor is the touch an event on eid carries.
func (a *attribution) touchFor(eid string) string {
	if len(a.eids) > 0 && eid == a.eids[0] {
		return a.touch
	}
	return ""
}

// senderOnly labels what was matched by the sender's address alone.
const senderOnly = "matched by sender address only"

func (a *attribution) label(reason string) string {
	if a.by == MatchedBySender {
		if reason == "" {
			return senderOnly
		}
		return reason + " (" + senderOnly + ")"
	}
	return reason
}

// applyReply applies a reply or auto-reply by its classification: an
// opt-out always unsubscribes, a positive reply follows the cadence's
// reply action, and every other class the per-class action of the
// enrollment's cadence (reply.out_of_office and so on; cadence.ReplyPolicy).
func (s *Server) applyReply(ctx context.Context, p *progress, msg *inbound.Email, now time.Time, res *EmailResult) error {
	a, err := s.attribute(ctx, msg.References, [2]string{msg.From, MatchedBySender})
	if err != nil {
		return err
	}
	a.result(res)
	// A reply is recorded on enrollments (or, an opt-out, on the
	// prospect's consent).
	res.Matched = len(a.eids) > 0 || (a.pid != "" && msg.Reply.Class == inbound.ClassOptOut)
	if a.pid == "" {
		return nil
	}
	r := msg.Reply
	class := r.Class
	switch {
	case class == "" && msg.Kind == inbound.KindAutoReply:
		class = inbound.ClassAutoReply
	case class == "":
		class = inbound.ClassPositive
	case msg.Kind == inbound.KindAutoReply && (class == inbound.ClassPositive || class == inbound.ClassNotNow):
		// Machine-generated by its headers: never a warm lead
		// (COMPLIANCE.md 19).
		class = inbound.ClassAutoReply
	}
	res.Class = class
	if class == inbound.ClassBounce {
		if applied, err := s.applyTextBounce(ctx, p, msg, now, res); applied || err != nil {
			return err
		}
	}
	each := func(action string, ev func(eid string) (cadence.Event, error)) error {
		res.Action = action
		for _, eid := range a.eids {
			err := p.do(ctx, "apply:"+eid, func() error {
				e, err := ev(eid)
				if err != nil {
					return err
				}
				e.Touch = a.touchFor(eid)
				return s.applyQuiet(ctx, eid, e)
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	switch class {
	case inbound.ClassOptOut:
		// An opt-out by any means is honoured at once and is never a warm
		// lead (COMPLIANCE.md 22). One event: the engine fans the
		// unsubscribe out to every enrollment of the prospect.
		res.Action = "unsubscribed"
		ev := cadence.Event{Kind: cadence.EvUnsubscribed, At: now, Channel: cadence.Email, By: "email reply", Reason: a.label(r.Reason)}
		if len(a.eids) == 0 {
			return p.do(ctx, "consent", func() error {
				pr, err := s.st.Prospect(ctx, a.pid)
				if err != nil {
					return err
				}
				if pr.EmailBlocked != "" {
					return nil
				}
				_, err = s.st.SetConsent(ctx, a.pid, store.ConsentChange{At: now, Channel: cadence.Email, Blocked: "unsubscribed", Source: "email reply"})
				return err
			})
		}
		return p.do(ctx, "apply:"+a.eids[0], func() error {
			ev.Touch = a.touch
			return s.applyQuiet(ctx, a.eids[0], ev)
		})
	case inbound.ClassOutOfOffice, inbound.ClassAutoReply, inbound.ClassBounce, inbound.ClassWrongPerson, inbound.ClassNotNow:
		// Each enrollment by its own cadence's policy for the class.
		m := msg
		if why := s.textBounceNote(ctx, msg, &a); why != "" {
			c := *msg
			c.Reply.Reason += " (" + why + ")"
			m = &c
		}
		for _, eid := range a.eids {
			do, err := s.classAction(ctx, &a, eid, class, m, now, viaEmail)
			if err != nil {
				return err
			}
			if res.Action == "" {
				res.Action = do.name
			}
			if err := p.do(ctx, "apply:"+eid, func() error { return do.apply(ctx) }); err != nil {
				return err
			}
		}
		return nil
	}
	return each("replied", func(eid string) (cadence.Event, error) { return s.replyEvent(&a, eid, msg, now, viaEmail), nil })
}

// applyTextBounce applies a bounce in disguise — a failure notice in plain
// text, no DSN — as a hard bounce, through the path a DSN takes
// (suppression, exit, the touch's bounced count), when it is as good as
// one: the copy of the message it returns carries one of our signed
// Message-IDs (msg.Returned), its text a permanent mailbox status
// (inbound.StatusInText: 5.1.x, 5.2.1, "550 … user unknown"), and the
// address it names, if any, is the prospect's. applied is false for any
// other, which is snoozed by the cadence's bounce_in_disguise policy.
func (s *Server) applyTextBounce(ctx context.Context, p *progress, msg *inbound.Email, now time.Time, res *EmailResult) (applied bool, err error) {
	st, ok := inbound.StatusInText(msg.Text)
	if !ok || !st.Hard || len(msg.Returned) == 0 {
		return false, nil
	}
	a, err := s.attribute(ctx, msg.Returned)
	if err != nil || !a.verified {
		return false, err
	}
	if rcpt := orDefault(st.Recipient, msg.Reply.FailedRecipient); rcpt != "" && !strings.EqualFold(rcpt, s.prospectEmail(ctx, a.pid)) {
		return false, nil
	}
	a.result(res)
	res.Action = "hard_bounce"
	detail := strings.TrimSpace(st.Status + " " + st.Line)
	ev := cadence.Event{Kind: cadence.EvBounced, Hard: true, At: now, Channel: cadence.Email, By: "failure notice",
		Reason: "read from a plain-text failure notice (no DSN): " + detail}
	return true, s.applyVerifiedReport(ctx, p, &a, ev, res)
}

// textBounceNote says why a bounce in disguise with a permanent mailbox
// status in its text was not applied as a hard bounce ("" when it has
// none: the notice is only snoozed on).
func (s *Server) textBounceNote(ctx context.Context, msg *inbound.Email, a *attribution) string {
	if msg.Reply.Class != inbound.ClassBounce {
		return ""
	}
	st, ok := inbound.StatusInText(msg.Text)
	if !ok || !st.Hard {
		return ""
	}
	code := orDefault(st.Status, st.Code)
	if _, _, ours, err := s.ourMessage(ctx, msg.Returned); err != nil || !ours {
		return code + " in the text, but the notice returns none of our messages"
	}
	rcpt := orDefault(st.Recipient, msg.Reply.FailedRecipient)
	return code + " in the text for " + rcpt + ", not " + orDefault(s.prospectEmail(ctx, a.pid), "the prospect's address")
}

// replyDefaults is the per-class policy for an enrollment whose cadence
// is gone: the defaults of a cadence that sets none.
var replyDefaults = func() cadence.ReplyPolicy {
	snooze := cadence.Delay{Days: 7, Text: "7d"}
	return cadence.ReplyPolicy{
		AutoReplySnooze:  snooze,
		OutOfOffice:      cadence.ClassPolicy{Action: cadence.ClassSnoozeUntilReturn, Snooze: snooze},
		AutoReply:        cadence.ClassPolicy{Action: cadence.ClassSnooze, Snooze: snooze},
		BounceInDisguise: cadence.ClassPolicy{Action: cadence.ClassSnooze, Snooze: snooze},
		NotNow:           cadence.ClassPolicy{Action: cadence.ClassSnoozeUntilDate},
		WrongPerson:      cadence.ClassPolicy{Action: cadence.ClassPause},
	}
}()

func classPolicy(r *cadence.ReplyPolicy, class inbound.Class) cadence.ClassPolicy {
	switch class {
	case inbound.ClassOutOfOffice:
		return r.OutOfOffice
	case inbound.ClassAutoReply:
		return r.AutoReply
	case inbound.ClassBounce:
		return r.BounceInDisguise
	case inbound.ClassNotNow:
		return r.NotNow
	case inbound.ClassWrongPerson:
		return r.WrongPerson
	}
	return cadence.ClassPolicy{Action: cadence.ClassWarm}
}

// replyStep is what a classified reply does to one enrollment: name for
// EmailResult.Action, apply to do it.
type replyStep struct {
	name  string
	apply func(ctx context.Context) error
}

// classAction decides what a reply of class (not an opt-out, which is
// never configurable: COMPLIANCE.md 22) does to eid under its cadence's
// reply policy.
func (s *Server) classAction(ctx context.Context, a *attribution, eid string, class inbound.Class, msg *inbound.Email, now time.Time, via replyVia) (replyStep, error) {
	c, loc, err := s.enrollmentCadence(ctx, eid)
	if err != nil {
		return replyStep{}, err
	}
	policy := &replyDefaults
	if c != nil {
		policy = &c.Reply
	}
	pol := classPolicy(policy, class)
	r := msg.Reply
	touch := a.touchFor(eid)
	reason := r.Reason
	switch class {
	case inbound.ClassOutOfOffice, inbound.ClassAutoReply:
		reason = orDefault(r.Reason, msg.Subject)
	case inbound.ClassBounce:
		reason = "bounce in disguise, not suppressed: " + r.Reason
	case inbound.ClassWrongPerson:
		if r.Referral != "" {
			reason += " → " + r.Referral
		}
	}
	apply := func(ev cadence.Event) func(context.Context) error {
		return func(ctx context.Context) error {
			ev.Touch = touch
			return s.applyQuiet(ctx, eid, ev)
		}
	}
	warm := replyStep{"replied", apply(s.replyEvent(a, eid, msg, now, via))}
	// snoozeFor is when pol's own snooze ends; zero when it has none, or
	// it is the cadence's auto_reply_snooze, which the engine applies to
	// an auto-reply without a time.
	snoozeFor := func() time.Time {
		if c == nil || pol.Snooze.IsZero() || pol.Snooze == c.Reply.AutoReplySnooze {
			return time.Time{}
		}
		return pol.Snooze.After(now, loc, c.Holidays)
	}
	switch pol.Action {
	case cadence.ClassIgnore:
		entry := cadence.Entry{At: now, Kind: "reply_ignored", Touch: touch, Channel: via.channel, By: via.by,
			Reason: a.label(strings.ReplaceAll(string(class), "_", " ") + " ignored (cadence reply policy): " + reason)}
		return replyStep{"ignored", func(ctx context.Context) error { return s.st.AppendTimeline(ctx, eid, entry) }}, nil
	case cadence.ClassWarm:
		return warm, nil
	case cadence.ClassExit:
		return replyStep{"exited", apply(cadence.Event{Kind: cadence.EvStopped, At: now, Channel: via.channel, By: via.byReply,
			Reason: a.label(strings.ReplaceAll(string(class), "_", " ") + ": " + reason)})}, nil
	case cadence.ClassPause:
		return replyStep{"paused", apply(cadence.Event{Kind: cadence.EvPaused, At: now, Channel: via.channel, By: via.byReply, Reason: a.label(reason)})}, nil
	case cadence.ClassSnoozeUntilDate:
		// To the start of the send window on the date named, else the
		// fallback; with neither, it is a reply.
		until := windowOn(c, loc, r.Until, now)
		if until.IsZero() && c != nil && !pol.Snooze.IsZero() {
			until = pol.Snooze.After(now, loc, c.Holidays)
		}
		if until.IsZero() {
			return warm, nil
		}
		ev := cadence.Event{Kind: cadence.EvSnoozed, At: now, Touch: touch, Channel: via.channel, By: via.byReply, Until: until, Reason: a.label(r.Reason)}
		return replyStep{"snoozed", func(ctx context.Context) error {
			_, err := s.e.Apply(ctx, eid, ev)
			if errors.Is(err, cadence.ErrInvalidTransition) {
				// Ended: nothing to snooze; the reply is still recorded.
				return warm.apply(ctx)
			}
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, cadence.ErrStale) {
				return nil
			}
			return err
		}}, nil
	}
	// Snooze: an auto-reply to the start of the send window on the day
	// back, in the prospect's zone; without one, for the class's snooze
	// (the engine's auto_reply_snooze when it has none of its own).
	var until time.Time
	if class != inbound.ClassBounce {
		until = windowOn(c, loc, msg.ReturnOn, now)
	}
	if until.IsZero() {
		until = snoozeFor()
	}
	return replyStep{"auto_replied", apply(cadence.Event{Kind: cadence.EvAutoReplied, At: now, Channel: via.channel, By: via.by, Until: until, Reason: a.label(reason)})}, nil
}

// replyVia is the channel a reply came by, and who its timeline lines
// say did it.
type replyVia struct {
	channel     cadence.Channel
	by, byReply string
}

var (
	viaEmail = replyVia{cadence.Email, "email", "email reply"}
	viaSMS   = replyVia{cadence.SMS, "sms", "sms reply"}
)

// replyEvent is the warm-lead reply on eid.
func (s *Server) replyEvent(a *attribution, eid string, msg *inbound.Email, now time.Time, via replyVia) cadence.Event {
	return cadence.Event{Kind: cadence.EvReplied, At: now, Channel: via.channel, By: via.by, Touch: a.touchFor(eid), Reason: a.label(excerpt(msg.Excerpt))}
}

// enrollmentCadence is eid's cadence and the prospect's zone; a nil
// cadence when the enrollment or its cadence is gone.
func (s *Server) enrollmentCadence(ctx context.Context, eid string) (*cadence.Cadence, *time.Location, error) {
	l, err := s.st.Enrollment(ctx, eid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := s.e.Cadence(l.Enrollment.CadenceID)
	if err != nil {
		return nil, nil, nil
	}
	p, err := s.st.Prospect(ctx, l.Enrollment.ProspectID)
	if err != nil {
		return nil, nil, err
	}
	rcpt := p.Recipient()
	return c, c.ZoneFor(&rcpt), nil
}

// windowOn is when the send window of cadence c opens on day d, or first
// after it, in loc: the time a snooze to "back on d" ends. Zero when d is
// zero, that time has passed, or c is nil (the enrollment is gone).
func windowOn(c *cadence.Cadence, loc *time.Location, d inbound.Date, now time.Time) time.Time {
	if d.IsZero() || c == nil {
		return time.Time{}
	}
	t := d.At(int(c.Window.Start)/60, int(c.Window.Start)%60, loc)
	if open, ok := c.Window.NextOpen(d.In(loc), loc, c.Holidays); ok {
		t = open
	}
	if !t.After(now) {
		return time.Time{}
	}
	return t
}

// applyReport applies a DSN or ARF report. Only a report naming a message
// we sent (a signed Message-ID in the report or its returned message)
// bounces or complains; any other — anyone can mail the bounce address —
// is noted on the prospect's timeline and kept for review, and suppresses
// nobody (COMPLIANCE.md 23), unless Config.TrustUnverifiedReports.
func (s *Server) applyReport(ctx context.Context, p *progress, msg *inbound.Email, now time.Time, res *EmailResult) error {
	a, err := s.attribute(ctx, msg.References,
		[2]string{msg.BounceRecipient, MatchedByFinalRecipient}, [2]string{msg.OriginalRecipient, MatchedByOriginalRecipient})
	if err != nil {
		return err
	}
	a.result(res)
	complaint := msg.Kind == inbound.KindComplaint
	what, by := "bounce report", "dsn"
	if complaint {
		what, by = "spam complaint report", "feedback loop"
	}
	detail := strings.TrimSpace(msg.BounceStatus + " " + msg.BounceDiagnostic)
	if complaint {
		detail = strings.TrimSpace(orDefault(msg.FeedbackType, "abuse") + ": " + msg.Subject)
	}
	if a.verified && msg.BounceRecipient != "" {
		if addr := s.prospectEmail(ctx, a.pid); addr != "" && addr != msg.BounceRecipient {
			detail += " (reported for " + msg.BounceRecipient + ")"
		}
	}
	note := func(kind, reason string) error {
		for _, eid := range a.eids {
			err := p.do(ctx, "note:"+eid, func() error {
				return s.st.AppendTimeline(ctx, eid, cadence.Entry{At: now, Kind: kind, Touch: a.touchFor(eid), Channel: cadence.Email, By: by, Reason: reason})
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if !complaint && msg.Action != "" && msg.Action != "failed" {
		// A delay warning (the MTA is still trying) or a success notice is
		// not a bounce: noted, never counted.
		kind := "delivery_delayed"
		if msg.Action != "delayed" {
			kind = "delivery_report"
		}
		res.Action = kind
		reason := "delivery " + msg.Action + ": " + detail
		if !a.verified {
			reason = "unverified delivery report (names none of our messages): " + reason
		}
		return note(kind, reason)
	}
	if !a.verified && !s.cfg.TrustUnverifiedReports {
		res.Action = "unverified"
		reason := "unverified " + what + " (names none of our messages): not suppressed"
		if detail != "" {
			reason += ": " + detail
		}
		if err := note(strings.ReplaceAll(what, " ", "_")+"_unverified", reason); err != nil {
			return err
		}
		return p.do(ctx, "review", func() error { return s.recordUnverified(ctx, msg, &a, now, reason) })
	}
	if !a.verified && a.pid == "" {
		return p.do(ctx, "review", func() error {
			return s.recordUnverified(ctx, msg, &a, now, "unverified "+what+" (names none of our messages) for an unknown address")
		})
	}
	if a.pid == "" {
		return nil
	}
	ev := cadence.Event{Kind: cadence.EvBounced, Hard: msg.Hard, At: now, Channel: cadence.Email, By: by, Reason: detail}
	res.Action = "soft_bounce"
	if msg.Hard {
		res.Action = "hard_bounce"
	}
	if complaint {
		ev = cadence.Event{Kind: cadence.EvComplained, At: now, Channel: cadence.Email, By: by, Reason: detail}
		res.Action = "complained"
	}
	if !a.verified {
		ev.Reason = "unverified " + what + ", trusted by configuration: " + ev.Reason
	}
	return s.applyVerifiedReport(ctx, p, &a, ev, res)
}

// applyVerifiedReport applies a bounce or complaint event to a matched
// prospect: one event, on the enrollment and touch it is about —
// suppression reaches the prospect's other enrollments by the engine's
// fan-out, and a soft bounce is counted once — or, with no enrollment
// left, a hard bounce or complaint blocks the prospect's email.
func (s *Server) applyVerifiedReport(ctx context.Context, p *progress, a *attribution, ev cadence.Event, res *EmailResult) error {
	if len(a.eids) == 0 {
		if ev.Kind == cadence.EvComplained || ev.Hard {
			reason := map[bool]string{true: "spam complaint", false: "hard bounce"}[ev.Kind == cadence.EvComplained]
			return p.do(ctx, "consent", func() error {
				_, err := s.st.SetConsent(ctx, a.pid, store.ConsentChange{At: ev.At, Channel: cadence.Email, Blocked: reason, Source: ev.By})
				return err
			})
		}
		return nil
	}
	a.eids = a.eids[:1]
	res.Enrollments = a.eids
	return p.do(ctx, "apply:"+a.eids[0], func() error {
		ev.Touch = a.touch
		return s.applyQuiet(ctx, a.eids[0], ev)
	})
}

// prospectEmail is a prospect's address ("" when unknown).
func (s *Server) prospectEmail(ctx context.Context, pid string) string {
	p, err := s.st.Prospect(ctx, pid)
	if err != nil {
		return ""
	}
	return p.Email
}

// Unverified reports are kept, newest first, in a capped list for review
// (GET /v1/inbound/unverified), whether or not they matched a prospect:
// at most unverifiedPerAddress a UTC day for one address (the report's
// recipient, else its sender), so that a flood naming one address does
// not push every other report out of the list.
const (
	unverifiedCap        = 1000
	unverifiedPerAddress = 20
)

func (s *Server) unverifiedKey() string { return s.st.Keys().Prefix + ":{idx}:inbound:unverified" }

// unverifiedCountKey counts a day's unverified reports naming addr (hashed:
// the address is not in the key).
func (s *Server) unverifiedCountKey(addr string, now time.Time) string {
	sum := sha256.Sum256([]byte(strings.ToLower(addr)))
	return s.unverifiedKey() + ":n:" + now.UTC().Format("20060102") + ":" + hex.EncodeToString(sum[:12])
}

// pushUnverified counts a report against its address's day and lists it
// unless the day's allowance is spent. KEYS[1] list, KEYS[2] counter.
// ARGV[1] record, ARGV[2] per-address allowance, ARGV[3] list cap,
// ARGV[4] counter TTL (s). Returns the day's count for the address.
var pushUnverified = redis.NewScript(`
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4])) end
if n <= tonumber(ARGV[2]) then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
end
return n
`)

// UnverifiedReport is a bounce or complaint report that named none of our
// messages, recorded instead of applied.
type UnverifiedReport struct {
	At        time.Time    `json:"at"`
	Kind      inbound.Kind `json:"kind"`
	From      string       `json:"from,omitempty"`
	Subject   string       `json:"subject,omitempty"`
	MessageID string       `json:"message_id,omitempty"`
	// Recipient and OriginalRecipient are the addresses the report names.
	Recipient         string `json:"recipient,omitempty"`
	OriginalRecipient string `json:"original_recipient,omitempty"`
	Status            string `json:"status,omitempty"`
	Diagnostic        string `json:"diagnostic,omitempty"`
	// Prospect is who the address matched, with Enrollments; empty when
	// nobody.
	Prospect    string   `json:"prospect,omitempty"`
	Enrollments []string `json:"enrollments,omitempty"`
	// Returned are the Message-IDs the report returned (none of ours).
	Returned []string `json:"returned,omitempty"`
	Note     string   `json:"note"`
}

func (s *Server) recordUnverified(ctx context.Context, msg *inbound.Email, a *attribution, now time.Time, note string) error {
	rec := UnverifiedReport{At: now, Kind: msg.Kind, From: msg.From, Subject: truncateText(msg.Subject, 300), MessageID: truncateText(msg.MessageID, 300),
		Recipient: msg.BounceRecipient, OriginalRecipient: msg.OriginalRecipient, Status: msg.BounceStatus, Diagnostic: truncateText(msg.BounceDiagnostic, 500),
		Prospect: a.pid, Enrollments: a.eids, Note: note}
	for _, id := range msg.Returned {
		rec.Returned = append(rec.Returned, truncateText(id, 300))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	addr := orDefault(msg.BounceRecipient, orDefault(msg.OriginalRecipient, "from:"+msg.From))
	n, err := pushUnverified.Run(ctx, s.st.Redis(), []string{s.unverifiedKey(), s.unverifiedCountKey(addr, now)},
		b, unverifiedPerAddress, unverifiedCap, int64((48 * time.Hour).Seconds())).Int64()
	if err != nil {
		return err
	}
	switch {
	case n <= unverifiedPerAddress:
		s.log.Warn("unverified inbound report recorded, not applied", "kind", msg.Kind, "matched", a.pid != "", "status", msg.BounceStatus)
	case n == unverifiedPerAddress+1:
		s.log.Warn("unverified inbound reports: more than the day's allowance name one address; the rest are counted, not listed",
			"kind", msg.Kind, "matched", a.pid != "", "allowance", unverifiedPerAddress)
	}
	return nil
}

// UnverifiedReports lists recorded unverified reports, newest first.
func (s *Server) UnverifiedReports(ctx context.Context, limit int) ([]UnverifiedReport, error) {
	raw, err := s.st.Redis().LRange(ctx, s.unverifiedKey(), 0, int64(limit)-1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]UnverifiedReport, 0, len(raw))
	for _, r := range raw {
		var rec UnverifiedReport
		if err := json.Unmarshal([]byte(r), &rec); err == nil {
			out = append(out, rec)
		}
	}
	return out, nil
}

// unverifiedReports serves GET /v1/inbound/unverified?limit=N (default
// 100, at most 1000).
func (s *Server) unverifiedReports(w http.ResponseWriter, r *http.Request, _ Token) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > unverifiedCap {
			writeErr(w, http.StatusBadRequest, "bad_limit", "limit", "limit must be 1..%d", unverifiedCap)
			return
		}
		limit = n
	}
	list, err := s.UnverifiedReports(r.Context(), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reports": list})
}

// truncateText cuts s to at most n bytes, on a rune boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
)

// Deliverability at send time: which mailbox an email goes from
// (senders.Config.Choose), and the limits on that mailbox, its relay, its
// sending domain and the recipient's domain, taken atomically in Redis
// across every worker (store/sendlimits.go). A touch over a limit is
// deferred to its next slot inside the recipient's send window, never
// dropped; a brake holds it until an admin resumes the mailbox or cadence.

// brakeRecheck is how often a touch held by a brake is looked at again.
const brakeRecheck = time.Hour

// LimitObserver is told about limits; an Observer that implements it gets
// the calls (metrics).
type LimitObserver interface {
	// LimitDeferred counts a touch deferred by a group's limit ("minute",
	// "hour", "day", "share", "brake").
	LimitDeferred(group, binding string)
	// RateLimited counts a provider's "slow down" answer and the group's
	// new slow-down factor.
	RateLimited(group string, factor int)
	// BrakeOn counts a brake put on.
	BrakeOn(group string)
}

func (e *Engine) limitObserver() LimitObserver {
	lo, _ := e.cfg.Observer.(LimitObserver)
	return lo
}

// Senders returns the configured sender mailboxes (nil: none).
func (e *Engine) Senders() *senders.Config { return e.cfg.Senders }

// mailboxGroup, relayGroup, ... name limit groups in the store.
func mailboxGroup(id string) string { return "mb:" + id }
func relayGroup(id string) string {
	if id == "" {
		id = "default"
	}
	return "relay:" + id
}
func sendingDomainGroup(d string) string   { return "sd:" + d }
func recipientDomainGroup(d string) string { return "rd:" + d }
func cadenceGroup(id string) string        { return "cad:" + id }

// resolveMailboxes picks each email's mailbox; a touch whose cadence names
// a mailbox that does not fit, with no from.email to fall back on, is held
// with the reason.
func (e *Engine) resolveMailboxes(ctx context.Context, sends []*item, now time.Time) ([]*item, error) {
	out := sends[:0]
	for _, it := range sends {
		if it.dec.Touch.Channel != cadence.Email || it.c.From.Mailbox == "" {
			out = append(out, it)
			continue
		}
		mb, why := (*senders.Mailbox)(nil), "no mailboxes are configured (NURTURE_MAILBOXES)"
		if e.cfg.Senders != nil {
			mb, why = e.cfg.Senders.Choose(senders.Choice(it.c.From.Mailbox), it.prospect.Owner, it.eid, it.loaded.Enrollment.Mailbox)
		}
		if mb != nil {
			it.mailbox = mb
			out = append(out, it)
			continue
		}
		if it.c.From.Email != "" {
			out = append(out, it) // the cadence's own address
			continue
		}
		t := it.dec.Touch
		until := now.Add(e.cfg.HoldRecheck)
		if err := e.reschedule(ctx, it, until, cadence.Entry{At: now, Kind: "held", Touch: t.ID, Channel: t.Channel,
			Reason: "no mailbox to send from: " + why, Until: until}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fromAddress is the From of an email item: its mailbox, or the cadence's.
func (it *item) fromAddress() string {
	if it.mailbox != nil {
		return it.mailbox.From()
	}
	return it.c.From.Email
}

// applyLimits takes a slot of every limit group of each email and defers
// those that do not get all of theirs.
func (e *Engine) applyLimits(ctx context.Context, sends []*item, now time.Time) ([]*item, error) {
	cfg := e.cfg.Senders
	if cfg == nil {
		return sends, nil
	}
	var asks []store.LimitAsk
	var labels []string
	index := map[string]int{}
	members := map[int][]*item{}
	slots := map[*item][]int{}
	ask := func(it *item, key string, a store.LimitAsk, label string) {
		i, ok := index[key]
		if !ok {
			i = len(asks)
			index[key] = i
			asks = append(asks, a)
			labels = append(labels, label)
		}
		asks[i].Want++
		members[i] = append(members[i], it)
		slots[it] = append(slots[it], i)
	}
	day := func(loc *time.Location) (time.Time, time.Time) {
		return senders.Day(now, loc), senders.NextDay(now, loc)
	}
	for _, it := range sends {
		if it.dec.Touch.Channel != cadence.Email {
			continue
		}
		d, end := day(time.UTC)
		g := cadenceGroup(it.c.ID)
		ask(it, g, store.LimitAsk{Group: g, Day: d, DayEnd: end}, "cadence "+it.c.ID)
		if mb := it.mailbox; mb != nil {
			d, end := day(mb.Zone)
			g := mailboxGroup(mb.ID)
			ask(it, g+"|"+it.c.ID, store.LimitAsk{Group: g, PerMinute: mb.Limits.PerMinute, PerHour: mb.Limits.PerHour, DayCap: mb.DayCap(now),
				Day: d, DayEnd: end, CountDay: true, Cadence: it.c.ID}, "mailbox "+mb.ID)
			if r := cfg.Relays[mb.Relay]; r != nil && r.Limits.Any() {
				g := relayGroup(r.ID)
				ask(it, g, store.LimitAsk{Group: g, PerMinute: r.Limits.PerMinute, PerHour: r.Limits.PerHour, DayCap: r.Limits.PerDay, Day: d, DayEnd: end}, "relay "+r.ID)
			}
		}
		if sd := senders.DomainOf(it.fromAddress()); sd != "" {
			if l, ok := cfg.SendingDomains[sd]; ok && l.Any() {
				g := sendingDomainGroup(sd)
				ask(it, g, store.LimitAsk{Group: g, PerMinute: l.PerMinute, PerHour: l.PerHour, DayCap: l.PerDay, Day: d, DayEnd: end}, "sending domain "+sd)
			}
		}
		if rd := senders.DomainOf(it.prospect.Email); rd != "" {
			if l := cfg.RecipientLimits(rd); l.Any() {
				g := recipientDomainGroup(rd)
				ask(it, g, store.LimitAsk{Group: g, PerMinute: l.PerMinute, PerHour: l.PerHour, DayCap: l.PerDay, Day: d, DayEnd: end}, "recipient domain "+rd)
			}
		}
	}
	if len(asks) == 0 {
		return sends, nil
	}
	grants, err := e.st.AcquireSends(ctx, asks, now)
	if err != nil {
		return nil, err
	}
	// An item's position among an ask's members says whether it was
	// granted (the first Granted) and, if not, how far back it queues.
	type verdict struct {
		ok    bool
		at    time.Time
		why   string
		brake bool
	}
	verdicts := map[*item]*verdict{}
	granted := map[*item][]int{}
	for i, ms := range members {
		g := grants[i]
		for k, it := range ms {
			v := verdicts[it]
			if v == nil {
				v = &verdict{ok: true}
				verdicts[it] = v
			}
			if k < g.Granted {
				granted[it] = append(granted[it], i)
				continue
			}
			v.ok = false
			at := now.Add(g.Wait + time.Duration(k-g.Granted)*g.Spacing)
			if at.After(v.at) {
				v.at, v.why, v.brake = at, limitReason(labels[i], asks[i], g), g.Binding == "brake"
			}
			if lo := e.limitObserver(); lo != nil {
				lo.LimitDeferred(asks[i].Group, g.Binding)
			}
		}
	}
	refunds := map[int]int{}
	out := sends[:0]
	for _, it := range sends {
		v := verdicts[it]
		if v == nil || v.ok {
			for _, i := range granted[it] {
				it.slots = append(it.slots, limitHeld{asks[i], grants[i]})
			}
			out = append(out, it)
			continue
		}
		for _, i := range granted[it] {
			refunds[i]++
		}
		if err := e.deferForLimit(ctx, it, v.at, v.why, v.brake, now); err != nil {
			return nil, err
		}
	}
	for i, n := range refunds {
		if err := e.st.RefundSends(ctx, asks[i], grants[i], n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// limitHeld is a slot a send took in one group.
type limitHeld struct {
	ask   store.LimitAsk
	grant store.LimitGrant
}

// returnSlots hands back the slots of a send the provider did not take
// (a temporary refusal, a lost connection): it is retried later and counts
// against the limits then, not twice.
func (e *Engine) returnSlots(ctx context.Context, it *item) {
	for _, h := range it.slots {
		if err := e.st.RefundSends(ctx, h.ask, h.grant, 1); err != nil {
			e.log.Warn("handing back a send-limit slot", "group", h.ask.Group, "err", err)
			return
		}
	}
	it.slots = nil
}

// limitReason says which limit deferred a touch, with the numbers.
func limitReason(label string, a store.LimitAsk, g store.LimitGrant) string {
	slow := ""
	if g.Slow > 1 {
		slow = fmt.Sprintf(", slowed down %d× after the provider asked", g.Slow)
	}
	switch g.Binding {
	case "brake":
		return label + " is stopped by its brake (" + g.Brake + "); an admin resumes it"
	case "minute":
		return fmt.Sprintf("%s limit %d per minute reached%s", label, a.PerMinute, slow)
	case "hour":
		return fmt.Sprintf("%s limit %d per hour reached%s", label, a.PerHour, slow)
	case "day":
		return fmt.Sprintf("%s daily limit %d reached", label, g.Cap)
	case "share":
		return fmt.Sprintf("%s is shared by several cadences today: this one used its fair share of the daily limit %d", label, g.Cap)
	}
	return label + " limit reached"
}

// deferForLimit moves a touch to its next slot inside the recipient's
// send window; a brake holds it for brakeRecheck.
func (e *Engine) deferForLimit(ctx context.Context, it *item, at time.Time, why string, brake bool, now time.Time) error {
	t := it.dec.Touch
	if brake {
		until := now.Add(brakeRecheck)
		return e.reschedule(ctx, it, until, cadence.Entry{At: now, Kind: "held", Touch: t.ID, Channel: t.Channel, Reason: why, Until: until})
	}
	if next, err := cadence.NextAllowed(at, it.c.WindowFor(t), it.dec.Zones, it.c.Holidays); err == nil {
		at = next
	}
	zone := time.UTC
	if len(it.dec.Zones) > 0 {
		zone = it.dec.Zones[0]
	}
	reason := why + "; next slot " + at.In(zone).Format("Mon 2 Jan 15:04 MST")
	return e.reschedule(ctx, it, at, cadence.Entry{At: now, Kind: "deferred", Touch: t.ID, Channel: t.Channel, Reason: reason, Until: at})
}

// recordSentOutcomes adds each accepted email to its mailbox's and
// cadence's recent outcomes (the brakes' denominators).
func (e *Engine) recordSentOutcomes(ctx context.Context, sent []*item) {
	cfg := e.cfg.Senders
	if cfg == nil {
		return
	}
	var groups []string
	for _, it := range sent {
		// A message refused as a hard bounce was sent as far as the rate
		// is concerned: it is the numerator's denominator.
		if it.email == nil || (it.sendErr != nil && channels.ClassOf(it.sendErr) != channels.HardBounce) {
			continue
		}
		groups = append(groups, cadenceGroup(it.c.ID))
		if it.mailbox != nil {
			groups = append(groups, mailboxGroup(it.mailbox.ID))
		}
	}
	if err := e.st.RecordSent(ctx, groups, cfg.Brakes.Window); err != nil {
		e.log.Warn("recording sends for the bounce brakes", "err", err)
	}
}

// noteBadOutcome counts a hard bounce or a complaint against the mailbox
// the enrollment sends from and its cadence, and puts on a brake that the
// rate now trips: logged as an ALERT, counted on /metrics and sent to the
// operator webhook.
func (e *Engine) noteBadOutcome(ctx context.Context, en *cadence.Enrollment, ev cadence.Event) {
	cfg := e.cfg.Senders
	if cfg == nil || ev.Channel != cadence.Email {
		return
	}
	outcome := store.OutcomeBounced
	switch {
	case ev.Kind == cadence.EvComplained:
		outcome = store.OutcomeComplaint
	case ev.Kind == cadence.EvBounced && ev.Hard:
	default:
		return
	}
	rule := store.BrakeRule{Window: cfg.Brakes.Window, BounceRate: cfg.Brakes.BounceRate, ComplaintRate: cfg.Brakes.ComplaintRate}
	groups := []string{cadenceGroup(en.CadenceID)}
	if en.Mailbox != "" {
		groups = append(groups, mailboxGroup(en.Mailbox))
	}
	for _, g := range groups {
		reason, err := e.st.RecordOutcome(ctx, g, outcome, rule, ev.At)
		if err != nil {
			e.log.Warn("recording a bounce for the brakes", "group", g, "err", err)
			continue
		}
		if reason == "" {
			continue
		}
		e.log.Error("ALERT: sending stopped by a brake; an admin resumes it", "group", describeGroup(g), "reason", reason)
		if lo := e.limitObserver(); lo != nil {
			lo.BrakeOn(g)
		}
		if err := e.notifyOperator(ctx, OperatorNotice{Event: "brake.on", Group: g, What: describeGroup(g), Reason: reason, At: ev.At}); err != nil {
			e.log.Warn("operator webhook", "err", err)
		}
	}
}

// describeGroup turns a limit group name into words ("mailbox sam").
func describeGroup(g string) string {
	kind, id, _ := strings.Cut(g, ":")
	switch kind {
	case "mb":
		return "mailbox " + id
	case "cad":
		return "cadence " + id
	case "relay":
		return "relay " + id
	case "sd":
		return "sending domain " + id
	case "rd":
		return "recipient domain " + id
	}
	return g
}

// rateLimited reports whether a temporary refusal asks us to slow down:
// 421, or a 4.7.x status, or the words providers use.
func rateLimited(ce *channels.Error) bool {
	if ce.Code == 421 || strings.HasPrefix(ce.Enhanced, "4.7.") {
		return true
	}
	msg := strings.ToLower(ce.Error())
	for _, w := range []string{"rate limit", "too many", "try again later", "throttl", "slow down"} {
		if strings.Contains(msg, w) && (ce.Code == 0 || ce.Code/100 == 4) {
			return true
		}
	}
	return false
}

// slowDown halves the sending rate of the mailbox (or the relay, for an
// email without one) after a "rate limited" answer.
func (e *Engine) slowDown(ctx context.Context, it *item, ce *channels.Error, now time.Time) {
	if e.cfg.Senders == nil {
		return
	}
	g := relayGroup("")
	if it.mailbox != nil {
		g = mailboxGroup(it.mailbox.ID)
	}
	f, err := e.st.SlowDown(ctx, g, now)
	if err != nil {
		e.log.Warn("slowing down after a rate-limited answer", "group", g, "err", err)
		return
	}
	e.log.Warn("provider asked to slow down; rate divided", "group", describeGroup(g), "factor", f, "code", ce.Code, "enhanced", ce.Enhanced)
	if lo := e.limitObserver(); lo != nil {
		lo.RateLimited(g, f)
	}
}

// MailboxStatus is a mailbox's day for the dashboard and metrics.
type MailboxStatus struct {
	Mailbox *senders.Mailbox
	// Today is its sends today (its zone); Cap today's daily limit (the
	// warm-up ramp's value; 0: none).
	Today, Cap int
	// Slow is the slow-down factor after "rate limited" answers (1: none).
	Slow  int
	Brake string
}

// MailboxStatuses reads every configured mailbox's day.
func (e *Engine) MailboxStatuses(ctx context.Context) ([]MailboxStatus, error) {
	cfg := e.cfg.Senders
	if cfg == nil {
		return nil, nil
	}
	now := e.cfg.Clock()
	groups := make([]string, len(cfg.Mailboxes))
	days := make([]time.Time, len(cfg.Mailboxes))
	for i, mb := range cfg.Mailboxes {
		groups[i], days[i] = mailboxGroup(mb.ID), senders.Day(now, mb.Zone)
	}
	us, err := e.st.LimitUsages(ctx, groups, days, now)
	if err != nil {
		return nil, err
	}
	out := make([]MailboxStatus, len(us))
	for i, u := range us {
		mb := cfg.Mailboxes[i]
		out[i] = MailboxStatus{Mailbox: mb, Today: u.Today, Cap: mb.DayCap(now), Slow: u.Slow, Brake: u.Brake}
	}
	return out, nil
}

// BrakeStatus is a brake that is on.
type BrakeStatus struct {
	store.Brake
	// What names it in words: "mailbox sam", "cadence saas-trial".
	What string
	// Kind is "mailbox" or "cadence"; ID its id (for ResumeSending).
	Kind, ID string
}

// Brakes lists the brakes that are on.
func (e *Engine) Brakes(ctx context.Context) ([]BrakeStatus, error) {
	bs, err := e.st.Brakes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]BrakeStatus, 0, len(bs))
	for _, b := range bs {
		kind, id, _ := strings.Cut(b.Group, ":")
		if kind == "mb" {
			kind = "mailbox"
		} else if kind == "cad" {
			kind = "cadence"
		}
		out = append(out, BrakeStatus{Brake: b, What: describeGroup(b.Group), Kind: kind, ID: id})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// ErrNoBrake is returned by ResumeSending when no brake was on.
var ErrNoBrake = errors.New("no brake is on")

// ResumeSending lifts the brake of a mailbox or a cadence ("mailbox" or
// "cadence", and its id) and starts counting its outcomes afresh; held
// touches go at their next recheck (within brakeRecheck).
func (e *Engine) ResumeSending(ctx context.Context, kind, id, by string) error {
	var g string
	switch kind {
	case "mailbox":
		g = mailboxGroup(id)
	case "cadence":
		g = cadenceGroup(id)
	default:
		return fmt.Errorf("resume: kind %q: want mailbox or cadence", kind)
	}
	was, err := e.st.LiftBrake(ctx, g)
	if err != nil {
		return err
	}
	if !was {
		return fmt.Errorf("%s: %w", describeGroup(g), ErrNoBrake)
	}
	e.log.Warn("brake lifted; sending resumes", "group", describeGroup(g), "by", by)
	return nil
}

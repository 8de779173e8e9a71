package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/templates"
)

// item is one claimed enrollment on its way through a batch.
type item struct {
	eid      string
	loaded   store.Loaded
	prospect *store.Prospect
	c        *cadence.Cadence
	rcpt     cadence.Recipient
	loc      *time.Location
	dec      cadence.Decision
	ledger   string
	sending  string // the ledger value written when it was begun
	email    *channels.Email
	sms      *channels.SMS
	sendErr  error
	attempts int
	// mailbox is the sender mailbox it goes from (nil: the cadence's
	// from.email).
	mailbox *senders.Mailbox
	// slots are the send-limit slots it took (applyLimits), handed back
	// when nothing reached the provider.
	slots []limitHeld
}

// ProcessBatch runs claimed enrollments through gate, render, send and
// commit, with one pipelined round trip per step for the whole batch. It
// returns an error only for infrastructure failures (Redis down), so asynq
// retries the task; provider failures are handled per touch.
func (e *Engine) ProcessBatch(ctx context.Context, ids []string) error {
	if err := e.repairs.settle(ctx, e.st); err != nil {
		return err
	}
	if e.batchCheck != nil {
		if err := e.batchCheck(ctx); err != nil {
			e.log.Warn("cadence version check before a batch failed; sending with the cadences loaded", "err", err)
		}
	}
	now := e.cfg.Clock()
	items, err := e.load(ctx, ids)
	if err != nil {
		return err
	}
	var sends []*item
	if items, err = e.rebase(ctx, items, now); err != nil {
		return err
	}
	for _, it := range items {
		l := &it.loaded.Enrollment
		it.dec = it.c.Gate(l, cadence.Claim{Stage: l.Stage, Step: l.Step, Generation: l.Generation}, &it.rcpt, nil, now)
	}
	// Frequency caps: one prospect's touches of this batch are gated in
	// turn, each counting the sends accepted before it (caps.go).
	if err := e.gateCaps(ctx, items, now); err != nil {
		return err
	}
	for _, it := range items {
		switch it.dec.Verdict {
		case cadence.Send:
			sends = append(sends, it)
		case cadence.Stale:
			if err := e.st.ReleaseLease(ctx, it.eid); err != nil {
				return err
			}
		default:
			if err := e.settle(ctx, it, now); err != nil {
				return err
			}
		}
	}
	// The mailbox first: it is the sending domain the pauses and limits
	// are about (senders.go).
	if sends, err = e.resolveMailboxes(ctx, sends, now); err != nil {
		return err
	}
	if sends, err = e.holdPausedDomains(ctx, sends, now); err != nil {
		return err
	}
	if sends, err = e.applyLimits(ctx, sends, now); err != nil {
		return err
	}
	if len(sends) == 0 {
		return nil
	}
	for _, it := range sends {
		l := &it.loaded.Enrollment
		it.ledger = store.LedgerField(l)
	}
	e.deliver(ctx, sends, now)
	e.recordSentOutcomes(ctx, sends)
	if err := e.recordAll(ctx, sends, now); err != nil {
		// Redis failed while the outcomes were being recorded; this worker
		// alone knows which messages the provider accepted.
		for _, it := range sends {
			if it.sendErr == nil && it.sending != "" {
				e.repairs.add(it.eid, it.ledger, it.sending, store.LedgerSent)
			}
		}
		return err
	}
	return nil
}

// rebase moves enrollments made under an earlier version of their cadence
// onto the loaded one (cadence.Rebase: the next touch found by id) before
// they are gated; an enrollment changed meanwhile is left to its next claim.
func (e *Engine) rebase(ctx context.Context, items []*item, now time.Time) ([]*item, error) {
	out := items[:0]
	for _, it := range items {
		en, note, changed := it.c.Rebase(it.loaded.Enrollment, now)
		if !changed {
			out = append(out, it)
			continue
		}
		rev, err := e.st.Commit(ctx, &store.Commit{Rev: it.loaded.Rev, Enrollment: en, Entries: []cadence.Entry{note}, Lane: laneFor(it.c, &en)})
		if errors.Is(err, store.ErrConflict) {
			if err := e.st.ReleaseLease(ctx, it.eid); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		it.loaded = store.Loaded{Enrollment: en, Rev: rev}
		out = append(out, it)
	}
	return out, nil
}

// holdPausedDomains defers email touches whose sending domain is paused
// after a sender-side refusal (5.7.x): nothing is sent from it until the
// pause ends or an operator lifts it.
func (e *Engine) holdPausedDomains(ctx context.Context, sends []*item, now time.Time) ([]*item, error) {
	out := sends[:0]
	paused := map[string]struct {
		until  time.Time
		reason string
	}{}
	for _, it := range sends {
		if it.dec.Touch.Channel != cadence.Email {
			out = append(out, it)
			continue
		}
		d := senderDomain(it.fromAddress())
		p, seen := paused[d]
		if !seen {
			u, r, err := e.st.DomainPaused(ctx, d, now)
			if err != nil {
				return nil, err
			}
			p.until, p.reason = u, r
			paused[d] = p
		}
		if p.until.IsZero() {
			out = append(out, it)
			continue
		}
		t := it.dec.Touch
		if err := e.reschedule(ctx, it, p.until, cadence.Entry{At: now, Kind: "deferred", Touch: t.ID, Channel: t.Channel,
			Reason: "sending domain " + d + " paused: " + p.reason, Until: p.until}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// senderDomain is the domain of a From address ("Acme <a@acme.example>").
func senderDomain(from string) string {
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		return strings.ToLower(strings.TrimRight(from[i+1:], "> "))
	}
	return ""
}

// needsHistory reports whether the gate needs recent sends for a touch:
// only when a frequency cap or a state SMS cap applies.
func needsHistory(it *item) bool {
	t := it.dec.Touch
	if t == nil {
		return false
	}
	if _, ok := it.c.Caps[t.Channel]; ok {
		return true
	}
	return t.Channel == cadence.SMS && cadence.SMSDailyCap(it.rcpt.SMSState()) > 0
}

// load reads the claimed enrollments and their prospects.
func (e *Engine) load(ctx context.Context, ids []string) ([]*item, error) {
	loaded, err := e.st.Enrollments(ctx, ids)
	if err != nil {
		return nil, err
	}
	cads := e.Cadences()
	items := make([]*item, 0, len(ids))
	pids := make([]string, 0, len(ids))
	for i, l := range loaded {
		if l == nil {
			if err := e.st.ReleaseLease(ctx, ids[i]); err != nil {
				return nil, err
			}
			continue
		}
		c, ok := cads[l.Enrollment.CadenceID]
		if !ok {
			e.log.Error("claimed enrollment of an unloaded cadence; leaving it leased", "enrollment", ids[i], "cadence", l.Enrollment.CadenceID)
			continue
		}
		items = append(items, &item{eid: ids[i], loaded: *l, c: c})
		pids = append(pids, l.Enrollment.ProspectID)
	}
	ps, err := e.st.Prospects(ctx, pids)
	if err != nil {
		return nil, err
	}
	out := items[:0]
	for i, it := range items {
		if ps[i] == nil {
			e.log.Error("enrollment without prospect; leaving it leased", "enrollment", it.eid)
			continue
		}
		it.prospect, it.rcpt = ps[i], ps[i].Recipient()
		it.loc = it.c.ZoneFor(&it.rcpt)
		out = append(out, it)
	}
	return out, nil
}

// settle commits a decision that sends nothing: defer, skip, hold or a
// stage end.
func (e *Engine) settle(ctx context.Context, it *item, now time.Time) error {
	d := it.dec
	switch d.Verdict {
	case cadence.Defer:
		return e.reschedule(ctx, it, d.At, cadence.Entry{At: now, Kind: "deferred", Touch: d.Touch.ID, Channel: d.Touch.Channel, Reason: d.Reason, Until: d.At})
	case cadence.Hold:
		return e.reschedule(ctx, it, now.Add(e.cfg.HoldRecheck), cadence.Entry{At: now, Kind: "held", Touch: d.Touch.ID, Channel: d.Touch.Channel, Reason: d.Reason, Until: now.Add(e.cfg.HoldRecheck)})
	case cadence.Skip:
		return e.commitEvent(ctx, it, cadence.Event{Kind: cadence.EvSkipped, At: now, Touch: d.Touch.ID, Channel: d.Touch.Channel, Reason: d.Reason}, "", "")
	case cadence.StageEnd:
		return e.commitEvent(ctx, it, cadence.Event{Kind: cadence.EvDue, At: now}, "", "")
	}
	return nil
}

// reschedule moves the enrollment's due time without a state change.
func (e *Engine) reschedule(ctx context.Context, it *item, at time.Time, note cadence.Entry) error {
	en := it.loaded.Enrollment
	en.DueAt = at
	_, err := e.st.Commit(ctx, &store.Commit{Rev: it.loaded.Rev, Enrollment: en, Entries: []cadence.Entry{note}, Lane: laneFor(it.c, &en), Stats: holdStats(note)})
	if errors.Is(err, store.ErrConflict) {
		// Something else changed it (an event, a pause) and set its due
		// time; this deferral no longer applies.
		return e.st.ReleaseLease(ctx, it.eid)
	}
	return err
}

// commitEvent applies an event to the item's enrollment and commits it
// with an optional ledger entry, reloading on conflict.
func (e *Engine) commitEvent(ctx context.Context, it *item, ev cadence.Event, ledgerField, ledgerValue string) error {
	var sent *time.Time
	if ev.Kind == cadence.EvSent {
		sent = &ev.At
	}
	var o cadence.Outcome
	moved := false // the event no longer applies: nothing to carry out
	err := retryConflicts(ctx, func(attempt int) error {
		moved = false
		if attempt > 0 {
			// The commit lost to a concurrent change: re-apply on the
			// fresh state.
			l, err := e.st.Enrollment(ctx, it.eid)
			if err != nil {
				return err
			}
			it.loaded = l
		}
		var err error
		o, err = it.c.Apply(it.loaded.Enrollment, ev, it.loc)
		if errors.Is(err, cadence.ErrStale) || errors.Is(err, cadence.ErrInvalidTransition) {
			moved = true
			if ledgerField != "" {
				// Keep the ledger truthful even when the enrollment has
				// moved on (a send that raced a stop).
				_, _ = e.st.Commit(ctx, &store.Commit{Rev: it.loaded.Rev, Enrollment: it.loaded.Enrollment, Entries: o.Entries, LedgerField: ledgerField, LedgerValue: ledgerValue, Sent: sent, Channel: ev.Channel, Lane: laneFor(it.c, &it.loaded.Enrollment)})
			}
			return e.st.ReleaseLease(ctx, it.eid)
		}
		if err != nil {
			return err
		}
		_, err = e.st.Commit(ctx, &store.Commit{Rev: it.loaded.Rev, Enrollment: o.Enrollment, Entries: o.Entries,
			LedgerField: ledgerField, LedgerValue: ledgerValue, Sent: sent, Channel: ev.Channel, Stats: statsFor(it.c, it.loaded.Enrollment, o, ev), Day: ev.At,
			Lane: laneFor(it.c, &o.Enrollment)})
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("enrollment %s: %w", it.eid, err)
	}
	if err != nil || moved {
		return err
	}
	if err := e.indexWarm(ctx, it.loaded.Enrollment.State, &o.Enrollment, ev.At); err != nil {
		return err
	}
	return e.carryOut(ctx, o.Enrollment, ev, o.Actions)
}

func (e *Engine) requeue(ctx context.Context, it *item, now time.Time) error {
	l, err := e.st.Enrollment(ctx, it.eid)
	if err != nil {
		return err
	}
	if l.Enrollment.State == cadence.Active {
		it.loaded = l
		en := l.Enrollment
		_, err := e.st.Commit(ctx, &store.Commit{Rev: l.Rev, Enrollment: en, Lane: laneFor(it.c, &en)})
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	}
	return e.st.ReleaseLease(ctx, it.eid)
}

func (e *Engine) bump(ctx context.Context, it *item, what string) {
	_ = e.st.Redis().HIncrBy(ctx, e.st.Keys().Stats(store.Shard(it.loaded.Enrollment.ProspectID), it.c.ID), "t:"+it.dec.Touch.ID+":"+what, 1).Err()
}

// deliver renders and sends every owned touch: emails in one batch over
// the SMTP pool, SMS concurrently, each recorded in the ledger before the
// provider sees it (per message, or per batch with JournalBatch).
func (e *Engine) deliver(ctx context.Context, ready []*item, now time.Time) {
	var rendered []*item
	for _, it := range ready {
		if err := e.render(it); err != nil {
			it.sendErr = err
			continue
		}
		rendered = append(rendered, it)
	}
	owner := e.owner + "." + strconv.FormatUint(e.batches.Add(1), 36)
	perMessage := e.cfg.Journal == JournalMessage
	if !perMessage {
		rendered = e.beginAll(ctx, rendered, store.SendingValue(now.Add(e.cfg.Lease), owner))
	}
	var emails []*channels.Email
	var emailItems []*item
	var smsItems []*item
	for _, it := range rendered {
		if it.email != nil {
			emails = append(emails, it.email)
			emailItems = append(emailItems, it)
		} else {
			smsItems = append(smsItems, it)
		}
	}
	// Each relay gets its share of the batch over its own pool; a
	// mailbox without a relay sends through the default one.
	byRelay := map[string][]int{}
	var relays []string
	for i, it := range emailItems {
		r := ""
		if it.mailbox != nil {
			r = it.mailbox.Relay
		}
		if _, ok := byRelay[r]; !ok {
			relays = append(relays, r)
		}
		byRelay[r] = append(byRelay[r], i)
	}
	for _, r := range relays {
		idx := byRelay[r]
		sender := e.cfg.Email
		if s, ok := e.cfg.Relays[r]; ok && r != "" {
			sender = s
		}
		group, groupItems := emails, emailItems
		if len(relays) > 1 {
			group, groupItems = make([]*channels.Email, len(idx)), make([]*item, len(idx))
			for k, i := range idx {
				group[k], groupItems[k] = emails[i], emailItems[i]
			}
		}
		var j channels.Journal
		if perMessage {
			j = &journal{e: e, items: groupItems, owner: owner}
		}
		for i, err := range sender.SendEmails(ctx, group, j) {
			groupItems[i].sendErr = err
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	sj := &journal{e: e, items: smsItems, owner: owner}
	for i, it := range smsItems {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, it *item) {
			defer func() { <-sem; wg.Done() }()
			if perMessage {
				if it.sendErr = sj.Step(ctx, -1, nil, i); it.sendErr != nil {
					return
				}
			}
			_, it.sendErr = e.cfg.SMS.SendSMS(ctx, it.sms)
			if perMessage {
				_ = sj.Step(ctx, i, it.sendErr, -1)
			}
		}(i, it)
	}
	wg.Wait()
}

// recordAll commits the outcome of every owned send. Accepted sends, the
// common case, are committed in one pipeline with their Message-IDs
// indexed in one command; anything else goes one by one.
func (e *Engine) recordAll(ctx context.Context, ready []*item, now time.Time) error {
	var commits []*store.Commit
	var committed []*item
	var out cadence.Outcome
	for _, it := range ready {
		if it.sendErr != nil {
			if err := e.record(ctx, it, now); err != nil {
				return err
			}
			continue
		}
		t := it.dec.Touch
		ev := sentEvent(it, now)
		if err := it.c.ApplyInto(&out, it.loaded.Enrollment, ev, it.loc); err != nil || len(out.Actions) > 0 {
			if err := e.record(ctx, it, now); err != nil {
				return err
			}
			continue
		}
		e.cfg.Observer.Sent(t.Channel, now.Sub(it.loaded.Enrollment.DueAt))
		commits = append(commits, &store.Commit{Rev: it.loaded.Rev, Enrollment: out.Enrollment, Entries: append([]cadence.Entry(nil), out.Entries...),
			LedgerField: it.ledger, LedgerValue: store.LedgerSent, Sent: &ev.At, Channel: t.Channel,
			Stats: statsFor(it.c, it.loaded.Enrollment, out, ev), Day: ev.At, Lane: laneFor(it.c, &out.Enrollment), SameLane: laneFor(it.c, &it.loaded.Enrollment) == laneFor(it.c, &out.Enrollment)})
		committed = append(committed, it)
	}
	for i, err := range e.st.CommitBatch(ctx, commits) {
		switch {
		case errors.Is(err, store.ErrConflict):
			// An event landed between read and commit: re-apply on the
			// fresh state (the ledger still says "sending", owned by us).
			l, lerr := e.st.Enrollment(ctx, committed[i].eid)
			if lerr != nil {
				return lerr
			}
			committed[i].loaded = l
			if err := e.commitEvent(ctx, committed[i], sentEvent(committed[i], now), committed[i].ledger, store.LedgerSent); err != nil {
				return err
			}
		case err != nil:
			return err
		}
	}
	return nil
}

func sentEvent(it *item, now time.Time) cadence.Event {
	t := it.dec.Touch
	ev := cadence.Event{Kind: cadence.EvSent, At: now, Touch: t.ID, Channel: t.Channel}
	if len(t.Variants) > 1 {
		ev.Reason = "variant " + it.dec.Variant.ID
	}
	if it.email != nil {
		ev.MessageID = strings.Trim(it.email.MessageID, "<>")
	}
	if it.mailbox != nil {
		ev.Mailbox = it.mailbox.ID
	}
	return ev
}

// record commits what happened to one owned send.
func (e *Engine) record(ctx context.Context, it *item, now time.Time) error {
	t := it.dec.Touch
	var hold *templates.HoldError
	var limit *LimitError
	if errors.As(it.sendErr, &limit) {
		e.log.Warn("touch held: rendered message over a size limit", "enrollment", it.eid, "touch", t.ID, "limit", limit.Limit, "reason", limit.Error())
	}
	if errors.As(it.sendErr, &hold) || limit != nil || errors.Is(it.sendErr, templates.ErrTooLong) {
		// Rendering failed before the ledger was begun: nothing was handed
		// to the provider, and this is not a failed attempt.
		e.returnSlots(ctx, it)
		if err := e.st.ClearLedger(ctx, it.eid, it.ledger); err != nil {
			return err
		}
		return e.reschedule(ctx, it, now.Add(e.cfg.HoldRecheck), cadence.Entry{At: now, Kind: "held", Touch: t.ID, Channel: t.Channel, Reason: it.sendErr.Error(), Until: now.Add(e.cfg.HoldRecheck)})
	}
	var ns *notSent
	if errors.As(it.sendErr, &ns) {
		e.returnSlots(ctx, it) // the journal refused it: never sent
		switch ns.reason {
		case notSentStore:
			return ns.err // Redis is failing: asynq retries the batch
		case notSentUnreplicated:
			e.log.Warn("touch deferred: its journal entry reached too few Redis replicas", "enrollment", it.eid, "touch", t.ID, "err", ns.err)
			until := now.Add(unreplicatedRetry)
			return e.reschedule(ctx, it, until, cadence.Entry{At: now, Kind: "deferred", Touch: t.ID, Channel: t.Channel,
				Reason: "not sent: " + ns.err.Error() + " (a failover could have lost it); trying again", Until: until})
		case notSentFound:
			return e.settleFound(ctx, it, ns.found, now)
		}
		// An event (pause, unsubscribe, reply) landed after the claim:
		// nothing was sent; the new state decides.
		return e.requeue(ctx, it, now)
	}
	sent := sentEvent(it, now)
	if it.sendErr == nil {
		return e.commitEvent(ctx, it, sent, it.ledger, store.LedgerSent)
	}
	ce := &channels.Error{Class: channels.ClassOf(it.sendErr), Err: it.sendErr}
	errors.As(it.sendErr, &ce)
	e.cfg.Observer.SendFailed(t.Channel, string(ce.Class))
	e.log.Warn("send failed", "enrollment", it.eid, "touch", t.ID, "class", ce.Class, "code", ce.Code, "enhanced", ce.Enhanced, "err", it.sendErr)
	switch ce.Class {
	case channels.HardBounce:
		ev := cadence.Event{Kind: cadence.EvBounced, Hard: true, At: now, Touch: t.ID, Channel: cadence.Email, By: "smtp", Reason: ce.Error()}
		if err := e.commitEvent(ctx, it, ev, it.ledger, store.LedgerFailed); err != nil {
			return err
		}
		en := it.loaded.Enrollment
		if it.mailbox != nil {
			en.Mailbox = it.mailbox.ID
		}
		e.noteBadOutcome(ctx, &en, ev)
		return nil
	case channels.OptedOut:
		ev := cadence.Event{Kind: cadence.EvSMSOptOut, At: now, Touch: t.ID, Channel: cadence.SMS, By: "twilio 21610", Reason: "carrier reports the number opted out"}
		return e.commitEvent(ctx, it, ev, it.ledger, store.LedgerFailed)
	case channels.Permanent:
		ev := cadence.Event{Kind: cadence.EvSkipped, At: now, Touch: t.ID, Channel: t.Channel, Reason: "refused by provider: " + ce.Error()}
		return e.commitEvent(ctx, it, ev, it.ledger, store.LedgerFailed)
	case channels.Ambiguous:
		sent.Reason = "uncertain: " + ce.Error()
		e.noteUncertain(ctx, it, e.uncertainTouch(it, now))
		return e.commitEvent(ctx, it, sent, it.ledger, store.LedgerUncertain)
	}
	if ce.Class == channels.SenderPolicy {
		// The provider refuses our sender (5.7.x): the recipient is not at
		// fault, and every message from this domain would fail the same
		// way. Alert and pause the domain.
		d := senderDomain(it.fromAddress())
		until := now.Add(e.cfg.DomainPause)
		e.log.Error("ALERT: sending domain paused after a sender-side refusal", "domain", d, "until", until, "code", ce.Code, "enhanced", ce.Enhanced, "err", it.sendErr)
		if err := e.st.PauseDomain(ctx, d, ce.Error(), until, now); err != nil {
			return err
		}
	}
	if ce.Class == channels.Retry && rateLimited(ce) {
		e.slowDown(ctx, it, ce, now)
	}
	e.returnSlots(ctx, it)
	// Retry, Transport, SenderPolicy, Halt: nothing was delivered; try later.
	if err := e.st.ClearLedger(ctx, it.eid, it.ledger); err != nil {
		return err
	}
	n, err := e.st.CountAttempt(ctx, it.eid, it.ledger)
	if err != nil {
		return err
	}
	if int(n) > e.cfg.MaxRetries {
		ev := cadence.Event{Kind: cadence.EvSkipped, At: now, Touch: t.ID, Channel: t.Channel, Reason: fmt.Sprintf("gave up after %d attempts: %s", n-1, ce.Error())}
		if t.Channel == cadence.Email {
			ev = cadence.Event{Kind: cadence.EvBounced, At: now, Touch: t.ID, Channel: cadence.Email, By: "smtp", Reason: ce.Error()}
		}
		return e.commitEvent(ctx, it, ev, it.ledger, store.LedgerFailed)
	}
	wait := backoff(int(n), ce)
	return e.reschedule(ctx, it, now.Add(wait), cadence.Entry{At: now, Kind: "retry", Touch: t.ID, Channel: t.Channel,
		Reason: fmt.Sprintf("attempt %d failed (%s); retrying", n, ce.Error()), Until: now.Add(wait)})
}

// unreplicatedRetry is how soon a touch whose journal entry no replica
// confirmed is tried again: replicas lag for seconds, failovers take tens.
const unreplicatedRetry = 30 * time.Second

// backoff grows from 1 minute to 1 hour; sender-side problems wait longer.
func backoff(attempt int, ce *channels.Error) time.Duration {
	if ce.Class == channels.SenderPolicy || ce.Class == channels.Halt {
		return time.Hour
	}
	if ce.RetryAfter > 0 {
		return ce.RetryAfter
	}
	d := time.Minute << min(attempt-1, 6)
	return min(d, time.Hour)
}

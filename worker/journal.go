package worker

// The send journal: each message's ledger entry around its provider call,
// what a batch does with an entry it finds, and the entries a worker must
// settle once Redis answers again (docs/sending.md).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
)

// settleFound handles a send whose ledger entry already existed when this
// worker was about to send it: another worker's send in progress, an
// interrupted send, or one accepted but not committed. Nothing is sent.
func (e *Engine) settleFound(ctx context.Context, it *item, found string, now time.Time) error {
	kind, until := store.ParseLedger(found)
	switch {
	case kind == store.LedgerSending && now.Before(until):
		// Another worker owns this send right now; its commit settles it.
		return nil
	case kind == store.LedgerSending:
		// The owner died while the provider had the message: it may or
		// may not have been delivered. Policy: never resend; record the
		// touch as uncertain.
		ev := cadence.Event{Kind: cadence.EvSent, At: now, Touch: it.dec.Touch.ID, Channel: it.dec.Touch.Channel, Reason: "uncertain: an earlier attempt was interrupted mid-send; not resent"}
		u := e.uncertainTouch(it, now)
		if err := e.commitEvent(ctx, it, ev, it.ledger, store.LedgerUncertain); err != nil {
			return err
		}
		e.noteUncertain(ctx, it, u)
		return nil
	case kind == store.LedgerSent:
		// The provider accepted it but its worker died before the commit:
		// commit it now, without sending again.
		return e.recoverSent(ctx, it, now)
	}
	// "uncertain" or "failed": settled by a commit this batch did not see.
	return e.st.ReleaseLease(ctx, it.eid)
}

// uncertainTouch describes the item's touch for the uncertain list; taken
// before the commit, which may reload the enrollment.
func (e *Engine) uncertainTouch(it *item, now time.Time) store.UncertainTouch {
	l := &it.loaded.Enrollment
	return store.UncertainTouch{EID: it.eid, Touch: it.dec.Touch.ID, Channel: it.dec.Touch.Channel,
		MessageID: strings.Trim(e.MessageID(l.ID, it.dec.Touch.ID, l.Generation), "<>"), At: now}
}

// noteUncertain counts an uncertain touch and lists it for operators.
// Best effort, like the other indexes: the timeline already says why.
func (e *Engine) noteUncertain(ctx context.Context, it *item, u store.UncertainTouch) {
	e.bump(ctx, it, "uncertain")
	if err := e.st.AddUncertain(ctx, it.c.ID, u); err != nil {
		e.log.Warn("listing an uncertain touch", "enrollment", it.eid, "touch", u.Touch, "err", err)
	}
}

// recoverSent commits a send the provider accepted whose worker died
// before committing it.
func (e *Engine) recoverSent(ctx context.Context, it *item, now time.Time) error {
	l := &it.loaded.Enrollment
	ev := sentEvent(it, now)
	ev.Reason = "sent; committed after its worker stopped"
	if it.dec.Touch.Channel == cadence.Email {
		ev.MessageID = strings.Trim(e.MessageID(l.ID, it.dec.Touch.ID, l.Generation), "<>")
	}
	if err := e.commitEvent(ctx, it, ev, it.ledger, store.LedgerSent); err != nil {
		return err
	}
	e.bump(ctx, it, "recovered")
	return nil
}

// notSent is a journal refusal: the message never reached the provider.
type notSent struct {
	reason notSentReason
	found  string // the ledger value found instead (notSentFound)
	err    error
}

// notSentReason says why the journal refused a message.
type notSentReason string

const (
	notSentChanged notSentReason = "changed" // the enrollment changed since its claim
	notSentFound   notSentReason = "found"   // the ledger already had an entry
	notSentStore   notSentReason = "store"   // Redis failed
	// notSentUnreplicated: the journal entry did not reach enough replicas
	// in time (store.SetReplicaWait); sending could repeat the touch after
	// a failover.
	notSentUnreplicated notSentReason = "unreplicated"
)

func (n *notSent) Error() string { return "not sent (" + string(n.reason) + "): " + n.err.Error() }

func (n *notSent) Unwrap() error { return n.err }

// journal steps each message's ledger entry around its provider call: set
// to "sending" just before (only if absent and the enrollment unchanged),
// "sent" just after, or removed when the provider refused it. A crash
// therefore leaves at most one "sending" entry per SMTP connection or SMS
// call in flight.
type journal struct {
	e     *Engine
	items []*item
	owner string // this batch: makes its "sending" values unique (see Engine.owner)
}

func (j *journal) Step(ctx context.Context, done int, doneErr error, next int) error {
	steps := make([]store.LedgerStep, 0, 2)
	if done >= 0 && channels.ClassOf(doneErr) != channels.Ambiguous {
		it := j.items[done]
		v := store.LedgerSent
		if doneErr != nil {
			v = "" // refused or undeliverable: nothing reached anyone
		}
		steps = append(steps, store.LedgerStep{EID: it.eid, Field: it.ledger, Value: v})
	}
	if next >= 0 {
		it := j.items[next]
		// The lease starts now, not at the batch's start: a long batch on a
		// slow relay must not begin messages already "expired".
		it.sending = store.SendingValue(j.e.cfg.Clock().Add(j.e.cfg.Lease), j.owner)
		steps = append(steps, store.LedgerStep{Begin: true, EID: it.eid, Field: it.ledger, Rev: it.loaded.Rev, Value: it.sending})
	}
	if len(steps) == 0 {
		return nil
	}
	res, err := j.e.st.StepLedger(ctx, steps)
	if next < 0 {
		return nil // a lost outcome write is repaired by the batch commit
	}
	var nr *store.NotReplicatedError
	if errors.As(err, &nr) {
		b := steps[len(steps)-1]
		if res[len(res)-1] == "OK" {
			// Ours, on the master only: release it; the touch waits.
			j.e.releaseUnreplicated(ctx, b)
		}
		return &notSent{reason: notSentUnreplicated, err: err}
	}
	if err != nil {
		// Redis may have applied the Begin and lost only its reply; the
		// message is not sent, so the entry is released once Redis answers.
		b := steps[len(steps)-1]
		j.e.repairs.add(b.EID, b.Field, b.Value, "")
		return &notSent{reason: notSentStore, err: err}
	}
	return refusal(res[len(res)-1])
}

// refusal turns a Begin result into nil (owned) or why it was not sent.
func refusal(res string) error {
	switch res {
	case "OK":
		return nil
	case "CONFLICT":
		return &notSent{reason: notSentChanged, err: errors.New("the enrollment changed since it was claimed")}
	}
	return &notSent{reason: notSentFound, found: res, err: fmt.Errorf("the ledger already says %q", res)}
}

// beginAll records every send of the batch as "sending" in one round trip
// (JournalBatch) and returns those this worker may send.
func (e *Engine) beginAll(ctx context.Context, items []*item, sending string) []*item {
	steps := make([]store.LedgerStep, len(items))
	for i, it := range items {
		it.sending = sending
		steps[i] = store.LedgerStep{Begin: true, EID: it.eid, Field: it.ledger, Rev: it.loaded.Rev, Value: sending}
	}
	res, err := e.st.StepLedger(ctx, steps)
	var owned []*item
	var nr *store.NotReplicatedError
	for i, it := range items {
		switch {
		case errors.As(err, &nr):
			if res[i] == "OK" {
				e.releaseUnreplicated(ctx, steps[i])
			}
			it.sendErr = &notSent{reason: notSentUnreplicated, err: err}
		case err != nil:
			e.repairs.add(it.eid, it.ledger, sending, "")
			it.sendErr = &notSent{reason: notSentStore, err: err}
		default:
			it.sendErr = refusal(res[i])
		}
		if it.sendErr == nil {
			owned = append(owned, it)
		}
	}
	return owned
}

// ledgerRepairs remembers "sending" entries whose fate this worker knows
// but could not record because Redis failed mid-call: a Begin Redis may
// have applied without answering (the message was not sent: remove the
// entry), or a message the provider accepted whose "sent" was not written
// (write it). They are settled as soon as Redis answers again — at the next
// batch or dispatcher tick — so the touch is sent, or committed as sent,
// instead of ending "uncertain" when its lease runs out.
type ledgerRepairs struct {
	mu      sync.Mutex
	entries map[[2]string][2]string // (enrollment, field) → (value written, outcome)
}

func (u *ledgerRepairs) add(eid, field, value, outcome string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.entries == nil {
		u.entries = map[[2]string][2]string{}
	}
	u.entries[[2]string{eid, field}] = [2]string{value, outcome}
}

// settle applies every remembered outcome whose entry still holds what
// this worker wrote; it stops at the first Redis error and keeps the rest.
func (u *ledgerRepairs) settle(ctx context.Context, st *store.Store) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, v := range u.entries {
		if _, err := st.SettleSending(ctx, k[0], k[1], v[0], v[1]); err != nil {
			return err
		}
		delete(u.entries, k)
	}
	return nil
}

// releaseUnreplicated removes a "sending" entry that no replica confirmed:
// the message was not sent. If Redis does not answer, the entry is left to
// the repairs (settled at the next batch) like any unanswered Begin.
func (e *Engine) releaseUnreplicated(ctx context.Context, b store.LedgerStep) {
	if _, err := e.st.SettleSending(ctx, b.EID, b.Field, b.Value, ""); err != nil {
		e.repairs.add(b.EID, b.Field, b.Value, "")
	}
}

package worker

import (
	"context"
	"sort"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// gateCaps re-gates, against the prospect's recent sends, every touch of
// the batch that a frequency cap or a state SMS cap (COMPLIANCE.md 7)
// applies to; the items come gated once without history.
//
// A prospect's enrollments share its shard, so touches of several
// cadences due at the same minute are claimed together and arrive in one
// batch. Gating each against the history as read from Redis would let all
// of them through: none of the batch's sends is in the store yet. So one
// prospect's touches are gated one at a time, in a fixed order (due time,
// then enrollment id), and each touch the gate lets through is added to
// that prospect's in-memory history at the time its send will be recorded
// (now, the batch's clock) before the next is gated: a touch over the cap
// is deferred with the same reason and to the same slot as if the sends
// before it had been committed already.
//
// Every touch the gate lets through is counted, also those whose cadence
// has no cap (their sends count towards the other cadences' caps, which
// cover the prospect's sends from every cadence), and counted before it is
// known to go out. A counted send may still not happen — its sending
// domain is paused, its template cannot render, the journal finds it
// changed, the provider refuses it or asks for a retry — and then a later
// touch of the same batch may have been deferred for a send that never
// happened. That over-count is the safe direction: the deferred touch is
// gated again at its new due time against the history then in the store,
// never sent over the cap; under-counting would send over it.
func (e *Engine) gateCaps(ctx context.Context, items []*item, now time.Time) error {
	groups := map[string][]*item{}
	var pids []string
	for _, it := range items {
		if (it.dec.Verdict == cadence.Send || it.dec.Verdict == cadence.Defer) && needsHistory(it) {
			pid := it.loaded.Enrollment.ProspectID
			if _, ok := groups[pid]; !ok {
				groups[pid] = nil
				pids = append(pids, pid)
			}
		}
	}
	if len(pids) == 0 {
		return nil
	}
	for _, it := range items {
		group, ok := groups[it.loaded.Enrollment.ProspectID]
		if !ok {
			continue
		}
		if it.dec.Verdict == cadence.Send || (it.dec.Verdict == cadence.Defer && needsHistory(it)) {
			groups[it.loaded.Enrollment.ProspectID] = append(group, it)
		}
	}
	// Caps need the recipient's recent sends: read them only for
	// prospects with a capped touch that may go out, once per prospect, in
	// one round trip.
	hs, err := e.st.RecentSendsBatch(ctx, pids, now.Add(-store.SendHistoryWindow))
	if err != nil {
		return err
	}
	for i, pid := range pids {
		h := &hs[i]
		group := groups[pid]
		sort.SliceStable(group, func(a, b int) bool {
			da, db := group[a].loaded.Enrollment.DueAt, group[b].loaded.Enrollment.DueAt
			if !da.Equal(db) {
				return da.Before(db)
			}
			return group[a].eid < group[b].eid
		})
		for _, it := range group {
			if needsHistory(it) {
				l := &it.loaded.Enrollment
				it.dec = it.c.Gate(l, cadence.Claim{Stage: l.Stage, Step: l.Step, Generation: l.Generation}, &it.rcpt, h, now)
			}
			if it.dec.Verdict == cadence.Send {
				countSend(h, it.dec.Touch.Channel, now)
			}
		}
	}
	return nil
}

// countSend adds a send about to be made to an in-memory history, at the
// time its commit will record it (sentEvent: the batch's now).
func countSend(h *cadence.History, ch cadence.Channel, at time.Time) {
	if ch == cadence.SMS {
		h.SMS = append(h.SMS, at)
		return
	}
	h.Email = append(h.Email, at)
}

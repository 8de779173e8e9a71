package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/store"
)

// TestCapsInOneBatch pins how a batch holding several touches of one
// prospect is gated (caps.go): in order of due time, then enrollment id,
// each counting the sends let through before it — whether or not their own
// cadence has a cap — and the touch over the cap deferred exactly as a
// later touch would be: same reason, same next slot.
func TestCapsInOneBatch(t *testing.T) {
	start := utcAt(2026, 3, 2, 15, 0) // Monday 10:00 EST
	dayLater := start.Add(24 * time.Hour)
	t.Run("FloridaDeferral", func(t *testing.T) {
		ids := []string{"fl-1", "fl-2", "fl-3", "fl-4"}
		var yamls []string
		for _, id := range ids {
			yamls = append(yamls, smsCadence(id, "s=0"))
		}
		r := newPromiseRig(t, start, yamls...)
		const phone = "+13055550123"
		var eids []string
		for _, id := range ids {
			eids = append(eids, r.enroll(t, &store.Prospect{ID: "fla", Phone: phone}, id))
		}
		r.dispatch(t)
		got := r.smsTo(phone)
		if len(got) != 3 {
			t.Fatalf("%d SMS at once, want 3:\n%s", len(got), smsList(got))
		}
		for _, m := range got {
			if strings.Contains(m.Msg.Body, "fl-4") {
				t.Errorf("fl-4 sent, want the last by enrollment id deferred:\n%s", smsList(got))
			}
		}
		tl := r.timeline(t, eids[3])
		last := tl[len(tl)-1]
		if last.Kind != "deferred" || !last.Until.Equal(dayLater) || !strings.Contains(last.Reason, "FL limit of 3 marketing SMS per 24h") {
			t.Fatalf("fl-4: last line %q, want deferred by the FL limit until %s\n%s", last.Text(), dayLater.Format(time.RFC3339), timelineText(tl))
		}
		if due, ok := r.dueAt(t, "fla", eids[3], store.LaneSMS); !ok || !due.Equal(dayLater) {
			t.Fatalf("fl-4 due score %v (present %v), want %v", due, ok, dayLater)
		}
	})
	t.Run("UncappedSendCounts", func(t *testing.T) {
		// "a-free" has no cap and sorts first: its send counts towards
		// b-cap's cap of 1 per 24 h, as it would had it gone out a minute
		// earlier.
		r := newPromiseRig(t, start, enginetest.EmailCadence("a-free", "0"), cappedEmailCadence("b-cap", 1, "0"))
		r.enroll(t, &store.Prospect{ID: "p", Email: "p@example.com"}, "a-free")
		capped := r.enroll(t, &store.Prospect{ID: "p", Email: "p@example.com"}, "b-cap")
		r.dispatch(t)
		if got := r.emailsTo("p@example.com"); len(got) != 1 || !fromCadence(got[0], "a-free") {
			t.Fatalf("%d emails at once (%s), want 1, from a-free", len(got), emailCadences(got))
		}
		tl := r.timeline(t, capped)
		last := tl[len(tl)-1]
		if last.Kind != "deferred" || !last.Until.Equal(dayLater) || !strings.Contains(last.Reason, "frequency cap 1 per 24h") {
			t.Fatalf("b-cap: last line %q, want deferred by the frequency cap until %s\n%s", last.Text(), dayLater.Format(time.RFC3339), timelineText(tl))
		}
		r.walk(t, dayLater.Add(time.Hour), 10*time.Minute, dayLater)
		got := r.emailsTo("p@example.com")
		if len(got) != 2 || !fromCadence(got[1], "b-cap") || !got[1].At.Equal(dayLater) {
			t.Fatalf("emails %s, want a-free then b-cap at %v", emailCadences(got), dayLater)
		}
	})
	t.Run("EarlierDueFirst", func(t *testing.T) {
		// z-cap came due a minute before a-cap; both are claimed in one
		// batch: the earlier touch goes, although its id sorts last.
		r := newPromiseRig(t, start, cappedEmailCadence("a-cap", 1, "0"), cappedEmailCadence("z-cap", 1, "0"))
		r.enroll(t, &store.Prospect{ID: "p", Email: "p@example.com"}, "z-cap")
		r.setClock(t, start.Add(time.Minute))
		late := r.enroll(t, &store.Prospect{ID: "p", Email: "p@example.com"}, "a-cap")
		if n := r.dispatch(t); n != 2 {
			t.Fatalf("claimed %d, want both touches in one batch", n)
		}
		if got := r.emailsTo("p@example.com"); len(got) != 1 || !fromCadence(got[0], "z-cap") {
			t.Fatalf("%d emails at once (%s), want 1, from z-cap", len(got), emailCadences(got))
		}
		if due, ok := r.dueAt(t, "p", late, store.LaneEmail); !ok || !due.Equal(dayLater.Add(time.Minute)) {
			t.Fatalf("a-cap due score %v (present %v), want %v", due, ok, dayLater.Add(time.Minute))
		}
	})
}

// fromCadence reports whether an outbox email came from a cadence.
func fromCadence(m channels.OutboxMessage, cadenceID string) bool {
	return strings.Contains(m.Body, "X-Nurture-Touch: "+cadenceID+"/")
}

// emailCadences lists the cadences outbox emails came from, for failure
// messages.
func emailCadences(ms []channels.OutboxMessage) string {
	var out []string
	for _, m := range ms {
		_, rest, _ := strings.Cut(m.Body, "X-Nurture-Touch: ")
		id, _, _ := strings.Cut(rest, "/")
		out = append(out, id+"@"+m.At.UTC().Format(time.RFC3339))
	}
	return strings.Join(out, ", ")
}

package worker_test

import (
	"context"
	"sync"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/store"
)

// concurrentEvents is the burst the engine must absorb on one enrollment
// without an error (deployment hardening: 8 concurrent one-click
// unsubscribes used to give up after 10 immediate retries).
const concurrentEvents = 50

// applyConcurrently applies events from one goroutine each, released
// together, and returns the errors.
func applyConcurrently(t *testing.T, r *rig, eid string, evs []cadence.Event) []error {
	t.Helper()
	if len(evs)+3 > store.TimelineCap {
		// A full timeline keeps only its newest TimelineCap engagement
		// lines: counting them would no longer count the events.
		t.Fatalf("%d events overflow the %d-entry timeline these tests count", len(evs), store.TimelineCap)
	}
	ctx := context.Background()
	errs := make([]error, len(evs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = r.e.Apply(ctx, eid, ev)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func countEntries(tl []cadence.Entry, kind string) int {
	n := 0
	for _, en := range tl {
		if en.Kind == kind {
			n++
		}
	}
	return n
}

// TestConcurrentUnsubscribes is the one-click unsubscribe burst of the
// issue: 50 at once on one enrollment, each fanned out to the prospect's
// enrollment in a second cadence. A repeat unsubscribe is not an error, so
// every request must succeed; it changes nothing, so the burst is recorded
// exactly once: one timeline line in each cadence, one count, one consent
// change.
func TestConcurrentUnsubscribes(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	other, err := cadence.Parse("other.yaml", []byte(enginetest.EmailCadence("other", "0", "1d")))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{r.c.ID: r.c, other.ID: other})
	en := r.enroll(t, ada())
	oen, err := r.e.Enroll(ctx, ada(), other.ID)
	if err != nil {
		t.Fatal(err)
	}

	evs := make([]cadence.Event, concurrentEvents)
	for i := range evs {
		evs[i] = cadence.Event{Kind: cadence.EvUnsubscribed, Channel: cadence.Email, By: "one-click", Reason: "List-Unsubscribe"}
	}
	for i, err := range applyConcurrently(t, r, en.ID, evs) {
		if err != nil {
			t.Errorf("unsubscribe %d: %v", i, err)
		}
	}

	if s := r.state(t, en.ID); s.State != cadence.Exited {
		t.Errorf("state %s, want exited", s.State)
	}
	if s := r.state(t, oen.ID); s.State != cadence.Exited {
		t.Errorf("other cadence: state %s, want exited", s.State)
	}
	tl, err := r.e.Timeline(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := countEntries(tl, string(cadence.EvUnsubscribed)); n != 1 {
		t.Errorf("%d unsubscribed entries, want 1:\n%s", n, r.timeline(t, en.ID))
	}
	exits := 0
	for _, e := range tl {
		if e.From == cadence.Active && e.To == cadence.Exited {
			exits++
		}
	}
	if exits != 1 {
		t.Errorf("%d active -> exited transitions, want 1:\n%s", exits, r.timeline(t, en.ID))
	}
	// The unsubscribe was fanned out to the other cadence and recorded
	// there too, once.
	otl, err := r.e.Timeline(ctx, oen.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := countEntries(otl, string(cadence.EvUnsubscribed)); n != 1 {
		t.Errorf("other cadence: %d unsubscribed entries, want 1:\n%s", n, r.timeline(t, oen.ID))
	}
	stats, err := r.e.Stats(ctx, r.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stats["unsubscribed"] != 1 || stats["state:exited"] != 1 || stats["state:active"] != 0 {
		t.Errorf("stats: unsubscribed %d state:exited %d state:active %d", stats["unsubscribed"], stats["state:exited"], stats["state:active"])
	}
	log, err := r.st.ConsentLog(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 {
		t.Errorf("consent log: %d entries, want 1: %+v", len(log), log)
	}
	for _, ch := range log {
		if ch.Channel != cadence.Email || ch.Blocked != "unsubscribed" || ch.Source != "one-click" {
			t.Errorf("consent change %+v, want email blocked \"unsubscribed\" by one-click", ch)
			break
		}
	}
}

// TestConcurrentOpensAndClicks applies 50 human opens and clicks of one
// email at once: each is recorded and counted once in the totals, the
// message once as opened and once as clicked, the repeats coalesce into
// one line each, and the click rule moves the enrollment to the next stage
// exactly once.
func TestConcurrentOpensAndClicks(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	if n := r.dispatch(t); n != 1 || len(r.smtp.Messages()) != 1 {
		t.Fatalf("welcome not sent: claimed %d, %d messages", n, len(r.smtp.Messages()))
	}

	evs := make([]cadence.Event, concurrentEvents)
	for i := range evs {
		kind := cadence.EvOpened
		if i%2 == 1 {
			kind = cadence.EvClicked
		}
		evs[i] = cadence.Event{Kind: kind, Touch: "welcome", Channel: cadence.Email}
	}
	for i, err := range applyConcurrently(t, r, en.ID, evs) {
		if err != nil {
			t.Errorf("event %d (%s): %v", i, evs[i].Kind, err)
		}
	}

	s := r.state(t, en.ID)
	if s.State != cadence.Active || s.Stage != "consideration" {
		t.Errorf("state %s stage %s, want active in consideration", s.State, s.Stage)
	}
	tl, err := r.e.Timeline(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	opens, clicks := countEntries(tl, string(cadence.EvOpened)), countEntries(tl, string(cadence.EvClicked))
	if opens != 1 || clicks != 1 {
		t.Errorf("%d opened and %d clicked lines, want 1 each:\n%s", opens, clicks, r.timeline(t, en.ID))
	}
	lines, err := r.st.TimelineLines(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if (l.Entry.Kind == string(cadence.EvOpened) || l.Entry.Kind == string(cadence.EvClicked)) && l.Count != concurrentEvents/2 {
			t.Errorf("%s line stands for %d events, want %d", l.Entry.Kind, l.Count, concurrentEvents/2)
		}
	}
	moves := 0
	for _, e := range tl {
		if e.ToStage == "consideration" {
			moves++
		}
	}
	if moves != 1 {
		t.Errorf("%d moves to consideration, want 1:\n%s", moves, r.timeline(t, en.ID))
	}
	stats, err := r.e.Stats(ctx, r.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stats["t:welcome:opened"] != 1 || stats["t:welcome:clicked"] != 1 ||
		stats["t:welcome:opened_total"] != concurrentEvents/2 || stats["t:welcome:clicked_total"] != concurrentEvents/2 ||
		stats["s:consideration:entered"] != 1 || stats["in:consideration"] != 1 || stats["in:awareness"] != 0 {
		t.Errorf("stats: %v", stats)
	}
}

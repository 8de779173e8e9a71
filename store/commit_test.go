package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// TestCommitBatchResultsAndCounters: a batch of commits over every shard,
// stale revisions and dedupe commits with nothing to change among them,
// gives each commit the result Commit would, and the counters are exactly
// the sum of the commits that went through.
func TestCommitBatchResultsAndCounters(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	day := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	const n = 1600 // about 100 per shard
	var news []store.NewEnrollment
	for i := range n {
		e := cadence.Enrollment{ID: store.EnrollmentID(fmt.Sprintf("p%04d", i), "c"), ProspectID: fmt.Sprintf("p%04d", i), CadenceID: "c",
			State: cadence.Active, Stage: "s", DueAt: day}
		news = append(news, store.NewEnrollment{Enrollment: e})
	}
	errs, err := st.CreateEnrollments(ctx, news)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	var batch []*store.Commit
	for i := range n {
		e := news[i].Enrollment
		e.Step = 1
		c := &store.Commit{Rev: 1, Enrollment: e, Day: day, Stats: map[string]int64{"t:a:sent": 1, "@t:a:sent": 1, "t:a:odd": int64(i % 3)},
			Entries: []cadence.Entry{{At: day, Kind: "sent", Touch: "a"}}}
		switch i % 50 {
		case 7, 43:
			c.Rev = 5 // stale
		case 9:
			// A dedupe commit whose consent is already so and whose
			// enrollment is unchanged: nothing to change.
			c.Enrollment, c.Dedupe, c.Stats, c.Entries = news[i].Enrollment, true, map[string]int64{"t:a:sent": 1}, nil
			c.Consent = &store.ConsentChange{At: day, Channel: cadence.Email, Source: "test"}
		}
		batch = append(batch, c)
	}
	wantSent, wantOdd := int64(0), int64(0)
	for i, err := range st.CommitBatch(ctx, batch) {
		switch i % 50 {
		case 7, 43:
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("commit %d at a stale revision: %v, want ErrConflict", i, err)
			}
		case 9:
			if !errors.Is(err, store.ErrUnchanged) {
				t.Fatalf("dedupe commit %d: %v, want ErrUnchanged", i, err)
			}
		default:
			if err != nil {
				t.Fatalf("commit %d: %v", i, err)
			}
			wantSent++
			wantOdd += int64(i % 3)
			if l, err := st.Enrollment(ctx, batch[i].Enrollment.ID); err != nil || l.Rev != 2 || l.Enrollment.Step != 1 {
				t.Fatalf("enrollment %d after the commit: rev %d %+v %v", i, l.Rev, l.Enrollment, err)
			}
		}
	}
	stats, err := st.Stats(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if stats["t:a:sent"] != wantSent || stats["t:a:odd"] != wantOdd {
		t.Fatalf("counters %v, want t:a:sent %d and t:a:odd %d (the commits that went through)", stats, wantSent, wantOdd)
	}
	days, err := st.DailyStats(ctx, "c", day, day)
	if err != nil || len(days) != 1 || days[0].Counters["t:a:sent"] != wantSent {
		t.Fatalf("day counters %+v %v, want t:a:sent %d", days, err, wantSent)
	}
	// The day's counters expire like the ones a single commit writes.
	if ttl := rdb.TTL(ctx, st.Keys().DailyStats(store.Shard("p0000"), "c", day)).Val(); ttl <= 0 {
		t.Fatalf("day counters have no TTL (%v)", ttl)
	}
}

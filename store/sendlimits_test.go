package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

func limitStore(t *testing.T) *store.Store {
	rdb, prefix := redistest.Client(t)
	return store.New(rdb, prefix)
}

func dayAsk(group string, cap int, now time.Time, cadence string, want int) store.LimitAsk {
	d := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return store.LimitAsk{Group: group, DayCap: cap, Day: d, DayEnd: d.Add(24 * time.Hour), CountDay: true, Cadence: cadence, Want: want}
}

// A daily cap holds across concurrent callers: 20 goroutines each asking
// for 10 slots of a cap of 100 get exactly 100 between them.
func TestDailyCapIsAtomicAcrossCallers(t *testing.T) {
	st := limitStore(t)
	ctx := context.Background()
	now := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 100, now, "", 10)}, now)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			total += g[0].Granted
			mu.Unlock()
			if g[0].Granted < 10 && (g[0].Binding != "day" || g[0].Wait != 14*time.Hour) {
				t.Errorf("refused: %+v, want binding day and a wait to midnight", g[0])
			}
		}()
	}
	wg.Wait()
	if total != 100 {
		t.Fatalf("granted %d of a daily cap of 100", total)
	}
	// The next day starts afresh.
	tomorrow := now.Add(24 * time.Hour)
	g, err := st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 100, tomorrow, "", 5)}, tomorrow)
	if err != nil || g[0].Granted != 5 || g[0].Count != 5 {
		t.Fatalf("next day: %+v %v", g, err)
	}
}

// GCRA spaces sends: a per-minute limit of 6 allows a burst of 6, then one
// every 10 s; a refund gives a slot back.
func TestPerMinuteLimitSpacesSends(t *testing.T) {
	st := limitStore(t)
	ctx := context.Background()
	now := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	ask := store.LimitAsk{Group: "mb:ada", PerMinute: 6, Day: now, DayEnd: now.Add(time.Hour), Want: 10}
	g, err := st.AcquireSends(ctx, []store.LimitAsk{ask}, now)
	if err != nil {
		t.Fatal(err)
	}
	if g[0].Granted != 6 || g[0].Binding != "minute" || g[0].Wait != 10*time.Second || g[0].Spacing != 10*time.Second {
		t.Fatalf("burst: %+v", g[0])
	}
	ask.Want = 1
	if g, _ := st.AcquireSends(ctx, []store.LimitAsk{ask}, now.Add(5*time.Second)); g[0].Granted != 0 || g[0].Wait != 5*time.Second {
		t.Fatalf("5 s later: %+v", g[0])
	}
	if g, _ := st.AcquireSends(ctx, []store.LimitAsk{ask}, now.Add(10*time.Second)); g[0].Granted != 1 {
		t.Fatalf("10 s later: %+v", g[0])
	}
	// Hand one back: it is free again at once.
	if err := st.RefundSends(ctx, ask, g[0], 1); err != nil {
		t.Fatal(err)
	}
	if g, _ := st.AcquireSends(ctx, []store.LimitAsk{ask}, now.Add(10*time.Second)); g[0].Granted != 1 {
		t.Fatalf("after a refund: %+v", g[0])
	}
}

// A "rate limited" answer halves the rate; each SlowRecover without one
// doubles it back.
func TestSlowDownHalvesThenRecovers(t *testing.T) {
	st := limitStore(t)
	ctx := context.Background()
	now := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	if f, err := st.SlowDown(ctx, "mb:sam", now); err != nil || f != 2 {
		t.Fatalf("first slow-down: %d %v", f, err)
	}
	if f, _ := st.SlowDown(ctx, "mb:sam", now.Add(time.Second)); f != 2 {
		t.Fatalf("a second answer within SlowGap is the same signal: %d", f)
	}
	now = now.Add(store.SlowGap)
	if f, _ := st.SlowDown(ctx, "mb:sam", now.Add(time.Second)); f != 4 {
		t.Fatalf("second: %d", f)
	}
	ask := store.LimitAsk{Group: "mb:sam", PerMinute: 60, Day: now, DayEnd: now.Add(time.Hour), Want: 100}
	g, _ := st.AcquireSends(ctx, []store.LimitAsk{ask}, now.Add(2*time.Second))
	if g[0].Granted != 15 || g[0].Slow != 4 || g[0].Spacing != 4*time.Second {
		t.Fatalf("at factor 4 a per-minute limit of 60 allows 15: %+v", g[0])
	}
	later := now.Add(time.Second + store.SlowRecover)
	if u, _ := st.LimitUsages(ctx, []string{"mb:sam"}, []time.Time{later}, later); u[0].Slow != 2 {
		t.Fatalf("after one recovery period: %+v", u[0])
	}
	later = now.Add(time.Second + 2*store.SlowRecover)
	if u, _ := st.LimitUsages(ctx, []string{"mb:sam"}, []time.Time{later}, later); u[0].Slow != 1 {
		t.Fatalf("after two: %+v", u[0])
	}
}

// Fair share: while two cadences ask for a busy mailbox, neither takes
// more than half of the day's cap before the other has had its half.
func TestFairShareAcrossCadences(t *testing.T) {
	st := limitStore(t)
	ctx := context.Background()
	now := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	// The small cadence asks first for a few, then the big one for
	// everything: it gets the cap minus what the small one is still owed.
	g, _ := st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 100, now, "small", 10)}, now)
	if g[0].Granted != 10 {
		t.Fatalf("small: %+v", g[0])
	}
	g, _ = st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 100, now, "big", 500)}, now)
	if g[0].Granted != 50 || g[0].Binding != "share" {
		t.Fatalf("big: granted %d (%s), want 50: the small cadence keeps 40 of its 50", g[0].Granted, g[0].Binding)
	}
	g, _ = st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 100, now, "small", 60)}, now)
	if g[0].Granted != 40 || g[0].Binding != "day" {
		t.Fatalf("small again: %+v", g[0])
	}
	// A cadence that stopped asking an hour ago no longer holds a share.
	st2 := limitStore(t)
	st2.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:x", 100, now, "small", 1)}, now)
	later := now.Add(61 * time.Minute)
	g, _ = st2.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:x", 100, later, "big", 500)}, later)
	if g[0].Granted != 99 {
		t.Fatalf("after the small cadence went quiet: %+v", g[0])
	}
}

// Brakes: bounces over the rate put the brake on; acquiring then refuses
// with its reason until it is lifted.
func TestBounceBrake(t *testing.T) {
	st := limitStore(t)
	ctx := context.Background()
	now := time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)
	rule := store.BrakeRule{Window: 200, BounceRate: 0.05, ComplaintRate: 0.003}
	groups := make([]string, 150)
	for i := range groups {
		groups[i] = "mb:sam"
	}
	if err := st.RecordSent(ctx, groups, 200); err != nil {
		t.Fatal(err)
	}
	// 10 bounces of 150 sends: counted against a full window of 200, 5 %,
	// not over it.
	for i := 0; i < 10; i++ {
		if r, err := st.RecordOutcome(ctx, "mb:sam", store.OutcomeBounced, rule, now); err != nil || r != "" {
			t.Fatalf("bounce %d tripped early: %q %v", i+1, r, err)
		}
	}
	r, err := st.RecordOutcome(ctx, "mb:sam", store.OutcomeBounced, rule, now)
	if err != nil || !strings.HasPrefix(r, "hard bounces: 11 with 150 sent so far (5.5% of a 200-send window), over the 5.0% limit") {
		t.Fatalf("11th bounce: %q %v", r, err)
	}
	g, _ := st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 0, now, "", 1)}, now)
	if g[0].Granted != 0 || g[0].Binding != "brake" || g[0].Brake != r {
		t.Fatalf("acquire with the brake on: %+v", g[0])
	}
	bs, err := st.Brakes(ctx)
	if err != nil || len(bs) != 1 || bs[0].Group != "mb:sam" || bs[0].Bounces != 11 || bs[0].Sends != 150 {
		t.Fatalf("brakes: %+v %v", bs, err)
	}
	if was, err := st.LiftBrake(ctx, "mb:sam"); err != nil || !was {
		t.Fatalf("lift: %v %v", was, err)
	}
	if g, _ := st.AcquireSends(ctx, []store.LimitAsk{dayAsk("mb:sam", 0, now, "", 1)}, now); g[0].Granted != 1 {
		t.Fatalf("after lifting: %+v", g[0])
	}
	// Counting starts afresh: one bounce is not over the rate.
	if r, _ := st.RecordOutcome(ctx, "mb:sam", store.OutcomeBounced, rule, now); r != "" {
		t.Fatalf("first bounce after lifting tripped: %q", r)
	}
	if bs, _ := st.Brakes(ctx); len(bs) != 0 {
		t.Fatalf("brakes after lifting: %+v", bs)
	}
}

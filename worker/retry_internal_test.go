package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/store"
)

// TestConflictDelayFullJitter checks the schedule: each wait is uniform in
// [0, min(max, base·2ⁿ)], so it is spread over the whole range.
func TestConflictDelayFullJitter(t *testing.T) {
	p := conflictRetry
	for attempt, ceiling := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond,
		16 * time.Millisecond, 32 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond} {
		var lo, hi int
		for range 2000 {
			d := p.delay(attempt)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: wait %s outside [0, %s]", attempt, d, ceiling)
			}
			if d < ceiling/2 {
				lo++
			} else {
				hi++
			}
		}
		// Half the waits fall in each half of the range; 2000 draws all on
		// one side would have odds of 2^-2000.
		if lo < 500 || hi < 500 {
			t.Errorf("attempt %d: %d waits below %s, %d above: not full jitter", attempt, lo, ceiling/2, hi)
		}
	}
	if d := p.delay(1000); d > conflictMaxDelay {
		t.Errorf("attempt 1000 waits %s, over the %s cap", d, conflictMaxDelay)
	}
}

func TestRetryConflictsUntilSuccess(t *testing.T) {
	calls := 0
	err := retryConflicts(context.Background(), func(attempt int) error {
		if attempt != calls {
			t.Errorf("attempt %d on call %d", attempt, calls)
		}
		calls++
		if calls < 5 {
			return store.ErrConflict
		}
		return nil
	})
	if err != nil || calls != 5 {
		t.Fatalf("err %v after %d calls, want nil after 5", err, calls)
	}
}

func TestRetryConflictsOtherErrorsAreNotRetried(t *testing.T) {
	boom := errors.New("redis down")
	calls := 0
	err := retryConflicts(context.Background(), func(int) error { calls++; return boom })
	if err != boom || calls != 1 {
		t.Fatalf("err %v after %d calls, want %v after 1", err, calls, boom)
	}
}

func TestRetryConflictsGivesUpAfterAttempts(t *testing.T) {
	p := conflictPolicy{base: time.Microsecond, max: time.Microsecond, attempts: 7, budget: time.Minute}
	calls := 0
	err := p.do(context.Background(), func(int) error { calls++; return store.ErrConflict })
	if calls != 7 || !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "after 7 attempts") {
		t.Fatalf("err %v after %d calls, want a conflict after 7", err, calls)
	}
	if conflictRetry.attempts < 30 || conflictRetry.budget < 2*time.Second {
		t.Errorf("engine policy %+v: want at least 30 attempts and 2s", conflictRetry)
	}
}

func TestRetryConflictsGivesUpAtBudget(t *testing.T) {
	p := conflictPolicy{base: 20 * time.Millisecond, max: 20 * time.Millisecond, attempts: 1 << 20, budget: 100 * time.Millisecond}
	calls := 0
	start := time.Now()
	err := p.do(context.Background(), func(int) error { calls++; return store.ErrConflict })
	el := time.Since(start)
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "budget 100ms") {
		t.Fatalf("err %v, want a conflict naming the budget", err)
	}
	// It stops only when the next wait (at most 20ms) would end past the
	// budget, so not before 80ms; and no wait starts that would end past
	// it (the slack is for a loaded machine's late timers).
	if el < 80*time.Millisecond || el > p.budget+time.Second || calls < 2 {
		t.Errorf("%d calls in %s for a %s budget of waits up to 20ms", calls, el, p.budget)
	}
}

func TestRetryConflictsStopsWithContext(t *testing.T) {
	p := conflictPolicy{base: time.Hour, max: time.Hour, attempts: 100, budget: 100 * time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- p.do(ctx, func(int) error {
			calls++
			cancel() // the request went away while the commit conflicted
			return store.ErrConflict
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrConflict) || !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("err %v after %d calls, want conflict and cancellation after 1", err, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("retry kept waiting after its context ended")
	}
}

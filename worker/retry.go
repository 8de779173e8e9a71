package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nurture-dev/nurture/store"
)

// Optimistic commits (read, decide in Go, compare-and-set) that lose to a
// concurrent change are retried with full-jitter exponential backoff: the
// n-th wait is uniform in [0, min(conflictMaxDelay, conflictBaseDelay·2ⁿ)],
// so a burst of events on one enrollment (many one-click unsubscribes, a
// pixel and a click at once) spreads out instead of retrying in lockstep.
// A commit gives up after conflictMaxAttempts attempts or once the next
// wait would pass conflictBudget since the first, whichever comes first.
const (
	conflictBaseDelay   = time.Millisecond
	conflictMaxDelay    = 50 * time.Millisecond
	conflictMaxAttempts = 30
	conflictBudget      = 2 * time.Second
)

// conflictPolicy is the retry schedule of optimistic commits; tests use
// their own, every engine loop uses conflictRetry.
type conflictPolicy struct {
	base, max time.Duration
	attempts  int
	budget    time.Duration
}

var conflictRetry = conflictPolicy{base: conflictBaseDelay, max: conflictMaxDelay, attempts: conflictMaxAttempts, budget: conflictBudget}

// retryConflicts runs one optimistic attempt after another until fn
// returns anything but store.ErrConflict. fn is told the attempt number
// (0 first) so it can reload what a conflict made stale. When the budget
// runs out, or ctx ends while waiting, the error still wraps
// store.ErrConflict.
func retryConflicts(ctx context.Context, fn func(attempt int) error) error {
	return conflictRetry.do(ctx, fn)
}

func (p conflictPolicy) do(ctx context.Context, fn func(attempt int) error) error {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := fn(attempt)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		n := attempt + 1
		if n >= p.attempts {
			return fmt.Errorf("%w: gave up after %d attempts in %s", err, n, time.Since(start).Round(time.Millisecond))
		}
		wait := p.delay(attempt)
		if time.Since(start)+wait > p.budget {
			return fmt.Errorf("%w: gave up after %d attempts in %s (budget %s)", err, n, time.Since(start).Round(time.Millisecond), p.budget)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: stopped after %d attempts: %w", err, n, ctx.Err())
		case <-t.C:
		}
	}
}

// delay is the full-jitter wait after a failed attempt (0 first).
func (p conflictPolicy) delay(attempt int) time.Duration {
	ceiling := p.max
	if attempt < 30 {
		ceiling = min(p.base<<attempt, p.max)
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

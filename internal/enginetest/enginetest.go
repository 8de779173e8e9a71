// Package enginetest has test helpers shared by the engine's test suites: a
// settable clock and an asynq enqueuer that runs send tasks at once
// through the real handler, so tests drive the dispatcher step by step.
package enginetest

import (
	"context"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/worker"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// SyncQueue runs enqueued send tasks at once through the engine's handler.
type SyncQueue struct{ E *worker.Engine }

// EnqueueContext implements worker.Enqueuer.
func (q SyncQueue) EnqueueContext(ctx context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	return &asynq.TaskInfo{}, q.E.HandleSend(ctx, t)
}

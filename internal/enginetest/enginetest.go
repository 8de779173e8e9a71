// Package enginetest has test helpers shared by the engine's test suites: a
// settable clock and an asynq enqueuer that runs send tasks at once
// through the real handler, so tests drive the dispatcher step by step.
package enginetest

import (
	"context"
	"fmt"
	"strings"
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

// touchNames name a test cadence's touches in order.
var touchNames = []string{"one", "two", "three", "four", "five", "six"}

// EmailCadence is a one-stage ("only") email cadence for engine tests,
// open all day, with touches named one, two, three… after the given delays
// (the first is usually "0").
func EmailCadence(id string, delays ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: %s\ntimezone: UTC\nfrom: {email: \"Acme <hello@acme.example>\"}\npostal_address: \"1 Main St, Springfield\"\n", id, id)
	b.WriteString("send_window: {start: \"00:00\", end: \"24:00\"}\nstages:\n  - id: only\n    touches:\n")
	for i, d := range delays {
		fmt.Fprintf(&b, "      - {id: %s, channel: email, delay: %s, template: mail}\n", touchNames[i], d)
	}
	b.WriteString("templates:\n  mail: {subject: \"Hi {{ .FirstName | default \\\"there\\\" }}\", text: \"Hello\"}\n")
	return b.String()
}

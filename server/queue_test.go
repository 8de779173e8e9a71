package server_test

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/worker"
)

// syncQueue runs enqueued send tasks at once through the real handler.
type syncQueue struct{ e *worker.Engine }

func (q syncQueue) EnqueueContext(ctx context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	return &asynq.TaskInfo{}, q.e.HandleSend(ctx, t)
}

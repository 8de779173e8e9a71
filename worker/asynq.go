package worker

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/store"
)

// TaskSend is the send task type.
const TaskSend = "nurture:send"

// Queues: one per channel lane, so a throttled SMS provider never holds up
// email, plus one for event deliveries; weights email 3, SMS 2, events 1.
// Names carry the key prefix, so deployments sharing a Redis (or tests
// sharing a cluster) never take each other's tasks.
const (
	queueEmail  = "email"
	queueSMS    = "sms"
	queueEvents = "events"
)

func (e *Engine) queue(name string) string { return e.st.Keys().Prefix + "-" + name }

// QueueOf returns the asynq queue of a lane.
func (e *Engine) QueueOf(l store.Lane) string {
	if l == store.LaneSMS {
		return e.queue(queueSMS)
	}
	return e.queue(queueEmail)
}

// Queues lists the engine's asynq queues.
func (e *Engine) Queues() []string {
	return []string{e.queue(queueEmail), e.queue(queueSMS), e.queue(queueEvents)}
}

type sendPayload struct {
	IDs []string `json:"ids"`
}

// Enqueuer is the part of asynq.Client the dispatcher uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// DispatchOnce claims due enrollments on every shard and enqueues them as
// immediate send tasks. The task id is derived from the claim, so an
// enqueue retried after a timeout is a no-op. It returns how many
// enrollments were claimed.
func (e *Engine) DispatchOnce(ctx context.Context, q Enqueuer) (int, error) {
	now := e.cfg.Clock()
	claims, err := e.st.ClaimAll(ctx, now, e.cfg.Lease, e.cfg.ClaimBatch)
	total := 0
	for _, ids := range claims {
		total += len(ids)
	}
	e.cfg.Observer.Claimed(total)
	if err != nil {
		// Whatever was claimed returns to the due sets when its lease
		// expires; nothing is lost.
		return total, err
	}
	for k, ids := range claims {
		for lo := 0; lo < len(ids); lo += e.cfg.TaskBatch {
			chunk := ids[lo:min(lo+e.cfg.TaskBatch, len(ids))]
			payload, _ := json.Marshal(sendPayload{IDs: chunk})
			sum := sha1.Sum([]byte(strings.Join(chunk, "\x00")))
			id := fmt.Sprintf("send:%s:%02d:%d:%s", k.Lane, k.Shard, now.UnixMilli(), hex.EncodeToString(sum[:8]))
			task := asynq.NewTask(TaskSend, payload, asynq.TaskID(id), asynq.Queue(e.QueueOf(k.Lane)),
				asynq.MaxRetry(20), asynq.Timeout(e.cfg.Lease), asynq.Retention(10*time.Minute))
			if _, err := q.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				// The claim stays leased; when the lease expires the
				// enrollments return to the due set: nothing is lost.
				return total, fmt.Errorf("enqueue: %w", err)
			}
		}
	}
	return total, nil
}

// HandleSend is the asynq handler for send tasks.
func (e *Engine) HandleSend(ctx context.Context, t *asynq.Task) error {
	var p sendPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	return e.ProcessBatch(ctx, p.IDs)
}

// RunOptions configures Run.
type RunOptions struct {
	// Concurrency is how many send tasks run at once (default 8).
	Concurrency int
	// Tick is how often the dispatcher claims (default 250ms: one
	// pipelined call over every shard and lane, so it costs Redis little
	// and keeps p99 send lateness under a second below capacity).
	Tick time.Duration
	// NoDispatcher runs only the handlers.
	NoDispatcher bool
	// TaskCheck is how long an idle handler waits before polling its
	// queues again (default 100ms; asynq's own default of 1s would add up
	// to a second of lateness to every send after a quiet spell).
	TaskCheck time.Duration
	// RetryDelay overrides asynq's backoff for failed tasks (webhooks).
	RetryDelay func(n int) time.Duration
}

// Run starts the asynq server and the dispatcher and blocks until ctx ends,
// then shuts both down gracefully.
func (e *Engine) Run(ctx context.Context, conn asynq.RedisConnOpt, opts RunOptions) error {
	if opts.Concurrency == 0 {
		opts.Concurrency = 8
	}
	if opts.Tick == 0 {
		opts.Tick = 250 * time.Millisecond
	}
	if opts.TaskCheck == 0 {
		opts.TaskCheck = 100 * time.Millisecond
	}
	var retry asynq.RetryDelayFunc
	if opts.RetryDelay != nil {
		retry = func(n int, _ error, _ *asynq.Task) time.Duration { return opts.RetryDelay(n) }
	}
	srv := asynq.NewServer(conn, asynq.Config{
		RetryDelayFunc:    retry,
		Concurrency:       opts.Concurrency,
		Queues:            map[string]int{e.queue(queueEmail): 3, e.queue(queueSMS): 2, e.queue(queueEvents): 1},
		Logger:            SlogAdapter{e.log},
		TaskCheckInterval: opts.TaskCheck,
		ShutdownTimeout:   20 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(TaskSend, e.HandleSend)
	mux.HandleFunc(TaskWarmWebhook, e.HandleWarmWebhook)
	mux.HandleFunc(TaskOperatorWebhook, e.HandleOperatorWebhook)
	if err := srv.Start(mux); err != nil {
		return err
	}
	defer srv.Shutdown()
	if opts.NoDispatcher {
		<-ctx.Done()
		return nil
	}
	client := asynq.NewClient(conn)
	defer client.Close()
	tick := time.NewTicker(opts.Tick)
	defer tick.Stop()
	for {
		// Settling known ledger outcomes here too keeps them from
		// outliving their lease while no batch arrives.
		_ = e.repairs.settle(ctx, e.st)
		n, err := e.DispatchOnce(ctx, client)
		if err != nil && ctx.Err() == nil {
			e.log.Error("dispatch failed", "err", err)
		}
		if n >= e.cfg.ClaimBatch {
			continue // a backlog: claim again at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// SlogAdapter lets asynq log through slog.
type SlogAdapter struct{ L *slog.Logger }

func (a SlogAdapter) Debug(args ...any) { a.L.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a SlogAdapter) Info(args ...any)  { a.L.Info(fmt.Sprint(args...), "component", "asynq") }
func (a SlogAdapter) Warn(args ...any)  { a.L.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a SlogAdapter) Error(args ...any) { a.L.Error(fmt.Sprint(args...), "component", "asynq") }
func (a SlogAdapter) Fatal(args ...any) {
	a.L.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}

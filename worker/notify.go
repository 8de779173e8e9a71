package worker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/cadence"
)

// TaskWarmWebhook is the warm-lead notification task type.
const TaskWarmWebhook = "nurture:warm-webhook"

// WarmNotice is the JSON body of the warm-lead webhook.
type WarmNotice struct {
	Event      string    `json:"event"`
	Enrollment string    `json:"enrollment"`
	Cadence    string    `json:"cadence"`
	Stage      string    `json:"stage"`
	At         time.Time `json:"at"`
	Reply      string    `json:"reply"`
	Channel    string    `json:"channel"`
	Owner      string    `json:"owner"`
	Prospect   any       `json:"prospect"`
}

// SignWebhook returns the X-Nurture-Signature value for a body sent at ts:
// "sha256=" + hex HMAC-SHA256 of "TS.BODY". Receivers recompute it and
// reject old timestamps.
func SignWebhook(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// notifyWarm enqueues the warm-lead webhook; the task id makes a repeated
// call for the same warm transition a no-op.
func (e *Engine) notifyWarm(ctx context.Context, en cadence.Enrollment, ev cadence.Event) error {
	if e.cfg.WarmWebhookURL == "" || e.cfg.Notify == nil {
		return nil
	}
	p, err := e.st.Prospect(ctx, en.ProspectID)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(WarmNotice{Event: "lead.warm", Enrollment: en.ID, Cadence: en.CadenceID, Stage: en.Stage, At: ev.At,
		Reply: ev.Reason, Channel: string(ev.Channel), Owner: p.Owner, Prospect: p})
	task := asynq.NewTask(TaskWarmWebhook, body, asynq.TaskID(fmt.Sprintf("warm:%s:%d", en.ID, ev.At.UnixMilli())),
		asynq.Queue(e.queue(queueEvents)), asynq.MaxRetry(15), asynq.Timeout(30*time.Second), asynq.Retention(24*time.Hour))
	if _, err := e.cfg.Notify.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue warm-lead webhook: %w", err)
	}
	return nil
}

// HandleWarmWebhook delivers one warm-lead notice; a non-2xx answer is an
// error, so asynq retries it with backoff.
func (e *Engine) HandleWarmWebhook(ctx context.Context, t *asynq.Task) error {
	return e.postWebhook(ctx, "warm-lead", e.cfg.WarmWebhookURL, e.cfg.WarmWebhookSecret, t.Payload())
}

// TaskOperatorWebhook is the operator alert task type.
const TaskOperatorWebhook = "nurture:operator-webhook"

// OperatorNotice is the JSON body of the operator webhook: something an
// operator must act on (a brake stopped a mailbox or a cadence).
type OperatorNotice struct {
	Event string `json:"event"`
	// Group is the limit group ("mb:sam", "cad:saas-trial"); What the same
	// in words.
	Group  string    `json:"group"`
	What   string    `json:"what"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// notifyOperator enqueues an operator alert, once per event, group and
// time.
func (e *Engine) notifyOperator(ctx context.Context, n OperatorNotice) error {
	if e.cfg.OperatorWebhookURL == "" || e.cfg.Notify == nil {
		return nil
	}
	body, _ := json.Marshal(n)
	task := asynq.NewTask(TaskOperatorWebhook, body, asynq.TaskID(fmt.Sprintf("op:%s:%s:%d", n.Event, n.Group, n.At.UnixMilli())),
		asynq.Queue(e.queue(queueEvents)), asynq.MaxRetry(15), asynq.Timeout(30*time.Second), asynq.Retention(24*time.Hour))
	if _, err := e.cfg.Notify.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue operator webhook: %w", err)
	}
	return nil
}

// HandleOperatorWebhook delivers one operator alert, signed like the
// warm-lead webhook.
func (e *Engine) HandleOperatorWebhook(ctx context.Context, t *asynq.Task) error {
	return e.postWebhook(ctx, "operator", e.cfg.OperatorWebhookURL, e.cfg.OperatorWebhookSecret, t.Payload())
}

func (e *Engine) postWebhook(ctx context.Context, what, url, secret string, payload []byte) error {
	ts := e.cfg.Clock().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Nurture-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Nurture-Signature", SignWebhook(secret, ts, payload))
	resp, err := e.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s webhook: %w", what, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s webhook answered %s", what, resp.Status)
	}
	return nil
}

func (e *Engine) httpClient() *http.Client {
	if e.cfg.HTTPClient != nil {
		return e.cfg.HTTPClient
	}
	return &http.Client{Timeout: 20 * time.Second}
}

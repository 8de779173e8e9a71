package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deduplication of webhooks, pixels and inbound email.
//
// A message is first claimed (a short lease), then processed, then marked
// done for a week. The earlier scheme — SET NX the "seen" key for a week
// before processing, DEL it when processing failed — could both lose a
// message and apply one twice:
//
//   - A redelivery that arrived while the first delivery was still being
//     processed found the key set and was answered 200 as a duplicate; if
//     the first then failed, its DEL left the message processed by nobody,
//     and the relay had been told it was delivered.
//   - go-redis retries a command whose reply it did not read (a timeout or
//     a dropped connection: more frequent on a cluster, where the
//     connection is to whichever master owns the slot). A retried SET NX
//     that had in fact succeeded answers "not set", and the only delivery
//     was taken for a duplicate. The claim below carries a random token,
//     so a retried claim recognises itself.
//   - Processing a message applies several events (a reply matched by
//     address reaches every enrollment of the sender; a report notes every
//     enrollment). When one failed after others had committed, the DEL
//     made the redelivery apply the committed ones again — a second
//     "replied" line on the timeline and a second count. Steps now record
//     their completion (progress), and a redelivery skips those done.
const (
	seenTTL  = 7 * 24 * time.Hour
	claimTTL = 2 * time.Minute
	seenDone = "done"
)

// errInFlight answers a delivery of a message that another request is
// processing at this moment: try again shortly (a relay retries; the IMAP
// poller leaves the message unseen).
var errInFlight = errors.New("this message is being processed by another request; try again shortly")

// claimScript claims KEYS[1] for ARGV[1] for ARGV[2] ms. It returns "run"
// when the caller holds the claim (now, or already: its own retried
// command), "done" when the message was processed (KEYS[2], when given, is
// the key an earlier version marked it with), "busy" when someone else
// holds the claim.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 'done' end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 'run'
end
if v == ARGV[1] then return 'run' end
if v == 'done' or v == '1' then return 'done' end
return 'busy'
`)

// releaseScript drops the claim on KEYS[1] if ARGV[1] still holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (s *Server) seenKey(key string) string { return s.st.Keys().Prefix + ":{idx}:seen:" + key }

// progress records which steps of one message's processing are done, so a
// redelivery after a partial failure resumes instead of repeating them.
type progress struct {
	s    *Server
	key  string
	done map[string]bool
}

// do runs step fn once per message.
func (p *progress) do(ctx context.Context, step string, fn func() error) error {
	if p.done == nil {
		m, err := p.s.st.Redis().HGetAll(ctx, p.key).Result()
		if err != nil {
			return err
		}
		p.done = map[string]bool{}
		for k := range m {
			p.done[k] = true
		}
	}
	if p.done[step] {
		return nil
	}
	if err := fn(); err != nil {
		return err
	}
	_, err := p.s.st.Redis().TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.HSet(ctx, p.key, step, 1)
		pl.Expire(ctx, p.key, seenTTL)
		return nil
	})
	if err != nil {
		return err
	}
	p.done[step] = true
	return nil
}

// onceSteps runs fn unless key was processed in the last week. legacy,
// when not empty, is the key an earlier version marked the same message
// with. It reports whether fn ran; a delivery racing one in progress gets
// errInFlight.
func (s *Server) onceSteps(ctx context.Context, key, legacy string, fn func(p *progress) error) (bool, error) {
	k := s.seenKey(key)
	keys := []string{k}
	if legacy != "" && legacy != key {
		keys = append(keys, s.seenKey(legacy))
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	token := "claim:" + hex.EncodeToString(b[:])
	state, err := claimScript.Run(ctx, s.st.Redis(), keys, token, claimTTL.Milliseconds()).Text()
	if err != nil {
		return false, err
	}
	switch state {
	case "done":
		return false, nil
	case "busy":
		return false, errInFlight
	}
	p := &progress{s: s, key: k + ":steps"}
	if err := fn(p); err != nil {
		// Leave the steps done so far recorded: the redelivery resumes.
		// context.WithoutCancel: a client that hung up must not keep the
		// claim for its whole lease.
		_ = releaseScript.Run(context.WithoutCancel(ctx), s.st.Redis(), []string{k}, token).Err()
		return true, err
	}
	if _, err := s.st.Redis().TxPipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Set(ctx, k, seenDone, seenTTL)
		pl.Del(ctx, p.key)
		return nil
	}); err != nil {
		// Processed, but not marked: a redelivery resumes from the steps
		// recorded, which are all done.
		return true, err
	}
	return true, nil
}

// once runs fn unless key was processed in the last week, so webhooks and
// pixels delivered twice change nothing.
func (s *Server) once(ctx context.Context, key string, fn func() error) error {
	_, err := s.onceSteps(ctx, key, "", func(*progress) error { return fn() })
	return err
}

// inFlight answers errInFlight: 503 with Retry-After and, like every 5xx,
// a request id (X-Request-Id and the message). Nothing failed, so there is
// no cause to log: the other request answers the message.
func inFlight(w http.ResponseWriter) {
	id := NewRequestID()
	w.Header().Set("Retry-After", "30")
	w.Header().Set("X-Request-Id", id)
	writeErr(w, http.StatusServiceUnavailable, "in_progress", "", "%v (request id %s)", errInFlight, id)
}

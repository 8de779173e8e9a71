package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The sales inbox (the dashboard's warm leads) keeps two things of its own:
// which warm leads a rep marked handled, and — read from the existing
// owner indexes — which owners exist.

// HandledKeep is how long a "handled" mark lives. A lead still waiting for
// sales that long after it was handled comes back to the inbox.
const HandledKeep = 30 * 24 * time.Hour

// Handled is an enrollment's "handled" mark: a string holding JSON, on the
// enrollment's own hash tag, expiring HandledKeep after it was set.
func (k Keys) Handled(eid string) string { return k.Enrollment(eid) + ":h" }

// HandledMark says a rep dealt with a warm lead without touching its
// cadence: the lead leaves the inbox until a newer reply arrives.
type HandledMark struct {
	By string
	At time.Time
	// Reply is the time of the reply that was handled; a reply after it
	// puts the lead back in the inbox.
	Reply time.Time
}

// handledRecord is a HandledMark as stored.
type handledRecord struct {
	By    string `json:"by"`
	At    int64  `json:"at"`
	Reply int64  `json:"reply"`
}

// Covers reports whether the mark settles a lead whose newest reply came
// at reply.
func (m *HandledMark) Covers(reply time.Time) bool {
	return m != nil && !m.Reply.Before(reply)
}

func encodeHandled(m HandledMark) (string, error) {
	b, err := json.Marshal(handledRecord{By: m.By, At: ms(m.At), Reply: ms(m.Reply)})
	return string(b), err
}

func decodeHandled(s string) (*HandledMark, error) {
	var r handledRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("handled mark: %w", err)
	}
	return &HandledMark{By: r.By, At: fromMS(r.At), Reply: fromMS(r.Reply)}, nil
}

// swapHandled sets or deletes a mark and returns the one it replaced.
// KEYS[1] mark. ARGV[1] new value ("" deletes), ARGV[2] TTL ms.
var swapHandled = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return old
`)

func (s *Store) swapHandled(ctx context.Context, eid, value string) (*HandledMark, error) {
	old, err := swapHandled.Run(ctx, s.rdb, []string{s.keys.Handled(eid)}, value, HandledKeep.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeHandled(old)
}

// MarkHandled marks a warm lead handled and returns the mark it replaced
// (nil if none), for undo.
func (s *Store) MarkHandled(ctx context.Context, eid string, m HandledMark) (*HandledMark, error) {
	v, err := encodeHandled(m)
	if err != nil {
		return nil, err
	}
	return s.swapHandled(ctx, eid, v)
}

// RestoreHandled puts back a mark MarkHandled or ClearHandled returned:
// nil removes the mark. It returns the mark it replaced.
func (s *Store) RestoreHandled(ctx context.Context, eid string, prev *HandledMark) (*HandledMark, error) {
	if prev == nil {
		return s.swapHandled(ctx, eid, "")
	}
	return s.MarkHandled(ctx, eid, *prev)
}

// ClearHandled removes a lead's mark (back to the inbox) and returns it.
func (s *Store) ClearHandled(ctx context.Context, eid string) (*HandledMark, error) {
	return s.swapHandled(ctx, eid, "")
}

// HandledMarks returns the marks of enrollments, nil where there is none.
// The keys live on different hash tags: one pipelined GET each.
func (s *Store) HandledMarks(ctx context.Context, eids []string) ([]*HandledMark, error) {
	out := make([]*HandledMark, len(eids))
	if len(eids) == 0 {
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(eids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range eids {
			cmds[i] = p.Get(ctx, s.keys.Handled(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, c := range cmds {
		v, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if out[i], err = decodeHandled(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Owners lists the owners that have enrollments (a non-empty owner
// index), sorted. It scans the keyspace of the node holding the {idx}
// hash tag for owner indexes, so it costs time in proportion to that
// node's keys: callers cache it. (Enrollments with no owner are in no
// index.)
func (s *Store) Owners(ctx context.Context) ([]string, error) {
	base := s.keys.OwnerIndex("")
	pattern := globEscape(base) + "*"
	scanner := redis.Cmdable(s.rdb)
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, base)
		if err != nil {
			return nil, err
		}
		scanner = node
	}
	seen := map[string]bool{}
	var cursor uint64
	for {
		keys, next, err := scanner.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if name := strings.TrimPrefix(k, base); name != "" {
				seen[name] = true
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// globEscape quotes the characters Redis's MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// OwnerEnrollmentCount is how many enrollments an owner's index holds.
func (s *Store) OwnerEnrollmentCount(ctx context.Context, owner string) (int64, error) {
	return s.rdb.SCard(ctx, s.keys.OwnerIndex(owner)).Result()
}

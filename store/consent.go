package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
)

// ConsentChange is one opt-out, opt-in or suppression with its source.
type ConsentChange struct {
	At      time.Time       `json:"at"`
	Channel cadence.Channel `json:"channel"`
	// Blocked is the new block reason; empty restores the channel.
	Blocked string `json:"blocked,omitempty"`
	Source  string `json:"source"`
}

// setConsent changes one channel's consent and logs it, atomically; a
// change to the value the channel already has writes nothing.
// KEYS[1] prospect meta hash, KEYS[2] consent log. ARGV[1] field, ARGV[2] value
// ("" clears), ARGV[3] log entry. Returns the previous value.
var setConsent = redis.NewScript(`
local prev = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if prev == ARGV[2] then return prev end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('RPUSH', KEYS[2], ARGV[3])
return prev
`)

// SetConsent blocks (reason set) or restores (reason "") a channel for a
// prospect, everywhere, and keeps the change with its source (COMPLIANCE.md
// 1, 3, 13, 21). It returns the previous block reason. A change that
// changes nothing — unsubscribing an unsubscribed address, opting out a
// number already opted out with the same reason, restoring a channel that
// is not blocked — is not logged: replays add nothing to the history. A
// block with another reason replaces the reason and is logged.
func (s *Store) SetConsent(ctx context.Context, pid string, ch ConsentChange) (string, error) {
	field, value, entry := consentArgs(&ch)
	return setConsent.Run(ctx, s.rdb, []string{s.keys.ProspectMeta(pid), s.keys.Consent(pid)}, field, value, entry).Text()
}

// consentArgs are a change's meta-hash field (eb, sb), value and log entry.
func consentArgs(ch *ConsentChange) (field, value, entry string) {
	field = "eb"
	if ch.Channel == cadence.SMS {
		field = "sb"
	}
	b, _ := json.Marshal(ch)
	return field, ch.Blocked, string(b)
}

// ConsentLog returns a prospect's consent history, oldest first.
func (s *Store) ConsentLog(ctx context.Context, pid string) ([]ConsentChange, error) {
	raw, err := s.rdb.LRange(ctx, s.keys.Consent(pid), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]ConsentChange, 0, len(raw))
	for _, r := range raw {
		var c ConsentChange
		if json.Unmarshal([]byte(r), &c) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

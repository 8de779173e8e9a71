package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Dashboard keys share the {dash} hash tag: they are few (one per logout
// in the last session lifetime, one per address that failed to log in in
// the last window) and each command touches one key.

// RevokedSession marks a dashboard session id logged out until the
// session would have expired anyway.
func (k Keys) RevokedSession(sid string) string { return k.Prefix + ":{dash}:revoked:" + sid }

// LoginFailures counts a client address's failed dashboard logins in the
// current window.
func (k Keys) LoginFailures(client string) string { return k.Prefix + ":{dash}:login-fail:" + client }

// RevokeSession records that session sid is logged out. The mark lives
// until the session's own expiry (plus a minute for clocks of replicas
// that disagree a little); an already expired session needs none.
func (s *Store) RevokeSession(ctx context.Context, sid string, expires time.Time) error {
	ttl := time.Until(expires) + time.Minute
	if ttl <= time.Minute {
		return nil
	}
	return s.rdb.Set(ctx, s.keys.RevokedSession(sid), "1", ttl).Err()
}

// SessionRevoked reports whether session sid was logged out. An error
// (Redis unreachable) must be treated as revoked by the caller.
func (s *Store) SessionRevoked(ctx context.Context, sid string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.keys.RevokedSession(sid)).Result()
	if err != nil {
		return true, err
	}
	return n > 0, nil
}

// LoginFailures returns how many logins from client failed in the current
// window and how long until the window ends (0 when there were none).
func (s *Store) LoginFailures(ctx context.Context, client string) (int64, time.Duration, error) {
	key := s.keys.LoginFailures(client)
	var get *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	n, err := get.Int64()
	if err != nil {
		return 0, 0, err
	}
	ttl := pttl.Val()
	if ttl < 0 { // expired between the two commands, or no TTL (CountLoginFailure repairs that)
		ttl = 0
	}
	return n, ttl, nil
}

// countLoginFailure increments a counter and starts its window on the
// first failure; a counter found without a TTL gets one, so a counter can
// never lock an address out for good.
var countLoginFailure = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// CountLoginFailure records a failed login from client and returns the
// failures in the window, which starts at the first failure and lasts
// window (a fixed window: the count resets when it ends).
func (s *Store) CountLoginFailure(ctx context.Context, client string, window time.Duration) (int64, error) {
	return countLoginFailure.Run(ctx, s.rdb, []string{s.keys.LoginFailures(client)}, window.Milliseconds()).Int64()
}

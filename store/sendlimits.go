package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Send limits (deliverability): each limited thing — a sender mailbox, a
// relay, a sending domain, a recipient domain, a cadence's brake — is a
// limit group with its own hash tag, so one Lua call checks and takes its
// slots atomically across every worker and the groups spread over a
// cluster's masters. A group's keys:
//
//	{lim:GROUP}       hash: GCRA theoretical arrival times m (minute) and h
//	                  (hour), slow-down factor sf and when it was last raised st
//	{lim:GROUP}:d:DAY hash: n sends that day, c:CADENCE sends per cadence,
//	                  a:CADENCE when each cadence last asked (fair share)
//	{lim:GROUP}:b     hash: the brake, while one is on (reason, at, counts)
//	{lim:GROUP}:o     list: recent outcomes, s (sent) b (bounced) c (complaint)
//
// A send takes one slot in each of its groups. When a later group refuses,
// the slots already taken are handed back (RefundSends), so a refusal costs
// nothing; between the two calls another worker may see a group fuller
// than it ends up, which only delays, never over-sends.

// limitKey turns a group name ("mb:sam", "rd:acme.com") into its key; the
// name is reduced to characters safe in a hash tag.
func (k Keys) limitKey(group string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '{' || r == '}' || r < ' ' || r == ' ' {
			return '_'
		}
		return r
	}, group)
	return k.Prefix + ":{lim:" + safe + "}"
}

// Brakes is the set of groups whose brake is on, for the dashboard banner.
func (k Keys) Brakes() string { return k.Prefix + ":{lim}:brakes" }

// LimitAsk is one group's request for Want send slots.
type LimitAsk struct {
	// Group names the group: "mb:ID", "relay:ID", "sd:DOMAIN", "rd:DOMAIN",
	// "cad:ID".
	Group string
	// PerMinute and PerHour are GCRA limits; DayCap the calendar day's cap
	// (0: none). Day is the date that holds now in the group's zone and
	// DayEnd when that day ends.
	PerMinute, PerHour, DayCap int
	Day, DayEnd                time.Time
	// CountDay keeps the day's count even without a cap (mailboxes: the
	// dashboard shows today's sends).
	CountDay bool
	// Cadence shares the day's cap fairly among the cadences asking for it
	// ("" for none).
	Cadence string
	Want    int
}

// LimitGrant is what a group granted.
type LimitGrant struct {
	Granted int
	// Wait is how long until the next send after the granted ones may go;
	// Spacing how far apart the sends after it are (GCRA; 0 for a full day).
	Wait, Spacing time.Duration
	// Binding names the limit that refused: "minute", "hour", "day",
	// "share" (the cadence used its fair share of a busy day), "brake".
	Binding string
	// Brake is the brake's reason when Binding is "brake".
	Brake string
	// Count is the day's sends after the grant; Cap the day's cap.
	Count, Cap int
	// Slow is the slow-down factor in effect (1: none).
	Slow int
	// tm and th are the GCRA intervals used, for a refund.
	tm, th float64
}

// fairShareAsk is how long a cadence that asked for a capped group counts
// as wanting a share of it.
const fairShareAsk = time.Hour

// SlowRecover is how long without a rate-limited answer halves a group's
// slow-down factor again.
const SlowRecover = 10 * time.Minute

// MaxSlow bounds the slow-down factor.
const MaxSlow = 64

var acquireSends = redis.NewScript(`
local now = tonumber(ARGV[1])
local pm, ph, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cad, want = ARGV[5], tonumber(ARGV[6])
local dayEnd, recover, shareTTL = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local countDay = ARGV[11] == '1'
local brake = redis.call('HGET', KEYS[3], 'reason')
if brake then
  return {0, 3600000, 0, 'brake', brake, 0, cap, 1, '0', '0'}
end
local factor = 1
local sf = tonumber(redis.call('HGET', KEYS[1], 'sf') or '1')
if sf > 1 then
  local st = tonumber(redis.call('HGET', KEYS[1], 'st') or '0')
  factor = math.max(1, math.floor(sf / (2 ^ math.floor((now - st) / recover))))
  if factor == 1 then redis.call('HDEL', KEYS[1], 'sf', 'st') end
end
local grant, wait, spacing, binding = want, 0, 0, ''
local T = {m = 0, h = 0}
local tats = {}
local function gcra(field, per, period, name)
  if per <= 0 then return end
  local t = period / per * factor
  T[field] = t
  local tat = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if tat < now then tat = now end
  tats[field] = tat
  local g = math.floor((now + period - tat) / t + 1e-9)
  if g < 0 then g = 0 end
  if g < grant then
    grant, wait, spacing, binding = g, math.max(0, tat + (g + 1) * t - period - now), t, name
  end
end
gcra('m', pm, 60000, 'minute')
gcra('h', ph, 3600000, 'hour')
local n = 0
if cap > 0 or countDay then
  local f = {}
  local h = redis.call('HGETALL', KEYS[2])
  for i = 1, #h, 2 do f[h[i]] = tonumber(h[i + 1]) end
  n = f['n'] or 0
  if cap > 0 then
    local avail = cap - n
    if cad ~= '' then
      f['a:' .. cad] = now
      local asking, k = {}, 0
      for key, v in pairs(f) do
        if string.sub(key, 1, 2) == 'a:' and now - v < shareTTL then
          k = k + 1
          asking[k] = string.sub(key, 3)
        end
      end
      local share = math.ceil(cap / k)
      for _, c in ipairs(asking) do
        if c ~= cad then
          local used = f['c:' .. c] or 0
          if used < share then avail = avail - (share - used) end
        end
      end
      local mine = f['c:' .. cad] or 0
      if mine < share then avail = math.max(avail, math.min(share - mine, cap - n)) end
      redis.call('HSET', KEYS[2], 'a:' .. cad, now)
      redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[7]))
    end
    if avail < 0 then avail = 0 end
    if avail < grant then
      grant, spacing = avail, 0
      if cap - n <= avail then
        wait, binding = dayEnd - now, 'day'
      else
        wait, binding = shareTTL / 4, 'share'
      end
    end
  end
end
if grant > 0 then
  for field, tat in pairs(tats) do
    redis.call('HSET', KEYS[1], field, tostring(tat + grant * T[field]))
  end
  if pm > 0 or ph > 0 then redis.call('PEXPIRE', KEYS[1], 7 * 86400000) end
  if cap > 0 or countDay then
    redis.call('HINCRBY', KEYS[2], 'n', grant)
    if cad ~= '' then redis.call('HINCRBY', KEYS[2], 'c:' .. cad, grant) end
    redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[7]))
  end
end
return {grant, math.floor(wait), math.floor(spacing), binding, '', n + grant, cap, factor, tostring(T.m), tostring(T.h)}
`)

var refundSends = redis.NewScript(`
local n = tonumber(ARGV[1])
for i, field in ipairs({'m', 'h'}) do
  local t = tonumber(ARGV[2 + i])
  if t > 0 then
    local tat = tonumber(redis.call('HGET', KEYS[1], field) or '0')
    if tat > 0 then redis.call('HSET', KEYS[1], field, tostring(tat - n * t)) end
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'n', -n)
  if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[2], 'c:' .. ARGV[2], -n) end
end
return 1
`)

func dayField(d time.Time) string { return d.Format("20060102") }

// AcquireSends asks every group for its slots in one pipelined round trip
// (one Lua call per group) and returns the grants in order.
func (s *Store) AcquireSends(ctx context.Context, asks []LimitAsk, now time.Time) ([]LimitGrant, error) {
	out := make([]LimitGrant, len(asks))
	if len(asks) == 0 {
		return out, nil
	}
	cmds := s.pipelineScript(ctx, acquireSends, len(asks), func(i int) ([]string, []any) {
		a := asks[i]
		base := s.keys.limitKey(a.Group)
		ttl := a.DayEnd.Sub(now) + 48*time.Hour
		count := "0"
		if a.CountDay {
			count = "1"
		}
		return []string{base, base + ":d:" + dayField(a.Day), base + ":b"},
			[]any{now.UnixMilli(), a.PerMinute, a.PerHour, a.DayCap, a.Cadence, a.Want, ttl.Milliseconds(), a.DayEnd.UnixMilli(),
				SlowRecover.Milliseconds(), fairShareAsk.Milliseconds(), count}
	})
	for i, c := range cmds {
		v, err := c.Slice()
		if err != nil {
			return nil, fmt.Errorf("send limits %s: %w", asks[i].Group, err)
		}
		g := LimitGrant{Granted: toInt(v[0]), Wait: time.Duration(toInt(v[1])) * time.Millisecond, Spacing: time.Duration(toInt(v[2])) * time.Millisecond,
			Binding: toStr(v[3]), Brake: toStr(v[4]), Count: toInt(v[5]), Cap: toInt(v[6]), Slow: toInt(v[7])}
		g.tm, _ = strconv.ParseFloat(toStr(v[8]), 64)
		g.th, _ = strconv.ParseFloat(toStr(v[9]), 64)
		out[i] = g
	}
	return out, nil
}

// RefundSends hands back n slots a group granted (AcquireSends) for sends
// another group refused.
func (s *Store) RefundSends(ctx context.Context, a LimitAsk, g LimitGrant, n int) error {
	if n <= 0 {
		return nil
	}
	base := s.keys.limitKey(a.Group)
	return refundSends.Run(ctx, s.rdb, []string{base, base + ":d:" + dayField(a.Day)}, n, a.Cadence, g.tm, g.th).Err()
}

var slowDown = redis.NewScript(`
local now, recover, maxf = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local sf = tonumber(redis.call('HGET', KEYS[1], 'sf') or '1')
local st = tonumber(redis.call('HGET', KEYS[1], 'st') or '0')
local f = math.max(1, math.floor(sf / (2 ^ math.floor((now - st) / recover))))
if f > 1 and now - st < tonumber(ARGV[4]) then return f end
f = math.min(f * 2, maxf)
redis.call('HSET', KEYS[1], 'sf', f, 'st', now)
redis.call('PEXPIRE', KEYS[1], 7 * 86400000)
return f
`)

// SlowGap is how long after halving a group's rate further "rate limited"
// answers are taken as the same signal: a provider refusing a whole batch
// at once asks once, not once per message.
const SlowGap = time.Minute

// SlowDown halves a group's rates after the provider answered "rate
// limited" (at most once per SlowGap); each SlowRecover without another
// such answer doubles them back. It returns the slow-down factor.
func (s *Store) SlowDown(ctx context.Context, group string, now time.Time) (int, error) {
	n, err := slowDown.Run(ctx, s.rdb, []string{s.keys.limitKey(group)}, now.UnixMilli(), SlowRecover.Milliseconds(), MaxSlow, SlowGap.Milliseconds()).Int()
	return n, err
}

// Outcome kinds for RecordOutcome.
const (
	OutcomeSent      = "s"
	OutcomeBounced   = "b"
	OutcomeComplaint = "c"
)

// BrakeRule is when RecordOutcome puts a brake on.
type BrakeRule struct {
	Window                    int
	BounceRate, ComplaintRate float64
}

var recordOutcome = redis.NewScript(`
local window = tonumber(ARGV[2])
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, window * 3)
redis.call('PEXPIRE', KEYS[1], 90 * 86400000)
if ARGV[1] == 's' or redis.call('EXISTS', KEYS[2]) == 1 then return {0} end
local s, b, c = 0, 0, 0
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if v == 's' then
    if s == window then break end
    s = s + 1
  elseif v == 'b' then b = b + 1
  else c = c + 1 end
end
local base = math.max(s, window)
local what, n, limit = nil, 0, 0
if b / base > tonumber(ARGV[3]) then what, n, limit = 'hard bounces', b, tonumber(ARGV[3])
elseif c / base > tonumber(ARGV[4]) then what, n, limit = 'complaints', c, tonumber(ARGV[4]) end
if not what then return {0} end
local reason
if s >= window then
  reason = string.format('%s: %d of the last %d sends (%.1f%%), over the %.1f%% limit', what, n, s, 100 * n / s, 100 * limit)
else
  reason = string.format('%s: %d with %d sent so far (%.1f%% of a %d-send window), over the %.1f%% limit', what, n, s, 100 * n / window, window, 100 * limit)
end
redis.call('HSET', KEYS[2], 'reason', reason, 'at', ARGV[5], 'sends', s, 'bounces', b, 'complaints', c)
return {1, reason}
`)

// RecordOutcome adds a send, bounce or complaint to a group's recent
// outcomes and puts its brake on when a rate is over the rule; it returns
// the brake's reason when this outcome put it on.
func (s *Store) RecordOutcome(ctx context.Context, group, outcome string, rule BrakeRule, now time.Time) (string, error) {
	base := s.keys.limitKey(group)
	v, err := recordOutcome.Run(ctx, s.rdb, []string{base + ":o", base + ":b"},
		outcome, rule.Window, rule.BounceRate, rule.ComplaintRate, now.UnixMilli()).Slice()
	if err != nil || len(v) < 2 {
		return "", err
	}
	// The set of brakes is another slot: listed after the brake is on, so
	// a crash between the two leaves a brake on that the banner misses
	// until the next outcome; Brakes also scans by the groups it knows.
	return toStr(v[1]), s.rdb.SAdd(ctx, s.keys.Brakes(), group).Err()
}

// RecordSent adds one "sent" outcome to each group, in one round trip.
func (s *Store) RecordSent(ctx context.Context, groups []string, window int) error {
	if len(groups) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, g := range groups {
			k := s.keys.limitKey(g) + ":o"
			p.LPush(ctx, k, OutcomeSent)
			p.LTrim(ctx, k, 0, int64(window*3))
		}
		return nil
	})
	return err
}

// Brake is a group whose sending is stopped.
type Brake struct {
	Group, Reason            string
	At                       time.Time
	Sends, Bounces, Complain int
}

// Brakes lists every brake that is on.
func (s *Store) Brakes(ctx context.Context) ([]Brake, error) {
	groups, err := s.rdb.SMembers(ctx, s.keys.Brakes()).Result()
	if err != nil {
		return nil, err
	}
	var out []Brake
	for _, g := range groups {
		h, err := s.rdb.HGetAll(ctx, s.keys.limitKey(g)+":b").Result()
		if err != nil {
			return nil, err
		}
		if h["reason"] == "" {
			continue
		}
		at, _ := strconv.ParseInt(h["at"], 10, 64)
		b := Brake{Group: g, Reason: h["reason"], At: fromMS(at)}
		b.Sends, _ = strconv.Atoi(h["sends"])
		b.Bounces, _ = strconv.Atoi(h["bounces"])
		b.Complain, _ = strconv.Atoi(h["complaints"])
		out = append(out, b)
	}
	return out, nil
}

// LiftBrake releases a group's brake and forgets its recent outcomes, so
// counting starts afresh. It reports whether a brake was on.
func (s *Store) LiftBrake(ctx context.Context, group string) (bool, error) {
	base := s.keys.limitKey(group)
	n, err := s.rdb.Del(ctx, base+":b").Result()
	if err != nil {
		return false, err
	}
	if err := s.rdb.Del(ctx, base+":o").Err(); err != nil {
		return false, err
	}
	return n > 0, s.rdb.SRem(ctx, s.keys.Brakes(), group).Err()
}

// LimitUsage is a group's state for the dashboard and metrics.
type LimitUsage struct {
	// Today is the day's sends (groups with CountDay or a cap).
	Today int
	// Slow is the slow-down factor in effect (1: none).
	Slow  int
	Brake string
}

// LimitUsages reads groups' usage on the given days (each group's own
// date) in one round trip.
func (s *Store) LimitUsages(ctx context.Context, groups []string, days []time.Time, now time.Time) ([]LimitUsage, error) {
	type cmds struct {
		n     *redis.StringCmd
		slow  *redis.SliceCmd
		brake *redis.StringCmd
	}
	cs := make([]cmds, len(groups))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			base := s.keys.limitKey(g)
			cs[i] = cmds{p.HGet(ctx, base+":d:"+dayField(days[i]), "n"), p.HMGet(ctx, base, "sf", "st"), p.HGet(ctx, base+":b", "reason")}
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, err
	}
	out := make([]LimitUsage, len(groups))
	for i, c := range cs {
		u := LimitUsage{Slow: 1}
		u.Today, _ = strconv.Atoi(c.n.Val())
		if v := c.slow.Val(); len(v) == 2 && v[0] != nil {
			sf, _ := strconv.Atoi(toStr(v[0]))
			st, _ := strconv.ParseInt(toStr(v[1]), 10, 64)
			if halvings := now.UnixMilli() - st; sf > 1 && halvings >= 0 {
				u.Slow = max(1, sf>>min(int(halvings/SlowRecover.Milliseconds()), 30))
			}
		}
		u.Brake = c.brake.Val()
		out[i] = u
	}
	return out, nil
}

func toInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func toStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

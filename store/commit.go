package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// commitEnrollment is the CAS write of an enrollment and everything that
// must change with it.
// KEYS[1] enrollment, KEYS[2] due set of the lane, KEYS[3] lease,
// KEYS[4] timeline, KEYS[5] stats, KEYS[6] prospect sends, KEYS[7] due set
// of the other lane, KEYS[8] ledger, KEYS[9] prospect meta, KEYS[10]
// consent log, KEYS[11] the day's counters.
// ARGV[1] expected rev, ARGV[2] blob, ARGV[3] due score or "", ARGV[4] eid,
// ARGV[5] ledger field, ARGV[6] ledger value, ARGV[7] send member or "",
// ARGV[8] send score, ARGV[9] trim sends before, ARGV[10] timeline max lines,
// ARGV[11] n entries, ARGV[12] "1" if the enrollment may sit in the other
// lane, ARGV[13] consent field or "", ARGV[14] consent value, ARGV[15]
// consent log entry, ARGV[16] "1" to dedupe, entries..., stat field/incr
// pairs (a field starting with "@" is a per-day counter).
// Returns {new rev, previous consent value}; {0, ""} if the rev did not
// match, {-1, value} if a dedupe commit had nothing to change.
//
// The script is a function, commit_one, whose counter increments are
// summed per key and field and written once at the end (cm_flush).
var commitEnrollment = redis.NewScript(commitLua + `
local r = commit_one(KEYS, ARGV)
cm_flush()
return r
`)

// commitKeys is how many keys each commit names.
const commitKeys = 11

// commitLua defines commit_one and the counter accumulator it writes to:
// cm_add sums increments per key and field, cm_flush writes each once.
var commitLua = timelineLua + fmt.Sprintf("local commitKeys = %d\n", commitKeys) + `
local cm_incr, cm_order, cm_expire = {}, {}, {}
local function cm_add(key, field, n)
  local h = cm_incr[key]
  if not h then h = {}; cm_incr[key] = h; cm_order[#cm_order + 1] = key end
  h[field] = (h[field] or 0) + tonumber(n)
end
local function cm_flush()
  for _, key in ipairs(cm_order) do
    for field, n in pairs(cm_incr[key]) do redis.call('HINCRBY', key, field, n) end
    if cm_expire[key] then redis.call('EXPIRE', key, ` + dailyTTLSeconds + `) end
  end
end
local function commit_one(K, A)
  local cur = redis.call('GET', K[1])
  local rev = cur and tonumber(string.match(cur, '^(%d+)\n')) or 0
  if rev ~= tonumber(A[1]) then return {0, ''} end
  local prev = ''
  if A[13] ~= '' then
    prev = redis.call('HGET', K[9], A[13]) or ''
    if prev == A[14] then
      if A[16] == '1' and cur and string.match(cur, '^%d+\n(.*)$') == A[2] then return {-1, prev} end
    else
      if A[14] == '' then redis.call('HDEL', K[9], A[13]) else redis.call('HSET', K[9], A[13], A[14]) end
      redis.call('RPUSH', K[10], A[15])
    end
  end
  rev = rev + 1
  redis.call('SET', K[1], rev .. '\n' .. A[2])
  if A[5] ~= '' then
    redis.call('HSET', K[8], A[5], A[6])
    -- The touch is settled and the enrollment moves on: the ledger need not
    -- outlive the replays already in flight.
    redis.call('EXPIRE', K[8], ` + ledgerSettledSeconds + `)
  end
  redis.call('ZREM', K[3], A[4])
  if A[12] == '1' then redis.call('ZREM', K[7], A[4]) end
  if A[3] == '' then redis.call('ZREM', K[2], A[4]) else redis.call('ZADD', K[2], A[3], A[4]) end
  if A[7] ~= '' then
    redis.call('ZADD', K[6], A[8], A[7])
    redis.call('ZREMRANGEBYSCORE', K[6], '-inf', A[9])
  end
  local n = tonumber(A[11])
  local len = 0
  for i = 1, n do len = math.max(len, tl_push(K[4], A[16 + i])) end
  if len > tonumber(A[10]) then tl_trim(K[4]) end
  local daily = false
  for i = 17 + n, #A, 2 do
    local f = A[i]
    if string.byte(f, 1) == 64 then
      cm_add(K[11], string.sub(f, 2), A[i + 1])
      daily = true
    else
      cm_add(K[5], f, A[i + 1])
    end
  end
  if daily then cm_expire[K[11]] = true end
  return {rev, prev}
end
`

func (s *Store) commitArgs(c *Commit) ([]string, []any) {
	e := &c.Enrollment
	pid, shard := e.ProspectID, Shard(e.ProspectID)
	lane, other := laneOr(c.Lane), LaneSMS
	if lane == LaneSMS {
		other = LaneEmail
	}
	keys := []string{s.keys.Enrollment(e.ID), s.keys.Due(shard, lane), s.keys.Lease(shard), s.keys.Timeline(e.ID),
		s.keys.Stats(shard, e.CadenceID), s.keys.Sends(pid), s.keys.Due(shard, other), s.keys.Ledger(e.ID),
		s.keys.ProspectMeta(pid), s.keys.Consent(pid), s.keys.DailyStats(shard, e.CadenceID, c.Day)}
	sendMember, sendScore, trim := "", int64(0), int64(0)
	if c.Sent != nil {
		sendMember = sendHistoryMember(c.Channel, e.CadenceID, *c.Sent)
		sendScore = ms(*c.Sent)
		trim = ms(c.Sent.Add(-SendHistoryWindow))
	}
	otherLane := "1"
	if c.SameLane {
		otherLane = "0"
	}
	args := []any{c.Rev, encodeEnrollment(e), dueScore(e), e.ID, c.LedgerField, c.LedgerValue,
		sendMember, sendScore, trim, TimelineMaxLines, len(c.Entries), otherLane}
	if c.Consent != nil {
		dedupe := "0"
		if c.Dedupe {
			dedupe = "1"
		}
		field, value, entry := consentArgs(c.Consent)
		args = append(args, field, value, entry, dedupe)
	} else {
		args = append(args, "", "", "", "0")
	}
	for i := range c.Entries {
		args = append(args, encodeEntry(&c.Entries[i]))
	}
	for k, v := range c.Stats {
		args = append(args, k, v)
	}
	return keys, args
}

// commitResult reads commitEnrollment's answer into c.
func commitResult(cmd *redis.Cmd, c *Commit) (int64, error) {
	v, err := cmd.Slice()
	if err != nil {
		return 0, err
	}
	return commitReply(v, c)
}

// commitReply reads one commit's {rev, prev} into c.
func commitReply(v []any, c *Commit) (int64, error) {
	if len(v) != 2 {
		return 0, fmt.Errorf("commit: unexpected reply %v", v)
	}
	rev, _ := v[0].(int64)
	if prev, ok := v[1].(string); ok && c.Consent != nil {
		c.ConsentPrev = prev
	}
	switch rev {
	case 0:
		return 0, ErrConflict
	case -1:
		return 0, ErrUnchanged
	}
	return rev, nil
}

// Commit writes an enrollment if it is still at c.Rev; it returns
// ErrConflict otherwise, and the caller reloads and re-applies (and
// ErrUnchanged for a Dedupe commit with nothing to change).
func (s *Store) Commit(ctx context.Context, c *Commit) (int64, error) {
	keys, args := s.commitArgs(c)
	return commitResult(commitEnrollment.Run(ctx, s.rdb, keys, args...), c)
}

// CommitBatch commits several enrollments in one pipeline; each result is
// nil, ErrConflict, ErrUnchanged or a Redis error.
func (s *Store) CommitBatch(ctx context.Context, batch []*Commit) []error {
	errs := make([]error, len(batch))
	if len(batch) == 0 {
		return errs
	}
	cmds := s.pipelineScript(ctx, commitEnrollment, len(batch), func(i int) ([]string, []any) { return s.commitArgs(batch[i]) })
	for i, c := range cmds {
		_, errs[i] = commitResult(c, batch[i])
	}
	return errs
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
)

// Errors callers branch on.
var (
	ErrNotFound         = errors.New("not found")
	ErrAlreadyEnrolled  = errors.New("prospect is already enrolled in this cadence")
	ErrConflict         = errors.New("enrollment changed concurrently")
	ErrDuplicateAddress = errors.New("email or phone belongs to another prospect")
)

// SendHistoryWindow is how long sends are kept for frequency caps.
const SendHistoryWindow = 8 * 24 * time.Hour

// Store is Nurture's Redis persistence.
type Store struct {
	rdb  redis.UniversalClient
	keys Keys
	dur  *durability // replica waits on journal writes (durability.go); nil: off
}

// New returns a store on rdb with every key under prefix.
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, keys: Keys{Prefix: prefix}}
}

// Keys exposes key naming (tests and operators).
func (s *Store) Keys() Keys { return s.keys }

// Redis returns the client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// UpsertProspect creates or updates a prospect's profile; consent is
// never overwritten here (it changes only through SetConsent).
func (s *Store) UpsertProspect(ctx context.Context, p *Prospect) error {
	// Indexes first (HSETNX), so two prospects never share an address.
	for _, idx := range []struct{ key, val string }{{s.keys.EmailIndex(), p.Email}, {s.keys.PhoneIndex(), p.Phone}} {
		if idx.val == "" {
			continue
		}
		if _, err := s.rdb.HSetNX(ctx, idx.key, idx.val, p.ID).Result(); err != nil {
			return err
		}
		owner, err := s.rdb.HGet(ctx, idx.key, idx.val).Result()
		if err != nil {
			return err
		}
		if owner != p.ID {
			return fmt.Errorf("%w: %s is prospect %s", ErrDuplicateAddress, idx.val, owner)
		}
	}
	return s.rdb.Set(ctx, s.keys.Prospect(p.ID), encodeProspect(p), 0).Err()
}

// UpsertProspects is UpsertProspect for a batch in two round trips: claim
// the address indexes and read the previous profiles, then write the
// profiles. It returns one error per prospect and, for updates, the
// previous profile (nil for new prospects).
func (s *Store) UpsertProspects(ctx context.Context, ps []*Prospect) ([]error, []*Prospect) {
	errs := make([]error, len(ps))
	olds := make([]*Prospect, len(ps))
	type check struct {
		key, val string
		set      *redis.BoolCmd
	}
	checks := make([][]check, len(ps))
	prev := make([]*redis.StringCmd, len(ps))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pr := range ps {
			for _, idx := range []struct{ key, val string }{{s.keys.EmailIndex(), pr.Email}, {s.keys.PhoneIndex(), pr.Phone}} {
				if idx.val == "" {
					continue
				}
				checks[i] = append(checks[i], check{idx.key, idx.val, p.HSetNX(ctx, idx.key, idx.val, pr.ID)})
			}
			prev[i] = p.Get(ctx, s.keys.Prospect(pr.ID))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		for i := range errs {
			errs[i] = err
		}
		return errs, olds
	}
	// Addresses already indexed: an update of the same prospect, or a
	// clash with another one. Read their owners in one more round trip.
	owners := make([][]*redis.StringCmd, len(ps))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ps {
			for _, c := range checks[i] {
				if set, err := c.set.Result(); err == nil && !set {
					owners[i] = append(owners[i], p.HGet(ctx, c.key, c.val))
				}
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		for i := range errs {
			errs[i] = err
		}
		return errs, olds
	}
	var write []int
	for i, pr := range ps {
		for _, c := range checks[i] {
			if err := c.set.Err(); err != nil {
				errs[i] = err
			}
		}
		for _, o := range owners[i] {
			if owner, err := o.Result(); err != nil {
				errs[i] = err
			} else if owner != pr.ID {
				errs[i] = fmt.Errorf("%w: %s is prospect %s", ErrDuplicateAddress, o.Args()[2], owner)
			}
		}
		if errs[i] != nil {
			continue
		}
		if b, err := prev[i].Result(); err == nil {
			var old Prospect
			if json.Unmarshal([]byte(b), &old) == nil {
				olds[i] = &old
			}
		}
		write = append(write, i)
	}
	cmds := make([]*redis.StatusCmd, len(ps))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range write {
			cmds[i] = p.Set(ctx, s.keys.Prospect(ps[i].ID), encodeProspect(ps[i]), 0)
		}
		return nil
	})
	for _, i := range write {
		if err := cmds[i].Err(); err != nil {
			errs[i] = err
		}
	}
	return errs, olds
}

func encodeProspect(p *Prospect) string {
	profile := *p
	profile.EmailBlocked, profile.SMSBlocked = "", ""
	b, _ := json.Marshal(profile)
	return string(b)
}

// Prospect loads a prospect with its consent.
func (s *Store) Prospect(ctx context.Context, pid string) (*Prospect, error) {
	ps, err := s.Prospects(ctx, []string{pid})
	if err != nil {
		return nil, err
	}
	if ps[0] == nil {
		return nil, fmt.Errorf("prospect %s: %w", pid, ErrNotFound)
	}
	return ps[0], nil
}

// Prospects loads several prospects in one round trip; a missing one is nil.
func (s *Store) Prospects(ctx context.Context, pids []string) ([]*Prospect, error) {
	blobs := make([]*redis.StringCmd, len(pids))
	metas := make([]*redis.SliceCmd, len(pids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pid := range pids {
			blobs[i] = p.Get(ctx, s.keys.Prospect(pid))
			metas[i] = p.HMGet(ctx, s.keys.ProspectMeta(pid), "eb", "sb")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]*Prospect, len(pids))
	for i, pid := range pids {
		b, err := blobs[i].Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var pr Prospect
		if err := json.Unmarshal([]byte(b), &pr); err != nil {
			return nil, fmt.Errorf("prospect %s: %w", pid, err)
		}
		m := metas[i].Val()
		if len(m) == 2 {
			pr.EmailBlocked, _ = m[0].(string)
			pr.SMSBlocked, _ = m[1].(string)
		}
		out[i] = &pr
	}
	return out, nil
}

// Loaded is an enrollment as read, with the revision to commit against.
type Loaded struct {
	Enrollment cadence.Enrollment
	Rev        int64
}

// LedgerField names the ledger entry of the touch an enrollment is at:
// its stage, step and when it entered the stage. Not the generation: a
// pause or snooze that follows a worker's crash mid-send must still find
// that send's entry when the enrollment resumes, or it would send again.
// Entering the stage again (an advance rule back to it) starts new entries.
func LedgerField(e *cadence.Enrollment) string {
	return "l:" + e.Stage + ":" + strconv.Itoa(e.Step) + ":" + strconv.FormatInt(ms(e.StageEnteredAt), 36)
}

// Enrollment loads an enrollment.
func (s *Store) Enrollment(ctx context.Context, eid string) (Loaded, error) {
	ls, err := s.Enrollments(ctx, []string{eid})
	if err != nil {
		return Loaded{}, err
	}
	if ls[0] == nil {
		return Loaded{}, fmt.Errorf("enrollment %s: %w", eid, ErrNotFound)
	}
	return *ls[0], nil
}

// Enrollments loads several enrollments in one round trip; a missing one
// is nil.
func (s *Store) Enrollments(ctx context.Context, eids []string) ([]*Loaded, error) {
	cmds := make([]*redis.StringCmd, len(eids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range eids {
			cmds[i] = p.Get(ctx, s.keys.Enrollment(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]*Loaded, len(eids))
	for i, id := range eids {
		v, err := cmds[i].Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		revText, blob, ok := strings.Cut(v, "\n")
		rev, perr := strconv.ParseInt(revText, 10, 64)
		if !ok || perr != nil {
			return nil, fmt.Errorf("enrollment %s: corrupt record", id)
		}
		e, err := decodeEnrollment(blob)
		if err != nil {
			return nil, fmt.Errorf("enrollment %s: %w", id, err)
		}
		out[i] = &Loaded{Enrollment: e, Rev: rev}
	}
	return out, nil
}

// ExistingEnrollments returns which of the given enrollment ids exist,
// in one round trip. Enrollment ids are deterministic (prospect~cadence),
// so a prospect's enrollments are found from the cadence list rather than
// kept in a per-prospect index.
func (s *Store) ExistingEnrollments(ctx context.Context, eids []string) ([]string, error) {
	cmds := make([]*redis.IntCmd, len(eids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range eids {
			cmds[i] = p.Exists(ctx, s.keys.Enrollment(id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for i, c := range cmds {
		if c.Val() == 1 {
			out = append(out, eids[i])
		}
	}
	return out, nil
}

// dueScore is where an enrollment belongs in its due set: its due time
// when active, its wake-up time when paused or snoozed until a time, else
// nowhere ("").
func dueScore(e *cadence.Enrollment) string {
	switch {
	case e.State == cadence.Active, (e.State == cadence.Paused || e.State == cadence.Snoozed) && !e.Until.IsZero():
		return strconv.FormatInt(ms(e.DueAt), 10)
	}
	return ""
}

// createEnrollment creates an enrollment unless it exists.
// KEYS[1] enrollment, KEYS[2] due set, KEYS[3] timeline. ARGV[1] blob,
// ARGV[2] due score or "", ARGV[3] eid, ARGV[4] n entries, entries...
// The first timeline line ("enrolled") is not stored: Timeline derives it
// from the enrollment. Counters are added per batch by CreateEnrollments.
var createEnrollment = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], '1\n' .. ARGV[1])
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3]) end
local n = tonumber(ARGV[4])
for i = 1, n do redis.call('RPUSH', KEYS[3], ARGV[4 + i]) end
return 1
`)

// NewEnrollment is an enrollment to create.
type NewEnrollment struct {
	Enrollment cadence.Enrollment
	Entries    []cadence.Entry
	Stats      map[string]int64
	Lane       Lane
}

func (s *Store) createArgs(n *NewEnrollment) ([]string, []any) {
	e := &n.Enrollment
	keys := []string{s.keys.Enrollment(e.ID), s.keys.Due(Shard(e.ProspectID), laneOr(n.Lane)), s.keys.Timeline(e.ID)}
	entries := n.Entries
	if len(entries) > 0 && entries[0].Kind == "enrolled" {
		entries = entries[1:]
	}
	args := []any{encodeEnrollment(e), dueScore(e), e.ID, len(entries)}
	for i := range entries {
		args = append(args, encodeEntry(&entries[i]))
	}
	return keys, args
}

// CreateEnrollments creates enrollments in one pipeline. The first result
// has one error per input: nil, ErrAlreadyEnrolled, or a Redis error; the
// second reports a failure to add the batch's counters (the enrollments
// exist, their stats are short).
func (s *Store) CreateEnrollments(ctx context.Context, batch []NewEnrollment) ([]error, error) {
	errs := make([]error, len(batch))
	if len(batch) == 0 {
		return errs, nil
	}
	cmds := s.pipelineScript(ctx, createEnrollment, len(batch), func(i int) ([]string, []any) { return s.createArgs(&batch[i]) })
	// Counters of the enrollments actually created, summed per shard: one
	// HINCRBY per counter and shard instead of several per enrollment.
	type statKey struct {
		key, field string
	}
	sums, daySums := map[statKey]int64{}, map[statKey]int64{}
	for i, c := range cmds {
		n, err := c.Int()
		switch {
		case err != nil:
			errs[i] = err
		case n == 0:
			errs[i] = fmt.Errorf("%s: %w", batch[i].Enrollment.ID, ErrAlreadyEnrolled)
		default:
			e := &batch[i].Enrollment
			shard := Shard(e.ProspectID)
			key := s.keys.Stats(shard, e.CadenceID)
			for f, v := range batch[i].Stats {
				if field, ok := strings.CutPrefix(f, "@"); ok {
					daySums[statKey{s.keys.DailyStats(shard, e.CadenceID, e.EnrolledAt), field}] += v
					continue
				}
				sums[statKey{key, f}] += v
			}
		}
	}
	if len(sums)+len(daySums) > 0 {
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k, v := range sums {
				p.HIncrBy(ctx, k.key, k.field, v)
			}
			days := map[string]bool{}
			for k, v := range daySums {
				p.HIncrBy(ctx, k.key, k.field, v)
				if !days[k.key] {
					days[k.key] = true
					p.Expire(ctx, k.key, DailyStatsTTL)
				}
			}
			return nil
		}); err != nil {
			return errs, fmt.Errorf("enrollment counters: %w", err)
		}
	}
	return errs, nil
}

// Commit is a compare-and-set update of an enrollment: it applies only if
// the enrollment is still at Rev.
type Commit struct {
	Rev        int64
	Enrollment cadence.Enrollment
	Entries    []cadence.Entry
	// LedgerField/LedgerValue record a touch's send state ("" none).
	LedgerField, LedgerValue string
	// Sent records a send in the prospect's history for frequency caps.
	Sent    *time.Time
	Channel cadence.Channel
	// Stats are counter increments; a field named "@FIELD" goes to the
	// per-day counters of the UTC day of Day instead (daily.go).
	Stats map[string]int64
	Day   time.Time
	// Lane is the due lane of the enrollment's next step.
	Lane Lane
	// SameLane says the enrollment was in Lane before, so the other lane
	// need not be cleaned (saves a call on the hot path).
	SameLane bool
	// Consent, if set, changes the prospect's consent in the same atomic
	// write, by SetConsent's rules (a change to the value the channel
	// already has is not logged).
	Consent *ConsentChange
	// Dedupe, with Consent, makes an event that changes nothing a no-op:
	// when the channel already has the value and the enrollment would be
	// written unchanged, nothing is written (no timeline line, no
	// counter) and Commit returns ErrUnchanged. A replayed unsubscribe or
	// STOP is recorded once.
	Dedupe bool
	// ConsentPrev is set by Commit and CommitBatch, with Consent: the
	// channel's block reason before the commit.
	ConsentPrev string
}

// ErrUnchanged is a Dedupe commit that had nothing to change.
var ErrUnchanged = errors.New("nothing to change")

func laneOr(l Lane) Lane {
	if l == "" {
		return LaneEmail
	}
	return l
}

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
var commitEnrollment = redis.NewScript(timelineLua + `
local cur = redis.call('GET', KEYS[1])
local rev = cur and tonumber(string.match(cur, '^(%d+)\n')) or 0
if rev ~= tonumber(ARGV[1]) then return {0, ''} end
local prev = ''
if ARGV[13] ~= '' then
  prev = redis.call('HGET', KEYS[9], ARGV[13]) or ''
  if prev == ARGV[14] then
    if ARGV[16] == '1' and cur and string.match(cur, '^%d+\n(.*)$') == ARGV[2] then return {-1, prev} end
  else
    if ARGV[14] == '' then redis.call('HDEL', KEYS[9], ARGV[13]) else redis.call('HSET', KEYS[9], ARGV[13], ARGV[14]) end
    redis.call('RPUSH', KEYS[10], ARGV[15])
  end
end
rev = rev + 1
redis.call('SET', KEYS[1], rev .. '\n' .. ARGV[2])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[8], ARGV[5], ARGV[6])
  -- The touch is settled and the enrollment moves on: the ledger need not
  -- outlive the replays already in flight.
  redis.call('EXPIRE', KEYS[8], ` + ledgerSettledSeconds + `)
end
redis.call('ZREM', KEYS[3], ARGV[4])
if ARGV[12] == '1' then redis.call('ZREM', KEYS[7], ARGV[4]) end
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[4]) else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4]) end
if ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[8], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', ARGV[9])
end
local n = tonumber(ARGV[11])
local len = 0
for i = 1, n do len = math.max(len, tl_push(KEYS[4], ARGV[16 + i])) end
if len > tonumber(ARGV[10]) then tl_trim(KEYS[4]) end
local daily = false
for i = 17 + n, #ARGV, 2 do
  local f = ARGV[i]
  if string.byte(f, 1) == 64 then
    redis.call('HINCRBY', KEYS[11], string.sub(f, 2), ARGV[i + 1])
    daily = true
  else
    redis.call('HINCRBY', KEYS[5], f, ARGV[i + 1])
  end
end
if daily then redis.call('EXPIRE', KEYS[11], ` + dailyTTLSeconds + `) end
return {rev, prev}
`)

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

// LedgerTTL is how long a ledger with an open entry ("sending", attempt
// counts) outlives its last write: longer than an enrollment may stay
// paused with a send its crashed worker left open.
const LedgerTTL = 60 * 24 * time.Hour

// LedgerSettledTTL is how long a ledger lives once the commit that settles
// its touch ("sent", "failed", "uncertain") moved the enrollment on: every
// later claim is stale by then, so the entry only has to outlast replays
// already in flight.
const LedgerSettledTTL = 24 * time.Hour

// ledgerSettledSeconds is LedgerSettledTTL for scripts.
var ledgerSettledSeconds = strconv.Itoa(int(LedgerSettledTTL / time.Second))

// beginLedger takes a touch's ledger entry just before the provider sees
// the message: if the enrollment is still at rev (a pause or unsubscribe
// since the claim stops the send) and no entry exists, it records value.
// KEYS[1] enrollment, KEYS[2] ledger. ARGV[1] rev, ARGV[2] field, ARGV[3]
// value, ARGV[4] TTL seconds. Returns "OK", "CONFLICT" or the existing
// value (another worker's send, or the outcome of an earlier one).
var beginLedger = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(string.match(cur, '^(%d+)\n')) ~= tonumber(ARGV[1]) then return 'CONFLICT' end
local v = redis.call('HGET', KEYS[2], ARGV[2])
if v then return v end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 'OK'
`)

// Ledger values. A touch's entry is absent until the provider is about to
// see the message, then "sending" (owned by one worker until its lease
// ends; never resent: it becomes "uncertain" if its owner dies), then
// "sent" once the provider accepted it, or removed when the provider
// refused it so a later attempt may send.
const (
	LedgerSending   = "sending"
	LedgerSent      = "sent"
	LedgerUncertain = "uncertain"
	LedgerFailed    = "failed"
)

// SendingValue is the ledger value of a send in progress: its lease end
// and its owner (for operators reading the ledger).
func SendingValue(leaseUntil time.Time, owner string) string {
	return LedgerSending + ":" + strconv.FormatInt(ms(leaseUntil), 10) + ":" + owner
}

// ParseLedger splits a ledger value into its kind and, for a send in
// progress, its lease end.
func ParseLedger(v string) (kind string, leaseUntil time.Time) {
	kind, rest, ok := strings.Cut(v, ":")
	if !ok {
		return v, time.Time{}
	}
	msStr, _, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(msStr, 10, 64)
	if err != nil {
		return kind, time.Time{}
	}
	return kind, time.UnixMilli(n)
}

// LedgerStep is one per-message ledger write around a provider call.
type LedgerStep struct {
	EID, Field string
	// Begin: record Value if the enrollment is still at Rev and the entry
	// is absent (beginLedger). Otherwise: the outcome of a send this
	// worker owns — Value, or remove the entry when Value is "".
	Begin bool
	Rev   int64
	Value string
}

// StepLedger applies steps in one round trip and returns, per step, "OK"
// or (for a refused Begin) "CONFLICT" or the existing value. With replica
// waits on (SetReplicaWait), steps that begin a send end with WAIT in the
// same round trip; when too few replicas confirm in time, the results come
// with a *NotReplicatedError: the writes are on the master only.
func (s *Store) StepLedger(ctx context.Context, steps []LedgerStep) ([]string, error) {
	cmds := make([]redis.Cmder, len(steps))
	begins := false
	for _, st := range steps {
		begins = begins || st.Begin
	}
	want, timeout := 0, time.Duration(0)
	if begins {
		want, timeout = s.ReplicaWait(ctx)
	}
	var wait *redis.IntCmd
	run := func(eval bool) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			defer func() {
				if want > 0 {
					// Same connection, after the writes: WAIT confirms them.
					wait = redis.NewIntCmd(ctx, "wait", want, timeout.Milliseconds())
					_ = p.Process(ctx, wait)
				}
			}()
			for i, st := range steps {
				key := s.keys.Ledger(st.EID)
				switch {
				case eval && (!st.Begin || !redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT")):
					// Ran the first time; only what NOSCRIPT refused goes again.
				case !st.Begin && st.Value == "":
					cmds[i] = p.HDel(ctx, key, st.Field)
				case !st.Begin:
					cmds[i] = p.HSet(ctx, key, st.Field, st.Value)
				case eval:
					cmds[i] = beginLedger.Eval(ctx, p, []string{s.keys.Enrollment(st.EID), key}, st.Rev, st.Field, st.Value, int(LedgerTTL.Seconds()))
				default:
					cmds[i] = beginLedger.EvalSha(ctx, p, []string{s.keys.Enrollment(st.EID), key}, st.Rev, st.Field, st.Value, int(LedgerTTL.Seconds()))
				}
			}
			return nil
		})
		return err
	}
	err := run(false)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A new or restarted node lacks the script; a NOSCRIPT reply means
		// that command did not run. Re-running a Begin that did would find
		// its own entry and take it for another worker's.
		err = run(true)
	}
	if err != nil {
		return nil, err
	}
	out := make([]string, len(steps))
	if wait != nil && wait.Val() < int64(want) {
		// The Begins ran on the master; their results are still reported,
		// so the caller releases what it owns.
		err = &NotReplicatedError{Want: want, Got: int(wait.Val()), Timeout: timeout}
	}
	for i, st := range steps {
		if !st.Begin {
			out[i] = "OK"
			continue
		}
		v, err := cmds[i].(*redis.Cmd).Text()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, err
}

// settleSending replaces a ledger entry if it still holds an expected
// value. KEYS[1] ledger. ARGV[1] field, ARGV[2] expected, ARGV[3] new value
// ("" removes the entry). Returns 1 if changed.
var settleSending = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
`)

// SettleSending records, after the fact, what became of a send this worker
// marked "sending" (value): "sent" when the provider accepted it, "" when
// it never went out. Nothing changes unless the entry is still value.
func (s *Store) SettleSending(ctx context.Context, eid, field, value, outcome string) (bool, error) {
	n, err := settleSending.Run(ctx, s.rdb, []string{s.keys.Ledger(eid)}, field, value, outcome).Int()
	return n == 1, err
}

// ClearLedger removes a ledger entry whose send certainly did not happen
// (a refused or unreachable provider), so a later attempt may send.
func (s *Store) ClearLedger(ctx context.Context, eid, field string) error {
	return s.rdb.HDel(ctx, s.keys.Ledger(eid), field).Err()
}

// CountAttempt counts a failed attempt at a touch and returns the count.
func (s *Store) CountAttempt(ctx context.Context, eid, field string) (int64, error) {
	var n *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.HIncrBy(ctx, s.keys.Ledger(eid), "a:"+field, 1)
		p.Expire(ctx, s.keys.Ledger(eid), LedgerTTL)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n.Val(), nil
}

// Ledger reads a touch's ledger entry ("" when absent).
func (s *Store) Ledger(ctx context.Context, eid, field string) (string, error) {
	v, err := s.rdb.HGet(ctx, s.keys.Ledger(eid), field).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// claimDue moves due enrollments of one shard and lane into the shard's
// lease set, after returning expired leases to this lane's due set (the
// next claim re-files them in the right lane when it commits).
// KEYS[1] due, KEYS[2] lease. ARGV[1] now ms, ARGV[2] lease until ms,
// ARGV[3] limit. Returns the claimed ids.
var claimDue = redis.NewScript(`
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], 'NX', ARGV[1], id)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[2], id)
end
return ids
`)

// Claim takes up to limit due enrollments of a shard with a lease until
// now+lease. An enrollment whose lease expires returns to the due set and
// can be claimed again: the send ledger keeps that from sending twice.
func (s *Store) Claim(ctx context.Context, shard int, lane Lane, now time.Time, lease time.Duration, limit int) ([]string, error) {
	return claimDue.Run(ctx, s.rdb, []string{s.keys.Due(shard, lane), s.keys.Lease(shard)}, ms(now), ms(now.Add(lease)), limit).StringSlice()
}

// ClaimKey names one claim of ClaimAll.
type ClaimKey struct {
	Shard int
	Lane  Lane
}

// ClaimAll claims every shard and lane in one pipeline.
func (s *Store) ClaimAll(ctx context.Context, now time.Time, lease time.Duration, limit int) (map[ClaimKey][]string, error) {
	keys := make([]ClaimKey, 0, Shards*len(Lanes))
	for _, lane := range Lanes {
		for sh := 0; sh < Shards; sh++ {
			keys = append(keys, ClaimKey{sh, lane})
		}
	}
	cmds := s.pipelineScript(ctx, claimDue, len(keys), func(i int) ([]string, []any) {
		k := keys[i]
		return []string{s.keys.Due(k.Shard, k.Lane), s.keys.Lease(k.Shard)}, []any{ms(now), ms(now.Add(lease)), limit}
	})
	out := make(map[ClaimKey][]string)
	for i, c := range cmds {
		ids, err := c.StringSlice()
		if err != nil {
			return out, fmt.Errorf("claim shard %d %s: %w", keys[i].Shard, keys[i].Lane, err)
		}
		if len(ids) > 0 {
			out[keys[i]] = ids
		}
	}
	return out, nil
}

// ReleaseLease drops a claim without changing the enrollment (a stale claim).
func (s *Store) ReleaseLease(ctx context.Context, eid string) error {
	return s.rdb.ZRem(ctx, s.keys.Lease(shardOfEnrollment(eid)), eid).Err()
}

// DueCount returns how many enrollments are due at or before now, and how
// many are leased, over all shards.
func (s *Store) DueCount(ctx context.Context, now time.Time) (due, leased int64, err error) {
	cmds := make([][3]*redis.IntCmd, Shards)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for sh := 0; sh < Shards; sh++ {
			cmds[sh][0] = p.ZCount(ctx, s.keys.Due(sh, LaneEmail), "-inf", strconv.FormatInt(ms(now), 10))
			cmds[sh][1] = p.ZCount(ctx, s.keys.Due(sh, LaneSMS), "-inf", strconv.FormatInt(ms(now), 10))
			cmds[sh][2] = p.ZCard(ctx, s.keys.Lease(sh))
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	for _, c := range cmds {
		due += c[0].Val() + c[1].Val()
		leased += c[2].Val()
	}
	return due, leased, nil
}

// RecentSendsBatch returns several prospects' sends since a time, in one
// round trip.
func (s *Store) RecentSendsBatch(ctx context.Context, pids []string, since time.Time) ([]cadence.History, error) {
	cmds := make([]*redis.StringSliceCmd, len(pids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, pid := range pids {
			cmds[i] = p.ZRangeByScore(ctx, s.keys.Sends(pid), &redis.ZRangeBy{Min: strconv.FormatInt(ms(since), 10), Max: "+inf"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]cadence.History, len(pids))
	for i, c := range cmds {
		out[i] = parseSends(c.Val())
	}
	return out, nil
}

// RecentSends returns a prospect's sends since a time, per channel.
func (s *Store) RecentSends(ctx context.Context, pid string, since time.Time) (cadence.History, error) {
	members, err := s.rdb.ZRangeByScore(ctx, s.keys.Sends(pid), &redis.ZRangeBy{Min: strconv.FormatInt(ms(since), 10), Max: "+inf"}).Result()
	if err != nil {
		return cadence.History{}, err
	}
	return parseSends(members), nil
}

// sendHistoryMember is one send in a prospect's history: the channel's
// initial, the time (base 36 ms) and the cadence, which keeps two
// cadences' sends in the same millisecond apart. The key already names the
// prospect.
func sendHistoryMember(ch cadence.Channel, cadenceID string, at time.Time) string {
	return string(ch)[:1] + ":" + strconv.FormatInt(ms(at), 36) + ":" + cadenceID
}

func parseSends(members []string) cadence.History {
	var h cadence.History
	for _, m := range members {
		ch, rest, ok := strings.Cut(m, ":")
		if !ok {
			continue
		}
		var v int64
		var err error
		if len(ch) == 1 {
			t, _, _ := strings.Cut(rest, ":")
			v, err = strconv.ParseInt(t, 36, 64)
		} else {
			// "channel:enrollment:ms", written before members were compact.
			v, err = strconv.ParseInt(m[strings.LastIndexByte(m, ':')+1:], 10, 64)
		}
		if err != nil {
			continue
		}
		if ch == string(cadence.SMS) || ch == string(cadence.SMS)[:1] {
			h.SMS = append(h.SMS, fromMS(v))
		} else {
			h.Email = append(h.Email, fromMS(v))
		}
	}
	return h
}

// Stats sums a cadence's counters over every shard.
func (s *Store) Stats(ctx context.Context, cadenceID string) (map[string]int64, error) {
	cmds := make([]*redis.MapStringStringCmd, Shards)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for sh := 0; sh < Shards; sh++ {
			cmds[sh] = p.HGetAll(ctx, s.keys.Stats(sh, cadenceID))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, c := range cmds {
		for k, v := range c.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			out[k] += n
		}
	}
	return out, nil
}

// MessageOwner resolves a Message-ID sent before Message-IDs were signed
// (worker.Engine.MessageOwner reads the signed ones) through the index those
// sends were recorded in; nothing is written to it any more.
func (s *Store) MessageOwner(ctx context.Context, messageID string) (eid, touch string, err error) {
	v, err := s.lookup(ctx, s.keys.MessageIndex(), messageID)
	if err != nil {
		return "", "", err
	}
	eid, touch, _ = strings.Cut(v, "|")
	return eid, touch, nil
}

// pipelineScript runs a script n times in one pipeline. EVALSHA cannot fall
// back to EVAL inside a pipeline by itself, so commands answered NOSCRIPT
// are re-sent as EVAL.
func (s *Store) pipelineScript(ctx context.Context, sc *redis.Script, n int, args func(i int) ([]string, []any)) []*redis.Cmd {
	cmds := make([]*redis.Cmd, n)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			keys, a := args(i)
			cmds[i] = sc.EvalSha(ctx, p, keys, a...)
		}
		return nil
	})
	missing := false
	for _, c := range cmds {
		if err := c.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			missing = true
			break
		}
	}
	if !missing {
		return cmds
	}
	// Some node does not have the script yet (a new or restarted Redis, a
	// cluster node): re-send the commands that failed with the full script,
	// which also caches it there. A NOSCRIPT reply means nothing ran.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < n; i++ {
			if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				keys, a := args(i)
				cmds[i] = sc.Eval(ctx, p, keys, a...)
			}
		}
		return nil
	})
	return cmds
}

// ProspectIDByEmail finds a prospect by address.
func (s *Store) ProspectIDByEmail(ctx context.Context, email string) (string, error) {
	return s.lookup(ctx, s.keys.EmailIndex(), strings.ToLower(strings.TrimSpace(email)))
}

// ProspectIDByPhone finds a prospect by E.164 number.
func (s *Store) ProspectIDByPhone(ctx context.Context, phone string) (string, error) {
	return s.lookup(ctx, s.keys.PhoneIndex(), phone)
}

func (s *Store) lookup(ctx context.Context, key, field string) (string, error) {
	v, err := s.rdb.HGet(ctx, key, field).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%s: %w", field, ErrNotFound)
	}
	return v, err
}

// IndexEnrollments adds enrollments to their owner's and cadence's sets.
func (s *Store) IndexEnrollments(ctx context.Context, owner, cadenceID string, eids []string) error {
	if len(eids) == 0 {
		return nil
	}
	members := make([]any, len(eids))
	for i, id := range eids {
		members[i] = id
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, s.keys.CadenceIndex(cadenceID), members...)
		if owner != "" {
			p.SAdd(ctx, s.keys.OwnerIndex(owner), members...)
		}
		return nil
	})
	return err
}

// MoveOwner moves enrollments from one owner's set to another's.
func (s *Store) MoveOwner(ctx context.Context, from, to string, eids []string) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range eids {
			if from != "" {
				p.SRem(ctx, s.keys.OwnerIndex(from), id)
			}
			if to != "" {
				p.SAdd(ctx, s.keys.OwnerIndex(to), id)
			}
		}
		return nil
	})
	return err
}

// OwnerEnrollments lists the enrollment ids of a rep's prospects.
func (s *Store) OwnerEnrollments(ctx context.Context, owner string) ([]string, error) {
	return s.rdb.SMembers(ctx, s.keys.OwnerIndex(owner)).Result()
}

// CadenceEnrollments lists a cadence's enrollment ids.
func (s *Store) CadenceEnrollments(ctx context.Context, cadenceID string) ([]string, error) {
	return s.rdb.SMembers(ctx, s.keys.CadenceIndex(cadenceID)).Result()
}

// UncertainTouch is a touch whose send was interrupted at the provider:
// it may or may not have been delivered, and was not resent.
type UncertainTouch struct {
	EID, Touch string
	Channel    cadence.Channel
	// MessageID is the email's Message-ID or the SMS's idempotency key, to
	// search the provider's logs with.
	MessageID string
	At        time.Time
}

// UncertainKeep is how long uncertain touches stay listed.
const UncertainKeep = 90 * 24 * time.Hour

// AddUncertain lists an uncertain touch under its cadence.
func (s *Store) AddUncertain(ctx context.Context, cadenceID string, u UncertainTouch) error {
	key := s.keys.UncertainIndex(cadenceID)
	member := strings.Join([]string{u.EID, u.Touch, string(u.Channel), u.MessageID}, "\x1f")
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(ms(u.At)), Member: member})
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(ms(u.At.Add(-UncertainKeep)), 10))
		return nil
	})
	return err
}

// Uncertain lists a cadence's uncertain touches found at or after since,
// newest first, at most limit.
func (s *Store) Uncertain(ctx context.Context, cadenceID string, since time.Time, limit int) ([]UncertainTouch, error) {
	zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, s.keys.UncertainIndex(cadenceID), &redis.ZRangeBy{
		Max: "+inf", Min: strconv.FormatInt(ms(since), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, err
	}
	out := make([]UncertainTouch, 0, len(zs))
	for _, z := range zs {
		f := strings.Split(z.Member.(string), "\x1f")
		if len(f) != 4 {
			continue
		}
		out = append(out, UncertainTouch{EID: f[0], Touch: f[1], Channel: cadence.Channel(f[2]), MessageID: f[3], At: fromMS(int64(z.Score))})
	}
	return out, nil
}

// SetWarm adds (warm) or removes an enrollment from the warm index.
func (s *Store) SetWarm(ctx context.Context, eid string, warm bool, since time.Time) error {
	if warm {
		return s.rdb.ZAdd(ctx, s.keys.WarmIndex(), redis.Z{Score: float64(ms(since)), Member: eid}).Err()
	}
	return s.rdb.ZRem(ctx, s.keys.WarmIndex(), eid).Err()
}

// WarmEnrollments lists warm enrollment ids, newest first.
func (s *Store) WarmEnrollments(ctx context.Context, limit int) ([]string, error) {
	return s.rdb.ZRevRange(ctx, s.keys.WarmIndex(), 0, int64(limit)-1).Result()
}

// CountSoftBounce counts a soft bounce of a prospect's address and returns
// the count of consecutive ones.
func (s *Store) CountSoftBounce(ctx context.Context, pid string) (int64, error) {
	return s.rdb.HIncrBy(ctx, s.keys.ProspectMeta(pid), "sbc", 1).Result()
}

// ResetSoftBounces clears the count when the address proves to work.
func (s *Store) ResetSoftBounces(ctx context.Context, pid string) error {
	return s.rdb.HDel(ctx, s.keys.ProspectMeta(pid), "sbc").Err()
}

// PauseDomain pauses sending from a domain until a time, with a reason.
func (s *Store) PauseDomain(ctx context.Context, domain, reason string, until time.Time, now time.Time) error {
	return s.rdb.Set(ctx, s.keys.DomainPause(domain), strconv.FormatInt(ms(until), 10)+"|"+reason, until.Sub(now)).Err()
}

// DomainPaused returns until when and why a sending domain is paused; a
// zero time means it is not.
func (s *Store) DomainPaused(ctx context.Context, domain string, now time.Time) (time.Time, string, error) {
	v, err := s.rdb.Get(ctx, s.keys.DomainPause(domain)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", err
	}
	untilText, reason, _ := strings.Cut(v, "|")
	u, _ := strconv.ParseInt(untilText, 10, 64)
	until := fromMS(u)
	if !until.After(now) {
		return time.Time{}, "", nil
	}
	return until, reason, nil
}

// ResumeDomain lifts a domain pause.
func (s *Store) ResumeDomain(ctx context.Context, domain string) error {
	return s.rdb.Del(ctx, s.keys.DomainPause(domain)).Err()
}

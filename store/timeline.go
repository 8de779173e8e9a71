package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
)

// An enrollment's timeline holds two classes of line. Engagement lines
// (engagementKinds: opens, clicks, delivery receipts, deferrals, holds and
// retries, and the inbound notes that change nothing — delay warnings and
// other delivery reports, unverified bounce and complaint reports, replies
// ignored by the cadence's policy) are what recipients, providers, the
// schedule and anyone who can mail the bounce address repeat; every other
// kind is an audit line: enrolled, sent, skipped, stage and state changes,
// pauses, snoozes, resumes and stops by people, replies, bounces, consent
// changes, goals, version moves. A flood of forged reports therefore
// never pushes an audit line out.
//
// Repeating an engagement line does not add one: a line identical to one of
// the newest TimelineCoalesceWindow lines but for its times is folded into
// it, which counts it and keeps the newest time (the 130th click on a link
// is "clicked welcome … (×130, last …)"; a touch deferred day after day for
// the same reason is one line). A timeline holds at most TimelineMaxLines
// lines; when it grows past them the oldest engagement lines go first,
// down to the newest TimelineCap, and audit lines go only past the newest
// TimelineAuditCap, replaced by one "trimmed" line that counts them. The
// "enrolled" line is derived from the enrollment and always shown.
const (
	// TimelineCap is how many engagement lines a full timeline keeps.
	TimelineCap = 100
	// TimelineAuditCap is how many audit lines a full timeline keeps.
	TimelineAuditCap = 500
	// TimelineMaxLines bounds a timeline's length; the slack above the two
	// caps lets a trim free at least 50 lines, so trims are rare.
	TimelineMaxLines = TimelineCap + TimelineAuditCap + 50
	// TimelineCoalesceWindow is how far back a repeated engagement line
	// looks for the line it repeats.
	TimelineCoalesceWindow = 20
	// TimelineTrimmed is the kind of the line that stands for dropped
	// audit lines.
	TimelineTrimmed = "trimmed"
)

// engagementKinds are the timeline kinds that may be coalesced and are
// dropped first: the one definition of the two classes (IsAudit, and the
// scripts' table below).
var engagementKinds = []string{
	string(cadence.EvOpened), string(cadence.EvClicked), string(cadence.EvDelivered),
	"deferred", "held", "retry",
	// Inbound notes (server/inbound_email.go): recorded, applied to
	// nothing, and as repeatable as their senders like.
	"delivery_delayed", "delivery_report", "bounce_report_unverified", "spam_complaint_report_unverified", "reply_ignored",
}

// IsAudit reports whether timeline lines of a kind are audit lines (kept
// before engagement lines, never coalesced).
func IsAudit(kind string) bool {
	for _, k := range engagementKinds {
		if k == kind {
			return false
		}
	}
	return true
}

// timelineLua is the timeline's Lua, prepended to the scripts that write
// timelines. Lines are entryRecord JSON, which starts with "at" and ends
// with u, n, l: a line's kind is its first "k" (a quote inside a string is
// escaped, so `"k":"` and `,"u":` never occur inside one), and two lines
// are identical when they are equal without at, u, n and l.
//
// tl_push(key, line) appends a line, or folds an engagement line into an
// identical one among the newest TimelineCoalesceWindow; it returns the
// length grown to, or 0 when it folded. tl_trim(key) rebuilds an
// over-long timeline by the caps.
var timelineLua = func() string {
	var b strings.Builder
	b.WriteString("local tl_noise = {")
	for _, k := range engagementKinds {
		fmt.Fprintf(&b, "[%q]=true,", k)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "local tl_window, tl_noise_keep, tl_audit_keep, tl_trimmed = %d, %d, %d, %q\n",
		TimelineCoalesceWindow, TimelineCap, TimelineAuditCap, TimelineTrimmed)
	b.WriteString(`
local function tl_kind(s) return string.match(s, '"k":"([^"]*)"') end
local function tl_at(s) return tonumber(string.match(s, '^{"at":(%-?%d+)')) or 0 end
local function tl_bare(s)
  s = string.gsub(s, '^{"at":%-?%d+,', '{', 1)
  s = string.gsub(s, ',"u":%-?%d+', '')
  s = string.gsub(s, ',"n":%d+', '')
  s = string.gsub(s, ',"l":%-?%d+', '')
  return s
end
local function tl_push(key, s)
  if tl_noise[tl_kind(s)] then
    local bare = tl_bare(s)
    local tail = redis.call('LRANGE', key, -tl_window, -1)
    for j = #tail, 1, -1 do
      local old = tail[j]
      if tl_bare(old) == bare then
        local at, first = tl_at(s), tl_at(old)
        local last = tonumber(string.match(old, ',"l":(%-?%d+)')) or first
        local n = (tonumber(string.match(old, ',"n":(%d+)')) or 1) + 1
        -- The newest line's until wins (a late, older repeat keeps the old).
        local base = s
        if at < last then base = old end
        if at < first then first = at end
        if at > last then last = at end
        base = string.gsub(base, ',"n":%d+', '')
        base = string.gsub(base, ',"l":%-?%d+', '')
        base = string.gsub(base, '^{"at":%-?%d+', '{"at":' .. string.format('%d', first), 1)
        base = string.sub(base, 1, -2) .. ',"n":' .. string.format('%d', n) .. ',"l":' .. string.format('%d', last) .. '}'
        redis.call('LSET', key, j - #tail - 1, base)
        return 0
      end
    end
  end
  return redis.call('RPUSH', key, s)
end
local function tl_trim(key)
  local all = redis.call('LRANGE', key, 0, -1)
  -- Newest first. The trimmed line, if any, is the oldest: it is met last.
  local kept, noise, audit, dropped, first, last = {}, 0, 0, 0, nil, nil
  for j = #all, 1, -1 do
    local s = all[j]
    local k = tl_kind(s)
    if k == tl_trimmed then
      dropped = dropped + (tonumber(string.match(s, ',"n":(%d+)')) or 0)
      first = tl_at(s)
      local l = tonumber(string.match(s, ',"l":(%-?%d+)')) or first
      if last == nil or l > last then last = l end
    elseif tl_noise[k] then
      noise = noise + 1
      if noise <= tl_noise_keep then kept[#kept + 1] = s end
    else
      audit = audit + 1
      if audit <= tl_audit_keep then
        kept[#kept + 1] = s
      else
        dropped = dropped + 1
        first = tl_at(s)
        if last == nil then last = first end
      end
    end
  end
  redis.call('DEL', key)
  if dropped > 0 then
    redis.call('RPUSH', key, '{"at":' .. string.format('%d', first) .. ',"k":"' .. tl_trimmed .. '","n":' .. string.format('%d', dropped) ..
      ',"l":' .. string.format('%d', last) .. '}')
  end
  local i = #kept
  while i >= 1 do
    local chunk = {}
    for j = i, math.max(1, i - 199), -1 do chunk[#chunk + 1] = kept[j] end
    redis.call('RPUSH', key, unpack(chunk))
    i = i - 200
  end
end
`)
	return b.String()
}()

// appendTimeline adds lines to a timeline. KEYS[1] timeline. ARGV[1] max
// lines, lines...
var appendTimeline = redis.NewScript(timelineLua + `
local len = 0
for i = 2, #ARGV do len = math.max(len, tl_push(KEYS[1], ARGV[i])) end
if len > tonumber(ARGV[1]) then tl_trim(KEYS[1]) end
return len
`)

// TimelineLine is a stored timeline line: its entry and, for coalesced
// engagement lines, how many identical lines it stands for (1 if none) and
// the newest one's time (Entry.At is the oldest's).
type TimelineLine struct {
	Entry cadence.Entry
	Count int
	Last  time.Time
}

// Folded returns the line as one entry, the repeats told in its reason:
// "https://acme.example/pricing (×130, last 2026-03-02T15:04:05Z)".
func (l TimelineLine) Folded() cadence.Entry {
	en := l.Entry
	if l.Count > 1 {
		note := fmt.Sprintf("×%d, last %s", l.Count, l.Last.UTC().Format(time.RFC3339))
		if en.Reason == "" {
			en.Reason = note
		} else {
			en.Reason += " (" + note + ")"
		}
	}
	return en
}

// TimelineLines returns an enrollment's timeline, oldest first: the
// enrolled line (derived from the enrollment), then, if audit lines were
// dropped, a "trimmed" line that says how many (at the oldest one's time,
// Last the newest's), then the stored lines.
func (s *Store) TimelineLines(ctx context.Context, eid string) ([]TimelineLine, error) {
	l, err := s.Enrollment(ctx, eid)
	if err != nil {
		return nil, err
	}
	raw, err := s.rdb.LRange(ctx, s.keys.Timeline(eid), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]TimelineLine, 0, len(raw)+1)
	enrolled := cadence.EnrolledEntry(&l.Enrollment)
	out = append(out, TimelineLine{Entry: enrolled, Count: 1, Last: enrolled.At})
	for _, r := range raw {
		line, err := decodeLine(r)
		if err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", eid, err)
		}
		if line.Entry.Kind == TimelineTrimmed {
			line.Entry.Reason = fmt.Sprintf("%d audit lines up to %s not kept: a timeline keeps its newest %d",
				line.Count, line.Last.UTC().Format(time.RFC3339), TimelineAuditCap)
			line.Count = 1
		}
		out = append(out, line)
	}
	return out, nil
}

// Timeline returns an enrollment's timeline, oldest first, coalesced lines
// folded (TimelineLine.Folded).
func (s *Store) Timeline(ctx context.Context, eid string) ([]cadence.Entry, error) {
	lines, err := s.TimelineLines(ctx, eid)
	if err != nil {
		return nil, err
	}
	out := make([]cadence.Entry, len(lines))
	for i, l := range lines {
		out[i] = l.Folded()
	}
	return out, nil
}

// AppendTimeline adds entries outside a commit, coalesced and capped like
// a commit's.
func (s *Store) AppendTimeline(ctx context.Context, eid string, entries ...cadence.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	args := make([]any, 0, len(entries)+1)
	args = append(args, TimelineMaxLines)
	for i := range entries {
		args = append(args, encodeEntry(&entries[i]))
	}
	return appendTimeline.Run(ctx, s.rdb, []string{s.keys.Timeline(eid)}, args...).Err()
}

package store

// Prospect search: per-shard secondary indexes kept on every prospect
// write, and the search that reads them.
//
// # Index
//
// Each shard ({s07}) has three sets of entries, kept in byte order
// (sorted sets, all scores 0, read with ZRANGEBYLEX):
//
//	{s07}:px2:n  NAME\x00pid             one per prospect: the list "by name"
//	{s07}:px2:t  TERM\x00pid             the other search terms
//	{s07}:px2:o  OWNER\x00NAME\x00pid    one per prospect with an owner
//
// Each set is a directory of buckets (bucketLua): the key above is a
// sorted set of bounds, and KEY:BOUND holds at most 64 entries from that
// bound to the next, so Redis keeps every bucket compact (a listpack,
// 35-70 bytes an entry instead of about 150 in one large sorted set).
// {s07}:px2:c counts each set's entries.
//
// NAME is the folded "first last" (lower case, accents and case folded,
// spaces collapsed), else the email, else the phone's digits. TERMs are
// the folded last name alone, the email, the folded company and the
// phone's E.164 digits, each once. Terms are cut to termMax bytes: a
// longer query is looked up by its first termMax bytes and checked
// against the profile. A prospect's entries live in its own shard, so the
// script that writes them (indexProspects, one call per shard for a
// batch) touches profile keys and the three sets of one hash slot.
//
// Writes: IndexProspects runs after a profile is written, with the
// profile before it (UpsertProspects' second result); worker.Engine's
// UpsertProspects, which every prospect write goes through, calls it.
// (UpsertProspects alone does not: a caller of the store that bypasses
// the engine indexes for itself.) For each
// prospect the script removes the entries the old profile had and the new
// one does not, and adds the new ones — only if the profile stored is
// still the one written (compared by SHA-1), so of two racing writes of
// one prospect the last one's entries win. A crash between the profile write and the index
// write leaves the prospect out until its next write or a reindex; an
// entry left behind by a race is dropped by the search that meets it.
// ReindexProspects rebuilds the entries of every stored prospect (a
// deployment that has prospects from before the index) and then sets the
// version key, which IndexReady reads.
//
// # Search
//
// A search has one driver — the ranges it walks in member order — and
// filters it checks on each candidate:
//
//   - q (text): for each query form (the folded text, or a phone number's
//     digits with and without the default country code) the range
//     [form, form\xff] of the name and term sets of every shard;
//   - owner: the range [owner\x00, owner\x00\xff] of the owner sets;
//   - neither: the name sets from the start.
//
// With both q and owner, the smaller (ZLEXCOUNT) drives and the other is
// a filter. The shards' ranges are merged in member order, so pages are
// in a stable order (by name for owner and "all", by the matching term for
// q) and a cursor is simply the last member consumed. A prospect met
// through several terms is returned once, at the smallest of its matching
// members. Cadence, stage and state are checked in Redis before the
// profile is read: one script per shard looks at the candidates'
// enrollment records (their ids are deterministic, pid~cadence) and
// returns the ones that pass. Each call examines at most ScanLimit candidates: a
// rare filter answers with a partial page and a cursor to continue
// ("searched N so far") rather than a slow request.
//
// Limits: q matches the start of a name, last name, email, company or phone
// number, not a word inside them ("engines" does not find "Analytical
// Engines"); a filter that matches few prospects of a large driver range
// takes several pages (each bounded) to list them all; pages are
// consistent under concurrent writes only in that no prospect is returned
// twice by one page and members written behind the cursor are not seen.

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"github.com/redis/go-redis/v9"
	"golang.org/x/text/unicode/norm"

	"github.com/nurture-dev/nurture/cadence"
)

// prospectIndexVersion names the index layout; it is part of the index
// key names, so a new layout is built beside the old one by a reindex.
const prospectIndexVersion = "2"

// termMax is how many bytes of a term the index keeps; ownerSortMax how
// many of the name an owner entry keeps to sort by. They keep entries
// within the 64 bytes Redis allows a compact (listpack) bucket's members
// (zset-max-listpack-value) for ids up to about 45 bytes; a longer entry
// makes its bucket a plain sorted set, about twice the memory.
const (
	termMax      = 16
	ownerSortMax = 10
)

func (k Keys) prospectIndex(shard int) string { return k.tag(shard) + ":px" + prospectIndexVersion }

// ProspectNameIndex is the directory of a shard's name entries
// ("NAME\x00pid", one per prospect): a sorted set of bucket bounds, each
// bucket the sorted set ProspectNameIndex(shard)+":"+bound of the entries
// from its bound to the next one (prospect_index.go).
func (k Keys) ProspectNameIndex(shard int) string { return k.prospectIndex(shard) + ":n" }

// ProspectTermIndex is the directory of a shard's term entries
// ("TERM\x00pid": last name, email, company, phone digits).
func (k Keys) ProspectTermIndex(shard int) string { return k.prospectIndex(shard) + ":t" }

// ProspectOwnerIndex is the directory of a shard's owner entries
// ("OWNER\x00NAME\x00pid").
func (k Keys) ProspectOwnerIndex(shard int) string { return k.prospectIndex(shard) + ":o" }

// ProspectIndexCounts is a shard's hash of how many entries each set
// holds (fields n, t, o).
func (k Keys) ProspectIndexCounts(shard int) string { return k.prospectIndex(shard) + ":c" }

// ProspectIndexVersion holds the index version once ReindexProspects has
// indexed every stored prospect.
func (k Keys) ProspectIndexVersion() string { return k.Prefix + ":{idx}:px:version" }

// foldText is text as the index compares it: lower case, accents removed
// (NFKD without combining marks; ß → ss, æ → ae, ø → o, ł → l …), control
// characters dropped, runs of spaces one space, no space at either end.
func foldText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if r < utf8.RuneSelf {
			b.WriteByte(byte(unicode.ToLower(r)))
			continue
		}
		if f, ok := foldSpecial[r]; ok {
			b.WriteString(f)
			continue
		}
		for _, d := range norm.NFKD.String(string(r)) {
			if !unicode.Is(unicode.Mn, d) {
				b.WriteRune(unicode.ToLower(d))
			}
		}
	}
	return b.String()
}

var foldSpecial = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe", 'ø': "o", 'Ø': "o", 'ł': "l", 'Ł': "l",
	'đ': "d", 'Đ': "d", 'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th", 'ı': "i", 'ħ': "h", 'Ħ': "h",
	'’': "'", '‘': "'", 'ʼ': "'", '–': "-", '—': "-", '‐': "-", '‑': "-",
}

// digits keeps the ASCII digits of s.
func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// cut shortens a term to at most termMax bytes, at a character boundary.
func cut(t string) string { return cutTo(t, termMax) }

// cutTo shortens t to at most n bytes, at a character boundary.
func cutTo(t string, n int) string {
	if len(t) <= n {
		return t
	}
	i := n
	for i > 0 && !utf8.RuneStart(t[i]) {
		i--
	}
	return t[:i]
}

// clean drops the member separator from a value that reached the store
// without Normalize (which refuses control characters).
func clean(s string) string { return strings.ReplaceAll(s, "\x00", "") }

// prospectTerms are a prospect's searchable values, folded and whole.
type prospectTerms struct {
	name  string   // the sort key: "first last", else email, else phone digits
	terms []string // last name, email, company, phone digits; not the name
}

func termsOf(p *Prospect) prospectTerms {
	first, last := foldText(p.FirstName), foldText(p.LastName)
	email, phone := foldText(p.Email), digits(p.Phone)
	t := prospectTerms{name: strings.TrimSpace(first + " " + last)}
	if t.name == "" {
		t.name = email
	}
	if t.name == "" {
		t.name = phone
	}
	add := func(term string) {
		if term != "" && term != t.name && !slices.Contains(t.terms, term) {
			t.terms = append(t.terms, term)
		}
	}
	if first != "" {
		add(last) // without a first name the name is the last name
	}
	add(email)
	add(foldText(p.Company))
	add(phone)
	return t
}

// all lists the name and the other terms.
func (t prospectTerms) all() []string { return append([]string{t.name}, t.terms...) }

// indexMembers are a prospect's members in the three sets.
type indexMembers struct {
	name  string
	terms []string
	owner string // "" without an owner
}

func membersOf(p *Prospect) indexMembers {
	t := termsOf(p)
	pid := clean(p.ID)
	m := indexMembers{name: cut(t.name) + "\x00" + pid}
	for _, term := range t.terms {
		if mem := cut(term) + "\x00" + pid; mem != m.name && !slices.Contains(m.terms, mem) {
			m.terms = append(m.terms, mem)
		}
	}
	if o := clean(p.Owner); o != "" {
		m.owner = o + "\x00" + cutTo(t.name, ownerSortMax) + "\x00" + pid
	}
	return m
}

// memberPID is the prospect id a member ends with.
func memberPID(m string) string { return m[strings.LastIndexByte(m, 0)+1:] }

// bucketLua keeps a set of entries as buckets: a directory (a sorted set
// of bounds, the first "") and for each bound a sorted set DIR:BOUND of the
// entries from it up to the next bound. A bucket holds at most 64
// entries, so Redis keeps it compact (listpack, about 2.5 times smaller
// than a large sorted set; 64 rather than the 128 Redis allows because an
// insert copies the listpack: half the size, half the write cost, 3 % more
// memory); a full one splits in two, an empty one leaves the directory. Bucket keys share the directory's hash tag. Lua compares
// strings with the server's locale, so every order comparison is left to
// Redis (lex ranges); the scripts only test equality.
const bucketLua = `
local idx_size, idx_delta = {}, {}
local function idx_bucket(dir, m)
  local b = redis.call('ZREVRANGEBYLEX', dir, '[' .. m, '-', 'LIMIT', 0, 1)[1]
  if not b then return nil, nil end
  return dir .. ':' .. b, b
end
local function idx_len(key)
  if not idx_size[key] then idx_size[key] = redis.call('ZCARD', key) end
  return idx_size[key]
end
local function idx_add(dir, field, m)
  local key = idx_bucket(dir, m)
  if not key then
    redis.call('ZADD', dir, 0, '')
    key = dir .. ':'
  end
  local n = idx_len(key)
  if redis.call('ZADD', key, 0, m) == 0 then return end
  idx_delta[field] = (idx_delta[field] or 0) + 1
  n = n + 1
  idx_size[key] = n
  if n <= 64 then return end
  local half = math.floor(n / 2)
  local moved = redis.call('ZRANGE', key, half, -1)
  local z = {}
  for _, v in ipairs(moved) do z[#z + 1] = 0; z[#z + 1] = v end
  redis.call('ZADD', dir .. ':' .. moved[1], unpack(z))
  redis.call('ZREMRANGEBYRANK', key, half, -1)
  redis.call('ZADD', dir, 0, moved[1])
  idx_size[key], idx_size[dir .. ':' .. moved[1]] = half, #moved
end
local function idx_rem(dir, field, m)
  local key, b = idx_bucket(dir, m)
  if not key then return end
  local n = idx_len(key)
  if redis.call('ZREM', key, m) == 0 then return end
  idx_delta[field] = (idx_delta[field] or 0) - 1
  idx_size[key] = n - 1
  if b ~= '' and n == 1 then redis.call('ZREM', dir, b) end
end
local function idx_flush(counts)
  for f, d in pairs(idx_delta) do
    if d ~= 0 then redis.call('HINCRBY', counts, f, d) end
  end
end
`

// indexProspects brings prospects' entries in step with their profiles,
// for prospects of one shard.
// KEYS[1..3] the name, term and owner directories of the shard, KEYS[4]
// its counts, KEYS[5..] the prospects' profiles (buckets are reached from
// the directories, in the same slot). ARGV, per prospect in KEYS order:
// the SHA-1 (hex) of the profile the entries are for; six counts, of the
// members that follow to remove from the name, term and owner sets and
// then to add to them; then those members in that order. A prospect whose
// stored profile is not the one described is left alone (the write that
// replaced it indexes itself). Returns, per prospect, 1 when applied and 0
// when not.
var indexProspects = redis.NewScript(bucketLua + `
local a, out, fields = 1, {}, {'n', 't', 'o'}
for p = 5, #KEYS do
  local cur = redis.call('GET', KEYS[p])
  local ok = cur and redis.sha1hex(cur) == ARGV[a]
  local n = {}
  for g = 1, 6 do n[g] = tonumber(ARGV[a + g]) end
  a = a + 7
  for g = 1, 6 do
    local set = 1 + (g - 1) % 3
    if ok then
      for j = 0, n[g] - 1 do
        if g <= 3 then idx_rem(KEYS[set], fields[set], ARGV[a + j]) else idx_add(KEYS[set], fields[set], ARGV[a + j]) end
      end
    end
    a = a + n[g]
  end
  out[#out + 1] = ok and 1 or 0
end
idx_flush(KEYS[4])
return out
`)

// indexRange reads up to n entries of a range of a bucketed set, from a
// position, walking the buckets in order (or in reverse).
// KEYS[1] the directory. ARGV[1] "1" to read descending; ARGV[2], ARGV[3]
// the lex bounds to read between, as ZRANGEBYLEX takes them (min, max; for
// descending max, min); ARGV[4] the entry or bound to start the walk at
// ("" for the end, descending); ARGV[5] the lex bound beyond which no
// bucket is read ("+" / "-" for none): for ascending the range's max, for
// descending "(" + the range's low end; ARGV[6] n. Returns the entries.
var indexRange = redis.NewScript(`
local dir, n, out = KEYS[1], tonumber(ARGV[6]), {}
local function push(ms) for _, m in ipairs(ms) do out[#out + 1] = m end end
if ARGV[1] ~= '1' then
  local b = redis.call('ZREVRANGEBYLEX', dir, '[' .. ARGV[4], '-', 'LIMIT', 0, 1)[1]
  while b and #out < n do
    push(redis.call('ZRANGEBYLEX', dir .. ':' .. b, ARGV[2], ARGV[3], 'LIMIT', 0, n - #out))
    b = redis.call('ZRANGEBYLEX', dir, '(' .. b, ARGV[5], 'LIMIT', 0, 1)[1]
  end
else
  local b
  if ARGV[4] == '' then b = redis.call('ZREVRANGE', dir, 0, 0)[1] else b = redis.call('ZREVRANGEBYLEX', dir, '[' .. ARGV[4], '-', 'LIMIT', 0, 1)[1] end
  while b and #out < n do
    push(redis.call('ZREVRANGEBYLEX', dir .. ':' .. b, ARGV[2], ARGV[3], 'LIMIT', 0, n - #out))
    -- Earlier buckets hold entries below b: read on only if b is above the low end.
    if ARGV[5] ~= '-' and not redis.call('ZRANGEBYLEX', dir, ARGV[5], '[' .. b, 'LIMIT', 0, 1)[1] then break end
    b = redis.call('ZREVRANGEBYLEX', dir, '(' .. b, '-', 'LIMIT', 0, 1)[1]
  end
end
return out
`)

// indexCount counts the entries of a bucketed set between two lex
// bounds: exactly when the range spans a few buckets, else estimated from
// how many buckets it spans and the set's average bucket, so counting a
// large range (the biggest book, q=a) costs no more than a small one.
// KEYS[1] the directory, KEYS[2] the shard's counts. ARGV[1] the low end
// ("[" + prefix), ARGV[2] the high end ("[" + prefix + "\xff"), ARGV[3]
// the set's counts field.
var indexCount = redis.NewScript(`
local dir, total = KEYS[1], 0
local inside = redis.call('ZLEXCOUNT', dir, ARGV[1], ARGV[2])
if inside > 4 then
  local entries = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
  return math.floor(inside * entries / math.max(redis.call('ZCARD', dir), 1))
end
local b = redis.call('ZREVRANGEBYLEX', dir, ARGV[1], '-', 'LIMIT', 0, 1)[1]
while b do
  total = total + redis.call('ZLEXCOUNT', dir .. ':' .. b, ARGV[1], ARGV[2])
  b = redis.call('ZRANGEBYLEX', dir, '(' .. b, ARGV[2], 'LIMIT', 0, 1)[1]
end
return total
`)

// indexPerCall bounds the prospects one indexProspects call writes, so
// one call never holds Redis long.
const indexPerCall = 100

// dropStaleEntry removes an index entry the search found stale, unless
// the profile changed since the search read it.
// KEYS[1] profile, KEYS[2] the set's directory, KEYS[3] the shard's
// counts. ARGV[1] SHA-1 (hex) of the profile as read ("" when there was
// none), ARGV[2] the entry, ARGV[3] the set's counts field.
var dropStaleEntry = redis.NewScript(bucketLua + `
local cur = redis.call('GET', KEYS[1])
local h = ''
if cur then h = redis.sha1hex(cur) end
if h ~= ARGV[1] then return 0 end
idx_rem(KEYS[2], ARGV[3], ARGV[2])
idx_flush(KEYS[3])
return 1
`)

func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// indexArgs are indexProspects' arguments for a prospect whose profile
// blob is as given and whose previous profile was old (nil: none known;
// nothing is removed).
func indexArgs(p, old *Prospect, blob string) []any {
	cur := membersOf(p)
	var prev indexMembers
	if old != nil {
		prev = membersOf(old)
	}
	group := func(members ...string) []string {
		var out []string
		for _, m := range members {
			if m != "" {
				out = append(out, m)
			}
		}
		return out
	}
	gone := func(before, after []string) []string {
		var out []string
		for _, m := range before {
			if !slices.Contains(after, m) {
				out = append(out, m)
			}
		}
		return out
	}
	newNames, newTerms, newOwners := group(cur.name), group(cur.terms...), group(cur.owner)
	rmNames, rmTerms, rmOwners := gone(group(prev.name), newNames), gone(group(prev.terms...), newTerms), gone(group(prev.owner), newOwners)
	args := []any{sha1Hex(blob), len(rmNames), len(rmTerms), len(rmOwners), len(newNames), len(newTerms), len(newOwners)}
	for _, g := range [][]string{rmNames, rmTerms, rmOwners, newNames, newTerms, newOwners} {
		for _, m := range g {
			args = append(args, m)
		}
	}
	return args
}

// indexWrite is one prospect to index: its profile as stored, and the
// profile it replaced (nil when none is known).
type indexWrite struct {
	p, old *Prospect
	blob   string
}

// writeIndex runs indexProspects for the writes, grouped by shard (at most
// indexPerCall a call), in one round trip; one error per write.
func (s *Store) writeIndex(ctx context.Context, ws []indexWrite) []error {
	out := make([]error, len(ws))
	type call struct {
		shard int
		at    []int
	}
	var calls []call
	open := map[int]int{} // shard -> its call being filled
	for i, w := range ws {
		sh := Shard(w.p.ID)
		j, ok := open[sh]
		if !ok || len(calls[j].at) >= indexPerCall {
			calls = append(calls, call{shard: sh})
			j = len(calls) - 1
			open[sh] = j
		}
		calls[j].at = append(calls[j].at, i)
	}
	cmds := s.pipelineScript(ctx, indexProspects, len(calls), func(j int) ([]string, []any) {
		sh := calls[j].shard
		keys := []string{s.keys.ProspectNameIndex(sh), s.keys.ProspectTermIndex(sh), s.keys.ProspectOwnerIndex(sh), s.keys.ProspectIndexCounts(sh)}
		var args []any
		for _, i := range calls[j].at {
			keys = append(keys, s.keys.Prospect(ws[i].p.ID))
			args = append(args, indexArgs(ws[i].p, ws[i].old, ws[i].blob)...)
		}
		return keys, args
	})
	for j, c := range cmds {
		if err := c.Err(); err != nil {
			for _, i := range calls[j].at {
				out[i] = fmt.Errorf("prospect %s: search index: %w", ws[i].p.ID, err)
			}
		}
	}
	return out
}

// IndexProspects brings the search index in step with prospects just
// written by UpsertProspects: olds is its second result (the profiles they
// replaced, nil for new ones or when unknown) and errs its first (a
// prospect with an error is skipped; errs may be nil). One round trip;
// the result has one error per prospect. A prospect written again
// meanwhile is left to that write (see indexProspects).
func (s *Store) IndexProspects(ctx context.Context, ps, olds []*Prospect, errs []error) []error {
	out := make([]error, len(ps))
	var ws []indexWrite
	var at []int
	for i, p := range ps {
		if (errs == nil || errs[i] == nil) && p != nil {
			var old *Prospect
			if i < len(olds) {
				old = olds[i]
			}
			ws, at = append(ws, indexWrite{p: p, old: old, blob: encodeProspect(p)}), append(at, i)
		}
	}
	for j, err := range s.writeIndex(ctx, ws) {
		out[at[j]] = err
	}
	return out
}

// IndexReady reports whether ReindexProspects has indexed the prospects
// stored before the index existed (the version key is set).
func (s *Store) IndexReady(ctx context.Context) (bool, error) {
	v, err := s.rdb.Get(ctx, s.keys.ProspectIndexVersion()).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return v == prospectIndexVersion, err
}

// reindexBatch is how many prospects ReindexProspects reads and indexes
// per round trip.
const reindexBatch = 500

// ReindexProspects indexes every stored prospect (SCAN over each master)
// and then sets the version key. It only adds entries, so it is safe
// while the service runs and may be run again; stale entries from before
// are dropped by the searches that meet them. progress, if not nil, is
// called after each batch with the count so far. It returns how many
// prospects it indexed.
func (s *Store) ReindexProspects(ctx context.Context, progress func(done int)) (int, error) {
	pattern := globEscape(s.keys.Prefix) + ":{s??}:p:*"
	var done atomic.Int64
	var mu sync.Mutex
	report := func(n int) {
		total := int(done.Add(int64(n)))
		if progress != nil {
			mu.Lock()
			progress(total)
			mu.Unlock()
		}
	}
	scanNode := func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			n, err := s.reindexKeys(ctx, batch)
			batch = batch[:0]
			if err != nil {
				return err
			}
			report(n)
			return nil
		}
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			for _, k := range keys {
				_, pid, ok := strings.Cut(k[len(s.keys.Prefix):], ":p:")
				if !ok || pid == "" || strings.Contains(pid, ":") {
					continue // a prospect's other keys (pid:m, pid:sends …)
				}
				if batch = append(batch, k); len(batch) >= reindexBatch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		return flush()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scanNode(ctx, node) })
	} else {
		err = scanNode(ctx, s.rdb)
	}
	if err != nil {
		return int(done.Load()), fmt.Errorf("reindexing prospects: %w", err)
	}
	if err := s.dropOldLayouts(ctx); err != nil {
		return int(done.Load()), fmt.Errorf("reindexing prospects: %w", err)
	}
	if err := s.rdb.Set(ctx, s.keys.ProspectIndexVersion(), prospectIndexVersion, 0).Err(); err != nil {
		return int(done.Load()), fmt.Errorf("reindexing prospects: %w", err)
	}
	return int(done.Load()), nil
}

// dropOldLayouts deletes the keys of earlier index layouts
// ({s07}:px1:…), which nothing reads once this layout is built.
func (s *Store) dropOldLayouts(ctx context.Context) error {
	scan := func(ctx context.Context, node redis.Cmdable) error {
		for v := 1; strconv.Itoa(v) != prospectIndexVersion; v++ {
			iter := node.Scan(ctx, 0, globEscape(s.keys.Prefix)+":{s??}:px"+strconv.Itoa(v)+":*", 1000).Iterator()
			for iter.Next(ctx) {
				if err := s.rdb.Unlink(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			if err := iter.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	}
	return scan(ctx, s.rdb)
}

// reindexKeys indexes the prospects stored at keys.
func (s *Store) reindexKeys(ctx context.Context, keys []string) (int, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	type item struct {
		p    *Prospect
		blob string
	}
	var items []item
	for _, c := range cmds {
		blob, err := c.Result()
		if err != nil {
			continue // gone since the scan
		}
		var p Prospect
		if json.Unmarshal([]byte(blob), &p) != nil || p.ID == "" {
			continue // not a profile we can read: left out of the index
		}
		items = append(items, item{&p, blob})
	}
	ws := make([]indexWrite, len(items))
	for i, it := range items {
		ws[i] = indexWrite{p: it.p, blob: it.blob}
	}
	for _, err := range s.writeIndex(ctx, ws) {
		if err != nil {
			return 0, err
		}
	}
	return len(items), nil
}

// Search limits.
const (
	// DefaultSearchLimit is a page's size when the query gives none.
	DefaultSearchLimit = 25
	// MaxSearchLimit is the largest page.
	MaxSearchLimit = 100
	// DefaultScanLimit is how many index entries one search call examines
	// at most before answering with what it found.
	DefaultScanLimit = 5000
	// MaxQueryLen bounds the search text.
	MaxQueryLen = 200
)

// ProspectQuery is a prospect search. Every field is optional.
type ProspectQuery struct {
	// Text matches the start of a prospect's first name, last name,
	// email, company or phone number, case- and accent-insensitively; a
	// phone number matches by its digits, with or without the country
	// code.
	Text string
	// Owner keeps only the prospects this rep owns.
	Owner string
	// Cadence, Stage and State keep the prospects with an enrollment that
	// is in that cadence, at that stage, in that state (all that are
	// given must hold for one enrollment).
	Cadence string
	Stage   string
	State   cadence.State
	// Cursor continues a search from a page's Next or Prev.
	Cursor string
	// Limit is the page size (default DefaultSearchLimit, at most
	// MaxSearchLimit).
	Limit int
	// Cadences lists the cadences whose enrollments are read for the
	// results and for Stage and State without Cadence (worker.Engine
	// passes the loaded ones).
	Cadences []string
	// Region reads a phone number typed without a country code (ISO
	// 3166, e.g. "US").
	Region string
	// ScanLimit bounds the index entries one call examines (default
	// DefaultScanLimit).
	ScanLimit int
}

// QueryError is a search parameter the store refused.
type QueryError struct {
	Param, Value, Msg string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Param, excerpt(e.Value), e.Msg)
}

// ProspectHit is one prospect a search found, with its enrollments in
// the query's Cadences.
type ProspectHit struct {
	Prospect    *Prospect
	Enrollments []cadence.Enrollment
}

// ProspectPage is one page of a search.
type ProspectPage struct {
	Hits []ProspectHit
	// Next continues after this page, Prev goes back before it; "" when
	// there is nothing more that way.
	Next, Prev string
	// Searched counts the index entries examined by this search so far
	// (this page and the ones it continues).
	Searched int
	// Candidates is how many index entries the search walks through,
	// counted at its first page (estimated from the bucket counts for a
	// range wider than a few buckets): Searched of about Candidates.
	Candidates int
	// Partial says the page stopped at the scan limit before it was full:
	// Next continues the search.
	Partial bool
	// IndexReady is IndexReady: false means prospects stored before the
	// index may be missing until ReindexProspects runs.
	IndexReady bool
}

// Search drivers.
const (
	driveText  = "q"
	driveOwner = "o"
	driveWarm  = "w" // the warm index (store.go's WarmIndex), for state=warm
	driveAll   = "a"
)

// searchCursor is the state a cursor carries (base64url JSON; the engine
// encrypts it before it leaves the process).
type searchCursor struct {
	V          int    `json:"v"`
	Driver     string `json:"d"`
	Pos        string `json:"p"`
	Reverse    bool   `json:"r,omitempty"`
	Hash       string `json:"h"`
	Searched   int    `json:"s,omitempty"`
	Candidates int    `json:"c,omitempty"`
}

func (c searchCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// search is a checked query.
type search struct {
	ProspectQuery
	forms []string // folded query forms (text, or phone digits)
	hash  string
}

// phoneForms are the digit strings a phone-like query may start an E.164
// number with (nil when q is not phone-like): its digits as typed, and
// unless it starts with + or 00, with region's country code in front of
// them (a leading trunk 0 dropped).
func phoneForms(q, region string) []string {
	hasDigit := false
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			hasDigit = true
		case strings.ContainsRune("+-(). ", r):
		default:
			return nil
		}
	}
	d := digits(q)
	if !hasDigit {
		return nil
	}
	q = strings.TrimSpace(q)
	switch {
	case strings.HasPrefix(q, "+"):
		return []string{d}
	case strings.HasPrefix(q, "00") && len(d) > 2:
		return []string{d, d[2:]}
	}
	forms := []string{d}
	if cc := phonenumbers.GetCountryCodeForRegion(strings.ToUpper(region)); cc > 0 {
		forms = append(forms, strconv.Itoa(cc)+strings.TrimPrefix(d, "0"))
	}
	return forms
}

// minimalForms drops forms another form is a prefix of (their ranges are
// inside its range).
func minimalForms(forms []string) []string {
	var out []string
	for i, f := range forms {
		covered := false
		for j, g := range forms {
			if i != j && strings.HasPrefix(f, g) && (len(g) < len(f) || j < i) {
				covered = true
			}
		}
		if !covered && f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s *Store) checkQuery(q ProspectQuery) (*search, error) {
	q.Text, q.Owner, q.Cadence, q.Stage = strings.TrimSpace(q.Text), strings.TrimSpace(q.Owner), strings.TrimSpace(q.Cadence), strings.TrimSpace(q.Stage)
	switch {
	case len(q.Text) > MaxQueryLen:
		return nil, &QueryError{"q", q.Text, fmt.Sprintf("at most %d bytes", MaxQueryLen)}
	case !utf8.ValidString(q.Text):
		return nil, &QueryError{"q", q.Text, "not valid UTF-8"}
	case len(q.Owner) > MaxOwnerLen:
		return nil, &QueryError{"owner", q.Owner, fmt.Sprintf("at most %d bytes", MaxOwnerLen)}
	case strings.ContainsRune(q.Owner, 0):
		return nil, &QueryError{"owner", q.Owner, "control characters are not allowed"}
	case len(q.Cadence) > MaxIDLen:
		return nil, &QueryError{"cadence", q.Cadence, fmt.Sprintf("at most %d bytes", MaxIDLen)}
	case len(q.Stage) > MaxIDLen:
		return nil, &QueryError{"stage", q.Stage, fmt.Sprintf("at most %d bytes", MaxIDLen)}
	case q.State != "" && !slices.Contains(cadence.States, q.State):
		var names []string
		for _, st := range cadence.States {
			names = append(names, string(st))
		}
		return nil, &QueryError{"state", string(q.State), "want one of " + strings.Join(names, ", ")}
	case q.Limit < 0 || q.Limit > MaxSearchLimit:
		return nil, &QueryError{"limit", strconv.Itoa(q.Limit), fmt.Sprintf("want 1 to %d", MaxSearchLimit)}
	}
	if q.Limit == 0 {
		q.Limit = DefaultSearchLimit
	}
	if q.ScanLimit <= 0 {
		q.ScanLimit = DefaultScanLimit
	}
	sr := &search{ProspectQuery: q}
	if q.Text != "" {
		forms := phoneForms(q.Text, q.Region)
		if forms == nil {
			forms = []string{foldText(q.Text)}
		}
		sr.forms = minimalForms(forms)
		if len(sr.forms) == 0 {
			return nil, &QueryError{"q", q.Text, "has nothing to search for"}
		}
	}
	h := fnv.New64a()
	for _, part := range append([]string{q.Owner, q.Cadence, q.Stage, string(q.State)}, sr.forms...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	sr.hash = strconv.FormatUint(h.Sum64(), 36)
	return sr, nil
}

func (sr *search) decodeCursor() (*searchCursor, error) {
	if sr.Cursor == "" {
		return nil, nil
	}
	bad := &QueryError{"cursor", sr.Cursor, "not a cursor from this search; start again without it"}
	b, err := base64.RawURLEncoding.DecodeString(sr.Cursor)
	if err != nil {
		return nil, bad
	}
	var c searchCursor
	if json.Unmarshal(b, &c) != nil || c.V != 1 || !slices.Contains([]string{driveText, driveOwner, driveWarm, driveAll}, c.Driver) {
		return nil, bad
	}
	if c.Hash != sr.hash || (c.Driver == driveText && sr.Text == "") || (c.Driver == driveOwner && sr.Owner == "") || (c.Driver == driveWarm && sr.State != cadence.Warm) {
		return nil, &QueryError{"cursor", sr.Cursor, "belongs to another search (q or a filter changed); start again without it"}
	}
	return &c, nil
}

// source is one lex range of one sorted set, read in chunks.
type source struct {
	key    string // the set's directory
	counts string // the shard's counts, and the set's field in it
	field  string
	lo, hi string // inclusive bounds; "" is open
	buf    []string
	done   bool // nothing left beyond buf
	from   string
}

// sources are the ranges a driver walks.
func (s *Store) sources(sr *search, driver string) []*source {
	var out []*source
	for sh := 0; sh < Shards; sh++ {
		counts := s.keys.ProspectIndexCounts(sh)
		switch driver {
		case driveText:
			for _, set := range []struct{ key, field string }{{s.keys.ProspectNameIndex(sh), "n"}, {s.keys.ProspectTermIndex(sh), "t"}} {
				for _, f := range sr.forms {
					out = append(out, &source{key: set.key, counts: counts, field: set.field, lo: cut(f), hi: cut(f) + "\xff"})
				}
			}
		case driveOwner:
			out = append(out, &source{key: s.keys.ProspectOwnerIndex(sh), counts: counts, field: "o", lo: sr.Owner + "\x00", hi: sr.Owner + "\x00\xff"})
		default:
			out = append(out, &source{key: s.keys.ProspectNameIndex(sh), counts: counts, field: "n"})
		}
	}
	return out
}

func lexBound(v, open string, inclusive bool) string {
	if v == "" {
		return open
	}
	if inclusive {
		return "[" + v
	}
	return "(" + v
}

// rangeArgs are indexRange's arguments for a source's next n entries from
// its position.
func (src *source) rangeArgs(rev bool, n int) []any {
	if !rev {
		min, start := lexBound(src.lo, "-", true), src.lo
		if src.from != "" && src.from >= src.lo {
			min, start = "("+src.from, src.from
		}
		max := lexBound(src.hi, "+", true)
		return []any{"0", min, max, start, max, n}
	}
	max, start := lexBound(src.hi, "+", true), src.hi
	if src.from != "" && (src.hi == "" || src.from <= src.hi) {
		max, start = "("+src.from, src.from
	}
	return []any{"1", max, lexBound(src.lo, "-", true), start, lexBound(src.lo, "-", false), n}
}

// walker yields a driver's entries in order: n at most per call, and
// whether there are no more after them.
type walker interface {
	next(ctx context.Context, n int) ([]string, bool, error)
}

// merger reads sources in member order (descending when rev).
type merger struct {
	s    *Store
	srcs []*source
	rev  bool
	last string
	// chunk is how many members a source reads at a time.
	chunk int
}

func (m *merger) less(a, b string) bool {
	if m.rev {
		return a > b
	}
	return a < b
}

// fill reads every source whose buffer is empty, and tops up those
// running low in the same round trip.
func (m *merger) fill(ctx context.Context) error {
	var need []*source
	empty := false
	for _, src := range m.srcs {
		if !src.done && len(src.buf) == 0 {
			empty = true
		}
	}
	if !empty {
		return nil
	}
	for _, src := range m.srcs {
		if !src.done && len(src.buf) < m.chunk/4+1 {
			need = append(need, src)
		}
	}
	cmds := m.s.pipelineScript(ctx, indexRange, len(need), func(i int) ([]string, []any) {
		return []string{need[i].key}, need[i].rangeArgs(m.rev, m.chunk)
	})
	for i, src := range need {
		got, err := cmds[i].StringSlice()
		if err != nil {
			return fmt.Errorf("reading the search index: %w", err)
		}
		if len(got) < m.chunk {
			src.done = true
		}
		if len(got) > 0 {
			src.from = got[len(got)-1]
			src.buf = append(src.buf, got...)
		}
	}
	return nil
}

// next returns up to n members in order and whether the ranges are
// exhausted after them.
func (m *merger) next(ctx context.Context, n int) ([]string, bool, error) {
	m.chunk = min(1000, max(16, 2*n/len(m.srcs)+8))
	var out []string
	for len(out) < n {
		if err := m.fill(ctx); err != nil {
			return out, false, err
		}
		var best *source
		for _, src := range m.srcs {
			if len(src.buf) > 0 && (best == nil || m.less(src.buf[0], best.buf[0])) {
				best = src
			}
		}
		if best == nil {
			return out, true, nil
		}
		mem := best.buf[0]
		best.buf = best.buf[1:]
		if mem == m.last {
			continue // the same member in two ranges
		}
		m.last = mem
		out = append(out, mem)
	}
	for _, src := range m.srcs {
		if len(src.buf) > 0 || !src.done {
			return out, false, nil
		}
	}
	return out, true, nil
}

// candidate is one member met, with what checking it found.
type candidate struct {
	member string
	pid    string
	p      *Prospect
	blob   string
	match  bool
	stale  bool
}

// SearchProspects runs one page of a search (see the file comment): hits
// in index order, and cursors to go on. Bad parameters are *QueryError.
func (s *Store) SearchProspects(ctx context.Context, q ProspectQuery) (ProspectPage, error) {
	sr, err := s.checkQuery(q)
	if err != nil {
		return ProspectPage{}, err
	}
	cur, err := sr.decodeCursor()
	if err != nil {
		return ProspectPage{}, err
	}
	var page ProspectPage
	st := searchCursor{V: 1, Hash: sr.hash}
	if cur != nil {
		st = *cur
	}
	// The first page picks the driver — the smallest of the ranges that
	// apply — and counts its entries; every page reads the version key.
	var drivers []string
	if cur == nil {
		if sr.Text != "" {
			drivers = append(drivers, driveText)
		}
		if sr.Owner != "" {
			drivers = append(drivers, driveOwner)
		}
		if sr.State == cadence.Warm {
			drivers = append(drivers, driveWarm)
		}
		if len(drivers) == 0 {
			drivers = []string{driveAll}
		}
	}
	counts := map[string][]func() int64{}
	var ready *redis.StringCmd
	type counted struct {
		driver string
		src    *source
	}
	var ranges []counted
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ready = p.Get(ctx, s.keys.ProspectIndexVersion())
		for _, d := range drivers {
			switch d {
			case driveWarm:
				c := p.ZCard(ctx, s.keys.WarmIndex())
				counts[d] = append(counts[d], c.Val)
			case driveAll:
				for sh := 0; sh < Shards; sh++ {
					c := p.HGet(ctx, s.keys.ProspectIndexCounts(sh), "n")
					counts[d] = append(counts[d], func() int64 { n, _ := c.Int64(); return n })
				}
			default:
				for _, src := range s.sources(sr, d) {
					ranges = append(ranges, counted{d, src})
				}
			}
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return page, err
	}
	if len(ranges) > 0 {
		cmds := s.pipelineScript(ctx, indexCount, len(ranges), func(i int) ([]string, []any) {
			src := ranges[i].src
			return []string{src.key, src.counts}, []any{"[" + src.lo, "[" + src.hi, src.field}
		})
		for i, c := range cmds {
			n, err := c.Int64()
			if err != nil {
				return page, fmt.Errorf("counting search entries: %w", err)
			}
			counts[ranges[i].driver] = append(counts[ranges[i].driver], func() int64 { return n })
		}
	}
	page.IndexReady = ready.Val() == prospectIndexVersion
	if cur == nil {
		sum := func(d string) int {
			n := 0
			for _, c := range counts[d] {
				n += int(c())
			}
			return n
		}
		st.Driver = drivers[0]
		for _, d := range drivers[1:] {
			if sum(d) < sum(st.Driver) {
				st.Driver = d
			}
		}
		st.Candidates = sum(st.Driver)
	}
	page.Candidates = st.Candidates

	var w walker
	if st.Driver == driveWarm {
		w = &warmWalker{s: s, rev: st.Reverse, pos: st.Pos}
	} else {
		m := &merger{s: s, srcs: s.sources(sr, st.Driver), rev: st.Reverse}
		for _, src := range m.srcs {
			src.from = st.Pos
		}
		w = m
	}
	var hits []*candidate
	var stale []*candidate
	examined, lastSeen := 0, ""
	exhausted := false
	batch := 2 * (sr.Limit + 1)
	if sr.Cadence != "" || sr.Stage != "" || sr.State != "" {
		batch = max(batch, 256)
	}
	for len(hits) <= sr.Limit && examined < sr.ScanLimit && !exhausted {
		n := min(batch, sr.ScanLimit-examined)
		members, end, err := w.next(ctx, n)
		if err != nil {
			return page, err
		}
		exhausted = end
		cands, err := s.check(ctx, sr, st.Driver, members)
		if err != nil {
			return page, err
		}
		for _, c := range cands {
			examined++
			lastSeen = c.member
			if c.stale {
				stale = append(stale, c)
			}
			if c.match {
				if hits = append(hits, c); len(hits) > sr.Limit {
					break // the rest of the batch is left for the next page
				}
			}
		}
		batch = min(batch*4, 1024)
	}
	more := len(hits) > sr.Limit // one more than the page: there is a next one
	if more {
		hits = hits[:sr.Limit]
		exhausted = false
	}
	page.Partial = !more && !exhausted && len(hits) < sr.Limit
	page.Searched = st.Searched + examined
	// Where this page ends, in its own direction: after its last hit when
	// it is full, else after the last entry examined.
	end := lastSeen
	if more {
		end = hits[len(hits)-1].member
	}
	start := st.Pos
	if len(hits) > 0 {
		start = hits[0].member
	}
	onward := ""
	if !exhausted {
		onward = searchCursor{V: 1, Driver: st.Driver, Pos: end, Reverse: st.Reverse, Hash: sr.hash, Searched: page.Searched, Candidates: st.Candidates}.encode()
	}
	back := ""
	if cur != nil {
		back = searchCursor{V: 1, Driver: st.Driver, Pos: start, Reverse: !st.Reverse, Hash: sr.hash, Searched: page.Searched, Candidates: st.Candidates}.encode()
	}
	if st.Reverse {
		slices.Reverse(hits)
		page.Prev, page.Next = onward, back
	} else {
		page.Next, page.Prev = onward, back
	}
	if err := s.dropStale(ctx, st.Driver, stale); err != nil {
		return page, err
	}
	return page, s.fillHits(ctx, sr, hits, &page)
}

// enrollmentFilter lists the cadences whose enrollments a candidate must
// be checked against (nil: no filter).
func (sr *search) enrollmentFilter() []string {
	switch {
	case sr.Cadence != "":
		return []string{sr.Cadence}
	case sr.Stage != "" || sr.State != "":
		return sr.Cadences
	}
	return nil
}

// enrollmentPatterns are the bytes an enrollment record (compact JSON
// from encodeEnrollment: keys "s" and "st", values escaped by
// json.Marshal, so a quoted key cannot occur inside a value) holds when it
// is in the state and at the stage asked for; "" for what is not asked.
func (sr *search) enrollmentPatterns() (state, stage string) {
	if sr.State != "" {
		state = `"s":"` + string(sr.State) + `"`
	}
	if sr.Stage != "" {
		b, _ := json.Marshal(sr.Stage)
		stage = `"st":` + string(b)
	}
	return state, stage
}

// filterEnrollments says which candidates of one shard have an
// enrollment in the state and at the stage asked for, checked in Redis so
// that only the answer crosses the network.
// KEYS: enrollment keys of one shard, candidate after candidate. ARGV[1]
// the state's bytes or "", ARGV[2] the stage's bytes or "" (see
// enrollmentPatterns), ARGV[3..] how many keys each candidate has.
// Returns the 1-based numbers of the candidates with one that matches.
var filterEnrollments = redis.NewScript(`
local out, k = {}, 0
for i = 3, #ARGV do
  local n = tonumber(ARGV[i])
  local hit = false
  for j = 1, n do
    if not hit then
      local v = redis.call('GET', KEYS[k + j])
      hit = v and (ARGV[1] == '' or string.find(v, ARGV[1], 1, true)) and (ARGV[2] == '' or string.find(v, ARGV[2], 1, true)) and true or false
    end
  end
  if hit then out[#out + 1] = i - 2 end
  k = k + n
end
return out
`)

// matchEnrollments runs filterEnrollments once per shard in one round
// trip: groups[i] are candidate i's enrollment ids (all in its shard), and
// the answer says which groups have one in the state and at the stage of
// the search.
func (s *Store) matchEnrollments(ctx context.Context, sr *search, groups [][]string) ([]bool, error) {
	state, stage := sr.enrollmentPatterns()
	byShard := map[int][]int{}
	var shards []int
	for i, g := range groups {
		if len(g) == 0 {
			continue
		}
		sh := shardOfEnrollment(g[0])
		if _, ok := byShard[sh]; !ok {
			shards = append(shards, sh)
		}
		byShard[sh] = append(byShard[sh], i)
	}
	cmds := s.pipelineScript(ctx, filterEnrollments, len(shards), func(j int) ([]string, []any) {
		at := byShard[shards[j]]
		var keys []string
		args := []any{state, stage}
		for _, i := range at {
			for _, eid := range groups[i] {
				keys = append(keys, s.keys.Enrollment(eid))
			}
			args = append(args, len(groups[i]))
		}
		return keys, args
	})
	out := make([]bool, len(groups))
	for j, c := range cmds {
		nums, err := c.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("checking enrollments: %w", err)
		}
		at := byShard[shards[j]]
		for _, n := range nums {
			out[at[n-1]] = true
		}
	}
	return out, nil
}

// warmWalker reads the warm index — enrollment ids scored by when they
// turned warm — newest first (oldest first when rev), by rank. Its
// entries are "MS\x00eid". A cursor's entry is found again by its rank
// if it is still there with the same time, else by its time.
type warmWalker struct {
	s       *Store
	rev     bool
	pos     string // the entry to go on from ("" for the start)
	rank    int64  // the next rank to read, in newest-first order
	started bool
}

func (w *warmWalker) next(ctx context.Context, n int) ([]string, bool, error) {
	key := w.s.keys.WarmIndex()
	if !w.started {
		w.started = true
		if w.pos != "" {
			msText, eid, _ := strings.Cut(w.pos, "\x00")
			var rank *redis.IntCmd
			var score *redis.FloatCmd
			var above, atOrAbove *redis.IntCmd
			if _, err := w.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				rank, score = p.ZRevRank(ctx, key, eid), p.ZScore(ctx, key, eid)
				above, atOrAbove = p.ZCount(ctx, key, "("+msText, "+inf"), p.ZCount(ctx, key, msText, "+inf")
				return nil
			}); err != nil && !errors.Is(err, redis.Nil) {
				return nil, false, err
			}
			if score.Err() == nil && strconv.FormatInt(int64(score.Val()), 10) == msText {
				w.rank = rank.Val() + 1
				if w.rev {
					w.rank = rank.Val() - 1
				}
			} else if w.rank = atOrAbove.Val(); w.rev { // gone, or warm again since: go on from its time
				w.rank = above.Val() - 1
			}
		}
	}
	start, stop := w.rank, w.rank+int64(n)-1
	if w.rev {
		if w.rank < 0 {
			return nil, true, nil
		}
		start, stop = max(0, w.rank-int64(n)+1), w.rank
	}
	zs, err := w.s.rdb.ZRevRangeWithScores(ctx, key, start, stop).Result()
	if err != nil {
		return nil, false, err
	}
	out := make([]string, len(zs))
	for i, z := range zs {
		out[i] = strconv.FormatInt(int64(z.Score), 10) + "\x00" + z.Member.(string)
	}
	if w.rev {
		slices.Reverse(out)
		w.rank = start - 1
		return out, start == 0, nil
	}
	w.rank = stop + 1
	return out, int64(len(zs)) < stop-start+1, nil
}

// enrollmentOf decodes an enrollment read with GET; nil when it is
// missing or unreadable (a search lists what it can read).
func enrollmentOf(c *redis.StringCmd) *cadence.Enrollment {
	v, err := c.Result()
	if err != nil {
		return nil
	}
	_, blob, ok := strings.Cut(v, "\n")
	if !ok {
		return nil
	}
	e, err := decodeEnrollment(blob)
	if err != nil {
		return nil
	}
	return &e
}

// check decides each member: does its prospect pass the filters, and is
// this member the one it is listed at. Candidates failing the enrollment
// filter are decided without reading their profile.
func (s *Store) check(ctx context.Context, sr *search, driver string, members []string) ([]*candidate, error) {
	cands := make([]*candidate, len(members))
	for i, mem := range members {
		cands[i] = &candidate{member: mem, pid: memberPID(mem)}
		if driver == driveWarm {
			cands[i].pid = ProspectOf(cands[i].pid) // the entry names an enrollment
		}
	}
	todo, err := s.enrollmentsPass(ctx, sr, driver, cands)
	if err != nil {
		return nil, err
	}
	if len(todo) == 0 {
		return cands, nil
	}
	blobs := make([]*redis.StringCmd, len(todo))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range todo {
			blobs[i] = p.Get(ctx, s.keys.Prospect(c.pid))
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, c := range todo {
		blob, err := blobs[i].Result()
		if errors.Is(err, redis.Nil) {
			c.stale = driver != driveWarm // an index entry without a profile
			continue
		}
		if err != nil {
			return nil, err
		}
		var p Prospect
		if json.Unmarshal([]byte(blob), &p) != nil {
			continue
		}
		c.p, c.blob = &p, blob
		s.decide(sr, driver, c)
	}
	return cands, nil
}

// enrollmentsPass keeps the candidates with an enrollment that matches
// the search's cadence, stage and state. A warm-index entry stands for its
// own enrollment; a prospect warm in several cadences passes at the
// first of them (by cadence id), so it is listed once.
func (s *Store) enrollmentsPass(ctx context.Context, sr *search, driver string, cands []*candidate) ([]*candidate, error) {
	cads := sr.enrollmentFilter()
	if cads == nil {
		return cands, nil
	}
	groups := make([][]string, len(cands))
	for i, c := range cands {
		if driver != driveWarm {
			for _, cad := range cads {
				groups[i] = append(groups[i], EnrollmentID(c.pid, cad))
			}
			continue
		}
		eid := memberPID(c.member)
		if sr.Cadence == "" || eid == EnrollmentID(c.pid, sr.Cadence) {
			groups[i] = []string{eid}
		}
	}
	ok, err := s.matchEnrollments(ctx, sr, groups)
	if err != nil {
		return nil, err
	}
	var out []*candidate
	for i, c := range cands {
		if ok[i] {
			out = append(out, c)
		}
	}
	if driver != driveWarm || sr.Cadence != "" || len(out) == 0 {
		return out, nil
	}
	earlier := make([][]string, len(out))
	for i, c := range out {
		this := memberPID(c.member)
		for _, cad := range sr.Cadences {
			if eid := EnrollmentID(c.pid, cad); eid < this {
				earlier[i] = append(earlier[i], eid)
			}
		}
	}
	dup, err := s.matchEnrollments(ctx, sr, earlier)
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, c := range out {
		if !dup[i] {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// decide sets c.match and c.stale from its profile.
func (s *Store) decide(sr *search, driver string, c *candidate) {
	p := c.p
	mem := membersOf(p)
	switch driver {
	case driveOwner:
		if c.member != mem.owner {
			c.stale = true
			return
		}
	case driveAll:
		if c.member != mem.name {
			c.stale = true
			return
		}
	case driveText:
		if c.member != mem.name && !slices.Contains(mem.terms, c.member) {
			c.stale = true
			return
		}
	}
	if sr.Owner != "" && p.Owner != sr.Owner {
		return
	}
	if sr.Text == "" {
		c.match = true
		return
	}
	// The prospect is listed at the smallest of its members whose whole
	// term starts with a query form.
	t := termsOf(p)
	pid := clean(p.ID)
	first := ""
	for _, term := range t.all() {
		for _, f := range sr.forms {
			if strings.HasPrefix(term, f) {
				if m := cut(term) + "\x00" + pid; first == "" || m < first {
					first = m
				}
			}
		}
	}
	if first == "" {
		return
	}
	c.match = driver != driveText || c.member == first
}

// dropStale removes entries that no longer describe their prospect,
// from the set the driver walked (for q, the name or the term set).
func (s *Store) dropStale(ctx context.Context, driver string, stale []*candidate) error {
	if len(stale) == 0 || driver == driveWarm {
		return nil
	}
	type drop struct{ pid, hash, member, field string }
	var drops []drop
	for _, c := range stale {
		hash := ""
		if c.blob != "" {
			hash = sha1Hex(c.blob)
		}
		fields := map[string][]string{driveAll: {"n"}, driveOwner: {"o"}, driveText: {"n", "t"}}[driver]
		for _, f := range fields {
			drops = append(drops, drop{c.pid, hash, c.member, f})
		}
	}
	cmds := s.pipelineScript(ctx, dropStaleEntry, len(drops), func(i int) ([]string, []any) {
		d := drops[i]
		sh := Shard(d.pid)
		dir := map[string]string{"n": s.keys.ProspectNameIndex(sh), "t": s.keys.ProspectTermIndex(sh), "o": s.keys.ProspectOwnerIndex(sh)}[d.field]
		return []string{s.keys.Prospect(d.pid), dir, s.keys.ProspectIndexCounts(sh)}, []any{d.hash, d.member, d.field}
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("dropping stale search entries: %w", err)
		}
	}
	return nil
}

// fillHits loads the hits' enrollments in the query's cadences and their
// consent in one round trip, and puts them on the page.
func (s *Store) fillHits(ctx context.Context, sr *search, hits []*candidate, page *ProspectPage) error {
	page.Hits = make([]ProspectHit, len(hits))
	if len(hits) == 0 {
		return nil
	}
	cads := slices.Clone(sr.Cadences)
	slices.Sort(cads)
	enr := make([]*redis.StringCmd, len(hits)*len(cads))
	metas := make([]*redis.SliceCmd, len(hits))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hits {
			metas[i] = p.HMGet(ctx, s.keys.ProspectMeta(h.pid), "eb", "sb")
			for j, c := range cads {
				enr[i*len(cads)+j] = p.Get(ctx, s.keys.Enrollment(EnrollmentID(h.pid, c)))
			}
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for i, h := range hits {
		if v := metas[i].Val(); len(v) == 2 {
			h.p.EmailBlocked, _ = v[0].(string)
			h.p.SMSBlocked, _ = v[1].(string)
		}
		hit := ProspectHit{Prospect: h.p}
		for _, c := range enr[i*len(cads) : (i+1)*len(cads)] {
			if e := enrollmentOf(c); e != nil {
				hit.Enrollments = append(hit.Enrollments, *e)
			}
		}
		page.Hits[i] = hit
	}
	return nil
}

// Package catalog keeps cadences as published, versioned artifacts in
// Redis, so every process of a deployment runs the same version of each
// cadence and old versions stay available for diffs and rollbacks.
//
// A version is content-addressed by cadence.Cadence.Version (a hash of the
// definition's meaning: reformatting or comments do not change it) and is
// kept forever with its source, who published it first, when and why. Each
// cadence has a head (the version processes run); every head change is a
// publication in the cadence's log (newest first), bumps an epoch counter
// and is announced on a pub/sub channel. Publishing the head's content
// again changes nothing; publishing an earlier version's content, or a
// rollback, moves the head back to it.
//
// Watch keeps an engine on the heads: it subscribes to the channel and,
// so that a lost message cannot leave a process stale, also reads the
// epoch (one GET) every Poll; on a change it loads the heads and calls
// SetCadences. Enrollments move onto a new version lazily, at their next
// step (cadence.(*Cadence).Rebase); Preview tells, before publishing, what
// that will do to the live enrollments.
//
// Every key carries the {cat} hash tag, so on Redis Cluster the catalog
// lives in one slot and the publish script is one atomic step:
//
//	PREFIX:{cat}:heads       hash  cadence id -> head version
//	PREFIX:{cat}:epoch       string, incremented on every head change
//	PREFIX:{cat}:v:ID        hash  VERSION -> JSON (id, version, at, by, message, file)
//	                               VERSION:src -> the source YAML, as published
//	PREFIX:{cat}:log:ID      list  of publications, newest first (JSON: version, at, by, message, previous)
//	PREFIX:{cat}:changed     pub/sub channel; the message is the new epoch
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// DefaultPoll is how often Watch reads the epoch when Options.Poll is 0.
const DefaultPoll = 500 * time.Millisecond

// MaxMessage bounds a publication's message, in bytes.
const MaxMessage = 1000

// Options configures a Catalog.
type Options struct {
	Logger *slog.Logger
	// Clock stamps publications (default time.Now).
	Clock func() time.Time
	// Poll is how often Watch reads the epoch besides listening on the
	// channel (default DefaultPoll): the longest a process stays on an old
	// head when the pub/sub message is lost.
	Poll time.Duration
}

// Catalog is the published cadences of one deployment (one key prefix).
// It is safe for concurrent use.
type Catalog struct {
	st    *store.Store
	rdb   redis.UniversalClient
	k     keys
	log   *slog.Logger
	clock func() time.Time
	poll  time.Duration

	mu       sync.Mutex
	compiled map[string]*cadence.Cadence // "id@version"
	broken   map[string]error            // "id@version" whose source no longer compiles
}

// New returns the catalog stored under st's Redis and key prefix.
func New(st *store.Store, o Options) *Catalog {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	return &Catalog{st: st, rdb: st.Redis(), k: keys{st.Keys().Prefix}, log: o.Logger, clock: o.Clock, poll: o.Poll,
		compiled: map[string]*cadence.Cadence{}, broken: map[string]error{}}
}

// keys names the catalog's keys; all share the {cat} hash tag.
type keys struct{ prefix string }

func (k keys) tag() string               { return k.prefix + ":{cat}" }
func (k keys) heads() string             { return k.tag() + ":heads" }
func (k keys) epoch() string             { return k.tag() + ":epoch" }
func (k keys) versions(id string) string { return k.tag() + ":v:" + id }
func (k keys) log(id string) string      { return k.tag() + ":log:" + id }
func (k keys) channel() string           { return k.tag() + ":changed" }
func srcField(version string) string     { return version + ":src" }
func cacheKey(id, version string) string { return id + "@" + version }
func notFound(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, store.ErrNotFound)...)
}

// Published is a stored version: its source and who published it first.
type Published struct {
	ID      string    `json:"id"`
	Version string    `json:"version"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Message string    `json:"message"`
	// File is the name the source was published under (a path for
	// files, NAME.yaml through the API); problems are reported in it.
	File   string `json:"file"`
	Source []byte `json:"-"`
}

// Publication is one head change in a cadence's log.
type Publication struct {
	Version string    `json:"version"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Message string    `json:"message"`
	// Previous is the head before ("" for the cadence's first one).
	Previous string `json:"previous"`
}

// Result is the outcome of a publish or a rollback.
type Result struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// Previous is the head before the call ("" when the cadence had none).
	Previous string `json:"previous"`
	// Changed says the head moved (false: the version already was the head).
	Changed bool `json:"changed"`
	// Stored says the version is new to the catalog.
	Stored bool `json:"stored"`
	// Kept says an earlier version was not made the head again (only when
	// publishing files at process start, see PublishFiles).
	Kept bool `json:"kept,omitempty"`
	// Epoch is the epoch after the call.
	Epoch int64 `json:"epoch"`
}

// publishScript moves a cadence's head, atomically on one slot:
//
//	KEYS  heads, versions(id), log(id), epoch
//	ARGV  id, version, meta JSON ("" = rollback: the version must exist),
//	      source, publication JSON without its closing brace, "1" = only
//	      if the version is new or already the head
//
// It answers {code, previous head, epoch, stored}: code 1 the head moved,
// 0 it already was the version, 2 an earlier version was kept out
// (ARGV[6]), -1 no such version (rollback).
var publishScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local ep = tonumber(redis.call('GET', KEYS[4]) or '0')
if cur == ARGV[2] then
  return {0, cur, ep, 0}
end
local exists = redis.call('HEXISTS', KEYS[2], ARGV[2])
local stored = 0
if ARGV[3] == '' then
  if exists == 0 then return {-1, cur, ep, 0} end
else
  if exists == 1 and ARGV[6] == '1' then return {2, cur, ep, 0} end
  if exists == 0 then
    redis.call('HSET', KEYS[2], ARGV[2], ARGV[3], ARGV[2] .. ':src', ARGV[4])
    stored = 1
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[3], ARGV[5] .. ',"previous":"' .. cur .. '"}')
ep = redis.call('INCR', KEYS[4])
return {1, cur, ep, stored}
`)

var versionPattern = regexp.MustCompile(`^v[0-9a-f]{1,64}$`)

// CheckMessage refuses a message that would not read well in a log: over
// MaxMessage bytes, invalid UTF-8 or control characters (tabs are fine).
func CheckMessage(m string) error {
	if len(m) > MaxMessage {
		return fmt.Errorf("message is longer than %d bytes", MaxMessage)
	}
	if !utf8.ValidString(m) {
		return errors.New("message is not valid UTF-8")
	}
	for _, r := range m {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return errors.New("message has a control character")
		}
	}
	return nil
}

// Publish validates src (as cadence.Parse does; a *cadence.ValidationError
// lists the problems) and makes it its cadence's head, recording by and
// message. Publishing the head's content again changes nothing;
// publishing an earlier version's content makes it the head again.
func (c *Catalog) Publish(ctx context.Context, file string, src []byte, by, message string) (Result, error) {
	cd, err := cadence.Parse(file, src)
	if err != nil {
		return Result{}, err
	}
	return c.PublishParsed(ctx, cd, src, by, message)
}

// PublishParsed is Publish for a cadence already parsed from src (cd must
// be cadence.Parse(cd.File, src)).
func (c *Catalog) PublishParsed(ctx context.Context, cd *cadence.Cadence, src []byte, by, message string) (Result, error) {
	return c.publish(ctx, cd, src, by, message, false, true)
}

func (c *Catalog) publish(ctx context.Context, cd *cadence.Cadence, src []byte, by, message string, newOnly, notify bool) (Result, error) {
	if err := CheckMessage(message); err != nil {
		return Result{}, err
	}
	at := c.clock().UTC()
	meta, err := json.Marshal(Published{ID: cd.ID, Version: cd.Version, At: at, By: by, Message: message, File: cd.File})
	if err != nil {
		return Result{}, err
	}
	res, err := c.move(ctx, cd.ID, cd.Version, string(meta), src, Publication{Version: cd.Version, At: at, By: by, Message: message}, newOnly, notify)
	if err == nil {
		c.remember(cd.ID, cd.Version, cd)
	}
	return res, err
}

// Rollback makes an earlier version (any stored one) the head again,
// recorded as a publication "rollback to VERSION" (with message after a
// colon, when given). Rolling back to the head changes nothing.
func (c *Catalog) Rollback(ctx context.Context, id, to, by, message string) (Result, error) {
	if err := CheckMessage(message); err != nil {
		return Result{}, err
	}
	text := "rollback to " + to
	if message != "" {
		text += ": " + message
	}
	if !versionPattern.MatchString(to) {
		return Result{}, notFound("cadence %s has no version %q", id, to)
	}
	return c.move(ctx, id, to, "", nil, Publication{Version: to, At: c.clock().UTC(), By: by, Message: text}, false, true)
}

// move runs publishScript and announces a head change on the channel
// (notify false leaves that to the epoch poll: tests of a lost message).
func (c *Catalog) move(ctx context.Context, id, version, meta string, src []byte, pub Publication, newOnly, notify bool) (Result, error) {
	entry, err := json.Marshal(struct {
		Version string    `json:"version"`
		At      time.Time `json:"at"`
		By      string    `json:"by"`
		Message string    `json:"message"`
	}{pub.Version, pub.At, pub.By, pub.Message})
	if err != nil {
		return Result{}, err
	}
	only := "0"
	if newOnly {
		only = "1"
	}
	k := c.k
	out, err := publishScript.Run(ctx, c.rdb, []string{k.heads(), k.versions(id), k.log(id), k.epoch()},
		id, version, meta, src, strings.TrimSuffix(string(entry), "}"), only).Slice()
	if err != nil {
		return Result{}, fmt.Errorf("catalog: publishing %s %s: %w", id, version, err)
	}
	code, _ := out[0].(int64)
	prev, _ := out[1].(string)
	epoch, _ := out[2].(int64)
	stored, _ := out[3].(int64)
	res := Result{ID: id, Version: version, Previous: prev, Changed: code == 1, Stored: stored == 1, Kept: code == 2, Epoch: epoch}
	if code == -1 {
		return res, notFound("cadence %s has no version %s", id, version)
	}
	if res.Changed && notify {
		// A lost message only delays the others until their next poll.
		if err := c.rdb.Publish(ctx, k.channel(), strconv.FormatInt(epoch, 10)).Err(); err != nil {
			c.log.Warn("catalog: announcing a head change failed; processes see it at their next poll", "cadence", id, "version", version, "err", err)
		}
	}
	return res, nil
}

// Epoch returns the epoch: it changes whenever any head does.
func (c *Catalog) Epoch(ctx context.Context) (int64, error) {
	n, err := c.rdb.Get(ctx, c.k.epoch()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// Heads returns every cadence's head version by id.
func (c *Catalog) Heads(ctx context.Context) (map[string]string, error) {
	return c.rdb.HGetAll(ctx, c.k.heads()).Result()
}

// Head returns a cadence's head version, "" when it has none.
func (c *Catalog) Head(ctx context.Context, id string) (string, error) {
	v, err := c.rdb.HGet(ctx, c.k.heads(), id).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// Resolve turns "head" (or "") into the head version and checks that a
// version exists.
func (c *Catalog) Resolve(ctx context.Context, id, version string) (string, error) {
	if version == "" || version == "head" {
		v, err := c.Head(ctx, id)
		if err == nil && v == "" {
			err = notFound("cadence %s has no published version", id)
		}
		return v, err
	}
	if !versionPattern.MatchString(version) {
		return "", notFound("cadence %s has no version %q", id, version)
	}
	ok, err := c.rdb.HExists(ctx, c.k.versions(id), version).Result()
	if err == nil && !ok {
		err = notFound("cadence %s has no version %s", id, version)
	}
	return version, err
}

// Versions returns a cadence's publications, newest first; a rollback or
// a republished earlier version appears again, as the head change it was.
func (c *Catalog) Versions(ctx context.Context, id string) ([]Publication, error) {
	raw, err := c.rdb.LRange(ctx, c.k.log(id), 0, -1).Result()
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, notFound("cadence %s has no published version", id)
	}
	out := make([]Publication, 0, len(raw))
	for _, r := range raw {
		var p Publication
		if err := json.Unmarshal([]byte(r), &p); err != nil {
			return nil, fmt.Errorf("catalog: %s: corrupt publication %q: %w", id, r, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Get returns a stored version with its source ("head" names the head).
func (c *Catalog) Get(ctx context.Context, id, version string) (Published, error) {
	v, err := c.Resolve(ctx, id, version)
	if err != nil {
		return Published{}, err
	}
	vals, err := c.rdb.HMGet(ctx, c.k.versions(id), v, srcField(v)).Result()
	if err != nil {
		return Published{}, err
	}
	meta, _ := vals[0].(string)
	src, _ := vals[1].(string)
	if meta == "" {
		return Published{}, notFound("cadence %s has no version %s", id, v)
	}
	var p Published
	if err := json.Unmarshal([]byte(meta), &p); err != nil {
		return Published{}, fmt.Errorf("catalog: %s %s: corrupt record: %w", id, v, err)
	}
	p.Source = []byte(src)
	return p, nil
}

// Compile returns a stored version, compiled; compiled versions are kept,
// so an enrollment's recorded version costs one parse per process.
func (c *Catalog) Compile(ctx context.Context, id, version string) (*cadence.Cadence, error) {
	c.mu.Lock()
	cd, err := c.compiled[cacheKey(id, version)], c.broken[cacheKey(id, version)]
	c.mu.Unlock()
	if cd != nil || err != nil {
		return cd, err
	}
	p, err := c.Get(ctx, id, version)
	if err != nil {
		return nil, err
	}
	cd, err = cadence.Parse(p.File, p.Source)
	if err != nil {
		// Published by a binary that accepted it; this one does not (an
		// older release during a rolling deploy, say).
		err = fmt.Errorf("cadence %s %s (published by %s at %s) does not load in this build: %w", id, p.Version, p.By, p.At.Format(time.RFC3339), err)
		c.mu.Lock()
		c.broken[cacheKey(id, p.Version)] = err
		c.mu.Unlock()
		return nil, err
	}
	if cd.ID != id {
		return nil, fmt.Errorf("catalog: version %s stored under %s holds cadence %s", p.Version, id, cd.ID)
	}
	// The catalog names content: if this build hashes the same source
	// differently, the stored name still wins, so processes agree.
	cd.Version = p.Version
	c.remember(id, p.Version, cd)
	return cd, nil
}

func (c *Catalog) remember(id, version string, cd *cadence.Cadence) {
	c.mu.Lock()
	c.compiled[cacheKey(id, version)] = cd
	c.mu.Unlock()
}

// Cadences compiles every head. A head that does not compile is an error
// naming it (at process start, better refused than half loaded).
func (c *Catalog) Cadences(ctx context.Context) (map[string]*cadence.Cadence, error) {
	heads, err := c.Heads(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*cadence.Cadence, len(heads))
	var errs []error
	for id, v := range heads {
		cd, err := c.Compile(ctx, id, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[id] = cd
	}
	return out, errors.Join(errs...)
}

// DiffVersions is the unified diff of two stored versions' sources
// ("head" names the head; from "" is the version to replaced when it last
// became the head, or an empty file for a cadence's first version).
func (c *Catalog) DiffVersions(ctx context.Context, id, from, to string) (string, error) {
	toV, err := c.Resolve(ctx, id, to)
	if err != nil {
		return "", err
	}
	var a Published
	if from == "" {
		pubs, err := c.Versions(ctx, id)
		if err != nil {
			return "", err
		}
		for _, p := range pubs {
			if p.Version == toV {
				from = p.Previous // the head it replaced when it last became the head
				break
			}
		}
	}
	if from != "" {
		if a, err = c.Get(ctx, id, from); err != nil {
			return "", err
		}
	}
	b, err := c.Get(ctx, id, toV)
	if err != nil {
		return "", err
	}
	return Diff(label(id, a), label(id, b), a.Source, b.Source), nil
}

// label names a version in a diff header.
func label(id string, p Published) string {
	if p.Version == "" {
		return id + " (none)"
	}
	return fmt.Sprintf("%s@%s\t%s %s", id, p.Version, p.At.UTC().Format(time.RFC3339), p.By)
}

package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// The engine is what Watch keeps up to date.
var _ Target = (*worker.Engine)(nil)

// cadenceSrc is a small cadence whose subject names the version.
func cadenceSrc(id, subject string) string {
	return fmt.Sprintf(`id: %s
name: %s
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: s1
    touches:
      - {id: t1, channel: email, template: mail}
      - {id: t2, channel: email, delay: 1d, template: mail}
templates:
  mail: {subject: %q, text: "Hello"}
`, id, id, subject)
}

// logBuffer collects a catalog's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newCatalog(t *testing.T, rdb redis.UniversalClient, prefix string, logs *logBuffer) *Catalog {
	t.Helper()
	o := Options{Logger: slog.New(slog.DiscardHandler)}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return New(store.New(rdb, prefix), o)
}

func mustPublish(t *testing.T, c *Catalog, src, by, msg string) Result {
	t.Helper()
	res, err := c.Publish(context.Background(), "test.yaml", []byte(src), by, msg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCadencePublishVersionsDiffRollback(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	c := newCatalog(t, rdb, prefix, nil)
	v1src, v2src := cadenceSrc("trial", "Hello v1"), cadenceSrc("trial", "Hello v2")

	r1 := mustPublish(t, c, v1src, "admin:ops", "first cut")
	if !r1.Changed || !r1.Stored || r1.Previous != "" || r1.Epoch != 1 || !strings.HasPrefix(r1.Version, "v") {
		t.Fatalf("first publish: %+v", r1)
	}
	// The same content again, and the same meaning with a comment and
	// other spacing, change nothing.
	for _, src := range []string{v1src, "# a comment\n" + strings.Replace(v1src, "timezone: UTC", "timezone:   UTC", 1)} {
		if r := mustPublish(t, c, src, "admin:ops", "again"); r.Changed || r.Stored || r.Version != r1.Version || r.Epoch != 1 {
			t.Fatalf("republish: %+v", r)
		}
	}
	r2 := mustPublish(t, c, v2src, "admin:kim", "v2 subject")
	if !r2.Changed || !r2.Stored || r2.Previous != r1.Version || r2.Epoch != 2 || r2.Version == r1.Version {
		t.Fatalf("second publish: %+v", r2)
	}
	if head, _ := c.Head(ctx, "trial"); head != r2.Version {
		t.Fatalf("head %s, want %s", head, r2.Version)
	}
	pubs, err := c.Versions(ctx, "trial")
	if err != nil || len(pubs) != 2 || pubs[0].Version != r2.Version || pubs[0].By != "admin:kim" || pubs[0].Message != "v2 subject" ||
		pubs[0].Previous != r1.Version || pubs[1].Version != r1.Version || pubs[1].Previous != "" || pubs[1].Message != "first cut" {
		t.Fatalf("versions: %+v %v", pubs, err)
	}
	p, err := c.Get(ctx, "trial", "head")
	if err != nil || string(p.Source) != v2src || p.By != "admin:kim" || p.Version != r2.Version {
		t.Fatalf("get head: %+v %v", p, err)
	}

	// The diff of the head against the version it replaced.
	d, err := c.DiffVersions(ctx, "trial", "", "head")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--- trial@" + r1.Version, "+++ trial@" + r2.Version, "@@ -10,4 +10,4 @@\n", "-  mail: {subject: \"Hello v1\"", "+  mail: {subject: \"Hello v2\""} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	changed := 0
	for _, l := range strings.Split(d, "\n")[2:] {
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			changed++
		}
	}
	if changed != 2 {
		t.Errorf("diff changes %d lines, want one each way:\n%s", changed, d)
	}
	if d, err := c.DiffVersions(ctx, "trial", r1.Version, r1.Version); err != nil || d != "" {
		t.Errorf("diff of a version with itself: %q %v", d, err)
	}

	// Rollback: the head goes back, recorded as a publication.
	rb, err := c.Rollback(ctx, "trial", r1.Version, "admin:ops", "")
	if err != nil || !rb.Changed || rb.Stored || rb.Previous != r2.Version || rb.Epoch != 3 {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	pubs, _ = c.Versions(ctx, "trial")
	if len(pubs) != 3 || pubs[0].Version != r1.Version || pubs[0].Message != "rollback to "+r1.Version || pubs[0].Previous != r2.Version {
		t.Fatalf("after rollback: %+v", pubs)
	}
	if rb, err := c.Rollback(ctx, "trial", r1.Version, "admin:ops", ""); err != nil || rb.Changed {
		t.Fatalf("rollback to the head: %+v %v", rb, err)
	}
	for _, bad := range []string{"v0123456789ab", "head; DROP", ""} {
		if _, err := c.Rollback(ctx, "trial", bad, "admin:ops", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rollback to %q: %v, want not found", bad, err)
		}
	}
	if _, err := c.Get(ctx, "nope", "head"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get of an unknown cadence: %v", err)
	}
	// Publishing an earlier version's content moves the head back to it.
	if r := mustPublish(t, c, v2src, "admin:kim", "v2 again"); !r.Changed || r.Stored || r.Version != r2.Version || r.Epoch != 4 {
		t.Fatalf("republish of v2: %+v", r)
	}
	// Compiled heads carry the catalog's version names.
	cads, err := c.Cadences(ctx)
	if err != nil || cads["trial"] == nil || cads["trial"].Version != r2.Version {
		t.Fatalf("cadences: %v %v", cads, err)
	}
	// A malformed message is refused before anything is written.
	if _, err := c.Publish(ctx, "x.yaml", []byte(cadenceSrc("trial", "x")), "admin:ops", "line\nbreak"); err == nil {
		t.Error("a message with a newline was accepted")
	}
	// A problem is a *cadence.ValidationError and nothing is written.
	if _, err := c.Publish(ctx, "x.yaml", []byte("id: Bad Id\n"), "admin:ops", ""); !errors.As(err, new(*cadence.ValidationError)) {
		t.Errorf("invalid cadence: %v", err)
	}
	if ep, _ := c.Epoch(ctx); ep != 4 {
		t.Errorf("epoch %d after refused publishes, want 4", ep)
	}
	// Every key carries the {cat} hash tag (one slot on Redis Cluster).
	keys := scanKeys(t, rdb, prefix+":*")
	if len(keys) < 4 {
		t.Fatalf("keys: %v", keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix+":{cat}:") {
			t.Errorf("key %s has no {cat} hash tag", k)
		}
	}
}

func scanKeys(t *testing.T, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			out = append(out, it.Val())
		}
		return it.Err()
	}
	ctx := context.Background()
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, n)
		})
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Two processes publishing the same content at once make one version and
// one head change, round after round.
func TestCadenceConcurrentPublishOfTheSameContent(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	a, b := newCatalog(t, rdb, prefix, nil), newCatalog(t, rdb, prefix, nil)
	const rounds = 25
	for i := range rounds {
		src := []byte(cadenceSrc("race", fmt.Sprintf("round %d", i)))
		var wg sync.WaitGroup
		results := make([]Result, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for j, c := range []*Catalog{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[j], errs[j] = c.Publish(ctx, "race.yaml", src, fmt.Sprintf("files:p%d/race.yaml", j), "loaded")
			}()
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errs)
		}
		if results[0].Changed == results[1].Changed || results[0].Stored == results[1].Stored || results[0].Version != results[1].Version {
			t.Fatalf("round %d: exactly one publish may move the head: %+v", i, results)
		}
	}
	pubs, err := a.Versions(ctx, "race")
	if err != nil || len(pubs) != rounds {
		t.Fatalf("%d publications, want %d: %v", len(pubs), rounds, err)
	}
	if n, _ := rdb.HLen(ctx, a.k.versions("race")).Result(); n != 2*rounds { // meta + source per version
		t.Fatalf("%d version fields, want %d", n, 2*rounds)
	}
	if ep, _ := a.Epoch(ctx); ep != rounds {
		t.Fatalf("epoch %d, want %d", ep, rounds)
	}
}

// fakeEngine is a Target that records when it got each version.
type fakeEngine struct {
	mu   sync.Mutex
	cads map[string]*cadence.Cadence
	got  map[string]time.Time // version -> when set
}

func (f *fakeEngine) Cadences() map[string]*cadence.Cadence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cads
}

func (f *fakeEngine) SetCadences(m map[string]*cadence.Cadence) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cads = m
	for _, c := range m {
		if _, ok := f.got[c.Version]; !ok {
			f.got[c.Version] = time.Now()
		}
	}
}

func (f *fakeEngine) version(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.cads[id]; c != nil {
		return c.Version
	}
	return ""
}

// waitVersion waits until f runs version v of id, and returns how long
// that took from since.
func (f *fakeEngine) waitVersion(t *testing.T, id, v string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(limit + 2*time.Second)
	for f.version(id) != v {
		if time.Now().After(deadline) {
			t.Fatalf("%s still on %q, want %s", id, f.version(id), v)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[v].Sub(since)
}

// waitSubscribed waits until Redis counts a subscriber on channel (PUBSUB
// NUMSUB, summed over a cluster's masters: a cluster answers it per node),
// so a message published next is delivered.
func waitSubscribed(t *testing.T, rdb redis.UniversalClient, channel string, limit time.Duration) {
	t.Helper()
	ctx := context.Background()
	count := func() (int64, error) {
		cc, ok := rdb.(*redis.ClusterClient)
		if !ok {
			m, err := rdb.PubSubNumSub(ctx, channel).Result()
			return m[channel], err
		}
		var mu sync.Mutex
		var n int64
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			m, err := node.PubSubNumSub(ctx, channel).Result()
			mu.Lock()
			n += m[channel]
			mu.Unlock()
			return err
		})
		return n, err
	}
	deadline := time.Now().Add(limit)
	for {
		n, err := count()
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no subscriber on %s after %v: PUBSUB NUMSUB says %d (err %v)", channel, limit, n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Watch sees a head change through pub/sub at once, and through the epoch
// poll within Poll when the message is lost.
func TestCadenceWatchPicksUpChangesEvenWithoutPubSub(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := redistest.Client(t)
	var logs logBuffer
	pub := newCatalog(t, rdb, prefix, nil)
	r1 := mustPublish(t, pub, cadenceSrc("watched", "v1"), "admin:ops", "one")
	// The watching process has its own catalog (its own cache), as a
	// worker does; its engine starts empty.
	watcher := newCatalog(t, rdb, prefix, &logs)
	eng := &fakeEngine{cads: map[string]*cadence.Cadence{}, got: map[string]time.Time{}}
	done := make(chan error, 1)
	go func() { done <- watcher.Watch(ctx, eng) }()
	eng.waitVersion(t, "watched", r1.Version, time.Now(), time.Second)
	waitSubscribed(t, rdb, watcher.k.channel(), 5*time.Second)

	// Announced: seen well within a poll.
	c2, _ := cadence.Parse("w.yaml", []byte(cadenceSrc("watched", "v2")))
	start := time.Now()
	r2, err := pub.publish(ctx, c2, []byte(cadenceSrc("watched", "v2")), "admin:ops", "two", false, true)
	if err != nil {
		t.Fatal(err)
	}
	viaPubSub := eng.waitVersion(t, "watched", r2.Version, start, time.Second)
	// Not announced (the message lost): the epoch poll finds it.
	c3, _ := cadence.Parse("w.yaml", []byte(cadenceSrc("watched", "v3")))
	start = time.Now()
	r3, err := pub.publish(ctx, c3, []byte(cadenceSrc("watched", "v3")), "admin:ops", "three", false, false)
	if err != nil {
		t.Fatal(err)
	}
	viaPoll := eng.waitVersion(t, "watched", r3.Version, start, time.Second)
	t.Logf("seen after %v with the message, %v without (poll %v)", viaPubSub, viaPoll, DefaultPoll)
	if viaPubSub > time.Second || viaPoll > time.Second {
		t.Errorf("propagation %v (pub/sub) / %v (poll), want both within 1 s", viaPubSub, viaPoll)
	}
	// A rollback is a head change like any other.
	eng.mu.Lock()
	delete(eng.got, r1.Version)
	eng.mu.Unlock()
	start = time.Now()
	if _, err := pub.Rollback(ctx, "watched", r1.Version, "admin:ops", ""); err != nil {
		t.Fatal(err)
	}
	if d := eng.waitVersion(t, "watched", r1.Version, start, time.Second); d > time.Second {
		t.Errorf("rollback seen after %v", d)
	}
	for _, want := range []string{
		fmt.Sprintf("cadence watched now %s (new)", r1.Version),
		fmt.Sprintf("cadence watched now %s, was %s", r2.Version, r1.Version),
		fmt.Sprintf("cadence watched now %s, was %s", r3.Version, r2.Version),
		fmt.Sprintf("cadence watched now %s, was %s", r1.Version, r3.Version),
		"message=three",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

// A head this build cannot compile is logged once and the engine keeps
// what it runs.
func TestCadenceWatchKeepsAVersionThatDoesNotLoad(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	var logs logBuffer
	c := newCatalog(t, rdb, prefix, &logs)
	r1 := mustPublish(t, c, cadenceSrc("keep", "v1"), "admin:ops", "")
	eng := &fakeEngine{cads: map[string]*cadence.Cadence{}, got: map[string]time.Time{}}
	if _, err := c.Sync(ctx, eng); err != nil || eng.version("keep") != r1.Version {
		t.Fatalf("sync: %v %s", err, eng.version("keep"))
	}
	// A newer release published something this one refuses.
	bad := "vbadbadbadbad"
	meta := fmt.Sprintf(`{"id":"keep","version":%q,"by":"admin:new","file":"keep.yaml"}`, bad)
	rdb.HSet(ctx, c.k.versions("keep"), bad, meta, srcField(bad), "id: keep\nfuture_field: 1\n")
	rdb.HSet(ctx, c.k.heads(), "keep", bad)
	for range 3 {
		if _, err := c.Sync(ctx, eng); err != nil {
			t.Fatal(err)
		}
	}
	if eng.version("keep") != r1.Version {
		t.Fatalf("engine on %q", eng.version("keep"))
	}
	if n := strings.Count(logs.String(), "cannot load published "+bad+"; keeping "+r1.Version); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, logs.String())
	}
	if _, err := c.Cadences(ctx); err == nil || !strings.Contains(err.Error(), "does not load in this build") {
		t.Fatalf("Cadences at start: %v", err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCadenceBootstrapFromFilesAndCatalog(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	var logs logBuffer
	c := newCatalog(t, rdb, prefix, &logs)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": cadenceSrc("alpha", "a1"), "b.yml": cadenceSrc("beta", "b1")})

	// Two processes start at once from the same files: one publication
	// per cadence.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = newCatalog(t, rdb, prefix, nil).Bootstrap(ctx, dir)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alpha", "beta"} {
		pubs, err := c.Versions(ctx, id)
		if err != nil || len(pubs) != 1 {
			t.Fatalf("%s: %+v %v", id, pubs, err)
		}
		path := filepath.Join(dir, map[string]string{"alpha": "a.yaml", "beta": "b.yml"}[id])
		if pubs[0].By != "files:"+path || pubs[0].Message != "loaded from "+path {
			t.Fatalf("%s published as %+v", id, pubs[0])
		}
	}
	a1, _ := c.Head(ctx, "alpha")

	// Someone publishes alpha a2 through the API; a process restarting
	// from the old file does not take it back, and says so.
	a2 := mustPublish(t, c, cadenceSrc("alpha", "a2"), "admin:ops", "api")
	cads, err := c.Bootstrap(ctx, dir)
	if err != nil || cads["alpha"].Version != a2.Version || cads["beta"] == nil {
		t.Fatalf("restart from old files: %v %v", cads, err)
	}
	if want := "holds cadence alpha " + a1 + ", an earlier published version: the head stays " + a2.Version; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	// A reload is an operator's request: it does move the head back.
	files, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PublishFiles(ctx, files, Reload)
	if err != nil || len(res) != 2 || !res[0].Changed || res[0].Version != a1 || res[1].Changed {
		t.Fatalf("reload: %+v %v", res, err)
	}
	// A changed file is published at start.
	writeFiles(t, dir, map[string]string{"a.yaml": cadenceSrc("alpha", "a3")})
	if cads, err := c.Bootstrap(ctx, dir); err != nil || cads["alpha"].Version == a1 || cads["alpha"].Version == a2.Version {
		t.Fatalf("changed file: %v %v", cads, err)
	}

	// A file with problems refuses the start and publishes nothing.
	epoch, _ := c.Epoch(ctx)
	writeFiles(t, dir, map[string]string{"a.yaml": cadenceSrc("alpha", "a4"), "c.yaml": "id: gamma\nname: [\n"})
	if _, err := c.Bootstrap(ctx, dir); !errors.As(err, new(*cadence.ValidationError)) || !strings.Contains(err.Error(), "c.yaml:") {
		t.Fatalf("invalid file: %v", err)
	}
	if ep, _ := c.Epoch(ctx); ep != epoch {
		t.Fatal("a refused start published something")
	}
	// Two files with one id: refused, naming both.
	os.Remove(filepath.Join(dir, "c.yaml"))
	writeFiles(t, dir, map[string]string{"dup.yaml": cadenceSrc("alpha", "dup")})
	if _, err := c.Bootstrap(ctx, dir); err == nil || !strings.Contains(err.Error(), `cadence id "alpha" is also used by`) {
		t.Fatalf("duplicate id: %v", err)
	}

	// No files (missing or empty directory): start from the catalog.
	for _, d := range []string{filepath.Join(dir, "missing"), t.TempDir()} {
		cads, err := c.Bootstrap(ctx, d)
		if err != nil || len(cads) != 2 {
			t.Fatalf("no files in %s: %v %v", d, cads, err)
		}
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDir of a missing directory: %v", err)
	}
	// No files and nothing published: refused.
	rdb2, prefix2 := redistest.Client(t)
	if _, err := newCatalog(t, rdb2, prefix2, nil).Bootstrap(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "none are published") {
		t.Fatalf("empty everything: %v", err)
	}
}

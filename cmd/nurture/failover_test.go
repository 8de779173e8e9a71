package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// redisProc is a redis-server (or Sentinel) process the test controls:
// SIGKILL it, start it again on the same port and directory.
type redisProc struct {
	t    *testing.T
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRedisProc(t *testing.T, args ...string) *redisProc {
	t.Helper()
	p := &redisProc{t: t, port: freePort(t), dir: t.TempDir(), args: args}
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *redisProc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *redisProc) start() {
	p.t.Helper()
	args := p.args
	if len(args) > 0 && args[0] == "--sentinel" {
		// A Sentinel reads (and rewrites) a config file of its own.
		conf := filepath.Join(p.dir, "sentinel.conf")
		if _, err := os.Stat(conf); err != nil {
			if err := os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n%s\n", p.port, p.dir, strings.Join(args[1:], "\n"))), 0o644); err != nil {
				p.t.Fatal(err)
			}
		}
		args = []string{conf, "--sentinel"}
	} else {
		args = append([]string{"--port", fmt.Sprint(p.port), "--bind", "127.0.0.1", "--dir", p.dir}, args...)
	}
	p.cmd = exec.Command("redis-server", args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: p.addr()})
	defer c.Close()
	for i := 0; i < 200; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.t.Fatalf("redis-server on %s did not start", p.addr())
}

func (p *redisProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// failoverResult is what one failover run measured.
type failoverResult struct {
	touches, delivered, dups int
	uncertain                int64
	deferred                 int
	promoted                 time.Duration
}

// TestSentinelFailoverSendsNothingTwice runs two worker processes through
// Redis Sentinel (one master, one replica, three Sentinels) sending a
// three-touch cadence, SIGKILLs the master mid-run, lets the Sentinels
// promote the replica and brings the old master back (as a replica of the
// new one). With the journal waiting for a replica (NURTURE_JOURNAL_REPLICAS
// auto, the default) the run must finish with no Message-ID twice, every
// touch sent once or uncertain, every enrollment completed and asynq's
// queues drained. It then runs again with the wait off and reports the
// duplicates that allows, which are not failures: they are the setting's
// value, shown.
func TestSentinelFailoverSendsNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns Redis, Sentinel and worker processes; skipped with -short")
	}
	requireRedisServer(t)
	if redistest.ClusterAddrs() != nil {
		t.Skip("runs on a Sentinel-managed Redis of its own: the Redis Cluster pass adds nothing")
	}
	bin := buildNurture(t)
	on := failoverRun(t, bin, "auto")
	if on.dups != 0 {
		t.Errorf("journal waits on: %d Message-IDs delivered twice", on.dups)
	}
	off := failoverRun(t, bin, "0")
	t.Logf("failover with the journal waiting for a replica: %d touches, %d delivered, %d duplicates, %d uncertain, %d deferred for an unconfirmed journal entry; replica promoted %v after the kill",
		on.touches, on.delivered, on.dups, on.uncertain, on.deferred, on.promoted.Round(100*time.Millisecond))
	t.Logf("failover with the wait off (NURTURE_JOURNAL_REPLICAS=0): %d touches, %d delivered, %d duplicates, %d uncertain; replica promoted %v after the kill",
		off.touches, off.delivered, off.dups, off.uncertain, off.promoted.Round(100*time.Millisecond))
}

func failoverRun(t *testing.T, bin, replicas string) failoverResult {
	const prospects = 1500
	ctx := context.Background()
	var res failoverResult
	res.touches = prospects * 3
	master := startRedisProc(t, "--appendonly", "yes", "--appendfsync", "everysec", "--repl-diskless-sync-delay", "0")
	replica := startRedisProc(t, "--replicaof", "127.0.0.1", fmt.Sprint(master.port), "--repl-diskless-sync-delay", "0")
	monitor := []string{"--sentinel",
		fmt.Sprintf("sentinel monitor nurture 127.0.0.1 %d 2", master.port),
		"sentinel down-after-milliseconds nurture 1000",
		"sentinel failover-timeout nurture 5000",
		"sentinel parallel-syncs nurture 1"}
	var sentinels []string
	for i := 0; i < 3; i++ {
		sentinels = append(sentinels, startRedisProc(t, monitor...).addr())
	}
	_ = replica
	// Every Sentinel knows the replica before anything is sent.
	for _, s := range sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s})
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			reps, _ := sc.Replicas(ctx, "nurture").Result()
			if len(reps) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s never saw the replica", s)
			}
		}
		sc.Close()
	}
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "nurture", SentinelAddrs: sentinels})
	defer rdb.Close()
	prefix := "fo" + replicas
	st := store.New(rdb, prefix)
	sink := smtptest.Start(t)
	sink.Delay = time.Millisecond
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fo.yaml"), []byte(enginetest.EmailCadence("fo", "0", "2s", "2s")), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := cadence.LoadFile(filepath.Join(dir, "fo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(testTokenKey))
	ob, _ := channels.NewOutbox("", 1, time.Now)
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	var ps []*store.Prospect
	for i := 0; i < prospects; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("f%04d", i), Email: fmt.Sprintf("f%04d@example.com", i)})
	}
	for _, r := range e.EnrollBatch(ctx, ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	env := childEnv("REDIS_SENTINEL_ADDRS="+strings.Join(sentinels, ","), "REDIS_SENTINEL_MASTER=nurture", "NURTURE_JOURNAL_REPLICAS="+replicas,
		"NURTURE_JOURNAL_WAIT=500ms", "NURTURE_PREFIX="+prefix, "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+testTokenKey,
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_LEASE=5s", "NURTURE_TASK_BATCH=20",
		"SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", "SMTP_CONNECTIONS=2")
	_, logs, stop := startWorkers(t, bin, env, []string{"--tick", "100ms", "--concurrency", "4"}, "worker-a", "worker-b")
	defer stop()
	// Kill the master once a third of the touches went out: the first
	// touch is done, the second under way.
	for deadline := time.Now().Add(60 * time.Second); sink.Count() < res.touches/3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("replicas=%s: only %d sent before the kill\n%s", replicas, sink.Count(), tail(logs[0].String(), 3000))
		}
	}
	killedAt, atKill := time.Now(), sink.Count()
	master.kill()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinels[0]})
	defer sc.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		addr, err := sc.GetMasterAddrByName(ctx, "nurture").Result()
		if err == nil && len(addr) == 2 && addr[1] == fmt.Sprint(replica.port) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas=%s: the Sentinels did not promote the replica: %v %v", replicas, addr, err)
		}
	}
	res.promoted = time.Since(killedAt)
	// The old master comes back with its AOF; the Sentinels make it a
	// replica of the new one.
	master.start()

	var stats map[string]int64
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		stats, _ = st.Stats(ctx, c.ID)
		if stats["state:completed"] == prospects {
			break
		}
		if time.Now().After(deadline) {
			due, leased, _ := st.DueCount(ctx, time.Now().Add(time.Hour))
			t.Fatalf("replicas=%s: stuck: %d of %d completed; due %d, leased %d; stats %v\nworker log:\n%s", replicas, stats["state:completed"], prospects, due, leased, stats, tail(logs[0].String(), 4000))
		}
	}
	seen := map[string]int{}
	for _, m := range sink.Messages() {
		seen[m.MessageID]++
	}
	for id, n := range seen {
		if n > 1 {
			res.dups++
			if replicas != "0" {
				t.Errorf("replicas=%s: sent %d times: %s", replicas, n, id)
			}
		}
	}
	res.delivered = len(seen)
	res.uncertain = stats["t:one:uncertain"] + stats["t:two:uncertain"] + stats["t:three:uncertain"]
	sent := stats["t:one:sent"] + stats["t:two:sent"] + stats["t:three:sent"]
	if replicas != "0" {
		// Stats are counters on the new master: a failover may lose a
		// count (they are not journaled), never a touch: the sink shows
		// every one once.
		if res.delivered+int(res.uncertain) < res.touches {
			t.Errorf("replicas=%s: %d delivered + %d uncertain of %d touches (stats: %d sent)", replicas, res.delivered, res.uncertain, res.touches, sent)
		}
	}
	// asynq's queues drain: nothing pending, active or retrying. A task
	// that failed while the master was gone waits asynq's retry delay
	// (15-45 s after a first failure, longer after a second).
	insp := asynq.NewInspector(asynq.RedisFailoverClientOpt{MasterName: "nurture", SentinelAddrs: sentinels})
	defer insp.Close()
	for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		var pending, active, retry int
		for _, q := range e.Queues() {
			if info, err := insp.GetQueueInfo(q); err == nil {
				pending, active, retry = pending+info.Pending, active+info.Active, retry+info.Retry
			}
		}
		if pending+active+retry == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("replicas=%s: asynq tasks not drained: %d pending, %d active, %d retrying", replicas, pending, active, retry)
			break
		}
	}
	for _, l := range logs {
		res.deferred += strings.Count(l.String(), "touch deferred: its journal entry reached too few Redis replicas")
	}
	t.Logf("replicas=%s: master SIGKILLed at %d of %d sends; promoted after %v; %d delivered, %d duplicates, %d uncertain",
		replicas, atKill, res.touches, res.promoted.Round(100*time.Millisecond), res.delivered, res.dups, res.uncertain)
	return res
}

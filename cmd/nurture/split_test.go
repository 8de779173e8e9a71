package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// TestTwoWorkersSplitTheWork runs two worker processes on one Redis (a
// cluster in .ci/run's second pass): each sends a share, none sends a
// touch the other sent.
func TestTwoWorkersSplitTheWork(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns worker processes; skipped with -short")
	}
	const prospects = 600
	bin := buildNurture(t)
	rdb, prefix := redistest.Client(t)
	sink := smtptest.Start(t)
	sink.Delay = time.Millisecond
	dir := t.TempDir()
	src := enginetest.EmailCadence("split", "0")
	if err := os.WriteFile(filepath.Join(dir, "split.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := cadence.LoadFile(filepath.Join(dir, "split.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(testTokenKey))
	ob, _ := channels.NewOutbox("", 1, time.Now)
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	// Both workers run before anything is due: each answers /readyz on its
	// ops address and asynq lists its server (the heartbeat is written
	// when the server starts taking tasks). childEnv drops the caller's
	// NURTURE_*, SMTP_* and REDIS_* settings.
	settings := []string{"NURTURE_PREFIX=" + prefix, "NURTURE_CADENCES=" + dir, "NURTURE_TOKEN_KEY=" + testTokenKey,
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_TASK_BATCH=20", "SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", "SMTP_CONNECTIONS=2"}
	for k, v := range redistest.Env(t) {
		settings = append(settings, k+"="+v)
	}
	started := time.Now()
	var workers []*process
	for _, name := range []string{"worker-a", "worker-b"} {
		ops := freeAddr(t)
		w := startProcess(t, bin, name, childEnv(append(settings, "SMTP_HELO="+name)...), "worker", "--tick", "50ms", "--concurrency", "2", "--ops-addr", ops)
		workers = append(workers, w)
		waitHTTP(t, w, "http://"+ops+"/readyz")
	}
	defer func() {
		for _, w := range workers {
			_ = w.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-w.done:
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30 s of SIGTERM:\n%s", w.name, w.out.String())
			}
		}
	}()
	waitAsynqServers(t, workers)
	t.Logf("both workers ready after %v", time.Since(started).Round(time.Millisecond))

	var ps []*store.Prospect
	for i := 0; i < prospects; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("s%03d", i), Email: fmt.Sprintf("s%03d@example.com", i)})
	}
	for _, r := range e.EnrollBatch(context.Background(), ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	enrolled := time.Now()
	deadline := enrolled.Add(60 * time.Second)
	for sink.Count() < prospects && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	sent := time.Since(enrolled)
	if n := sink.Count(); n < prospects {
		stats, _ := e.Stats(context.Background(), c.ID)
		t.Fatalf("%d of %d touches delivered within 60 s; stats %v", n, prospects, stats)
	}
	share := map[string]int{}
	seen := map[string]int{}
	for _, m := range sink.Messages() {
		share[m.Helo]++
		seen[m.MessageID]++
	}
	if len(seen) != prospects {
		t.Fatalf("%d of %d touches delivered", len(seen), prospects)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	for _, name := range []string{"worker-a", "worker-b"} {
		if share[name] < prospects/10 {
			t.Errorf("%s sent only %d of %d: the work is not split (%v)", name, share[name], prospects, share)
		}
	}
	t.Logf("shares: %v (all sent %v after enrolling)", share, sent.Round(time.Millisecond))
}

// waitAsynqServers waits until asynq lists a server for each worker
// process (by pid), or fails saying which it saw.
func waitAsynqServers(t *testing.T, workers []*process) {
	t.Helper()
	insp := asynq.NewInspector(redistest.Asynq(t))
	defer insp.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		servers, err := insp.Servers()
		pids := map[int]bool{}
		for _, s := range servers {
			pids[s.PID] = true
		}
		missing := 0
		for _, w := range workers {
			if err, ok := w.exited(); ok {
				t.Fatalf("%s exited (%v) before its asynq server started:\n%s", w.name, err, w.out.String())
			}
			if !pids[w.cmd.Process.Pid] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s asynq lists %d servers (pids %v, err %v); %d of the %d workers missing", len(servers), pids, err, missing, len(workers))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

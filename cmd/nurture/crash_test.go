package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// TestWorkersSurviveSIGKILL runs real worker processes, SIGKILLs one at
// random again and again mid-batch and restarts it, then checks from the
// SMTP sink and the store: no Message-ID twice, every touch sent once or
// marked uncertain, no more uncertain touches than kills (each worker has
// one SMTP connection, so at most one message whose fate a kill can hide),
// and no enrollment stuck. NURTURE_CHAOS_PROSPECTS, NURTURE_CHAOS_KILLS and
// NURTURE_CHAOS_WORKERS scale it up (README: the larger documented run).
func TestWorkersSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns worker processes; skipped with -short")
	}
	const (
		concurrency = 2
		taskBatch   = 10
		smtpConns   = 1
	)
	prospects, kills, nWorkers := envInt(t, "NURTURE_CHAOS_PROSPECTS", 400), envInt(t, "NURTURE_CHAOS_KILLS", 10), envInt(t, "NURTURE_CHAOS_WORKERS", 2)
	bin := buildNurture(t)
	rdb, prefix := redistest.Client(t)
	sink := smtptest.Start(t)
	sink.Delay = 3 * time.Millisecond
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crash.yaml"), []byte(enginetest.EmailCadence("crash", "0", "1s", "1s")), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := cadence.LoadFile(filepath.Join(dir, "crash.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(testTokenKey))
	ob, _ := channels.NewOutbox("", 1, time.Now)
	st := store.New(rdb, prefix)
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ps []*store.Prospect
	for i := 0; i < prospects; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("k%03d", i), Email: fmt.Sprintf("k%03d@example.com", i)})
	}
	for _, r := range e.EnrollBatch(ctx, ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	env := os.Environ()
	for k, v := range redistest.Env(t) {
		env = append(env, k+"="+v)
	}
	env = append(env, "NURTURE_PREFIX="+prefix, "NURTURE_CADENCES="+dir,
		"NURTURE_TOKEN_KEY="+testTokenKey, "NURTURE_PUBLIC_URL=https://n.example", "NURTURE_LEASE=2s", "NURTURE_JOURNAL=message",
		fmt.Sprintf("NURTURE_TASK_BATCH=%d", taskBatch), "SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", fmt.Sprintf("SMTP_CONNECTIONS=%d", smtpConns))
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker", "--tick", "100ms", fmt.Sprintf("--concurrency=%d", concurrency))
		cmd.Env = env
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	var workers []*exec.Cmd
	for range nWorkers {
		workers = append(workers, start())
	}
	defer func() {
		for _, w := range workers {
			_ = w.Process.Signal(syscall.SIGTERM)
			_ = w.Wait()
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	killed := 0
	for killed < kills {
		// Kill only while sends are flowing, so kills land mid-batch.
		before := sink.Count()
		deadline := time.Now().Add(10 * time.Second)
		for sink.Count() < before+5 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		i := rng.IntN(len(workers))
		_ = workers[i].Process.Signal(syscall.SIGKILL)
		_ = workers[i].Wait()
		killed++
		workers[i] = start()
		if sink.Count() >= prospects*3 {
			break
		}
	}

	// Let the run finish: every enrollment completes.
	deadline := time.Now().Add(90*time.Second + time.Duration(prospects)*20*time.Millisecond)
	var stats map[string]int64
	for time.Now().Before(deadline) {
		stats, _ = st.Stats(ctx, c.ID)
		if stats["state:completed"] == int64(prospects) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stats["state:completed"] != int64(prospects) {
		due, leased, _ := st.DueCount(ctx, time.Now().Add(time.Hour))
		t.Fatalf("stuck: %d of %d completed after %d kills; due %d leased %d; stats %v", stats["state:completed"], prospects, killed, due, leased, stats)
	}
	seen := map[string]int{}
	for _, m := range sink.Messages() {
		seen[m.MessageID]++
	}
	dups := 0
	for id, n := range seen {
		if n > 1 {
			dups++
			t.Errorf("sent %d times: %s", n, id)
		}
	}
	uncertain := stats["t:one:uncertain"] + stats["t:two:uncertain"] + stats["t:three:uncertain"]
	sent := stats["t:one:sent"] + stats["t:two:sent"] + stats["t:three:sent"]
	recovered := stats["t:one:recovered"] + stats["t:two:recovered"] + stats["t:three:recovered"]
	if sent != int64(prospects*3) {
		t.Errorf("sent+uncertain touches %d, want %d (every touch once)", sent, prospects*3)
	}
	if int64(len(seen)) < sent-uncertain {
		t.Errorf("the sink has %d distinct messages but %d touches were committed as sent", len(seen), sent-uncertain)
	}
	if bound := int64(killed * smtpConns); uncertain > bound {
		t.Errorf("%d uncertain touches after %d kills; at most %d messages were with the relay at the kills", uncertain, killed, bound)
	}
	t.Logf("%d workers, %d prospects x 3 touches, %d SIGKILLs: %d distinct messages delivered, %d duplicates, %d uncertain, %d accepted sends committed after their worker died",
		nWorkers, prospects, killed, len(seen), dups, uncertain, recovered)
}

// envInt reads a positive integer test parameter, or def when unset.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

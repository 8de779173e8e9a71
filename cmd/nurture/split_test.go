package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	var ps []*store.Prospect
	for i := 0; i < prospects; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("s%03d", i), Email: fmt.Sprintf("s%03d@example.com", i)})
	}
	for _, r := range e.EnrollBatch(context.Background(), ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	env := os.Environ()
	for k, v := range redistest.Env(t) {
		env = append(env, k+"="+v)
	}
	env = append(env, "NURTURE_PREFIX="+prefix, "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+testTokenKey,
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_TASK_BATCH=20", "SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", "SMTP_CONNECTIONS=2")
	var workers []*exec.Cmd
	for _, name := range []string{"worker-a", "worker-b"} {
		cmd := exec.Command(bin, "worker", "--tick", "50ms", "--concurrency", "2")
		cmd.Env = append(append([]string{}, env...), "SMTP_HELO="+name)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, cmd)
	}
	defer func() {
		for _, w := range workers {
			w.Process.Signal(syscall.SIGTERM)
			w.Wait()
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for sink.Count() < prospects && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
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
	t.Logf("shares: %v", share)
}

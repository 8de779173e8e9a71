package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/nurture-dev/nurture/internal/ci"
)

// requireRedisServer skips a test that starts redis-server processes of
// its own when there is none on PATH, and fails it under CI.
func requireRedisServer(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if ci.Enabled() {
			t.Fatalf("redis-server is required under CI: %v", err)
		}
		t.Skip("no redis-server on PATH")
	}
}

// childEnv is the environment for a nurture process a test starts: this
// process's, without any NURTURE_, SMTP_, TWILIO_ or REDIS_ variable (the
// test's settings must be the only ones), plus settings ("K=V").
func childEnv(settings ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NURTURE_") || strings.HasPrefix(k, "SMTP_") || strings.HasPrefix(k, "TWILIO_") || strings.HasPrefix(k, "REDIS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, settings...)
}

// startWorkers starts one `nurture worker` per name (announced as its
// SMTP HELO, so the sink tells them apart) with env and extra flags, each
// with its stderr captured; stop sends SIGTERM and waits for them.
func startWorkers(t *testing.T, bin string, env, flags []string, names ...string) (workers []*exec.Cmd, logs []*syncBuffer, stop func()) {
	t.Helper()
	for _, name := range names {
		cmd := exec.Command(bin, append([]string{"worker"}, flags...)...)
		cmd.Env = append(append([]string{}, env...), "SMTP_HELO="+name)
		buf := &syncBuffer{}
		cmd.Stderr = buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		workers, logs = append(workers, cmd), append(logs, buf)
	}
	return workers, logs, func() {
		for _, w := range workers {
			_ = w.Process.Signal(syscall.SIGTERM)
			_ = w.Wait()
		}
	}
}

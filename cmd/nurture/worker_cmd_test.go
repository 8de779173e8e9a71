package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

func TestWorkerCommandSendsToOutbox(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	outDir := t.TempDir()
	env := map[string]string{
		"NURTURE_PREFIX": prefix, "NURTURE_CADENCES": "../../examples",
		"NURTURE_TOKEN_KEY": testTokenKey, "NURTURE_OUTBOX_DIR": outDir, "NURTURE_PUBLIC_URL": "https://n.example",
	}
	for k, v := range redistest.Env(t) {
		env[k] = v
	}
	// Enroll through the library, as the API will.
	cfg, err := readEngineConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cads, err := loadCadences(cfg.CadenceDir)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(cfg.TokenKey))
	ob, _ := channels.NewOutbox("", 10, time.Now)
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: cads, Email: ob, SMS: ob, Tokens: signer, PublicURL: "http://x"})
	if err != nil {
		t.Fatal(err)
	}
	// The example's window is 10:00-20:00 local: pick a zone where it is
	// open now, since the worker runs on the wall clock.
	zone := ""
	for off := -12; off <= 12 && zone == ""; off++ {
		name := "Etc/GMT" + fmt.Sprintf("%+d", -off)
		if off == 0 {
			name = "UTC"
		}
		loc, err := time.LoadLocation(name)
		if err == nil {
			if h := time.Now().In(loc).Hour(); h >= 11 && h <= 18 {
				zone = name
			}
		}
	}
	if _, err := e.Enroll(context.Background(), &store.Prospect{ID: "w1", Email: "w1@example.com", TimeZone: zone}, "shop-winback"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--tick", "50ms"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
	}()
	deadline := time.Now().Add(15 * time.Second)
	var files []string
	for time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(outDir, "*.eml"))
		if len(files) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v\n%s", err, stderr.String())
	}
	if len(files) != 1 {
		t.Fatalf("outbox files %v\n%s", files, stderr.String())
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "List-Unsubscribe-Post: List-Unsubscribe=One-Click") || !strings.Contains(string(b), "To: <w1@example.com>") {
		t.Fatalf("message:\n%s", b)
	}
}

func TestWorkerCommandNeedsConfig(t *testing.T) {
	_, _, err := runCmd(t, "worker")
	if err == nil || !strings.Contains(err.Error(), "NURTURE_TOKEN_KEY") {
		t.Fatalf("got %v", err)
	}
	env := map[string]string{"NURTURE_TOKEN_KEY": strings.Repeat("k", 32)}
	for value, want := range map[string]string{"": "message", "batch": "batch", "perhaps": `NURTURE_JOURNAL="perhaps": expected message or batch`} {
		env["NURTURE_JOURNAL"] = value
		cfg, err := readEngineConfig(func(k string) string { return env[k] })
		got := cfg.Journal
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("NURTURE_JOURNAL=%q: %s, want %s", value, got, want)
		}
	}
}

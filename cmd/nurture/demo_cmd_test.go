package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildNurture builds the binary once per test run.
func buildNurture(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nurture-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "nurture")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = err
			builtBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, builtBin)
	}
	return builtBin
}

var tokenRe = regexp.MustCompile(`admin token ([0-9a-f]+)`)
var dashRe = regexp.MustCompile(`dashboard:\s+(http://\S+)/`)

// TestDemoCommandSmoke runs `nurture demo` as README command one does:
// it starts with nothing installed, serves the dashboard, moves a prospect
// across a stage within a bounded time and stops cleanly on SIGTERM.
func TestDemoCommandSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns the demo process; skipped with -short")
	}
	bin := buildNurture(t)
	cmd := exec.Command(bin, "demo", "--addr", freeAddr(t), "--day", "1", "--prospects", "150")
	cmd.Env = append(os.Environ(), "REDIS_URL=") // the demo never needs one
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var base, token string
	sc := bufio.NewScanner(out)
	for sc.Scan() && (base == "" || token == "") {
		if m := dashRe.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
		if m := tokenRe.FindStringSubmatch(sc.Text()); m != nil {
			token = m[1]
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if base == "" || token == "" {
		t.Fatal("the demo did not print its dashboard URL and token")
	}
	resp, err := http.Get(base + "/login")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("dashboard: %v", err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(60 * time.Second)
	moved := false
	for !moved && time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", base+"/v1/cadences/saas-trial/stats", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Stages []struct{ Entered int64 } `json:"stages"`
		}
		json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		moved = len(rep.Stages) > 1 && rep.Stages[1].Entered > 0
		time.Sleep(200 * time.Millisecond)
	}
	if !moved {
		t.Fatal("no prospect crossed a stage within 60 s")
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v after SIGTERM", err)
		}
		t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20 s of SIGTERM")
	}
}

// testTokenKey is a NURTURE_TOKEN_KEY the binary accepts (32+ bytes that
// look random); tests that sign tokens themselves pass it to NewSigner.
const testTokenKey = "tK3y-9f2c71e8b3d6054a7e-nurture-test-only-Qz81"

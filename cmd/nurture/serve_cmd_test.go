package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/tokens"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeAndCLI runs `nurture serve` and drives it with the CLI
// commands, as a sales rep in a terminal would.
func TestServeAndCLI(t *testing.T) {
	_, prefix := redistest.Client(t)
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{"NURTURE_METRICS_ADDR": metricsAddr, "NURTURE_SPOOL_DIR": t.TempDir(),
		"NURTURE_PREFIX": prefix, "NURTURE_CADENCES": "../../examples",
		"NURTURE_TOKEN_KEY": testTokenKey, "NURTURE_OUTBOX_DIR": t.TempDir(), "NURTURE_PUBLIC_URL": "http://" + addr,
		"NURTURE_API_TOKENS": "ops:admin:ops-secret-0123456789,sam:sales:sam-secret-0123456789",
		"NURTURE_API_URL":    "http://" + addr, "NURTURE_API_TOKEN": "ops-secret-0123456789",
	}
	for k, v := range redistest.Env(t) {
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var serveOut, serveErr bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--addr", addr}, getenv, &serveOut, &serveErr) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, serveErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for path, want := range map[string]string{"/readyz": `"ok"`, "/login": `name="token"`} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, getenv, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := cli("enroll", "--cadence", "saas-trial", "--email", "ada@example.com", "--first-name", "Ada", "--owner", "sam", "--timezone", "America/Chicago")
	if err != nil || !strings.Contains(out, "ada@example.com~saas-trial: active at stage awareness") {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	csvPath := filepath.Join(t.TempDir(), "prospects.csv")
	var b strings.Builder
	b.WriteString("email,first_name,phone,owner,plan\n")
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&b, "p%d@example.com,P%d,,sam,team\n", i, i)
	}
	b.WriteString("broken-address,X,,sam,\n")
	b.WriteString("q@example.com,Q,555,sam,\n")
	os.WriteFile(csvPath, []byte(b.String()), 0o644)
	out, err = cli("import", csvPath, "--cadence", "saas-trial")
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(out, "2502 rows, 2500 enrolled in saas-trial, 2 rejected") ||
		!strings.Contains(out, "prospects.csv:2502: email:") || !strings.Contains(out, "prospects.csv:2503: phone:") || !strings.Contains(out, "2502/2502 rows") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	// A quoted field spanning lines: rejections still name the file line
	// their record starts on.
	multi := filepath.Join(t.TempDir(), "multi.csv")
	os.WriteFile(multi, []byte("email,first_name,notes\nm1@example.com,M1,\"line one\nline two\"\nbad-address,X,\nm2@example.com,M2,ok\n"), 0o644)
	out, err = cli("import", multi, "--cadence", "saas-trial")
	if !errors.As(err, &ec) || !strings.Contains(out, "3 rows, 2 enrolled in saas-trial, 1 rejected") || !strings.Contains(out, "multi.csv:4: email:") {
		t.Fatalf("import with a multi-line field: %v\n%s", err, out)
	}
	// The reload endpoint is wired to the cadence directory.
	reload := func() (int, string) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/cadences/reload", nil)
		req.Header.Set("Authorization", "Bearer ops-secret-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	if code, body := reload(); code != 200 || !strings.Contains(body, `"saas-trial"`) || !strings.Contains(body, `"shop-winback"`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	if out, err := cli("uncertain", "--cadence", "saas-trial"); err != nil || !strings.Contains(out, "no uncertain touches in saas-trial") {
		t.Fatalf("uncertain: %v\n%s", err, out)
	}
	env["NURTURE_API_TOKEN"] = "sam-secret-0123456789" // a sales rep from here on
	out, err = cli("pause", "--email", "ada@example.com", "--reason", "call booked", "--until", "3d")
	if err != nil || !strings.Contains(out, "paused at stage awareness") || !strings.Contains(out, "(call booked)") {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	out, err = cli("timeline", "--email", "ada@example.com")
	if err != nil || !strings.Contains(out, "enrolled at stage awareness") || !strings.Contains(out, "paused: active -> paused by sales:sam: call booked") {
		t.Fatalf("timeline: %v\n%s", err, out)
	}
	out, err = cli("resume", "--email", "ada@example.com")
	if err != nil || !strings.Contains(out, "active at stage awareness") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	out, err = cli("snooze", "--email", "ada@example.com", "--until", "2d")
	if err != nil || !strings.Contains(out, "snoozed at stage awareness") {
		t.Fatalf("snooze: %v\n%s", err, out)
	}
	if out, err := cli("snooze", "--email", "ada@example.com", "--until", "soon"); err == nil || !strings.Contains(err.Error(), "--until") {
		t.Fatalf("bad --until accepted: %v %s", err, out)
	}
	out, err = cli("stop", "--email", "ada@example.com", "--reason", "bought elsewhere")
	if err != nil || !strings.Contains(out, "exited at stage awareness") {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	out, err = cli("warm", "--owner", "sam")
	if err != nil || !strings.Contains(out, "no warm leads") {
		t.Fatalf("warm: %v\n%s", err, out)
	}
	if out, err := cli("enroll", "--cadence", "saas-trial", "--email", "z@example.com"); err == nil || !strings.Contains(out+err.Error(), "forbidden") {
		t.Fatalf("a sales token enrolled: %v %s", err, out)
	}
	// /metrics: an admin token on the public listener, none on the private
	// metrics listener.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("public /metrics without a token: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer sam-secret-0123456789")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("public /metrics with a sales token: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	req.Header.Set("Authorization", "Bearer ops-secret-0123456789")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("public /metrics with an admin token: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"nurture_due_backlog", `nurture_enrollments{cadence="saas-trial",state="active"}`, `nurture_queue_tasks{queue="` + prefix + `-email"`, "nurture_events_total{kind=\"paused\"} 1", "go_goroutines"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

func TestServeWithoutRedisURLUsesTheEmbeddedRedis(t *testing.T) {
	addr := freeAddr(t)
	env := map[string]string{"NURTURE_CADENCES": "../../examples", "NURTURE_METRICS_ADDR": "off", "NURTURE_SPOOL_DIR": t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr}, func(k string) string { return env[k] }, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "EMBEDDED IN-MEMORY Redis") {
		t.Fatalf("no warning that state is in memory:\n%s", errOut.String())
	}
	// Embedded mode makes up the secrets it is not given, and says so.
	if !strings.Contains(errOut.String(), "NURTURE_TOKEN_KEY is not set: using a random key") || !tokenLine.MatchString(out.String()) {
		t.Fatalf("embedded serve without secrets:\n%s\n%s", out.String(), errOut.String())
	}
}

// TestServeOutsideTheRepositoryRunsTheExamples starts the built binary as
// a newcomer would after `go install`: with no settings at all, in a
// directory with no examples/ (the test's own, cmd/nurture). It must come
// up with the built-in example cadences.
func TestServeOutsideTheRepositoryRunsTheExamples(t *testing.T) {
	bin := buildNurture(t)
	addr := freeAddr(t)
	if _, err := os.Stat("examples"); err == nil {
		t.Fatal("this test needs a working directory without examples/")
	}
	dir := t.TempDir()
	p := startProcess(t, bin, "serve", []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "NURTURE_METRICS_ADDR=off", "NURTURE_SPOOL_DIR=" + dir}, "serve", "--addr", addr)
	waitHTTP(t, p, "http://"+addr+"/readyz")
	token := strings.TrimSuffix(strings.TrimPrefix(tokenLine.FindString(p.out.String()), "admin token "), " for this embedded run")
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/cadences", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"saas-trial"`) {
		t.Fatalf("GET /v1/cadences: %d %s\n%s", resp.StatusCode, b, p.out.String())
	}
	if !strings.Contains(p.out.String(), "running the built-in example cadences") {
		t.Errorf("serve does not say it runs the built-in examples:\n%s", p.out.String())
	}
}

// TestServeRefusesPlaceholderSecrets runs serve as compose does (REDIS_URL
// set, so not embedded) with an example or guessable secret: run() refuses
// before it connects to Redis or listens, names the variable and why, and
// never prints the secret.
func TestServeRefusesPlaceholderSecrets(t *testing.T) {
	goodKey, goodTokens := testTokenKey, "ops:admin:"+tokens.RandomHex(24)
	for _, c := range []struct {
		name, key, apiTokens, want string
	}{
		{"placeholder key", "change-me-to-a-long-random-secret-0123456789", goodTokens, `NURTURE_TOKEN_KEY contains "change-me"`},
		{"patterned key", "0123456789abcdef0123456789abcdef", goodTokens, "NURTURE_TOKEN_KEY repeats a 16-byte pattern"},
		{"short key", "0123456789abcdef", goodTokens, "NURTURE_TOKEN_KEY is 16 bytes, at least 32"},
		{"no key", "", goodTokens, "NURTURE_TOKEN_KEY is not set"},
		{"placeholder API token", goodKey, "ops:admin:change-me-admin-token-0123", `NURTURE_API_TOKENS: token "ops" contains "change-me"`},
		{"guessable API token", goodKey, "ops:admin:" + tokens.RandomHex(24) + ",sam:sales:aaaaaaaaaaaaaaaaaaaa", `NURTURE_API_TOKENS: token "sam" uses only 1 distinct`},
		{"no API tokens", goodKey, "", "NURTURE_API_TOKENS must name at least one token"},
	} {
		for _, args := range [][]string{{"serve", "--addr", freeAddr(t)}, {"serve", "--addr", freeAddr(t), "--no-worker"}} {
			env := map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "NURTURE_TOKEN_KEY": c.key, "NURTURE_API_TOKENS": c.apiTokens,
				"NURTURE_METRICS_ADDR": "off", "NURTURE_SPOOL_DIR": t.TempDir(), "NURTURE_CADENCES": "../../examples"}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var out, errOut bytes.Buffer
			err := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
			cancel()
			all := fmt.Sprint(err) + out.String() + errOut.String()
			switch {
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Errorf("%s: %v %v: %v, want %q\n%s", c.name, args[3:], env, err, c.want, errOut.String())
			case strings.Contains(all, "127.0.0.1:1") || strings.Contains(all, "serving"):
				t.Errorf("%s: serve went on to connect or listen before refusing:\n%s", c.name, all)
			}
			for _, secret := range []string{c.key, strings.TrimPrefix(c.apiTokens, "ops:admin:")} {
				if len(secret) >= 16 && strings.Contains(all, secret) {
					t.Errorf("%s: the secret is printed:\n%s", c.name, all)
				}
			}
		}
	}
}

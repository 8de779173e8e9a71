package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/tokens"
)

// syncBuffer is a bytes.Buffer a running command may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tokenLine is what serve prints when it made up an admin token.
var tokenLine = regexp.MustCompile(`admin token [0-9a-f]{32} for this embedded run`)

// process is a nurture process started by a test.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startProcess(t *testing.T, bin, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	return p
}

// exited reports whether the process has ended, without waiting.
func (p *process) exited() (error, bool) {
	select {
	case err := <-p.done:
		p.done <- err
		return err, true
	default:
		return nil, false
	}
}

// waitHTTP polls url until it answers 200 or the process ends.
func waitHTTP(t *testing.T, p *process, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if err, ok := p.exited(); ok {
			t.Fatalf("%s exited (%v) before %s answered:\n%s", p.name, err, url, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer 200:\n%s", p.name, url, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// health runs `nurture health URL` as docker-compose.yml's health checks
// do and returns its exit status and output.
func health(t *testing.T, bin, url string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, "health", url)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("nurture health %s: %v", url, err)
	return 0, ""
}

// TestComposeTopology runs the docker-compose.yml layout as real
// processes: one redis-server with AOF, `nurture serve --no-worker`, two
// `nurture worker` processes and an SMTP sink. Prospects enrolled through
// the HTTP API get every touch exactly once, serve stays up, and SIGTERM
// stops every process cleanly.
func TestComposeTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped with -short")
	}
	const prospects = 300
	bin := buildNurture(t)
	rs := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction")
	sink := smtptest.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "topo.yaml"), []byte(enginetest.EmailCadence("topo", "0", "1s")), 0o644); err != nil {
		t.Fatal(err)
	}
	apiAddr, metricsAddr := freeAddr(t), freeAddr(t)
	admin := tokens.RandomHex(20)
	env := append(os.Environ(), "REDIS_URL=redis://"+rs.Addr+"/0", "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+tokens.RandomHex(32),
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_METRICS_ADDR="+metricsAddr, "NURTURE_SPOOL_DIR="+t.TempDir(),
		"SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", "SMTP_CONNECTIONS=2")
	// The compose file sets these; the parent's must not leak in.
	for _, k := range []string{"REDIS_CLUSTER_ADDRS", "NURTURE_PREFIX", "NURTURE_JOURNAL"} {
		env = append(env, k+"=")
	}
	serve := startProcess(t, bin, "serve", append(env, "NURTURE_API_TOKENS=ops:admin:"+admin),
		"serve", "--addr", apiAddr, "--no-worker")
	waitHTTP(t, serve, "http://"+apiAddr+"/readyz")
	var workers []*process
	var opsAddrs []string
	for i := range 2 {
		ops := freeAddr(t)
		w := startProcess(t, bin, fmt.Sprintf("worker %d", i+1), env, "worker", "--tick", "100ms", "--ops-addr", ops)
		waitHTTP(t, w, "http://"+ops+"/readyz")
		workers = append(workers, w)
		opsAddrs = append(opsAddrs, ops)
	}
	// The compose health checks: `nurture health http://127.0.0.1:PORT/readyz`
	// on serve's address and on each worker's --ops-addr exits 0.
	for _, u := range []string{"http://" + apiAddr + "/readyz", "http://" + opsAddrs[0] + "/readyz", "http://" + opsAddrs[1] + "/readyz"} {
		if code, out := health(t, bin, u); code != 0 || !strings.HasPrefix(out, u+": ") || !strings.Contains(out, "ok") {
			t.Errorf("nurture health %s while up: exit %d:\n%s", u, code, out)
		}
	}

	var body strings.Builder
	for i := range prospects {
		fmt.Fprintf(&body, `{"id":"t%03d","email":"t%03d@example.com","first_name":"T%d"}`+"\n", i, i, i)
	}
	req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/enrollments/bulk?cadence=topo", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res struct{ Enrolled int }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(rb, &res) != nil || res.Enrolled != prospects {
		t.Fatalf("bulk enroll: %s %s", resp.Status, rb)
	}

	want := prospects * 2
	deadline := time.Now().Add(60 * time.Second)
	for sink.Count() < want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	// Anything sent twice would arrive within a few ticks of the rest.
	time.Sleep(time.Second)
	perTouch := map[string]int{}
	ids := map[string]bool{}
	for _, m := range sink.Messages() {
		perTouch[m.To+" "+m.Header.Get("Subject")+" "+m.MessageID]++
		ids[m.MessageID] = true
	}
	if got := sink.Count(); got != want || len(ids) != want {
		t.Errorf("the sink has %d messages (%d distinct Message-IDs), want %d: each of %d prospects' two touches once", got, len(ids), want, prospects)
	}
	for k, n := range perTouch {
		if n > 1 {
			t.Errorf("sent %d times: %s", n, k)
		}
	}
	perRecipient := map[string]int{}
	for _, m := range sink.Messages() {
		perRecipient[m.To]++
	}
	for i := range prospects {
		if to := fmt.Sprintf("t%03d@example.com", i); perRecipient[to] != 2 {
			t.Errorf("%s received %d messages, want 2", to, perRecipient[to])
		}
	}

	// serve is still up after the run, API and metrics listener both.
	if err, ok := serve.exited(); ok {
		t.Fatalf("serve --no-worker exited (%v):\n%s", err, serve.out.String())
	}
	for _, u := range []string{"http://" + apiAddr + "/readyz", "http://" + metricsAddr + "/metrics"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s after the run: %v %v", u, err, resp)
		}
		resp.Body.Close()
	}
	// SIGTERM stops every process cleanly.
	all := append([]*process{serve}, workers...)
	for _, p := range all {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range all {
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Errorf("%s after SIGTERM: %v\n%s", p.name, err, p.out.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30 s of SIGTERM:\n%s", p.name, p.out.String())
		}
	}
	// With serve gone its port is closed: the health check fails (so
	// compose marks the container unhealthy) and says what it probed.
	u := "http://" + apiAddr + "/readyz"
	if code, out := health(t, bin, u); code == 0 || !strings.Contains(out, "nurture: health: "+u+" is not answering: ") || !strings.Contains(out, "connection refused") {
		t.Errorf("nurture health %s with serve stopped: exit %d, want non-zero naming the URL and \"connection refused\":\n%s", u, code, out)
	}
}

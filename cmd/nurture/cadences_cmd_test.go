package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/tokens"
)

// liveCadence is a one-stage email cadence of n touches, each delay after
// the one before (the first at once), whose subject is subject.
func liveCadence(id, subject string, n int, delay string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: %s\ntimezone: UTC\nfrom: {email: \"Acme <hello@acme.example>\"}\npostal_address: \"1 Main St, Springfield\"\n", id, id)
	b.WriteString("send_window: {start: \"00:00\", end: \"24:00\"}\nstages:\n  - id: only\n    touches:\n")
	for i := range n {
		d := delay
		if i == 0 {
			d = "0"
		}
		fmt.Fprintf(&b, "      - {id: t%02d, channel: email, delay: %s, template: mail}\n", i+1, d)
	}
	fmt.Fprintf(&b, "templates:\n  mail: {subject: %q, text: \"Hello\"}\n", subject)
	return b.String()
}

func versionOf(t *testing.T, src string) string {
	t.Helper()
	c, err := cadence.Parse("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c.Version
}

// TestCadencesCommand drives `nurture cadences` against `nurture serve`,
// and the reload endpoint, which now publishes the server's files.
func TestCadencesCommand(t *testing.T) {
	_, prefix := redistest.Client(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "pub.yaml")
	v1src, v2src, v3src := liveCadence("pub", "v1 subject", 3, "1d"), liveCadence("pub", "v2 subject", 3, "1d"), liveCadence("pub", "v3 subject", 3, "1d")
	v1, v2, v3 := versionOf(t, v1src), versionOf(t, v2src), versionOf(t, v3src)
	if err := os.WriteFile(file, []byte(v1src), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"NURTURE_METRICS_ADDR": "off", "NURTURE_SPOOL_DIR": t.TempDir(),
		"NURTURE_PREFIX": prefix, "NURTURE_CADENCES": dir, "NURTURE_TOKEN_KEY": testTokenKey, "NURTURE_PUBLIC_URL": "http://" + addr,
		"NURTURE_API_TOKENS": "ops:admin:ops-secret-0123456789,sam:sales:sam-secret-0123456789",
		"NURTURE_API_URL":    "http://" + addr, "NURTURE_API_TOKEN": "ops-secret-0123456789",
	}
	for k, v := range redistest.Env(t) {
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var serveOut, serveErr syncBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--no-worker"}, getenv, &serveOut, &serveErr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, serveErr.String())
		}
	}()
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
	cli := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, getenv, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	mustCLI := func(want []string, args ...string) string {
		t.Helper()
		out, errOut, err := cli(args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("%v: output lacks %q:\n%s%s", args, w, out, errOut)
			}
		}
		return out
	}

	// Usage: -h exits 0 and lists flags and the environment.
	mustCLI([]string{"publish FILE|DIR", "versions ID", "diff ID", "rollback ID VERSION", "NURTURE_API_URL", "NURTURE_API_TOKEN"}, "cadences", "-h")
	for sub, flags := range map[string][]string{"publish": {"-message", "-dry-run"}, "versions": nil, "diff": nil, "rollback": {"-message", "-dry-run"}} {
		mustCLI(append(flags, "Usage: nurture cadences "+sub, "NURTURE_API_URL", "NURTURE_API_TOKEN"), "cadences", sub, "-h")
	}
	var ec exitCode
	for _, args := range [][]string{{"cadences"}, {"cadences", "versions"}, {"cadences", "rollback", "pub"}, {"cadences", "publish", "--bogus", file}} {
		if _, _, err := cli(args...); !errors.As(err, &ec) || ec != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
	if _, _, err := cli("cadences", "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown cadences command "frobnicate"`) {
		t.Errorf("unknown subcommand: %v", err)
	}
	mustCLI([]string{"  cadences   publish, preview (--dry-run)"}, "--help")

	// serve published its file at start.
	mustCLI([]string{"* " + v1, "files:" + file, "loaded from " + file}, "cadences", "versions", "pub")
	mustCLI([]string{"pub~pub: active"}, "enroll", "--cadence", "pub", "--email", "ada@example.com", "--id", "pub")

	// A dry run shows the diff and the impact, and changes nothing.
	v2file := filepath.Join(t.TempDir(), "pub-v2.yaml")
	os.WriteFile(v2file, []byte(v2src), 0o644)
	mustCLI([]string{"pub: " + v2 + " would replace " + v1, "--- pub@" + v1, `-  mail: {subject: "v1 subject"`, `+  mail: {subject: "v2 subject"`,
		"enrollments: 1 (all read)", "  unchanged", "nothing was changed"}, "cadences", "publish", v2file, "--dry-run")
	if out := mustCLI(nil, "cadences", "versions", "pub"); strings.Contains(out, v2) {
		t.Fatalf("a dry run published:\n%s", out)
	}
	mustCLI([]string{"pub: published " + v2 + " (was " + v1 + ")"}, "cadences", "publish", "--message", "v2 subject", v2file)
	mustCLI([]string{"pub: " + v2 + " is already the head; nothing changed"}, "cadences", "publish", v2file)

	// A file with a problem: reported as validate does, nothing published.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(v3src, "timezone: UTC", "timezone: Mars/Olympus", 1)), 0o644)
	out, errOut, err := cli("cadences", "publish", v2file, bad)
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(out, bad+":3:11: timezone: unknown time zone") || !strings.Contains(out, "    timezone: Mars/Olympus\n              ^") ||
		!strings.Contains(errOut, "1 of 2 files have problems; nothing was published") {
		t.Fatalf("bad file: %v\n%s%s", err, out, errOut)
	}

	// Versions, diff, rollback.
	out = mustCLI([]string{"* " + v2, "admin:ops", "v2 subject", "  " + v1}, "cadences", "versions", "pub")
	if strings.Index(out, v2) > strings.Index(out, v1) {
		t.Fatalf("versions not newest first:\n%s", out)
	}
	d := mustCLI([]string{"--- pub@" + v1, "+++ pub@" + v2, `+  mail: {subject: "v2 subject"`}, "cadences", "diff", "pub")
	if explicit := mustCLI(nil, "cadences", "diff", "pub", v1, v2); explicit != d {
		t.Fatalf("diff pub %s %s:\n%s\nwant\n%s", v1, v2, explicit, d)
	}
	if _, errOut, err := cli("cadences", "diff", "pub", v2, v2); err != nil || !strings.Contains(errOut, "no differences") {
		t.Fatalf("diff of a version with itself: %v %s", err, errOut)
	}
	if _, _, err := cli("cadences", "diff", "pub", "v0123456789ab"); err == nil || !strings.Contains(err.Error(), "not_found (HTTP 404)") {
		t.Fatalf("diff of an unknown version: %v", err)
	}
	mustCLI([]string{"pub: " + v1 + " would replace " + v2, "nothing was changed"}, "cadences", "rollback", "pub", v1, "--dry-run")
	mustCLI([]string{"pub: head moved back to " + v1 + " (was " + v2 + ")"}, "cadences", "rollback", "pub", v1, "--message", "subject test over")
	mustCLI([]string{"* " + v1, "rollback to " + v1 + ": subject test over"}, "cadences", "versions", "pub")

	// The reload endpoint publishes the server's files (here: edited).
	os.WriteFile(file, []byte(v3src), 0o644)
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/cadences/reload", nil)
	req.Header.Set("Authorization", "Bearer ops-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rl struct {
		Loaded  map[string]string
		Changed map[string]struct{ From, To string }
	}
	if json.Unmarshal(b, &rl) != nil || resp.StatusCode != 200 || rl.Loaded["pub"] != v3 || rl.Changed["pub"].From != v1 || rl.Changed["pub"].To != v3 {
		t.Fatalf("reload: %d %s", resp.StatusCode, b)
	}
	mustCLI([]string{"* " + v3, "files:" + file}, "cadences", "versions", "pub")
	// A sales token may not publish.
	env["NURTURE_API_TOKEN"] = "sam-secret-0123456789"
	if _, _, err := cli("cadences", "versions", "pub"); err == nil || !strings.Contains(err.Error(), "forbidden (HTTP 403)") {
		t.Fatalf("sales token: %v", err)
	}
}

// waitLog waits until a process logged want, and returns when it was
// first seen (polled every 5 ms).
func waitLog(t *testing.T, p *process, want string, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v:\n%s", p.name, want, limit, p.out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now()
}

// TestCadencePublishTopology runs the compose layout as real processes (a
// redis-server, `serve --no-worker`, two `nurture worker`s, an SMTP sink),
// with prospects getting a touch about every second. A cadence published
// through the API reaches both workers within a second, and every touch
// sent from 2 s after the publish (there must be some) carries the new
// version's subject; the same for a rollback.
func TestCadencePublishTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped with -short")
	}
	const prospects, touches = 20, 24
	bin := buildNurture(t)
	rs := redistest.StartServer(t)
	sink := smtptest.Start(t)
	dir := t.TempDir()
	v1src, v2src := liveCadence("live", "v1", touches, "1s"), liveCadence("live", "v2", touches, "1s")
	v1, v2 := versionOf(t, v1src), versionOf(t, v2src)
	if err := os.WriteFile(filepath.Join(dir, "live.yaml"), []byte(v1src), 0o644); err != nil {
		t.Fatal(err)
	}
	apiAddr := freeAddr(t)
	admin := tokens.RandomHex(20)
	env := append(os.Environ(), "REDIS_URL=redis://"+rs.Addr+"/0", "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+tokens.RandomHex(32),
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_METRICS_ADDR=off", "NURTURE_SPOOL_DIR="+t.TempDir(),
		"SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=none", "SMTP_CONNECTIONS=2")
	for _, k := range []string{"REDIS_CLUSTER_ADDRS", "NURTURE_PREFIX", "NURTURE_JOURNAL"} {
		env = append(env, k+"=")
	}
	serve := startProcess(t, bin, "serve", append(env, "NURTURE_API_TOKENS=ops:admin:"+admin), "serve", "--addr", apiAddr, "--no-worker")
	waitHTTP(t, serve, "http://"+apiAddr+"/readyz")
	var workers []*process
	for i := range 2 {
		ops := freeAddr(t)
		w := startProcess(t, bin, fmt.Sprintf("worker %d", i+1), append(env, fmt.Sprintf("SMTP_HELO=worker%d.test", i+1)),
			"worker", "--tick", "100ms", "--ops-addr", ops)
		waitHTTP(t, w, "http://"+ops+"/readyz")
		workers = append(workers, w)
	}
	all := append([]*process{serve}, workers...)

	var body strings.Builder
	for i := range prospects {
		fmt.Fprintf(&body, `{"id":"l%02d","email":"l%02d@example.com"}`+"\n", i, i)
	}
	req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/enrollments/bulk?cadence=live", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(rb), fmt.Sprintf(`"enrolled": %d`, prospects)) {
		t.Fatalf("bulk enroll: %s %s", resp.Status, rb)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sink.Count() < 2*prospects && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if sink.Count() < 2*prospects {
		t.Fatalf("only %d messages arrived", sink.Count())
	}

	cliEnv := map[string]string{"NURTURE_API_URL": "http://" + apiAddr, "NURTURE_API_TOKEN": admin}
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, func(k string) string { return cliEnv[k] }, &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	apiVersion := func() string {
		req, _ := http.NewRequest("GET", "http://"+apiAddr+"/v1/cadences/live", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct{ Version string }
		json.NewDecoder(resp.Body).Decode(&c)
		return c.Version
	}
	// switchTo publishes (or rolls back) and measures when each process
	// logged the switch, from the moment the API answered.
	type phase struct {
		subject  string
		answered time.Time
		seen     []time.Duration // per worker
	}
	switchTo := func(subject, from, to string, do func()) phase {
		start := time.Now()
		do()
		ph := phase{subject: subject, answered: time.Now()}
		if v := apiVersion(); v != to {
			t.Fatalf("the API runs %s right after the switch to %s", v, to)
		}
		line := fmt.Sprintf("cadence live now %s, was %s", to, from)
		for _, w := range workers {
			ph.seen = append(ph.seen, waitLog(t, w, line, 5*time.Second).Sub(ph.answered))
		}
		waitLog(t, serve, line, time.Second)
		t.Logf("switch to %s (%s): API answered in %v; workers logged it %v after the answer", subject, to, ph.answered.Sub(start).Round(time.Millisecond), ph.seen)
		return ph
	}
	time.Sleep(1500 * time.Millisecond)
	v2file := filepath.Join(t.TempDir(), "live-v2.yaml")
	os.WriteFile(v2file, []byte(v2src), 0o644)
	p2 := switchTo("v2", v1, v2, func() { cli("cadences", "publish", v2file, "--message", "subject v2") })
	time.Sleep(4 * time.Second)
	p3 := switchTo("v1", v2, v1, func() { cli("cadences", "rollback", "live", v1) })
	time.Sleep(4 * time.Second)
	end := time.Now()

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
			t.Errorf("%s did not stop within 30 s of SIGTERM", p.name)
		}
	}

	msgs := sink.Messages()
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].At.Before(msgs[j].At) })
	ids := map[string]bool{}
	for _, m := range msgs {
		if ids[m.MessageID] {
			t.Errorf("sent twice: %s to %s", m.MessageID, m.To)
		}
		ids[m.MessageID] = true
	}
	for _, ph := range []struct {
		name      string
		p         phase
		from, old string
		until     time.Time
	}{{"publish", p2, "v2", "v1", p3.answered}, {"rollback", p3, "v1", "v2", end}} {
		for i, d := range ph.p.seen {
			if d > time.Second {
				t.Errorf("worker %d logged the switch to %s %v after the API answered, want within 1 s", i+1, ph.from, d)
			}
		}
		var lastOld time.Time
		perWorker := map[string]int{}
		for _, m := range msgs {
			if m.At.Before(ph.p.answered) || !m.At.Before(ph.until) {
				continue
			}
			subj := m.Header.Get("Subject")
			if subj == ph.old {
				lastOld = m.At
			}
			if m.At.After(ph.p.answered.Add(2 * time.Second)) {
				if subj != ph.from {
					t.Errorf("%s sent %q to %s at +%v after the switch to %s", m.Helo, subj, m.To, m.At.Sub(ph.p.answered).Round(time.Millisecond), ph.from)
				}
				perWorker[m.Helo]++
			}
		}
		// The subject check above proves nothing if nothing was sent.
		sent := 0
		for _, n := range perWorker {
			sent += n
		}
		if sent == 0 {
			t.Errorf("%s phase (switch to %s): no message was sent from 2 s after the API answered until %s, so nothing shows the workers send %s",
				ph.name, ph.from, map[string]string{"publish": "the rollback", "rollback": "the processes were stopped"}[ph.name], ph.from)
		}
		// Which worker wins the claims is up to the scheduler (on a loaded
		// machine one may take them all); that both switched is proven by
		// their logs above, that no old message went out by the loop.
		if len(perWorker) != 2 {
			t.Logf("from 2 s after the switch to %s only %v sent", ph.from, perWorker)
		}
		if lastOld.IsZero() {
			t.Logf("switch to %s: no %s message after the API answered; %v sent after +2 s", ph.from, ph.old, perWorker)
		} else {
			t.Logf("switch to %s: last %s message at +%v; %v sent after +2 s", ph.from, ph.old, lastOld.Sub(ph.p.answered).Round(time.Millisecond), perWorker)
		}
	}
}

package server_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// testTimeouts are short so the tests see them fire.
var testTimeouts = server.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond, Write: 2 * time.Second,
	Idle: 500 * time.Millisecond, Stream: 5 * time.Second}

// serveWith runs h behind NewHTTPServer on a loopback port.
func serveWith(t *testing.T, h http.Handler, to server.Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := server.NewHTTPServer(h, to, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// trickle writes a request whose body arrives one byte per interval and
// reports whether the server closed the connection (or answered) before
// the body was complete.
func trickle(t *testing.T, addr, path string, n int, interval time.Duration) (closedEarly bool, status string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", path, n)
	for i := 0; i < n; i++ {
		time.Sleep(interval)
		if _, err := c.Write([]byte("a")); err != nil {
			return true, ""
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return true, ""
	}
	return false, strings.TrimSpace(line)
}

// readAll is a handler that reads the whole body, as the API's do.
var readAll = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		return
	}
	io.WriteString(w, "ok")
})

func TestSlowBodyConnectionIsClosed(t *testing.T) {
	addr := serveWith(t, readAll, testTimeouts)
	// 40 bytes at 100 ms: 4 s, eight times the 500 ms read budget.
	closed, status := trickle(t, addr, "/v1/prospects/x", 40, 100*time.Millisecond)
	if !closed && !strings.Contains(status, "408") && !strings.Contains(status, "400") {
		t.Fatalf("a body trickling in over 4 s was read to the end and answered %q; Read timeout %v", status, testTimeouts.Read)
	}
	// A normal request on the same server still works.
	if closed, status := trickle(t, addr, "/v1/prospects/x", 3, 0); closed || !strings.Contains(status, "200") {
		t.Fatalf("a prompt request: closed %v, %q", closed, status)
	}
}

func TestSlowHeadersConnectionIsClosed(t *testing.T) {
	addr := serveWith(t, readAll, testTimeouts)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open for 5 s")
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	addr := serveWith(t, readAll, testTimeouts)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("an idle keep-alive connection was still open after 5 s; Idle timeout 500 ms")
	}
}

// TestStreamingRouteHasItsOwnBudget: the bulk import may take longer
// than Read, but not forever.
func TestStreamingRouteHasItsOwnBudget(t *testing.T) {
	addr := serveWith(t, readAll, testTimeouts)
	// 12 bytes at 100 ms: 1.2 s, over Read (500 ms), under Stream (5 s).
	if closed, status := trickle(t, addr, "/v1/enrollments/bulk", 12, 100*time.Millisecond); closed || !strings.Contains(status, "200") {
		t.Fatalf("bulk route within its stream budget: closed %v, %q", closed, status)
	}
	short := testTimeouts
	short.Stream = time.Second
	addr = serveWith(t, readAll, short)
	if closed, status := trickle(t, addr, "/v1/enrollments/bulk", 40, 100*time.Millisecond); !closed && strings.Contains(status, "200") {
		t.Fatalf("bulk route past its 1 s stream budget was read to the end: %q", status)
	}
}

// TestTwilioWebhookRefusesUnsignedBeforeReadingTheBody: without a
// plausible signature the answer comes before any body byte is sent.
func TestTwilioWebhookRefusesUnsignedBeforeReadingTheBody(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /webhooks/twilio/sms HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an unsigned webhook before its body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned webhook: %s", resp.Status)
	}
}

// TestInternalErrorsCarryARequestIDNotTheirCause: with Redis unreachable,
// the API and tracking answers name a request id; the cause goes to the
// log only.
func TestInternalErrorsCarryARequestIDNotTheirCause(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	c, err := cadence.Parse("trial.yaml", []byte(testCadence))
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := channels.NewOutbox("", 1, time.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	e, err := worker.New(worker.Config{Store: store.New(rdb, "down"), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob,
		Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	srv, err := server.New(server.Config{Engine: e, PublicURL: "https://n.example", Logger: slog.New(slog.NewTextHandler(&logged, nil)),
		Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveWith(t, srv, server.DefaultTimeouts)
	for _, path := range []string{"/v1/enrollments/ann~trial", "/readyz"} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode < 500 || id == "" || !strings.Contains(string(body), id) {
			t.Errorf("GET %s: %s, X-Request-Id %q, body %s", path, resp.Status, id, body)
		}
		if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") {
			t.Errorf("GET %s shows the internal cause: %s", path, body)
		}
		if !strings.Contains(logged.String(), "request_id="+id) || !strings.Contains(logged.String(), "127.0.0.1:1") {
			t.Errorf("GET %s: the log lacks the request id and cause:\n%s", path, logged.String())
		}
	}
}

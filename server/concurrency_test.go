package server_test

import (
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentOneClickUnsubscribesNeverAnswer503: a burst of one-click
// POSTs on one enrollment (mail providers and link scanners replay them)
// is applied with backoff, never refused: RFC 8058 senders do not retry.
func TestConcurrentOneClickUnsubscribesNeverAnswer503(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "")
	h.send()
	msg, err := mail.ReadMessage(strings.NewReader(h.lastEmail()))
	if err != nil {
		t.Fatal(err)
	}
	m := unsubRe.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if m == nil {
		t.Fatalf("no List-Unsubscribe header: %v", msg.Header)
	}
	const burst, rounds = 50, 4
	var mu sync.Mutex
	statuses := map[int]int{}
	for range rounds {
		var wg sync.WaitGroup
		for range burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(m[1], "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
				code := 0
				if err == nil {
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if statuses[http.StatusOK] != burst*rounds {
		t.Fatalf("%d concurrent one-click POSTs x %d rounds answered %v; want all 200", burst, rounds, statuses)
	}
	if p := h.prospect("ada"); p.EmailBlocked == "" {
		t.Fatal("the prospect is not unsubscribed")
	}
	if en := h.enrollment(eid); en.State != "exited" {
		t.Fatalf("enrollment %s is %s, want exited", eid, en.State)
	}
}

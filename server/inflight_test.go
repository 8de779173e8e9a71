package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

// TestInProgressAnswerCarriesARequestID: an email delivered while another
// request holds its claim is answered 503 in_progress with Retry-After
// and, like every 5xx, a request id in X-Request-Id and the message; once
// the claim is gone the same message is processed.
func TestInProgressAnswerCarriesARequestID(t *testing.T) {
	h := newHarness(t)
	raw := strings.ReplaceAll("From: Ann <ann@example.com>\nTo: sam@acme.example\nSubject: Re: hello\n"+
		"Date: Mon, 02 Mar 2026 16:00:00 +0000\nMessage-ID: <in-flight-1@example.com>\n\nThanks, call me.\n", "\n", "\r\n")
	msg, err := inbound.ParseEmail([]byte(raw), h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Another request's claim on the message, as dedupe.go's claim script
	// leaves it.
	claim := h.st.Keys().Prefix + ":{idx}:seen:mail:" + msg.Key()
	ctx := context.Background()
	if err := h.st.Redis().Set(ctx, claim, "claim:another-request", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for range 2 {
		req, _ := http.NewRequest("POST", h.url+"/webhooks/email", strings.NewReader(raw))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text := string(body)
		id := resp.Header.Get("X-Request-Id")
		code, _, message := apiErr(t, text)
		if resp.StatusCode != 503 || code != "in_progress" || resp.Header.Get("Retry-After") != "30" {
			t.Fatalf("email while another request holds it: %s Retry-After %q %s", resp.Status, resp.Header.Get("Retry-After"), text)
		}
		if len(id) != 16 || !strings.HasSuffix(message, "(request id "+id+")") || !strings.Contains(message, "being processed by another request") {
			t.Errorf("503 in_progress: X-Request-Id %q, message %q; want the id in both", id, message)
		}
		ids[id] = true
	}
	if len(ids) != 2 {
		t.Errorf("two answers share a request id: %v", ids)
	}
	if err := h.st.Redis().Del(ctx, claim).Err(); err != nil {
		t.Fatal(err)
	}
	if code, _, text := postEmailTo(t, h.url, adminToken, raw); code != 200 {
		t.Errorf("once the claim is gone: %d %s", code, text)
	}
}

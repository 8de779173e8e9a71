package server_test

import (
	"io"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/server"
)

// TestInboundEmailOverTheLimitIs413: a message larger than the inbound
// limit is refused whole, with or without a Content-Length, instead of
// being read truncated and processed without its end.
func TestInboundEmailOverTheLimitIs413(t *testing.T) {
	h := newHarness(t)
	head := "From: ada@example.com\r\nTo: replies@acme.example\r\nSubject: big\r\n\r\n"
	over := int64(server.MaxInboundEmail) + 1 - int64(len(head))
	for name, body := range map[string]io.Reader{
		"Content-Length": strings.NewReader(head + strings.Repeat("a", int(over))),
		"chunked":        unsized{io.MultiReader(strings.NewReader(head), &endless{over})},
	} {
		resp, text := h.do("POST", "/webhooks/email", adminToken, "message/rfc822", body)
		if code, _, msg := apiErr(t, text); resp.StatusCode != 413 || code != "body_too_large" || !strings.Contains(msg, "25 MiB limit") {
			t.Errorf("%s: %d %.300s, want 413 body_too_large naming the 25 MiB limit", name, resp.StatusCode, text)
		}
	}
	// An ordinary message is still read and processed.
	resp, text := h.do("POST", "/webhooks/email", adminToken, "message/rfc822", strings.NewReader(head+"thanks"))
	if resp.StatusCode != 200 {
		t.Fatalf("ordinary message: %d %s", resp.StatusCode, text)
	}
}

package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/server"
)

// unsized hides a body's length, so the request goes out chunked and the
// server learns the size only by reading.
type unsized struct{ io.Reader }

// endless yields n bytes of JSON-string filler without holding them.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	for i := range p {
		p[i] = 'a'
	}
	e.n -= int64(len(p))
	return len(p), nil
}

// A JSON body over MaxJSONBody is refused with 413 naming the limit —
// whether Content-Length says so up front or the body is chunked (even
// past the 64 MiB bulk limit, once a 400 "unexpected EOF") — and nothing
// is stored; a body of exactly the limit is still read.
func TestJSONBodyOverTheLimitIs413(t *testing.T) {
	h := newHarness(t)
	const limitText = "larger than the 1 MiB limit"
	if server.MaxJSONBody != 1<<20 {
		t.Fatalf("MaxJSONBody = %d; this test names 1 MiB", server.MaxJSONBody)
	}
	tooLarge := func(what string, resp *http.Response, text string) {
		t.Helper()
		if code, _, msg := apiErr(t, text); resp.StatusCode != 413 || code != "body_too_large" || !strings.Contains(msg, limitText) {
			t.Errorf("%s: %d %.300s, want 413 body_too_large naming the limit", what, resp.StatusCode, text)
		}
	}
	big := `{"email":"big@example.com","first_name":"` + strings.Repeat("a", 10<<20) + `"}`
	resp, text := h.do("PUT", "/v1/prospects/big", adminToken, "application/json", strings.NewReader(big))
	tooLarge("PUT 10 MB first name (Content-Length)", resp, text)
	resp, text = h.do("PUT", "/v1/prospects/big", adminToken, "application/json", unsized{strings.NewReader(big)})
	tooLarge("PUT 10 MB first name (chunked)", resp, text)
	resp, text = h.do("POST", "/v1/enrollments", adminToken, "application/json",
		unsized{strings.NewReader(`{"cadence":"trial","prospect":{"id":"big","email":"big@example.com","first_name":"` + strings.Repeat("a", 2<<20) + `"}}`)})
	tooLarge("enroll 2 MB first name (chunked)", resp, text)
	resp, text = h.do("PUT", "/v1/prospects/big", adminToken, "application/json",
		unsized{io.MultiReader(strings.NewReader(`{"email":"big@example.com","first_name":"`), &endless{65 << 20}, strings.NewReader(`"}`))})
	tooLarge("PUT 65 MiB body (chunked)", resp, text)
	resp, text = h.do("POST", "/v1/enrollments/nope/pause", adminToken, "application/json", strings.NewReader(`{"reason":"`+strings.Repeat("r", 1<<20)+`"}`))
	tooLarge("pause with a 1 MiB reason", resp, text)
	h.noProspect("big")

	// At the limit exactly (leading whitespace is part of the body) and
	// an ordinary body: read and applied.
	body := `{"email":"edge@example.com","first_name":"Edge"}`
	exact := strings.Repeat(" ", server.MaxJSONBody-len(body)) + body
	resp, text = h.do("PUT", "/v1/prospects/edge", adminToken, "application/json", unsized{strings.NewReader(exact)})
	if resp.StatusCode != 200 || !strings.Contains(text, `"first_name": "Edge"`) {
		t.Errorf("PUT a body of exactly the limit: %d %.300s", resp.StatusCode, text)
	}
	resp, text = h.do("PUT", "/v1/prospects/edge", adminToken, "application/json", strings.NewReader(" "+exact))
	tooLarge("PUT one byte over the limit", resp, text)
	resp, text = h.do("PUT", "/v1/prospects/ann", adminToken, "application/json", strings.NewReader(`{"email":"ann@example.com","first_name":"Ann"}`))
	if resp.StatusCode != 200 || !strings.Contains(text, `"first_name": "Ann"`) {
		t.Errorf("PUT an ordinary prospect: %d %.300s", resp.StatusCode, text)
	}
}

package server_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/worker"
)

// outboxParts decodes a message the outbox kept: headers, text and HTML.
func outboxParts(t *testing.T, raw string) (mail.Header, string, string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var text, html string
	keep := func(ctype string, r io.Reader) {
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch mt, _, _ := mime.ParseMediaType(ctype); mt {
		case "text/plain":
			text = s
		case "text/html":
			html = s
		}
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		keep(mt, m.Body)
		return m.Header, text, html
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return m.Header, text, html
		}
		if err != nil {
			t.Fatal(err)
		}
		keep(p.Header.Get("Content-Type"), p)
	}
}

func TestPreviewAPI(t *testing.T) {
	h := newHarness(t)
	h.enroll("ada", "ada@example.com", "+13125550100")
	code, pv := h.json("GET", "/v1/cadences/trial/touches/welcome/preview?prospect=ada", salesToken, "")
	if code != 200 || pv["verdict"] != "send" || pv["variant"] != "default" || pv["current"] != true || pv["enrolled"] != true ||
		pv["subject"] != "Hi Ada" || pv["to"] != "ada@example.com" || pv["rendered"] != true {
		t.Fatalf("preview: %d %v", code, pv)
	}
	for _, k := range []string{"held", "skipped", "deferred"} {
		if _, ok := pv[k]; ok {
			t.Errorf("a touch that would be sent has %s: %v", k, pv[k])
		}
	}
	if n := len(h.outbox.Messages()); n != 0 {
		t.Fatalf("a preview sent %d messages", n)
	}
	// The same touch's real send is what the preview showed.
	h.send()
	msgs := h.outbox.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sent %d", len(msgs))
	}
	hdr, text, html := outboxParts(t, msgs[0].Body)
	if html != pv["html"] || text != pv["text"] || !strings.Contains(html, h.url+"/c/") || !strings.Contains(html, h.url+"/o/") {
		t.Fatalf("preview html %q\nsent html    %q\npreview text %q\nsent text    %q", pv["html"], html, pv["text"], text)
	}
	headers, _ := pv["headers"].(map[string]any)
	if headers["Message-ID"] != hdr.Get("Message-Id") || headers["List-Unsubscribe"] != hdr.Get("List-Unsubscribe") || headers["X-Nurture-Touch"] != "trial/welcome/default" {
		t.Errorf("headers %v; sent %v", headers, hdr)
	}

	// An SMS, by email address, with its segments; the nudge is not next.
	code, pv = h.json("GET", "/v1/cadences/trial/touches/nudge/preview?prospect=ADA@example.com", salesToken, "")
	if code != 200 || pv["sms"] != "Hi, reply STOP to opt out" || pv["segments"] != 1.0 || pv["encoding"] != "GSM-7" || pv["chars"] != 25.0 || pv["current"] != true {
		t.Fatalf("sms preview: %d %v", code, pv)
	}

	// Why it would not be sent: no address (skipped), no time zone for a
	// toll-free number (held).
	code, _ = h.json("PUT", "/v1/prospects/tf", adminToken, `{"phone":"+18005550100","first_name":"Tf"}`)
	if code != 200 {
		t.Fatalf("put prospect: %d", code)
	}
	code, pv = h.json("GET", "/v1/cadences/trial/touches/welcome/preview?prospect=tf", salesToken, "")
	if code != 200 || pv["verdict"] != "skip" || pv["skipped"] != "no email address" || pv["enrolled"] != false || !strings.Contains(pv["note"].(string), "not enrolled") {
		t.Fatalf("no address: %d %v", code, pv)
	}
	code, pv = h.json("GET", "/v1/cadences/trial/touches/nudge/preview?prospect=tf", salesToken, "")
	if held, _ := pv["held"].(string); code != 200 || pv["verdict"] != "hold" || !strings.Contains(held, "set the prospect's timezone") || pv["sms"] == "" {
		t.Fatalf("toll-free: %d %v", code, pv)
	}

	// Unknown names are 404s that say which and what is known.
	for _, tc := range []struct{ path, code, field, msg string }{
		{"/v1/cadences/trail/touches/welcome/preview?prospect=ada", "unknown_cadence", "cadence", "did you mean trial?"},
		{"/v1/cadences/trial/touches/welcom/preview?prospect=ada", "unknown_touch", "touch", "did you mean welcome?"},
		{"/v1/cadences/trial/touches/welcome/preview?prospect=zed", "unknown_prospect", "prospect", `"zed"`},
		{"/v1/cadences/trial/touches/welcome/preview?prospect=ada&variant=b", "unknown_variant", "variant", "(variants: default)"},
		{"/v1/cadences/trial/touches/welcome/preview", "missing_query", "prospect", "give prospect="},
	} {
		code, out := h.json("GET", tc.path, salesToken, "")
		e, _ := out["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if (code != 404 && code != 400) || e["code"] != tc.code || e["field"] != tc.field || !strings.Contains(msg, tc.msg) {
			t.Errorf("GET %s: %d %v; want %s/%s %q", tc.path, code, out, tc.code, tc.field, tc.msg)
		}
	}
	if resp, _ := h.do("GET", "/v1/cadences/trial/touches/welcome/preview?prospect=ada", "", "", nil); resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
}

func TestTestSendAPI(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "+13125550100")
	before := h.enrollment(eid)
	code, out := h.json("POST", "/v1/cadences/trial/touches/welcome/test", salesToken, `{"prospect":"ada","to":"sam@acme.example"}`)
	msg, _ := out["message"].(map[string]any)
	if code != 200 || out["sent"] != true || out["remaining"] != float64(worker.TestSendLimit-1) || msg["to"] != "sam@acme.example" || msg["subject"] != "[Test] Hi Ada" {
		t.Fatalf("test send: %d %v", code, out)
	}
	kept := h.outbox.Messages()
	if len(kept) != 1 || kept[0].To != "sam@acme.example" {
		t.Fatalf("outbox: %+v", kept)
	}
	hdr, _, html := outboxParts(t, kept[0].Body)
	if hdr.Get("X-Nurture-Test") != "1" || strings.Contains(html, "/o/") || strings.Contains(html, "/c/") || !strings.Contains(html, `href="https://acme.example/pricing?x=1&amp;y=2"`) {
		t.Fatalf("test message: %v\n%s", hdr, html)
	}
	if after := h.enrollment(eid); after != before {
		t.Fatalf("the enrollment changed:\n%+v\n%+v", before, after)
	}
	if st, _ := h.e.Stats(context.Background(), "trial"); st["t:welcome:sent"] != 0 {
		t.Fatalf("stats: %v", st)
	}

	for _, tc := range []struct {
		body   string
		status int
		code   string
		field  string
	}{
		{`{"prospect":"ada"}`, 400, "missing_field", "to"},
		{`{"to":"sam@acme.example"}`, 400, "missing_field", "prospect"},
		{`{"prospect":"ada","to":"sam@acme.example","cc":"x"}`, 400, "bad_json", ""},
		{`{"prospect":"ada","to":"sam at acme"}`, 400, "invalid_to", "to"},
		{`{"prospect":"nobody","to":"sam@acme.example"}`, 404, "unknown_prospect", "prospect"},
	} {
		code, out := h.json("POST", "/v1/cadences/trial/touches/welcome/test", salesToken, tc.body)
		e, _ := out["error"].(map[string]any)
		if code != tc.status || e["code"] != tc.code || (tc.field != "" && e["field"] != tc.field) {
			t.Errorf("POST %s: %d %v; want %d %s/%s", tc.body, code, out, tc.status, tc.code, tc.field)
		}
	}
	// An address that unsubscribed is refused.
	h.enroll("bob", "bob@example.com", "")
	if err := h.e.ProspectEvent(context.Background(), "bob", cadence.Event{Kind: cadence.EvUnsubscribed, Channel: cadence.Email, By: "one-click"}); err != nil {
		t.Fatal(err)
	}
	code, out = h.json("POST", "/v1/cadences/trial/touches/welcome/test", salesToken, `{"prospect":"ada","to":"bob@example.com"}`)
	if code != 422 || errCode(out) != "to_blocked" {
		t.Fatalf("to a suppressed address: %d %v", code, out)
	}
	// The limit is per token: sam reaches it, ops still may.
	for i := 2; i <= worker.TestSendLimit; i++ {
		if code, out := h.json("POST", "/v1/cadences/trial/touches/nudge/test", salesToken, `{"prospect":"ada","to":"+1 312 555 0199"}`); code != 200 {
			t.Fatalf("test %d: %d %v", i, code, out)
		}
	}
	resp, text := h.do("POST", "/v1/cadences/trial/touches/welcome/test", salesToken, "application/json", strings.NewReader(`{"prospect":"ada","to":"sam@acme.example"}`))
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(text), &e)
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || e.Error.Code != "test_limit" || retry < 1 || retry > 3600 {
		t.Fatalf("over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), text)
	}
	if code, out := h.json("POST", "/v1/cadences/trial/touches/welcome/test", adminToken, `{"prospect":"ada","to":"ops@acme.example"}`); code != 200 {
		t.Fatalf("another token: %d %v", code, out)
	}
	if n := len(h.outbox.Messages()); n != worker.TestSendLimit+1 {
		t.Fatalf("outbox holds %d", n)
	}
}

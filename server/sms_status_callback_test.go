package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postSigned POSTs a form to fullURL exactly, signed the way Twilio signs
// its webhooks (over that URL and the form), or with a forged signature.
func postSigned(t *testing.T, fullURL string, form url.Values, sign bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", fullURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sig := twilioSign(fullURL, form)
	if !sign {
		sig = twilioSign(fullURL+"x", form) // well-formed, for another URL
	}
	req.Header.Set("X-Twilio-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// TestStatusCallbackFromTheSentSMS takes the StatusCallback URL from the
// SMS the engine actually handed to the provider — not a token the test
// builds itself — and POSTs Twilio's status reports to exactly that URL:
// "delivered" records delivered for that touch once (Twilio retries change
// nothing), an unsigned report changes nothing, and an "undelivered" with
// error 21610 opts the number out (COMPLIANCE.md 5).
func TestStatusCallbackFromTheSentSMS(t *testing.T) {
	ctx := context.Background()
	sink := &smsSink{}
	h := newHarnessWith(t, sink, testCadence)
	ada := h.enroll("ada", "ada@example.com", "+13125550100")
	bob := h.enroll("bob", "bob@example.com", "+13125550102")
	h.send()
	h.clk.Add(2*24*time.Hour + time.Minute) // the nudge SMS is due
	h.send()
	sent := sink.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d SMS sent, want 2", len(sent))
	}
	callback := map[string]string{}
	for _, m := range sent {
		if !strings.HasPrefix(m.StatusCallback, h.url+"/webhooks/twilio/status/") {
			t.Fatalf("SMS to %s carries StatusCallback %q, want a URL under %s/webhooks/twilio/status/", m.To, m.StatusCallback, h.url)
		}
		callback[m.To] = m.StatusCallback
	}
	if callback["+13125550100"] == callback["+13125550102"] {
		t.Fatal("two SMS share one status callback URL")
	}
	report := func(to, sid, status, code string) url.Values {
		f := url.Values{"MessageSid": {sid}, "MessageStatus": {status}, "AccountSid": {"AC123"}, "From": {"+15005550006"}, "To": {to}, "ApiVersion": {"2010-04-01"}}
		if code != "" {
			f.Set("ErrorCode", code)
		}
		return f
	}
	stats := func() map[string]int64 {
		s, err := h.e.Stats(ctx, "trial")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A report whose signature does not match the URL changes nothing.
	if code, body := postSigned(t, callback["+13125550100"], report("+13125550100", "SM1", "delivered", ""), false); code != http.StatusForbidden {
		t.Fatalf("forged report: %d %s", code, body)
	}
	if n := stats()["t:nudge:delivered"]; n != 0 {
		t.Fatalf("a forged report recorded %d deliveries", n)
	}
	if code, body := postSigned(t, callback["+13125550100"], report("+13125550100", "SM1", "sent", ""), true); code != http.StatusNoContent {
		t.Fatalf("sent report: %d %s", code, body)
	}
	for i := 0; i < 2; i++ { // Twilio retries
		if code, body := postSigned(t, callback["+13125550100"], report("+13125550100", "SM1", "delivered", ""), true); code != http.StatusNoContent {
			t.Fatalf("delivered report to %s: %d %s", callback["+13125550100"], code, body)
		}
	}
	if n := stats()["t:nudge:delivered"]; n != 1 {
		t.Fatalf("t:nudge:delivered = %d, want 1", n)
	}
	tl, err := h.e.Timeline(ctx, ada)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, en := range tl {
		if strings.HasPrefix(en.Text(), "delivered nudge (sms)") {
			delivered++
		}
	}
	if delivered != 1 {
		var lines []string
		for _, en := range tl {
			lines = append(lines, en.Text())
		}
		t.Fatalf("ada's timeline has %d delivered lines, want 1:\n%s", delivered, strings.Join(lines, "\n"))
	}
	if p := h.prospect("bob"); p.SMSBlocked != "" {
		t.Fatalf("setup: bob blocked %q", p.SMSBlocked)
	}
	// The carrier reports Bob's number opted out.
	if code, body := postSigned(t, callback["+13125550102"], report("+13125550102", "SM2", "undelivered", "21610"), true); code != http.StatusNoContent {
		t.Fatalf("undelivered report: %d %s", code, body)
	}
	if p := h.prospect("bob"); !strings.Contains(p.SMSBlocked, "opted out") {
		t.Fatalf("21610 on the status callback did not opt %s out: %q", bob, p.SMSBlocked)
	}
	if n := stats()["t:nudge:delivered"]; n != 1 {
		t.Fatalf("t:nudge:delivered = %d after bob's failure, want 1", n)
	}
}

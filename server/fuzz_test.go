package server_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzTwilioWebhooks posts arbitrary form bodies to the Twilio endpoints,
// correctly signed (so they reach the handlers) and forged. Whatever the
// body: no panic, no 5xx, TwiML that parses, and a forged request changes
// nothing.
func FuzzTwilioWebhooks(f *testing.F) {
	for _, seed := range []string{
		"MessageSid=SM1&From=%2B13125550100&To=%2B15005550006&Body=STOP&AccountSid=AC1",
		"MessageSid=SM2&From=%2B13125550100&Body=stop+please",
		"MessageSid=SM3&From=%2B13125550100&Body=HELP",
		"MessageSid=SM4&From=%2B13125550100&Body=Call+me+%F0%9F%93%9E+Tuesday",
		"MessageSid=SM5&From=%2B13125550199&Body=START",
		"MessageSid=SM6&From=%2B13125550100&Body=a&Body=b&From=x",
		"MessageSid=SM7&From=%2B1312555%zz&Body=%",
		"MessageSid=&From=&Body=",
		"MessageSid=SM8&From=%2B13125550100&Body=%3C%2FMessage%3E%3CRedirect%3Ehttp%3A%2F%2Fevil%3C%2FRedirect%3E",
		"MessageSid=SM9&MessageStatus=delivered",
		"MessageSid=SM10&MessageStatus=undelivered&ErrorCode=21610",
		";;;&&&==",
		"",
	} {
		f.Add(seed, true)
	}
	h := newHarness(f)
	eid := h.enroll("ada", "ada@example.com", "+13125550100")
	status := "/webhooks/twilio/status/" + h.signer.Sign("s", eid+"|nudge")
	f.Fuzz(func(t *testing.T, body string, toStatus bool) {
		path := "/webhooks/twilio/sms"
		if toStatus {
			path = status
		}
		form, _ := url.ParseQuery(body) // what Twilio would have signed
		for _, signed := range []bool{true, false} {
			before := *h.prospect("ada")
			// Straight to the handler: a socket per request would run the
			// fuzzer out of ephemeral ports.
			req := httptest.NewRequest("POST", h.url+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", "forged")
			if signed {
				req.Header.Set("X-Twilio-Signature", twilioSign(h.url+path, form))
			}
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, req)
			resp := rec.Result()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode >= 500 {
				t.Fatalf("%s %q (signed %v): %d %s", path, body, signed, resp.StatusCode, out)
			}
			if !signed {
				if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("forged %q: %d, want 403 (or 400 for an unreadable form)", body, resp.StatusCode)
				}
				if after := *h.prospect("ada"); after.SMSBlocked != before.SMSBlocked || after.EmailBlocked != before.EmailBlocked {
					t.Fatalf("a forged request changed consent: %+v -> %+v", before, after)
				}
			}
			if resp.StatusCode == http.StatusOK && path == "/webhooks/twilio/sms" {
				var twiml struct {
					XMLName xml.Name `xml:"Response"`
					Message []string `xml:"Message"`
				}
				if err := xml.Unmarshal(out, &twiml); err != nil || len(twiml.Message) > 1 {
					t.Fatalf("%q: reply is not one-message TwiML (%v): %s", body, err, out)
				}
			}
		}
	})
}

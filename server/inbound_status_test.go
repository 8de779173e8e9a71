package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/inbound"
)

// TestTwilioFailureOnTheTimeline: Twilio's failed and undelivered status
// callbacks are timeline lines on the touch, with the error code; a
// retried callback adds none.
func TestTwilioFailureOnTheTimeline(t *testing.T) {
	sink := &smsSink{}
	h := newHarnessWith(t, sink, testCadence)
	ada := h.enroll("ada", "ada@example.com", "+13125550100")
	bob := h.enroll("bob", "bob@example.com", "+13125550102")
	h.send()
	h.clk.Add(2*24*time.Hour + time.Minute)
	h.send()
	callback := map[string]string{}
	for _, m := range sink.Sent() {
		callback[m.To] = m.StatusCallback
	}
	report := func(to, sid, status, code string) url.Values {
		f := url.Values{"MessageSid": {sid}, "MessageStatus": {status}, "AccountSid": {"AC123"}, "From": {"+15005550006"}, "To": {to}, "ApiVersion": {"2010-04-01"}}
		if code != "" {
			f.Set("ErrorCode", code)
		}
		return f
	}
	for i := 0; i < 2; i++ { // Twilio retries
		if code, body := postSigned(t, callback["+13125550100"], report("+13125550100", "SMF1", "undelivered", "30003"), true); code != http.StatusNoContent {
			t.Fatalf("undelivered: %d %s", code, body)
		}
	}
	if code, body := postSigned(t, callback["+13125550102"], report("+13125550102", "SMF2", "failed", ""), true); code != http.StatusNoContent {
		t.Fatalf("failed: %d %s", code, body)
	}
	tl := h.timelineText(ada)
	want := "delivery_failed nudge (sms) by twilio: Twilio reports the SMS undelivered: error 30003 (unreachable destination handset)"
	if strings.Count(tl, want) != 1 {
		t.Fatalf("ada's timeline, want %q once:\n%s", want, tl)
	}
	if tl := h.timelineText(bob); !strings.Contains(tl, "delivery_failed nudge (sms) by twilio: Twilio reports the SMS failed (no error code)") {
		t.Fatalf("bob's timeline:\n%s", tl)
	}
	if st := h.stats("trial"); st["t:nudge:delivered"] != 0 || h.prospect("ada").SMSBlocked != "" {
		t.Fatalf("a failure counted as delivered or opted out: %v", st)
	}
}

// TestVerifiedComplaintCountsForItsTouch: an ARF report returning our
// Message-ID counts against the touch (t:TOUCH:complained) as well as the
// cadence's total.
func TestVerifiedComplaintCountsForItsTouch(t *testing.T) {
	h := newHarness(t)
	pat := h.enroll("pat", "pat.prospect@yahoo.com", "")
	h.send()
	res := h.postEmail(fixture(t, "handwritten-arf-yahoo-abuse.eml", "c29tZXRoaW5n.ArFyH1@n.example", h.msgIDTo("pat.prospect@yahoo.com")))
	if res.Kind != inbound.KindComplaint || res.Action != "complained" || !res.Verified || res.Touch != "welcome" {
		t.Fatalf("complaint: %+v", res)
	}
	if e := h.enrollment(pat); e.State != cadence.Exited {
		t.Fatalf("complaint: %s", e.State)
	}
	st := h.stats("trial")
	if st["complained"] != 1 || st["t:welcome:complained"] != 1 {
		t.Fatalf("complained %d, t:welcome:complained %d, want 1 and 1: %v", st["complained"], st["t:welcome:complained"], st)
	}
	code, out := h.json("GET", "/v1/cadences/trial/stats?by=day", salesToken, "")
	if code != 200 || !strings.Contains(fmt.Sprint(out), "complained:1") {
		t.Fatalf("per-day stats: %d %v", code, out)
	}
}

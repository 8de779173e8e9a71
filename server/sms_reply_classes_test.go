package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// TestSMSReplyClassesFollowTheCadence: an SMS "not right now, try me in
// March", an out-of-office SMS and an automatic SMS answer go through the
// cadence's per-class reply policy like the same email replies — snoozed
// to the day named, or by reply.auto_reply — and none is a warm lead.
func TestSMSReplyClassesFollowTheCadence(t *testing.T) {
	ignoring := strings.Replace(strings.Replace(replyCadence, "id: replies", "id: quiet", 1), "stages:\n", "reply:\n  auto_reply: {action: ignore}\nstages:\n", 1)
	h := newHarnessWith(t, nil, replyCadence, ignoring)
	eids := map[string]string{}
	phones := map[string]string{}
	for i, n := range []string{"march", "ooo", "driving", "quiet", "yes"} {
		phones[n] = fmt.Sprintf("+1312555%04d", 200+i)
		c := "replies"
		if n == "quiet" {
			c = "quiet"
		}
		eids[n] = h.enrollIn(c, n, n+"@example.com", phones[n])
	}
	h.send()
	h.clk.Add(2*24*time.Hour + time.Minute) // the text touch is due
	h.send()
	paris := mustZone(t, "Europe/Paris")
	text := func(who, sid, body string) {
		t.Helper()
		if code, twiml := h.twilio("/webhooks/twilio/sms", sms(sid, phones[who], body), true); code != 200 || strings.Contains(twiml, "<Message>") {
			t.Fatalf("%s: %d %s", who, code, twiml)
		}
	}

	text("march", "SMC1", "Not right now, try me in March")
	want := time.Date(2027, 3, 1, 8, 0, 0, 0, paris) // the window's start, Monday 1 March, in the prospect's zone
	if e := h.enrollment(eids["march"]); e.State != cadence.Snoozed || !e.Until.Equal(want) {
		t.Fatalf("not now by SMS: %s until %v, want snoozed until %v\n%s", e.State, e.Until, want, h.timelineText(eids["march"]))
	}
	if tl := h.timelineText(eids["march"]); !strings.Contains(tl, "by sms reply") {
		t.Fatalf("not now by SMS, timeline:\n%s", tl)
	}

	text("ooo", "SMC2", "I'm out of the office until 14 April")
	want = time.Date(2026, 4, 14, 8, 0, 0, 0, paris)
	if e := h.enrollment(eids["ooo"]); e.State != cadence.Snoozed || !e.Until.Equal(want) {
		t.Fatalf("out of office by SMS: %s until %v, want %v", e.State, e.Until, want)
	}

	// reply.auto_reply: the default snoozes for auto_reply_snooze (7d) …
	driving := "I'm driving with notifications silenced. I'll see your message when I get where I'm going."
	text("driving", "SMC3", driving)
	if e := h.enrollment(eids["driving"]); e.State != cadence.Snoozed || !e.Until.Equal(h.clk.Now().Add(7*24*time.Hour)) {
		t.Fatalf("auto SMS under the default policy: %s until %v", e.State, e.Until)
	}
	if tl := h.timelineText(eids["driving"]); !strings.Contains(tl, "by sms: auto-reply: automatic SMS reply, not counted as a reply") {
		t.Fatalf("auto SMS timeline:\n%s", tl)
	}
	// … and a cadence that ignores auto-replies only notes it.
	before := h.enrollment(eids["quiet"])
	text("quiet", "SMC4", driving)
	if e := h.enrollment(eids["quiet"]); e.State != cadence.Active || e.NextTouch != before.NextTouch {
		t.Fatalf("auto SMS under auto_reply: ignore: %s next %s (was %s)", e.State, e.NextTouch, before.NextTouch)
	}
	if tl := h.timelineText(eids["quiet"]); !strings.Contains(tl, "reply_ignored text (sms) by sms: auto reply ignored (cadence reply policy)") {
		t.Fatalf("ignored auto SMS timeline:\n%s", tl)
	}

	// A real answer is still a reply, counted against the SMS touch.
	text("yes", "SMC5", "Yes, call me tomorrow")
	if e := h.enrollment(eids["yes"]); e.State != cadence.Warm {
		t.Fatalf("positive SMS: %s", e.State)
	}
	if st := h.stats("replies"); st["t:text:replied"] != 1 {
		t.Fatalf("t:text:replied = %d, want 1 (only the positive answer): %v", st["t:text:replied"], st)
	}
	leads, err := h.e.WarmLeads(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leads {
		if l.Enrollment.ID != eids["yes"] {
			t.Errorf("%s is a warm lead", l.Enrollment.ID)
		}
	}
}

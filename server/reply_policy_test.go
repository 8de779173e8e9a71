package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/inbound"
	"github.com/nurture-dev/nurture/server"
)

// TestReplyClassPolicyOverHTTP posts email replies to a cadence whose
// reply block sets per-class actions: each class does what the cadence
// says, not the built-in default.
func TestReplyClassPolicyOverHTTP(t *testing.T) {
	src := strings.Replace(replyCadence, "stages:\n", `reply:
  wrong_person: {action: exit}
  auto_reply: {action: ignore}
  bounce_in_disguise: {action: snooze, for: 3d}
  not_now: {action: snooze_until_date, fallback: 90d}
stages:
`, 1)
	h := newHarnessWith(t, nil, src)
	eids := map[string]string{}
	for _, n := range []string{"wrong", "auto", "disguised", "notnow", "optout"} {
		eids[n] = h.enrollIn("replies", n, n+"@example.com", "")
	}
	h.send()
	reply := func(who, subject, body string) server.EmailResult {
		t.Helper()
		return h.postEmail("From: " + who + "@example.com\nTo: hello@acme.example\nSubject: " + subject + "\nMessage-ID: <" + who + "-reply@mail.example>\nIn-Reply-To: <" + h.msgIDTo(who+"@example.com") + ">\n\n" + body + "\n")
	}
	paris := mustZone(t, "Europe/Paris")

	// wrong_person: exit ends the enrollment, with the referral.
	res := reply("wrong", "Re: Hi", "I'm not the right person, talk to jane@acme.example")
	e := h.enrollment(eids["wrong"])
	if res.Class != inbound.ClassWrongPerson || res.Action != "exited" || e.State != cadence.Exited || !strings.Contains(e.Reason, "jane@acme.example") {
		t.Fatalf("wrong person: %+v, %s %q", res, e.State, e.Reason)
	}

	// auto_reply: ignore records a timeline line; the enrollment stays
	// active, waiting for its next touch.
	before := h.enrollment(eids["auto"])
	res = reply("auto", "Re: Hi", "Thank you for your email. This is an automated response: we will get back to you within 2 business days.")
	e = h.enrollment(eids["auto"])
	if res.Class != inbound.ClassAutoReply || res.Action != "ignored" || e.State != cadence.Active || !e.Until.IsZero() || e.NextTouch != before.NextTouch || !e.DueAt.Equal(before.DueAt) {
		t.Fatalf("auto-reply: %+v, %s until %v, next %s at %v (before %s at %v)", res, e.State, e.Until, e.NextTouch, e.DueAt, before.NextTouch, before.DueAt)
	}
	if tl := h.timelineText(eids["auto"]); !strings.Contains(tl, "auto reply ignored (cadence reply policy)") {
		t.Fatalf("auto-reply timeline:\n%s", tl)
	}

	// bounce_in_disguise: snoozed for the cadence's 3d, not the default 7d,
	// and nothing suppressed.
	res = h.postEmail(fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml", "c29tZXRoaW5n.YaHoO1@n.example", h.msgIDTo("disguised@example.com")))
	e = h.enrollment(eids["disguised"])
	if res.Class != inbound.ClassBounce || e.State != cadence.Snoozed || !e.Until.Equal(h.clk.Now().Add(3*24*time.Hour)) || h.prospect("disguised").EmailBlocked != "" {
		t.Fatalf("disguised bounce: %+v, %s until %v, blocked %q", res, e.State, e.Until, h.prospect("disguised").EmailBlocked)
	}

	// not_now without a date: the 90d fallback instead of a warm reply.
	res = reply("notnow", "Re: Hi", "Not right now, thanks.")
	e = h.enrollment(eids["notnow"])
	want := cadence.Delay{Days: 90}.After(h.clk.Now(), paris, nil)
	if res.Class != inbound.ClassNotNow || res.Action != "snoozed" || e.State != cadence.Snoozed || !e.Until.Equal(want) {
		t.Fatalf("not now: %+v, %s until %v, want %v", res, e.State, e.Until, want)
	}

	// An opt-out still unsubscribes, whatever the policy.
	res = reply("optout", "Re: Hi", "Please remove me from your list.")
	if p, e := h.prospect("optout"), h.enrollment(eids["optout"]); res.Action != "unsubscribed" || p.EmailBlocked != "unsubscribed" || e.State != cadence.Exited {
		t.Fatalf("opt-out: %+v, blocked %q, %s", res, p.EmailBlocked, e.State)
	}
	if st := h.stats("replies"); st["t:hello:replied"] != 0 {
		t.Fatalf("nothing here is a warm reply: %v", st)
	}
}

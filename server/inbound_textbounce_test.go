package server_test

import (
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/inbound"
	"github.com/nurture-dev/nurture/server"
)

// TestStatusInText reads the status of plain-text failure notices
// (inbound.StatusInText): the first permanent code before the copy of the
// message, hard for 5.1.x / 5.2.1 or a 5xx "user unknown" line.
func TestStatusInText(t *testing.T) {
	yahoo := fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml")
	_, body, _ := strings.Cut(strings.ReplaceAll(yahoo, "\r\n", "\n"), "\n\n")
	for _, tc := range []struct {
		name, text         string
		ok, hard           bool
		status, code, rcpt string
	}{
		{"yahoo fixture", body, true, true, "5.1.1", "550", "jordan.nobody@acme.example"},
		{"yahoo without an enhanced code", "Sorry, we were unable to deliver your message to the following address.\n\n<Pat@Example.com>:\n550: : User unknown\n", true, true, "", "550", "pat@example.com"},
		{"yahoo no account", "<pat@yahoo.com>:\n554: delivery error: dd This user doesn't have a yahoo.com account (pat@yahoo.com) [0] - mta1047.mail.ne1.yahoo.com\n", true, true, "", "554", "pat@yahoo.com"},
		{"qmail", "Hi. This is the qmail-send program at mx.example.net.\nI'm afraid I wasn't able to deliver your message to the following addresses.\n\n<lee@example.net>:\n10.1.2.3 does not like recipient.\nRemote host said: 550 5.1.1 <lee@example.net>... No such user\n", true, true, "5.1.1", "550", "lee@example.net"},
		{"exchange 5.1.10", "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'", true, true, "5.1.10", "550", ""},
		{"mailbox full is not hard", "<full@example.com>:\n552 5.2.2 Mailbox full, quota exceeded\n", true, false, "5.2.2", "552", "full@example.com"},
		{"policy block is not hard", "550 5.7.1 Service unavailable; client blocked\n", true, false, "5.7.1", "550", ""},
		{"5.2.1 is hard", "550 5.2.1 The email account that you tried to reach is disabled.\n", true, true, "5.2.1", "550", ""},
		{"a delay is no failure", "421 4.4.1 Connection timed out; will retry for 4 days\n", false, false, "", "", ""},
		{"an IP is no status", "Could not connect to 10.5.1.1 port 25.\n", false, false, "", "", ""},
		{"only in the copy", "Sorry, we were unable to deliver your message.\n\n--- Below this line is a copy of the message.\n\nSubject: 550 5.1.1 user unknown\n", false, false, "", "", ""},
		{"a 550 without a no-such-user phrase", "550 Administrative prohibition\n", false, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, ok := inbound.StatusInText(tc.text)
			if ok != tc.ok || st.Hard != tc.hard || st.Status != tc.status || (ok && st.Code != tc.code) || st.Recipient != tc.rcpt {
				t.Fatalf("got %+v ok=%v; want ok=%v hard=%v status %q code %q recipient %q", st, ok, tc.ok, tc.hard, tc.status, tc.code, tc.rcpt)
			}
		})
	}
}

// TestPlainTextBounceAppliedWhenVerified posts Yahoo-style plain-text
// failure notices to the webhook. One that returns our signed Message-ID
// and reads 5.1.1 for the address we sent to is a hard bounce, exactly as
// a DSN: the address is suppressed, the enrollment exits, the touch counts
// the bounce, and the timeline says it was read from a plain-text notice.
// One that returns none of our messages, or names another address, is
// only snoozed, as before.
func TestPlainTextBounceAppliedWhenVerified(t *testing.T) {
	h := newHarness(t)
	jordan := h.enroll("jordan", "jordan.nobody@acme.example", "")
	bob := h.enroll("bob", "bob@example.com", "")
	other := h.enroll("other", "other@example.com", "")
	h.send()

	res := h.postEmail(fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml", "c29tZXRoaW5n.YaHoO1@n.example", h.msgIDTo("jordan.nobody@acme.example")))
	if res.Class != inbound.ClassBounce || res.Action != "hard_bounce" || !res.Verified || res.MatchedBy != server.MatchedByMessageID || res.Touch != "welcome" ||
		len(res.Enrollments) != 1 || res.Enrollments[0] != jordan {
		t.Fatalf("verified plain-text 5.1.1: %+v", res)
	}
	if p, e := h.prospect("jordan"), h.enrollment(jordan); p.EmailBlocked != "hard bounce" || e.State != cadence.Exited {
		t.Fatalf("not applied as a hard bounce: blocked %q, %s", p.EmailBlocked, e.State)
	}
	if n := h.stats("trial")["t:welcome:bounced"]; n != 1 {
		t.Fatalf("t:welcome:bounced = %d, want 1", n)
	}
	want := "hard_bounce welcome (email): read from a plain-text failure notice (no DSN): 5.1.1 550: 5.1.1 <jordan.nobody@acme.example>: Recipient address rejected"
	if tl := h.timelineText(jordan); !strings.Contains(tl, want) || strings.Contains(tl, "bounce in disguise") {
		t.Fatalf("timeline, want %q:\n%s", want, tl)
	}
	// The same notice again changes nothing.
	if again := h.postEmail(fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml", "c29tZXRoaW5n.YaHoO1@n.example", h.msgIDTo("jordan.nobody@acme.example"))); !again.Duplicate {
		t.Fatalf("redelivered: %+v", again)
	}

	// Unverified: a notice from bob's own address (matched by sender) whose
	// copy returns a Message-ID that is not ours. Recorded, snoozed, not
	// suppressed.
	forged := strings.NewReplacer("MAILER-DAEMON@yahoo.com", "bob@example.com", "jordan.nobody@acme.example", "bob@example.com",
		"1796118441.2113844.1796118441321.JavaMail.nobody@sonic314.consmr.mail.gq1.yahoo.com", "forged-1@mail.example").
		Replace(fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml"))
	res = h.postEmail(forged)
	if res.Class != inbound.ClassBounce || res.Action == "hard_bounce" || res.Verified {
		t.Fatalf("unverified notice: %+v", res)
	}
	if p, e := h.prospect("bob"), h.enrollment(bob); p.EmailBlocked != "" || e.State != cadence.Snoozed {
		t.Fatalf("an unverified notice was applied: blocked %q, %s", p.EmailBlocked, e.State)
	}
	if tl := h.timelineText(bob); !strings.Contains(tl, "bounce in disguise, not suppressed") || !strings.Contains(tl, "5.1.1 in the text, but the notice returns none of our messages") {
		t.Fatalf("bob's timeline does not say why:\n%s", tl)
	}
	if n := h.stats("trial")["t:welcome:bounced"]; n != 1 {
		t.Fatalf("t:welcome:bounced = %d after an unverified notice, want 1", n)
	}

	// Verified, but for another address than the one we sent to: snoozed,
	// and the timeline says why.
	res = h.postEmail(fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml", "c29tZXRoaW5n.YaHoO1@n.example", h.msgIDTo("other@example.com"),
		"<1796118441.2113844.1796118441321.JavaMail.nobody@sonic314.consmr.mail.gq1.yahoo.com>", "<other-1@sonic.example>"))
	if res.Action == "hard_bounce" || !res.Verified || h.prospect("other").EmailBlocked != "" || h.enrollment(other).State != cadence.Snoozed {
		t.Fatalf("notice for another address: %+v, blocked %q", res, h.prospect("other").EmailBlocked)
	}
	if tl := h.timelineText(other); !strings.Contains(tl, "5.1.1 in the text for jordan.nobody@acme.example, not other@example.com") {
		t.Fatalf("other's timeline:\n%s", tl)
	}
}

package inbound_test

import (
	"net/mail"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

// The rules one at a time, each at the case that decides it; the corpus
// test only holds the totals to their floors.
func TestClassifyRuleDetails(t *testing.T) {
	dana := mail.Header{"From": {"Dana <dana@brightlane.io>"}, "To": {"Sam <sam@fieldnote.io>"}, "Date": {"Wed, 09 Dec 2026 10:00:00 -0500"}}
	postmaster := mail.Header{"From": {"postmaster@brightlane.io"}, "To": {"sam@fieldnote.io"}}
	withCc := func(cc string) mail.Header {
		return mail.Header{"From": {"Dana <dana@brightlane.io>"}, "To": {"Sam <sam@fieldnote.io>"}, "Cc": {cc}}
	}
	for _, c := range []struct {
		name, subject, text string
		h                   mail.Header
		class               inbound.Class
		referral, failed    string
	}{
		// A negated occurrence does not hide a later one.
		{"second occurrence", "Re: hi", "Don't unsubscribe me from the product updates. Unsubscribe me from the sales emails though.", dana, inbound.ClassOptOut, "", ""},
		// The negation is looked for in the last clause before the phrase only.
		{"negation in an earlier clause", "Re: hi", "Hi, no but unsubscribe me from this list.", dana, inbound.ClassOptOut, "", ""},
		{"daemon sender alone", "hello", "hi", mail.Header{"From": {"MAILER-DAEMON@mx.brightlane.io"}}, inbound.ClassBounce, "", ""},
		{"two failure phrases", "Re: hi", "Your message couldn't be delivered. The mailbox is full.", dana, inbound.ClassBounce, "", "dana@brightlane.io"},
		{"one failure phrase from a person", "Re: hi", "Your message couldn't be delivered.", dana, inbound.ClassPositive, "", ""},
		// No address in the text: the bounce names its own sender, unless
		// that is a daemon.
		{"failed recipient is the sender", "Undeliverable: hi", "Your message couldn't be delivered.", dana, inbound.ClassBounce, "", "dana@brightlane.io"},
		{"failed recipient skips our address", "Undeliverable: hi", "Message from sam@fieldnote.io to bob@brightlane.io could not be delivered.", postmaster, inbound.ClassBounce, "", "bob@brightlane.io"},
		{"no failed recipient from a daemon", "Undeliverable: hi", "Your message could not be delivered.", postmaster, inbound.ClassBounce, "", ""},
		// A human's absence counts with a return or a coping phrase, not alone.
		{"absence and return", "Re: hi", "I am on vacation, back on Monday.", dana, inbound.ClassOutOfOffice, "", ""},
		{"absence and coping", "Re: hi", "I am on vacation with limited access to email.", dana, inbound.ClassOutOfOffice, "", ""},
		{"absence alone", "Re: hi", "I am on vacation.", dana, inbound.ClassPositive, "", ""},
		{"coping and return", "Re: hi", "Limited access to email until Monday.", dana, inbound.ClassOutOfOffice, "", ""},
		// Referrals: never the sender or our address, in the text first, then
		// a Cc, then a To at the sender's domain.
		{"referral skips our address", "Re: hi", "I'm not the right person, write to sam@fieldnote.io or jane@brightlane.io", dana, inbound.ClassWrongPerson, "jane@brightlane.io", ""},
		{"referral from Cc, not the sender", "Re: hi", "I'm not the right person.", withCc("dana@brightlane.io, Jane <jane@brightlane.io>"), inbound.ClassWrongPerson, "jane@brightlane.io", ""},
		{"referral from Cc at another domain", "Re: hi", "I'm not the right person.", withCc("pat@partner.io"), inbound.ClassWrongPerson, "pat@partner.io", ""},
		{"referral from To at the sender's domain", "Re: hi", "I'm not the right person.", mail.Header{"From": {"Dana <dana@brightlane.io>"}, "To": {"Sam <sam@fieldnote.io>, kim@brightlane.io"}}, inbound.ClassWrongPerson, "kim@brightlane.io", ""},
		{"no referral", "Re: hi", "I'm not the right person.", dana, inbound.ClassWrongPerson, "", ""},
	} {
		got := inbound.ClassifyReply(c.subject, c.text, c.h)
		if got.Class != c.class || got.Referral != c.referral || got.FailedRecipient != c.failed {
			t.Errorf("%s: %s referral %q failed %q (%s); want %s referral %q failed %q", c.name, got.Class, got.Referral, got.FailedRecipient, got.Reason, c.class, c.referral, c.failed)
		}
	}
}

// The Date header is the reference day unless it is more than a day after
// the caller's now (a sender's clock far ahead).
func TestClassifyDateHeaderVersusNow(t *testing.T) {
	h := mail.Header{"From": {"Dana <dana@brightlane.io>"}, "Date": {"Wed, 09 Dec 2026 10:00:00 -0500"}}
	at := time.Date(2026, 12, 8, 20, 0, 0, 0, time.UTC)
	for now, want := range map[time.Time]string{
		at:                     "2026-12-10", // header 19 h ahead: used
		at.Add(-6 * time.Hour): "2026-12-09", // 25 h ahead: now used
	} {
		c := inbound.ClassifyReplyAt("Out of office", "I am out of the office, back tomorrow.", h, now)
		if c.Class != inbound.ClassOutOfOffice || c.Until.String() != want {
			t.Errorf("now %v: %s until %v, want back %s", now, c.Class, c.Until, want)
		}
	}
}

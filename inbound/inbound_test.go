package inbound_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

func TestSMSKeywords(t *testing.T) {
	cases := map[string]inbound.Keyword{
		"STOP": inbound.Stop, " stop ": inbound.Stop, "Stop.": inbound.Stop, "STOPALL": inbound.Stop, "unsubscribe": inbound.Stop,
		"cancel": inbound.Stop, "END": inbound.Stop, "quit": inbound.Stop, "revoke": inbound.Stop, "optout": inbound.Stop, "opt out": inbound.Stop, "OPT  OUT": inbound.Stop,
		"START": inbound.Start, "unstop": inbound.Start, "Yes": inbound.Start,
		"help": inbound.Help, "INFO": inbound.Help,
		// "please stop …" begins, politeness aside, with STOP: an opt-out
		// (COMPLIANCE.md 1; it was a reply before the keyword rules
		// followed the FCC's revocation-by-any-reasonable-means order).
		"please stop calling me": inbound.Stop, "stopping by later": inbound.None, "": inbound.None, "Thanks!": inbound.None,
	}
	for body, want := range cases {
		if got := inbound.SMSKeyword(body); got != want {
			t.Errorf("%q: %v, want %v", body, got, want)
		}
	}
}

var now = time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)

func parse(t *testing.T, raw string) *inbound.Email {
	t.Helper()
	e, err := inbound.ParseEmail([]byte(strings.ReplaceAll(raw, "\n", "\r\n")), now)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAutoReplies(t *testing.T) {
	cases := []struct {
		name, headers, body string
		auto                bool
		until               time.Time
	}{
		{"auto-submitted", "Auto-Submitted: auto-replied\nSubject: Re: Hi", "I'm back on March 9.", true, time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		{"x-autoreply", "X-Autoreply: yes\nSubject: Hi", "Away.", true, time.Time{}},
		{"precedence", "Precedence: auto_reply\nSubject: Hi", "Returning on 2026-03-20.", true, time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC)},
		{"subject", "Subject: Out of Office: Your trial", "I am out until Monday, March 16th.", true, time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
		{"automatic reply", "Subject: Automatic reply: Hi", "Back 3 April 2026", true, time.Date(2026, 4, 3, 9, 0, 0, 0, time.UTC)},
		{"auto-submitted no", "Auto-Submitted: no\nSubject: Re: Hi", "Let's talk.", false, time.Time{}},
		{"human", "Subject: Re: Hi", "Sounds good, call me.", false, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := parse(t, "From: a@example.com\nMessage-ID: <m@x>\n"+tc.headers+"\n\n"+tc.body+"\n")
			if (e.Kind == inbound.KindAutoReply) != tc.auto || !e.ReturnDate.Equal(tc.until) {
				t.Fatalf("kind %s until %v, want auto=%v until %v", e.Kind, e.ReturnDate, tc.auto, tc.until)
			}
		})
	}
}

func TestReplyMatching(t *testing.T) {
	e := parse(t, "From: \"Ada L\" <Ada@Example.com>\nSubject: =?UTF-8?Q?Re:_Caf=C3=A9?=\nIn-Reply-To: <a.b@n.example>\nReferences: <z@n.example> <a.b@n.example>\nContent-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nYes!\n\nOn Mon, Acme wrote:\n> old\n--XX\nContent-Type: text/html\n\n<p>Yes!</p>\n--XX--\n")
	if e.From != "ada@example.com" || e.Subject != "Re: Café" || e.References[0] != "a.b@n.example" || e.Excerpt != "Yes!" {
		t.Fatalf("%+v", e)
	}
}

func TestDSN(t *testing.T) {
	dsn := func(status string) string {
		return "From: MAILER-DAEMON@mx\nSubject: failure\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\nContent-Type: text/plain\n\nfailed\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\nOriginal-Recipient: rfc822;orig@example.com\nFinal-Recipient: rfc822; Dee@Example.com\nAction: failed\nStatus: " + status + "\nDiagnostic-Code: smtp; 550 nope\n--B\nContent-Type: message/rfc822\n\nMessage-ID: <orig@n.example>\nSubject: hi\n\nbody\n--B--\n"
	}
	e := parse(t, dsn("5.1.1"))
	if e.Kind != inbound.KindBounce || e.BounceRecipient != "dee@example.com" || !e.Hard || e.References[0] != "orig@n.example" {
		t.Fatalf("%+v", e)
	}
	if e := parse(t, dsn("5.7.1")); e.Hard {
		t.Fatal("a 5.7.1 policy block must not be a hard bounce")
	}
	if e := parse(t, dsn("4.2.2")); e.Hard {
		t.Fatal("a 4.x.x delay is not a hard bounce")
	}
	if _, err := inbound.ParseEmail([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B--\r\n"), now); err == nil {
		t.Fatal("a report without a recipient was accepted")
	}
}

func TestFeedbackReport(t *testing.T) {
	e := parse(t, "From: fbl@isp\nContent-Type: multipart/report; report-type=feedback-report; boundary=A\n\n--A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n\n--A\nContent-Type: message/rfc822\n\nTo: Ed <Ed@Example.com>\nMessage-ID: <o@n.example>\n\nhi\n--A--\n")
	if e.Kind != inbound.KindComplaint || e.BounceRecipient != "ed@example.com" || e.References[0] != "o@n.example" {
		t.Fatalf("%+v", e)
	}
}

func FuzzParseEmail(f *testing.F) {
	f.Add([]byte("From: a@b.co\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nBack on March 9\r\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.co\r\nStatus: 5.1.1\r\n--B--\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=X\r\n\r\n--X\r\n\r\nhi\r\n--X--"))
	f.Add([]byte("Content-Type: multipart/report; report-type=feedback-report; boundary=F\r\n\r\n--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n--F\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <e1.s.0.1@n.example>\r\n--F--\r\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=\"=_B\"\r\n\r\n--=_B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@b.co\r\nAction: delayed\r\nStatus: 4.4.7\r\n--=_B\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <x@n.example>\r\n\r\nbody\r\n--=_B--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := inbound.ParseEmail(raw, now)
		if err == nil && e.Kind == "" {
			t.Fatal("parsed without a kind")
		}
	})
}

func FuzzSMSKeyword(f *testing.F) {
	for _, s := range []string{"STOP", "opt out", "héllo", "STOP\x00", "Start"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := inbound.SMSKeyword(s)
		if inbound.SMSKeyword("  "+s+"\n") != k {
			t.Fatalf("%q: surrounding space changed the keyword", s)
		}
		if strings.ToValidUTF8(s, "") == s && inbound.SMSKeyword(strings.ToLower(s)) != k {
			t.Fatalf("%q: case changed the keyword", s)
		}
	})
}

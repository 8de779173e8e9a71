package inbound_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

// TestDSNFixtures parses every report in testdata/dsn (real Postfix 3.7
// DSNs and hand-written Gmail, Exchange, Yahoo, JMRP and ARF samples; see
// its README) and checks each against MANIFEST.tsv: kind, hard, status,
// every recipient block's Final- and Original-Recipient, and the returned
// Message-ID.
func TestDSNFixtures(t *testing.T) {
	manifest, err := os.ReadFile("testdata/dsn/MANIFEST.tsv")
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(manifest)), "\n")[1:]
	if len(rows) < 20 {
		t.Fatalf("MANIFEST.tsv lists %d fixtures", len(rows))
	}
	at := time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC)
	keys := map[string]string{}
	for _, row := range rows {
		f := strings.Split(row, "\t")
		if len(f) < 7 {
			t.Fatalf("bad manifest row %q", row)
		}
		file, kind, hard, status, finals, originals, returned := f[0], f[1], f[2] == "yes", f[3], f[4], f[5], f[6]
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/dsn", file))
			if err != nil {
				t.Fatal(err)
			}
			e, err := inbound.ParseEmail(raw, at)
			if err != nil {
				t.Fatal(err)
			}
			switch kind {
			case "bounce":
				if e.Kind != inbound.KindBounce || e.Action != "failed" {
					t.Errorf("kind %s action %q, want a failed bounce", e.Kind, e.Action)
				}
			case "delayed":
				if e.Kind != inbound.KindBounce || e.Action != "delayed" {
					t.Errorf("kind %s action %q, want a delay", e.Kind, e.Action)
				}
			case "complaint":
				if e.Kind != inbound.KindComplaint {
					t.Errorf("kind %s, want complaint", e.Kind)
				}
			case "bounce_in_disguise":
				if e.Kind != inbound.KindAutoReply || e.Reply.Class != inbound.ClassBounce || e.Reply.FailedRecipient != finals {
					t.Errorf("kind %s class %s failed %q, want a disguised bounce for %s", e.Kind, e.Reply.Class, e.Reply.FailedRecipient, finals)
				}
			default:
				t.Fatalf("manifest kind %q", kind)
			}
			if kind == "bounce" || kind == "delayed" {
				if e.Hard != hard {
					t.Errorf("hard %v, want %v", e.Hard, hard)
				}
				if e.BounceStatus != status {
					t.Errorf("status %q, want %q", e.BounceStatus, status)
				}
				var gotFinal, gotOrig []string
				for _, r := range e.Recipients {
					gotFinal, gotOrig = append(gotFinal, r.Final), append(gotOrig, orDash(r.Original))
				}
				if strings.Join(gotFinal, ",") != finals || strings.Join(gotOrig, ",") != originals {
					t.Errorf("recipients %v / original %v, want %s / %s", gotFinal, gotOrig, finals, originals)
				}
				if e.BounceRecipient != strings.Split(finals, ",")[0] {
					t.Errorf("BounceRecipient %q", e.BounceRecipient)
				}
				if strings.Contains(e.BounceDiagnostic, "\n") {
					t.Errorf("diagnostic not unfolded: %q", e.BounceDiagnostic)
				}
			}
			if kind == "complaint" && e.BounceRecipient != strings.TrimPrefix(finals, "-") {
				t.Errorf("complainer %q, want %q", e.BounceRecipient, finals)
			}
			if returned == "-" {
				if len(e.Returned) != 0 {
					t.Errorf("returned %v, want none", e.Returned)
				}
			} else if len(e.Returned) == 0 || e.Returned[0] != returned || e.References[0] != returned {
				t.Errorf("returned %v references %v, want %s first", e.Returned, e.References, returned)
			}
			k := e.Key()
			if len(k) != 34 {
				t.Errorf("key %q is not 34 characters", k)
			}
			if other, dup := keys[k]; dup {
				t.Errorf("same dedupe key as %s", other)
			}
			keys[k] = file
			again, _ := inbound.ParseEmail(raw, at.Add(time.Hour))
			if again.Key() != k {
				t.Error("the same report parsed again has another key")
			}
		})
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dsnMsg builds a DSN: status is the message/delivery-status (or global)
// body; returned the returned part's headers.
func dsnMsg(messageID, statusType, status, returnedType, returnedCTE, returned string) string {
	h := "From: MAILER-DAEMON@mx.acme.example\nSubject: Undelivered Mail Returned to Sender\n"
	if messageID != "" {
		h += "Message-ID: <" + messageID + ">\n"
	}
	return h + "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B/mx\"\n\n" +
		"--B/mx\nContent-Type: text/plain; charset=utf-8\n\nThis is the mail system.\n\n" +
		"--B/mx\nContent-Type: " + statusType + "\n\n" + status + "\n" +
		"--B/mx\nContent-Type: " + returnedType + "\n" + returnedCTE + "\n" + returned + "\n--B/mx--\n"
}

const utf8Returned = "From: Acme <hello@acme.example>\nTo: José <jose@example.com>\nSubject: Café ☕\nMessage-ID: <sig.ned@n.example>\n\nBonjour"

func TestDSNGlobalParts(t *testing.T) {
	status := "Reporting-MTA: dns; mx.acme.example\n\nFinal-Recipient: utf-8; jos\\x{E9}@example.com\nOriginal-Recipient: rfc822;jose@example.com\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <jose@example.com>: Recipient address\n    rejected: User unknown\n"
	for name, raw := range map[string]string{
		"8bit":   dsnMsg("d1@mx", "message/global-delivery-status", status, "message/global", "Content-Transfer-Encoding: 8bit\n", utf8Returned),
		"base64": dsnMsg("d1@mx", "message/global-delivery-status", status, "message/global", "Content-Transfer-Encoding: base64\n", base64.StdEncoding.EncodeToString([]byte(utf8Returned))),
		"headers": dsnMsg("d1@mx", "message/global-delivery-status", status, "message/global-headers", "",
			strings.SplitN(utf8Returned, "\n\n", 2)[0]),
	} {
		t.Run(name, func(t *testing.T) {
			e := parse(t, raw)
			if e.Kind != inbound.KindBounce || !e.Hard || e.Action != "failed" || e.BounceStatus != "5.1.1" {
				t.Fatalf("%+v", e)
			}
			if e.BounceRecipient != "josé@example.com" || e.OriginalRecipient != "jose@example.com" {
				t.Errorf("recipient %q original %q", e.BounceRecipient, e.OriginalRecipient)
			}
			if len(e.Returned) != 1 || e.Returned[0] != "sig.ned@n.example" || e.References[0] != "sig.ned@n.example" {
				t.Errorf("returned %v references %v", e.Returned, e.References)
			}
			if e.BounceDiagnostic != "smtp; 550 5.1.1 <jose@example.com>: Recipient address rejected: User unknown" {
				t.Errorf("diagnostic %q", e.BounceDiagnostic)
			}
		})
	}
}

func TestDSNRecipientChoice(t *testing.T) {
	block := func(rcpt, action, status, diag string) string {
		s := "Final-Recipient: rfc822; " + rcpt + "\nAction: " + action + "\n"
		if status != "" {
			s += "Status: " + status + "\n"
		}
		return s + "Diagnostic-Code: " + diag + "\n\n"
	}
	hdrs := "Message-ID: <x@n.example>\n"
	// A delay and a failure in one report: the failure is what it is about.
	e := parse(t, dsnMsg("", "message/delivery-status", "Reporting-MTA: dns; mx\n\n"+block("a@example.com", "delayed", "4.4.1", "smtp; 421 try later")+
		block("b@example.com", "failed", "5.1.1", "smtp; 550 no such user"), "text/rfc822-headers", "", hdrs))
	if e.BounceRecipient != "b@example.com" || !e.Hard || len(e.Recipients) != 2 || e.Recipients[0].Action != "delayed" {
		t.Fatalf("%+v", e)
	}
	// A delay alone is not a bounce, whatever its status.
	e = parse(t, dsnMsg("", "message/delivery-status", block("a@example.com", "delayed", "5.1.1", "smtp; 550 odd"), "text/rfc822-headers", "", hdrs))
	if e.Action != "delayed" || e.Hard {
		t.Fatalf("delay: %+v", e)
	}
	// No Status field: the enhanced code of the diagnostic.
	e = parse(t, dsnMsg("", "message/delivery-status", block("c@example.com", "failed", "", "smtp; 550-5.1.1 The email account that you tried to reach does not exist"), "text/rfc822-headers", "", hdrs))
	if e.BounceStatus != "5.1.1" || !e.Hard {
		t.Fatalf("status from diagnostic: %q hard %v", e.BounceStatus, e.Hard)
	}
	// A forwarding alias: the report names both addresses.
	e = parse(t, dsnMsg("", "message/delivery-status", "Original-Recipient: rfc822;team@example.com\nFinal-Recipient: rfc822; departed@example.com\nAction: failed\nStatus: 5.1.1\n", "text/rfc822-headers", "", hdrs))
	if e.BounceRecipient != "departed@example.com" || e.OriginalRecipient != "team@example.com" {
		t.Fatalf("forward: %q %q", e.BounceRecipient, e.OriginalRecipient)
	}
	// Returned headers but no recipient: still a report (the Message-ID
	// names the send); neither: not one.
	if e := parse(t, dsnMsg("", "message/delivery-status", "Reporting-MTA: dns; mx\n", "text/rfc822-headers", "", hdrs)); e.BounceRecipient != "" || e.Returned[0] != "x@n.example" {
		t.Fatalf("no recipient: %+v", e)
	}
	if _, err := inbound.ParseEmail([]byte(dsnMsg("", "message/delivery-status", "Reporting-MTA: dns; mx\n", "text/plain", "", "nothing")), now); err == nil {
		t.Fatal("a report naming no recipient and returning nothing was accepted")
	}
}

func TestARFRedactedRecipientIsNotGuessed(t *testing.T) {
	arf := func(to string) string {
		return "From: fbl@isp.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=A\n\n--A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nArrival-Date: Tue, 1 Dec 2026 10:20:40 +0000\n\n--A\nContent-Type: message/rfc822\n\nTo: " + to + "\nMessage-ID: <o@n.example>\n\nhi\n--A--\n"
	}
	for _, to := range []string{"redacted@isp.example", "xxxxxxxx@isp.example", "[redacted]@isp.example"} {
		if e := parse(t, arf(to)); e.Kind != inbound.KindComplaint || e.BounceRecipient != "" || e.Returned[0] != "o@n.example" {
			t.Errorf("%s: recipient %q returned %v", to, e.BounceRecipient, e.Returned)
		}
	}
	if e := parse(t, arf("Ed <ed@example.com>")); e.BounceRecipient != "ed@example.com" || e.FeedbackType != "abuse" {
		t.Errorf("plain To: %q %q", e.BounceRecipient, e.FeedbackType)
	}
}

func TestReferencesOrder(t *testing.T) {
	e := parse(t, "From: a@example.com\nMessage-ID: <r@x>\nIn-Reply-To: <c@n>\nReferences: <a@n> <b@n>\n <c@n>\nSubject: Re: hi\n\nok\n")
	if want := []string{"c@n", "b@n", "a@n"}; !slices.Equal(e.References, want) {
		t.Fatalf("references %v, want %v", e.References, want)
	}
	e = parse(t, "From: a@example.com\nMessage-ID: <r@x>\nReferences: <a@n> <b@n>\nSubject: Re: hi\n\nok\n")
	if want := []string{"b@n", "a@n"}; !slices.Equal(e.References, want) {
		t.Fatalf("without In-Reply-To: %v, want %v (the message answered is the last listed)", e.References, want)
	}
}

func TestKeys(t *testing.T) {
	status := func(rcpt, action, st string) string {
		return "Reporting-MTA: dns; mx.acme.example\nArrival-Date: Tue, 1 Dec 2026 09:00:00 +0000\n\nFinal-Recipient: rfc822; " + rcpt + "\nAction: " + action + "\nStatus: " + st + "\n"
	}
	ret := "Message-ID: <o@n.example>\n"
	a := parse(t, dsnMsg("", "message/delivery-status", status("a@example.com", "failed", "5.1.1"), "text/rfc822-headers", "", ret))
	b := parse(t, dsnMsg("", "message/delivery-status", status("b@example.com", "failed", "5.1.1"), "text/rfc822-headers", "", ret))
	delayed := parse(t, dsnMsg("", "message/delivery-status", status("a@example.com", "delayed", "4.4.1"), "text/rfc822-headers", "", ret))
	again := parse(t, dsnMsg("", "message/delivery-status", status("a@example.com", "failed", "5.1.1"), "text/rfc822-headers", "", ret))
	if a.Key() == b.Key() {
		t.Error("two DSNs without Message-ID for two recipients share a key")
	}
	if a.Key() == delayed.Key() {
		t.Error("a delay and a failure for one recipient share a key")
	}
	if a.Key() != again.Key() {
		t.Error("the same DSN delivered twice has two keys")
	}
	if a.LegacyKey() != "" {
		t.Errorf("legacy key without a Message-ID: %q", a.LegacyKey())
	}
	short := parse(t, "From: x@example.com\nMessage-ID: <m@x>\nSubject: hi\n\nhello\n")
	long := parse(t, "From: x@example.com\nMessage-ID: <"+strings.Repeat("m", 5000)+"@x>\nSubject: hi\n\nhello\n")
	if len(short.Key()) != len(long.Key()) || len(short.Key()) != 34 || !strings.HasPrefix(short.Key(), "m-") {
		t.Errorf("keys %q / %q are not fixed-length", short.Key(), long.Key())
	}
	// A message with a Message-ID keeps its key however it is rewrapped,
	// and names the key earlier versions used.
	moved := parse(t, "Received: by relay\nFrom: x@example.com\nMessage-ID: <m@x>\nSubject: hi\n\nhello again\n")
	if moved.Key() != short.Key() || short.LegacyKey() != "m@x" {
		t.Errorf("key %q vs %q, legacy %q", moved.Key(), short.Key(), short.LegacyKey())
	}
	r1 := parse(t, "From: x@example.com\nSubject: hi\nDate: Tue, 1 Dec 2026 09:00:00 +0000\n\nyes\n")
	r2 := parse(t, "From: x@example.com\nSubject: hi\nDate: Tue, 1 Dec 2026 09:05:00 +0000\n\nyes\n")
	if r1.Key() == r2.Key() || !strings.HasPrefix(r1.Key(), "r-") {
		t.Errorf("two replies without Message-ID sent at different times: %q %q", r1.Key(), r2.Key())
	}
}

func TestFailureNoticeInPlainTextNamesTheReturnedMessage(t *testing.T) {
	e := parse(t, "From: MAILER-DAEMON@yahoo.com\nSubject: Failure Notice\nMessage-ID: <n1@yahoo.com>\n\nSorry, we were unable to deliver your message to the following address.\n\n<jo@example.com>:\n550: 5.1.1 <jo@example.com>: Recipient address rejected: User unknown\n\n--- Below this line is a copy of the message.\n\nFrom: Sam <sam@acme.example>\nMessage-ID: <ours@n.example>\nSubject: Hi\n\nHi Jo\n")
	if e.Reply.Class != inbound.ClassBounce || len(e.Returned) != 1 || e.Returned[0] != "ours@n.example" || e.References[0] != "ours@n.example" {
		t.Fatalf("class %s returned %v references %v", e.Reply.Class, e.Returned, e.References)
	}
	if e.Hard || e.Kind != inbound.KindAutoReply {
		t.Fatal("a failure notice in plain text must not pass for a hard bounce")
	}
}

// FuzzReports starts from every report in testdata/dsn. Whatever the
// input: the key is 34 characters and the same on a second parse, a hard
// bounce has a 5.x.x status, and the returned Message-IDs come first in
// References.
func FuzzReports(f *testing.F) {
	files, _ := filepath.Glob("testdata/dsn/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := inbound.ParseEmail(raw, now)
		if err != nil {
			return
		}
		if k := e.Key(); len(k) != 34 {
			t.Fatalf("key %q", k)
		}
		if again, err := inbound.ParseEmail(raw, now); err != nil || again.Key() != e.Key() {
			t.Fatalf("second parse: %v, key changed", err)
		}
		if e.Hard && !strings.HasPrefix(e.BounceStatus, "5.") {
			t.Fatalf("hard bounce with status %q", e.BounceStatus)
		}
		for i, id := range e.Returned {
			if i >= len(e.References) || e.References[i] != id {
				t.Fatalf("returned %v not first in references %v", e.Returned, e.References)
			}
		}
	})
}

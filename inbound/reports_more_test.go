package inbound_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/inbound"
)

// report builds a multipart/report of the given parts (media type, body).
func dsnReport(reportType string, extraHeaders string, parts ...[2]string) string {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@mx.acme.example\nSubject: Undelivered Mail Returned to Sender\n" + extraHeaders +
		"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=" + reportType + "; boundary=\"R\"\n\n")
	for _, p := range parts {
		b.WriteString("--R\nContent-Type: " + p[0] + "\n\n" + p[1] + "\n")
	}
	b.WriteString("--R--\n")
	return b.String()
}

func dsnStatusPart(body string) [2]string { return [2]string{"message/delivery-status", body} }
func dsnReturnedPart(id string) [2]string {
	return [2]string{"text/rfc822-headers", "Message-ID: <" + id + ">\n"}
}
func dsnFillerPart() [2]string { return [2]string{"text/plain", "This is the mail system."} }
func dsnRcpt(addr, action string) string {
	return "Final-Recipient: rfc822; " + addr + "\nAction: " + action + "\n"
}

func TestDSNBounds(t *testing.T) {
	// A report is read up to its 20th part.
	for n, want := range map[int]string{19: "a@example.com", 20: ""} {
		parts := []([2]string){}
		for i := 0; i < n; i++ {
			parts = append(parts, dsnFillerPart())
		}
		parts = append(parts, dsnStatusPart(dsnRcpt("a@example.com", "failed")+"Status: 5.1.1\n"), dsnReturnedPart("o@n.example"))
		e, err := inbound.ParseEmail([]byte(dsnReport("delivery-status", "", parts...)), now)
		got := ""
		if err == nil {
			got = e.BounceRecipient
		}
		if got != want {
			t.Errorf("status as part %d: recipient %q (%v), want %q", n+1, got, err, want)
		}
	}
	// At most 8 returned messages and 50 recipient blocks are kept.
	var parts [][2]string
	var blocks []string
	for i := 0; i < 60; i++ {
		blocks = append(blocks, dsnRcpt(fmt.Sprintf("r%d@example.com", i), "failed"))
	}
	parts = append(parts, dsnStatusPart("Reporting-MTA: dns; mx\n\n"+strings.Join(blocks, "\n")))
	for i := 0; i < 10; i++ {
		parts = append(parts, dsnReturnedPart(fmt.Sprintf("o%d@n.example", i)))
	}
	e := parse(t, dsnReport("delivery-status", "", parts...))
	if len(e.Returned) != 8 || len(e.Recipients) != 50 {
		t.Errorf("kept %d returned messages and %d recipients, want 8 and 50", len(e.Returned), len(e.Recipients))
	}
}

func TestDSNFieldDetails(t *testing.T) {
	for _, c := range []struct {
		name, status, recipient, action, st string
	}{
		{"the delayed recipient over a delivered one", dsnRcpt("ok@example.com", "delivered") + "\n" + dsnRcpt("late@example.com", "delayed"), "late@example.com", "delayed", ""},
		{"status from a 2.x.x diagnostic", dsnRcpt("a@example.com", "delivered") + "Diagnostic-Code: smtp; 250 2.0.0 ok\n", "a@example.com", "delivered", "2.0.0"},
		{"status from a 4.x.x diagnostic", dsnRcpt("a@example.com", "delayed") + "Diagnostic-Code: smtp; 452 4.2.2 mailbox full\n", "a@example.com", "delayed", "4.2.2"},
		{"three-digit subcode", dsnRcpt("a@example.com", "failed") + "Diagnostic-Code: smtp; 550 5.7.509 Access denied\n", "a@example.com", "failed", "5.7.509"},
		{"not an address", "Final-Recipient: rfc822; undisclosed recipients\nAction: failed\nStatus: 5.1.1\n", "undisclosed recipients", "failed", "5.1.1"},
		{"escape at the start", "Final-Recipient: utf-8; \\x{E9}lise@example.com\nAction: failed\nStatus: 5.1.1\n", "élise@example.com", "failed", "5.1.1"},
		// Broken fields are skipped, never a crash.
		{"continuation first, empty status", "\n  folded first\n" + dsnRcpt("a@example.com", "failed") + "Status:\n", "a@example.com", "failed", ""},
	} {
		e := parse(t, dsnReport("delivery-status", "", dsnStatusPart(c.status), dsnReturnedPart("o@n.example")))
		if e.BounceRecipient != c.recipient || e.Action != c.action || e.BounceStatus != c.st {
			t.Errorf("%s: %q %q %q, want %q %q %q", c.name, e.BounceRecipient, e.Action, e.BounceStatus, c.recipient, c.action, c.st)
		}
	}
	// The returned message comes first in References, once.
	e := parse(t, dsnReport("delivery-status", "References: <x@n.example> <o@n.example>\n", dsnStatusPart(dsnRcpt("a@example.com", "failed")), dsnReturnedPart("o@n.example")))
	if want := []string{"o@n.example", "x@n.example"}; !slices.Equal(e.References, want) {
		t.Errorf("references %v, want %v", e.References, want)
	}
	// A complaint naming its recipient needs no returned message.
	arf := "From: fbl@isp.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=A\n\n--A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: <Ed@Example.com>\n\n--A--\n"
	if e := parse(t, arf); e.Kind != inbound.KindComplaint || e.BounceRecipient != "ed@example.com" {
		t.Errorf("ARF without the message: %s %q", e.Kind, e.BounceRecipient)
	}
}

// The key of a bounce without a Message-ID is the documented hash: kind,
// then each part length-prefixed (keys must stay the same across versions
// for a redelivered report to be recognised).
func TestBounceKeyFormat(t *testing.T) {
	e := parse(t, dsnReport("delivery-status", "", dsnStatusPart("Reporting-MTA: dns; mx.acme.example\n"), dsnReturnedPart("o@n.example")))
	h := sha256.New()
	h.Write([]byte("d"))
	for _, p := range []string{e.From, e.Subject, "reporting-mta=dns; mx.acme.example", "rcpt", "", "", "o@n.example"} {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	if want := "d-" + hex.EncodeToString(h.Sum(nil)[:16]); e.Key() != want {
		t.Errorf("key %s, want %s", e.Key(), want)
	}
	if got := (&inbound.Email{MessageID: strings.Repeat("m", 998)}).LegacyKey(); len(got) != 998 {
		t.Errorf("a 998-character Message-ID has no legacy key")
	}
	if got := (&inbound.Email{MessageID: strings.Repeat("m", 999)}).LegacyKey(); got != "" {
		t.Errorf("a 999-character Message-ID has a legacy key")
	}
}

func TestParseEmailDetails(t *testing.T) {
	// Only machine-generated notices get a return day; a person saying
	// when they are back, a follow-up date and a bounce do not.
	for _, raw := range []string{
		"From: dana@brightlane.io\nSubject: Re: hi\n\nI'll be back in the office on Monday, let's talk then?\n",
		"From: dana@brightlane.io\nSubject: Re: hi\n\nNot right now, try again in Q2.\n",
		"From: bob@brightlane.io\nSubject: Undeliverable: hi\n\nYour message couldn't be delivered. Mailbox full, back on Monday.\n",
	} {
		e := parse(t, raw)
		if !e.ReturnOn.IsZero() || !e.ReturnDate.IsZero() {
			t.Errorf("%q (%s, %s): return on %v", raw, e.Kind, e.Reply.Class, e.ReturnOn)
		}
	}
	if e := parse(t, "From: dana@brightlane.io\nSubject: Re: hi\n\nNot right now, try again in Q2.\n"); e.Reply.Until.String() != "2026-04-01" {
		t.Errorf("follow-up %v", e.Reply.Until)
	}
	// In-Reply-To may name several messages; at most 20 references are kept.
	var refs []string
	for i := 0; i < 25; i++ {
		refs = append(refs, fmt.Sprintf("<r%d@n>", i))
	}
	e := parse(t, "From: a@example.com\nIn-Reply-To: <a@n> <b@n>\nReferences: "+strings.Join(refs, " ")+"\nSubject: Re: hi\n\nok\n")
	if len(e.References) != 20 || e.References[0] != "a@n" || e.References[1] != "b@n" || e.References[2] != "r24@n" {
		t.Errorf("references %v", e.References)
	}
	// The excerpt is the first 20 lines.
	var lines []string
	for i := 1; i <= 25; i++ {
		lines = append(lines, strconv.Itoa(i))
	}
	e = parse(t, "From: a@example.com\nSubject: Re: hi\n\n"+strings.Join(lines, "\n")+"\n")
	if want := strings.Join(lines[:20], " "); e.Excerpt != want {
		t.Errorf("excerpt %q, want %q", e.Excerpt, want)
	}
}

func TestNewTextHistoryMarkers(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"rule, blank line, headers", "Sounds good.\n\n________________________________\n\nFrom: Sam <sam@fieldnote.io>\nSent: Tuesday\nTo: Dana\nSubject: hi\n\nold", "Sounds good."},
		{"rule at the end", "Yes.\n________________\n\n", "Yes.\n________________"},
		{"attribution over three lines", "Yes please.\n\nOn Tue, Dec 8, 2026 at 9:02 AM\nSam Carter\n<sam@fieldnote.io> wrote:\n\n> Unsubscribe\n", "Yes please."},
		{"header block at the end", "ok\nFrom: Sam <sam@fieldnote.io>\nSent: Tuesday\nSubject: hi", "ok"},
		{"double-spaced headers", "Fine.\n\nFrom: Sam <sam@fieldnote.io>\n\nTo: Dana\n\nCc: Jo\n\nSent: Tuesday\n\nUnsubscribe", "Fine."},
		{"two header lines", "Ok.\nFrom: Sam <sam@fieldnote.io>\nSubject: hi\nSent: Tuesday\n\nold text", "Ok."},
	} {
		if got := inbound.NewText(c.in); got != c.want {
			t.Errorf("%s: NewText = %q, want %q", c.name, got, c.want)
		}
	}
}

package inbound_test

import (
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nurture-dev/nurture/inbound"
)

func FuzzClassifyReply(f *testing.F) {
	for _, s := range []string{
		"please remove me from your list",
		"I'm out of the office until 14/12/2026.\n\nOn Tue, Sam <sam@x.io> wrote:\n> Unsubscribe",
		"Ich bin bis einschließlich 11.12. nicht im Büro und ab dem 14.12. wieder erreichbar.",
		"Undeliverable: 550 5.1.1 user unknown bob@x.io",
		"<div class=\"gmail_quote\">x</div>",
		"ß\u0301\u00a0—…",
	} {
		f.Add("Re: hi", s)
	}
	h := mail.Header{"From": {"a@b.co"}, "To": {"sam@fieldnote.io"}, "Date": {"Wed, 09 Dec 2026 10:00:00 -0500"}}
	f.Fuzz(func(t *testing.T, subject, text string) {
		c := inbound.ClassifyReply(subject, text, h)
		if !slices.Contains(inbound.Classes, c.Class) {
			t.Fatalf("class %q", c.Class)
		}
		if c.Class != inbound.ClassPositive && c.Reason == "" {
			t.Fatal("a decision without a reason")
		}
		if c.Match != "" && utf8.ValidString(text) && utf8.ValidString(subject) && !strings.Contains(text, c.Match) && !strings.Contains(subject, c.Match) && !strings.Contains(c.Match, "@") {
			t.Fatalf("match %q is not in the message", c.Match)
		}
		if c.Auto && (c.Class == inbound.ClassPositive || c.Class == inbound.ClassNotNow) {
			t.Fatalf("automatic message classified %s", c.Class)
		}
	})
}

func FuzzParseReturnDate(f *testing.F) {
	for _, s := range []string{"until 14/12/2026", "back on the 31st", "zurück am 29.02.", "du 2 au 11 décembre", "12/21 - 1/1", "for 3 days", "back next week"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, text string, offset int64) {
		sent := time.Date(2026, 12, 9, 10, 0, 0, 0, time.FixedZone("", int(offset%(14*3600))))
		got, phrase := inbound.ParseReturnDate(text, sent)
		if got.IsZero() {
			return
		}
		ref := inbound.DateOf(sent)
		if !got.After(ref) || got.After(ref.AddDays(366)) {
			t.Fatalf("%q: %v is not within a year after %v", text, got, ref)
		}
		if phrase == "" {
			t.Fatal("a date without its phrase")
		}
		if _, err := time.Parse("2006-01-02", got.String()); err != nil {
			t.Fatalf("not a real day: %v", got)
		}
	})
}

func FuzzMessageText(f *testing.F) {
	f.Add("text/html", "<p>hi<blockquote>old</blockquote><div class='gmail_quote'>x")
	f.Add("multipart/mixed; boundary=B", "--B\r\nContent-Type: multipart/alternative; boundary=A\r\n\r\n--A\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--A--\r\n--B--")
	f.Add("text/plain; charset=iso-8859-1", "caf\xe9")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		text, err := inbound.MessageText(mail.Header{"Content-Type": {ctype}}, strings.NewReader(body))
		if err == nil && !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8 out: %q", text)
		}
		_ = inbound.NewText(text)
	})
}

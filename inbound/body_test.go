package inbound_test

import (
	"encoding/base64"
	"net/mail"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/inbound"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestMessageTextDecoding(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("Oui, mardi 14h me convient.\n\nLe mar. 8 déc. 2026 à 09:02, Léa <lea@fieldnote.io> a écrit :\n> Bonjour\n> Se désinscrire : https://fieldnote.io/u/x\n"))
	cases := []struct {
		name, raw, excerpt string
	}{
		{"base64 text/plain", "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n" + b64[:40] + "\n" + b64[40:] + "\n", "Oui, mardi 14h me convient."},
		{"mixed > alternative > text/plain", `Content-Type: multipart/mixed; boundary="M"

--M
Content-Type: multipart/alternative; boundary="A"

--A
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Yes, send the contract. Gr=C3=BC=C3=9Fe from Berlin.

On Tue, Dec 8, 2026 at 9:02 AM Sam Carter <sam@fieldnote.io> wrote:
> Unsubscribe: https://fieldnote.io/u/x
--A
Content-Type: text/html; charset="UTF-8"

<div>Yes, send the contract.</div>
--A--
--M
Content-Type: application/pdf; name="a.pdf"
Content-Disposition: attachment; filename="a.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--M--
`, "Yes, send the contract. Grüße from Berlin."},
		{"html only, Gmail quote", `Content-Type: text/html; charset=UTF-8

<html><head><style>p{color:red}</style></head><body><div dir="ltr">Sounds good &amp; thanks&nbsp;&mdash; Thursday?</div><div class="gmail_signature">Dana | VP Ops</div><div class="gmail_quote"><div class="gmail_attr">On Tue, Sam wrote:</div><blockquote class="gmail_quote">Not interested? Unsubscribe: https://fieldnote.io/u/x</blockquote></div></body></html>
`, "Sounds good & thanks — Thursday?"},
		{"html only, Outlook reply header", `Content-Type: text/html; charset=UTF-8

<html><body><p>Please remove me from your list.</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Sam<br><b>Sent:</b> Tuesday<br><b>Subject:</b> hi</div><div>Unsubscribe here</div></body></html>
`, "Please remove me from your list."},
		{"empty text part, html used", `Content-Type: multipart/alternative; boundary=A

--A
Content-Type: text/plain

--A
Content-Type: text/html

<p>Call me <b>tomorrow</b>.</p>
--A--
`, "Call me tomorrow."},
		{"iso-8859-1 quoted-printable", "Content-Type: text/plain; charset=\"iso-8859-1\"\nContent-Transfer-Encoding: quoted-printable\n\nBitte austragen. Gr=FC=DFe\n\n-----Urspr=FCngliche Nachricht-----\nVon: Jan\n", "Bitte austragen. Grüße"},
		{"windows-1252 labelled utf-8", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nCaf\xe9 \x96 d\xe9j\xe0 vu\n", "Café – déjà vu"},
		{"unknown charset, valid utf-8", "Content-Type: text/plain; charset=x-unknown\n\nhé\n", "hé"},
		{"no content type", "\nplain old text\n", "plain old text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := "From: Dana <dana@brightlane.io>\nTo: Sam <sam@fieldnote.io>\nSubject: Re: hi\nMessage-ID: <" + strings.ReplaceAll(c.name, " ", "") + "@x>\n" + c.raw
			e, err := inbound.ParseEmail([]byte(crlf(raw)), now)
			if err != nil {
				t.Fatal(err)
			}
			if e.Excerpt != c.excerpt {
				t.Fatalf("excerpt %q, want %q\ntext %q", e.Excerpt, c.excerpt, e.Text)
			}
		})
	}
}

func TestNewText(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"gmail wrapped attribution", "Yes please.\n\nOn Tue, Dec 8, 2026 at 9:02 AM Sam Carter <\nsam@fieldnote.io> wrote:\n\n> Unsubscribe\n", "Yes please."},
		{"french gmail", "Avec plaisir.\n\nLe mar. 8 déc. 2026 à 09:02, Léa Fontaine <lea@fieldnote.io> a écrit :\n> Se désinscrire\n", "Avec plaisir."},
		{"german gmail", "Gerne.\n\nAm Di., 8. Dez. 2026 um 09:02 Uhr schrieb Jan Hoffmann <jan@fieldnote.io>:\n> Abmelden\n", "Gerne."},
		{"spanish gmail", "Me interesa.\n\nEl mar, 8 dic 2026 a las 9:02, Marta Salas (<marta@fieldnote.io>) escribió:\n> Darse de baja\n", "Me interesa."},
		{"outlook block", "Sounds good.\n\n________________________________\nFrom: Sam Carter <sam@fieldnote.io>\nSent: Tuesday, December 8, 2026 9:02 AM\nTo: Dana\nSubject: Quick question\n\nNot interested? Unsubscribe: https://x\n", "Sounds good."},
		{"outlook block, french, no rule", "D'accord.\nDe : Léa <lea@fieldnote.io>\nEnvoyé : mardi 8 décembre 2026 09:02\nÀ : Camille\nObjet : Question\n\nSe désinscrire\n", "D'accord."},
		{"outlook block, german", "Passt.\n\nVon: Jan <jan@fieldnote.io>\nGesendet: Dienstag, 8. Dezember 2026 09:02\nAn: Jonas\nBetreff: Frage\nAbmelden\n", "Passt."},
		{"outlook block, spanish", "Perfecto.\n\nDe: Marta <marta@fieldnote.io>\nEnviado el: martes, 8 de diciembre de 2026 9:02\nPara: Lucía\nAsunto: Pregunta\nDarse de baja\n", "Perfecto."},
		{"original message", "ok\n-----Original Message-----\nFrom: Sam\nunsubscribe\n", "ok"},
		{"ursprüngliche nachricht", "Ja.\n-----Ursprüngliche Nachricht-----\nVon: Jan\n", "Ja."},
		{"iphone signature", "Call me.\n\nSent from my iPhone\n\nOn Dec 8, 2026, at 9:02 AM, Sam <sam@x.io> wrote:\n> hi\n", "Call me."},
		{"french iphone", "Oui.\n\nEnvoyé de mon iPhone\n", "Oui."},
		{"german iphone", "Ja.\n\nVon meinem iPhone gesendet\n", "Ja."},
		{"dash-dash signature", "Thursday works.\n-- \nDana Whitfield\nUnsubscribe from my newsletter: https://dana.blog/u\n", "Thursday works."},
		{"disclaimer", "Send pricing.\n\nThis email and any attachments are confidential and intended solely for the addressee.\n", "Send pricing."},
		{"inline reply under the quote", "On Tue, Sam <sam@x.io> wrote:\n> Would Thursday work?\n\nYes, Thursday at 10.\n\n> Or Friday?\nNo.\n", "Yes, Thursday at 10.\n\nNo."},
		{"a quote in the middle is history", "Thanks!\n> old\nmore", "Thanks!"},
		{"nothing quoted", "Just text.\nTwo lines.", "Just text.\nTwo lines."},
	}
	for _, c := range cases {
		if got := inbound.NewText(c.in); got != c.want {
			t.Errorf("%s: NewText = %q, want %q", c.name, got, c.want)
		}
	}
}

// The quoted history carries our footer; only the new text counts.
func TestQuotedFooterIsNotAnOptOut(t *testing.T) {
	for _, footer := range []string{
		"Not interested? Unsubscribe: https://fieldnote.io/u/x",
		"Vous ne souhaitez plus recevoir nos e-mails ? Se désinscrire",
		"Sie möchten keine E-Mails mehr von uns erhalten? Abmelden",
		"¿No desea recibir más correos? Darse de baja",
	} {
		text := "Sounds great, send the deck.\n\nOn Tue, Dec 8, 2026 at 9:02 AM Sam <sam@fieldnote.io> wrote:\n> Hi\n>\n> " + footer + "\n"
		if c := inbound.ClassifyReply("Re: Hi", text, mail.Header{}); c.Class != inbound.ClassPositive {
			t.Errorf("%q quoted: %s (%s)", footer, c.Class, c.Reason)
		}
		outlook := "Sounds great, send the deck.\n\nFrom: Sam <sam@fieldnote.io>\nSent: Tuesday, December 8, 2026 9:02 AM\nTo: Dana\nSubject: Hi\n\n" + footer + "\n"
		if c := inbound.ClassifyReply("Re: Hi", outlook, nil); c.Class != inbound.ClassPositive {
			t.Errorf("%q under an Outlook header: %s (%s)", footer, c.Class, c.Reason)
		}
	}
}

func TestClassifyReplyReasons(t *testing.T) {
	h := mail.Header{"From": {"Dana <dana@brightlane.io>"}, "To": {"Sam <sam@fieldnote.io>"}, "Date": {"Wed, 09 Dec 2026 10:00:00 -0500"}}
	cases := []struct {
		subject, text string
		class         inbound.Class
		match         string
	}{
		{"Re: hi", "please remove me from your list", inbound.ClassOptOut, "remove me"},
		{"Re: hi", "Please don't remove me, I'm interested!", inbound.ClassPositive, ""},
		{"Re: hi", "Yes, Thursday.\n\nIf you no longer wish to receive our newsletter, unsubscribe here.", inbound.ClassPositive, ""},
		{"Re: hi", "I'm out of the office tomorrow but let's talk Thursday", inbound.ClassPositive, ""},
		{"Re: hi", "Thanks! Stop by our booth at SaaStr.", inbound.ClassPositive, ""},
		{"Re: hi", "Not right now - circle back next quarter?", inbound.ClassNotNow, "Not right now"},
		{"Re: hi", "Maybe in Q3.", inbound.ClassNotNow, "Maybe in"},
		{"Re: hi", "I'm not the right person, talk to jane@brightlane.io", inbound.ClassWrongPerson, "I'm not the right person"},
		{"Re: hi", "I left the company in October.", inbound.ClassWrongPerson, "I left"},
		{"Undeliverable: hi", "Your message to bob@brightlane.io couldn't be delivered.", inbound.ClassBounce, "couldn't be delivered"},
		{"Mail delivery failed", "A message that you sent could not be delivered to one or more of its recipients.\n\n  bob@brightlane.io\n", inbound.ClassBounce, "could not be delivered"},
		{"Delivery Status Notification (Failure)", "Address not found", inbound.ClassBounce, "Address not found"},
		{"Out of Office", "I am away until 14/12.", inbound.ClassOutOfOffice, "I am away"},
		{"Re: hi", "Thank you for your email. This is an automated response; your ticket #4411 has been created.", inbound.ClassAutoReply, "automated"},
	}
	for _, c := range cases {
		got := inbound.ClassifyReply(c.subject, c.text, h)
		if got.Class != c.class || !strings.Contains(got.Match, c.match) || (c.match != "" && !strings.Contains(got.Reason, c.match)) {
			t.Errorf("%q: %s match %q reason %q; want %s matching %q", c.text, got.Class, got.Match, got.Reason, c.class, c.match)
		}
	}
	wp := inbound.ClassifyReply("Re: hi", "I'm not the right person, talk to Jane.Doe@Brightlane.io or sam@fieldnote.io", h)
	if wp.Referral != "jane.doe@brightlane.io" {
		t.Errorf("referral %q", wp.Referral)
	}
	b := inbound.ClassifyReply("Undeliverable: hi", "Your message to bob@brightlane.io couldn't be delivered.", mail.Header{"From": {"postmaster@brightlane.io"}, "To": {"sam@fieldnote.io"}})
	if b.FailedRecipient != "bob@brightlane.io" {
		t.Errorf("failed recipient %q", b.FailedRecipient)
	}
	ooo := inbound.ClassifyReply("Out of Office", "I am away until 14/12.", h)
	if ooo.Until != d(2026, 12, 14) || ooo.UntilPhrase == "" || !ooo.Auto {
		t.Errorf("ooo %+v", ooo)
	}
	if c := inbound.ClassifyReply("Out of Office", "I am away until 14/12.", nil); !c.Until.IsZero() {
		t.Errorf("no Date header and no time given: no date can be read, got %v", c.Until)
	}
}

package worker_test

// What a recipient (or anyone along the way) sees of an email sent by the
// engine: with the default prospect id — the lowercased address — no link
// and no Message-ID may carry the address, in clear or in base64, and only
// the template's own links go through the click endpoint.

import (
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
	"github.com/nurture-dev/nurture/worker"
)

const privacyCadence = `id: privacy
name: Privacy
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - {id: first, channel: email, template: first}
      - {id: second, channel: email, delay: 1h, template: second, thread: true}
templates:
  first:
    subject: "Hi {{ .FirstName }}"
    text: "Hello. Leave: {{ .UnsubscribeURL }}"
    html: "<html><body><p>Hello {{ .FirstName }}</p><a href=\"HTTPS://acme.example/pricing?for={{ .Attr.plan }}\">Pricing</a> <a href=\"{{ .Attr.site }}\">Your site</a> <a href=\"{{ .UnsubscribeURL }}\">Unsubscribe</a></body></html>"
  second:
    subject: "Again"
    text: "Hello again"
    html: "<html><body><p>See <a href=\"https://acme.example/docs\">the docs</a></p></body></html>"
`

var (
	privacyHrefRe  = regexp.MustCompile(`(?:href|src)="([^"]+)"`)
	privacyAngleRe = regexp.MustCompile(`<([^<>]+)>`)
)

// privacyParts returns the headers and the decoded text and HTML of a MIME
// message.
func privacyParts(t *testing.T, raw string) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var text, html string
	var walk func(ctype string, body io.Reader, enc string)
	walk = func(ctype string, body io.Reader, enc string) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("content type %q: %v", ctype, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				walk(p.Header.Get("Content-Type"), p, "")
			}
		}
		switch strings.ToLower(enc) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		switch mt {
		case "text/plain":
			text += string(b)
		case "text/html":
			html += string(b)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	return msg.Header, text, html
}

// revealsAddress reports where s shows addr: in clear, URL-escaped, or in
// base64 (any alignment, either alphabet) — also inside a token's
// decoded bytes.
func revealsAddress(s, addr string) bool {
	low := strings.ToLower(s)
	if strings.Contains(low, addr) || strings.Contains(low, strings.ReplaceAll(addr, "@", "%40")) {
		return true
	}
	for shift := 0; shift < 3; shift++ {
		enc := base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", shift) + addr))
		// Drop the characters that depend on the padding bytes or on
		// what follows the address.
		core := enc[(shift*4+2)/3+1 : len(enc)-2]
		std := strings.NewReplacer("-", "+", "_", "/").Replace(core)
		if strings.Contains(s, core) || strings.Contains(s, std) {
			return true
		}
	}
	for _, tok := range regexp.MustCompile(`[A-Za-z0-9_-]{16,}`).FindAllString(s, -1) {
		if b, err := base64.RawURLEncoding.DecodeString(tok); err == nil && strings.Contains(string(b), addr) {
			return true
		}
	}
	return false
}

func TestSentEmailHidesTheAddress(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("privacy.yaml", []byte(privacyCadence))
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, err := channels.NewOutbox("", 100, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	const public = "https://n.example"
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob,
		Tokens: signer, Clock: clk.Now, PublicURL: public, MessageIDDomain: "n.example"})
	if err != nil {
		t.Fatal(err)
	}
	const addr = "ada.lovelace@example.com"
	// The id the API gives a prospect without one: the lowercased email.
	p := &store.Prospect{ID: addr, Email: "Ada.Lovelace@Example.com", FirstName: "Ada",
		Attr: map[string]string{"plan": "pro", "site": "https://evil.example/landing"}}
	en, err := e.Enroll(ctx, p, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(en.ID, addr) {
		t.Fatalf("enrollment id %q does not contain the address: the test would prove nothing", en.ID)
	}
	// The detector is not blind: it finds the address in the signed-only
	// tokens of before, wherever the address starts in the payload.
	for _, payload := range []string{en.ID, en.ID + "|first|0", "x|" + en.ID, "xy|" + en.ID} {
		if !revealsAddress(public+"/u/"+base64.RawURLEncoding.EncodeToString([]byte(payload))+".c2ln", addr) {
			t.Fatalf("revealsAddress misses a base64 payload %q", payload)
		}
	}
	dispatch := func() {
		t.Helper()
		if _, err := e.DispatchOnce(ctx, enginetest.SyncQueue{E: e}); err != nil {
			t.Fatal(err)
		}
	}
	dispatch()
	clk.Add(time.Hour)
	dispatch()

	var msgs []channels.OutboxMessage
	for _, m := range ob.Messages() {
		if m.Channel == "email" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want 2", len(msgs))
	}
	var firstID string
	for i, m := range msgs {
		hdr, text, html := privacyParts(t, m.Body)
		// Message-ID (and the threading headers that repeat it).
		id := privacyAngleRe.FindStringSubmatch(hdr.Get("Message-Id"))
		if id == nil {
			t.Fatalf("email %d: Message-ID %q", i, hdr.Get("Message-Id"))
		}
		for _, h := range []string{"Message-Id", "In-Reply-To", "References"} {
			if revealsAddress(hdr.Get(h), addr) {
				t.Errorf("email %d: %s %q shows the address", i, h, hdr.Get(h))
			}
		}
		if gotEID, touch, err := e.MessageOwner(ctx, id[1]); err != nil || gotEID != en.ID || touch != []string{"first", "second"}[i] {
			t.Errorf("email %d: Message-ID %s names %q %q (%v)", i, id[1], gotEID, touch, err)
		}
		if i == 0 {
			firstID = id[0]
		} else if !strings.Contains(hdr.Get("In-Reply-To"), firstID) {
			t.Errorf("email %d: In-Reply-To %q, want %s", i, hdr.Get("In-Reply-To"), firstID)
		}
		// Every link: body hrefs, the pixel, List-Unsubscribe, the text part.
		links := []string{hdr.Get("List-Unsubscribe")}
		for _, h := range privacyHrefRe.FindAllStringSubmatch(html, -1) {
			links = append(links, strings.NewReplacer("&amp;", "&", "&#43;", "+").Replace(h[1]))
		}
		links = append(links, regexp.MustCompile(`https?://\S+`).FindAllString(text, -1)...)
		var clicks, opens int
		for _, l := range links {
			if revealsAddress(l, addr) {
				t.Errorf("email %d: link %q shows the address", i, l)
			}
			tok, isClick := strings.CutPrefix(l, public+"/c/")
			if isClick {
				clicks++
				ref, err := tracking.Decode(signer, tracking.KindClick, tok)
				if err != nil || ref.EID != en.ID {
					t.Errorf("email %d: click link %s: %+v %v", i, l, ref, err)
				}
				want := []string{"https://acme.example/pricing?for=pro", "https://acme.example/docs"}[i]
				if ref.URL != want {
					t.Errorf("email %d: a click link redirects to %q, want only %q", i, ref.URL, want)
				}
			}
			if strings.HasPrefix(l, public+"/o/") {
				opens++
			}
		}
		if clicks != 1 || opens != 1 {
			t.Errorf("email %d: %d click links and %d pixels, want 1 and 1; links %q", i, clicks, opens, links)
		}
		if i == 0 && !strings.Contains(html, `<a href="https://evil.example/landing">Your site</a>`) {
			t.Errorf("email 0: the link from prospect data is not left as it was:\n%s", html)
		}
		// The check is not blind: the address is in the message (To:).
		if !revealsAddress(hdr.Get("To"), addr) {
			t.Fatalf("email %d: the address is not even in To: %q", i, hdr.Get("To"))
		}
	}
}

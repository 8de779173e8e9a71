// Package inbound parses what recipients send back: SMS keywords (STOP,
// START, HELP families) and raw RFC 5322 email — human replies,
// auto-replies with their return date, and DSN bounce reports
// (multipart/report). It is pure: no Redis, no network, no clock of its
// own (every time is an argument).
//
//   - SMSKeyword reads STOP/START/HELP keywords; ClassifySMS reads the rest
//     of an SMS with the reply rules.
//   - ParseEmail parses a message: Kind routes it (reply, auto_reply,
//     bounce, complaint), Text is what the sender wrote (decoded, quoted
//     history removed), Reply classifies it (ClassifyReply), ReturnOn is an
//     out-of-office return day.
//   - ClassifyReply sorts a reply into opt_out, out_of_office, auto_reply,
//     bounce_in_disguise, not_now, wrong_person or positive, quoting the
//     phrase that decided, by rules for English, French, German and Spanish.
//   - MessageText and NewText are the decoding and quote-stripping steps;
//     ParseReturnDate reads a return day, as a Date (a calendar day, no
//     zone: the caller picks the time of day in the prospect's zone).
package inbound

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Kind is what an inbound email is.
type Kind string

const (
	KindReply     Kind = "reply"
	KindAutoReply Kind = "auto_reply"
	KindBounce    Kind = "bounce"
	// KindComplaint is a feedback-loop spam report (RFC 5965 ARF).
	KindComplaint Kind = "complaint"
)

// Email is a parsed inbound message.
type Email struct {
	Kind      Kind
	MessageID string
	From      string
	Subject   string
	// References are the Message-IDs it answers (In-Reply-To first).
	References []string
	// Excerpt is the start of Text on one line (up to 20 lines joined),
	// for the timeline and for sales.
	Excerpt string
	// Text is what the sender wrote in this message: the text/plain part
	// (or the HTML converted to text), decoded from base64 or
	// quoted-printable and its charset, with the quoted history and the
	// signature removed (see MessageText and NewText). Empty for bounce and
	// complaint reports.
	Text string
	// Reply classifies a reply or auto-reply (ClassifyReply): opt-out,
	// out-of-office, other automatic reply, disguised bounce, not now,
	// wrong person or positive, with the phrase that decided. Zero for
	// bounce and complaint reports.
	Reply Classification
	// ReturnOn is the first day an out-of-office sender is back, when the
	// notice says (a calendar day: resume at the start of the prospect's
	// send window, in the prospect's zone). Zero otherwise.
	ReturnOn Date
	// ReturnDate is ReturnOn at 09:00 UTC when that is after now, else zero.
	//
	// Deprecated: 09:00 UTC is not the prospect's morning; use ReturnOn.
	ReturnDate time.Time
	// Bounce fields (Kind bounce).
	BounceRecipient  string
	BounceStatus     string
	BounceDiagnostic string
	Hard             bool
}

// Key identifies the message for deduplication.
func (e *Email) Key() string {
	if e.MessageID != "" {
		return e.MessageID
	}
	return e.From + "|" + e.Subject + "|" + e.Excerpt
}

var msgIDRe = regexp.MustCompile(`<([^<>\s]+)>`)

// ParseEmail parses a raw message. now anchors relative return dates.
func ParseEmail(raw []byte, now time.Time) (*Email, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not an RFC 5322 message: %w", err)
	}
	h := m.Header
	e := &Email{Kind: KindReply, MessageID: strings.Trim(h.Get("Message-Id"), "<> "), Subject: decodeHeader(h.Get("Subject"))}
	if from, err := mail.ParseAddress(h.Get("From")); err == nil {
		e.From = strings.ToLower(from.Address)
	}
	for _, field := range []string{"In-Reply-To", "References"} {
		for _, id := range msgIDRe.FindAllStringSubmatch(h.Get(field), -1) {
			e.References = append(e.References, id[1])
		}
	}
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status") {
		if err := e.parseDSN(m.Body, params["boundary"]); err != nil {
			return nil, err
		}
		return e, nil
	}
	if mt == "multipart/report" && strings.EqualFold(params["report-type"], "feedback-report") {
		if err := e.parseARF(m.Body, params["boundary"]); err != nil {
			return nil, err
		}
		return e, nil
	}
	text, err := MessageText(h, m.Body)
	if err != nil {
		return nil, err
	}
	e.Text = NewText(text)
	e.Excerpt = firstLines(e.Text)
	e.Reply = ClassifyReplyAt(e.Subject, text, h, now)
	// Kind keeps its meaning for callers that only read it: auto_reply for
	// anything machine-generated that is not a DSN or ARF report —
	// COMPLIANCE.md 19 headers and subjects, and bodies that read as an
	// out-of-office notice, an autoresponder or a delivery failure.
	if autoHeaders(h, e.Subject) {
		e.Kind = KindAutoReply
	}
	switch e.Reply.Class {
	case ClassOutOfOffice, ClassAutoReply, ClassBounce:
		e.Kind = KindAutoReply
	}
	if e.Reply.Class == ClassOutOfOffice {
		e.ReturnOn = e.Reply.Until
	} else if e.Kind == KindAutoReply && e.Reply.Class != ClassBounce {
		e.ReturnOn, _ = ParseReturnDate(e.Subject+"\n"+truncate(e.Text, 16<<10), sentAt(h, now))
	}
	if !e.ReturnOn.IsZero() {
		if t := e.ReturnOn.At(9, 0, time.UTC); t.After(now) {
			e.ReturnDate = t
		}
	}
	return e, nil
}

// sentAt is the message's Date, unless missing or more than a day ahead
// of now.
func sentAt(h mail.Header, now time.Time) time.Time {
	if t, err := mail.ParseDate(h.Get("Date")); err == nil && !t.After(now.Add(24*time.Hour)) {
		return t
	}
	return now
}

func decodeHeader(s string) string {
	d, err := (&mime.WordDecoder{CharsetReader: charsetReader}).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// firstLines keeps the new text of a reply: up to the first quoted line or
// "On … wrote:" marker.
func firstLines(text string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() && len(out) < 20 {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, ">") || (strings.HasPrefix(l, "On ") && strings.HasSuffix(l, "wrote:")) || l == "--" {
			break
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}

// eachPart calls fn with the media type and (bounded) content of each part
// of a multipart report.
func eachPart(body io.Reader, boundary string, fn func(mediaType string, b []byte)) error {
	mr := multipart.NewReader(body, boundary)
	for i := 0; i < 20; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(io.LimitReader(p, 1<<20))
		fn(mt, b)
	}
	return nil
}

// originalHeaders reads the returned original message's headers.
func originalHeaders(b []byte) (mail.Header, bool) {
	orig, err := mail.ReadMessage(bytes.NewReader(append(b, '\n', '\n')))
	if err != nil {
		return nil, false
	}
	return orig.Header, true
}

// parseDSN reads a delivery-status report (RFC 3464).
func (e *Email) parseDSN(body io.Reader, boundary string) error {
	e.Kind = KindBounce
	err := eachPart(body, boundary, func(mt string, b []byte) {
		switch mt {
		case "message/delivery-status", "message/global-delivery-status":
			e.readStatus(string(b))
		case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers":
			if h, ok := originalHeaders(b); ok {
				if id := strings.Trim(h.Get("Message-Id"), "<> "); id != "" {
					e.References = append(e.References, id)
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("delivery report: %w", err)
	}
	if e.BounceRecipient == "" {
		return errors.New("delivery report without a Final-Recipient")
	}
	return nil
}

func (e *Email) readStatus(s string) {
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "final-recipient", "original-recipient":
			if e.BounceRecipient == "" || strings.EqualFold(strings.TrimSpace(k), "final-recipient") {
				_, addr, found := strings.Cut(v, ";")
				if !found {
					addr = v
				}
				e.BounceRecipient = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
			}
		case "status":
			e.BounceStatus = v
		case "diagnostic-code":
			e.BounceDiagnostic = v
		}
	}
	// 5.x.x is permanent; mailbox problems (5.1.x) suppress the address.
	// Other permanent failures are recorded as soft: a 5.7.x policy block
	// is the sender's problem (COMPLIANCE.md 14).
	e.Hard = strings.HasPrefix(e.BounceStatus, "5.1.") || strings.HasPrefix(e.BounceStatus, "5.2.1")
}

// parseARF reads a feedback-loop complaint (RFC 5965): who complained is
// the original message's recipient.
func (e *Email) parseARF(body io.Reader, boundary string) error {
	e.Kind = KindComplaint
	err := eachPart(body, boundary, func(mt string, b []byte) {
		switch mt {
		case "message/feedback-report":
			for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Original-Rcpt-To") {
					e.BounceRecipient = strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>"))
				}
			}
		case "message/rfc822", "text/rfc822-headers":
			if h, ok := originalHeaders(b); ok {
				if id := strings.Trim(h.Get("Message-Id"), "<> "); id != "" {
					e.References = append(e.References, id)
				}
				if to, err := mail.ParseAddress(h.Get("To")); err == nil && e.BounceRecipient == "" {
					e.BounceRecipient = strings.ToLower(to.Address)
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("feedback report: %w", err)
	}
	if e.BounceRecipient == "" {
		return errors.New("feedback report without the complaining recipient")
	}
	return nil
}

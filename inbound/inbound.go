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
	"fmt"
	"io"
	"mime"
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
	// References are the Message-IDs it answers: In-Reply-To first, then
	// References newest first (the message it answers is the last one
	// listed), each once. For a bounce or complaint report, the returned
	// message's Message-ID comes first (see Returned).
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
	// Report fields (Kind bounce or complaint). BounceRecipient is the
	// DSN's Final-Recipient (of the first failed recipient, else the first
	// delayed one), or the ARF's Original-Rcpt-To (else the returned
	// message's To); empty when a feedback loop redacted it.
	BounceRecipient  string
	BounceStatus     string
	BounceDiagnostic string
	// Hard is a permanent mailbox failure (Action failed, status 5.1.x or
	// 5.2.1).
	Hard bool
	// OriginalRecipient is that DSN block's Original-Recipient when it
	// differs from BounceRecipient (the address we sent to, when the
	// recipient's MTA forwarded it elsewhere).
	OriginalRecipient string
	// Action is that DSN block's Action: failed, delayed, delivered,
	// relayed or expanded.
	Action string
	// Recipients are every recipient block of a DSN, in order.
	Recipients []ReportRecipient
	// Returned lists the Message-IDs of the message a report returns (its
	// message/rfc822, message/global, text/rfc822-headers or
	// message/global-headers part). A report is only as trustworthy as the
	// Message-ID it returns: ours are signed.
	Returned []string
	// FeedbackType is an ARF report's Feedback-Type (abuse, fraud …).
	FeedbackType string

	// date is the Date header and reportMeta the report's per-message
	// fields (Reporting-MTA, Arrival-Date …), for Key.
	date       string
	reportMeta []string
}

var msgIDRe = regexp.MustCompile(`<([^<>\s]+)>`)

// ParseEmail parses a raw message. now anchors relative return dates.
func ParseEmail(raw []byte, now time.Time) (*Email, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not an RFC 5322 message: %w", err)
	}
	h := m.Header
	e := &Email{Kind: KindReply, MessageID: strings.Trim(h.Get("Message-Id"), "<> "), Subject: decodeHeader(h.Get("Subject")), date: h.Get("Date")}
	if from, err := mail.ParseAddress(h.Get("From")); err == nil {
		e.From = strings.ToLower(from.Address)
	}
	e.References = references(h)
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if kind, ok := reportKind(mt, params); ok {
		parse := e.parseDSN
		if kind == KindComplaint {
			parse = e.parseARF
		}
		if err := parse(m.Body, params["boundary"]); err != nil {
			return nil, err
		}
		return e, nil
	}
	body := m.Body
	if mt == "multipart/mixed" {
		// Microsoft's JMRP complaints are not ARF: multipart/mixed with the
		// reported message alone.
		b, err := io.ReadAll(io.LimitReader(m.Body, maxJMRPBytes))
		if err != nil {
			return nil, fmt.Errorf("reading the message: %w", err)
		}
		if e.parseJMRP(b, params["boundary"]) {
			return e, nil
		}
		body = bytes.NewReader(b)
	}
	text, err := MessageText(h, body)
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
	if e.Reply.Class == ClassBounce {
		// A failure notice in plain text often copies the message below
		// ("--- Below this line is a copy of the message."): its
		// Message-ID says which send failed.
		e.returnedInText(text)
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

// maxReferences bounds the Message-IDs kept from In-Reply-To and
// References: each may cost a lookup.
const maxReferences = 20

// references lists In-Reply-To, then References newest first, each once.
func references(h mail.Header) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] && len(out) < maxReferences {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, id := range msgIDRe.FindAllStringSubmatch(h.Get("In-Reply-To"), -1) {
		add(id[1])
	}
	refs := msgIDRe.FindAllStringSubmatch(h.Get("References"), -1)
	for i := len(refs) - 1; i >= 0; i-- {
		add(refs[i][1])
	}
	return out
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

// Package inbound parses what recipients send back: SMS keywords (STOP,
// START, HELP families) and raw RFC 5322 email — human replies,
// auto-replies with their return date, and DSN bounce reports
// (multipart/report). It is pure: no Redis, no clock of its own.
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

// Keyword is an SMS control keyword.
type Keyword int

const (
	None Keyword = iota
	Stop
	Start
	Help
)

var (
	stopWords  = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true, "REVOKE": true, "OPTOUT": true, "OPT OUT": true}
	startWords = map[string]bool{"START": true, "UNSTOP": true, "YES": true}
	helpWords  = map[string]bool{"HELP": true, "INFO": true}
)

// SMSKeyword classifies an inbound SMS body: trimmed and case-folded, the
// whole body must be the keyword (COMPLIANCE.md 1, 3, 4).
func SMSKeyword(body string) Keyword {
	b := strings.ToUpper(strings.Join(strings.Fields(body), " "))
	b = strings.Trim(b, ".!")
	switch {
	case stopWords[b]:
		return Stop
	case startWords[b]:
		return Start
	case helpWords[b]:
		return Help
	}
	return None
}

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
	Excerpt    string
	// ReturnDate is an auto-reply's "back on" date, when it can be read.
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

var oooSubject = regexp.MustCompile(`(?i)^(auto(matic)?[ -]?(reply|response)|out of (the )?office|ooo\b|away from (the )?office|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica|on vacation|on leave)`)

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
	text, err := textBody(h, m.Body)
	if err != nil {
		return nil, err
	}
	e.Excerpt = firstLines(text)
	if autoReply(h, e.Subject) {
		e.Kind = KindAutoReply
		e.ReturnDate = returnDate(text, now)
	}
	return e, nil
}

func decodeHeader(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// autoReply applies COMPLIANCE.md 19.
func autoReply(h mail.Header, subject string) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" {
		return true
	}
	if p := strings.ToLower(h.Get("Precedence")); p == "auto_reply" {
		return true
	}
	return oooSubject.MatchString(strings.TrimSpace(subject))
}

// textBody returns the text/plain content (first text part of a multipart).
func textBody(h mail.Header, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(io.LimitReader(body, 1<<20))
		return string(b), err
	}
	mr := multipart.NewReader(body, params["boundary"])
	for i := 0; i < 50; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("multipart body: %w", err)
		}
		pmt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pmt == "text/plain" || pmt == "" {
			b, err := io.ReadAll(io.LimitReader(p, 1<<20))
			return string(b), err
		}
	}
	return "", nil
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

var returnRe = regexp.MustCompile(`(?i)(?:until|back on|back in the office on|return(?:ing)? on|returning|back)\s+(?:on\s+)?(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?([A-Za-z0-9 ,./-]{4,30})`)

var dateLayouts = []string{"January 2, 2006", "January 2 2006", "2 January 2006", "Jan 2, 2006", "Jan 2 2006", "2 Jan 2006", "2006-01-02", "01/02/2006", "January 2", "Jan 2", "2 January", "2 Jan"}

// returnDate reads "back on March 9" style dates; year-less dates are the
// next such date after now.
func returnDate(text string, now time.Time) time.Time {
	for _, m := range returnRe.FindAllStringSubmatch(text, 5) {
		cand := strings.TrimRight(strings.TrimSpace(m[1]), ".,")
		words := strings.Fields(cand)
		for n := min(len(words), 4); n >= 1; n-- {
			s := strings.TrimRight(strings.Join(words[:n], " "), ".,")
			s = regexp.MustCompile(`(\d+)(st|nd|rd|th)\b`).ReplaceAllString(s, "$1")
			for _, layout := range dateLayouts {
				t, err := time.Parse(layout, s)
				if err != nil {
					continue
				}
				if t.Year() == 0 {
					t = time.Date(now.Year(), t.Month(), t.Day(), 9, 0, 0, 0, time.UTC)
					if !t.After(now) {
						t = t.AddDate(1, 0, 0)
					}
				} else {
					t = time.Date(t.Year(), t.Month(), t.Day(), 9, 0, 0, 0, time.UTC)
				}
				if t.After(now) && t.Before(now.AddDate(1, 0, 1)) {
					return t
				}
			}
		}
	}
	return time.Time{}
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

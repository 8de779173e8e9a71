package inbound

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
)

// ReportRecipient is one per-recipient block of a delivery status
// notification (RFC 3464 §2.3, RFC 6533 for message/global-delivery-status).
type ReportRecipient struct {
	// Final is the Final-Recipient address, lower case: where delivery was
	// last attempted (after any forwarding).
	Final string
	// Original is the Original-Recipient address, lower case: the address
	// the message was first sent to, when the MTA kept it (a forwarding
	// alias: Original team@, Final departed@). Empty when absent.
	Original string
	// Action is failed, delayed, delivered, relayed or expanded (lower case).
	Action string
	// Status is the enhanced status code (5.1.1); when the block has none,
	// the one in Diagnostic-Code.
	Status     string
	Diagnostic string
	// LastAttempt is the Last-Attempt-Date, verbatim.
	LastAttempt string
}

// Failed reports a permanent or final failure (Action failed, or no Action
// and a 5.x.x status).
func (r ReportRecipient) Failed() bool {
	return r.Action == "failed" || (r.Action == "" && strings.HasPrefix(r.Status, "5."))
}

// maxReportParts bounds the parts read from a report and maxRecipients the
// recipient blocks kept from one.
const (
	maxReportParts = 20
	maxRecipients  = 50
)

// reportKind reports whether a top-level media type is a DSN or ARF report,
// and which.
func reportKind(mt string, params map[string]string) (Kind, bool) {
	if mt != "multipart/report" {
		return "", false
	}
	switch strings.ToLower(params["report-type"]) {
	case "delivery-status", "global-delivery-status":
		return KindBounce, true
	case "feedback-report":
		return KindComplaint, true
	}
	return "", false
}

// eachPart calls fn with the media type and (bounded, transfer-decoded)
// content of each part of a multipart report. message/global and
// message/global-delivery-status (RFC 6533) may come base64 encoded;
// quoted-printable is undone by the multipart reader itself.
func eachPart(body io.Reader, boundary string, fn func(mediaType string, b []byte)) error {
	mr := multipart.NewReader(body, boundary)
	for i := 0; i < maxReportParts; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(io.LimitReader(p, 1<<20))
		if err != nil {
			return err
		}
		if strings.EqualFold(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")), "base64") {
			b = decodeBase64(b)
		}
		fn(mt, b)
	}
	return nil
}

// returnedPart reports whether a report part holds the returned message or
// its headers: message/rfc822 and message/global (RFC 6532: Postfix returns
// SMTPUTF8 mail — ours — as message/global), text/rfc822-headers and
// message/global-headers.
func returnedPart(mt string) bool {
	switch mt {
	case "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		return true
	}
	return false
}

// originalHeaders reads the returned original message's headers (UTF-8
// header values, as in message/global, are read as they are).
func originalHeaders(b []byte) (mail.Header, bool) {
	orig, err := mail.ReadMessage(bytes.NewReader(append(b, '\n', '\n')))
	if err != nil {
		return nil, false
	}
	return orig.Header, true
}

// addReturned records the Message-ID of a returned message, in Returned and
// at the front of References (the report is about that message first).
func (e *Email) addReturned(h mail.Header) {
	id := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<> ")
	if id == "" || len(e.Returned) >= 8 {
		return
	}
	for _, r := range e.Returned {
		if r == id {
			return
		}
	}
	e.Returned = append(e.Returned, id)
	e.References = append([]string{id}, removeString(e.References, id)...)
}

func removeString(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// parseDSN reads a delivery-status report (RFC 3464, RFC 6533). A report
// must name a recipient or return a message: one naming neither tells
// nothing.
func (e *Email) parseDSN(body io.Reader, boundary string) error {
	e.Kind = KindBounce
	err := eachPart(body, boundary, func(mt string, b []byte) {
		switch {
		case mt == "message/delivery-status" || mt == "message/global-delivery-status":
			e.readStatus(string(b))
		case returnedPart(mt):
			if h, ok := originalHeaders(b); ok {
				e.addReturned(h)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("delivery report: %w", err)
	}
	e.pickRecipient()
	if e.BounceRecipient == "" && len(e.Returned) == 0 {
		return errors.New("delivery report without a Final-Recipient or a returned message")
	}
	return nil
}

// statusFields splits a delivery-status body into its field groups (the
// per-message group first, then one per recipient), unfolding continuation
// lines. Field names are lower case.
func statusFields(s string) [][][2]string {
	var groups [][][2]string
	var cur [][2]string
	flush := func() {
		if len(cur) > 0 {
			groups = append(groups, cur)
			cur = nil
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(cur) > 0 {
			cur[len(cur)-1][1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		cur = append(cur, [2]string{strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)})
	}
	flush()
	return groups
}

// readStatus reads the fields of a message/delivery-status or
// message/global-delivery-status part: Reporting-MTA and Arrival-Date of
// the message, then each recipient block.
func (e *Email) readStatus(s string) {
	for _, g := range statusFields(s) {
		var r ReportRecipient
		isRecipient := false
		for _, f := range g {
			switch f[0] {
			case "reporting-mta", "arrival-date", "received-from-mta":
				e.reportMeta = append(e.reportMeta, f[0]+"="+f[1])
			case "final-recipient":
				r.Final, isRecipient = reportAddress(f[1]), true
			case "original-recipient":
				r.Original, isRecipient = reportAddress(f[1]), true
			case "action":
				r.Action = strings.ToLower(strings.TrimSpace(f[1]))
			case "status":
				if fs := strings.Fields(f[1]); len(fs) > 0 {
					r.Status = fs[0]
				}
			case "diagnostic-code":
				r.Diagnostic = f[1]
			case "last-attempt-date":
				r.LastAttempt = f[1]
			}
		}
		if !isRecipient || len(e.Recipients) >= maxRecipients {
			continue
		}
		if r.Final == "" {
			r.Final = r.Original
		}
		if r.Status == "" {
			r.Status = enhancedCode(r.Diagnostic)
		}
		e.Recipients = append(e.Recipients, r)
	}
}

// pickRecipient sets the Bounce fields from the block that matters: the
// first failed recipient, else the first delayed one, else the first.
func (e *Email) pickRecipient() {
	if len(e.Recipients) == 0 {
		return
	}
	pick := 0
	found := false
	for i, r := range e.Recipients {
		if r.Failed() {
			pick, found = i, true
			break
		}
	}
	if !found {
		for i, r := range e.Recipients {
			if r.Action == "delayed" {
				pick = i
				break
			}
		}
	}
	r := e.Recipients[pick]
	e.BounceRecipient, e.BounceStatus, e.BounceDiagnostic, e.Action = r.Final, r.Status, r.Diagnostic, r.Action
	if r.Original != r.Final {
		e.OriginalRecipient = r.Original
	}
	// 5.x.x is permanent; mailbox problems (5.1.x) suppress the address.
	// Other permanent failures are recorded as soft: a 5.7.x policy block
	// is the sender's problem (COMPLIANCE.md 14). A delay is not a failure.
	e.Hard = r.Failed() && (strings.HasPrefix(r.Status, "5.1.") || strings.HasPrefix(r.Status, "5.2.1"))
}

// reportAddress reads "rfc822; Dee@Example.com" or "utf-8; josé@example.com"
// (RFC 6533 unitext, with \x{HHHH} escapes) as a lower-case address.
func reportAddress(v string) string {
	typ, addr, found := strings.Cut(v, ";")
	if !found {
		addr, typ = v, ""
	}
	addr = strings.TrimSpace(addr)
	if strings.EqualFold(strings.TrimSpace(typ), "utf-8") {
		addr = decodeUnitext(addr)
	}
	addr = strings.Trim(addr, "<> \t")
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	return strings.ToLower(addr)
}

// decodeUnitext undoes the \x{HHHH} escapes of RFC 6533 utf-8-type-addr.
func decodeUnitext(s string) string {
	if !strings.Contains(s, `\x{`) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, `\x{`)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		n, err := strconv.ParseUint(s[i+3:i+j], 16, 32)
		b.WriteString(s[:i])
		if err == nil && n <= 0x10FFFF {
			b.WriteRune(rune(n))
		} else {
			b.WriteString(s[i : i+j+1])
		}
		s = s[i+j+1:]
	}
}

// enhancedCode finds an enhanced status code (RFC 3463) in an SMTP
// diagnostic such as "smtp; 550 5.1.1 <a@b>: user unknown".
func enhancedCode(diag string) string {
	for _, f := range strings.FieldsFunc(diag, func(r rune) bool { return r == ' ' || r == ';' || r == '-' || r == '(' || r == ')' || r == ',' }) {
		parts := strings.Split(f, ".")
		if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
			continue
		}
		ok := true
		for _, p := range parts[1:] {
			if _, err := strconv.Atoi(p); err != nil || len(p) > 3 || p == "" {
				ok = false
			}
		}
		if ok {
			return f
		}
	}
	return ""
}

// parseARF reads a feedback-loop complaint (RFC 5965): who complained is
// the original message's recipient. Feedback loops that redact the
// recipient still return the message, whose Message-ID names it.
func (e *Email) parseARF(body io.Reader, boundary string) error {
	e.Kind = KindComplaint
	to := ""
	err := eachPart(body, boundary, func(mt string, b []byte) {
		switch {
		case mt == "message/feedback-report":
			for _, g := range statusFields(string(b)) {
				for _, f := range g {
					switch f[0] {
					case "original-rcpt-to":
						e.BounceRecipient = reportAddress(f[1])
					case "feedback-type":
						e.FeedbackType = strings.ToLower(f[1])
					case "arrival-date", "source-ip", "reported-domain", "original-mail-from":
						e.reportMeta = append(e.reportMeta, f[0]+"="+f[1])
					}
				}
			}
		case returnedPart(mt):
			if h, ok := originalHeaders(b); ok {
				e.addReturned(h)
				if a, err := mail.ParseAddress(h.Get("To")); err == nil && to == "" {
					to = strings.ToLower(a.Address)
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("feedback report: %w", err)
	}
	if e.BounceRecipient == "" && !redacted(to) {
		e.BounceRecipient = to
	}
	if e.BounceRecipient == "" && len(e.Returned) == 0 {
		return errors.New("feedback report without the complaining recipient or the reported message")
	}
	return nil
}

// redacted reports an address a feedback loop put in place of the
// recipient's (RFC 6590): "redacted@…", "hashed@…", "xxxxxx@…".
func redacted(addr string) bool {
	local, _, _ := strings.Cut(addr, "@")
	if local == "" || strings.Contains(local, "redacted") || local == "hashed" || local == "anonymous" {
		return true
	}
	return strings.Trim(local, "x*") == ""
}

// maxJMRPBytes bounds the multipart/mixed messages read for a JMRP report.
const maxJMRPBytes = 25 << 20

// parseJMRP reads a Microsoft JMRP complaint (Outlook.com, Hotmail): a
// multipart/mixed message whose only content is the reported message,
// with the complaining recipient in its X-HmXmrOriginalRecipient header.
// It reports false, changing nothing, for any other message.
func (e *Email) parseJMRP(body []byte, boundary string) bool {
	if boundary == "" {
		return false
	}
	var orig mail.Header
	err := eachPart(bytes.NewReader(body), boundary, func(mt string, b []byte) {
		if orig != nil || mt != "message/rfc822" {
			return
		}
		if h, ok := originalHeaders(b); ok && h.Get("X-HmXmrOriginalRecipient") != "" {
			orig = h
		}
	})
	if err != nil || orig == nil {
		return false
	}
	e.Kind, e.FeedbackType = KindComplaint, "abuse"
	e.BounceRecipient = reportAddress(orig.Get("X-HmXmrOriginalRecipient"))
	e.addReturned(orig)
	e.reportMeta = append(e.reportMeta, "jmrp-date="+orig.Get("Date"))
	return true
}

var textMsgIDRe = regexp.MustCompile(`(?im)^[ \t>]*message-id:[ \t]*<([^<>\s]+)>`)

// returnedInText adds the Message-IDs of a message copied into the text of
// a failure notice to Returned.
func (e *Email) returnedInText(text string) {
	for _, m := range textMsgIDRe.FindAllStringSubmatch(truncate(text, 1<<20), 8) {
		e.addReturned(mail.Header{"Message-Id": {"<" + m[1] + ">"}})
	}
}

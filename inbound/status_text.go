package inbound

import (
	"regexp"
	"strings"
)

// TextStatus is a delivery failure read from the text of a failure notice
// that came without a DSN (no multipart/report): Yahoo's "Failure
// Notice", qmail's, and other MTAs' plain-text bounces (ClassBounce).
type TextStatus struct {
	// Status is the RFC 3463 enhanced status code on the line (5.1.1); ""
	// when the line has only an SMTP reply code.
	Status string
	// Code is the SMTP reply code on the line (550); "" when none.
	Code string
	// Line is the line it was read from, on one line, at most 300 bytes.
	Line string
	// Recipient is the address on that line, else on the line just above
	// it ("<jordan@acme.example>:" in a Yahoo or qmail notice), lower
	// case; "" when neither names one.
	Recipient string
	// Hard reports a mailbox that does not exist: a 5.1.x or 5.2.1 status
	// (the rule DSN reports follow), or a 5xx reply without one that says
	// so ("550 User unknown", "no such user").
	Hard bool
}

var (
	// textEnhanced is an enhanced status code; enhancedCodes keeps those
	// standing alone (not part of an IP address or a version number).
	textEnhanced = regexp.MustCompile(`([245])\.(\d{1,3})\.(\d{1,3})`)
	textReply    = regexp.MustCompile(`(?:^|[^0-9.])(5\d\d)(?:[^0-9.]|$)`)
	textNoUser   = regexp.MustCompile(`(?i)\b(?:user\s+unknown|unknown\s+(?:user|recipient|mailbox)|no\s+such\s+(?:user|mailbox|recipient|address|account)|(?:recipient|mailbox|user|address)\s+(?:not\s+found|unknown|does\s+not\s+exist|doesn'?t\s+exist)|(?:account|mailbox|address)\s+(?:that\s+you\s+tried\s+to\s+reach\s+)?does\s+not\s+exist|doesn'?t\s+have\s+an?\s+\S+\s+account)\b`)
	// textCopyStart is where a notice's copy of the original message
	// begins: nothing after it is the notice's own.
	textCopyStart = regexp.MustCompile(`(?i)below\s+this\s+line\s+is\s+a\s+copy|copy\s+of\s+(?:the|your)\s+(?:original\s+)?message|original\s+message\s+(?:follows|headers)|-{3,}\s*original\s+message\s*-{3,}|returned\s+message\s+follows|undelivered\s+message\s+(?:headers\s+)?follows|^(?:received|message-id|dkim-signature|return-path|arc-seal):`)
	textAngleAddr = regexp.MustCompile(`<([^<>\s@]+@[^<>\s@]+)>`)
)

// StatusInText reads the delivery status of a plain-text failure notice:
// the first line, before the copy of the original message, that carries a
// permanent (5.x.x) enhanced status code, else the first 5xx reply line
// that says the user does not exist. ok is false when there is none (a
// notice with only a 4.x.x code is a delay, not a failure).
func StatusInText(text string) (st TextStatus, ok bool) {
	lines := strings.Split(truncate(text, 64<<10), "\n")
	end := len(lines)
	for i, l := range lines {
		if textCopyStart.MatchString(strings.TrimSpace(l)) {
			end = i
			break
		}
	}
	lines = lines[:end]
	found := func(i int) TextStatus {
		l := strings.Join(strings.Fields(lines[i]), " ")
		s := TextStatus{Line: truncate(l, 300)}
		if m := textReply.FindStringSubmatch(l); m != nil {
			s.Code = m[1]
		}
		s.Recipient = lineAddress(l)
		for j := i - 1; j >= 0 && s.Recipient == ""; j-- {
			if prev := strings.TrimSpace(lines[j]); prev != "" {
				s.Recipient = lineAddress(prev)
				break
			}
		}
		return s
	}
	for i, l := range lines {
		for _, m := range enhancedCodes(l) {
			if m[0] != "5" {
				continue
			}
			s := found(i)
			s.Status = m[0] + "." + m[1] + "." + m[2]
			s.Hard = m[1] == "1" || (m[1] == "2" && m[2] == "1")
			return s, true
		}
	}
	for i, l := range lines {
		if textReply.MatchString(l) && textNoUser.MatchString(l) && len(enhancedCodes(l)) == 0 {
			s := found(i)
			s.Hard = true
			return s, true
		}
	}
	return TextStatus{}, false
}

// enhancedCodes lists the enhanced status codes on a line as class,
// subject, detail: each standing alone, not inside "10.5.1.1" or "v5.1.10".
func enhancedCodes(l string) [][3]string {
	var out [][3]string
	for _, m := range textEnhanced.FindAllStringSubmatchIndex(l, 8) {
		before, after := byte(' '), byte(' ')
		if m[0] > 0 {
			before = l[m[0]-1]
		}
		if m[1] < len(l) {
			after = l[m[1]]
		}
		if m[1]+1 < len(l) && after == '.' && l[m[1]+1] >= '0' && l[m[1]+1] <= '9' {
			continue
		}
		if isDigit(before) || before == '.' || isDigit(after) || isLetter(before) {
			continue
		}
		out = append(out, [3]string{l[m[2]:m[3]], l[m[4]:m[5]], l[m[6]:m[7]]})
	}
	return out
}

func isDigit(b byte) bool  { return b >= '0' && b <= '9' }
func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// lineAddress is the first <address> on a line, else a bare one.
func lineAddress(l string) string {
	if m := textAngleAddr.FindStringSubmatch(l); m != nil {
		return strings.ToLower(strings.TrimRight(m[1], "."))
	}
	if a := emailRe.FindString(strings.ToLower(l)); a != "" {
		return strings.TrimRight(a, ".")
	}
	return ""
}

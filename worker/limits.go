package worker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/templates"
)

// Caps on a rendered message. The API bounds prospect fields, but
// prospects stored before those bounds, or a template that repeats a long
// field, can still render a message no provider accepts; such a touch is
// held with a reason naming the cap (like a template missing data), never
// handed to the provider and retried as a transport failure.
const (
	// MaxEmailBytes bounds an email's subject, text and HTML bodies
	// together, after tracking links are added.
	MaxEmailBytes = 512 << 10
	// MaxSubjectBytes is the longest subject: a header line may not
	// exceed 998 bytes (RFC 5322 2.1.1).
	MaxSubjectBytes = 998
	// MaxSMSSegments bounds an SMS, as Twilio does (templates.MaxSegments).
	MaxSMSSegments = 10
)

// LimitError is a rendered message over one of the caps. Its text is the
// touch's "held" reason: it gives sizes and field names, never content.
type LimitError struct {
	// Limit names the cap exceeded: "email" (MaxEmailBytes), "subject"
	// (MaxSubjectBytes) or "sms" (MaxSMSSegments).
	Limit string
	msg   string
	err   error // the render error, when rendering itself gave up
}

func (e *LimitError) Error() string { return e.msg }
func (e *LimitError) Unwrap() error { return e.err }

// checkEmail returns a *LimitError when a rendered email is over a cap.
func checkEmail(m *channels.Email) error {
	total := len(m.Subject) + len(m.Text) + len(m.HTML)
	if total > MaxEmailBytes {
		return &LimitError{Limit: "email", msg: fmt.Sprintf("email is %s (subject %s, text %s, html %s), over the %s limit",
			formatBytes(total), formatBytes(len(m.Subject)), formatBytes(len(m.Text)), formatBytes(len(m.HTML)), formatBytes(MaxEmailBytes))}
	}
	if len(m.Subject) > MaxSubjectBytes {
		return &LimitError{Limit: "subject", msg: fmt.Sprintf("subject is %d bytes, over the %d-byte limit of a header line (RFC 5322)",
			len(m.Subject), MaxSubjectBytes)}
	}
	return nil
}

// checkSMS returns a *LimitError when a rendered SMS is over the cap.
func checkSMS(m *templates.SMS) error {
	if m.Segments > MaxSMSSegments {
		return &LimitError{Limit: "sms", msg: fmt.Sprintf("sms is %d segments (%d characters, %s), over the %d-segment limit",
			m.Segments, m.Chars, m.Encoding, MaxSMSSegments)}
	}
	return nil
}

// renderLimit turns a render error that is about size into a *LimitError:
// a part that rendered past templates.MaxRendered (its full size is not
// known; the prospect's largest field is named instead) or an SMS body
// the template package refused as too long. Other errors are returned as
// they are.
func renderLimit(err error, email bool, p *store.Prospect) error {
	what, over := "sms", strconv.Itoa(MaxSMSSegments)+"-segment"
	if email {
		what, over = "email", formatBytes(MaxEmailBytes)
	}
	switch {
	case errors.Is(err, templates.ErrRenderedTooLarge):
		msg := fmt.Sprintf("%s is over %s (rendering stopped at the %s part limit", what, formatBytes(templates.MaxRendered), formatBytes(templates.MaxRendered))
		if name, n := largestField(p); n > 0 {
			msg += fmt.Sprintf("; the prospect's %s is %s", name, formatBytes(n))
		}
		return &LimitError{Limit: what, msg: msg + "), over the " + over + " limit", err: err}
	case !email && errors.Is(err, templates.ErrTooLong):
		return &LimitError{Limit: what, msg: fmt.Sprintf("sms is over the %s limit (%v)", over, err), err: err}
	}
	return err
}

// largestField names the prospect's longest field (JSON name) and its
// length in bytes.
func largestField(p *store.Prospect) (string, int) {
	name, size := "", 0
	for _, f := range [...]struct{ name, v string }{
		{"first_name", p.FirstName}, {"last_name", p.LastName}, {"email", p.Email}, {"phone", p.Phone},
		{"company", p.Company}, {"title", p.Title}, {"city", p.City}, {"state", p.State},
		{"country", p.Country}, {"timezone", p.TimeZone}, {"owner", p.Owner},
	} {
		if len(f.v) > size {
			name, size = f.name, len(f.v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Attr)) {
		if v := p.Attr[k]; len(v) > size {
			name, size = "attr."+k, len(v)
		}
	}
	return name, size
}

// formatBytes writes a size for people: 700 B, 512 KiB, 10.2 MiB.
func formatBytes(n int) string {
	const kib, mib = 1 << 10, 1 << 20
	unit := func(v float64, u string) string {
		return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + u
	}
	switch {
	case n < kib:
		return strconv.Itoa(n) + " B"
	case n < mib:
		return unit(float64(n)/kib, "KiB")
	}
	return unit(float64(n)/mib, "MiB")
}

package worker

import (
	"errors"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/templates"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int]string{0: "0 B", 998: "998 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB",
		MaxEmailBytes: "512 KiB", 1 << 20: "1 MiB", 10<<20 + 200<<10: "10.2 MiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCheckEmailBoundaries: exactly at a cap is allowed, one byte over is
// not.
func TestCheckEmailBoundaries(t *testing.T) {
	at := &channels.Email{Subject: strings.Repeat("s", MaxSubjectBytes), Text: strings.Repeat("t", MaxEmailBytes-MaxSubjectBytes)}
	if err := checkEmail(at); err != nil {
		t.Fatalf("at the caps: %v", err)
	}
	var le *LimitError
	over := *at
	over.HTML = "h"
	if err := checkEmail(&over); !errors.As(err, &le) || le.Limit != "email" || !strings.Contains(err.Error(), "over the 512 KiB limit") {
		t.Errorf("one byte over the email cap: %v", err)
	}
	subj := &channels.Email{Subject: strings.Repeat("s", MaxSubjectBytes+1), Text: "hi"}
	if err := checkEmail(subj); !errors.As(err, &le) || le.Limit != "subject" || err.Error() != "subject is 999 bytes, over the 998-byte limit of a header line (RFC 5322)" {
		t.Errorf("one byte over the subject cap: %v", err)
	}
}

// TestCheckSMS holds a body over MaxSMSSegments even if the template
// package were to allow it.
func TestCheckSMS(t *testing.T) {
	body := strings.Repeat("a", 153*MaxSMSSegments)
	m := templates.SMS{Body: body, SegmentInfo: templates.CountSegments(body)}
	if err := checkSMS(&m); err != nil {
		t.Fatalf("%d segments: %v", m.Segments, err)
	}
	body += "a"
	m = templates.SMS{Body: body, SegmentInfo: templates.CountSegments(body)}
	var le *LimitError
	if err := checkSMS(&m); !errors.As(err, &le) || le.Limit != "sms" || err.Error() != "sms is 11 segments (1531 characters, GSM-7), over the 10-segment limit" {
		t.Errorf("%d segments: %v", m.Segments, err)
	}
}

func TestRenderLimit(t *testing.T) {
	p := &store.Prospect{FirstName: "Ada", Company: strings.Repeat("c", 3<<20), Attr: map[string]string{"bio": strings.Repeat("b", 2<<20)}}
	err := renderLimit(errors.Join(errors.New("template welcome html"), templates.ErrRenderedTooLarge), true, p)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "email" || !errors.Is(err, templates.ErrRenderedTooLarge) ||
		err.Error() != "email is over 1 MiB (rendering stopped at the 1 MiB part limit; the prospect's company is 3 MiB), over the 512 KiB limit" {
		t.Errorf("render cap: %v", err)
	}
	p.Attr["bio"] = strings.Repeat("b", 4<<20)
	if err := renderLimit(templates.ErrRenderedTooLarge, false, p); !strings.Contains(err.Error(), "the prospect's attr.bio is 4 MiB), over the 10-segment limit") {
		t.Errorf("render cap, sms: %v", err)
	}
	if err := renderLimit(templates.ErrTooLong, false, p); !errors.As(err, &le) || !errors.Is(err, templates.ErrTooLong) || !strings.HasPrefix(err.Error(), "sms is over the 10-segment limit") {
		t.Errorf("sms too long: %v", err)
	}
	other := &templates.HoldError{Template: "t", Part: templates.PartSubject, Field: "FirstName"}
	if err := renderLimit(other, true, p); err != error(other) {
		t.Errorf("a missing field became %v", err)
	}
}

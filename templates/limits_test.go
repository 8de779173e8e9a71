package templates_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/templates"
)

// The SMS limits are inclusive: a body of exactly MaxSegments segments is
// sent, one character more is not, both at compile time (the static text)
// and at render time. MaxChars never binds first: 10 segments hold at most
// 1,530 GSM-7 or 670 UCS-2 characters.
func TestSMSLimitIsInclusive(t *testing.T) {
	atLimit := strings.Repeat("a", 153*templates.MaxSegments)
	if info := templates.CountSegments(atLimit); info.Segments != templates.MaxSegments {
		t.Fatalf("test body is %d segments, want %d", info.Segments, templates.MaxSegments)
	}
	tm, probs := templates.Compile("t", templates.Source{SMS: atLimit})
	if len(probs) > 0 {
		t.Fatalf("static text of exactly %d segments refused: %v", templates.MaxSegments, probs)
	}
	if sms, err := tm.RenderSMS(templates.Data{}); err != nil || sms.Segments != templates.MaxSegments {
		t.Fatalf("render at the limit: %+v %v", sms.SegmentInfo, err)
	}
	if _, probs := templates.Compile("t", templates.Source{SMS: atLimit + "a"}); len(probs) == 0 {
		t.Fatal("static text of 11 segments compiled")
	}

	tm = compile(t, templates.Source{SMS: "{{ .Attr.blurb }}"})
	if sms, err := tm.RenderSMS(templates.Data{Attr: map[string]string{"blurb": atLimit}}); err != nil || sms.Body != atLimit {
		t.Fatalf("rendered body of exactly %d segments refused: %v", templates.MaxSegments, err)
	}
	if _, err := tm.RenderSMS(templates.Data{Attr: map[string]string{"blurb": atLimit + "a"}}); !errors.Is(err, templates.ErrTooLong) {
		t.Fatalf("11 segments: want ErrTooLong, got %v", err)
	}
}

func TestCountSegmentsChars(t *testing.T) {
	for body, chars := range map[string]int{"": 0, "a": 1, "hi there": 8, "€{": 2, "Hi 👋": 4, "It’s": 4} {
		if got := templates.CountSegments(body).Chars; got != chars {
			t.Errorf("CountSegments(%q).Chars = %d, want %d", body, got, chars)
		}
	}
}

// A part may render up to MaxRendered bytes; one byte more is an error.
func TestRenderedSizeCap(t *testing.T) {
	tm := compile(t, templates.Source{Subject: "s", Text: "{{ .Attr.big }}"})
	big := strings.Repeat("x", templates.MaxRendered)
	out, err := tm.RenderEmail(templates.Data{Attr: map[string]string{"big": big}})
	if err != nil || !strings.HasPrefix(out.Text, big) {
		t.Fatalf("exactly MaxRendered bytes: %v", err)
	}
	if _, err := tm.RenderEmail(templates.Data{Attr: map[string]string{"big": big + "x"}}); !errors.Is(err, templates.ErrRenderedTooLarge) {
		t.Fatalf("MaxRendered+1 bytes in text: want ErrRenderedTooLarge, got %v", err)
	}
	// Across several writes, too: the cap counts what is already written.
	tm = compile(t, templates.Source{SMS: "{{ .Attr.a }}{{ .Attr.a }}"})
	half := strings.Repeat("y", templates.MaxRendered/2+1)
	if _, err := tm.RenderSMS(templates.Data{Attr: map[string]string{"a": half}}); !errors.Is(err, templates.ErrRenderedTooLarge) {
		t.Fatalf("two writes over MaxRendered: want ErrRenderedTooLarge, got %v", err)
	}
	tm = compile(t, templates.Source{Subject: "s", HTML: "<p>{{ .Attr.big }}</p>"})
	if _, err := tm.RenderEmail(templates.Data{Attr: map[string]string{"big": big}}); !errors.Is(err, templates.ErrRenderedTooLarge) {
		t.Fatalf("html over MaxRendered: want ErrRenderedTooLarge, got %v", err)
	}
}

// A body that shows the unsubscribe link itself gets no second footer.
func TestNoFooterWhenBodyHasUnsubscribe(t *testing.T) {
	tm := compile(t, templates.Source{
		Subject: "s",
		Text:    "Bye: {{ .UnsubscribeURL }}",
		HTML:    `<html><body><a href="{{ .UnsubscribeURL }}">Leave</a></body></html>`,
	})
	d := templates.Data{UnsubscribeURL: "https://n.example/u/T", PostalAddress: "1 Main St"}
	out, err := tm.RenderEmail(d)
	if err != nil {
		t.Fatal(err)
	}
	if out.Text != "Bye: https://n.example/u/T" {
		t.Errorf("text got a footer: %q", out.Text)
	}
	if strings.Count(out.HTML, "https://n.example/u/T") != 1 || strings.Contains(out.HTML, "1 Main St") {
		t.Errorf("html got a footer: %q", out.HTML)
	}
	// Without the link in the body, both parts get the footer.
	tm = compile(t, templates.Source{Subject: "s", Text: "Bye", HTML: "<p>Bye</p>"})
	if out, err = tm.RenderEmail(d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "Unsubscribe: https://n.example/u/T") || !strings.Contains(out.HTML, `href="https://n.example/u/T"`) {
		t.Errorf("footer missing: %q / %q", out.Text, out.HTML)
	}
}

// The footer goes before </body> wherever it is, even at the very start.
func TestFooterBeforeBodyClose(t *testing.T) {
	tm := compile(t, templates.Source{Subject: "s", HTML: "</BODY>"})
	out, err := tm.RenderEmail(templates.Data{UnsubscribeURL: "https://n.example/u/T"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.HTML, "</p></BODY>") || !strings.HasPrefix(out.HTML, "<p") {
		t.Errorf("footer not before </body>: %q", out.HTML)
	}
}

func TestHeadline(t *testing.T) {
	if got := compile(t, templates.Source{Subject: "Welcome,\n  {{ .FirstName }}", Text: "x"}).Headline(); got != "Welcome, {{ .FirstName }}" {
		t.Errorf("email headline %q", got)
	}
	if got := compile(t, templates.Source{SMS: "Hi  {{ .FirstName }}\nsee you"}).Headline(); got != "Hi {{ .FirstName }} see you" {
		t.Errorf("sms headline %q", got)
	}
}

// Problems found by the field analysis carry the line of the action; a
// problem with no line says none.
func TestProblemLines(t *testing.T) {
	for _, tc := range []struct {
		src  templates.Source
		want string
	}{
		{templates.Source{SMS: "hi\n\n{{ .Nick }}"}, "sms line 3: unknown field .Nick"},
		{templates.Source{Subject: "x", Text: "a\n{{ range 3 }}x{{ end }}"}, "text line 2: range may only go over a field"},
		{templates.Source{Subject: "x", HTML: "<p>\n{{ .Attr.a.b }}</p>"}, "html line 2: .Attr.a.b: attributes are one level deep"},
		{templates.Source{}, "text: empty template"},
	} {
		_, probs := templates.Compile("t", tc.src)
		if len(probs) != 1 || !strings.HasPrefix(probs[0].Error(), tc.want) {
			t.Errorf("%+v: got %v, want one problem starting %q", tc.src, probs, tc.want)
		}
	}
	if got := (templates.Problem{Part: templates.PartSMS, Msg: "m"}).Error(); got != "sms: m" {
		t.Errorf("line 0: %q", got)
	}
	if got := (templates.Problem{Part: templates.PartSMS, Line: 1, Msg: "m"}).Error(); got != "sms line 1: m" {
		t.Errorf("line 1: %q", got)
	}
}

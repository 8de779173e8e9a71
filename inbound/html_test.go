package inbound_test

import (
	"fmt"
	"net/mail"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/inbound"
)

func htmlText(t *testing.T, src string) string {
	t.Helper()
	s, err := inbound.MessageText(mail.Header{"Content-Type": {"text/html; charset=utf-8"}}, strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHTMLToText pins the HTML conversion a reply's text comes from when it
// has no text/plain part: line breaks, whitespace, quote depth (which
// NewText removes), skipped elements and broken markup.
func TestHTMLToText(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"upper-case tags, headings break lines", `<P>Hi</P><H1>Title</H1><h2>Sub</h2><A HREF="x">link</A> ok`, "Hi\n\nTitle\n\nSub\nlink ok"},
		{"any tag name is dropped", `<a href="x">link</a> <zz>z</zz><o:p>o</o:p><Zz>!</Zz>`, "link zo!"},
		{"inline tags keep the spaces around them", `<b>Call</b> me <i>now</i>, <b>a</b> <b>b</b>`, "Call me now, a b"},
		{"whitespace between inline tags after a quote", `<blockquote>old</blockquote> <b>new</b>`, "> old\nnew"},
		{"nested quotes", `<blockquote>a<blockquote>b</blockquote>c</blockquote>d`, "> a\n> > b\n> c\nd"},
		{"unclosed div inside a quote", `<blockquote><div>x</blockquote>after`, "> x\nafter"},
		{"quote container with inner divs", `<div class="gmail_quote"><div>in</div>still</div>out`, "> in\n> still\nout"},
		{"class after another attribute", `<div id="q1" class="gmail_quote">q</div>n`, "> q\nn"},
		{"id after another attribute", `<p>Yes.</p><div class="x" id="stopSpelling">From: Sam</div><div>Unsubscribe</div>`, "Yes.\n\n> From: Sam\n\n> Unsubscribe"},
		{"plain divs", `<div>a</div><div>b</div>`, "a\n\nb"},
		{"blank lines collapse to one", `<p>a</p><p></p><p></p><p>b</p><br><br><br>c`, "a\n\nb\n\nc"},
		{"pre keeps line breaks and inner spaces", "<pre>  x  y\n z</pre>  a   b", "x  y\nz\na b"},
		{"pre inside a quote", "<blockquote>q<pre>p1\np2</pre></blockquote>n", "> q\n> p1\n> p2\n\nn"},
		{"quote inside pre", "<pre>a<blockquote>y</blockquote></pre>", "a\n> y"},
		{"nested pre", "<pre>a<pre>b</pre>  c\n d</pre>e   f", "a\nb\nc\nd\ne f"},
		{"empty title and style", `<title></title><style></style><p>Hi</p>`, "Hi"},
		{"script with content", `<SCRIPT>var a = "<p>";</SCRIPT>Hi`, "Hi"},
		{"unterminated tag", `Hi <b`, "Hi <b"},
		{"gmail signature", `<div>Thanks</div><div class="gmail_signature">Dana</div>`, "Thanks\n\n--\nDana"},
	} {
		if got := htmlText(t, c.in); got != c.want {
			t.Errorf("%s: %q\ngot  %q\nwant %q", c.name, c.in, got, c.want)
		}
	}
}

// A body broken before any text is an error; once text is found the rest
// does not matter.
func TestMessageTextBrokenMultipart(t *testing.T) {
	h := mail.Header{"Content-Type": {"multipart/mixed; boundary=B"}}
	if s, err := inbound.MessageText(h, strings.NewReader("--B\nbroken header\n\nx\n--B--\n")); err == nil {
		t.Errorf("broken multipart: no error (text %q)", s)
	}
	if s, err := inbound.MessageText(h, strings.NewReader("--B\nContent-Type: text/plain\n\nhello\n--B\nbroken header\n\nx\n--B--\n")); err != nil || s != "hello" {
		t.Errorf("text before the break: %q, %v", s, err)
	}
}

// A message is read up to 200 parts (the top one included) and 10 levels
// of nesting: enough for any real mail, and a bomb of parts stops early.
func TestMessageTextLimits(t *testing.T) {
	parts := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString("--B\nContent-Type: application/octet-stream\n\nx\n")
		}
		b.WriteString("--B\nContent-Type: text/plain\n\nfound\n--B--\n")
		return b.String()
	}
	h := mail.Header{"Content-Type": {"multipart/mixed; boundary=B"}}
	// The text part is part number 1 + skipped + 1.
	for skipped, want := range map[int]string{198: "found", 199: ""} {
		if s, _ := inbound.MessageText(h, strings.NewReader(parts(skipped))); s != want {
			t.Errorf("text after %d other parts: %q, want %q", skipped, s, want)
		}
	}

	nested := func(depth int) string {
		body := "Content-Type: text/plain\n\nfound\n"
		for d := depth; d > 0; d-- {
			b := fmt.Sprintf("B%d", d)
			body = fmt.Sprintf("Content-Type: multipart/mixed; boundary=%s\n\n--%s\n%s--%s--\n", b, b, body, b)
		}
		return body
	}
	for depth, want := range map[int]string{10: "found", 11: ""} {
		msg, err := mail.ReadMessage(strings.NewReader(nested(depth)))
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := inbound.MessageText(msg.Header, msg.Body); s != want {
			t.Errorf("text %d levels deep: %q, want %q", depth, s, want)
		}
	}
}

// Lenient base64: a dangling character or a damaged tail loses only
// itself, padding ends the data.
func TestMessageTextLenientBase64(t *testing.T) {
	for in, want := range map[string]string{"QUJDR": "ABC", "QUJD\nRE*V=GG": "ABCDE", "=QUJD": ""} {
		h := mail.Header{"Content-Type": {"text/plain"}, "Content-Transfer-Encoding": {"base64"}}
		if s, err := inbound.MessageText(h, strings.NewReader(in)); err != nil || s != want {
			t.Errorf("base64 %q: %q %v, want %q", in, s, err, want)
		}
	}
}

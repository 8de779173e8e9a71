package tracking_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/templates"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
)

const base = "https://t.acme.example"

var (
	hrefRe  = regexp.MustCompile(`href="([^"]*)"`)
	clickRe = regexp.MustCompile(`href="` + regexp.QuoteMeta(base) + `/c/([^"]+)"`)
	pixelRe = regexp.MustCompile(`<img src="` + regexp.QuoteMeta(base) + `/o/([^"]+)"`)
)

func linker(t *testing.T) tracking.Linker {
	t.Helper()
	s, err := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return tracking.Linker{Base: base, Signer: s}
}

var ref = tracking.Ref{EID: "ada@example.com~saas", Touch: "welcome", SentAt: time.UnixMilli(1767225600000).UTC()}

// send renders html as the worker does: the template with the prospect's
// data, then Rewrite with the template's own origins.
func send(t *testing.T, l tracking.Linker, html string, attr map[string]string) string {
	t.Helper()
	tm, probs := templates.Compile("t", templates.Source{Subject: "Hi", HTML: "<html><body>" + html + "</body></html>"})
	if len(probs) > 0 {
		t.Fatalf("compile: %v", probs)
	}
	unsub := base + "/u/" + l.Signer.Sign(tracking.KindUnsub, ref.EID)
	m, err := tm.RenderEmail(templates.Data{FirstName: "Ada", Email: "ada@example.com", Attr: attr, UnsubscribeURL: unsub})
	if err != nil {
		t.Fatal(err)
	}
	return l.Rewrite(m.HTML, ref, unsub, tm.LinkOrigins())
}

// clicks decodes every click link of out.
func clicks(t *testing.T, l tracking.Linker, out string) []string {
	t.Helper()
	var dests []string
	for _, m := range clickRe.FindAllStringSubmatch(out, -1) {
		r, err := tracking.Decode(l.Signer, tracking.KindClick, m[1])
		if err != nil {
			t.Fatalf("click token %q: %v", m[1], err)
		}
		if r.EID != ref.EID || r.Touch != ref.Touch || !r.SentAt.Equal(ref.SentAt) {
			t.Fatalf("click token names %+v, want %+v", r, ref)
		}
		if !tracking.AllowedDestination(r.URL) {
			t.Fatalf("click token to %q, which the click endpoint refuses", r.URL)
		}
		dests = append(dests, r.URL)
	}
	return dests
}

func TestAllowedDestination(t *testing.T) {
	for u, want := range map[string]bool{
		"https://acme.example/pricing":       true,
		"HTTPS://acme.example/pricing":       true,
		"Http://acme.example":                true,
		"https://acme.example:8443/x?y=1#z":  true,
		"https:///evil.example":              false,
		"https:evil.example":                 false,
		"//evil.example":                     false,
		"/relative":                          false,
		"javascript:alert(1)":                false,
		"JAVASCRIPT:alert(1)":                false,
		"data:text/html,hi":                  false,
		"ftp://acme.example/":                false,
		"https://acme.example@evil.example/": false,
		"":                                   false,
	} {
		if got := tracking.AllowedDestination(u); got != want {
			t.Errorf("AllowedDestination(%q) = %v, want %v", u, got, want)
		}
	}
}

func TestRewriteUpperCaseScheme(t *testing.T) {
	l := linker(t)
	out := send(t, l, `<a href="HTTPS://Acme.example/Pricing?plan=Pro">Pricing</a>`, nil)
	got := clicks(t, l, out)
	// The scheme is lower-cased (the token stays valid for a click check
	// that compares "https://"); the rest of the URL is as written.
	if len(got) != 1 || got[0] != "https://Acme.example/Pricing?plan=Pro" {
		t.Fatalf("click destinations %q in %s", got, out)
	}
	if strings.Contains(out, `href="HTTPS://`) {
		t.Fatalf("the link was left untracked: %s", out)
	}
}

func TestRewriteLeavesDataLinks(t *testing.T) {
	l := linker(t)
	for name, tc := range map[string]struct {
		html string
		attr map[string]string
		want string // the href, unchanged
	}{
		"whole url":         {`<a href="{{ .Attr.site }}">Site</a>`, map[string]string{"site": "https://evil.example/phish"}, "https://evil.example/phish"},
		"upper-case scheme": {`<a href="{{ .Attr.site }}">Site</a>`, map[string]string{"site": "HTTPS://evil.example/"}, "HTTPS://evil.example/"},
		"look-alike host":   {`<a href="https://acme.example/">A</a><a href="{{ .Attr.site }}">Site</a>`, map[string]string{"site": "https://acme.example.evil.example/"}, "https://acme.example.evil.example/"},
		"host extended":     {`<a href="https://acme.example{{ .Attr.rest }}">Site</a>`, map[string]string{"rest": ".evil.example/x"}, "https://acme.example.evil.example/x"},
		"host from data":    {`<a href="https://{{ .Attr.host }}/x">Site</a>`, map[string]string{"host": "evil.example"}, "https://evil.example/x"},
		"user info":         {`<a href="https://acme.example/">A</a><a href="{{ .Attr.site }}">Site</a>`, map[string]string{"site": "https://acme.example@evil.example/"}, "https://acme.example@evil.example/"},
	} {
		t.Run(name, func(t *testing.T) {
			out := send(t, l, tc.html, tc.attr)
			found := false
			for _, h := range hrefRe.FindAllStringSubmatch(out, -1) {
				found = found || h[1] == tc.want
			}
			if !found {
				t.Fatalf("href %q is not in the output unchanged: %s", tc.want, out)
			}
			for _, d := range clicks(t, l, out) {
				if o, _ := templates.URLOrigin(d); o != "https://acme.example" {
					t.Fatalf("a click link redirects to %q: %s", d, out)
				}
			}
		})
	}
	// The plain case, counted: one data link, no click link at all.
	out := send(t, l, `<p>Hi {{ .FirstName }}, see <a href="{{ .Attr.site }}">your site</a></p>`, map[string]string{"site": "https://evil.example/"})
	if n := len(clickRe.FindAllString(out, -1)); n != 0 || !strings.Contains(out, `<a href="https://evil.example/">your site</a>`) {
		t.Fatalf("%d click links; the data link should be untouched: %s", n, out)
	}
}

func TestRewriteLiteralWithActionInQuery(t *testing.T) {
	l := linker(t)
	out := send(t, l, `<a href="https://acme.example/p?ref={{ .Attr.ref }}&src=email">P</a> <a href="https://docs.acme.example/{{ .Attr.page }}">D</a>`,
		map[string]string{"ref": "a b&c", "page": "start"})
	got := clicks(t, l, out)
	want := []string{"https://acme.example/p?ref=a%20b%26c&src=email", "https://docs.acme.example/start"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("click destinations %q, want %q; html %s", got, want, out)
	}
	for _, h := range hrefRe.FindAllStringSubmatch(out, -1) {
		if !strings.HasPrefix(h[1], base+"/") {
			t.Fatalf("link %q not rewritten: %s", h[1], out)
		}
	}
}

func TestRewriteKeepsUnsubscribe(t *testing.T) {
	l := linker(t)
	// The template shows the unsubscribe link itself and, to be sure
	// the rule does not depend on origins, links to our own host too.
	out := send(t, l, `<a href="https://t.acme.example/help">Help</a> <a href="{{ .UnsubscribeURL }}">Unsubscribe</a>`, nil)
	unsub := base + "/u/" + l.Signer.Sign(tracking.KindUnsub, ref.EID)
	if !strings.Contains(out, `href="`+unsub+`"`) {
		t.Fatalf("unsubscribe link changed: %s", out)
	}
	if got := clicks(t, l, out); len(got) != 1 || got[0] != base+"/help" {
		t.Fatalf("click destinations %q: %s", got, out)
	}
	// A footer added by the template package (the body has no link).
	out = send(t, l, `<a href="https://acme.example/">A</a>`, nil)
	if !strings.Contains(out, `<a href="`+unsub+`">Unsubscribe</a>`) {
		t.Fatalf("footer unsubscribe link changed: %s", out)
	}
	// An unsubscribe URL on a template origin is still not tracked.
	html := `<a href="https://acme.example/u/x">Unsubscribe</a>`
	if got := l.Rewrite(html, ref, "https://acme.example/u/x", []string{"https://acme.example"}); !strings.HasPrefix(got, html) {
		t.Fatalf("unsubscribe URL on a template origin was rewritten: %s", got)
	}
}

func TestRewritePixelAndOrigins(t *testing.T) {
	l := linker(t)
	html := `<html><body><a href="https://acme.example/x">X</a></body></html>`
	// No origins: nothing is tracked, the pixel is still added.
	out := l.Rewrite(html, ref, "", nil)
	if clickRe.MatchString(out) || !strings.Contains(out, `href="https://acme.example/x"`) {
		t.Fatalf("a link was tracked with no origins: %s", out)
	}
	m := pixelRe.FindStringSubmatch(out)
	if m == nil || !strings.HasSuffix(out, `style="display:none"></body></html>`) {
		t.Fatalf("no pixel before </body>: %s", out)
	}
	if r, err := tracking.Decode(l.Signer, tracking.KindOpen, m[1]); err != nil || r.EID != ref.EID || r.Touch != ref.Touch {
		t.Fatalf("pixel token: %+v %v", r, err)
	}
	// Origins are compared normalized, as the template package writes them.
	out = l.Rewrite(html, ref, "", []string{"HTTPS://ACME.example:443"})
	if got := clicks(t, l, out); len(got) != 1 || got[0] != "https://acme.example/x" {
		t.Fatalf("click destinations %q: %s", got, out)
	}
	// Another scheme is another origin.
	if out := l.Rewrite(html, ref, "", []string{"http://acme.example"}); clickRe.MatchString(out) {
		t.Fatalf("https link tracked on an http origin: %s", out)
	}
}

// TestTokensHideTheAddress: the click and open tokens carry the enrollment
// id, an email address by default; it shows nowhere in the HTML.
func TestTokensHideTheAddress(t *testing.T) {
	l := linker(t)
	out := send(t, l, `<a href="https://acme.example/p?x=1">P</a>`, nil)
	if len(clicks(t, l, out)) != 1 || pixelRe.FindString(out) == "" {
		t.Fatalf("want one click link and the pixel: %s", out)
	}
	for _, needle := range []string{"ada@example.com", "ada%40example.com", "YWRhQGV4YW1wbGUuY29t"} {
		if strings.Contains(out, needle) {
			t.Fatalf("the HTML shows %q: %s", needle, out)
		}
	}
}

package templates_test

import (
	"slices"
	"testing"

	"github.com/nurture-dev/nurture/templates"
)

func TestURLOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://acme.example/pricing?x=1": "https://acme.example",
		"HTTPS://Acme.Example/Pricing":     "https://acme.example",
		"Http://acme.example":              "http://acme.example",
		"https://acme.example:443/":        "https://acme.example",
		"http://acme.example:80/":          "http://acme.example",
		"https://acme.example:8443/":       "https://acme.example:8443",
		"https://acme.example:/":           "https://acme.example",
		"https://[::1]:8443/":              "https://[::1]:8443",
		"https://acme.example#top":         "https://acme.example",
		// Refused: no host, opaque, user info, other schemes, junk.
		"https:///evil.example":                "",
		"https:evil.example":                   "",
		"https://:443/":                        "",
		"//evil.example/":                      "",
		"/pricing":                             "",
		"https://acme.example@evil.example/":   "",
		"https://acme.example\\@evil.example/": "",
		"https://acme.example\\.evil.example/": "",
		"javascript:alert(1)":                  "",
		"ftp://acme.example/":                  "",
		"mailto:ada@example.com":               "",
		" https://acme.example/":               "",
		"https://acme.example\t.evil.example/": "",
		"":                                     "",
	} {
		got, ok := templates.URLOrigin(in)
		if got != want || ok != (want != "") {
			t.Errorf("URLOrigin(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestLinkOrigins(t *testing.T) {
	for _, tc := range []struct {
		name, html string
		want       []string
	}{
		{"literal", `<a href="https://acme.example/pricing">P</a>`, []string{"https://acme.example"}},
		{"upper-case scheme and host", `<a href="HTTPS://ACME.example/P">P</a>`, []string{"https://acme.example"}},
		{"action in the query", `<a href="https://acme.example/p?u={{ .Attr.id }}&src=email">P</a>`, []string{"https://acme.example"}},
		{"action in the path", `<a href="https://docs.acme.example/{{ .Attr.page }}">D</a>`, []string{"https://docs.acme.example"}},
		{"host ends at the quote", `<a href="http://acme.example">A</a>`, []string{"http://acme.example"}},
		{"in a branch", `<a href="{{ if .Attr.vip }}https://vip.acme.example/{{ else }}https://acme.example/{{ end }}">A</a>`, []string{"https://acme.example", "https://vip.acme.example"}},
		{"several, sorted, once each", `<a href="https://b.example/1">1</a><a href="https://a.example/2">2</a><a href="https://b.example/3">3</a>`, []string{"https://a.example", "https://b.example"}},
		{"from data", `<a href="{{ .Attr.site }}">S</a>`, nil},
		{"host from data", `<a href="https://{{ .Attr.host }}/x">S</a>`, nil},
		{"host completed by data", `<a href="https://acme.{{ .Attr.tld }}/x">S</a>`, nil},
		{"host extended by data", `<a href="https://acme.example{{ .Attr.rest }}">S</a>`, nil},
		{"port from data", `<a href="https://acme.example:{{ .Attr.port }}/">S</a>`, nil},
		{"user info", `<a href="https://acme.example@evil.example/">S</a>`, nil},
		{"a default is data too", `<a href="{{ .Attr.site | default "https://acme.example/" }}">S</a>`, nil},
		{"not http", `<a href="mailto:ada@example.com">M</a><a href="ftp://files.example/">F</a>`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := compile(t, templates.Source{Subject: "s", HTML: "<html><body>" + tc.html + "</body></html>"})
			if got := tm.LinkOrigins(); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("LinkOrigins() = %q, want %q", got, tc.want)
			}
		})
	}
	// Text-only and SMS templates have none; the list is a copy.
	if got := compile(t, templates.Source{Subject: "s", Text: "https://acme.example/"}).LinkOrigins(); len(got) != 0 {
		t.Errorf("a text part gave origins %q", got)
	}
	tm := compile(t, templates.Source{Subject: "s", HTML: `<a href="https://acme.example/">A</a>`})
	tm.LinkOrigins()[0] = "https://evil.example"
	if got := tm.LinkOrigins(); got[0] != "https://acme.example" {
		t.Errorf("LinkOrigins returned the template's own slice: %q", got)
	}
}

package templates

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template/parse"
)

// URLOrigin returns the origin of an absolute http or https URL, lower
// case and without a default port ("https://acme.example",
// "http://acme.example:8080"). It reports false for anything else: another
// scheme, no host ("https:///x", "https:x"), user info
// ("https://acme.example@evil.example/"), or a URL that does not parse.
// The scheme is case-insensitive, as RFC 3986 says.
func URLOrigin(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" && !(scheme == "https" && port == "443") && !(scheme == "http" && port == "80") {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// LinkOrigins lists, sorted, the origins (URLOrigin) of the http(s) URLs
// written literally in the HTML part: the destinations the template's
// author chose. A URL whose host is completed by an action
// (`https://{{ .Attr.host }}/`, `https://acme.example{{ .Attr.x }}`) is not
// one of them; one with actions after its host
// (`https://acme.example/p?u={{ .Attr.id }}`) is. A URL that comes
// entirely from data (`href="{{ .Attr.site }}"`) never adds an origin.
func (t *Template) LinkOrigins() []string {
	return slices.Clone(t.linkOrigins)
}

var literalURLRe = regexp.MustCompile(`(?i)https?://`)

// linkOrigins collects the origins of URL literals in the template's text
// nodes. It runs on the parse tree before html/template's escaper sees it.
func linkOrigins(tree *parse.Tree) []string {
	seen := map[string]bool{}
	walk(tree.Root, func(n parse.Node, _ []string) {
		tn, ok := n.(*parse.TextNode)
		if !ok {
			return
		}
		text := string(tn.Text)
		for _, loc := range literalURLRe.FindAllStringIndex(text, -1) {
			rest := text[loc[1]:]
			// The authority must end inside this text node: when it
			// runs into an action, data could extend the host.
			end := strings.IndexAny(rest, "/?#\"'<>\\ \t\r\n\f")
			if end < 0 {
				continue
			}
			if o, ok := URLOrigin(text[loc[0]:loc[1]+end] + "/"); ok {
				seen[o] = true
			}
		}
	})
	out := make([]string, 0, len(seen))
	for o := range seen {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

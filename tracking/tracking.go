// Package tracking rewrites the template's own links in outgoing HTML to
// click URLs, adds the open pixel, and reads the tokens back. A token
// (package tokens: encrypted and authenticated) carries the enrollment,
// the touch and the send time, so an open or click seconds after delivery
// can be told apart from a person (COMPLIANCE.md 16-18).
package tracking

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/templates"
	"github.com/nurture-dev/nurture/tokens"
)

// Token kinds.
const (
	KindOpen  = "o"
	KindClick = "c"
	KindUnsub = "u"
)

// Ref is what a tracking token names.
type Ref struct {
	EID    string
	Touch  string
	SentAt time.Time
	// URL is the click's destination.
	URL string
}

func encode(r Ref) string {
	return r.EID + "|" + r.Touch + "|" + strconv.FormatInt(r.SentAt.UnixMilli(), 10) + "|" + r.URL
}

// ErrBadToken is returned for any token that does not verify.
var ErrBadToken = errors.New("invalid tracking token")

// Decode verifies a token of a kind and returns what it names.
func Decode(s *tokens.Signer, kind, token string) (Ref, error) {
	p, err := s.Verify(kind, token)
	if err != nil {
		return Ref{}, ErrBadToken
	}
	parts := strings.SplitN(p, "|", 4)
	if len(parts) != 4 {
		return Ref{}, ErrBadToken
	}
	ms, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Ref{}, ErrBadToken
	}
	return Ref{EID: parts[0], Touch: parts[1], SentAt: time.UnixMilli(ms).UTC(), URL: parts[3]}, nil
}

// Linker makes tracking URLs under a public base URL.
type Linker struct {
	Base   string
	Signer *tokens.Signer
}

// OpenURL is the pixel URL.
func (l Linker) OpenURL(r Ref) string { return l.Base + "/o/" + l.Signer.Sign(KindOpen, encode(r)) }

// ClickURL is the redirect URL for a destination.
func (l Linker) ClickURL(r Ref, dest string) string {
	r.URL = dest
	return l.Base + "/c/" + l.Signer.Sign(KindClick, encode(r))
}

var hrefRe = regexp.MustCompile(`(?i)(<a\s[^>]*?href\s*=\s*")(https?://[^"]+)(")`)

// AllowedDestination reports whether u may be a click's destination: an
// absolute http or https URL, the scheme in any case ("HTTPS://…"), with a
// host and no user info (templates.URLOrigin). Rewrite tracks only such
// links, and the click endpoint redirects only to them.
func AllowedDestination(u string) bool {
	_, ok := templates.URLOrigin(u)
	return ok
}

// Rewrite sends the links of html whose destination is on one of origins
// through the click endpoint, and adds the open pixel before </body>.
// origins are the template's own (templates.Template.LinkOrigins): a link
// to anywhere else, such as one that came from prospect data, is left as
// it is, neither tracked nor redirected through us, so a signed click link
// is never an open redirect. The unsubscribe link is never tracked.
func (l Linker) Rewrite(html string, r Ref, unsubscribeURL string, origins []string) string {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		if k, ok := templates.URLOrigin(o); ok {
			allowed[k] = true
		}
	}
	// One pass of the pattern; the output is built once.
	var b strings.Builder
	b.Grow(len(html) + 512)
	last := 0
	for _, m := range hrefRe.FindAllStringSubmatchIndex(html, -1) {
		dest := unescapeAttr(html[m[4]:m[5]])
		if dest == unsubscribeURL || strings.HasPrefix(dest, l.Base+"/u/") {
			continue
		}
		if o, ok := templates.URLOrigin(dest); !ok || !allowed[o] {
			continue
		}
		// Schemes are case-insensitive; the token carries it in lower
		// case, the form every click endpoint accepts.
		i := strings.IndexByte(dest, ':')
		b.WriteString(html[last:m[4]])
		b.WriteString(l.ClickURL(r, strings.ToLower(dest[:i])+dest[i:]))
		last = m[5]
	}
	b.WriteString(html[last:])
	out := b.String()
	pixel := `<img src="` + l.OpenURL(r) + `" width="1" height="1" alt="" style="display:none">`
	if i := lastIndexFold(out, "</body>"); i >= 0 {
		return out[:i] + pixel + out[i:]
	}
	return out + pixel
}

// lastIndexFold is strings.LastIndex(strings.ToLower(s), sub) for an
// ASCII lower-case sub, without copying s.
func lastIndexFold(s, sub string) int {
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// attrUnescaper undoes html/template's escaping of an attribute value.
var attrUnescaper = strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'")

func unescapeAttr(s string) string { return attrUnescaper.Replace(s) }

// MachineOpen reports an open that no person made: Apple Mail Privacy
// Protection fetches with the bare user agent "Mozilla/5.0", and prefetchers
// open within seconds of delivery (COMPLIANCE.md 17).
func MachineOpen(userAgent string, sentAt, at time.Time) bool {
	return strings.TrimSpace(userAgent) == "Mozilla/5.0" || at.Sub(sentAt) < 5*time.Second
}

var botUA = regexp.MustCompile(`(?i)bot|crawler|spider|scanner|preview|proofpoint|mimecast|barracuda|safelinks|urldefense|python-requests|curl|wget|go-http-client|headless`)

// ScannerClick reports a click made by a link scanner: a HEAD request, a
// known security or bot user agent, or a click under 2 s after delivery
// (COMPLIANCE.md 18).
func ScannerClick(method, userAgent string, sentAt, at time.Time) bool {
	return method == "HEAD" || strings.TrimSpace(userAgent) == "" || botUA.MatchString(userAgent) || at.Sub(sentAt) < 2*time.Second
}

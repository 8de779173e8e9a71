package tracking_test

import (
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
)

// BenchmarkRewrite is the per-message cost of click tracking on a
// typical marketing email: three tracked links, an unsubscribe link, a
// body of about 4 KB.
func BenchmarkRewrite(b *testing.B) {
	s, err := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		b.Fatal(err)
	}
	l := tracking.Linker{Base: base, Signer: s}
	var html strings.Builder
	html.WriteString("<html><body>")
	for i := range 3 {
		html.WriteString(strings.Repeat("<p>Our analytics product helps teams ship dashboards faster.</p>", 20))
		html.WriteString(`<p><a href="https://acme.example/page` + string(rune('a'+i)) + `?utm_source=nurture&amp;utm_medium=email">Read more</a></p>`)
	}
	html.WriteString(`<p><a href="https://n.example/u/TOKEN">Unsubscribe</a></p></body></html>`)
	src, origins := html.String(), []string{"https://acme.example"}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		out := l.Rewrite(src, ref, "https://n.example/u/TOKEN", origins)
		if strings.Count(out, base+"/c/") != 3 {
			b.Fatalf("want 3 tracked links: %s", out)
		}
	}
}

package tracking_test

import (
	"strings"
	"testing"
)

// The pixel goes before the last </body> in any case, even when that is
// the very start of the HTML; with no </body> it is appended.
func TestPixelPlacement(t *testing.T) {
	l := linker(t)
	for _, html := range []string{"</BODY>", "<p>x</p></body></html>", "<p>x</body></body>"} {
		out := l.Rewrite(html, ref, "", nil)
		i := strings.LastIndex(strings.ToLower(html), "</body>")
		if !strings.HasPrefix(out, html[:i]+`<img src="`) || !strings.HasSuffix(out, `style="display:none">`+html[i:]) {
			t.Errorf("%q: pixel not just before the last </body>: %s", html, out)
		}
	}
	out := l.Rewrite("<p>x</p>", ref, "", nil)
	if !strings.HasPrefix(out, `<p>x</p><img src="`) || !strings.HasSuffix(out, `style="display:none">`) {
		t.Errorf("no </body>: pixel not appended: %s", out)
	}
}

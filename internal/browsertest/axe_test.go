package browsertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nurture-dev/nurture/internal/browsertest"
)

// csp is the dashboard's Content-Security-Policy (dashboard.ServeHTTP):
// no script of the page's own may run, so axe must get in another way.
const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'"

// An inline script tries to retitle each page: under csp it must not run.
const badPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bad</title>
<script>document.title = 'script ran'</script></head><body><main><h1>A bad page</h1>
<img src="/photo.png" id="no-alt">
<form><input type="text" name="q" id="unlabeled"><button></button></form>
<p id="faint" style="color:#aaa">Faint grey text on white.</p>
</main></body></html>`

const goodPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>good</title>
<script>document.title = 'script ran'</script></head><body><main><h1>A good page</h1>
<img src="/photo.png" alt="A photo">
<form><label for="q">Search</label> <input type="text" name="q" id="q"><button>Find</button></form>
</main></body></html>`

// TestAxeFindsViolations proves that axe runs under the dashboard's CSP:
// a page with an image without alt text, an unlabeled input, an empty
// button and faint text must report those, and a fixed page nothing; otherwise
// a dashboard without violations would prove nothing.
func TestAxeFindsViolations(t *testing.T) {
	bin := browsertest.Chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		switch r.URL.Path {
		case "/bad":
			fmt.Fprint(w, badPage)
		case "/good":
			fmt.Fprint(w, goodPage)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(profile))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Log(msg)
		}
	}))
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	defer func() {
		// Chromium may still be writing its profile as it exits.
		cancel()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}()

	var title string
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/bad"), chromedp.WaitVisible(`h1`, chromedp.ByQuery), chromedp.Title(&title)); err != nil {
		t.Fatal(err)
	}
	if title != "bad" {
		t.Fatalf("the page's own script ran (title %q): the CSP is not in force, so this test would not prove axe gets past it", title)
	}
	start := time.Now()
	r, err := browsertest.RunAxe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("axe %s: %d rules in %v", r.Version, r.Rules, time.Since(start).Round(time.Millisecond))
	got := map[string]browsertest.Violation{}
	for _, v := range r.Violations {
		got[v.ID] = v
		t.Logf("%v", v)
	}
	for id, target := range map[string]string{"image-alt": "#no-alt", "label": "#unlabeled", "button-name": "button", "color-contrast": "#faint"} {
		v, ok := got[id]
		if !ok {
			t.Errorf("axe did not report %s", id)
			continue
		}
		if !v.Serious() || len(v.Nodes) != 1 || v.Nodes[0].Target != target || !strings.HasPrefix(v.Nodes[0].HTML, "<") || v.Help == "" || !strings.HasPrefix(v.HelpURL, "https://") {
			t.Errorf("%s: impact %q, nodes %+v, help %q %q: want a serious one on %s", id, v.Impact, v.Nodes, v.Help, v.HelpURL, target)
		}
	}

	// Axe stays loaded in the page; a new document needs it again.
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/good"), chromedp.WaitVisible(`h1`, chromedp.ByQuery), chromedp.Title(&title)); err != nil {
		t.Fatal(err)
	}
	if title != "good" {
		t.Fatalf("the page's own script ran (title %q)", title)
	}
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("the fixed page violates %v", v)
	}
}

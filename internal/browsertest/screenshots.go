package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ShotDir returns the directory for a test's screenshots. With
// SCREENSHOTS=DIR set (.ci/run sets it and keeps it as a CI artifact) it
// is DIR, created if missing. Otherwise it is a new directory
// nurture-shots-* under the system's temporary directory: removed when
// the test passes, kept when it fails. Either way a failed test logs where
// its screenshots are. Call it on the top-level test: its subtests'
// failures fail it too.
func ShotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOTS")
	kept := dir != ""
	if kept {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "nurture-shots-"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		switch {
		case t.Failed():
			t.Logf("screenshots in %s", dir)
		case !kept:
			os.RemoveAll(dir)
		}
	})
	return dir
}

// EveryPage says whether tests should keep a screenshot of every page
// they check (SCREENSHOTS is set), not only of failures.
func EveryPage() bool { return os.Getenv("SCREENSHOTS") != "" }

// Screenshot saves a full-page PNG of the tab in ctx as dir/NAME.png,
// NAME made of name with slashes and spaces as dashes, and returns its
// path. It logs, and does not fail the test, when the shot cannot be
// taken (the tab may be what failed). ctx must still be live: a step that
// timed out should have had a timeout of its own, not the tab's.
func Screenshot(ctx context.Context, t testing.TB, dir, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(dir, strings.NewReplacer("/", "-", " ", "-").Replace(name)+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	return path
}

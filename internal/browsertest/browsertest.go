// Package browsertest finds Debian's Chromium for browser tests. Under
// CI=true a missing browser fails the test (.ci/run installs it); on a
// developer machine without it the test is skipped with the install hint.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of a Chromium binary.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required under CI (.ci/run installs it)")
	}
	t.Skip("no chromium on PATH; apt-get install chromium")
	return ""
}

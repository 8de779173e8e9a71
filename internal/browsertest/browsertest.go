// Package browsertest finds Debian's Chromium for browser tests. Under CI
// (CI=true, 1, yes…; see internal/ci) a missing browser fails the test
// (.ci/run installs it); on a developer machine without it the test is
// skipped with the install hint.
package browsertest

import (
	"os/exec"
	"testing"

	"github.com/nurture-dev/nurture/internal/ci"
)

// Chromium returns the path of a Chromium binary.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci.Enabled() {
		t.Fatal("chromium is required under CI (.ci/run installs it)")
	}
	t.Skip("no chromium on PATH; apt-get install chromium")
	return ""
}

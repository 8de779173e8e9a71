// Package ci tells tests whether they run under continuous integration,
// where a missing tool (redis-server, chromium) must fail the run instead
// of skipping the tests that need it.
package ci

import (
	"os"
	"strconv"
	"strings"
)

// Enabled reports whether the CI environment variable says this is a CI
// run (see Truthy).
func Enabled() bool { return Truthy(os.Getenv("CI")) }

// Truthy reads a CI value as a boolean, case-insensitively and ignoring
// surrounding spaces: empty, 0, f, false, n, no and off mean no; 1, t,
// true, y, yes and on mean yes. Any other non-empty value also means yes:
// CI systems that set CI to their own name (CI=woodpecker) are CI too, and
// a typo must not silently skip the suites that CI exists to run.
func Truthy(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	switch v {
	case "":
		return false
	case "y", "yes", "on":
		return true
	case "n", "no", "off":
		return false
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return true
}

package ci_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/internal/ci"
	"github.com/nurture-dev/nurture/internal/redistest"
)

func TestTruthy(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"", false}, {"   ", false},
		{"0", false}, {"f", false}, {"F", false}, {"false", false}, {"False", false}, {"FALSE", false}, {"fAlSe", false},
		{"n", false}, {"no", false}, {"NO", false}, {"off", false}, {"Off", false}, {" false ", false},
		{"1", true}, {"t", true}, {"T", true}, {"true", true}, {"True", true}, {"TRUE", true}, {"tRuE", true},
		{"y", true}, {"yes", true}, {"YES", true}, {"Yes", true}, {"on", true}, {"ON", true}, {" true\n", true},
		// A CI system's own name, or a typo, still means CI.
		{"woodpecker", true}, {"ture", true},
	} {
		if got := ci.Truthy(tc.v); got != tc.want {
			t.Errorf("Truthy(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestEnabledReadsCI(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{{"1", true}, {"TRUE", true}, {"yes", true}, {"true", true}, {"0", false}, {"false", false}, {"", false}} {
		t.Setenv("CI", tc.v)
		if got := ci.Enabled(); got != tc.want {
			t.Errorf("CI=%q: Enabled() = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestMissingRedisFailsUnderCI runs a Redis-backed test in a child process
// with no redis-server on PATH: under CI=1, TRUE or yes it fails; without
// CI it is skipped.
func TestMissingRedisFailsUnderCI(t *testing.T) {
	if os.Getenv("NURTURE_CI_CHILD") == "1" {
		redistest.Addr(t)
		t.Log("redis available")
		return
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		ci       string
		fail     bool
		contains string
	}{
		{"1", true, "redis-server is required under CI"},
		{"TRUE", true, "redis-server is required under CI"},
		{"yes", true, "redis-server is required under CI"},
		{"true", true, "redis-server is required under CI"},
		{"0", false, "no redis-server on PATH"},
		{"", false, "no redis-server on PATH"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingRedisFailsUnderCI$", "-test.v", "-test.count=1")
		var env []string
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			switch k {
			case "CI", "PATH", "REDIS_URL", "REDIS_CLUSTER_ADDRS":
				continue
			}
			env = append(env, kv)
		}
		cmd.Env = append(env, "NURTURE_CI_CHILD=1", "PATH="+empty, "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.fail || !strings.Contains(string(out), tc.contains) {
			t.Errorf("CI=%q without redis-server: failed %v (%v), want %v with %q:\n%s", tc.ci, failed, err, tc.fail, tc.contains, out)
		}
	}
}

package browsertest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fakeT is a test whose outcome and cleanups ShotDir's test controls.
type fakeT struct {
	testing.TB
	failed   bool
	cleanups []func()
	logs     []string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Failed() bool      { return f.failed }
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeT) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// Without SCREENSHOTS a passing test's directory goes and a failing
// test's stays, named in the log; with it, the directory is SCREENSHOTS,
// created, and always stays.
func TestShotDir(t *testing.T) {
	exists := func(dir string) bool { _, err := os.Stat(dir); return err == nil }
	t.Setenv("SCREENSHOTS", "")
	for _, failed := range []bool{false, true} {
		ft := &fakeT{TB: t}
		dir := ShotDir(ft)
		if filepath.Dir(dir) != filepath.Clean(os.TempDir()) || !exists(dir) {
			t.Fatalf("dir %s: want a new directory in %s", dir, os.TempDir())
		}
		os.WriteFile(filepath.Join(dir, "failed.png"), []byte("png"), 0o644)
		ft.failed = failed
		ft.finish()
		if exists(dir) != failed {
			t.Errorf("failed %v: directory kept %v", failed, exists(dir))
		}
		if want := []string{"screenshots in " + dir}; failed && fmt.Sprint(ft.logs) != fmt.Sprint(want) || !failed && len(ft.logs) != 0 {
			t.Errorf("failed %v: logs %q", failed, ft.logs)
		}
		os.RemoveAll(dir)
	}
	want := filepath.Join(t.TempDir(), "ci", "shots")
	t.Setenv("SCREENSHOTS", want)
	ft := &fakeT{TB: t}
	if dir := ShotDir(ft); dir != want || !exists(dir) {
		t.Errorf("with SCREENSHOTS=%s: %s", want, dir)
	}
	ft.finish()
	if !exists(want) || len(ft.logs) != 0 {
		t.Errorf("SCREENSHOTS directory removed, or logs %q", ft.logs)
	}
}

package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/internal/redistest"
)

// TestCadenceFreshenSwitchesBeforeTheNextBatch: with no Watch running, the
// batch check alone moves a process to the head published since its last
// check, and costs nothing more when the epoch has not moved.
func TestCadenceFreshenSwitchesBeforeTheNextBatch(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c := newCatalog(t, rdb, prefix, nil)
	ctx := context.Background()
	v1 := mustPublish(t, c, cadenceSrc("trial", "v1"), "admin:ops", "first")
	f := &fakeEngine{got: map[string]time.Time{}}
	check := c.Freshen(f)
	if err := check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.version("trial"); got != v1.Version {
		t.Fatalf("after the first check the process runs %q, want %s", got, v1.Version)
	}
	// No change: the process keeps its map (no Sync ran).
	before := f.Cadences()
	if err := check(ctx); err != nil {
		t.Fatal(err)
	}
	if after := f.Cadences(); len(after) != len(before) || after["trial"] != before["trial"] {
		t.Fatal("a check with the epoch unchanged replaced the cadences")
	}
	v2 := mustPublish(t, c, cadenceSrc("trial", "v2"), "admin:ops", "second")
	if err := check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.version("trial"); got != v2.Version {
		t.Fatalf("the first check after a publish left the process on %q, want %s", got, v2.Version)
	}
	if _, err := c.Rollback(ctx, "trial", v1.Version, "admin:ops", ""); err != nil {
		t.Fatal(err)
	}
	if err := check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.version("trial"); got != v1.Version {
		t.Fatalf("after a rollback the check left the process on %q, want %s", got, v1.Version)
	}
}

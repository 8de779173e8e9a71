package cadence_test

import (
	"os"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// TestReadmeExampleIsValid keeps the cadence example in docs/cadence.md honest.
func TestReadmeExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../docs/cadence.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Writing a cadence")
	if !ok {
		t.Fatal("docs/cadence.md has no 'Writing a cadence' section")
	}
	_, block, ok := strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in 'Writing a cadence'")
	}
	if _, err := cadence.Parse("docs/cadence.md", []byte(block)); err != nil {
		t.Fatalf("the docs/cadence.md example does not validate:\n%v", err)
	}
}

package cadence_test

import (
	"os"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// TestReadmeExampleIsValid keeps the README's cadence example honest.
func TestReadmeExampleIsValid(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Writing a cadence")
	if !ok {
		t.Fatal("README has no 'Writing a cadence' section")
	}
	_, block, ok := strings.Cut(rest, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in 'Writing a cadence'")
	}
	if _, err := cadence.Parse("README.md", []byte(block)); err != nil {
		t.Fatalf("the README example does not validate:\n%v", err)
	}
}

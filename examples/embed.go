// Package examples holds the example cadences, embedded so `nurture demo`
// runs from the binary alone.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/nurture-dev/nurture/cadence"
)

//go:embed *.yaml
var files embed.FS

// Load parses every embedded example cadence.
func Load() (map[string]*cadence.Cadence, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := map[string]*cadence.Cadence{}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		c, err := cadence.Parse("examples/"+n, b)
		if err != nil {
			return nil, fmt.Errorf("embedded example: %w", err)
		}
		out[c.ID] = c
	}
	return out, nil
}

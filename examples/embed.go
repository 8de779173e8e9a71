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
	cads, _, err := LoadWithSources()
	return cads, err
}

// LoadWithSources parses every embedded example cadence and returns each
// one's YAML too, by cadence id (to publish them to the catalog).
func LoadWithSources() (map[string]*cadence.Cadence, map[string][]byte, error) {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(names)
	out, srcs := map[string]*cadence.Cadence{}, map[string][]byte{}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, nil, err
		}
		c, err := cadence.Parse("examples/"+n, b)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded example: %w", err)
		}
		out[c.ID], srcs[c.ID] = c, b
	}
	return out, srcs, nil
}

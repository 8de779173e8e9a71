package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
)

// File is a cadence file read from disk and validated.
type File struct {
	Path    string
	Source  []byte
	Cadence *cadence.Cadence
}

// LoadDir reads and validates every *.yaml and *.yml file under dir, in
// path order. Any problem is an error and nothing is returned (a
// *cadence.ValidationError for a file's problems; two files with one
// cadence id name both). A directory that does not exist is an error
// matching fs.ErrNotExist; an empty one returns no files.
func LoadDir(dir string) ([]File, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []File
	ids := map[string]string{}
	for _, p := range paths {
		src, err := readFile(p)
		if err != nil {
			return nil, err
		}
		cd, err := cadence.Parse(p, src)
		if err != nil {
			return nil, err
		}
		if prev, dup := ids[cd.ID]; dup {
			return nil, fmt.Errorf("%s: cadence id %q is also used by %s", p, cd.ID, prev)
		}
		ids[cd.ID] = p
		out = append(out, File{Path: p, Source: src, Cadence: cd})
	}
	return out, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, cadence.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// FileResult is what publishing one file did.
type FileResult struct {
	Path string
	Result
	// Head is the head that stays when an earlier version was kept out
	// (Result.Kept), with who published it.
	Head *Publication
}

// FilesMode says what PublishFiles does with a file holding an earlier
// published version of its cadence.
type FilesMode int

const (
	// AtStart publishes a file only when its version is new to the
	// catalog: a process started from older files (a stale image, a
	// replica that lagged a deploy) must not take its cadences back over
	// a newer publication. Such a file is reported Kept.
	AtStart FilesMode = iota
	// Reload publishes every file that differs from its head, moving the
	// head back when a file holds an earlier version (an operator
	// reverting a file and asking for a reload means it).
	Reload
)

// PublishFiles publishes each file as "files:PATH" with the message
// "loaded from PATH". A file whose version is the head changes nothing.
func (c *Catalog) PublishFiles(ctx context.Context, files []File, mode FilesMode) ([]FileResult, error) {
	out := make([]FileResult, 0, len(files))
	for _, f := range files {
		res, err := c.publish(ctx, f.Cadence, f.Source, "files:"+f.Path, "loaded from "+f.Path, mode == AtStart, true)
		if err != nil {
			return out, err
		}
		fr := FileResult{Path: f.Path, Result: res}
		if res.Kept {
			if pubs, err := c.Versions(ctx, f.Cadence.ID); err == nil {
				fr.Head = &pubs[0]
			}
		}
		out = append(out, fr)
	}
	return out, nil
}

// Bootstrap is a process start: it publishes the cadence files in dir
// (AtStart: new versions only), logs what it did, and returns every
// head, compiled. A file with problems refuses the start (nothing is
// published). A missing or empty dir is fine when the catalog has heads:
// the process runs what is published.
func (c *Catalog) Bootstrap(ctx context.Context, dir string) (map[string]*cadence.Cadence, error) {
	files, err := LoadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.log.Info("no cadence directory; running the published cadences", "NURTURE_CADENCES", dir)
	case err != nil:
		return nil, err
	case len(files) == 0:
		c.log.Info("no cadence files; running the published cadences", "NURTURE_CADENCES", dir)
	}
	results, err := c.PublishFiles(ctx, files, AtStart)
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		switch {
		case r.Changed && r.Previous == "":
			c.log.Info(fmt.Sprintf("published cadence %s %s from %s", r.ID, r.Version, r.Path))
		case r.Changed:
			c.log.Info(fmt.Sprintf("published cadence %s %s from %s, was %s", r.ID, r.Version, r.Path, r.Previous))
		case r.Kept && r.Head != nil:
			c.log.Warn(fmt.Sprintf("%s holds cadence %s %s, an earlier published version: the head stays %s (%s by %s: %s); publish the file or roll back to change it",
				r.Path, r.ID, r.Version, r.Previous, r.Head.At.Format("2006-01-02 15:04:05Z07:00"), r.Head.By, r.Head.Message))
		case r.Kept:
			c.log.Warn(fmt.Sprintf("%s holds cadence %s %s, an earlier published version: the head stays %s", r.Path, r.ID, r.Version, r.Previous))
		}
	}
	cads, err := c.Cadences(ctx)
	if err != nil {
		return nil, err
	}
	if len(cads) == 0 {
		return nil, fmt.Errorf("no cadences: %s has no cadence files and none are published (set NURTURE_CADENCES to a directory of cadence files, or publish one with nurture cadences publish)", dir)
	}
	return cads, nil
}

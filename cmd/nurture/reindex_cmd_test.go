package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// `nurture reindex` indexes the prospects a Redis holds from before the
// search index, against REDIS_URL (or the cluster) under NURTURE_PREFIX.
func TestReindexCommand(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	var ps []*store.Prospect
	for i := 0; i < 700; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("p%03d", i), FirstName: "Old", LastName: fmt.Sprintf("Prospect%03d", i), Email: fmt.Sprintf("p%03d@example.com", i)})
	}
	for _, p := range ps { // as written before the index existed
		b, _ := json.Marshal(p)
		if err := rdb.Set(ctx, st.Keys().Prospect(p.ID), b, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	vars := redistest.Env(t)
	vars["NURTURE_PREFIX"] = prefix
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"reindex", "--progress", "0"}, func(k string) string { return vars[k] }, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "indexed 700 prospects under \""+prefix+"\"") || !strings.Contains(out.String(), "the prospect search index is ready") {
		t.Errorf("output: %q", out.String())
	}
	page, err := st.SearchProspects(ctx, store.ProspectQuery{Text: "old prospect69"})
	if err != nil || len(page.Hits) != 10 || !page.IndexReady {
		t.Errorf("after the command: %d hits, ready %v, %v", len(page.Hits), page.IndexReady, err)
	}

	// Without Redis settings, or with a bad URL, it says what to set and
	// never prints the password.
	_, _, err = runCmd(t, "reindex")
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL (or REDIS_CLUSTER_ADDRS, or REDIS_SENTINEL_ADDRS) is required") {
		t.Errorf("without REDIS_URL: %v", err)
	}
	bad := map[string]string{"REDIS_URL": "redis://user:s3cret@host:notaport/0"}
	err = run(ctx, []string{"reindex"}, func(k string) string { return bad[k] }, &out, &errOut)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "REDIS_URL=") {
		t.Errorf("bad REDIS_URL: %v", err)
	}
}

package worker_test

import (
	"context"
	"testing"

	"github.com/nurture-dev/nurture/store"
)

// TestUpsertedProspectsAreSearchable: every engine write of a prospect
// (single, batch, enrollment) updates the search index, and a renamed
// prospect is no longer found by its old name.
func TestUpsertedProspectsAreSearchable(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	find := func(q string) []string {
		t.Helper()
		page, err := r.e.SearchProspects(ctx, store.ProspectQuery{Text: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range page.Hits {
			ids = append(ids, h.Prospect.ID)
		}
		return ids
	}
	r.enroll(t, &store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@engines.example", Company: "Analytical Engines", TimeZone: "Europe/London"})
	if errs := r.e.UpsertProspects(ctx, []*store.Prospect{{ID: "bob", FirstName: "Bob", Email: "bob@x.example"}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	for q, want := range map[string]string{"lov": "ada", "ANALY": "ada", "ada@": "ada", "bob": "bob"} {
		if got := find(q); len(got) != 1 || got[0] != want {
			t.Errorf("search %q: %v, want [%s]", q, got, want)
		}
	}
	if err := r.e.UpsertProspect(ctx, &store.Prospect{ID: "ada", FirstName: "Ada", LastName: "King", Email: "ada@engines.example", TimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	if got := find("lov"); len(got) != 0 {
		t.Errorf("old name still found: %v", got)
	}
	if got := find("king"); len(got) != 1 || got[0] != "ada" {
		t.Errorf("new name: %v", got)
	}
}

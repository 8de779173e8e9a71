package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

func newStore(t testing.TB) *store.Store {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return store.New(rdb, prefix)
}

// save writes prospects the way a prospect write does: UpsertProspects,
// then IndexProspects with the profiles they replaced.
func save(t testing.TB, st *store.Store, ps ...*store.Prospect) {
	t.Helper()
	ctx := context.Background()
	for _, p := range ps {
		if err := p.Normalize("US"); err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
	}
	errs, olds := st.UpsertProspects(ctx, ps)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", ps[i].ID, err)
		}
	}
	for i, err := range st.IndexProspects(ctx, ps, olds, errs) {
		if err != nil {
			t.Fatalf("%s: %v", ps[i].ID, err)
		}
	}
}

// warmClock is when the next enrollment enroll makes warm turns warm: a
// minute after the one before.
var warmClock = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// rawWrite stores a profile as a write that did not reach the index
// does (written before the index existed, or a crash in between).
func rawWrite(t testing.TB, st *store.Store, ps ...*store.Prospect) {
	t.Helper()
	for _, p := range ps {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Redis().Set(context.Background(), st.Keys().Prospect(p.ID), b, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// entries lists a bucketed index set's entries in order, bucket after
// bucket, and checks the buckets: each within its bounds, at most 64
// entries, compact.
func entries(t testing.TB, st *store.Store, dir string) []string {
	t.Helper()
	ctx := context.Background()
	bounds, err := st.Redis().ZRange(ctx, dir, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, b := range bounds {
		ms, err := st.Redis().ZRange(ctx, dir+":"+b, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) > 64 {
			t.Errorf("bucket %q of %s holds %d entries", b, dir, len(ms))
		}
		if b != "" && len(ms) == 0 {
			t.Errorf("bucket %q of %s is empty but listed", b, dir)
		}
		for _, m := range ms {
			if m < b || (i+1 < len(bounds) && m >= bounds[i+1]) {
				t.Errorf("entry %q is in bucket %q of %s, outside its bounds", m, b, dir)
			}
		}
		if enc, _ := st.Redis().ObjectEncoding(ctx, dir+":"+b).Result(); len(ms) > 0 && enc != "listpack" && enc != "ziplist" {
			t.Errorf("bucket %q of %s is %s, not compact", b, dir, enc)
		}
		out = append(out, ms...)
	}
	return out
}

// enroll creates enrollments of a prospect: cadence, stage, state. A warm
// one is added to the warm index, as the engine does.
func enroll(t testing.TB, st *store.Store, pid string, at ...[3]string) {
	t.Helper()
	var batch []store.NewEnrollment
	for _, a := range at {
		batch = append(batch, store.NewEnrollment{Enrollment: cadence.Enrollment{ID: store.EnrollmentID(pid, a[0]), ProspectID: pid,
			CadenceID: a[0], Stage: a[1], State: cadence.State(a[2]), Version: "v1"}})
	}
	errs, err := st.CreateEnrollments(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if at[i][2] == string(cadence.Warm) {
			warmClock = warmClock.Add(time.Minute)
			if err := st.SetWarm(context.Background(), batch[i].Enrollment.ID, true, warmClock); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// ids runs a search and returns the ids found.
func ids(t testing.TB, st *store.Store, q store.ProspectQuery) []string {
	t.Helper()
	page, err := st.SearchProspects(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return pageIDs(page)
}

func pageIDs(page store.ProspectPage) []string {
	out := []string{}
	for _, h := range page.Hits {
		out = append(out, h.Prospect.ID)
	}
	return out
}

func TestProspectIndexKeysShareTheProspectsSlot(t *testing.T) {
	k := store.Keys{Prefix: "nurture"}
	for _, pid := range []string{"ada@example.com", "p-1", "+13125550142"} {
		sh := store.Shard(pid)
		for _, key := range []string{k.ProspectNameIndex(sh), k.ProspectTermIndex(sh), k.ProspectOwnerIndex(sh)} {
			if slot(key) != slot(k.Prospect(pid)) {
				t.Errorf("%s (slot %d) and %s (slot %d) differ: the index script would span slots", key, slot(key), k.Prospect(pid), slot(k.Prospect(pid)))
			}
		}
	}
}

// Search by the start of a first or last name, email, company or phone,
// folding case and accents; phone numbers by digits, with or without +
// and the country code.
func TestProspectSearchByPrefix(t *testing.T) {
	st := newStore(t)
	save(t, st,
		&store.Prospect{ID: "jose", FirstName: "José", LastName: "Núñez", Email: "jose.nunez@acme.example", Company: "Acmé Robotics", Phone: "(312) 555-0142"},
		&store.Prospect{ID: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "countess@analytical.example", Company: "Analytical Engines", Phone: "+44 20 7946 0958"},
		&store.Prospect{ID: "grace", FirstName: "Grace", LastName: "Hopper", Email: "grace@navy.example", Company: "US Navy"},
		&store.Prospect{ID: "soren", FirstName: "Søren", LastName: "Straße", Email: "soren@example.dk"},
		&store.Prospect{ID: "nameless", Email: "someone@zeta.example"},
	)
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"jose", []string{"jose"}},        // first name, accent folded
		{"JOSÉ NÚ", []string{"jose"}},     // first and start of last, case folded
		{"nunez", []string{"jose"}},       // last name
		{"Núñ", []string{"jose"}},         // last name with the accents typed
		{"jose.nunez@", []string{"jose"}}, // email
		{"acme rob", []string{"jose"}},    // company, accent folded
		{"analytical", []string{"ada"}},   // company (the email starts otherwise)
		{"countess", []string{"ada"}},     // email local part
		{"love", []string{"ada"}},
		{"312 555", []string{"jose"}},        // national number without country code
		{"+1 312-555", []string{"jose"}},     // with country code
		{"1312555", []string{"jose"}},        // digits with country code
		{"(312) 555-01", []string{"jose"}},   // as written
		{"+44 20 79", []string{"ada"}},       // foreign number with +
		{"0044 2079", []string{"ada"}},       // international prefix 00
		{"strasse", []string{"soren"}},       // ß folded to ss
		{"soren str", []string{"soren"}},     // ø folded to o
		{"someone@", []string{"nameless"}},   // a prospect without a name is listed by email
		{"engines", nil},                     // not a prefix of anything
		{"jose.nunez@acme.example.org", nil}, // longer than the email: checked beyond the cut index term
		{"jose.nunez@acme.example", []string{"jose"}},
	} {
		got := ids(t, st, store.ProspectQuery{Text: c.q, Region: "US"})
		if !slices.Equal(got, append([]string{}, c.want...)) {
			t.Errorf("q=%q: got %v, want %v", c.q, got, c.want)
		}
	}
	// "a" finds the first names, companies and emails starting with a,
	// each prospect once, in the order of the term it matched.
	if got := ids(t, st, store.ProspectQuery{Text: "a"}); !slices.Equal(got, []string{"jose", "ada"}) {
		t.Errorf("q=a: %v, want jose (acme robotics) before ada (ada lovelace)", got)
	}
	// The empty query lists everyone by name.
	if got := ids(t, st, store.ProspectQuery{}); !slices.Equal(got, []string{"ada", "grace", "jose", "nameless", "soren"}) {
		t.Errorf("everyone: %v", got)
	}
}

// When a prospect's name, email, company, phone or owner changes, its old
// entries go and the new ones come; the sets hold exactly the new ones.
func TestProspectIndexFollowsChanges(t *testing.T) {
	st := newStore(t)
	save(t, st, &store.Prospect{ID: "p1", FirstName: "Ada", LastName: "Lovelace", Email: "ada@old.example", Company: "Old Co", Phone: "+13125550142", Owner: "sam"})
	q := func(text, owner string) []string {
		return ids(t, st, store.ProspectQuery{Text: text, Owner: owner, Region: "US"})
	}
	for _, text := range []string{"ada", "lovelace", "ada@old", "old co", "312555"} {
		if got := q(text, ""); !slices.Equal(got, []string{"p1"}) {
			t.Fatalf("before the change, q=%q: %v", text, got)
		}
	}
	save(t, st, &store.Prospect{ID: "p1", FirstName: "Augusta", LastName: "King", Email: "augusta@new.example", Company: "New Ltd", Phone: "+13125550199", Owner: "kim"})
	for _, text := range []string{"ada", "lovelace", "ada@old", "old co", "3125550142"} {
		if got := q(text, ""); len(got) != 0 {
			t.Errorf("after the change, the old %q still finds %v", text, got)
		}
	}
	for _, text := range []string{"augusta", "king", "augusta@new", "new ltd", "3125550199"} {
		if got := q(text, ""); !slices.Equal(got, []string{"p1"}) {
			t.Errorf("after the change, q=%q: %v", text, got)
		}
	}
	if got := q("", "sam"); len(got) != 0 {
		t.Errorf("the old owner still lists %v", got)
	}
	if got := q("", "kim"); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("the new owner lists %v", got)
	}
	// Exactly the new members, nothing left behind.
	k, sh := st.Keys(), store.Shard("p1")
	want := map[string][]string{
		k.ProspectNameIndex(sh):  {"augusta king\x00p1"},
		k.ProspectTermIndex(sh):  {"13125550199\x00p1", "augusta@new.exam\x00p1", "king\x00p1", "new ltd\x00p1"}, // cut at 16 bytes
		k.ProspectOwnerIndex(sh): {"kim\x00augusta ki\x00p1"},                                                    // sorted by 10 bytes of the name
	}
	for key, members := range want {
		if got := entries(t, st, key); !slices.Equal(got, members) {
			t.Errorf("%s holds %q, want %q", key, got, members)
		}
	}
	// Removing the owner and the company removes their entries.
	save(t, st, &store.Prospect{ID: "p1", FirstName: "Augusta", LastName: "King", Email: "augusta@new.example"})
	if n := len(entries(t, st, k.ProspectOwnerIndex(sh))); n != 0 {
		t.Errorf("owner set has %d entries after the owner was removed", n)
	}
	if got := q("new ltd", ""); len(got) != 0 {
		t.Errorf("the removed company still finds %v", got)
	}
}

// Two writes of one prospect race: the index ends with the entries of the
// profile that is stored, whichever index write comes last.
func TestProspectIndexRacingWritesLastProfileWins(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	first := &store.Prospect{ID: "p1", FirstName: "Ada", Email: "ada@example.com"}
	second := &store.Prospect{ID: "p1", FirstName: "Bea", Email: "ada@example.com"}
	rawWrite(t, st, first, second)
	// The second write's index update runs first, then the first write's
	// (late) one: it must change nothing.
	if errs := st.IndexProspects(ctx, []*store.Prospect{second}, []*store.Prospect{nil}, nil); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if errs := st.IndexProspects(ctx, []*store.Prospect{first}, []*store.Prospect{nil}, nil); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := ids(t, st, store.ProspectQuery{Text: "bea"}); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("q=bea: %v", got)
	}
	names := entries(t, st, st.Keys().ProspectNameIndex(store.Shard("p1")))
	if !slices.Equal(names, []string{"bea\x00p1"}) {
		t.Errorf("name set %q: the late write of the replaced profile got in", names)
	}
}

// An entry whose prospect changed without an index write (a crash between
// the two) is not returned, and the search that meets it removes it.
func TestProspectSearchDropsStaleEntries(t *testing.T) {
	st := newStore(t)
	save(t, st, &store.Prospect{ID: "p1", FirstName: "Ada", Email: "ada@example.com"})
	rawWrite(t, st, &store.Prospect{ID: "p1", FirstName: "Bea", Email: "bea@example.com"})
	if got := ids(t, st, store.ProspectQuery{Text: "ada"}); len(got) != 0 {
		t.Fatalf("q=ada finds %v after the profile became Bea", got)
	}
	sh := store.Shard("p1")
	for _, key := range []string{st.Keys().ProspectNameIndex(sh), st.Keys().ProspectTermIndex(sh)} {
		if got := entries(t, st, key); slices.ContainsFunc(got, func(m string) bool { return strings.HasPrefix(m, "ada") }) {
			t.Errorf("%s still holds %q", key, got)
		}
	}
}

func TestProspectSearchFilters(t *testing.T) {
	st := newStore(t)
	save(t, st,
		&store.Prospect{ID: "a1", FirstName: "Ann", LastName: "One", Email: "a1@example.com", Owner: "sam"},
		&store.Prospect{ID: "a2", FirstName: "Ann", LastName: "Two", Email: "a2@example.com", Owner: "kim"},
		&store.Prospect{ID: "a3", FirstName: "Ann", LastName: "Three", Email: "a3@example.com", Owner: "sam"},
		&store.Prospect{ID: "b1", FirstName: "Bob", LastName: "Four", Email: "b1@example.com", Owner: "sam"},
	)
	enroll(t, st, "a1", [3]string{"trial", "welcome", "active"}, [3]string{"winback", "intro", "warm"})
	enroll(t, st, "a2", [3]string{"trial", "nudge", "warm"})
	enroll(t, st, "a3", [3]string{"trial", "nudge", "paused"})
	enroll(t, st, "b1", [3]string{"winback", "intro", "warm"})
	cads := []string{"trial", "winback"}
	for _, c := range []struct {
		name string
		q    store.ProspectQuery
		want []string
	}{
		{"owner", store.ProspectQuery{Owner: "sam"}, []string{"a1", "a3", "b1"}},
		{"owner and text", store.ProspectQuery{Owner: "sam", Text: "ann"}, []string{"a1", "a3"}},
		{"cadence", store.ProspectQuery{Cadence: "winback"}, []string{"a1", "b1"}},
		{"state in any cadence", store.ProspectQuery{State: cadence.Warm}, []string{"b1", "a2", "a1"}}, // warm: newest first
		{"state in a cadence", store.ProspectQuery{Cadence: "trial", State: cadence.Warm}, []string{"a2"}},
		{"stage", store.ProspectQuery{Cadence: "trial", Stage: "nudge"}, []string{"a3", "a2"}}, // by name: ann three, ann two
		{"stage and state", store.ProspectQuery{Cadence: "trial", Stage: "nudge", State: cadence.Paused}, []string{"a3"}},
		{"all of them", store.ProspectQuery{Text: "ann", Owner: "sam", Cadence: "trial", State: cadence.Active}, []string{"a1"}},
		{"nothing", store.ProspectQuery{Owner: "kim", State: cadence.Paused}, []string{}},
	} {
		c.q.Cadences = cads
		if got := ids(t, st, c.q); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Results carry every enrollment in the query's cadences.
	page, err := st.SearchProspects(context.Background(), store.ProspectQuery{Text: "ann one", Cadences: cads})
	if err != nil || len(page.Hits) != 1 {
		t.Fatalf("ann one: %v %v", page, err)
	}
	var got []string
	for _, e := range page.Hits[0].Enrollments {
		got = append(got, e.CadenceID+":"+e.Stage+":"+string(e.State))
	}
	if !slices.Equal(got, []string{"trial:welcome:active", "winback:intro:warm"}) {
		t.Errorf("a1's enrollments: %v", got)
	}
}

// state=warm walks the warm index: newest warm first, each prospect once
// (at its first cadence), entries whose enrollment is no longer warm
// skipped, and pages both ways, ties in time included.
func TestProspectSearchWarmLeads(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var ps []*store.Prospect
	for i := 0; i < 9; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("w%d", i), FirstName: fmt.Sprintf("W%d", i), Email: fmt.Sprintf("w%d@example.com", i), Owner: []string{"sam", "kim"}[i%2]})
	}
	ps = append(ps, &store.Prospect{ID: "cold", FirstName: "Cold", Email: "cold@example.com", Owner: "sam"})
	save(t, st, ps...)
	for i := 0; i < 9; i++ {
		enroll(t, st, fmt.Sprintf("w%d", i), [3]string{"trial", "nudge", "warm"})
	}
	enroll(t, st, "w3", [3]string{"winback", "intro", "warm"}) // warm twice: listed once
	enroll(t, st, "cold", [3]string{"trial", "nudge", "active"})
	// Three leads warm in the same millisecond, and a stale entry.
	same := warmClock.Add(time.Hour)
	for _, id := range []string{"w0", "w1", "w2"} {
		if err := st.SetWarm(ctx, store.EnrollmentID(id, "trial"), true, same); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetWarm(ctx, store.EnrollmentID("cold", "trial"), true, same.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cads := []string{"trial", "winback"}
	// Newest first, ties by enrollment id descending; w3 at its first
	// cadence's (trial) time.
	want := []string{"w2", "w1", "w0", "w8", "w7", "w6", "w5", "w4", "w3"}
	if got := ids(t, st, store.ProspectQuery{State: cadence.Warm, Cadences: cads}); !slices.Equal(got, want) {
		t.Errorf("warm: %v, want %v", got, want)
	}
	if got := ids(t, st, store.ProspectQuery{State: cadence.Warm, Cadence: "winback", Cadences: cads}); !slices.Equal(got, []string{"w3"}) {
		t.Errorf("warm in winback: %v", got)
	}
	// sam's book (6) is smaller than the warm index (11): it drives, by name.
	if got := ids(t, st, store.ProspectQuery{State: cadence.Warm, Owner: "sam", Text: "w", Cadences: cads}); !slices.Equal(got, []string{"w0", "w2", "w4", "w6", "w8"}) {
		t.Errorf("sam's warm w…: %v", got)
	}
	if got := ids(t, st, store.ProspectQuery{State: cadence.Warm, Stage: "intro", Cadences: cads}); !slices.Equal(got, []string{"w3"}) {
		t.Errorf("warm at intro: %v", got)
	}
	// Pages of 2, forward then back.
	q := store.ProspectQuery{State: cadence.Warm, Cadences: cads, Limit: 2}
	var pages [][]string
	var prevs []string
	for n := 0; n < 10; n++ {
		page, err := st.SearchProspects(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages, prevs = append(pages, pageIDs(page)), append(prevs, page.Prev)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if got := slices.Concat(pages...); !slices.Equal(got, want) {
		t.Fatalf("pages of 2: %v, want %v", pages, want)
	}
	q.Cursor = prevs[len(prevs)-1]
	for i := len(pages) - 2; i >= 0; i-- {
		page, err := st.SearchProspects(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageIDs(page); !slices.Equal(got, pages[i]) {
			t.Errorf("back to page %d: %v, want %v", i, got, pages[i])
		}
		q.Cursor = page.Prev
	}
	if q.Cursor != "" {
		t.Error("the first page, reached going back, has a Previous")
	}
}

// Pages go forward and back through every match once, in order, whatever
// the page size; a prospect matched by several terms comes once.
func TestProspectSearchPaging(t *testing.T) {
	st := newStore(t)
	var all []*store.Prospect
	for i := 0; i < 57; i++ {
		p := &store.Prospect{ID: fmt.Sprintf("p%02d", i), FirstName: fmt.Sprintf("Smith%02d", i), LastName: "Jones", Email: fmt.Sprintf("p%02d@example.com", i)}
		if i%3 == 0 {
			p.LastName = "Smithers" // matches q=smith by first and last name
		}
		if i%5 == 0 {
			p.Company = "Smith & Co" // and by company
		}
		all = append(all, p)
	}
	save(t, st, all...)
	save(t, st, &store.Prospect{ID: "other", FirstName: "Zed", Email: "zed@example.com"})
	for _, q := range []store.ProspectQuery{{Text: "smith", Limit: 10}, {Text: "SMITH", Limit: 25}, {Limit: 7}, {Text: "smith", Limit: 100}} {
		var pages [][]string
		var cursors []string
		seen := map[string]bool{}
		cursor := ""
		for n := 0; ; n++ {
			if n > 20 {
				t.Fatalf("%+v: more than 20 pages", q)
			}
			q.Cursor = cursor
			page, err := st.SearchProspects(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			got := pageIDs(page)
			if (n == 0) != (page.Prev == "") {
				t.Errorf("%+v page %d: prev cursor %q", q, n, page.Prev)
			}
			for _, id := range got {
				if seen[id] {
					t.Errorf("%+v: %s on two pages", q, id)
				}
				seen[id] = true
			}
			if len(got) > q.Limit || (page.Next != "" && len(got) != q.Limit) {
				t.Errorf("%+v page %d: %d hits (next %q)", q, n, len(got), page.Next)
			}
			pages = append(pages, got)
			cursors = append(cursors, page.Prev)
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		want := 57
		if q.Text == "" {
			want = 58
		}
		if len(seen) != want {
			t.Errorf("%+v: %d prospects over %d pages, want %d", q, len(seen), len(pages), want)
		}
		if len(pages[len(pages)-1]) == 0 {
			t.Errorf("%+v: the last page is empty", q)
		}
		// Back from the last page, page by page, to the first.
		prev := cursors[len(cursors)-1]
		for i := len(pages) - 2; i >= 0; i-- {
			q.Cursor = prev
			page, err := st.SearchProspects(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if got := pageIDs(page); !slices.Equal(got, pages[i]) {
				t.Errorf("%+v: back to page %d gives %v, want %v", q, i, got, pages[i])
			}
			if (i == 0) != (page.Prev == "") {
				t.Errorf("%+v: back on page %d, prev %q", q, i, page.Prev)
			}
			if page.Next == "" {
				t.Errorf("%+v: back on page %d, no next", q, i)
			}
			prev = page.Prev
		}
	}
}

// A rare filter answers within the scan limit with a partial page and a
// cursor that carries on; the count of entries searched adds up.
func TestProspectSearchPartialPages(t *testing.T) {
	st := newStore(t)
	var ps []*store.Prospect
	for i := 0; i < 120; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("p%03d", i), FirstName: fmt.Sprintf("N%03d", i), Email: fmt.Sprintf("p%03d@example.com", i)})
	}
	save(t, st, ps...)
	for _, i := range []int{5, 70, 115} {
		enroll(t, st, fmt.Sprintf("p%03d", i), [3]string{"trial", "s1", "exited"})
	}
	q := store.ProspectQuery{Cadence: "trial", State: cadence.Exited, ScanLimit: 40, Cadences: []string{"trial"}}
	var found []string
	searched, partials := 0, 0
	for n := 0; n < 10; n++ {
		page, err := st.SearchProspects(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Searched-searched > 40 {
			t.Errorf("page %d examined %d entries, over the scan limit", n, page.Searched-searched)
		}
		searched = page.Searched
		if page.Partial {
			partials++
		}
		if page.Candidates != 120 {
			t.Errorf("candidates %d, want 120", page.Candidates)
		}
		found = append(found, pageIDs(page)...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if !slices.Equal(found, []string{"p005", "p070", "p115"}) {
		t.Errorf("found %v", found)
	}
	if searched != 120 || partials < 2 {
		t.Errorf("searched %d (want 120), %d partial pages (want ≥ 2)", searched, partials)
	}
}

func TestProspectSearchRefusesBadParameters(t *testing.T) {
	st := newStore(t)
	save(t, st, &store.Prospect{ID: "p1", FirstName: "Ada", Email: "ada@example.com", Owner: "sam"})
	page, err := st.SearchProspects(context.Background(), store.ProspectQuery{Text: "ada", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	save(t, st, &store.Prospect{ID: "p2", FirstName: "Adam", Email: "adam@example.com"})
	page, err = st.SearchProspects(context.Background(), store.ProspectQuery{Text: "ada", Limit: 1})
	if err != nil || page.Next == "" {
		t.Fatalf("%v %v", page, err)
	}
	for _, c := range []struct {
		q           store.ProspectQuery
		param, want string
	}{
		{store.ProspectQuery{State: "asleep"}, "state", "want one of active, paused, snoozed, warm, completed, exited"},
		{store.ProspectQuery{Limit: 101}, "limit", "want 1 to 100"},
		{store.ProspectQuery{Limit: -1}, "limit", "want 1 to 100"},
		{store.ProspectQuery{Text: strings.Repeat("a", 201)}, "q", "at most 200 bytes"},
		{store.ProspectQuery{Text: "\xff"}, "q", "not valid UTF-8"},
		{store.ProspectQuery{Owner: strings.Repeat("o", 129)}, "owner", "at most 128 bytes"},
		{store.ProspectQuery{Cursor: "not a cursor!"}, "cursor", "not a cursor from this search"},
		{store.ProspectQuery{Text: "bob", Cursor: page.Next}, "cursor", "belongs to another search"},
		{store.ProspectQuery{Text: "ada", State: cadence.Warm, Cursor: page.Next}, "cursor", "belongs to another search"},
	} {
		_, err := st.SearchProspects(context.Background(), c.q)
		var qe *store.QueryError
		if !errors.As(err, &qe) || qe.Param != c.param || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a QueryError on %s saying %q", c.q, err, c.param, c.want)
		}
	}
}

// Thousands of entries per shard: buckets split at 64 and stay compact,
// searches and pages run across bucket bounds in both directions, the
// counts follow, and renames empty buckets out of the directories.
func TestProspectIndexBuckets(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var ps []*store.Prospect
	var want []string
	for i := 0; i < 3000; i++ {
		id := fmt.Sprintf("p%04d", i)
		ps = append(ps, &store.Prospect{ID: id, FirstName: "Pat", LastName: fmt.Sprintf("Num%04d", i), Email: id + "@example.com", Company: fmt.Sprintf("Co %d", i%7), Owner: "sam"})
		want = append(want, id)
	}
	for i := 0; i < len(ps); i += 500 {
		save(t, st, ps[i:i+500]...)
	}
	k := st.Keys()
	total, buckets := 0, 0
	for sh := 0; sh < store.Shards; sh++ {
		for _, dir := range []string{k.ProspectNameIndex(sh), k.ProspectTermIndex(sh), k.ProspectOwnerIndex(sh)} {
			total += len(entries(t, st, dir)) // checks bounds, size and encoding
			buckets += int(st.Redis().ZCard(ctx, dir).Val())
		}
		counts := st.Redis().HGetAll(ctx, k.ProspectIndexCounts(sh)).Val()
		for f, dir := range map[string]string{"n": k.ProspectNameIndex(sh), "t": k.ProspectTermIndex(sh), "o": k.ProspectOwnerIndex(sh)} {
			if counts[f] != fmt.Sprint(len(entries(t, st, dir))) {
				t.Errorf("shard %d counts %s=%s, the set holds %d", sh, f, counts[f], len(entries(t, st, dir)))
			}
		}
	}
	if total != 3000*5 || buckets < 3*store.Shards+50 {
		t.Fatalf("%d entries in %d buckets, want 15000 in many", total, buckets)
	}
	// Counts: exact for a range of a few buckets, estimated for a wide
	// one.
	for _, c := range []struct {
		q        store.ProspectQuery
		want     int
		slackPct int
	}{{store.ProspectQuery{Text: "pat num000"}, 10, 0}, {store.ProspectQuery{Text: "pat"}, 3000, 25}, {store.ProspectQuery{Owner: "sam"}, 3000, 25}, {store.ProspectQuery{}, 3000, 0}} {
		page, err := st.SearchProspects(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if d := page.Candidates - c.want; d*100 > c.want*c.slackPct || -d*100 > c.want*c.slackPct {
			t.Errorf("%+v: candidates %d, want %d ± %d%%", c.q, page.Candidates, c.want, c.slackPct)
		}
	}
	// Every listing, forward in pages of 100 and back.
	for _, q := range []store.ProspectQuery{{Text: "pat", Limit: 100}, {Owner: "sam", Limit: 100}, {Limit: 100}, {Text: "p1", Limit: 100}, {Text: "co 3", Limit: 100}} {
		var pages [][]string
		var prevs []string
		for n := 0; ; n++ {
			page, err := st.SearchProspects(ctx, q)
			if err != nil || n > 40 {
				t.Fatalf("%+v: %v after %d pages", q, err, n)
			}
			pages, prevs = append(pages, pageIDs(page)), append(prevs, page.Prev)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		got := slices.Concat(pages...)
		expect := want
		switch q.Text {
		case "p1":
			expect = want[1000:2000] // emails p1…@
		case "co 3":
			expect = nil
			for i := 3; i < 3000; i += 7 {
				expect = append(expect, want[i])
			}
		}
		if !slices.Equal(got, expect) {
			t.Errorf("%+v: %d prospects, want %d (first %v)", q, len(got), len(expect), got[:min(5, len(got))])
		}
		q.Cursor = prevs[len(prevs)-1]
		for i := len(pages) - 2; i >= 0 && q.Cursor != ""; i-- {
			page, err := st.SearchProspects(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pageIDs(page), pages[i]) {
				t.Errorf("%+v: back to page %d differs", q, i)
				break
			}
			q.Cursor = page.Prev
		}
	}
	// Renaming everyone empties the old buckets: the directories shrink
	// back to what the new entries need.
	for _, p := range ps {
		p.LastName = "Z" + p.LastName
	}
	for i := 0; i < len(ps); i += 500 {
		save(t, st, ps[i:i+500]...)
	}
	for sh := 0; sh < store.Shards; sh++ {
		names := entries(t, st, k.ProspectNameIndex(sh))
		if n := st.Redis().ZCard(ctx, k.ProspectNameIndex(sh)).Val(); int(n) > len(names)/30+2 {
			t.Errorf("shard %d: %d name buckets for %d entries: emptied buckets stayed", sh, n, len(names))
		}
		for _, m := range names {
			if !strings.HasPrefix(m, "pat znum") {
				t.Fatalf("shard %d still holds %q", sh, m)
			}
		}
	}
	if got := ids(t, st, store.ProspectQuery{Text: "num0"}); len(got) != 0 {
		t.Errorf("old last names still found: %v", got)
	}
}

// Prospects written before the index are found once ReindexProspects has
// run; it reads only profiles, not a prospect's other keys.
func TestReindexProspects(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	var ps []*store.Prospect
	for i := 0; i < 1234; i++ {
		p := &store.Prospect{ID: fmt.Sprintf("old%04d", i), FirstName: "Old", LastName: fmt.Sprintf("Timer%04d", i), Email: fmt.Sprintf("old%04d@example.com", i), Owner: "sam"}
		ps = append(ps, p)
	}
	rawWrite(t, st, ps...)
	if _, err := st.CountSoftBounce(ctx, "old0001"); err != nil { // a prospect's meta key
		t.Fatal(err)
	}
	page, err := st.SearchProspects(ctx, store.ProspectQuery{Text: "old"})
	if err != nil || len(page.Hits) != 0 || page.IndexReady {
		t.Fatalf("before the reindex: %d hits, ready %v, %v", len(page.Hits), page.IndexReady, err)
	}
	old := st.Keys().Prefix + ":{s03}:px1:n" // an earlier layout's key
	if err := st.Redis().ZAdd(ctx, old, redis.Z{Member: "old\x00old0001"}).Err(); err != nil {
		t.Fatal(err)
	}
	var calls int
	n, err := st.ReindexProspects(ctx, func(int) { calls++ })
	if err != nil || n != 1234 || calls == 0 {
		t.Fatalf("reindex: %d, %d progress calls, %v", n, calls, err)
	}
	page, err = st.SearchProspects(ctx, store.ProspectQuery{Text: "old timer0", Owner: "sam", Limit: 100})
	if err != nil || len(page.Hits) != 100 || !page.IndexReady || page.Hits[0].Prospect.ID != "old0000" {
		t.Fatalf("after the reindex: %d hits, ready %v, %v", len(page.Hits), page.IndexReady, err)
	}
	if ready, err := st.IndexReady(ctx); !ready || err != nil {
		t.Errorf("IndexReady %v %v", ready, err)
	}
	if st.Redis().Exists(ctx, old).Val() != 0 {
		t.Error("the earlier layout's keys were kept")
	}
	// Running it again changes nothing.
	before := len(entries(t, st, st.Keys().ProspectNameIndex(0)))
	if _, err := st.ReindexProspects(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if after := len(entries(t, st, st.Keys().ProspectNameIndex(0))); after != before {
		t.Errorf("a second reindex changed shard 0's names from %d to %d", before, after)
	}
}

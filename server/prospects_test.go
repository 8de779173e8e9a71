package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// enrollAs enrolls a prospect in the trial cadence through the API.
func (h *harness) enrollAs(id, first, last, company, owner, phone string) string {
	h.t.Helper()
	body := fmt.Sprintf(`{"cadence":"trial","prospect":{"id":%q,"email":"%s@example.com","first_name":%q,"last_name":%q,"company":%q,"owner":%q,"phone":%q}}`,
		id, id, first, last, company, owner, phone)
	code, out := h.json("POST", "/v1/enrollments", adminToken, body)
	if code != http.StatusCreated {
		h.t.Fatalf("enroll %s: %d %v", id, code, out)
	}
	return out["id"].(string)
}

// reindex indexes the prospects written so far (store.ReindexProspects).
func (h *harness) reindex() {
	h.t.Helper()
	if _, err := h.st.ReindexProspects(context.Background(), nil); err != nil {
		h.t.Fatal(err)
	}
}

// search runs GET /v1/prospects with a token and returns the status, the
// ids found and the whole answer.
func (h *harness) search(token string, q url.Values) (int, []string, map[string]any) {
	h.t.Helper()
	code, out := h.json("GET", "/v1/prospects?"+q.Encode(), token, "")
	var found []string
	if ps, ok := out["prospects"].([]any); ok {
		for _, p := range ps {
			found = append(found, p.(map[string]any)["id"].(string))
		}
	}
	return code, found, out
}

func TestProspectSearchOverHTTP(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ada := h.enrollAs("ada", "Ada", "Lovelace", "Analytical Engines", "sam", "+13125550100")
	h.enrollAs("adele", "Adèle", "Blanc", "Acme", "kim", "")
	h.enrollAs("bob", "Bob", "Adams", "Builders", "sam", "")
	h.enrollAs("zoe", "Zoë", "Quinn", "Zeta", "", "+442079460958")
	if _, err := h.e.Apply(ctx, ada, cadence.Event{Kind: cadence.EvReplied, Channel: cadence.Email, By: "email", Reason: "call me"}); err != nil {
		t.Fatal(err)
	}
	h.reindex()

	// An admin searches everyone: q matches the start of a first or last
	// name, email, company or phone, without case or accents.
	code, found, out := h.search(adminToken, url.Values{"q": {"ADE"}})
	if code != 200 || !slices.Equal(found, []string{"adele"}) {
		t.Fatalf("q=ADE: %d %v %v", code, found, out)
	}
	code, found, out = h.search(adminToken, url.Values{"q": {"ada"}})
	if code != 200 || !slices.Equal(found, []string{"ada", "bob"}) {
		t.Fatalf("q=ada: %d %v", code, found)
	}
	first := out["prospects"].([]any)[0].(map[string]any)
	want := map[string]any{"id": "ada", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+13125550100",
		"company": "Analytical Engines", "owner": "sam"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("ada's %s = %v, want %v", k, first[k], v)
		}
	}
	if enr := first["enrollments"].([]any); len(enr) != 1 || fmt.Sprint(enr[0]) != "map[cadence:trial stage:awareness state:warm]" {
		t.Errorf("ada's enrollments: %v", enr)
	}
	if out["next_cursor"] != "" || out["prev_cursor"] != "" || out["searched"] != 3.0 || out["index_ready"] != true {
		t.Errorf("q=ada answer: next %q prev %q searched %v ready %v", out["next_cursor"], out["prev_cursor"], out["searched"], out["index_ready"])
	}
	for q, want := range map[string][]string{"312 555": {"ada"}, "+44 20 7946": {"zoe"}, "zoe": {"zoe"}, "anal": {"ada"}, "bob@": {"bob"}} {
		if _, found, _ := h.search(adminToken, url.Values{"q": {q}}); !slices.Equal(found, want) {
			t.Errorf("q=%q: %v, want %v", q, found, want)
		}
	}
	// Filters.
	for _, c := range []struct {
		q    url.Values
		want []string
	}{
		{url.Values{"owner": {"sam"}}, []string{"ada", "bob"}},
		{url.Values{"cadence": {"trial"}, "state": {"warm"}}, []string{"ada"}},
		{url.Values{"state": {"active"}}, []string{"adele", "bob", "zoe"}},
		{url.Values{"cadence": {"trial"}, "stage": {"awareness"}, "owner": {"kim"}}, []string{"adele"}},
		{url.Values{}, []string{"ada", "adele", "bob", "zoe"}},
	} {
		if code, found, out := h.search(adminToken, c.q); code != 200 || !slices.Equal(found, c.want) {
			t.Errorf("admin %v: %d %v (%v), want %v", c.q, code, found, out, c.want)
		}
	}

	// A sales token searches its own book, and only that.
	if code, found, out := h.search(salesToken, url.Values{"q": {"ad"}}); code != 200 || !slices.Equal(found, []string{"ada", "bob"}) || out["owner"] != "sam" {
		t.Errorf("sam q=ad: %d %v %v", code, found, out)
	}
	if code, found, _ := h.search(salesToken, url.Values{"owner": {"sam"}, "state": {"warm"}}); code != 200 || !slices.Equal(found, []string{"ada"}) {
		t.Errorf("sam's warm: %d %v", code, found)
	}
	code, _, out = h.search(salesToken, url.Values{"owner": {"kim"}})
	if e := out["error"].(map[string]any); code != 403 || e["field"] != "owner" || !strings.Contains(e["message"].(string), "only its own prospects") {
		t.Errorf("sam asking for kim's book: %d %v", code, out)
	}

	// A write through the API is searchable at once, and its old name
	// no longer finds it.
	if code, out := h.json("PUT", "/v1/prospects/bob", adminToken, `{"email":"bob@example.com","first_name":"Robert","last_name":"Builder","owner":"sam"}`); code != 200 {
		t.Fatalf("rename bob: %d %v", code, out)
	}
	if _, found, _ := h.search(adminToken, url.Values{"q": {"robert"}}); !slices.Equal(found, []string{"bob"}) {
		t.Errorf("q=robert after the rename: %v", found)
	}
	if _, found, _ := h.search(adminToken, url.Values{"q": {"adams"}}); len(found) != 0 {
		t.Errorf("q=adams after the rename: %v", found)
	}
	h.json("PUT", "/v1/prospects/bob", adminToken, `{"email":"bob@example.com","first_name":"Bob","last_name":"Adams","company":"Builders","owner":"sam"}`)

	// Paging: next, then back.
	code, page1, out := h.search(adminToken, url.Values{"limit": {"3"}})
	next := out["next_cursor"].(string)
	if code != 200 || !slices.Equal(page1, []string{"ada", "adele", "bob"}) || next == "" || out["prev_cursor"] != "" {
		t.Fatalf("page 1: %d %v %v", code, page1, out)
	}
	if strings.Contains(next, "ada") || strings.Contains(next, "bob") {
		t.Errorf("the cursor shows what it stops at: %q", next)
	}
	code, page2, out := h.search(adminToken, url.Values{"limit": {"3"}, "cursor": {next}})
	prev := out["prev_cursor"].(string)
	if code != 200 || !slices.Equal(page2, []string{"zoe"}) || out["next_cursor"] != "" || prev == "" {
		t.Fatalf("page 2: %d %v %v", code, page2, out)
	}
	if code, back, _ := h.search(adminToken, url.Values{"limit": {"3"}, "cursor": {prev}}); code != 200 || !slices.Equal(back, page1) {
		t.Errorf("back to page 1: %d %v", code, back)
	}

	// Bad parameters: 400 naming the parameter and the value.
	for _, c := range []struct {
		q           url.Values
		field, want string
	}{
		{url.Values{"limit": {"0"}}, "limit", `limit="0": want a whole number from 1 to 100`},
		{url.Values{"limit": {"ten"}}, "limit", `limit="ten"`},
		{url.Values{"state": {"asleep"}}, "state", `state="asleep": want one of active, paused, snoozed, warm, completed, exited`},
		{url.Values{"cadence": {"nope"}}, "cadence", `cadence="nope": not a loaded cadence (trial)`},
		{url.Values{"cadence": {"trial"}, "stage": {"nope"}}, "stage", `stage="nope": not a stage of cadence trial (awareness, decision)`},
		{url.Values{"stage": {"nope"}}, "stage", `stage="nope": not a stage of any loaded cadence`},
		{url.Values{"cursor": {"garbage"}}, "cursor", `cursor="garbage": not a cursor from this search`},
		{url.Values{"limit": {"3"}, "cursor": {next}, "q": {"zoe"}}, "cursor", "belongs to another search"},
		{url.Values{"name": {"ada"}}, "name", "unknown parameter name="},
		{url.Values{"q": {"a", "b"}}, "q", "q= is given 2 times"},
		{url.Values{"q": {strings.Repeat("x", 201)}}, "q", "at most 200 bytes"},
		{url.Values{"email": {"ada@example.com"}, "q": {"ada"}}, "q", "cannot be combined with email="},
	} {
		code, _, out := h.search(adminToken, c.q)
		e, _ := out["error"].(map[string]any)
		if code != 400 || e["field"] != c.field || !strings.Contains(fmt.Sprint(e["message"]), c.want) {
			t.Errorf("%v: %d %v, want 400 on %s saying %q", c.q, code, out, c.field, c.want)
		}
	}

	// The exact lookups still answer with the prospect, its enrollment
	// ids and its consent.
	for _, q := range []string{"email=ADA@example.com", "phone=" + url.QueryEscape("(312) 555-0100")} {
		code, out := h.json("GET", "/v1/prospects?"+q, salesToken, "")
		if code != 200 || out["prospect"].(map[string]any)["id"] != "ada" || fmt.Sprint(out["enrollments"]) != "[ada~trial]" {
			t.Errorf("%s: %d %v", q, code, out)
		}
	}
	if code, _ := h.json("GET", "/v1/prospects?email=nobody@example.com", adminToken, ""); code != 404 {
		t.Errorf("unknown email: %d", code)
	}
}

// Before the reindex of a deployment that had prospects, the answer says
// the index is not ready.
func TestProspectSearchSaysWhenTheIndexIsNotReady(t *testing.T) {
	h := newHarness(t)
	h.enrollAs("ada", "Ada", "Lovelace", "", "sam", "")
	code, _, out := h.search(adminToken, url.Values{})
	if code != 200 || out["index_ready"] != false {
		t.Fatalf("%d %v", code, out)
	}
	h.reindex()
	if code, found, out := h.search(adminToken, url.Values{}); code != 200 || out["index_ready"] != true || !slices.Equal(found, []string{"ada"}) {
		t.Fatalf("after the reindex: %d %v %v", code, found, out)
	}
}

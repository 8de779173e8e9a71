package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/catalog"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/store"
)

// TestVersionsPage publishes two versions of a cadence, reads their
// history and diff, previews a rollback as an admin and makes it, and
// checks that a rep can read but not roll back.
func TestVersionsPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if page := f.get(f.ops, "/cadences/c1/versions"); !strings.Contains(page, `id="unpublished"`) {
		t.Fatalf("a cadence never published should say so")
	}
	cat := catalog.New(f.e.Store(), catalog.Options{Clock: f.e.Clock})
	src1 := enginetest.EmailCadence("c1", "0", "3d")
	src2 := strings.Replace(src1, "Hi {{", "Hello again {{", 1)
	var versions []string
	for i, src := range []string{src1, src2} {
		c, err := cadence.Parse("c1.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		res, err := cat.PublishParsed(ctx, c, []byte(src), "admin:ops", []string{"first", "warmer subject"}[i])
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, res.Version)
	}
	if _, err := cat.Sync(ctx, f.e); err != nil {
		t.Fatal(err)
	}
	f.enroll(&store.Prospect{ID: "ann", Owner: "sam"})
	v1, v2 := versions[0], versions[1]

	page := f.get(f.sam, "/cadences/c1/versions")
	for _, want := range []string{
		`<tr data-version="` + v2 + `" aria-current="true"><th scope="row"><a href="?v=` + v2 + `">` + v2 + `</a> <span class="state">live</span>`,
		`<td>warmer subject</td><td><code>` + v1 + `</code></td>`,
		`<span class="del">-  mail: {subject: &#34;Hi {{ .FirstName`,
		`<span class="add">&#43;  mail: {subject: &#34;Hello again {{ .FirstName`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("versions page lacks %s\n%s", want, page)
		}
	}
	if strings.Contains(f.get(f.sam, "/cadences/c1/versions?v="+v1), `id="impact"`) {
		t.Errorf("a rep is offered a rollback")
	}
	page = f.get(f.ops, "/cadences/c1/versions?v="+v1)
	if !strings.Contains(page, `id="impact"`) || !strings.Contains(page, `<div><strong>1</strong>unchanged</div>`) || !strings.Contains(page, `value="`+v1+`"`) {
		t.Fatalf("rollback preview:\n%s", page)
	}
	// A rep cannot roll back, even by posting the form.
	resp, _ := do(t, req{method: "POST", url: f.ts.URL + "/cadences/c1/rollback", cookie: f.sam, form: url.Values{"csrf": {f.csrf}, "to": {v1}}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("rep rollback: %d", resp.StatusCode)
	}
	flash, _, _ := f.follow(f.ops, f.post(f.ops, f.opsTok, "/cadences/c1/rollback", url.Values{"to": {v1}, "message": {"replies fell"}}))
	if flash != "Version "+v1+" is live again; every worker switches before its next batch." {
		t.Errorf("flash %q", flash)
	}
	if c, _ := f.e.Cadence("c1"); c.Version != v1 {
		t.Errorf("this process runs %s after the rollback, want %s", c.Version, v1)
	}
	if head, _ := cat.Head(ctx, "c1"); head != v1 {
		t.Errorf("catalog head %s, want %s", head, v1)
	}
	if page := f.get(f.ops, "/cadences/c1/versions"); !strings.Contains(page, "<td>rollback to "+v1+": replies fell</td>") {
		t.Errorf("the rollback is not in the history:\n%s", page)
	}
	flash, _, _ = f.follow(f.ops, f.post(f.ops, f.opsTok, "/cadences/c1/rollback", url.Values{"to": {"v000000000000"}}))
	if !strings.HasPrefix(flash, "Not done: cadence c1 has no version v000000000000") {
		t.Errorf("unknown version flash %q", flash)
	}
}

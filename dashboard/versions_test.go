package dashboard_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
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

// publishForm posts the publish form as a browser does (multipart, the
// YAML in the textarea or as an uploaded file) and returns the answer.
func publishForm(t *testing.T, f *fixture, cookie, path string, fields map[string]string, file, fileSrc string) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", file)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, fileSrc)
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequest("POST", f.ts.URL+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.AddCookie(&http.Cookie{Name: "nurture_session", Value: cookie})
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var (
	problemRE       = regexp.MustCompile(`(?s)<li data-pos="([^"]*)"><pre>(.*?)</pre></li>`)
	textareaRE      = regexp.MustCompile(`(?s)<textarea id="yaml" name="yaml"[^>]*>\n(.*?)</textarea>`)
	publishHiddenRE = regexp.MustCompile(`<input type="hidden" name="(version|head)" value="([^"]*)">`)
)

// shownProblems are a page's problems, as text, and their positions.
func shownProblems(page string) (text string, pos []string) {
	for _, m := range problemRE.FindAllStringSubmatch(page, -1) {
		pos = append(pos, html.UnescapeString(m[1]))
		text += html.UnescapeString(m[2]) + "\n"
	}
	return text, pos
}

// TestVersionsPagePublish publishes through the versions page's form:
// invalid YAML shows every problem with its position and source line as
// `nurture validate` prints them and keeps the text; a preview shows the
// diff and what the version does to the live enrollments without
// publishing; Publish makes what was previewed the head (a changed text is
// previewed again instead), in the history with its message and who
// published, and this process runs it at once. A rep sees no form and is
// refused the posts.
func TestVersionsPagePublish(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cat := catalog.New(f.e.Store(), catalog.Options{Clock: f.e.Clock})
	f.enroll(&store.Prospect{ID: "ann", Owner: "sam"})
	src1 := enginetest.EmailCadence("c1", "0", "3d")
	src2 := strings.Replace(enginetest.EmailCadence("c1", "0", "5d"), "Hi {{", "Hello again {{", 1)
	parsed := func(src string) *cadence.Cadence {
		c, err := cadence.Parse("c1.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	v1, v2 := parsed(src1).Version, parsed(src2).Version
	const here = "/cadences/c1/publish"

	// A rep: no form, and every way in is refused.
	if page := f.get(f.sam, "/cadences/c1/versions"); strings.Contains(page, `id="publish"`) || strings.Contains(page, `/publish"`) {
		t.Errorf("a rep is shown the publish form:\n%s", page)
	}
	for _, path := range []string{here, "/publish"} {
		resp, body := do(t, req{method: "POST", url: f.ts.URL + path, cookie: f.sam, form: url.Values{"csrf": {f.csrf}, "yaml": {src2}, "step": {"publish"}, "version": {v2}, "head": {""}}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Publishing is for admins") {
			t.Errorf("rep POST %s: %d\n%s", path, resp.StatusCode, body)
		}
		resp, _ = publishForm(t, f, f.sam, path, map[string]string{"csrf": f.csrf, "yaml": src2, "step": "preview"}, "", "")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("rep multipart POST %s: %d", path, resp.StatusCode)
		}
	}
	if code, _, _ := f.status(f.sam, "/publish"); code != http.StatusForbidden {
		t.Errorf("rep GET /publish: %d", code)
	}
	// The form checks the CSRF token and the origin like every other.
	if resp, _ := publishForm(t, f, f.ops, here, map[string]string{"csrf": "forged", "yaml": src1, "step": "preview"}, "", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("publish without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ := do(t, req{method: "POST", url: f.ts.URL + here, cookie: f.ops, form: url.Values{"csrf": {f.opsTok}, "yaml": {src1}}, header: map[string]string{"Origin": "https://evil.example"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin publish: %d", resp.StatusCode)
	}

	// An admin gets the form even before the cadence was ever published.
	if page := f.get(f.ops, "/cadences/c1/versions"); !strings.Contains(page, `id="unpublished"`) || !strings.Contains(page, `<form method="post" action="/cadences/c1/publish" enctype="multipart/form-data" id="publish-form"`) {
		t.Fatalf("no publish form for an admin:\n%s", page)
	}

	// Every problem at once, each as the CLI prints it; the text is kept.
	bad := strings.NewReplacer("send_window:", "send_windw:", "delay: 0,", "delay: 3x,", "template: mail}", "template: mial}").Replace(src1)
	_, err := cadence.Parse("c1.yaml", []byte(bad))
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) < 3 {
		t.Fatalf("the bad cadence should have at least 3 problems: %v", err)
	}
	resp, page := publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": bad, "message": "typos", "step": "preview"}, "", "")
	text, pos := shownProblems(page)
	if resp.StatusCode != http.StatusUnprocessableEntity || text != ve.Render(nil) {
		t.Errorf("problems: %d\n%s\nwant, as the CLI prints them:\n%s", resp.StatusCode, text, ve.Render(nil))
	}
	for i, p := range pos {
		if !regexp.MustCompile(`^c1\.yaml:\d+:\d+$`).MatchString(p) {
			t.Errorf("problem %d is at %q, want c1.yaml:LINE:COLUMN", i, p)
		}
	}
	for _, want := range []string{`<li data-pos="c1.yaml:6:1"><pre>c1.yaml:6:1: send_windw: unknown field; did you mean send_window?` + "\n    send_windw: {start: &#34;00:00&#34;, end: &#34;24:00&#34;}\n    ^</pre></li>"} {
		if !strings.Contains(page, want) {
			t.Errorf("problems lack %s", want)
		}
	}
	if m := textareaRE.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != bad {
		t.Errorf("the textarea does not keep the text:\n%s", page)
	}
	if !strings.Contains(page, `name="message" size="40" maxlength="1000" value="typos"`) || strings.Contains(page, `id="publish-button"`) {
		t.Errorf("a page with problems keeps the message and offers no publish:\n%s", page)
	}
	// A syntax error in an uploaded file: its line and column, in its name.
	syntax := strings.Replace(src1, "      - {id: two", "     - {id: two", 1)
	_, err = cadence.Parse("trial.yaml", []byte(syntax))
	if !errors.As(err, &ve) {
		t.Fatalf("syntax error: %v", err)
	}
	resp, page = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": "", "step": "preview"}, "trial.yaml", syntax)
	if text, pos := shownProblems(page); resp.StatusCode != http.StatusUnprocessableEntity || text != ve.Render(nil) || len(pos) == 0 || !strings.HasPrefix(pos[0], "trial.yaml:") {
		t.Errorf("upload with a syntax error: %d %v\n%s\nwant:\n%s", resp.StatusCode, pos, text, ve.Render(nil))
	}
	if m := textareaRE.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != syntax {
		t.Errorf("the uploaded text is not in the textarea")
	}
	// Another cadence's YAML is refused on this page.
	_, page = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": enginetest.EmailCadence("c2", "0"), "step": "preview"}, "", "")
	if !strings.Contains(page, `id="refused"`) || !strings.Contains(page, "This YAML is cadence c2, not c1") {
		t.Errorf("another cadence's YAML:\n%s", page)
	}

	// The first version: preview (nothing changes), then publish.
	_, page = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": src1, "message": "first", "step": "preview"}, "", "")
	if head, _ := cat.Head(ctx, "c1"); head != "" || !strings.Contains(page, `id="publish-impact"`) || !strings.Contains(page, `<input type="hidden" name="version" value="`+v1+`"><input type="hidden" name="head" value="">`) {
		t.Fatalf("first preview (head %q):\n%s", head, page)
	}
	resp, _ = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": src1, "message": "first", "step": "publish", "version": v1, "head": ""}, "", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish v1: %d", resp.StatusCode)
	}
	if flash, _, _ := f.follow(f.ops, resp); flash != "Published "+v1+", the first version of c1; every worker runs it before its next batch." {
		t.Errorf("first publish flash %q", flash)
	}

	// The next version's preview: the diff and the impact on ann, who
	// waits for touch one and would wait 5d instead of 3d for two.
	resp, page = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": src2, "message": "warmer subject", "step": "preview"}, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preview: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{
		`<h3 id="publish-diff-h">What ` + v2 + ` changes from ` + v1 + `</h3>`,
		`<span class="del">-      - {id: two, channel: email, delay: 3d, template: mail}</span><span class="add">&#43;      - {id: two, channel: email, delay: 5d, template: mail}</span>`,
		`<span class="add">&#43;  mail: {subject: &#34;Hello again {{ .FirstName`,
		`<h3 id="publish-impact-h">If ` + v2 + ` were published</h3>`,
		`<p class="muted">every enrollment read (1)</p>`,
		`<div><strong>1</strong>wait a different time</div>`,
		`<div><strong>0</strong>unchanged</div>`,
		`<input type="hidden" name="version" value="` + v2 + `"><input type="hidden" name="head" value="` + v1 + `">`,
		`<button class="primary" form="publish-form" name="step" value="publish" id="publish-button">Publish ` + v2 + `</button>`,
		`value="warmer subject"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("preview lacks %s\n%s", want, page)
		}
	}
	if head, _ := cat.Head(ctx, "c1"); head != v1 {
		t.Errorf("a preview moved the head to %s", head)
	}
	// Publish with a text changed since the preview: previewed again.
	changed := strings.Replace(src2, "5d", "6d", 1)
	resp, page = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": changed, "step": "publish", "version": v2, "head": v1}, "", "")
	if head, _ := cat.Head(ctx, "c1"); resp.StatusCode != http.StatusOK || head != v1 || !strings.Contains(page, "Not published: the YAML changed since the preview.") || !strings.Contains(page, `id="publish-impact"`) {
		t.Errorf("publish of a changed text: %d, head %s\n%s", resp.StatusCode, head, page)
	}
	// Publish what was previewed (a browser sends CRLF line breaks).
	resp, _ = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": strings.ReplaceAll(src2, "\n", "\r\n"), "message": "warmer subject", "step": "publish", "version": v2, "head": v1}, "", "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish v2: %d", resp.StatusCode)
	}
	flash, _, page := f.follow(f.ops, resp)
	if flash != "Published "+v2+" (was "+v1+"); every worker switches before its next batch." {
		t.Errorf("publish flash %q", flash)
	}
	if c, _ := f.e.Cadence("c1"); c.Version != v2 {
		t.Errorf("this process runs %s after the publish, want %s", c.Version, v2)
	}
	if head, _ := cat.Head(ctx, "c1"); head != v2 {
		t.Errorf("catalog head %s, want %s", head, v2)
	}
	for _, want := range []string{
		`<tr data-version="` + v2 + `" aria-current="true"><th scope="row"><a href="?v=` + v2 + `">` + v2 + `</a> <span class="state">live</span></th><td>2026-03-02 16:00 UTC</td><td>admin:ops</td><td>warmer subject</td><td><code>` + v1 + `</code></td></tr>`,
		`<td>admin:ops</td><td>first</td><td><span class="muted">first version</span></td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("history lacks %s\n%s", want, page)
		}
	}
	if p, err := cat.Get(ctx, "c1", v2); err != nil || string(p.Source) != src2 || p.File != "c1.yaml" {
		t.Errorf("stored v2: %v %q %q", err, p.File, p.Source)
	}
	// The form now starts from the live source.
	if m := textareaRE.FindStringSubmatch(page); m == nil || html.UnescapeString(m[1]) != src2 {
		t.Errorf("the form does not start from the live version")
	}
	// Previewing the live version says publishing changes nothing.
	_, page = publishForm(t, f, f.ops, here, map[string]string{"csrf": f.opsTok, "yaml": src2, "step": "preview"}, "", "")
	if !strings.Contains(page, `id="already-live"`) || strings.Contains(page, `id="publish-button"`) || publishHiddenRE.MatchString(page) {
		t.Errorf("preview of the live version:\n%s", page)
	}
}

// TestPublishANewCadence publishes a cadence the deployment did not have
// from /publish; this process runs it at once.
func TestPublishANewCadence(t *testing.T) {
	f := newFixture(t)
	src := enginetest.EmailCadence("c2", "0", "1d")
	if page := f.get(f.ops, "/publish"); !strings.Contains(page, `action="/publish"`) {
		t.Fatalf("new cadence page:\n%s", page)
	}
	_, page := publishForm(t, f, f.ops, "/publish", map[string]string{"csrf": f.opsTok, "yaml": src, "message": "launch", "step": "preview"}, "", "")
	m := publishHiddenRE.FindAllStringSubmatch(page, -1)
	if len(m) != 2 || !strings.Contains(page, `, the first version of c2</h3>`) || !strings.Contains(page, `<p class="muted">every enrollment read (0)</p>`) {
		t.Fatalf("new cadence preview:\n%s", page)
	}
	resp, _ := publishForm(t, f, f.ops, "/publish", map[string]string{"csrf": f.opsTok, "yaml": src, "message": "launch", "step": "publish", m[0][1]: m[0][2], m[1][1]: m[1][2]}, "", "")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/cadences/c2/versions?") {
		t.Fatalf("publish c2: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	flash, _, page := f.follow(f.ops, resp)
	if c, err := f.e.Cadence("c2"); err != nil || c.Version != m[0][2] || !strings.HasPrefix(flash, "Published "+m[0][2]+", the first version of c2") || !strings.Contains(page, "<td>admin:ops</td><td>launch</td>") {
		t.Errorf("after publishing c2 (%v): flash %q\n%s", err, flash, page)
	}
}

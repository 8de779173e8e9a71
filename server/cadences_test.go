package server_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/server"
)

// noNudge is testCadence without its SMS touch.
var noNudge = strings.Replace(testCadence, "      - {id: nudge, channel: sms, delay: 2d, template: nudge}\n", "", 1)

func (h *harness) yaml(method, path, token, body string) (int, map[string]any, string) {
	h.t.Helper()
	resp, text := h.do(method, path, token, "application/yaml", strings.NewReader(body))
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			h.t.Fatalf("%s %s: %v\n%s", method, path, err, text)
		}
	}
	return resp.StatusCode, out, text
}

func TestCadenceCatalogAPI(t *testing.T) {
	h := newHarness(t)
	v1 := h.e.Cadences()["trial"].Version
	v2c, err := cadence.Parse("trial.yaml", []byte(noNudge))
	if err != nil {
		t.Fatal(err)
	}
	v2 := v2c.Version

	// First publication: a new version (201), the head.
	resp, text := h.do("POST", "/v1/cadences?message=first+cut", adminToken, "application/yaml", strings.NewReader(testCadence))
	var res map[string]any
	json.Unmarshal([]byte(text), &res)
	if resp.StatusCode != 201 || res["version"] != v1 || res["changed"] != true || res["stored"] != true || res["by"] != "admin:ops" ||
		resp.Header.Get("Location") != "/v1/cadences/trial/versions/"+v1 {
		t.Fatalf("publish: %d %s", resp.StatusCode, text)
	}
	// The same content again: nothing changes.
	if code, out, _ := h.yaml("POST", "/v1/cadences", adminToken, testCadence); code != 200 || out["changed"] != false || out["stored"] != false {
		t.Fatalf("republish: %d %v", code, out)
	}

	// Problems: 422 with exactly what /v1/cadences/validate answers.
	bad := strings.Replace(testCadence, "timezone: America/Chicago", "timezone: America/Chicgo", 1)
	code, _, got := h.yaml("POST", "/v1/cadences?file=bad.yaml", adminToken, bad)
	_, _, want := h.yaml("POST", "/v1/cadences/validate?file=bad.yaml", adminToken, bad)
	if code != 422 || got != want || !strings.Contains(got, `"snippet": "timezone: America/Chicgo`) || !strings.Contains(got, "bad.yaml:3:11: timezone: unknown time zone") {
		t.Fatalf("invalid publish: %d\n%s\nwant\n%s", code, got, want)
	}

	// Ada got the welcome and waits for the nudge; a version without the
	// nudge, previewed: she moves to the next touch. Nothing changes yet.
	eid := h.enroll("ada", "ada@example.com", "+13125550100")
	h.send()
	code, im, _ := h.yaml("POST", "/v1/cadences?dry_run=1&message=drop+nudge", adminToken, noNudge)
	if code != 200 || im["dry_run"] != true || im["version"] != v2 || im["head"] != v1 || im["changed"] != true || im["enrollments_total"] != 1.0 ||
		im["sampled"] != 1.0 || im["scaled"] != false || im["moved"] != 1.0 || im["unchanged"] != 0.0 ||
		!strings.Contains(im["diff"].(string), "-      - {id: nudge, channel: sms") || !strings.Contains(im["note"].(string), "every enrollment read (1)") {
		t.Fatalf("dry run: %d %v", code, im)
	}
	ex := im["examples"].([]any)[0].(map[string]any)
	if ex["enrollment"] != eid || ex["effect"] != "moved" || !strings.Contains(ex["text"].(string), "next touch nudge was removed") {
		t.Fatalf("example: %v", ex)
	}
	if _, out := h.json("GET", "/v1/cadences/trial", adminToken, ""); out["version"] != v1 {
		t.Fatalf("a dry run changed the running version: %v", out)
	}
	if _, out, _ := h.yaml("GET", "/v1/cadences/trial/versions", adminToken, ""); len(out["versions"].([]any)) != 1 {
		t.Fatalf("a dry run published: %v", out)
	}

	// Published: this process runs it at once.
	if code, out, _ := h.yaml("POST", "/v1/cadences?message=drop+nudge", adminToken, noNudge); code != 201 || out["previous"] != v1 || out["changed"] != true {
		t.Fatalf("publish v2: %d %v", code, out)
	}
	if _, out := h.json("GET", "/v1/cadences/trial", adminToken, ""); out["version"] != v2 {
		t.Fatalf("running %v after publishing %s", out["version"], v2)
	}

	// Versions, newest first; sources; the diff.
	code, out, _ := h.yaml("GET", "/v1/cadences/trial/versions", adminToken, "")
	vs, _ := out["versions"].([]any)
	if code != 200 || out["head"] != v2 || len(vs) != 2 {
		t.Fatalf("versions: %d %v", code, out)
	}
	first, second := vs[0].(map[string]any), vs[1].(map[string]any)
	if first["version"] != v2 || first["message"] != "drop nudge" || first["by"] != "admin:ops" || first["previous"] != v1 ||
		second["version"] != v1 || second["message"] != "first cut" || first["at"] == nil {
		t.Fatalf("versions: %v", vs)
	}
	resp, src := h.do("GET", "/v1/cadences/trial/versions/"+v1, adminToken, "", nil)
	if resp.StatusCode != 200 || src != testCadence || resp.Header.Get("Content-Type") != "text/yaml; charset=utf-8" || resp.Header.Get("ETag") != `"`+v1+`"` ||
		resp.Header.Get("X-Nurture-Published-By") != "admin:ops" {
		t.Fatalf("source: %d %v\n%s", resp.StatusCode, resp.Header, src)
	}
	if _, src := h.do("GET", "/v1/cadences/trial/versions/head", adminToken, "", nil); src != noNudge {
		t.Fatalf("head source:\n%s", src)
	}
	resp, d := h.do("GET", "/v1/cadences/trial/diff?from="+v1+"&to="+v2, adminToken, "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/x-diff; charset=utf-8" ||
		!strings.HasPrefix(d, "--- trial@"+v1) || !strings.Contains(d, "\n+++ trial@"+v2) || !strings.Contains(d, "\n-      - {id: nudge, channel: sms, delay: 2d, template: nudge}\n") {
		t.Fatalf("diff: %d\n%s", resp.StatusCode, d)
	}
	if _, dflt := h.do("GET", "/v1/cadences/trial/diff", adminToken, "", nil); dflt != d {
		t.Fatalf("diff of the head against the version it replaced:\n%s", dflt)
	}

	// Rollback, previewed then made.
	if code, im, _ := h.yaml("POST", "/v1/cadences/trial/rollback?to="+v1+"&dry_run=1", adminToken, ""); code != 200 || im["dry_run"] != true || im["version"] != v1 ||
		im["head"] != v2 || !strings.Contains(im["diff"].(string), "+      - {id: nudge") {
		t.Fatalf("rollback dry run: %d %v", code, im)
	}
	if code, out, _ := h.yaml("POST", "/v1/cadences/trial/rollback?to="+v1, adminToken, ""); code != 200 || out["changed"] != true || out["version"] != v1 || out["previous"] != v2 {
		t.Fatalf("rollback: %d %v", code, out)
	}
	if _, out := h.json("GET", "/v1/cadences/trial", adminToken, ""); out["version"] != v1 {
		t.Fatalf("running %v after the rollback", out["version"])
	}
	_, out, _ = h.yaml("GET", "/v1/cadences/trial/versions", adminToken, "")
	if vs := out["versions"].([]any); len(vs) != 3 || vs[0].(map[string]any)["message"] != "rollback to "+v1 {
		t.Fatalf("after the rollback: %v", vs)
	}

	// Errors.
	for _, c := range []struct {
		method, path, token string
		code                int
		errCode             string
	}{
		{"POST", "/v1/cadences/trial/rollback", adminToken, 400, "missing_query"},
		{"POST", "/v1/cadences/trial/rollback?to=v0123456789ab", adminToken, 404, "not_found"},
		{"GET", "/v1/cadences/nope/versions", adminToken, 404, "not_found"},
		{"GET", "/v1/cadences/trial/versions/v0123456789ab", adminToken, 404, "not_found"},
		{"GET", "/v1/cadences/trial/diff?from=v0123456789ab", adminToken, 404, "not_found"},
		{"POST", "/v1/cadences?dry_run=maybe", adminToken, 400, "bad_query"},
		{"POST", "/v1/cadences?message=" + strings.Repeat("x", 1001), adminToken, 400, "bad_query"},
		{"POST", "/v1/cadences", salesToken, 403, "forbidden"},
		{"GET", "/v1/cadences/trial/versions", salesToken, 403, "forbidden"},
		{"GET", "/v1/cadences/trial/diff", salesToken, 403, "forbidden"},
		{"POST", "/v1/cadences/trial/rollback?to=" + v2, salesToken, 403, "forbidden"},
		{"GET", "/v1/cadences/trial/versions/head", "", 401, "unauthorized"},
	} {
		code, out, text := h.yaml(c.method, c.path, c.token, noNudge)
		if code != c.code || errCode(out) != c.errCode {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, code, text, c.code, c.errCode)
		}
	}
}

// POST /v1/cadences/reload answers a file's problems as the validate
// endpoint does, and says what changed.
func TestCadenceReloadAnswersProblemsAndChanges(t *testing.T) {
	h := newHarness(t)
	bad := []byte(strings.Replace(testCadence, "delay: 2d", "delay: 2 fortnights", 1))
	_, perr := cadence.Parse("cadences/trial.yaml", bad)
	next := map[string]*cadence.Cadence{}
	srv, err := server.New(server.Config{Engine: h.e, Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}},
		Reload: func() (map[string]*cadence.Cadence, error) { return next, perr }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	h.url = ts.URL
	code, _, got := h.yaml("POST", "/v1/cadences/reload", adminToken, "")
	_, _, want := h.yaml("POST", "/v1/cadences/validate?file=cadences/trial.yaml", adminToken, string(bad))
	if code != 422 || got != want || !strings.Contains(got, "cadences/trial.yaml:11:42: stages[0].touches[1].delay") || !strings.Contains(got, `"snippet"`) {
		t.Fatalf("reload of a bad file: %d\n%s\nwant\n%s", code, got, want)
	}
	before := h.e.Cadences()["trial"].Version
	v2, _ := cadence.Parse("trial.yaml", []byte(noNudge))
	next, perr = map[string]*cadence.Cadence{"trial": v2}, nil
	code, out, _ := h.yaml("POST", "/v1/cadences/reload", adminToken, "")
	if code != 200 || fmt.Sprint(out["changed"]) != fmt.Sprint(map[string]any{"trial": map[string]any{"from": before, "to": v2.Version}}) {
		t.Fatalf("reload: %d %v", code, out)
	}
}

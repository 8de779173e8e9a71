package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/catalog"
)

// cadenceAPI serves the cadence catalog: publish (with a dry run that
// previews the effect on live enrollments), versions, sources, diffs and
// rollbacks. A head change is applied to this process's engine at once;
// every other process picks it up through its catalog.Watch.
type cadenceAPI struct {
	s   *Server
	cat *catalog.Catalog
}

func (s *Server) cadenceAPI() *cadenceAPI {
	return &cadenceAPI{s: s, cat: catalog.New(s.st, catalog.Options{Logger: s.log, Clock: s.e.Clock})}
}

// publisher names who published: the token's role and name, as every
// other "by" of the API.
func publisher(t Token) string { return string(t.Role) + ":" + t.Name }

// boolQuery reads a true/false query parameter (absent: false).
func boolQuery(w http.ResponseWriter, r *http.Request, name string) (v, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, true
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_query", name, "%s=%q: want 1 or 0 (true or false)", name, s)
		return false, false
	}
	return v, true
}

// messageQuery reads ?message= and checks it.
func messageQuery(w http.ResponseWriter, r *http.Request) (string, bool) {
	m := r.URL.Query().Get("message")
	if err := catalog.CheckMessage(m); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_query", "message", "%v", err)
		return "", false
	}
	return m, true
}

// writeProblems answers a cadence that does not validate exactly as POST
// /v1/cadences/validate does (422 with every problem, its line, column,
// field and snippet), by asking validateCadence itself.
func (s *Server) writeProblems(w http.ResponseWriter, r *http.Request, t Token, file string, body []byte) {
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = url.Values{"file": {file}}.Encode()
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	s.validateCadence(w, r2, t)
}

// sync puts this process's engine on the new heads at once, so the API
// answers with what it just published; a failure is left to the watch.
func (ca *cadenceAPI) sync(ctx context.Context) {
	if _, err := ca.cat.Sync(ctx, ca.s.e); err != nil {
		ca.s.log.Warn("catalog: applying a head change in this process failed; the watch retries", "err", err)
	}
}

// live is the version this process runs of a cadence (nil when none).
func (ca *cadenceAPI) live(id string) *cadence.Cadence {
	c, _ := ca.s.e.Cadence(id)
	return c
}

type dryRunView struct {
	DryRun bool `json:"dry_run"`
	catalog.Impact
}

type publishView struct {
	catalog.Result
	Message string `json:"message"`
	By      string `json:"by"`
}

// publish takes a cadence YAML body (?message=, ?file= names it in
// problems, ?dry_run=1 previews without changing anything). 201 when the
// version is new to the catalog, 200 when it was stored already (the head
// moves back to it, or it already was the head: changed=false).
func (ca *cadenceAPI) publish(w http.ResponseWriter, r *http.Request, t Token) {
	body, err := io.ReadAll(io.LimitReader(r.Body, cadence.MaxFileSize+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_body", "", "reading body: %v", err)
		return
	}
	msg, ok := messageQuery(w, r)
	if !ok {
		return
	}
	dry, ok := boolQuery(w, r, "dry_run")
	if !ok {
		return
	}
	name := r.URL.Query().Get("file")
	if name == "" {
		name = "posted.yaml"
	}
	c, err := cadence.Parse(name, body)
	if err != nil {
		ca.s.writeProblems(w, r, t, name, body)
		return
	}
	if r.URL.Query().Get("file") == "" {
		c.File = c.ID + ".yaml"
	}
	if dry {
		ca.preview(w, r, c, body)
		return
	}
	res, err := ca.cat.PublishParsed(r.Context(), c, body, publisher(t), msg)
	if err != nil {
		ca.s.fail(w, err)
		return
	}
	if res.Changed {
		ca.sync(r.Context())
	}
	status := http.StatusOK
	if res.Stored {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/cadences/"+res.ID+"/versions/"+res.Version)
	}
	writeJSON(w, status, publishView{Result: res, Message: msg, By: publisher(t)})
}

// versions lists a cadence's publications, newest first.
func (ca *cadenceAPI) versions(w http.ResponseWriter, r *http.Request, _ Token) {
	id := r.PathValue("id")
	pubs, err := ca.cat.Versions(r.Context(), id)
	if err != nil {
		ca.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cadence": id, "head": pubs[0].Version, "versions": pubs})
}

// source answers a version's YAML as published ("head" names the head).
func (ca *cadenceAPI) source(w http.ResponseWriter, r *http.Request, _ Token) {
	p, err := ca.cat.Get(r.Context(), r.PathValue("id"), r.PathValue("version"))
	if err != nil {
		ca.s.fail(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/yaml; charset=utf-8")
	h.Set("ETag", `"`+p.Version+`"`)
	h.Set("X-Nurture-Version", p.Version)
	h.Set("X-Nurture-Published-By", p.By)
	h.Set("X-Nurture-Published-At", p.At.UTC().Format(time.RFC3339))
	w.Write(p.Source)
}

// diff answers the unified diff of two versions' sources (?to= default
// the head, ?from= default the version to replaced).
func (ca *cadenceAPI) diff(w http.ResponseWriter, r *http.Request, _ Token) {
	q := r.URL.Query()
	d, err := ca.cat.DiffVersions(r.Context(), r.PathValue("id"), q.Get("from"), q.Get("to"))
	if err != nil {
		ca.s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/x-diff; charset=utf-8")
	io.WriteString(w, d)
}

// rollback makes an earlier version the head again (?to=, ?message=,
// ?dry_run=1 previews it).
func (ca *cadenceAPI) rollback(w http.ResponseWriter, r *http.Request, t Token) {
	id, to := r.PathValue("id"), r.URL.Query().Get("to")
	if to == "" {
		writeErr(w, http.StatusBadRequest, "missing_query", "to", "give to=VERSION (see GET /v1/cadences/%s/versions)", id)
		return
	}
	msg, ok := messageQuery(w, r)
	if !ok {
		return
	}
	dry, ok := boolQuery(w, r, "dry_run")
	if !ok {
		return
	}
	if dry {
		p, err := ca.cat.Get(r.Context(), id, to)
		if err != nil {
			ca.s.fail(w, err)
			return
		}
		c, err := ca.cat.Compile(r.Context(), id, p.Version)
		if err != nil {
			ca.s.fail(w, err)
			return
		}
		ca.preview(w, r, c, p.Source)
		return
	}
	res, err := ca.cat.Rollback(r.Context(), id, to, publisher(t), msg)
	if err != nil {
		ca.s.fail(w, err)
		return
	}
	if res.Changed {
		ca.sync(r.Context())
	}
	writeJSON(w, http.StatusOK, res)
}

// preview answers a dry run: the diff and what version c (source src)
// would do to the cadence's live enrollments; nothing changes.
func (ca *cadenceAPI) preview(w http.ResponseWriter, r *http.Request, c *cadence.Cadence, src []byte) {
	im, err := ca.cat.Preview(r.Context(), c, src, catalog.PreviewOptions{Live: ca.live(c.ID), Now: ca.s.e.Clock()})
	if err != nil {
		ca.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dryRunView{DryRun: true, Impact: im})
}

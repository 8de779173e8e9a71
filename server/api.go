package server

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// MaxBody is the default bulk import limit (SetBulkLimit).
const MaxBody = 64 << 20

// MaxJSONBody bounds a JSON request body (everything but bulk import,
// which streams under its own limit, and cadence YAML, bounded by
// cadence.MaxFileSize). The largest legitimate one, a prospect at every
// field and attribute limit, is well under 100 KiB even fully escaped.
const MaxJSONBody = 1 << 20

func (s *Server) routesAPI() {
	s.handle("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	// healthz: the process answers (liveness); readyz: Redis answers too.
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.st.Redis().Ping(r.Context()).Err(); err != nil {
			s.internalError(w, http.StatusServiceUnavailable, "redis_unreachable", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /v1/cadences", s.authed(RoleSales, s.listCadences))
	s.handle("GET /v1/cadences/{id}", s.authed(RoleSales, s.getCadence))
	s.handle("GET /v1/cadences/{id}/stats", s.authed(RoleSales, s.cadenceStats))
	s.handle("GET /v1/cadences/{id}/touches/{touch}/preview", s.authed(RoleSales, s.previewTouch))
	s.handle("POST /v1/cadences/{id}/touches/{touch}/test", s.authed(RoleSales, s.testTouch))
	s.handle("GET /v1/cadences/{id}/uncertain", s.authed(RoleAdmin, s.uncertain))
	s.handle("POST /v1/cadences/validate", s.authed(RoleAdmin, s.validateCadence))
	s.handle("POST /v1/cadences/reload", s.authed(RoleAdmin, s.reloadCadences))
	ca := s.cadenceAPI() // the catalog (server/cadences.go)
	s.handle("POST /v1/cadences", s.authed(RoleAdmin, ca.publish))
	s.handle("GET /v1/cadences/{id}/versions", s.authed(RoleAdmin, ca.versions))
	s.handle("GET /v1/cadences/{id}/versions/{version}", s.authed(RoleAdmin, ca.source))
	s.handle("GET /v1/cadences/{id}/diff", s.authed(RoleAdmin, ca.diff))
	s.handle("POST /v1/cadences/{id}/rollback", s.authed(RoleAdmin, ca.rollback))
	s.handle("PUT /v1/prospects/{id}", s.authed(RoleAdmin, s.putProspect))
	s.handle("GET /v1/prospects/{id}", s.authed(RoleSales, s.getProspect))
	s.handle("GET /v1/prospects", s.authed(RoleSales, s.findProspect))
	s.handle("POST /v1/enrollments", s.authed(RoleAdmin, s.enroll))
	s.handle("POST /v1/enrollments/bulk", s.authed(RoleAdmin, s.bulkEnroll))
	s.handle("GET /v1/enrollments/{id}", s.authed(RoleSales, s.getEnrollment))
	s.handle("POST /v1/enrollments/{id}/pause", s.authed(RoleSales, s.control(cadence.EvPaused)))
	s.handle("POST /v1/enrollments/{id}/resume", s.authed(RoleSales, s.control(cadence.EvResumed)))
	s.handle("POST /v1/enrollments/{id}/snooze", s.authed(RoleSales, s.control(cadence.EvSnoozed)))
	s.handle("POST /v1/enrollments/{id}/stop", s.authed(RoleSales, s.control(cadence.EvStopped)))
	s.handle("POST /v1/bulk/pause", s.authed(RoleSales, s.bulk(cadence.EvPaused)))
	s.handle("POST /v1/bulk/resume", s.authed(RoleSales, s.bulk(cadence.EvResumed)))
	s.handle("GET /v1/warm", s.authed(RoleSales, s.warm))
	s.handle("GET /v1/mailboxes", s.authed(RoleSales, s.mailboxes))
	s.handle("POST /v1/mailboxes/{id}/resume", s.authed(RoleAdmin, s.resumeSending("mailbox")))
	s.handle("POST /v1/cadences/{id}/resume-sending", s.authed(RoleAdmin, s.resumeSending("cadence")))
}

// bulk pauses or resumes every enrollment of an owner (?owner=) or of a
// cadence (?cadence=), e.g. a rep going on holiday.
func (s *Server) bulk(kind cadence.EventKind) func(http.ResponseWriter, *http.Request, Token) {
	return func(w http.ResponseWriter, r *http.Request, t Token) {
		var req controlRequest
		if r.ContentLength != 0 && !decodeJSON(w, r, &req) {
			return
		}
		owner, cad := r.URL.Query().Get("owner"), r.URL.Query().Get("cadence")
		if owner == "" && cad == "" {
			writeErr(w, http.StatusBadRequest, "missing_query", "owner", "give owner= or cadence=")
			return
		}
		// A rep holds only their own book; another rep's book or a whole
		// cadence is an admin's call (as on the dashboard).
		if t.Role == RoleSales && owner != t.Name {
			writeErr(w, http.StatusForbidden, "forbidden", "owner", "token %q (role sales) may bulk %s only its own enrollments (owner=%s)", t.Name, kind, t.Name)
			return
		}
		ev := cadence.Event{Kind: kind, By: string(t.Role) + ":" + t.Name, Reason: req.Reason}
		if req.Until != nil {
			ev.Until = req.Until.UTC()
		}
		res, err := s.e.Bulk(r.Context(), owner, cad, ev)
		if err != nil {
			s.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

type warmView struct {
	Enrollment string          `json:"enrollment"`
	Cadence    string          `json:"cadence"`
	Stage      string          `json:"stage"`
	Since      time.Time       `json:"since"`
	Reply      string          `json:"reply"`
	Prospect   *store.Prospect `json:"prospect"`
}

// warm lists leads that replied and wait for sales, newest first.
func (s *Server) warm(w http.ResponseWriter, r *http.Request, _ Token) {
	leads, err := s.e.WarmLeads(r.Context(), r.URL.Query().Get("owner"), 200)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []warmView{}
	for _, l := range leads {
		out = append(out, warmView{Enrollment: l.Enrollment.ID, Cadence: l.Enrollment.CadenceID, Stage: l.Enrollment.Stage, Since: l.Since, Reply: l.Reply, Prospect: l.Prospect})
	}
	writeJSON(w, http.StatusOK, map[string]any{"warm": out})
}

// cadenceView is a cadence's structure for clients.
type cadenceView struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Version string      `json:"version"`
	Stages  []stageView `json:"stages"`
}

type stageView struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Touches []touchView `json:"touches"`
	Advance []string    `json:"advance,omitempty"`
	Then    string      `json:"then"`
}

type touchView struct {
	ID       string   `json:"id"`
	Channel  string   `json:"channel"`
	Delay    string   `json:"delay"`
	Window   string   `json:"window"`
	Variants []string `json:"variants"`
	If       []string `json:"if,omitempty"`
}

func viewCadence(c *cadence.Cadence) cadenceView {
	v := cadenceView{ID: c.ID, Name: c.Name, Version: c.Version}
	for _, st := range c.Stages {
		sv := stageView{ID: st.ID, Name: st.Name, Then: st.Then}
		for _, r := range st.Advance {
			rule := "on " + string(r.On)
			if r.On == cadence.OnNoEngagement {
				rule += " for " + r.After.String()
			}
			sv.Advance = append(sv.Advance, rule+" -> "+r.To)
		}
		for _, t := range st.Touches {
			tv := touchView{ID: t.ID, Channel: string(t.Channel), Delay: t.Delay.String(), Window: c.WindowFor(t).String()}
			for _, va := range t.Variants {
				tv.Variants = append(tv.Variants, va.ID+":"+va.Template)
			}
			for _, cond := range t.Conditions {
				tv.If = append(tv.If, cond.Text)
			}
			sv.Touches = append(sv.Touches, tv)
		}
		v.Stages = append(v.Stages, sv)
	}
	return v
}

func (s *Server) listCadences(w http.ResponseWriter, r *http.Request, _ Token) {
	var out []cadenceView
	for _, c := range s.e.Cadences() {
		out = append(out, viewCadence(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, map[string]any{"cadences": out})
}

func (s *Server) getCadence(w http.ResponseWriter, r *http.Request, _ Token) {
	c, err := s.e.Cadence(r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewCadence(c))
}

// uncertainView is one touch whose send was interrupted at the provider.
type uncertainView struct {
	Enrollment string          `json:"enrollment"`
	Prospect   string          `json:"prospect_id"`
	Touch      string          `json:"touch"`
	Channel    cadence.Channel `json:"channel"`
	MessageID  string          `json:"message_id"`
	At         time.Time       `json:"at"`
}

// uncertain lists a cadence's uncertain touches (?since=RFC 3339, default
// 7 days ago), newest first, for reconciling with the provider's logs.
func (s *Server) uncertain(w http.ResponseWriter, r *http.Request, _ Token) {
	since := s.e.Clock().Add(-7 * 24 * time.Hour)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "bad_query", "since", "since=%q: want an RFC 3339 time such as 2026-03-02T15:00:00Z", v)
			return
		}
		since = t
	}
	list, err := s.e.Uncertain(r.Context(), r.PathValue("id"), since, 1000)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := []uncertainView{}
	for _, u := range list {
		out = append(out, uncertainView{Enrollment: u.EID, Prospect: store.ProspectOf(u.EID), Touch: u.Touch, Channel: u.Channel, MessageID: u.MessageID, At: u.At})
	}
	writeJSON(w, http.StatusOK, map[string]any{"cadence": r.PathValue("id"), "since": since, "uncertain": out})
}

// validateCadence checks a posted cadence: the same errors as `nurture
// validate`, as JSON.
func (s *Server) validateCadence(w http.ResponseWriter, r *http.Request, _ Token) {
	body, err := io.ReadAll(io.LimitReader(r.Body, cadence.MaxFileSize+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_body", "", "reading body: %v", err)
		return
	}
	name := r.URL.Query().Get("file")
	if name == "" {
		name = "posted.yaml"
	}
	c, err := cadence.Parse(name, body)
	var ve *cadence.ValidationError
	if errors.As(err, &ve) {
		type problem struct {
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Field   string `json:"field"`
			Message string `json:"message"`
			Text    string `json:"text"`
			// Snippet is the source line with a caret under the column.
			Snippet string `json:"snippet,omitempty"`
		}
		var ps []problem
		for _, p := range ve.Problems {
			ps = append(ps, problem{Line: p.Pos.Line, Column: p.Pos.Column, Field: p.Field, Message: p.Msg, Text: p.Error(), Snippet: p.Snippet(body)})
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"valid": false, "problems": ps})
		return
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_cadence", "", "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "id": c.ID, "version": c.Version})
}

// reloadCadences runs Reload (in `nurture serve`: publish the cadence
// files to the catalog, so every process moves to them, and return the
// heads) and applies the result to this process at once; on any problem
// nothing changes and the problems are returned (a file that does not
// validate: the same problems JSON as POST /v1/cadences/validate).
func (s *Server) reloadCadences(w http.ResponseWriter, r *http.Request, t Token) {
	if s.cfg.Reload == nil {
		writeErr(w, http.StatusNotImplemented, "reload_disabled", "", "this server was started without a cadence directory")
		return
	}
	before := s.e.Cadences()
	cads, err := s.cfg.Reload()
	if err != nil {
		var ve *cadence.ValidationError
		if errors.As(err, &ve) && ve.Source != nil && len(ve.Problems) > 0 {
			s.writeProblems(w, r, t, ve.Problems[0].Pos.File, ve.Source)
			return
		}
		writeErr(w, http.StatusUnprocessableEntity, "invalid_cadences", "", "%v", err)
		return
	}
	s.e.SetCadences(cads)
	versions := map[string]string{}
	changed := map[string]map[string]string{}
	for id, c := range cads {
		versions[id] = c.Version
		if old := before[id]; old == nil || old.Version != c.Version {
			from := ""
			if old != nil {
				from = old.Version
			}
			changed[id] = map[string]string{"from": from, "to": c.Version}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"loaded": versions, "changed": changed})
}

// decodeJSON reads a JSON body of at most MaxJSONBody bytes into v; a
// larger one is refused with 413 as soon as the limit is passed (at once
// when Content-Length says so), not read on or decoded.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength > MaxJSONBody {
		jsonTooLarge(w)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			jsonTooLarge(w)
		case errors.As(err, &te):
			writeErr(w, http.StatusBadRequest, "bad_json", te.Field, "field %s: expected %s, found %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			writeErr(w, http.StatusBadRequest, "bad_json", "", "malformed JSON at byte %d: %v", se.Offset, err)
		default:
			writeErr(w, http.StatusBadRequest, "bad_json", "", "%v", err)
		}
		return false
	}
	return true
}

type enrollRequest struct {
	Cadence  string         `json:"cadence"`
	Prospect *prospectInput `json:"prospect"`
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request, _ Token) {
	var req enrollRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Cadence == "" {
		writeErr(w, http.StatusBadRequest, "missing_field", "cadence", "cadence is required")
		return
	}
	if req.Prospect == nil {
		writeErr(w, http.StatusBadRequest, "missing_field", "prospect", "prospect is required")
		return
	}
	res := s.e.EnrollBatch(r.Context(), []*store.Prospect{req.Prospect}, req.Cadence)[0]
	if res.Err != nil {
		if f := fieldOf(res.Err); f != "" {
			writeErr(w, http.StatusBadRequest, "invalid_prospect", "prospect."+f, "%v", res.Err)
			return
		}
		s.fail(w, res.Err)
		return
	}
	r.SetPathValue("id", res.Enrollment.ID)
	w.Header().Set("Location", "/v1/enrollments/"+res.Enrollment.ID)
	s.writeEnrollment(w, r, http.StatusCreated)
}

// rowError is one rejected row of a bulk import.
type rowError struct {
	Row   int    `json:"row"`
	Field string `json:"field,omitempty"`
	Error string `json:"error"`
}

// csvFields maps CSV headers to prospect fields; other columns become
// attributes (with or without an attr. prefix).
var csvFields = map[string]func(p *store.Prospect, v string){
	"id": func(p *store.Prospect, v string) { p.ID = v }, "email": func(p *store.Prospect, v string) { p.Email = v },
	"phone": func(p *store.Prospect, v string) { p.Phone = v }, "first_name": func(p *store.Prospect, v string) { p.FirstName = v },
	"last_name": func(p *store.Prospect, v string) { p.LastName = v }, "company": func(p *store.Prospect, v string) { p.Company = v },
	"title": func(p *store.Prospect, v string) { p.Title = v }, "city": func(p *store.Prospect, v string) { p.City = v },
	"state": func(p *store.Prospect, v string) { p.State = v }, "country": func(p *store.Prospect, v string) { p.Country = v },
	"timezone": func(p *store.Prospect, v string) { p.TimeZone = v }, "owner": func(p *store.Prospect, v string) { p.Owner = v },
}

// Bulk import tuning. Rows go to the engine in chunks of bulkChunkRows
// (or bulkChunkBytes of input, whichever comes first), bulkInFlight
// chunks at a time, so one chunk's Redis round trips overlap the other's
// validation and memory does not grow with the body.
const (
	bulkChunkRows  = 1000
	bulkChunkBytes = 4 << 20
	bulkInFlight   = 2
	// bulkListed bounds the rejected rows listed in the answer (the
	// first by row); rejected_total counts them all.
	bulkListed = 1000
	// bulkSpoolMem is the largest body kept in memory; larger ones are
	// spooled to a temporary file.
	bulkSpoolMem = 1 << 20
	// bulkMaxLine bounds one JSON line.
	bulkMaxLine = 1 << 20
)

// bulkLimit is the largest bulk import body; 0 means MaxBody.
var bulkLimit atomic.Int64

// SetBulkLimit sets the largest body POST /v1/enrollments/bulk accepts, in
// bytes, for every Server in the process (n <= 0 restores MaxBody), and
// returns the previous limit. A larger body is refused whole with 413 and
// nothing is enrolled.
func SetBulkLimit(n int64) int64 {
	prev := bulkLimit.Swap(max(n, 0))
	if prev == 0 {
		prev = MaxBody
	}
	return prev
}

func currentBulkLimit() int64 {
	if n := bulkLimit.Load(); n > 0 {
		return n
	}
	return MaxBody
}

// sizeText writes a byte count for "the ... limit".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d-byte", n)
}

func bodyTooLarge(w http.ResponseWriter, limit int64) {
	writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "",
		"body is larger than the %s bulk limit; nothing was enrolled; split it (nurture import sends 1,000-row chunks)", sizeText(limit))
}

var errBodyTooLarge = errors.New("body too large")

func jsonTooLarge(w http.ResponseWriter) {
	writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "",
		"JSON body is larger than the %s limit for this API", sizeText(MaxJSONBody))
}

// bodyReadError is a failure to read the request body (not the spool).
type bodyReadError struct{ err error }

func (e bodyReadError) Error() string { return "reading the body: " + e.err.Error() }
func (e bodyReadError) Unwrap() error { return e.err }

// readErrs remembers the read errors of r, to tell them from write errors
// in io.Copy.
type readErrs struct {
	r   io.Reader
	err error
}

func (e *readErrs) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// spoolBody reads the whole body, at most limit bytes, into memory when
// it is small and into an unlinked temporary file otherwise, and returns
// a reader of it. cleanup is never nil. A body over the limit is
// errBodyTooLarge.
func spoolBody(body io.Reader, limit int64) (src io.Reader, cleanup func(), err error) {
	cleanup = func() {}
	in := &readErrs{r: body}
	lr := &io.LimitedReader{R: in, N: limit + 1}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(lr, bulkSpoolMem+1)); err != nil {
		return nil, cleanup, bodyReadError{err}
	}
	if lr.N == 0 {
		return nil, cleanup, errBodyTooLarge
	}
	if buf.Len() <= bulkSpoolMem {
		return bytes.NewReader(buf.Bytes()), cleanup, nil
	}
	f, err := os.CreateTemp("", "nurture-bulk-*")
	if err != nil {
		return nil, cleanup, fmt.Errorf("bulk import: spooling the body: %w", err)
	}
	// Unlinked now, the file goes away with the process even if it dies.
	_ = os.Remove(f.Name())
	cleanup = func() { f.Close(); os.Remove(f.Name()) }
	if _, err := f.Write(buf.Bytes()); err != nil {
		return nil, cleanup, fmt.Errorf("bulk import: spooling the body: %w", err)
	}
	buf = bytes.Buffer{}
	if _, err := io.Copy(f, lr); err != nil {
		if in.err != nil {
			return nil, cleanup, bodyReadError{in.err}
		}
		return nil, cleanup, fmt.Errorf("bulk import: spooling the body: %w", err)
	}
	if lr.N == 0 {
		return nil, cleanup, errBodyTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, cleanup, fmt.Errorf("bulk import: spooling the body: %w", err)
	}
	return f, cleanup, nil
}

// bulkChunk is rows on their way to the engine.
type bulkChunk struct {
	rows  []*store.Prospect
	lines []int
	bytes int
}

// bulkBatcher enrolls rows chunk by chunk, bulkInFlight chunks at a time,
// and tallies the answer: the enrolled count, every rejection counted
// and the first bulkListed by row kept.
type bulkBatcher struct {
	s    *Server
	ctx  context.Context
	cad  string
	jobs chan bulkChunk
	wg   sync.WaitGroup
	cur  bulkChunk

	mu       sync.Mutex
	enrolled int
	total    int
	listed   []rowError
}

func (s *Server) startBatcher(ctx context.Context, cad string) *bulkBatcher {
	b := &bulkBatcher{s: s, ctx: ctx, cad: cad, jobs: make(chan bulkChunk)}
	for range bulkInFlight {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for c := range b.jobs {
				res := s.e.EnrollBatch(ctx, c.rows, cad)
				b.mu.Lock()
				for i, r := range res {
					if r.Err != nil {
						b.rejectLocked(rowError{Row: c.lines[i], Field: fieldOf(r.Err), Error: r.Err.Error()})
						continue
					}
					b.enrolled++
				}
				b.mu.Unlock()
			}
		}()
	}
	return b
}

func (b *bulkBatcher) reject(re rowError) {
	b.mu.Lock()
	b.rejectLocked(re)
	b.mu.Unlock()
}

func sortRows(list []rowError) {
	slices.SortFunc(list, func(x, y rowError) int { return cmp.Compare(x.Row, y.Row) })
}

func (b *bulkBatcher) rejectLocked(re rowError) {
	b.total++
	b.listed = append(b.listed, re)
	if len(b.listed) >= 2*bulkListed {
		sortRows(b.listed)
		b.listed = b.listed[:bulkListed]
	}
}

// add queues a row read at line; size is its length in the body. It
// reports false when the request is gone and reading should stop.
func (b *bulkBatcher) add(line, size int, p *store.Prospect) bool {
	b.cur.rows, b.cur.lines, b.cur.bytes = append(b.cur.rows, p), append(b.cur.lines, line), b.cur.bytes+size
	if len(b.cur.rows) >= bulkChunkRows || b.cur.bytes >= bulkChunkBytes {
		return b.flush()
	}
	return true
}

func (b *bulkBatcher) flush() bool {
	if len(b.cur.rows) == 0 {
		return true
	}
	select {
	case b.jobs <- b.cur:
	case <-b.ctx.Done():
		return false
	}
	b.cur = bulkChunk{}
	return true
}

// finish enrolls what is queued and waits for every chunk.
func (b *bulkBatcher) finish() bulkResult {
	b.flush()
	close(b.jobs)
	b.wg.Wait()
	sortRows(b.listed)
	listed := b.listed[:min(len(b.listed), bulkListed)]
	return bulkResult{Cadence: b.cad, Enrolled: b.enrolled, Rejected: append([]rowError{}, listed...),
		RejectedTotal: b.total, RejectedTruncated: b.total > len(listed)}
}

// bulkResult is the answer of a bulk import.
type bulkResult struct {
	Cadence  string     `json:"cadence"`
	Enrolled int        `json:"enrolled"`
	Rejected []rowError `json:"rejected"`
	// RejectedTotal counts every rejected row; Rejected lists the first
	// bulkListed of them, by row, and RejectedTruncated says whether
	// there were more.
	RejectedTotal     int  `json:"rejected_total"`
	RejectedTruncated bool `json:"rejected_truncated"`
}

// csvColumn says where a CSV column goes: a prospect field, or an
// attribute (attr), or nowhere for a column without a header.
type csvColumn struct {
	set  func(p *store.Prospect, v string)
	attr string
}

// csvColumns reads the header row. An attribute column whose name no row
// could use is refused here rather than in every row.
func csvColumns(header []string) ([]csvColumn, *store.FieldError, int) {
	cols := make([]csvColumn, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if set, ok := csvFields[h]; ok {
			cols[i].set = set
			continue
		}
		if h == "" {
			continue
		}
		name := strings.TrimPrefix(h, "attr.")
		if err := store.CheckAttrKey(name); err != nil {
			fe, _ := err.(*store.FieldError)
			return nil, fe, i + 1
		}
		cols[i].attr = name
	}
	return cols, nil, 0
}

// feedCSV reads CSV records after the header. A record the CSV reader
// refuses (bad quoting) is rejected with the line it starts on and
// reading goes on.
func feedCSV(cr *csv.Reader, cols []csvColumn, b *bulkBatcher) error {
	prev := cr.InputOffset()
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			b.reject(rowError{Row: pe.StartLine, Error: err.Error()})
			prev = cr.InputOffset()
			continue
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		size := int(cr.InputOffset() - prev)
		prev = cr.InputOffset()
		p := &store.Prospect{}
		var unnamed int
		for i, v := range rec {
			if i >= len(cols) {
				continue
			}
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			switch c := cols[i]; {
			case c.set != nil:
				c.set(p, v)
			case c.attr != "":
				if p.Attr == nil {
					p.Attr = map[string]string{}
				}
				p.Attr[c.attr] = v
			default:
				unnamed = i + 1
			}
		}
		if unnamed > 0 {
			b.reject(rowError{Row: line, Field: "attr", Error: fmt.Sprintf("column %d has a value but no name in the header row", unnamed)})
			continue
		}
		if p.ID == "" {
			p.ID = strings.ToLower(p.Email)
			if p.ID == "" {
				p.ID = p.Phone
			}
		}
		if !b.add(line, size, p) {
			return nil
		}
	}
}

// readLine reads one line into buf[:0] and returns it without its line
// ending. A line longer than maxLen is read to its end and reported as
// long, without keeping it.
func readLine(br *bufio.Reader, maxLen int, buf []byte) (line []byte, long bool, err error) {
	buf, n := buf[:0], 0
	for {
		frag, err := br.ReadSlice('\n')
		n += len(frag)
		if !long {
			if len(buf)+len(frag) > maxLen+2 { // room for CR LF
				long, buf = true, buf[:0]
			} else {
				buf = append(buf, frag...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && n == 0:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, err
		}
		buf = bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
		return buf, long || len(buf) > maxLen, nil
	}
}

// feedNDJSON reads one prospect per line; blank lines are skipped but
// counted.
func feedNDJSON(src io.Reader, b *bulkBatcher) error {
	br := bufio.NewReaderSize(src, 64<<10)
	var buf []byte
	for line := 1; ; line++ {
		text, long, err := readLine(br, bulkMaxLine, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		buf = text
		if long {
			b.reject(rowError{Row: line, Error: fmt.Sprintf("line is longer than the %s limit", sizeText(bulkMaxLine))})
			continue
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		p := &store.Prospect{}
		if err := dec.Decode(p); err != nil {
			b.reject(rowError{Row: line, Error: "malformed JSON: " + err.Error()})
			continue
		}
		if p.ID == "" {
			p.ID = strings.ToLower(p.Email)
		}
		if !b.add(line, len(text), p) {
			return nil
		}
	}
}

// bulkEnroll enrolls prospects from JSON lines (one prospect per line) or
// CSV (a header row). The body is read whole first (to a temporary file
// when large): one over the limit is refused with 413 and nothing is
// enrolled. Then rows are enrolled chunk by chunk; bad rows are reported
// with their line in the body (the CSV header is line 1), the first
// bulkListed of them listed and all counted.
func (s *Server) bulkEnroll(w http.ResponseWriter, r *http.Request, _ Token) {
	cad := r.URL.Query().Get("cadence")
	if _, err := s.e.Cadence(cad); err != nil {
		writeErr(w, http.StatusBadRequest, "unknown_cadence", "cadence", "query parameter cadence=%q is not a loaded cadence", cad)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "text/csv", "application/x-ndjson", "application/jsonl", "application/json":
	default:
		writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "", "send text/csv or application/x-ndjson, not %q", mt)
		return
	}
	limit := currentBulkLimit()
	if r.ContentLength > limit {
		bodyTooLarge(w, limit)
		return
	}
	src, cleanup, err := spoolBody(r.Body, limit)
	defer cleanup()
	var mbe *http.MaxBytesError
	var rerr bodyReadError
	switch {
	case errors.Is(err, errBodyTooLarge):
		bodyTooLarge(w, limit)
		return
	case errors.As(err, &mbe):
		bodyTooLarge(w, min(limit, mbe.Limit))
		return
	case errors.As(err, &rerr):
		writeErr(w, http.StatusBadRequest, "bad_body", "", "%v", err)
		return
	case err != nil:
		s.fail(w, err)
		return
	}
	var feed func(b *bulkBatcher) error
	if mt == "text/csv" {
		cr := csv.NewReader(bufio.NewReaderSize(src, 64<<10))
		cr.FieldsPerRecord = -1
		cr.ReuseRecord = true
		header, err := cr.Read()
		if err != nil {
			writeErr(w, http.StatusBadRequest, "bad_csv", "", "reading the header row: %v", err)
			return
		}
		cols, fe, col := csvColumns(header)
		if fe != nil {
			writeErr(w, http.StatusBadRequest, "bad_csv", fe.Field, "header row, column %d: %v; nothing was enrolled", col, fe)
			return
		}
		feed = func(b *bulkBatcher) error { return feedCSV(cr, cols, b) }
	} else {
		feed = func(b *bulkBatcher) error { return feedNDJSON(src, b) }
	}
	b := s.startBatcher(r.Context(), cad)
	err = feed(b)
	res := b.finish()
	if err != nil {
		// Reading back the spooled body failed: the rows before were
		// enrolled, and re-sending skips them as duplicates.
		s.fail(w, fmt.Errorf("bulk import: after %d rows enrolled: %w", res.Enrolled, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// enrollmentView is an enrollment with its timeline.
type enrollmentView struct {
	ID         string          `json:"id"`
	ProspectID string          `json:"prospect_id"`
	Cadence    string          `json:"cadence"`
	Version    string          `json:"version"`
	State      cadence.State   `json:"state"`
	Stage      string          `json:"stage"`
	NextTouch  string          `json:"next_touch,omitempty"`
	DueAt      *time.Time      `json:"due_at,omitempty"`
	Until      *time.Time      `json:"until,omitempty"`
	By         string          `json:"by,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	EnrolledAt time.Time       `json:"enrolled_at"`
	Timeline   []timelineEntry `json:"timeline"`
}

type timelineEntry struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (s *Server) writeEnrollment(w http.ResponseWriter, r *http.Request, status int) {
	eid := r.PathValue("id")
	l, err := s.st.Enrollment(r.Context(), eid)
	if err != nil {
		s.fail(w, err)
		return
	}
	tl, err := s.e.Timeline(r.Context(), eid)
	if err != nil {
		s.fail(w, err)
		return
	}
	e := l.Enrollment
	v := enrollmentView{ID: e.ID, ProspectID: e.ProspectID, Cadence: e.CadenceID, Version: e.Version, State: e.State, Stage: e.Stage,
		DueAt: timeOrNil(e.DueAt), Until: timeOrNil(e.Until), By: e.By, Reason: e.Reason, EnrolledAt: e.EnrolledAt}
	if c, err := s.e.Cadence(e.CadenceID); err == nil {
		if t := c.TouchAt(e.Stage, e.Step); t != nil && !e.State.Terminal() {
			v.NextTouch = t.ID
		}
	}
	for _, en := range tl {
		v.Timeline = append(v.Timeline, timelineEntry{At: en.At, Kind: en.Kind, Text: en.Text()})
	}
	writeJSON(w, status, v)
}

func (s *Server) getEnrollment(w http.ResponseWriter, r *http.Request, _ Token) {
	s.writeEnrollment(w, r, http.StatusOK)
}

type controlRequest struct {
	Reason string     `json:"reason"`
	Until  *time.Time `json:"until"`
}

// control pauses, resumes, snoozes or stops an enrollment; the token's name
// is recorded as who did it.
func (s *Server) control(kind cadence.EventKind) func(http.ResponseWriter, *http.Request, Token) {
	return func(w http.ResponseWriter, r *http.Request, t Token) {
		var req controlRequest
		if r.ContentLength != 0 && !decodeJSON(w, r, &req) {
			return
		}
		ev := cadence.Event{Kind: kind, By: string(t.Role) + ":" + t.Name, Reason: req.Reason}
		if req.Until != nil {
			ev.Until = req.Until.UTC()
		}
		if kind == cadence.EvSnoozed && req.Until == nil {
			writeErr(w, http.StatusBadRequest, "missing_field", "until", "snooze needs until (RFC 3339 time)")
			return
		}
		if _, err := s.e.Apply(r.Context(), r.PathValue("id"), ev); err != nil {
			s.fail(w, err)
			return
		}
		s.writeEnrollment(w, r, http.StatusOK)
	}
}

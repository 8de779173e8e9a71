package server

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// MaxBody bounds request bodies (bulk imports included).
const MaxBody = 64 << 20

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
			writeErr(w, http.StatusServiceUnavailable, "redis_unreachable", "", "redis: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /v1/cadences", s.authed(RoleSales, s.listCadences))
	s.handle("GET /v1/cadences/{id}", s.authed(RoleSales, s.getCadence))
	s.handle("GET /v1/cadences/{id}/stats", s.authed(RoleSales, s.cadenceStats))
	s.handle("GET /v1/cadences/{id}/uncertain", s.authed(RoleAdmin, s.uncertain))
	s.handle("POST /v1/cadences/validate", s.authed(RoleAdmin, s.validateCadence))
	s.handle("POST /v1/cadences/reload", s.authed(RoleAdmin, s.reloadCadences))
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

// cadenceStats answers the funnel, per-touch rates and raw counters.
func (s *Server) cadenceStats(w http.ResponseWriter, r *http.Request, _ Token) {
	rep, err := s.e.Report(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
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
		}
		var ps []problem
		for _, p := range ve.Problems {
			ps = append(ps, problem{Line: p.Pos.Line, Column: p.Pos.Column, Field: p.Field, Message: p.Msg, Text: p.Error()})
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

// reloadCadences loads the cadence files again; on any problem nothing
// changes and the problems are returned.
func (s *Server) reloadCadences(w http.ResponseWriter, r *http.Request, _ Token) {
	if s.cfg.Reload == nil {
		writeErr(w, http.StatusNotImplemented, "reload_disabled", "", "this server was started without a cadence directory")
		return
	}
	cads, err := s.cfg.Reload()
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_cadences", "", "%v", err)
		return
	}
	s.e.SetCadences(cads)
	versions := map[string]string{}
	for id, c := range cads {
		versions[id] = c.Version
	}
	writeJSON(w, http.StatusOK, map[string]any{"loaded": versions})
}

// prospectInput is the JSON of a prospect in requests.
type prospectInput = store.Prospect

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
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

// fieldOf names the field a prospect validation error is about ("" for
// other errors).
func fieldOf(err error) string {
	var fe *store.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func (s *Server) putProspect(w http.ResponseWriter, r *http.Request, _ Token) {
	var p prospectInput
	if !decodeJSON(w, r, &p) {
		return
	}
	p.ID = r.PathValue("id")
	if err := s.e.UpsertProspect(r.Context(), &p); err != nil {
		if f := fieldOf(err); f != "" {
			writeErr(w, http.StatusBadRequest, "invalid_prospect", f, "%v", err)
			return
		}
		s.fail(w, err)
		return
	}
	s.getProspect(w, r, Token{})
}

func (s *Server) getProspect(w http.ResponseWriter, r *http.Request, _ Token) {
	pid := r.PathValue("id")
	p, err := s.st.Prospect(r.Context(), pid)
	if err != nil {
		s.fail(w, err)
		return
	}
	enr, err := s.e.ProspectEnrollments(r.Context(), pid)
	if err != nil {
		s.fail(w, err)
		return
	}
	consent, err := s.st.ConsentLog(r.Context(), pid)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"prospect": p, "enrollments": enr, "consent": consent})
}

func (s *Server) findProspect(w http.ResponseWriter, r *http.Request, t Token) {
	q := r.URL.Query()
	var pid string
	var err error
	switch {
	case q.Get("email") != "":
		pid, err = s.st.ProspectIDByEmail(r.Context(), q.Get("email"))
	case q.Get("phone") != "":
		phone, perr := cadence.NormalizePhone(q.Get("phone"), "US")
		if perr != nil {
			writeErr(w, http.StatusBadRequest, "invalid_phone", "phone", "%v", perr)
			return
		}
		pid, err = s.st.ProspectIDByPhone(r.Context(), phone)
	default:
		writeErr(w, http.StatusBadRequest, "missing_query", "email", "give email= or phone=")
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	r.SetPathValue("id", pid)
	s.getProspect(w, r, t)
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

// bulkEnroll enrolls prospects from JSON lines (one prospect per line) or
// CSV (a header row). Bad rows are reported with their row number; good
// rows are enrolled.
func (s *Server) bulkEnroll(w http.ResponseWriter, r *http.Request, _ Token) {
	cad := r.URL.Query().Get("cadence")
	if _, err := s.e.Cadence(cad); err != nil {
		writeErr(w, http.StatusBadRequest, "unknown_cadence", "cadence", "query parameter cadence=%q is not a loaded cadence", cad)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := io.LimitReader(r.Body, MaxBody)
	var rows []*store.Prospect
	var rowNums []int
	var rejected []rowError
	switch mt {
	case "text/csv":
		cr := csv.NewReader(body)
		cr.FieldsPerRecord = -1
		header, err := cr.Read()
		if err != nil {
			writeErr(w, http.StatusBadRequest, "bad_csv", "", "reading the header row: %v", err)
			return
		}
		for i := range header {
			header[i] = strings.ToLower(strings.TrimSpace(header[i]))
		}
		for line := 2; ; line++ {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				rejected = append(rejected, rowError{Row: line, Error: err.Error()})
				continue
			}
			p := &store.Prospect{}
			for i, v := range rec {
				if i >= len(header) || strings.TrimSpace(v) == "" {
					continue
				}
				if set, ok := csvFields[header[i]]; ok {
					set(p, strings.TrimSpace(v))
					continue
				}
				if p.Attr == nil {
					p.Attr = map[string]string{}
				}
				p.Attr[strings.TrimPrefix(header[i], "attr.")] = strings.TrimSpace(v)
			}
			if p.ID == "" {
				p.ID = strings.ToLower(p.Email)
				if p.ID == "" {
					p.ID = p.Phone
				}
			}
			rows, rowNums = append(rows, p), append(rowNums, line)
		}
	case "application/x-ndjson", "application/jsonl", "application/json":
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			dec := json.NewDecoder(strings.NewReader(text))
			dec.DisallowUnknownFields()
			p := &store.Prospect{}
			if err := dec.Decode(p); err != nil {
				rejected = append(rejected, rowError{Row: line, Error: "malformed JSON: " + err.Error()})
				continue
			}
			if p.ID == "" {
				p.ID = strings.ToLower(p.Email)
			}
			rows, rowNums = append(rows, p), append(rowNums, line)
		}
		if err := sc.Err(); err != nil {
			writeErr(w, http.StatusBadRequest, "bad_body", "", "reading lines: %v", err)
			return
		}
	default:
		writeErr(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "", "send text/csv or application/x-ndjson, not %q", mt)
		return
	}
	// Chunks of 1,000 go two at a time, so one chunk's Redis round trips
	// overlap the other's validation.
	const chunk, parallel = 1000, 2
	results := make([][]worker.EnrollResult, (len(rows)+chunk-1)/chunk)
	var wg sync.WaitGroup
	next := make(chan int)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				lo := c * chunk
				results[c] = s.e.EnrollBatch(r.Context(), rows[lo:min(lo+chunk, len(rows))], cad)
			}
		}()
	}
	for c := range results {
		next <- c
	}
	close(next)
	wg.Wait()
	enrolled := 0
	for c, rs := range results {
		for i, res := range rs {
			if res.Err != nil {
				rejected = append(rejected, rowError{Row: rowNums[c*chunk+i], Field: fieldOf(res.Err), Error: res.Err.Error()})
				continue
			}
			enrolled++
		}
	}
	sort.Slice(rejected, func(i, j int) bool { return rejected[i].Row < rejected[j].Row })
	writeJSON(w, http.StatusOK, map[string]any{"cadence": cad, "enrolled": enrolled, "rejected": rejected})
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

package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// Prospects: PUT and GET one, GET /v1/prospects to look one up by email or
// phone or to search and list them (store/prospect_index.go).

// prospectInput is the JSON of a prospect in requests.
type prospectInput = store.Prospect

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

// searchParams are the query parameters of a prospect search.
var searchParams = []string{"q", "cadence", "stage", "state", "owner", "cursor", "limit"}

// findProspect looks a prospect up by ?email= or ?phone= (the prospect,
// its enrollment ids and consent, as GET /v1/prospects/{id}), or else
// searches (searchProspects).
func (s *Server) findProspect(w http.ResponseWriter, r *http.Request, t Token) {
	q := r.URL.Query()
	if !q.Has("email") && !q.Has("phone") {
		s.searchProspects(w, r, t)
		return
	}
	for name := range q {
		if name != "email" && name != "phone" {
			writeErr(w, http.StatusBadRequest, "bad_query", name, "%s= cannot be combined with email= or phone= (an exact lookup); search with q=%s instead", name, q.Get("email")+q.Get("phone"))
			return
		}
	}
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
		writeErr(w, http.StatusBadRequest, "missing_query", "email", "email= and phone= are empty: give an address or a number, or search with q=")
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	r.SetPathValue("id", pid)
	s.getProspect(w, r, t)
}

// searchView is one prospect in a search answer.
type searchView struct {
	ID          string            `json:"id"`
	FirstName   string            `json:"first_name"`
	LastName    string            `json:"last_name"`
	Email       string            `json:"email"`
	Phone       string            `json:"phone"`
	Company     string            `json:"company"`
	Owner       string            `json:"owner"`
	Enrollments []enrollmentBrief `json:"enrollments"`
}

type enrollmentBrief struct {
	Cadence string        `json:"cadence"`
	Stage   string        `json:"stage"`
	State   cadence.State `json:"state"`
}

// searchProspects answers GET /v1/prospects?q=&cadence=&stage=&state=&owner=&cursor=&limit=:
// one page of prospects in index order with their enrollments, the
// cursors of the next and previous pages ("" when there are none) and how
// many index entries were searched so far. A sales token searches its own
// book (owner defaults to its name; another owner is refused, as for
// /v1/bulk); an admin any owner's, or everyone's.
func (s *Server) searchProspects(w http.ResponseWriter, r *http.Request, t Token) {
	q := r.URL.Query()
	for name, vs := range q {
		if !slices.Contains(searchParams, name) {
			writeErr(w, http.StatusBadRequest, "bad_query", name, "unknown parameter %s=; a search takes %s= (or email= or phone= alone)", name, strings.Join(searchParams, "=, "))
			return
		}
		if len(vs) > 1 {
			writeErr(w, http.StatusBadRequest, "bad_query", name, "%s= is given %d times; give it once", name, len(vs))
			return
		}
	}
	sq := store.ProspectQuery{Text: q.Get("q"), Cadence: q.Get("cadence"), Stage: q.Get("stage"), State: cadence.State(q.Get("state")),
		Owner: strings.TrimSpace(q.Get("owner")), Cursor: q.Get("cursor")}
	if v := q.Get("limit"); q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxSearchLimit {
			writeErr(w, http.StatusBadRequest, "bad_query", "limit", "limit=%q: want a whole number from 1 to %d", v, store.MaxSearchLimit)
			return
		}
		sq.Limit = n
	}
	if t.Role != RoleAdmin {
		switch sq.Owner {
		case "":
			sq.Owner = t.Name // a rep's book
		case t.Name:
		default:
			writeErr(w, http.StatusForbidden, "forbidden", "owner", "token %q (role %s) may search only its own prospects (owner=%s)", t.Name, t.Role, t.Name)
			return
		}
	}
	page, err := s.e.SearchProspects(r.Context(), sq)
	var qe *store.QueryError
	if errors.As(err, &qe) {
		writeErr(w, http.StatusBadRequest, "bad_query", qe.Param, "%v", qe)
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]searchView, 0, len(page.Hits))
	for _, h := range page.Hits {
		p := h.Prospect
		v := searchView{ID: p.ID, FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone, Company: p.Company, Owner: p.Owner,
			Enrollments: []enrollmentBrief{}}
		for _, e := range h.Enrollments {
			v.Enrollments = append(v.Enrollments, enrollmentBrief{Cadence: e.CadenceID, Stage: e.Stage, State: e.State})
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"prospects": out, "next_cursor": page.Next, "prev_cursor": page.Prev,
		"searched": page.Searched, "candidates": page.Candidates, "partial": page.Partial, "index_ready": page.IndexReady, "owner": sq.Owner})
}

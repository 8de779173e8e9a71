package dashboard

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// The prospect list: search by the start of a name, email, company or
// phone number, filter by cadence, stage, state and (admins) owner, page
// with Next and Previous. A rep starts on their own book, with everyone's
// one click away (the same choice as the warm leads, kept in the same
// cookie); an admin chooses any owner. An exact email or phone number
// opens that prospect's page. The search is worker.Engine.SearchProspects,
// the same as the API's.

// prospectsPage is how many prospects a page lists.
const prospectsPage = 25

// prospectRow is one prospect in the list.
type prospectRow struct {
	ID, Name, Company, Title string
	Email, Phone, Owner      string
	Enrollments              []string // "SaaS trial · Welcome stage · running"
}

// option is one choice of a select.
type option struct {
	Value, Text string
	Selected    bool
}

// optgroup is options under a label.
type optgroup struct {
	Label   string
	Options []option
}

// prospectsData is what the page shows.
type prospectsData struct {
	page
	Query                 string
	Cadence, Stage, State string
	Scope                 scope
	Owners                []option
	Cadences, States      []option
	Stages                []optgroup
	Filtered              bool // a cadence, stage or state is chosen
	Rows                  []prospectRow
	Next, Prev            string // links
	MineLink, AllLink     string
	ClearLink, NoFilters  string
	Searched, Candidates  string // counts written out: "5,000"
	Partial, IndexReady   bool
	Problem, Restart      string // what was wrong with the address; the search without its cursor
	Searching             bool   // a query or filter was given
	// ExactMiss says no prospect has the email or phone number typed.
	ExactMiss string
}

func (d *Dashboard) prospects(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	qv := r.URL.Query()
	data := prospectsData{page: d.page(r, s, "Prospects"), Query: strings.TrimSpace(qv.Get("q")),
		Cadence: strings.TrimSpace(qv.Get("cadence")), Stage: strings.TrimSpace(qv.Get("stage")), State: strings.TrimSpace(qv.Get("state"))}
	data.Nav = "prospects"
	data.Filtered = data.Cadence != "" || data.Stage != "" || data.State != ""
	data.Searching = data.Query != "" || data.Filtered
	const msg = "The prospects could not be listed."

	// An exact email or phone number opens the prospect.
	if data.Query != "" && !data.Filtered && qv.Get("cursor") == "" {
		pid, what, err := d.exactProspect(r, data.Query)
		switch {
		case err == nil:
			http.Redirect(w, r, "/prospects/"+url.PathEscape(pid), http.StatusSeeOther)
			return
		case !errors.Is(err, store.ErrNotFound):
			d.fail(w, r, s, err, msg)
			return
		case what != "":
			data.ExactMiss = "No prospect has the " + what + " " + data.Query + "."
		}
	}

	var owners []string
	if isAdmin(s) {
		var err error
		if owners, err = d.owners(ctx); err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
	}
	data.Scope = d.scopeOf(w, r, s, owners)
	switch {
	case data.Scope.Mine:
		data.Scope.Label = "My prospects"
	case data.Scope.Owner == "":
		data.Scope.Label = "Everyone's prospects"
	default:
		data.Scope.Label = "Prospects of " + data.Scope.Owner
	}
	data.Title = data.Scope.Label
	d.filterOptions(&data, owners)

	// Links keep the search, its filters and whose book it is.
	scopeOwner := data.Scope.Owner
	if scopeOwner == "" {
		scopeOwner = everyone
	}
	base := url.Values{"owner": {scopeOwner}}
	for k, v := range map[string]string{"q": data.Query, "cadence": data.Cadence, "stage": data.Stage, "state": data.State} {
		if v != "" {
			base.Set(k, v)
		}
	}
	link := func(extra ...string) string {
		v := url.Values{}
		for k, vs := range base {
			v[k] = vs
		}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return "/prospects?" + v.Encode()
	}
	res, err := d.e.SearchProspects(ctx, store.ProspectQuery{Text: data.Query, Owner: data.Scope.Owner, Cadence: data.Cadence, Stage: data.Stage,
		State: cadence.State(data.State), Cursor: qv.Get("cursor"), Limit: prospectsPage})
	var qe *store.QueryError
	if errors.As(err, &qe) {
		data.Problem, data.Restart = problemWords(qe), link(qe.Param, "") // the same search without what was wrong
		d.render(w, r, http.StatusBadRequest, "prospects", data)
		return
	}
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	data.Searched, data.Candidates, data.Partial, data.IndexReady = plainCount(res.Searched), plainCount(res.Candidates), res.Partial, res.IndexReady
	for _, h := range res.Hits {
		data.Rows = append(data.Rows, d.prospectRow(h))
	}
	if res.Next != "" {
		data.Next = link("cursor", res.Next)
	}
	if res.Prev != "" {
		data.Prev = link("cursor", res.Prev)
	}
	data.MineLink, data.AllLink = link("owner", s.Name), link("owner", everyone)
	data.ClearLink = "/prospects?owner=" + url.QueryEscape(scopeOwner)
	data.NoFilters = "/prospects?" + url.Values{"q": {data.Query}, "owner": {scopeOwner}}.Encode()
	d.render(w, r, http.StatusOK, "prospects", data)
}

// exactProspect finds the prospect whose email or phone number is q.
// what names what q is when it is a whole address or number ("email
// address", "phone number"), "" otherwise.
func (d *Dashboard) exactProspect(r *http.Request, q string) (pid, what string, err error) {
	if a, perr := mail.ParseAddress(q); perr == nil && a.Name == "" && strings.Contains(a.Address, "@") {
		what = "email address"
	}
	pid, err = d.st.ProspectIDByEmail(r.Context(), q)
	if errors.Is(err, store.ErrNotFound) {
		if phone, perr := cadence.NormalizePhone(q, "US"); perr == nil {
			what = "phone number"
			pid, err = d.st.ProspectIDByPhone(r.Context(), phone)
		}
	}
	return pid, what, err
}

// filterOptions fills the selects: owners (admins), cadences, their
// stages (of the chosen cadence, else of every cadence) and states.
func (d *Dashboard) filterOptions(data *prospectsData, owners []string) {
	data.Owners = []option{{Value: everyone, Text: "Everyone", Selected: data.Scope.Owner == ""}}
	for _, o := range owners {
		data.Owners = append(data.Owners, option{Value: o, Text: o, Selected: o == data.Scope.Owner})
	}
	if data.Scope.Owner != "" && !optionsHave(data.Owners, data.Scope.Owner) {
		data.Owners = append(data.Owners, option{Value: data.Scope.Owner, Text: data.Scope.Owner, Selected: true})
	}
	cads := d.e.Cadences()
	ids := make([]string, 0, len(cads))
	for id := range cads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	data.Cadences = []option{{Value: "", Text: "Any cadence", Selected: data.Cadence == ""}}
	for _, id := range ids {
		data.Cadences = append(data.Cadences, option{Value: id, Text: cadenceName(cads[id]), Selected: id == data.Cadence})
	}
	for _, id := range ids {
		if data.Cadence != "" && id != data.Cadence {
			continue
		}
		g := optgroup{Label: cadenceName(cads[id])}
		for _, st := range cads[id].Stages {
			g.Options = append(g.Options, option{Value: st.ID, Text: stageName(cads[id], st.ID), Selected: st.ID == data.Stage})
		}
		data.Stages = append(data.Stages, g)
	}
	data.States = []option{{Value: "", Text: "Any state", Selected: data.State == ""}}
	for _, st := range cadence.States {
		data.States = append(data.States, option{Value: string(st), Text: capitalize(stateWords(st)), Selected: string(st) == data.State})
	}
}

func optionsHave(opts []option, v string) bool {
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}

// prospectRow is how the list shows a prospect and its enrollments.
func (d *Dashboard) prospectRow(h store.ProspectHit) prospectRow {
	p := h.Prospect
	row := prospectRow{ID: p.ID, Name: displayName(p), Company: p.Company, Title: p.Title, Email: p.Email, Phone: p.Phone, Owner: p.Owner}
	for _, e := range h.Enrollments {
		c, _ := d.e.Cadence(e.CadenceID)
		name := cadenceName(c)
		if c == nil {
			name = humanize(e.CadenceID)
		}
		row.Enrollments = append(row.Enrollments, name+" · "+stageName(c, e.Stage)+" stage · "+stateWords(e.State))
	}
	return row
}

// problemWords says what was wrong with the page's address.
func problemWords(qe *store.QueryError) string {
	switch qe.Param {
	case "cursor":
		return "That page of results belongs to another search (the text or a filter changed)."
	case "q":
		return "The search text cannot be used: " + qe.Msg + "."
	}
	return "The " + qe.Param + " “" + qe.Value + "” cannot be used: " + qe.Msg + "."
}

// plainCount writes 1234567 as 1,234,567.
func plainCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

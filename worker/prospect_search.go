package worker

import (
	"context"
	"slices"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// cursorKind separates search cursors from the other tokens the signer
// makes.
const cursorKind = "prospect-search-cursor-v1"

// SearchProspects is the one prospect search the API and the dashboard
// run (store.SearchProspects): it checks the cadence and stage against the
// loaded cadences, reads every loaded cadence's enrollments for the
// results, reads phone numbers in the default region, and encrypts the
// cursors, which would otherwise show the names and addresses they stop
// at. A bad parameter is a *store.QueryError.
func (e *Engine) SearchProspects(ctx context.Context, q store.ProspectQuery) (store.ProspectPage, error) {
	cads := e.Cadences()
	q.Cadence, q.Stage = strings.TrimSpace(q.Cadence), strings.TrimSpace(q.Stage)
	if q.Cadence != "" {
		c, ok := cads[q.Cadence]
		if !ok {
			return store.ProspectPage{}, &store.QueryError{Param: "cadence", Value: q.Cadence, Msg: "not a loaded cadence (" + strings.Join(cadenceIDs(cads), ", ") + ")"}
		}
		if q.Stage != "" && c.Stage(q.Stage) == nil {
			var ids []string
			for _, st := range c.Stages {
				ids = append(ids, st.ID)
			}
			return store.ProspectPage{}, &store.QueryError{Param: "stage", Value: q.Stage, Msg: "not a stage of cadence " + q.Cadence + " (" + strings.Join(ids, ", ") + ")"}
		}
	} else if q.Stage != "" && !slices.ContainsFunc(cadenceIDs(cads), func(id string) bool { return cads[id].Stage(q.Stage) != nil }) {
		return store.ProspectPage{}, &store.QueryError{Param: "stage", Value: q.Stage, Msg: "not a stage of any loaded cadence"}
	}
	q.Cadences = cadenceIDs(cads)
	if q.Region == "" {
		q.Region = e.cfg.DefaultRegion
	}
	if q.Cursor != "" {
		raw, err := e.cfg.Tokens.Verify(cursorKind, q.Cursor)
		if err != nil {
			return store.ProspectPage{}, &store.QueryError{Param: "cursor", Value: q.Cursor, Msg: "not a cursor from this search; start again without it"}
		}
		q.Cursor = raw
	}
	page, err := e.st.SearchProspects(ctx, q)
	if err != nil {
		return page, err
	}
	if page.Next != "" {
		page.Next = e.cfg.Tokens.Sign(cursorKind, page.Next)
	}
	if page.Prev != "" {
		page.Prev = e.cfg.Tokens.Sign(cursorKind, page.Prev)
	}
	return page, nil
}

func cadenceIDs(m map[string]*cadence.Cadence) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// prospects finds a prospect by email or phone.
func (d *Dashboard) prospects(w http.ResponseWriter, r *http.Request, s *Session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := struct {
		page
		Query, Error string
	}{page: d.page(r, s, "Prospects"), Query: q}
	data.Nav = "prospects"
	if q != "" {
		pid, err := d.st.ProspectIDByEmail(r.Context(), q)
		if errors.Is(err, store.ErrNotFound) {
			if phone, perr := cadence.NormalizePhone(q, "US"); perr == nil {
				pid, err = d.st.ProspectIDByPhone(r.Context(), phone)
			}
		}
		switch {
		case err == nil:
			http.Redirect(w, r, "/prospects/"+url.PathEscape(pid), http.StatusSeeOther)
			return
		case !errors.Is(err, store.ErrNotFound):
			d.fail(w, r, s, err, "The search did not work.")
			return
		}
		data.Error = "No prospect with that email or phone."
	}
	d.render(w, r, http.StatusOK, "prospects", data)
}

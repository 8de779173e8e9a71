// Package dashboard is Nurture's web UI for marketers and sales: cadence
// funnels and per-touch rates, warm leads with pause / resume / snooze /
// stop buttons, prospect timelines with consent, and (in development) the
// outbox. Pages are server-rendered Go templates embedded in the binary;
// there is no JavaScript. Login is by API token, the session is a signed
// cookie, and every form carries a CSRF token bound to the session.
package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config wires the dashboard.
type Config struct {
	Engine *worker.Engine
	// Tokens are the same credentials as the API.
	Tokens []server.Token
	// Outbox, when set, is shown on /outbox (development).
	Outbox *channels.Outbox
	// Banner is shown on every page (the demo says state is in memory).
	Banner string
	// Secure marks the session cookie Secure (behind HTTPS).
	Secure bool
	Logger *slog.Logger
}

// Dashboard serves the UI.
type Dashboard struct {
	cfg    Config
	e      *worker.Engine
	st     *store.Store
	signer *tokens.Signer
	tmpl   *template.Template
	mux    *http.ServeMux
}

// Session is a logged-in user.
type Session struct {
	Name string
	Role server.Role
	CSRF string
}

const cookieName = "nurture_session"

// New builds the dashboard.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Engine == nil {
		return nil, errors.New("dashboard: Engine is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	signer, _ := tokens.NewSigner(key)
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	d := &Dashboard{cfg: cfg, e: cfg.Engine, st: cfg.Engine.Store(), signer: signer, tmpl: t, mux: http.NewServeMux()}
	d.mux.HandleFunc("GET /login", d.loginPage)
	d.mux.HandleFunc("POST /login", d.login)
	d.mux.HandleFunc("POST /logout", d.authed(d.logout))
	d.mux.HandleFunc("GET /{$}", d.authed(d.cadences))
	d.mux.HandleFunc("GET /cadences/{id}", d.authed(d.cadence))
	d.mux.HandleFunc("GET /warm", d.authed(d.warm))
	d.mux.HandleFunc("GET /prospects", d.authed(d.prospects))
	d.mux.HandleFunc("GET /prospects/{id}", d.authed(d.prospect))
	d.mux.HandleFunc("GET /outbox", d.authed(d.outbox))
	d.mux.HandleFunc("POST /act/{eid}/{action}", d.authed(d.act))
	d.mux.HandleFunc("POST /bulk/pause", d.authed(d.bulkPause))
	return d, nil
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'")
	d.mux.ServeHTTP(w, r)
}

// RequireAdmin lets only a logged-in admin through to h (the queue
// monitor); others are sent to log in or refused.
func (d *Dashboard) RequireAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := d.session(r)
		switch {
		case s == nil:
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		case s.Role != server.RoleAdmin:
			http.Error(w, "the queue monitor is for admins", http.StatusForbidden)
		case r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Origin") != "" && !sameOrigin(r):
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// sameOrigin checks the Origin header of a state-changing request against
// the Host (asynqmon's own forms carry no CSRF token).
func sameOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	return err == nil && u.Host == r.Host
}

var funcs = template.FuncMap{
	"pct": func(a, b int64) string {
		if b <= 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", 100*float64(a)/float64(b))
	},
	"percent":    func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"prospectOf": store.ProspectOf,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"name": func(p *store.Prospect) string {
		if n := strings.TrimSpace(p.FirstName + " " + p.LastName); n != "" {
			return n
		}
		if p.Email != "" {
			return p.Email
		}
		return p.Phone
	},
	"window": func(c *cadence.Cadence, t *cadence.Touch) string { return c.WindowFor(t).String() },
	"acts": func(e cadence.Enrollment, csrf, back string) map[string]any {
		return map[string]any{"E": e, "CSRF": csrf, "Back": back}
	},
}

type page struct {
	Title   string
	Session *Session
	Banner  string
	Flash   string
	Outbox  bool
}

func (d *Dashboard) page(r *http.Request, s *Session, title string) page {
	return page{Title: title, Session: s, Banner: d.cfg.Banner, Flash: r.URL.Query().Get("flash"), Outbox: d.cfg.Outbox != nil}
}

func (d *Dashboard) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := d.tmpl.ExecuteTemplate(w, name, data); err != nil {
		d.cfg.Logger.Error("dashboard render", "page", name, "err", err)
	}
}

func (d *Dashboard) session(r *http.Request) *Session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	payload, err := d.signer.Verify("session", c.Value)
	if err != nil {
		return nil
	}
	parts := strings.SplitN(payload, "|", 4)
	if len(parts) != 4 {
		return nil
	}
	exp, err := time.Parse(time.RFC3339, parts[3])
	if err != nil || time.Now().After(exp) {
		return nil
	}
	return &Session{Role: server.Role(parts[0]), Name: parts[1], CSRF: parts[2]}
}

// authed requires a session, and a matching CSRF token on POST.
func (d *Dashboard) authed(h func(http.ResponseWriter, *http.Request, *Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := d.session(r)
		if s == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
				http.Error(w, "invalid or missing CSRF token; reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, "login", struct {
		page
		Error string
	}{page: d.page(r, nil, "Log in")})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	r.ParseForm()
	secret := r.PostForm.Get("token")
	for _, t := range d.cfg.Tokens {
		if secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(t.Secret)) == 1 {
			csrf := make([]byte, 16)
			rand.Read(csrf)
			exp := time.Now().Add(12 * time.Hour).UTC().Format(time.RFC3339)
			value := d.signer.Sign("session", string(t.Role)+"|"+t.Name+"|"+hex.EncodeToString(csrf)+"|"+exp)
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/", HttpOnly: true, Secure: d.cfg.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 12 * 3600})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
	}
	w.WriteHeader(http.StatusUnauthorized)
	d.render(w, "login", struct {
		page
		Error string
	}{page: d.page(r, nil, "Log in"), Error: "Unknown token."})
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, _ *Session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (d *Dashboard) cadences(w http.ResponseWriter, r *http.Request, s *Session) {
	var reps []*worker.Report
	for id := range d.e.Cadences() {
		rep, err := d.e.Report(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reps = append(reps, rep)
	}
	sort.Slice(reps, func(i, j int) bool { return reps[i].ID < reps[j].ID })
	d.render(w, "cadences", struct {
		page
		Reports []*worker.Report
	}{d.page(r, s, "Cadences"), reps})
}

func (d *Dashboard) cadence(w http.ResponseWriter, r *http.Request, s *Session) {
	c, err := d.e.Cadence(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	rep, err := d.e.Report(r.Context(), c.ID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	uncertain, err := d.e.Uncertain(r.Context(), c.ID, d.e.Clock().Add(-7*24*time.Hour), 50)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d.render(w, "cadence", struct {
		page
		Report    *worker.Report
		Cadence   *cadence.Cadence
		Uncertain []store.UncertainTouch
	}{d.page(r, s, c.Name), rep, c, uncertain})
}

func (d *Dashboard) warm(w http.ResponseWriter, r *http.Request, s *Session) {
	owner := r.URL.Query().Get("owner")
	leads, err := d.e.WarmLeads(r.Context(), owner, 200)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d.render(w, "warm", struct {
		page
		Owner string
		Leads []worker.WarmLead
	}{d.page(r, s, "Warm leads"), owner, leads})
}

func (d *Dashboard) prospects(w http.ResponseWriter, r *http.Request, s *Session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := struct {
		page
		Query, Error string
	}{page: d.page(r, s, "Prospects"), Query: q}
	if q != "" {
		pid, err := d.st.ProspectIDByEmail(r.Context(), q)
		if err != nil {
			if phone, perr := cadence.NormalizePhone(q, "US"); perr == nil {
				pid, err = d.st.ProspectIDByPhone(r.Context(), phone)
			}
		}
		if err == nil {
			http.Redirect(w, r, "/prospects/"+url.PathEscape(pid), http.StatusSeeOther)
			return
		}
		data.Error = "No prospect with that email or phone."
	}
	d.render(w, "prospects", data)
}

type enrollmentView struct {
	E        cadence.Enrollment
	Next     string
	Timeline []cadence.Entry
}

// prospect shows a prospect's consent and every enrollment's timeline:
// why the prospect is where it is.
func (d *Dashboard) prospect(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	pid := r.PathValue("id")
	p, err := d.st.Prospect(ctx, pid)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	consent, err := d.st.ConsentLog(ctx, pid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ids, err := d.e.ProspectEnrollments(ctx, pid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var views []enrollmentView
	for _, id := range ids {
		l, err := d.st.Enrollment(ctx, id)
		if err != nil {
			continue
		}
		tl, _ := d.e.Timeline(ctx, id)
		for i, j := 0, len(tl)-1; i < j; i, j = i+1, j-1 {
			tl[i], tl[j] = tl[j], tl[i] // newest first
		}
		v := enrollmentView{E: l.Enrollment, Timeline: tl}
		if c, err := d.e.Cadence(l.Enrollment.CadenceID); err == nil && !l.Enrollment.State.Terminal() {
			if t := c.TouchAt(l.Enrollment.Stage, l.Enrollment.Step); t != nil {
				v.Next = t.ID
			}
		}
		views = append(views, v)
	}
	d.render(w, "prospect", struct {
		page
		Prospect    *store.Prospect
		Consent     []store.ConsentChange
		Enrollments []enrollmentView
	}{d.page(r, s, "Prospect"), p, consent, views})
}

func (d *Dashboard) outbox(w http.ResponseWriter, r *http.Request, s *Session) {
	if d.cfg.Outbox == nil {
		http.NotFound(w, r)
		return
	}
	msgs := d.cfg.Outbox.Messages()
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	if len(msgs) > 200 {
		msgs = msgs[:200]
	}
	d.render(w, "outbox", struct {
		page
		Messages []channels.OutboxMessage
	}{d.page(r, s, "Outbox"), msgs})
}

// back returns a same-site path to go back to.
func back(r *http.Request, fallback string) string {
	b := r.PostForm.Get("back")
	if !strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//") {
		return fallback
	}
	return b
}

func withFlash(path, msg string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "flash=" + url.QueryEscape(msg)
}

// act pauses, resumes, snoozes (3 days) or stops one enrollment; sales and
// admin may all do this. It acts at once and returns to the page.
func (d *Dashboard) act(w http.ResponseWriter, r *http.Request, s *Session) {
	eid := r.PathValue("eid")
	ev := cadence.Event{By: string(s.Role) + ":" + s.Name, Reason: "from the dashboard"}
	switch r.PathValue("action") {
	case "pause":
		ev.Kind = cadence.EvPaused
	case "resume":
		ev.Kind, ev.Reason = cadence.EvResumed, ""
	case "snooze":
		ev.Kind, ev.Until = cadence.EvSnoozed, d.e.Clock().Add(72*time.Hour)
	case "stop":
		ev.Kind = cadence.EvStopped
	default:
		http.NotFound(w, r)
		return
	}
	to := back(r, "/prospects/"+url.PathEscape(store.ProspectOf(eid)))
	if _, err := d.e.Apply(r.Context(), eid, ev); err != nil {
		http.Redirect(w, r, withFlash(to, "Not done: "+err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, withFlash(to, fmt.Sprintf("%s: %s done.", eid, r.PathValue("action"))), http.StatusSeeOther)
}

// bulkPause pauses every enrollment of an owner, optionally until a date.
func (d *Dashboard) bulkPause(w http.ResponseWriter, r *http.Request, s *Session) {
	owner := strings.TrimSpace(r.PostForm.Get("owner"))
	if owner == "" {
		http.Redirect(w, r, withFlash("/warm", "Give an owner."), http.StatusSeeOther)
		return
	}
	ev := cadence.Event{Kind: cadence.EvPaused, By: string(s.Role) + ":" + s.Name, Reason: "owner on holiday"}
	if u := r.PostForm.Get("until"); u != "" {
		t, err := time.Parse("2006-01-02", u)
		if err != nil {
			http.Redirect(w, r, withFlash("/warm", "Until must be a date."), http.StatusSeeOther)
			return
		}
		ev.Until = t
	}
	res, err := d.e.Bulk(r.Context(), owner, "", ev)
	if err != nil {
		http.Redirect(w, r, withFlash("/warm", "Not done: "+err.Error()), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, withFlash("/warm?owner="+url.QueryEscape(owner), fmt.Sprintf("Paused %d enrollments of %s (%d skipped).", res.Changed, owner, res.Skipped)), http.StatusSeeOther)
}

// Package dashboard is Nurture's web UI for marketers and sales. A rep's
// home is their warm leads (warm.go): who replied, to what and how long
// ago, one button for what to do next, Undo after every action
// (actions.go) and a holiday pause of their own book. Everyone sees the
// cadence funnels and per-touch rates; admins also pick any owner's leads
// and open the queue monitor. Prospect pages tell each enrollment's
// timeline in sentences, in the prospect's time zone (timeline.go); in
// development the outbox shows what was sent. The mailboxes page shows
// each sender mailbox's day against its limits (mailboxes.go); when a
// bounce or complaint brake stops a mailbox or a cadence, every page says
// so and admins resume it from there. Pages are server-rendered Go
// templates embedded in the binary, with no JavaScript, and fit a 390 px
// phone. Login is by API token (same-origin only, failed attempts limited
// per address), the session is a cookie signed with a key every replica
// shares and revoked in Redis on logout (session.go), and every form
// carries a CSRF token bound to the session. Error pages show a request
// id; the detail is in the log (errors.go).
package dashboard

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
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
	// SessionKey signs session cookies; at least 32 bytes, the same on
	// every replica. Derive it with SessionKey(NURTURE_TOKEN_KEY).
	SessionKey []byte
	// TrustProxy counts failed logins against the last X-Forwarded-For
	// address instead of the TCP peer. Set it only behind a reverse proxy
	// that appends the client address to X-Forwarded-For; otherwise any
	// client can claim any address and escape the login limit.
	TrustProxy bool
	Logger     *slog.Logger
}

// Dashboard serves the UI.
type Dashboard struct {
	cfg    Config
	e      *worker.Engine
	st     *store.Store
	signer *tokens.Signer
	creds  []credential // one per Config.Tokens, same order
	tmpl   *template.Template
	mux    *http.ServeMux

	ownerCache ownerList
	// monitor says the queue monitor is mounted (RequireAdmin was used).
	monitor atomic.Bool
	// now is the clock of session expiry (nil: time.Now); tests set it.
	now func() time.Time
}

// Session is a logged-in user.
type Session struct {
	Name string
	Role server.Role
	CSRF string

	id      string
	expires time.Time
}

// New builds the dashboard.
func New(cfg Config) (*Dashboard, error) {
	if cfg.Engine == nil {
		return nil, errors.New("dashboard: Engine is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("dashboard: SessionKey of at least 32 bytes is required (dashboard.SessionKey(token key))")
	}
	signer, err := tokens.NewSigner(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	creds := make([]credential, len(cfg.Tokens))
	for i, t := range cfg.Tokens {
		creds[i] = credential{name: t.Name, role: t.Role, fp: fingerprint(cfg.SessionKey, t.Secret)}
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	d := &Dashboard{cfg: cfg, e: cfg.Engine, st: cfg.Engine.Store(), signer: signer, creds: creds, tmpl: t, mux: http.NewServeMux()}
	d.mux.HandleFunc("GET /login", d.loginPage)
	d.mux.HandleFunc("POST /login", d.login)
	d.mux.HandleFunc("POST /logout", d.authed(d.logout))
	d.mux.HandleFunc("GET /{$}", d.authed(d.home))
	d.mux.HandleFunc("GET /cadences", d.authed(d.cadences))
	d.mux.HandleFunc("GET /cadences/{id}", d.authed(d.cadence))
	d.mux.HandleFunc("GET /cadences/{id}/versions", d.authed(d.versions))
	d.mux.HandleFunc("POST /cadences/{id}/rollback", d.authed(d.rollback))
	d.mux.HandleFunc("POST /cadences/{id}/publish", d.publishForm(d.authed(d.publish))) // versions.go
	d.mux.HandleFunc("GET /publish", d.authed(d.publishPage))
	d.mux.HandleFunc("POST /publish", d.publishForm(d.authed(d.publish)))
	d.mux.HandleFunc("GET /warm", d.authed(d.warm))
	d.mux.HandleFunc("GET /prospects", d.authed(d.prospects))
	d.mux.HandleFunc("GET /prospects/{id}", d.authed(d.prospect))
	d.mux.HandleFunc("GET /outbox", d.authed(d.outbox))
	d.mux.HandleFunc("GET /holiday", d.authed(d.holiday))
	d.mux.HandleFunc("POST /act/{eid}/{action}", d.authed(d.act))
	d.mux.HandleFunc("POST /undo", d.authed(d.undo))
	d.mux.HandleFunc("POST /bulk/pause", d.authed(d.bulkPause))
	d.mux.HandleFunc("GET /mailboxes", d.authed(d.mailboxes))
	d.mux.HandleFunc("POST /mailboxes/resume", d.authed(d.resumeSending))
	d.routesPreview() // previews, test sends and message documents (preview.go)
	return d, nil
}

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'")
	d.mux.ServeHTTP(w, withRequestID(w, r))
}

// RequireAdmin lets only a logged-in admin through to h (the queue
// monitor, mounted at /monitor/); others are sent to log in or refused
// with a page that leads home. Using it puts the monitor in admins' menu.
func (d *Dashboard) RequireAdmin(h http.Handler) http.Handler {
	d.monitor.Store(true)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := d.session(r)
		switch {
		case err != nil:
			d.fail(w, r, nil, err, "")
		case s == nil:
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		case s.Role != server.RoleAdmin:
			d.forbidden(w, r, s, "The queue monitor is for admins",
				"You are logged in as "+s.Name+" ("+string(s.Role)+"). The queue monitor shows the workers' task queues; an admin token opens it.")
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
	"percent":      func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"minAB":        func() int { return worker.MinABSends },
	"minABEvents":  func() int { return worker.MinABEvents },
	"excerptChars": func() int { return server.ExcerptChars },
	"prospectOf":   store.ProspectOf,
	// when is a time in UTC, where no prospect's zone applies.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"name":     displayName,
	"window":   func(c *cadence.Cadence, t *cadence.Touch) string { return c.WindowFor(t).String() },
	"humanize": humanize,
	"plural":   plural,
	"words":    func(s string) string { return stateWords(cadence.State(s)) },
}

type page struct {
	Title   string
	Session *Session
	Banner  string
	Flash   string
	// Undo is the flash's undo token, while it may be used.
	Undo    string
	Back    string
	Outbox  bool
	Monitor bool
	// Mailboxes puts the mailboxes page in the menu (a mailboxes file is
	// loaded).
	Mailboxes bool
	// Brakes are the send brakes that are on, for the banner.
	Brakes []brakeView
	// Nav is the menu entry of the page.
	Nav string
}

func (d *Dashboard) page(r *http.Request, s *Session, title string) page {
	p := page{Title: title, Session: s, Banner: d.cfg.Banner, Flash: d.flash(r), Outbox: d.cfg.Outbox != nil,
		Monitor: d.monitor.Load() && isAdmin(s), Back: pathWithQuery(r), Mailboxes: d.e.Senders() != nil}
	if s != nil {
		p.Brakes = d.brakes(r.Context()) // logged-in pages only: brakes are not for the login page
	}
	if p.Flash != "" {
		p.Undo = d.usableUndo(r, s)
	}
	return p
}

// Admin reports whether the page is an admin's.
func (p page) Admin() bool { return isAdmin(p.Session) }

// forbidden answers 403 with a page that says why and leads home.
func (d *Dashboard) forbidden(w http.ResponseWriter, r *http.Request, s *Session, title, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	d.render(w, r, http.StatusForbidden, "forbidden", errorData{page: d.page(r, s, title), Message: msg})
}

// render executes a page into a buffer, so that a template error becomes
// an error page instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := d.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		id := d.logInternal(w, r, fmt.Errorf("render %s: %w", name, err))
		http.Error(w, "Something went wrong on our side. Request id "+id+".", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// authed requires a session, and a matching CSRF token on POST.
func (d *Dashboard) authed(h func(http.ResponseWriter, *http.Request, *Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := d.session(r)
		if err != nil {
			d.fail(w, r, nil, err, "")
			return
		}
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

// home is a rep's warm leads, an admin's cadences.
func (d *Dashboard) home(w http.ResponseWriter, r *http.Request, s *Session) {
	if isAdmin(s) {
		d.cadences(w, r, s)
		return
	}
	d.warm(w, r, s)
}

type enrollmentView struct {
	E        cadence.Enrollment
	Cadence  string
	Status   []part
	Handled  *store.HandledMark
	Actions  actionsView
	Timeline []line
}

// prospect shows a prospect's consent and every enrollment's timeline:
// why the prospect is where it is, in sentences and the prospect's zone.
func (d *Dashboard) prospect(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	pid := r.PathValue("id")
	const msg = "The prospect could not be loaded."
	p, err := d.st.Prospect(ctx, pid)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	consent, err := d.st.ConsentLog(ctx, pid)
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	ids, err := d.e.ProspectEnrollments(ctx, pid)
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	marks, err := d.st.HandledMarks(ctx, ids)
	if err != nil {
		d.fail(w, r, s, err, msg)
		return
	}
	now := d.e.Clock()
	here := pathWithQuery(r)
	var first *cadence.Cadence
	var views []enrollmentView
	for i, id := range ids {
		l, err := d.st.Enrollment(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
		tl, err := d.e.Timeline(ctx, id)
		if err != nil {
			d.fail(w, r, s, err, msg)
			return
		}
		e := l.Enrollment
		c, _ := d.e.Cadence(e.CadenceID)
		if first == nil {
			first = c
		}
		loc, _ := zoneOf(p, c)
		v := enrollmentView{E: e, Cadence: cadenceName(c), Timeline: describe(c, tl, loc, now)}
		if c == nil {
			v.Cadence = humanize(e.CadenceID)
		} else {
			v.Status = status(c, &e, tl, loc, now)
		}
		handled := e.State == cadence.Warm && marks[i].Covers(lastReply(tl))
		if handled {
			v.Handled = marks[i]
		}
		v.Actions = actionsFor(e, s.CSRF, here, displayName(p), v.Cadence, handled)
		views = append(views, v)
	}
	loc, zone := zoneOf(p, first)
	var changes []consentView
	for _, ch := range consent {
		changes = append(changes, consentView{ConsentChange: ch, At: stamp{T: ch.At, loc: loc, now: now}})
	}
	pg := d.page(r, s, displayName(p))
	pg.Nav = "prospects"
	d.render(w, r, http.StatusOK, "prospect", struct {
		page
		Prospect    *store.Prospect
		Zone        string
		Consent     []consentView
		Enrollments []enrollmentView
	}{pg, p, zone, changes, views})
}

type consentView struct {
	store.ConsentChange
	At stamp
}

// back returns a same-site path to go back to.
func back(r *http.Request, fallback string) string {
	b := r.PostForm.Get("back")
	if !strings.HasPrefix(b, "/") || strings.HasPrefix(b, "//") {
		return fallback
	}
	return b
}

const flashKind = "dashboard-flash-v1"

// withFlash adds a message to show on the page after a redirect, and an
// undo token for its Undo button ("" for none). It is signed, so a link
// cannot make the dashboard show text of its choosing.
func (d *Dashboard) withFlash(path, msg, undo string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	path += sep + "flash=" + url.QueryEscape(d.signer.Sign(flashKind, msg))
	if undo != "" {
		path += "&undo=" + url.QueryEscape(undo)
	}
	return path
}

// flash returns the request's flash message if it is one we signed.
func (d *Dashboard) flash(r *http.Request) string {
	v := r.URL.Query().Get("flash")
	if v == "" {
		return ""
	}
	msg, err := d.signer.Verify(flashKind, v)
	if err != nil {
		return ""
	}
	return msg
}

// notDone is the flash for a failed action: the error itself when it is
// about the request, else a request id to find it in the log.
func (d *Dashboard) notDone(w http.ResponseWriter, r *http.Request, err error) string {
	if userFacing(err) {
		return "Not done: " + err.Error()
	}
	return "Not done: something went wrong on our side (request id " + d.logInternal(w, r, err) + ")."
}

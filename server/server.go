package server

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// Role is what a bearer token may do.
type Role string

const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleSales may read, and pause, resume, snooze and stop enrollments.
	RoleSales Role = "sales"
	// RoleInbound may only post to the inbound webhooks (POST
	// /webhooks/email): the credential of an email relay, useless for
	// anything else if it leaks.
	RoleInbound Role = "inbound"
)

// Token is one API credential.
type Token struct {
	Name   string
	Secret string
	Role   Role
}

// Config wires a Server.
type Config struct {
	Engine *worker.Engine
	Tokens []Token
	// PublicURL is the externally visible base URL; Twilio signs requests
	// against it, not against r.Host.
	PublicURL string
	// TwilioAuthToken verifies X-Twilio-Signature; empty disables the
	// Twilio webhooks (they answer 404).
	TwilioAuthToken string
	// Brand and HelpContact are used in SMS HELP and STOP replies.
	Brand, HelpContact string
	// Reload loads the cadence files again (POST /v1/cadences/reload);
	// nil disables reloading.
	Reload func() (map[string]*cadence.Cadence, error)
	// Spool, when set, keeps one-click unsubscribes and SMS STOPs that
	// arrive while Redis is unreachable, so they are acknowledged and
	// applied later (RunSpool) instead of refused.
	Spool *Spool
	// TrustUnverifiedReports applies bounce and complaint reports that name
	// none of our signed Message-IDs as if they did (suppressing the
	// address they name). Off by default: anyone can mail the bounce
	// address, so such reports are only recorded for review
	// (COMPLIANCE.md 23). For MTAs that return no headers at all.
	TrustUnverifiedReports bool
	Logger                 *slog.Logger
}

// Server serves the API, tracking and webhooks.
type Server struct {
	cfg Config
	e   *worker.Engine
	st  *store.Store
	log *slog.Logger
	mux *http.ServeMux
	// routes lists "METHOD /path" patterns, checked against the OpenAPI
	// document by tests.
	routes []string
}

// New builds a server.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("server: Engine is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Brand == "" {
		cfg.Brand = "Nurture"
	}
	for _, t := range cfg.Tokens {
		if len(t.Secret) < 16 {
			return nil, fmt.Errorf("server: API token %q is shorter than 16 characters", t.Name)
		}
		if t.Role != RoleAdmin && t.Role != RoleSales && t.Role != RoleInbound {
			return nil, fmt.Errorf("server: API token %q has unknown role %q (admin, sales or inbound)", t.Name, t.Role)
		}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{cfg: cfg, e: cfg.Engine, st: cfg.Engine.Store(), log: cfg.Logger, mux: http.NewServeMux()}
	s.routesAPI()
	s.routesInbound()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Routes lists the registered "METHOD /path" patterns.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// apiError is the JSON body of every API error.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, field, format string, args ...any) {
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: fmt.Sprintf(format, args...), Field: field}})
}

// fail maps engine errors to HTTP answers.
func (s *Server) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeErr(w, http.StatusNotFound, "not_found", "", "%v", err)
	case errors.Is(err, store.ErrAlreadyEnrolled):
		writeErr(w, http.StatusConflict, "already_enrolled", "", "%v", err)
	case errors.Is(err, store.ErrDuplicateAddress):
		writeErr(w, http.StatusConflict, "duplicate_address", "", "%v", err)
	case errors.Is(err, cadence.ErrInvalidTransition):
		writeErr(w, http.StatusConflict, "invalid_transition", "", "%v", err)
	case errors.Is(err, worker.ErrUnknownCadence):
		writeErr(w, http.StatusNotFound, "unknown_cadence", "cadence", "%v", err)
	default:
		s.internalError(w, http.StatusInternalServerError, "internal", err)
	}
}

type ctxKey struct{}

// allows reports whether a token of role may call a handler whose least
// role is minimum: admin may do everything; sales what is marked sales;
// inbound only what is marked inbound (the inbound webhooks), which sales
// may not.
func allows(minimum, role Role) bool {
	switch role {
	case RoleAdmin:
		return true
	case RoleSales:
		return minimum == RoleSales
	case RoleInbound:
		return minimum == RoleInbound
	}
	return false
}

// authed wraps a handler with bearer-token auth; minimum is the least
// role allowed (see allows).
func (s *Server) authed(minimum Role, h func(http.ResponseWriter, *http.Request, Token)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nurture"`)
			writeErr(w, http.StatusUnauthorized, "unauthorized", "", "a bearer token is required")
			return
		}
		for _, t := range s.cfg.Tokens {
			if subtle.ConstantTimeCompare([]byte(secret), []byte(t.Secret)) == 1 {
				if !allows(minimum, t.Role) {
					writeErr(w, http.StatusForbidden, "forbidden", "", "token %q (role %s) may not do this", t.Name, t.Role)
					return
				}
				h(w, r, t)
				return
			}
		}
		writeErr(w, http.StatusUnauthorized, "unauthorized", "", "unknown token")
	}
}

// RequireAdmin lets only requests with an admin bearer token through to
// h (/metrics on the public listener).
func (s *Server) RequireAdmin(h http.Handler) http.Handler {
	return s.authed(RoleAdmin, func(w http.ResponseWriter, r *http.Request, _ Token) { h.ServeHTTP(w, r) })
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API description served at /v1/openapi.json.
func OpenAPI() []byte { return openAPI }

// SiteConfig lists what Site serves besides the API.
type SiteConfig struct {
	// UI serves everything not matched elsewhere (the dashboard).
	UI http.Handler
	// Metrics serves /metrics.
	Metrics http.Handler
	// Monitor serves /monitor/ (the asynq queue monitor); it must do its
	// own authentication.
	Monitor http.Handler
}

// Site serves the API and inbound endpoints, /metrics, /monitor/ and the
// dashboard on one handler.
func Site(api *Server, c SiteConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/metrics" && c.Metrics != nil:
			c.Metrics.ServeHTTP(w, r)
		case (p == "/monitor" || strings.HasPrefix(p, "/monitor/")) && c.Monitor != nil:
			c.Monitor.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/v1/"), strings.HasPrefix(p, "/o/"), strings.HasPrefix(p, "/c/"), strings.HasPrefix(p, "/u/"),
			strings.HasPrefix(p, "/webhooks/"), p == "/healthz", p == "/readyz":
			api.ServeHTTP(w, r)
		case c.UI != nil:
			c.UI.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

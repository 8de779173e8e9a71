package dashboard

import (
	"context"
	"errors"
	"net/http"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
)

// Error pages show a short message and a request id; what went wrong
// (often an address or a Redis error) goes to the log under that id.

type requestIDKey struct{}

// withRequestID gives the request a random id, also sent as X-Request-Id.
func withRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	id := tokens.RandomHex(8)
	w.Header().Set("X-Request-Id", id)
	return r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
}

// requestID returns the request's id, making one for requests that did
// not come through ServeHTTP (RequireAdmin wraps another handler).
func requestID(w http.ResponseWriter, r *http.Request) string {
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		return id
	}
	id := tokens.RandomHex(8)
	w.Header().Set("X-Request-Id", id)
	return id
}

// userFacing reports whether err is about what the user asked for (an
// unknown enrollment, a transition that does not apply) rather than a
// failure of ours, so that its text may be shown.
func userFacing(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, cadence.ErrInvalidTransition) ||
		errors.Is(err, cadence.ErrStale) || errors.Is(err, store.ErrConflict)
}

// logInternal logs an internal error under the request id and returns
// the id.
func (d *Dashboard) logInternal(w http.ResponseWriter, r *http.Request, err error) string {
	id := requestID(w, r)
	d.cfg.Logger.Error("dashboard: internal error", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
	return id
}

type errorData struct {
	page
	Message   string
	RequestID string
}

// fail answers 500 with msg (or a generic message) and the request id;
// err goes to the log only. s may be nil.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, s *Session, err error, msg string) {
	id := d.logInternal(w, r, err)
	if msg == "" {
		msg = "Something went wrong on our side."
	}
	w.Header().Set("Cache-Control", "no-store")
	p := page{Title: "Error", Session: s, Banner: d.cfg.Banner, Outbox: d.cfg.Outbox != nil}
	d.render(w, r, http.StatusInternalServerError, "error", errorData{page: p, Message: msg, RequestID: id})
}

package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/nurture-dev/nurture/tokens"
)

// Timeouts bound how long one connection may hold a listener, so slow or
// stalled clients cannot pin connections and memory.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers.
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included.
	Read time.Duration
	// Write bounds the handler and writing the response.
	Write time.Duration
	// Idle bounds a keep-alive connection waiting for its next request.
	Idle time.Duration
	// Stream is the read and write budget of streaming routes (the bulk
	// import), which take large bodies: larger than Read, still finite.
	Stream time.Duration
}

// DefaultTimeouts suit the API, tracking, webhooks and the dashboard; a
// 64 MiB bulk import at 1 Mbit/s fits in Stream.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second,
	Idle: 120 * time.Second, Stream: 10 * time.Minute}

// streamingRoutes get Timeouts.Stream instead of Read and Write.
var streamingRoutes = map[string]bool{"/v1/enrollments/bulk": true}

// NewHTTPServer wraps h in an http.Server with every timeout set.
func NewHTTPServer(h http.Handler, t Timeouts, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if streamingRoutes[r.URL.Path] && t.Stream > 0 {
			// Deadlines are per connection; extending them here applies to
			// this request only (the next one on the connection starts with
			// the server's again).
			rc := http.NewResponseController(w)
			deadline := time.Now().Add(t.Stream)
			if err := rc.SetReadDeadline(deadline); err != nil {
				log.Warn("streaming route: cannot extend the read deadline", "path", r.URL.Path, "err", err)
			}
			_ = rc.SetWriteDeadline(deadline)
		}
		inner.ServeHTTP(w, r)
	})
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// NewRequestID returns a random id that ties an error answer to its log
// line.
func NewRequestID() string { return tokens.RandomHex(8) }

// internalError answers a 5xx without its cause, which goes to the log
// under a request id the answer carries (X-Request-Id and the message).
func (s *Server) internalError(w http.ResponseWriter, status int, code string, err error) {
	id := s.logInternal(w, status, err)
	msg := "internal error"
	if status == http.StatusServiceUnavailable {
		msg = "temporarily unavailable, try again shortly"
	}
	writeErr(w, status, code, "", "%s (request id %s)", msg, id)
}

// internalText is internalError for plain-text answers (tracking pages,
// webhooks).
func (s *Server) internalText(w http.ResponseWriter, status int, text string, err error) {
	id := s.logInternal(w, status, err)
	http.Error(w, text+" (request id "+id+")", status)
}

// logInternal logs an internal failure under a new request id, sets
// X-Request-Id and returns the id for the answer's text.
func (s *Server) logInternal(w http.ResponseWriter, status int, err error) string {
	id := NewRequestID()
	s.log.Error("request failed", "request_id", id, "status", status, "err", err)
	w.Header().Set("X-Request-Id", id)
	return id
}

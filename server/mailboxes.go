package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/nurture-dev/nurture/worker"
)

// mailboxJSON is one sender mailbox's day.
type mailboxJSON struct {
	ID      string   `json:"id"`
	From    string   `json:"from"`
	Owners  []string `json:"owners,omitempty"`
	Pools   []string `json:"pools,omitempty"`
	Relay   string   `json:"relay,omitempty"`
	Limits  limits   `json:"limits"`
	Warmup  *warmup  `json:"warmup,omitempty"`
	Zone    string   `json:"time_zone"`
	Today   int      `json:"sent_today"`
	DayCap  int      `json:"limit_today,omitempty"`
	Slow    int      `json:"slow_down_factor"`
	Brake   string   `json:"brake,omitempty"`
	Sending bool     `json:"sending"`
}

type limits struct {
	PerMinute int `json:"per_minute,omitempty"`
	PerHour   int `json:"per_hour,omitempty"`
	PerDay    int `json:"per_day,omitempty"`
}

type warmup struct {
	Start  int       `json:"start"`
	Growth float64   `json:"growth"`
	Since  time.Time `json:"since"`
}

// mailboxes lists the sender mailboxes with today's sends against today's
// limit, slow-downs and brakes, and every brake that is on.
func (s *Server) mailboxes(w http.ResponseWriter, r *http.Request, _ Token) {
	sts, err := s.e.MailboxStatuses(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	brakes, err := s.e.Brakes(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]mailboxJSON, 0, len(sts))
	for _, st := range sts {
		m := st.Mailbox
		j := mailboxJSON{ID: m.ID, From: m.From(), Owners: m.Owners, Pools: m.Pools, Relay: m.Relay, Zone: m.Zone.String(),
			Limits: limits{m.Limits.PerMinute, m.Limits.PerHour, m.Limits.PerDay}, Today: st.Today, DayCap: st.Cap, Slow: st.Slow,
			Brake: st.Brake, Sending: st.Brake == ""}
		if w := m.Warmup; w != nil {
			j.Warmup = &warmup{w.Start, w.Growth, w.Since}
		}
		out = append(out, j)
	}
	type brakeJSON struct {
		Kind       string    `json:"kind"`
		ID         string    `json:"id"`
		Reason     string    `json:"reason"`
		Since      time.Time `json:"since"`
		Sends      int       `json:"sends"`
		Bounces    int       `json:"bounces"`
		Complaints int       `json:"complaints"`
	}
	bs := make([]brakeJSON, 0, len(brakes))
	for _, b := range brakes {
		bs = append(bs, brakeJSON{b.Kind, b.ID, b.Reason, b.At, b.Sends, b.Bounces, b.Complain})
	}
	writeJSON(w, http.StatusOK, map[string]any{"configured": s.e.Senders() != nil, "mailboxes": out, "brakes": bs})
}

// resumeSending lifts a brake: POST /v1/mailboxes/{id}/resume or
// /v1/cadences/{id}/resume-sending.
func (s *Server) resumeSending(kind string) func(http.ResponseWriter, *http.Request, Token) {
	return func(w http.ResponseWriter, r *http.Request, t Token) {
		id := r.PathValue("id")
		if kind == "mailbox" && s.e.Senders().Mailbox(id) == nil {
			writeErr(w, http.StatusNotFound, "not_found", "id", "mailbox %q is not configured (NURTURE_MAILBOXES)", id)
			return
		}
		err := s.e.ResumeSending(r.Context(), kind, id, "api:"+t.Name)
		switch {
		case errors.Is(err, worker.ErrNoBrake):
			writeErr(w, http.StatusConflict, "no_brake", "", "%v", err)
		case err != nil:
			s.fail(w, err)
		default:
			writeJSON(w, http.StatusOK, map[string]string{"resumed": kind + " " + id})
		}
	}
}

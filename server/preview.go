package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/worker"
)

// Touch previews and test sends (worker.Engine.Preview and SendTest).
// Both are open to sales: a preview reads, and a test goes only to the
// address the caller typed, limited per token (worker.TestSendLimit per
// worker.TestSendWindow), so a rep can check a touch in their own inbox.

// previewView is a rendered touch in the API. Exactly one of held,
// skipped and deferred is set when the send path would not send the
// touch now; the content is there whenever it rendered.
type previewView struct {
	Cadence    string            `json:"cadence"`
	Touch      string            `json:"touch"`
	Stage      string            `json:"stage"`
	Channel    cadence.Channel   `json:"channel"`
	Variant    string            `json:"variant"`
	Variants   []string          `json:"variants"`
	Template   string            `json:"template"`
	Prospect   string            `json:"prospect"`
	Enrollment string            `json:"enrollment"`
	Enrolled   bool              `json:"enrolled"`
	State      cadence.State     `json:"state,omitempty"`
	Current    bool              `json:"current"`
	DueAt      *time.Time        `json:"due_at,omitempty"`
	From       string            `json:"from"`
	ReplyTo    string            `json:"reply_to,omitempty"`
	To         string            `json:"to"`
	Subject    string            `json:"subject,omitempty"`
	Text       string            `json:"text,omitempty"`
	HTML       string            `json:"html,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	MessageID  string            `json:"message_id,omitempty"`
	SMS        string            `json:"sms,omitempty"`
	Segments   int               `json:"segments,omitempty"`
	Encoding   string            `json:"encoding,omitempty"`
	Chars      int               `json:"chars,omitempty"`
	Rendered   bool              `json:"rendered"`
	// Verdict is send, defer, hold or skip.
	Verdict       cadence.Verdict `json:"verdict"`
	Held          string          `json:"held,omitempty"`
	Skipped       string          `json:"skipped,omitempty"`
	Deferred      string          `json:"deferred,omitempty"`
	DeferredUntil *time.Time      `json:"deferred_until,omitempty"`
	Note          string          `json:"note,omitempty"`
}

func viewPreview(p *worker.Preview) previewView {
	v := previewView{Cadence: p.Cadence, Touch: p.Touch, Stage: p.Stage, Channel: p.Channel, Variant: p.Variant, Variants: p.Variants,
		Template: p.Template, Prospect: p.Prospect.ID, Enrollment: p.Enrollment, Enrolled: p.Enrolled, State: p.State, Current: p.Current,
		DueAt: timeOrNil(p.DueAt), From: p.From, ReplyTo: p.ReplyTo, To: p.To, Subject: p.Subject, Text: p.Text, HTML: p.HTML, Headers: p.Headers, MessageID: p.MessageID,
		SMS: p.SMS, Segments: p.Segments, Encoding: string(p.Encoding), Chars: p.Chars, Rendered: p.Rendered, Verdict: p.Verdict, Note: p.Note}
	switch p.Verdict {
	case cadence.Hold:
		v.Held = p.Reason
	case cadence.Skip:
		v.Skipped = p.Reason
	case cadence.Defer:
		v.Deferred, v.DeferredUntil = p.Reason, timeOrNil(p.Until)
	}
	return v
}

// previewTouch answers GET /v1/cadences/{id}/touches/{touch}/preview?
// prospect=ID|email|phone[&variant=]: the touch rendered for the prospect
// as it would be sent now, and why it would not be, if so. Nothing is sent
// or written.
func (s *Server) previewTouch(w http.ResponseWriter, r *http.Request, _ Token) {
	q := r.URL.Query()
	if q.Get("prospect") == "" {
		writeErr(w, http.StatusBadRequest, "missing_query", "prospect", "give prospect= (the prospect's id, email address or phone number)")
		return
	}
	p, err := s.e.Preview(r.Context(), r.PathValue("id"), r.PathValue("touch"), q.Get("prospect"), q.Get("variant"))
	if err != nil {
		s.previewFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewPreview(&p))
}

type testRequest struct {
	Prospect string `json:"prospect"`
	Variant  string `json:"variant"`
	To       string `json:"to"`
}

// testTouch answers POST /v1/cadences/{id}/touches/{touch}/test with
// {"prospect":…, "variant":…, "to":…}: the touch rendered for the prospect
// and sent to "to" only, marked as a test, untracked, changing nothing
// for the prospect.
func (s *Server) testTouch(w http.ResponseWriter, r *http.Request, t Token) {
	var req testRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	switch {
	case req.Prospect == "":
		writeErr(w, http.StatusBadRequest, "missing_field", "prospect", "prospect is required (the id, email address or phone number of the prospect to render for)")
		return
	case req.To == "":
		writeErr(w, http.StatusBadRequest, "missing_field", "to", "to is required (the email address or phone number the test goes to)")
		return
	}
	res, err := s.e.SendTest(r.Context(), r.PathValue("id"), r.PathValue("touch"), req.Prospect, req.Variant, req.To, string(t.Role)+":"+t.Name)
	if err != nil {
		s.previewFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sent": true, "remaining": res.Remaining, "limit": worker.TestSendLimit,
		"message": viewPreview(&res.Message)})
}

// previewFail answers a preview's or test send's error.
func (s *Server) previewFail(w http.ResponseWriter, err error) {
	var ue *worker.UnknownError
	var re *worker.RequestError
	var le *worker.TestLimitError
	var ce *channels.Error
	switch {
	case errors.As(err, &ue):
		writeErr(w, http.StatusNotFound, "unknown_"+ue.What, ue.What, "%v", err)
	case errors.As(err, &re):
		status := http.StatusBadRequest
		if re.Code == "to_blocked" || re.Code == "not_rendered" {
			status = http.StatusUnprocessableEntity
		}
		writeErr(w, status, re.Code, re.Field, "%v", err)
	case errors.As(err, &le):
		w.Header().Set("Retry-After", strconv.Itoa(int((le.RetryAfter+time.Second-1)/time.Second)))
		writeErr(w, http.StatusTooManyRequests, "test_limit", "", "%v", err)
	case errors.As(err, &ce):
		writeErr(w, http.StatusBadGateway, "send_failed", "to", "nothing was delivered: the provider refused the test (%v)", err)
	default:
		s.fail(w, err)
	}
}

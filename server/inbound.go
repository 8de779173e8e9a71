package server

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/inbound"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tracking"
)

func (s *Server) routesInbound() {
	s.handle("GET /o/{token}", s.open)
	s.handle("GET /c/{token}", s.click)
	s.handle("HEAD /c/{token}", s.click)
	s.handle("GET /u/{token}", s.unsubscribePage)
	s.handle("POST /u/{token}", s.unsubscribe)
	s.handle("POST /webhooks/twilio/sms", s.twilioSMS)
	s.handle("POST /webhooks/twilio/status/{token}", s.twilioStatus)
	s.handle("POST /webhooks/email", s.authed(RoleAdmin, s.inboundEmail))
}

// pixel is a transparent 1x1 GIF.
var pixel, _ = base64.StdEncoding.DecodeString("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

// open records an open and always answers the pixel: a forged token gets
// the same answer as a real one.
func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	if ref, err := tracking.Decode(s.e.Tokens(), tracking.KindOpen, r.PathValue("token")); err == nil {
		now := s.e.Clock()
		machine := tracking.MachineOpen(r.UserAgent(), ref.SentAt, now)
		ev := cadence.Event{Kind: cadence.EvOpened, At: now, Touch: ref.Touch, Channel: cadence.Email, Machine: machine, By: "pixel"}
		if err := s.once(r.Context(), "open:"+r.PathValue("token")+":"+boolKey(machine), func() error { return s.applyQuiet(r.Context(), ref.EID, ev) }); err != nil {
			s.log.Error("recording open", "err", err)
		}
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store, max-age=0")
	w.Write(pixel)
}

func boolKey(b bool) string {
	if b {
		return "m"
	}
	return "h"
}

// click records a click and redirects to the signed destination.
func (s *Server) click(w http.ResponseWriter, r *http.Request) {
	ref, err := tracking.Decode(s.e.Tokens(), tracking.KindClick, r.PathValue("token"))
	if err != nil || !tracking.AllowedDestination(ref.URL) {
		http.Error(w, "This link is not valid.", http.StatusNotFound)
		return
	}
	now := s.e.Clock()
	scanner := tracking.ScannerClick(r.Method, r.UserAgent(), ref.SentAt, now)
	ev := cadence.Event{Kind: cadence.EvClicked, At: now, Touch: ref.Touch, Channel: cadence.Email, Machine: scanner, By: "link", Reason: ref.URL}
	if scanner {
		ev.Reason = "scanner click (not counted): " + ref.URL
	}
	if err := s.applyQuiet(r.Context(), ref.EID, ev); err != nil {
		s.log.Error("recording click", "err", err)
	}
	http.Redirect(w, r, ref.URL, http.StatusFound)
}

// applyQuiet applies an event, ignoring transitions that no longer apply
// (a click on an old email of an ended enrollment).
func (s *Server) applyQuiet(ctx context.Context, eid string, ev cadence.Event) error {
	_, err := s.e.Apply(ctx, eid, ev)
	if errors.Is(err, cadence.ErrInvalidTransition) || errors.Is(err, cadence.ErrStale) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// once runs fn unless key was seen in the last week, so webhooks and
// pixels delivered twice change nothing.
func (s *Server) once(ctx context.Context, key string, fn func() error) error {
	k := s.st.Keys().Prefix + ":{idx}:seen:" + key
	ok, err := s.st.Redis().SetNX(ctx, k, 1, 7*24*time.Hour).Result()
	if err != nil || !ok {
		return err
	}
	if err := fn(); err != nil {
		s.st.Redis().Del(ctx, k)
		return err
	}
	return nil
}

var unsubTmpl = template.Must(template.New("u").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Unsubscribe</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">
{{if .Done}}<h1>You are unsubscribed</h1><p>You will get no more marketing email from us.</p>
{{else if .Bad}}<h1>This link is not valid</h1><p>It may have been cut short by your mail program.</p>
{{else}}<h1>Unsubscribe?</h1><p>Click the button to stop all marketing email from us.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>{{end}}
</body></html>`))

// unsubscribePage shows a confirmation; a GET never unsubscribes by itself
// (mail scanners follow links) (COMPLIANCE.md 12).
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	_, err := s.e.Tokens().Verify(tracking.KindUnsub, r.PathValue("token"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
	}
	unsubTmpl.Execute(w, map[string]bool{"Bad": err != nil})
}

// unsubscribe handles the RFC 8058 one-click POST (and the page's form):
// 200, no redirect, no login.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	eid, err := s.e.Tokens().Verify(tracking.KindUnsub, r.PathValue("token"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		unsubTmpl.Execute(w, map[string]bool{"Bad": true})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("List-Unsubscribe") != "One-Click" {
		w.WriteHeader(http.StatusBadRequest)
		unsubTmpl.Execute(w, map[string]bool{"Bad": true})
		return
	}
	ev := cadence.Event{Kind: cadence.EvUnsubscribed, At: s.e.Clock(), Channel: cadence.Email, By: "one-click", Reason: "List-Unsubscribe"}
	if err := s.applyQuiet(r.Context(), eid, ev); err != nil {
		if !s.spoolOptOut(spooled{Kind: "unsubscribe", EID: eid, Key: requestKey(r.PathValue("token")), At: ev.At}, err) {
			s.internalText(w, http.StatusServiceUnavailable, "Please try again in a minute.", err)
			return
		}
	}
	unsubTmpl.Execute(w, map[string]bool{"Done": true})
}

// twilioVerified checks X-Twilio-Signature against the public URL (not
// r.Host, which a proxy may have rewritten).
func (s *Server) twilioVerified(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.TwilioAuthToken == "" {
		w.Header().Set("Connection", "close")
		http.NotFound(w, r)
		return false
	}
	// The signature covers the body, so the body must be read; refuse
	// before reading anything a request that cannot carry a valid one
	// (HMAC-SHA1, base64: 28 characters) and keep the read small: Twilio's
	// webhook forms are a few kilobytes.
	if sig := r.Header.Get("X-Twilio-Signature"); len(sig) != 28 {
		// Closing the connection spares reading the unread body too.
		w.Header().Set("Connection", "close")
		http.Error(w, "invalid signature", http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return false
	}
	params := map[string]string{}
	for k, v := range r.PostForm {
		params[k] = v[0]
	}
	v := twclient.NewRequestValidator(s.cfg.TwilioAuthToken)
	if !v.Validate(s.cfg.PublicURL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature")) {
		http.Error(w, "invalid signature", http.StatusForbidden)
		return false
	}
	return true
}

func twiml(w http.ResponseWriter, message string) {
	w.Header().Set("Content-Type", "text/xml")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response>`)
	if message != "" {
		io.WriteString(w, "<Message>")
		template.HTMLEscape(w, []byte(message))
		io.WriteString(w, "</Message>")
	}
	io.WriteString(w, "</Response>")
}

// twilioSMS handles inbound SMS: STOP-family keywords opt the number out
// everywhere (one confirmation, no marketing), START-family restores it,
// HELP answers; anything else is a reply (COMPLIANCE.md 1-4).
func (s *Server) twilioSMS(w http.ResponseWriter, r *http.Request) {
	if !s.twilioVerified(w, r) {
		return
	}
	ctx := r.Context()
	from, body, sid := r.PostForm.Get("From"), r.PostForm.Get("Body"), r.PostForm.Get("MessageSid")
	if sid == "" || from == "" {
		http.Error(w, "MessageSid and From are required", http.StatusBadRequest)
		return
	}
	kw := inbound.SMSKeyword(body)
	reply := ""
	err := s.once(ctx, "sms:"+sid, func() error {
		pid, err := s.st.ProspectIDByPhone(ctx, from)
		if errors.Is(err, store.ErrNotFound) {
			// Unknown numbers still get the legally required answers.
			switch kw {
			case inbound.Help:
				reply = s.helpText()
			case inbound.Stop:
				reply = s.stopText()
			}
			return nil
		}
		if err != nil {
			return err
		}
		now := s.e.Clock()
		switch kw {
		case inbound.Stop:
			p, err := s.st.Prospect(ctx, pid)
			if err != nil {
				return err
			}
			if p.SMSBlocked != "" {
				// At most one confirmation follows an opt-out (COMPLIANCE.md 2).
				return nil
			}
			reply = s.stopText()
			return s.e.ProspectEvent(ctx, pid, cadence.Event{Kind: cadence.EvSMSOptOut, At: now, Channel: cadence.SMS, By: "sms " + from, Reason: strings.TrimSpace(body)})
		case inbound.Start:
			reply = s.cfg.Brand + ": you are subscribed again. Reply STOP to opt out."
			return s.e.ProspectEvent(ctx, pid, cadence.Event{Kind: cadence.EvSMSOptIn, At: now, Channel: cadence.SMS, By: "sms " + from, Reason: strings.TrimSpace(body)})
		case inbound.Help:
			reply = s.helpText()
			return nil
		}
		return s.replied(ctx, pid, cadence.Event{Kind: cadence.EvReplied, At: now, Channel: cadence.SMS, By: "sms", Reason: excerpt(body)})
	})
	if err != nil {
		// An opt-out is acknowledged even when Redis is down: it waits in
		// the spool, and the confirmation goes out now (COMPLIANCE.md 2).
		if kw == inbound.Stop && s.spoolOptOut(spooled{Kind: "sms_stop", Phone: from, Body: body, Key: sid, At: s.e.Clock()}, err) {
			twiml(w, s.stopText())
			return
		}
		s.internalText(w, http.StatusServiceUnavailable, "try again", err)
		return
	}
	twiml(w, reply)
}

func (s *Server) helpText() string {
	contact := s.cfg.HelpContact
	if contact == "" {
		contact = "reply to this message"
	}
	return s.cfg.Brand + ": marketing messages, up to a few per week. Help: " + contact + ". Msg&data rates may apply. Reply STOP to opt out."
}

func (s *Server) stopText() string {
	return s.cfg.Brand + ": you are unsubscribed and will get no more messages. Reply START to resubscribe."
}

func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 280 {
		s = s[:280] + "…"
	}
	return s
}

// replied marks a prospect's live enrollments replied: the lead turns warm
// in every cadence (or whatever each cadence's reply policy says).
func (s *Server) replied(ctx context.Context, pid string, ev cadence.Event) error {
	ids, err := s.e.ProspectEnrollments(ctx, pid)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.applyQuiet(ctx, id, ev); err != nil {
			return err
		}
	}
	return nil
}

// twilioStatus records delivery reports for a sent SMS.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) {
	if !s.twilioVerified(w, r) {
		return
	}
	payload, err := s.e.Tokens().Verify("s", r.PathValue("token"))
	eid, touch, ok := strings.Cut(payload, "|")
	if err != nil || !ok {
		http.Error(w, "invalid token", http.StatusNotFound)
		return
	}
	ctx := r.Context()
	status, code := r.PostForm.Get("MessageStatus"), r.PostForm.Get("ErrorCode")
	err = s.once(ctx, "smsstatus:"+r.PostForm.Get("MessageSid")+":"+status, func() error {
		now := s.e.Clock()
		switch {
		case status == "delivered":
			return s.applyQuiet(ctx, eid, cadence.Event{Kind: cadence.EvDelivered, At: now, Touch: touch, Channel: cadence.SMS, By: "twilio"})
		case code == "21610":
			return s.applyQuiet(ctx, eid, cadence.Event{Kind: cadence.EvSMSOptOut, At: now, Touch: touch, Channel: cadence.SMS, By: "twilio 21610", Reason: "carrier reports the number opted out"})
		}
		return nil
	})
	if err != nil {
		s.internalText(w, http.StatusServiceUnavailable, "try again", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// inboundEmail accepts a raw RFC 5322 message from an inbound relay.
func (s *Server) inboundEmail(w http.ResponseWriter, r *http.Request, _ Token) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 25<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "bad_body", "", "reading body: %v", err)
		return
	}
	res, err := s.ProcessEmail(r.Context(), raw)
	var bad *BadMessageError
	switch {
	case errors.As(err, &bad):
		writeErr(w, http.StatusBadRequest, "bad_message", "", "%v", bad.Err)
	case err != nil:
		s.fail(w, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// BadMessageError is returned for input that is not a usable email.
type BadMessageError struct{ Err error }

func (e *BadMessageError) Error() string { return "bad message: " + e.Err.Error() }
func (e *BadMessageError) Unwrap() error { return e.Err }

// EmailResult says what an inbound email was and whether it matched.
type EmailResult struct {
	Kind    inbound.Kind `json:"kind"`
	Matched bool         `json:"matched"`
}

// ProcessEmail classifies a raw inbound email and applies it: replies warm
// the lead, auto-replies snooze it, DSN reports bounce it, feedback-loop
// reports are complaints. A message seen before (by Message-ID) changes
// nothing. The webhook and the IMAP poller both use it.
func (s *Server) ProcessEmail(ctx context.Context, raw []byte) (EmailResult, error) {
	msg, err := inbound.ParseEmail(raw, s.e.Clock())
	if err != nil {
		return EmailResult{}, &BadMessageError{Err: err}
	}
	result := EmailResult{Kind: msg.Kind}
	err = s.once(ctx, "mail:"+msg.Key(), func() error {
		now := s.e.Clock()
		switch msg.Kind {
		case inbound.KindComplaint, inbound.KindBounce:
			pid, err := s.st.ProspectIDByEmail(ctx, msg.BounceRecipient)
			if err != nil {
				return nil
			}
			ids, err := s.e.ProspectEnrollments(ctx, pid)
			if err != nil {
				return err
			}
			result.Matched = true
			ev := cadence.Event{Kind: cadence.EvBounced, Hard: msg.Hard, At: now, Channel: cadence.Email, By: "dsn", Reason: msg.BounceStatus + " " + msg.BounceDiagnostic}
			if msg.Kind == inbound.KindComplaint {
				ev = cadence.Event{Kind: cadence.EvComplained, At: now, Channel: cadence.Email, By: "feedback loop", Reason: msg.Subject}
			}
			if len(ids) == 0 {
				if msg.Kind == inbound.KindComplaint || msg.Hard {
					reason := map[bool]string{true: "spam complaint", false: "hard bounce"}[msg.Kind == inbound.KindComplaint]
					_, err := s.st.SetConsent(ctx, pid, store.ConsentChange{At: now, Channel: cadence.Email, Blocked: reason, Source: ev.By})
					return err
				}
				return nil
			}
			return s.applyQuiet(ctx, ids[0], ev)
		}
		eids := s.matchReply(ctx, msg)
		result.Matched = len(eids) > 0
		for _, eid := range eids {
			ev := cadence.Event{Kind: cadence.EvReplied, At: now, Channel: cadence.Email, By: "email", Reason: excerpt(msg.Excerpt)}
			if msg.Kind == inbound.KindAutoReply {
				ev = cadence.Event{Kind: cadence.EvAutoReplied, At: now, Channel: cadence.Email, By: "email", Until: msg.ReturnDate, Reason: msg.Subject}
			}
			if err := s.applyQuiet(ctx, eid, ev); err != nil {
				return err
			}
		}
		return nil
	})
	return result, err
}

// matchReply finds the enrollments a reply belongs to: by our Message-IDs
// in In-Reply-To / References, else by the sender's address.
func (s *Server) matchReply(ctx context.Context, m *inbound.Email) []string {
	for _, id := range m.References {
		if eid, _, err := s.e.MessageOwner(ctx, id); err == nil {
			return []string{eid}
		}
	}
	pid, err := s.st.ProspectIDByEmail(ctx, m.From)
	if err != nil {
		return nil
	}
	ids, _ := s.e.ProspectEnrollments(ctx, pid)
	sort.Strings(ids)
	return ids
}

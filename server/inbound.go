package server

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
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
	s.handle("POST /webhooks/email", s.authed(RoleInbound, s.inboundEmail))
	s.handle("GET /v1/inbound/unverified", s.authed(RoleAdmin, s.unverifiedReports))
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
		if err := s.once(r.Context(), "open:"+r.PathValue("token")+":"+boolKey(machine), func() error { return s.applyQuiet(r.Context(), ref.EID, ev) }); err != nil && !errors.Is(err, errInFlight) {
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
	if value, err := oneClickValue(r); err != nil || value != "One-Click" {
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

// oneClickValue reads the List-Unsubscribe field of a one-click POST.
// RFC 8058 senders post application/x-www-form-urlencoded or
// multipart/form-data (its section 3.1 allows either); the body is
// already capped, and multipart parts stay in memory (files are not
// expected and never reach the disk: the cap is below the memory limit).
func oneClickValue(r *http.Request) (string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(64 << 10); err != nil {
			return "", err
		}
		defer r.MultipartForm.RemoveAll()
		return r.PostForm.Get("List-Unsubscribe"), nil
	}
	if err := r.ParseForm(); err != nil {
		return "", err
	}
	return r.PostForm.Get("List-Unsubscribe"), nil
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
// HELP answers (COMPLIANCE.md 1-4). Anything else is read by
// inbound.ClassifySMS: a request to stop in other words ("please don't
// text me again", "baja") or "wrong number" (the consent was someone
// else's) is handled exactly like STOP; an automatic answer ("I'm
// driving"), an out-of-office notice and "not now, try me in March"
// follow the cadence's reply policy for the class, as an email reply does
// (smsClassReply) — never a warm lead by themselves; the rest is a reply,
// counted against the last SMS touch sent to the number.
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
	arrived := s.e.Clock()
	kw := inbound.SMSKeyword(body)
	optOut, reason := kw == inbound.Stop, strings.TrimSpace(body)
	var class inbound.Classification
	if kw == inbound.None {
		class = inbound.ClassifySMS(body, arrived)
		if class.Class == inbound.ClassOptOut || class.Class == inbound.ClassWrongPerson {
			optOut, reason = true, class.Reason
		}
	}
	reply := ""
	_, err := s.onceSteps(ctx, "sms:"+sid, "", func(steps *progress) error {
		pid, err := s.st.ProspectIDByPhone(ctx, from)
		if errors.Is(err, store.ErrNotFound) {
			// Unknown numbers still get the legally required answers.
			switch {
			case kw == inbound.Help:
				reply = s.helpText()
			case optOut:
				reply = s.stopText()
			}
			return nil
		}
		if err != nil {
			return err
		}
		now := s.e.Clock()
		switch {
		case optOut:
			p, err := s.st.Prospect(ctx, pid)
			if err != nil {
				return err
			}
			if p.SMSBlocked != "" {
				// At most one confirmation follows an opt-out (COMPLIANCE.md 2).
				return nil
			}
			reply = s.stopText()
			return s.e.ProspectEvent(ctx, pid, cadence.Event{Kind: cadence.EvSMSOptOut, At: now, Channel: cadence.SMS, By: "sms " + from, Reason: reason})
		case kw == inbound.Start:
			reply = s.cfg.Brand + ": you are subscribed again. Reply STOP to opt out."
			return s.e.ProspectEvent(ctx, pid, cadence.Event{Kind: cadence.EvSMSOptIn, At: now, Channel: cadence.SMS, By: "sms " + from, Reason: strings.TrimSpace(body)})
		case kw == inbound.Help:
			reply = s.helpText()
			return nil
		case class.Class == inbound.ClassAutoReply || class.Class == inbound.ClassOutOfOffice || class.Class == inbound.ClassNotNow:
			return s.smsClassReply(ctx, steps, pid, class, body, now)
		}
		return s.smsReplied(ctx, steps, pid, cadence.Event{Kind: cadence.EvReplied, At: now, Channel: cadence.SMS, By: "sms", Reason: excerpt(body)})
	})
	switch {
	case errors.Is(err, errInFlight):
		// Twilio delivered the same message twice at once; the other
		// request answers it.
		s.internalText(w, http.StatusServiceUnavailable, "try again", err)
		return
	case err != nil:
		// An opt-out is acknowledged even when Redis is down: it waits in
		// the spool, and the confirmation goes out now (COMPLIANCE.md 2).
		if optOut && s.spoolOptOut(spooled{Kind: "sms_stop", Phone: from, Body: body, Key: sid, At: arrived}, err) {
			twiml(w, s.stopText())
			return
		}
		s.internalText(w, http.StatusServiceUnavailable, "try again", err)
		return
	}
	twiml(w, reply)
}

// smsClassReply applies an SMS reply classified as an automatic answer
// ("I'm driving"), an out-of-office notice or "not now" the way an email
// reply of the class is applied: each of the prospect's enrollments by
// its own cadence's reply policy (reply.auto_reply, reply.out_of_office,
// reply.not_now; by default a snooze, to the day named when there is
// one), the enrollment that sent the last SMS with that touch.
func (s *Server) smsClassReply(ctx context.Context, steps *progress, pid string, class inbound.Classification, body string, now time.Time) error {
	ids, err := s.e.ProspectEnrollments(ctx, pid)
	if err != nil {
		return err
	}
	lastEID, lastTouch, err := s.lastSMSTouch(ctx, ids)
	if err != nil {
		return err
	}
	// touchFor gives the touch to the first enrollment.
	a := attribution{pid: pid, eids: make([]string, 0, len(ids))}
	if lastEID != "" {
		a.eids, a.touch = append(a.eids, lastEID), lastTouch
	}
	for _, id := range ids {
		if id != lastEID {
			a.eids = append(a.eids, id)
		}
	}
	msg := &inbound.Email{Kind: inbound.KindReply, Text: body, Excerpt: excerpt(body), Reply: class}
	switch class.Class {
	case inbound.ClassOutOfOffice:
		msg.ReturnOn = class.Until
	case inbound.ClassAutoReply:
		msg.Kind = inbound.KindAutoReply
		msg.Reply.Reason = "automatic SMS reply, not counted as a reply: " + excerpt(body)
	}
	for _, id := range a.eids {
		do, err := s.classAction(ctx, &a, id, class.Class, msg, now, viaSMS)
		if err != nil {
			return err
		}
		if err := steps.do(ctx, "apply:"+id, func() error { return do.apply(ctx) }); err != nil {
			return err
		}
	}
	return nil
}

// smsReplied marks a prospect's enrollments replied; the one that sent the
// last SMS gets the event with that touch, so the touch's replied counter
// counts it.
func (s *Server) smsReplied(ctx context.Context, steps *progress, pid string, ev cadence.Event) error {
	ids, err := s.e.ProspectEnrollments(ctx, pid)
	if err != nil {
		return err
	}
	lastEID, lastTouch, err := s.lastSMSTouch(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e := ev
		if id == lastEID {
			e.Touch = lastTouch
		}
		if err := steps.do(ctx, "apply:"+id, func() error { return s.applyQuiet(ctx, id, e) }); err != nil {
			return err
		}
	}
	return nil
}

// lastSMSTouch finds the last SMS touch sent to a prospect among its
// enrollments, from their timelines (the send history keeps times and
// cadences, not touches): one timeline read per enrollment.
func (s *Server) lastSMSTouch(ctx context.Context, ids []string) (eid, touch string, err error) {
	var at time.Time
	for _, id := range ids {
		tl, err := s.st.Timeline(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		for i := len(tl) - 1; i >= 0; i-- {
			if en := tl[i]; en.Kind == string(cadence.EvSent) && en.Channel == cadence.SMS && en.Touch != "" {
				if en.At.After(at) {
					at, eid, touch = en.At, id, en.Touch
				}
				break
			}
		}
	}
	return eid, touch, nil
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

// ExcerptChars is how many characters of a reply its timeline line (and
// the warm-lead list) keeps; Nurture stores no more of it.
const ExcerptChars = 280

// excerpt is s with its white space collapsed, cut after ExcerptChars
// characters (never inside one) with "…" when longer.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	n := 0
	for i := range s {
		if n == ExcerptChars {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// twilioStatus records delivery reports for a sent SMS: delivered counts
// for the touch, error 21610 opts the number out, and any other failed or
// undelivered report is a timeline line on the touch, with Twilio's error
// code.
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
		case status == "failed" || status == "undelivered":
			if _, err := s.st.Enrollment(ctx, eid); errors.Is(err, store.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			return s.st.AppendTimeline(ctx, eid, cadence.Entry{At: now, Kind: "delivery_failed", Touch: touch, Channel: cadence.SMS, By: "twilio", Reason: smsFailure(status, code)})
		}
		return nil
	})
	if err != nil {
		s.internalText(w, http.StatusServiceUnavailable, "try again", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// twilioErrors name the Twilio error codes a failed or undelivered SMS
// most often carries.
var twilioErrors = map[string]string{
	"30001": "queue overflow",
	"30002": "account suspended",
	"30003": "unreachable destination handset",
	"30004": "message blocked",
	"30005": "unknown destination handset",
	"30006": "landline or unreachable carrier",
	"30007": "filtered by the carrier",
	"30008": "unknown error",
	"30034": "sender number not registered for A2P 10DLC",
	"21211": "invalid 'To' number",
	"21408": "region not enabled",
	"21612": "cannot route to this number",
	"21614": "not a mobile number",
}

// smsFailure is the timeline reason of a failed or undelivered report.
func smsFailure(status, code string) string {
	reason := "Twilio reports the SMS " + status
	switch {
	case code == "":
		return reason + " (no error code)"
	case len(code) > 10:
		code = code[:10]
	}
	reason += ": error " + code
	if name, ok := twilioErrors[code]; ok {
		reason += " (" + name + ")"
	}
	return reason
}

// MaxInboundEmail is the largest raw message /webhooks/email reads.
const MaxInboundEmail = 25 << 20

// inboundEmail accepts a raw RFC 5322 message from an inbound relay.
func (s *Server) inboundEmail(w http.ResponseWriter, r *http.Request, _ Token) {
	// A message over the limit is refused whole: a truncated copy would
	// lose the parts (the returned message, its Message-ID) that matter.
	if r.ContentLength > MaxInboundEmail {
		writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "", "message is larger than the %s limit; nothing was processed", sizeText(MaxInboundEmail))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInboundEmail))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "", "message is larger than the %s limit; nothing was processed", sizeText(MaxInboundEmail))
		return
	case err != nil:
		writeErr(w, http.StatusBadRequest, "bad_body", "", "reading body: %v", err)
		return
	}
	res, err := s.ProcessEmail(r.Context(), raw)
	var bad *BadMessageError
	switch {
	case errors.As(err, &bad):
		writeErr(w, http.StatusBadRequest, "bad_message", "", "%v", bad.Err)
	case errors.Is(err, errInFlight):
		inFlight(w)
	case err != nil:
		s.fail(w, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

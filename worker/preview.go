package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/templates"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
)

// Previews and test sends.
//
// A preview renders one touch for one prospect through the send path's
// own steps — the send-time gate (with the prospect's recent sends when a
// cap applies), the sending-domain pause, render (templates, variant,
// tracking links, open pixel, unsubscribe footer, size caps) and the MIME
// message the sender builds — as if the touch were due now, and stops
// before the journal: nothing is sent, journaled, counted or changed.
//
// A test send renders the same way and sends the result to an address or
// number a person typed, never to the prospect, with the subject (or SMS
// body) prefixed "[Test] " and, for email, the header X-Nurture-Test: 1.
// It must not be able to act for the prospect, so it is untracked (no open
// pixel, links go straight to their destinations), its unsubscribe links
// point at InertUnsubscribePath (which unsubscribes nobody), its
// Message-ID is random and unsigned (a reply or bounce names no
// enrollment), an SMS has no status callback, and a threaded email is not
// threaded. It touches no enrollment, ledger, send history, cap or
// counter. A person may send TestSendLimit of them per TestSendWindow
// (wall clock, kept in Redis under its own hash tag), and never to an
// address or number that is suppressed or opted out.

// Preview is a touch rendered for a prospect as the send path would render
// it now.
type Preview struct {
	Cadence  string
	Touch    string
	Stage    string
	Channel  cadence.Channel
	Template string
	// Variant is the variant rendered: the one asked for, else the one the
	// send path picks for the prospect's enrollment. Variants lists the
	// touch's variants in order.
	Variant  string
	Variants []string

	Prospect *store.Prospect
	// Enrollment is the prospect's enrollment in the cadence, or its would-be
	// id when there is none (Enrolled false); State is its state.
	Enrollment string
	Enrolled   bool
	State      cadence.State
	// Current reports whether this touch is the enrollment's next one;
	// DueAt is then when it is due.
	Current bool
	DueAt   time.Time

	// From is the sender (an address, or an SMS number or messaging
	// service); To the prospect's address or number.
	From, ReplyTo, To string

	// Email, as handed to the sender: HTML carries the tracking links and
	// the open pixel, Text and HTML the unsubscribe footer when the
	// template has no link of its own. Headers are the message's headers
	// that the engine sets besides From, To and Subject (Message-ID,
	// In-Reply-To, References, List-Unsubscribe, List-Unsubscribe-Post,
	// X-Nurture-Touch …), as the sender writes them.
	Subject, Text, HTML string
	Headers             map[string]string
	MessageID           string

	// SMS is the body of an SMS touch, with its segment count, encoding and
	// length in characters (COMPLIANCE.md 9).
	SMS      string
	Segments int
	Encoding templates.Encoding
	Chars    int

	// Verdict is what the send path would do with the touch if it were
	// due now: cadence.Send, cadence.Defer (until Until), cadence.Hold or
	// cadence.Skip, with the gate's (or render's) Reason.
	Verdict cadence.Verdict
	Reason  string
	Until   time.Time
	// Rendered reports whether the message rendered; when it did not
	// (missing data, over a size cap) the content fields are empty and
	// the hold reason says why.
	Rendered bool
	// Note says why the enrollment itself would not send this touch now
	// — not enrolled, paused, ended, at another touch — or is "".
	Note string

	email     *channels.Email
	sms       *channels.SMS
	renderErr error
}

// UnknownError is a preview or test send of a cadence, touch, prospect or
// variant that does not exist. It matches store.ErrNotFound.
type UnknownError struct {
	// What is "cadence", "touch", "prospect" or "variant".
	What string
	msg  string
}

func (e *UnknownError) Error() string        { return e.msg }
func (e *UnknownError) Is(target error) bool { return target == store.ErrNotFound }

// RequestError is a preview or test send refused for what was asked:
// Field names the input at fault ("prospect", "to", "by"; "" for none in
// particular) and Code a stable reason for programs.
type RequestError struct {
	Field, Code, Msg string
}

func (e *RequestError) Error() string { return e.Msg }

// Test sends: at most TestSendLimit per person per rolling TestSendWindow.
const (
	TestSendLimit  = 10
	TestSendWindow = time.Hour
	// TestSubjectPrefix starts a test's subject (or SMS body).
	TestSubjectPrefix = "[Test] "
	// InertUnsubscribePath replaces the token path of every unsubscribe
	// link in a test send and in an untracked copy (Untrack): under the
	// public URL it is an invalid token, which unsubscribes nobody.
	InertUnsubscribePath = "/u/test-message"
)

// TestLimitError is a test send over the limit; nothing was sent.
type TestLimitError struct {
	Limit      int
	Window     time.Duration
	RetryAfter time.Duration
}

func (e *TestLimitError) Error() string {
	return fmt.Sprintf("test send limit reached: %d per %s per person; the next one is possible in %s",
		e.Limit, windowWords(e.Window), e.RetryAfter.Round(time.Second))
}

func windowWords(d time.Duration) string {
	if d == time.Hour {
		return "hour"
	}
	return d.String()
}

// TestResult is a test send that went out.
type TestResult struct {
	// Message is the message as sent to the test address: To is that
	// address, Subject (or SMS) carries TestSubjectPrefix, and the content
	// is untracked.
	Message Preview
	// Remaining is how many more tests the person may send in the window.
	Remaining int
}

// Preview renders a touch for a prospect exactly as the send path would
// if the touch were due now, without sending, journaling or changing
// anything. prospectID may also be the prospect's email address or phone
// number; variantID "" takes the variant the send path would choose. An
// unknown cadence, touch, prospect or variant is an *UnknownError.
func (e *Engine) Preview(ctx context.Context, cadenceID, touchID, prospectID, variantID string) (Preview, error) {
	c, err := e.Cadence(cadenceID)
	if err != nil {
		return Preview{}, unknownCadence(cadenceID, e.Cadences())
	}
	t, err := c.LookupTouch(touchID)
	if err != nil {
		return Preview{}, &UnknownError{What: "touch", msg: err.Error()}
	}
	p, err := e.lookupProspect(ctx, prospectID)
	if err != nil {
		return Preview{}, err
	}
	now := e.cfg.Clock()
	rcpt := p.Recipient()
	loc := c.ZoneFor(&rcpt)
	pv := Preview{Cadence: c.ID, Touch: t.ID, Stage: t.Stage.ID, Channel: t.Channel, Prospect: p, Enrollment: store.EnrollmentID(p.ID, c.ID)}
	for _, v := range t.Variants {
		pv.Variants = append(pv.Variants, v.ID)
	}
	var en cadence.Enrollment
	l, err := e.st.Enrollment(ctx, pv.Enrollment)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Not enrolled: preview as the enrollment it would get now.
		en = c.Start(cadence.Enrollment{ID: pv.Enrollment, ProspectID: p.ID}, now, loc).Enrollment
		pv.Note = "not enrolled in this cadence: shown as if enrolled now"
	case err != nil:
		return Preview{}, err
	default:
		en, pv.Enrolled, pv.State = l.Enrollment, true, l.Enrollment.State
		pv.Current = en.State == cadence.Active && en.Stage == t.Stage.ID && en.Step == t.Index
		if pv.Current {
			pv.DueAt = en.DueAt
		}
		pv.Note = enrollmentNote(c, &en, t)
	}
	v := t.ChooseVariant(en.ID)
	if variantID != "" {
		i := slices.IndexFunc(t.Variants, func(v cadence.Variant) bool { return v.ID == variantID })
		if i < 0 {
			return Preview{}, unknownVariant(t, variantID)
		}
		v = t.Variants[i]
	}
	pv.Variant, pv.Template = v.ID, v.Template

	// The enrollment as it is when this touch is claimed: active, at the
	// touch, due now; its history (engagement, the previous Message-ID for
	// threading) as it is.
	at := en
	at.State, at.Stage, at.Step, at.DueAt, at.NextTouch = cadence.Active, t.Stage.ID, t.Index, now, t.ID
	it := &item{eid: at.ID, loaded: store.Loaded{Enrollment: at, Rev: l.Rev}, prospect: p, c: c, rcpt: rcpt, loc: loc}
	claim := cadence.Claim{Stage: at.Stage, Step: at.Step, Generation: at.Generation}
	it.dec = c.Gate(&at, claim, &rcpt, nil, now)
	if (it.dec.Verdict == cadence.Send || it.dec.Verdict == cadence.Defer) && needsHistory(it) {
		// As gateCaps: gated again against the prospect's recent sends.
		h, err := e.st.RecentSends(ctx, p.ID, now.Add(-store.SendHistoryWindow))
		if err != nil {
			return Preview{}, err
		}
		it.dec = c.Gate(&at, claim, &rcpt, &h, now)
	}
	pv.Verdict, pv.Reason = it.dec.Verdict, it.dec.Reason
	if it.dec.Verdict == cadence.Defer {
		pv.Until = it.dec.At
	}
	if it.dec.Verdict == cadence.Send && t.Channel == cadence.Email {
		// As holdPausedDomains.
		d := senderDomain(c.From.Email)
		until, reason, err := e.st.DomainPaused(ctx, d, now)
		if err != nil {
			return Preview{}, err
		}
		if !until.IsZero() {
			pv.Verdict, pv.Reason, pv.Until = cadence.Defer, "sending domain "+d+" paused: "+reason, until
		}
	}

	// Rendered whatever the gate said, so a skipped or deferred touch can
	// still be read; a render that fails holds the touch, as record does.
	it.dec = cadence.Decision{Verdict: cadence.Send, Touch: t, Variant: v, At: now}
	if err := e.render(it); err != nil {
		pv.renderErr = err
		pv.hold(err.Error())
		pv.From, pv.To = c.From.Email, p.Email
		if t.Channel == cadence.SMS {
			pv.From, pv.To = orDefault(c.From.SMS, c.From.MessagingService), p.Phone
		}
		return pv, nil
	}
	pv.Rendered = true
	pv.fill(it.email, it.sms)
	if it.email != nil && pv.To != "" {
		// What the sender does next: a message that cannot be built is
		// refused as permanent, and the touch skipped.
		if pv.Headers, err = sentHeaders(it.email); err != nil && (pv.Verdict == cadence.Send || pv.Verdict == cadence.Defer) {
			ce := &channels.Error{Class: channels.Permanent, Err: err}
			pv.Verdict, pv.Reason, pv.Until = cadence.Skip, "refused by provider: "+ce.Error(), time.Time{}
		}
	}
	return pv, nil
}

// hold records a render failure: the touch is held (after whatever the
// gate already refused it for).
func (pv *Preview) hold(reason string) {
	switch pv.Verdict {
	case cadence.Skip, cadence.Hold:
		pv.Reason += "; also: " + reason
	default:
		pv.Verdict, pv.Reason, pv.Until = cadence.Hold, reason, time.Time{}
	}
}

// fill sets the content fields from the messages the sender gets.
func (pv *Preview) fill(email *channels.Email, sms *channels.SMS) {
	pv.email, pv.sms = email, sms
	if email != nil {
		pv.From, pv.ReplyTo, pv.To = email.From, email.ReplyTo, email.To
		pv.Subject, pv.Text, pv.HTML, pv.MessageID = email.Subject, email.Text, email.HTML, email.MessageID
		return
	}
	pv.From, pv.To, pv.SMS = orDefault(sms.From, sms.MessagingService), sms.To, sms.Body
	info := templates.CountSegments(sms.Body)
	pv.Segments, pv.Encoding, pv.Chars = info.Segments, info.Encoding, info.Chars
}

// sentHeaders builds the message as the sender does (channels.BuildMsg)
// and returns the headers the engine sets besides From, To and Subject.
func sentHeaders(m *channels.Email) (map[string]string, error) {
	msg, err := channels.BuildMsg(m)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := msg.WriteTo(&b); err != nil {
		return nil, err
	}
	parsed, err := mail.ReadMessage(&b)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var dec mime.WordDecoder
	for _, k := range []string{"Message-Id", "In-Reply-To", "References", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		if v := parsed.Header.Get(k); v != "" {
			if k == "Message-Id" {
				k = "Message-ID"
			}
			out[k] = decodeWords(&dec, v)
		}
	}
	for k := range m.Headers {
		if v := parsed.Header.Get(k); v != "" {
			out[k] = decodeWords(&dec, v)
		}
	}
	return out, nil
}

func decodeWords(dec *mime.WordDecoder, v string) string {
	if s, err := dec.DecodeHeader(v); err == nil {
		return s
	}
	return v
}

// enrollmentNote says why an enrollment would not send touch t now, or "".
func enrollmentNote(c *cadence.Cadence, en *cadence.Enrollment, t *cadence.Touch) string {
	switch {
	case en.State.Terminal():
		return "the enrollment has ended (" + string(en.State) + "): nothing more is sent to this prospect from this cadence"
	case en.State != cadence.Active:
		s := "the enrollment is " + string(en.State)
		if en.By != "" {
			s += " by " + en.By
		}
		if en.Reason != "" {
			s += " (" + en.Reason + ")"
		}
		return s + ": nothing is sent until it resumes"
	}
	next := c.TouchAt(en.Stage, en.Step)
	switch {
	case next == nil:
		return "the enrollment is at the end of stage " + en.Stage + ", not at this touch"
	case next != t:
		return "the enrollment's next touch is " + next.ID + ", not this one"
	}
	return ""
}

func unknownCadence(id string, cads map[string]*cadence.Cadence) error {
	ids := make([]string, 0, len(cads))
	for k := range cads {
		ids = append(ids, k)
	}
	slices.Sort(ids)
	msg := fmt.Sprintf("no cadence %q is loaded", id)
	if s, ok := cadence.Suggest(id, ids); ok {
		msg += "; did you mean " + s + "?"
	} else {
		msg += " (loaded: " + strings.Join(ids, ", ") + ")"
	}
	return &UnknownError{What: "cadence", msg: msg}
}

func unknownVariant(t *cadence.Touch, id string) error {
	var ids []string
	for _, v := range t.Variants {
		ids = append(ids, v.ID)
	}
	msg := fmt.Sprintf("touch %s has no variant %q", t.ID, id)
	if s, ok := cadence.Suggest(id, ids); ok {
		msg += "; did you mean " + s + "?"
	} else {
		msg += " (variants: " + strings.Join(ids, ", ") + ")"
	}
	return &UnknownError{What: "variant", msg: msg}
}

// lookupProspect finds a prospect by id, else by email address or phone
// number.
func (e *Engine) lookupProspect(ctx context.Context, q string) (*store.Prospect, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, &RequestError{Field: "prospect", Code: "missing_prospect", Msg: "give the prospect's id, email address or phone number"}
	}
	p, err := e.st.Prospect(ctx, q)
	if !errors.Is(err, store.ErrNotFound) {
		return p, err
	}
	var pid string
	if strings.Contains(q, "@") {
		pid, err = e.st.ProspectIDByEmail(ctx, q)
	} else if phone, perr := cadence.NormalizePhone(q, e.cfg.DefaultRegion); perr == nil {
		pid, err = e.st.ProspectIDByPhone(ctx, phone)
	}
	if err == nil && pid != "" {
		p, err = e.st.Prospect(ctx, pid)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && p == nil) {
		return nil, &UnknownError{What: "prospect", msg: fmt.Sprintf("no prospect has the id, email address or phone number %q", q)}
	}
	return p, err
}

// SendTest renders a touch for a prospect as Preview does and sends it to
// to — an email address for an email touch, a phone number for an SMS —
// through the engine's sender, marked as a test (see the notes above
// Preview). by names who sends it ("sales:sam"): the limit is per person.
// A message that does not render, a bad or suppressed address is a
// *RequestError, a person over the limit a *TestLimitError; nothing was
// sent then. A provider's refusal is returned as its *channels.Error.
func (e *Engine) SendTest(ctx context.Context, cadenceID, touchID, prospectID, variantID, to, by string) (TestResult, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return TestResult{}, &RequestError{Field: "by", Code: "missing_sender", Msg: "a test send needs the name of who sends it (the limit is per person)"}
	}
	to = strings.TrimSpace(to)
	if to == "" {
		return TestResult{}, &RequestError{Field: "to", Code: "missing_to", Msg: "give the email address or phone number to send the test to"}
	}
	pv, err := e.Preview(ctx, cadenceID, touchID, prospectID, variantID)
	if err != nil {
		return TestResult{}, err
	}
	if pv.renderErr != nil {
		field := "prospect"
		var limit *LimitError
		if errors.As(pv.renderErr, &limit) {
			field = ""
		}
		return TestResult{}, &RequestError{Field: field, Code: "not_rendered", Msg: "nothing sent: the touch does not render for this prospect: " + pv.renderErr.Error()}
	}
	to, err = e.testRecipient(ctx, pv.Channel, to)
	if err != nil {
		return TestResult{}, err
	}
	msg := e.testMessage(pv, to)
	if msg.email != nil {
		if err := checkEmail(msg.email); err != nil {
			return TestResult{}, &RequestError{Code: "not_rendered", Msg: "nothing sent: with the test prefix, the " + err.Error()}
		}
	}
	slot := tokens.RandomHex(8)
	remaining, err := e.takeTestSlot(ctx, by, slot, time.Now())
	if err != nil {
		return TestResult{}, err
	}
	if msg.email != nil {
		err = e.cfg.Email.SendEmails(ctx, []*channels.Email{msg.email}, nil)[0]
	} else {
		_, err = e.cfg.SMS.SendSMS(ctx, msg.sms)
	}
	if err != nil {
		// Nothing went out: the attempt does not count against the limit.
		if gerr := e.giveBackTestSlot(ctx, by, slot); gerr != nil {
			e.log.Warn("test send: returning the limit slot", "by", by, "err", gerr)
		}
		return TestResult{}, fmt.Errorf("test send of %s/%s: %w", pv.Cadence, pv.Touch, err)
	}
	e.log.Info("test send", "cadence", pv.Cadence, "touch", pv.Touch, "variant", pv.Variant, "prospect", pv.Prospect.ID, "by", by, "channel", pv.Channel)
	return TestResult{Message: msg, Remaining: remaining}, nil
}

// testRecipient checks and normalizes a test address for a channel; an
// address or number that is suppressed or opted out is refused.
func (e *Engine) testRecipient(ctx context.Context, ch cadence.Channel, to string) (string, error) {
	var pid string
	var err error
	if ch == cadence.SMS {
		phone, perr := cadence.NormalizePhone(to, e.cfg.DefaultRegion)
		if perr != nil {
			return "", &RequestError{Field: "to", Code: "invalid_to", Msg: fmt.Sprintf("%q is not a phone number (%v); this touch is an SMS, so the test goes to a number such as +1 312 555 0100", to, perr)}
		}
		to = phone
		pid, err = e.st.ProspectIDByPhone(ctx, to)
	} else {
		a, perr := mail.ParseAddress(to)
		if perr != nil || !strings.Contains(a.Address, "@") {
			return "", &RequestError{Field: "to", Code: "invalid_to", Msg: fmt.Sprintf("%q is not an email address; this touch is an email, so the test goes to an address such as you@example.com", to)}
		}
		to = strings.ToLower(a.Address)
		pid, err = e.st.ProspectIDByEmail(ctx, to)
	}
	if errors.Is(err, store.ErrNotFound) {
		return to, nil
	}
	if err != nil {
		return "", err
	}
	p, err := e.st.Prospect(ctx, pid)
	if errors.Is(err, store.ErrNotFound) {
		return to, nil
	}
	if err != nil {
		return "", err
	}
	if ch == cadence.SMS && p.SMSBlocked != "" {
		return "", &RequestError{Field: "to", Code: "to_blocked", Msg: fmt.Sprintf("%s has opted out of SMS (%s): a test is never sent to a number that opted out", to, p.SMSBlocked)}
	}
	if ch == cadence.Email && p.EmailBlocked != "" {
		return "", &RequestError{Field: "to", Code: "to_blocked", Msg: fmt.Sprintf("%s is suppressed (%s): a test is never sent to an address that opted out or bounced", to, p.EmailBlocked)}
	}
	return to, nil
}

// testMessage turns a rendered preview into the test message for to.
func (e *Engine) testMessage(pv Preview, to string) Preview {
	out := pv
	id := "test." + tokens.RandomHex(12)
	if pv.email != nil {
		m := *pv.email
		m.MessageID = "<" + id + "@" + e.cfg.MessageIDDomain + ">"
		m.To, m.InReplyTo = to, ""
		m.Subject = TestSubjectPrefix + m.Subject
		m.Text, m.HTML = e.Untrack(m.Text), e.Untrack(m.HTML)
		m.Unsubscribe = e.linker.Base + InertUnsubscribePath
		m.Headers = map[string]string{}
		for k, v := range pv.email.Headers {
			m.Headers[k] = v
		}
		m.Headers["X-Nurture-Test"] = "1"
		out.fill(&m, nil)
		if h, err := sentHeaders(&m); err == nil {
			out.Headers = h
		}
		return out
	}
	s := *pv.sms
	s.Key, s.To, s.StatusCallback = id, to, ""
	s.Body = TestSubjectPrefix + e.Untrack(s.Body)
	out.fill(nil, &s)
	return out
}

// Untrack returns a copy of a rendered message part (HTML, text or SMS)
// that cannot act for the prospect: the open pixel removed, click links
// pointing straight at their destinations, and unsubscribe links pointing
// at InertUnsubscribePath. Test sends are made of it, and the dashboard
// shows previews and the outbox through it, so that looking at a message
// records no open or click and clicking its unsubscribe link changes
// nothing.
func (e *Engine) Untrack(s string) string {
	base := regexp.QuoteMeta(e.linker.Base)
	pixel := regexp.MustCompile(`<img\s[^>]*src="` + base + `/o/[A-Za-z0-9_-]+"[^>]*>`)
	click := regexp.MustCompile(base + `/c/([A-Za-z0-9_-]+)`)
	unsub := regexp.MustCompile(base + `/u/[A-Za-z0-9_.-]+`)
	s = pixel.ReplaceAllString(s, "")
	s = click.ReplaceAllStringFunc(s, func(m string) string {
		ref, err := tracking.Decode(e.cfg.Tokens, tracking.KindClick, m[len(e.linker.Base)+len("/c/"):])
		if err != nil {
			return m
		}
		return html.EscapeString(ref.URL)
	})
	return unsub.ReplaceAllLiteralString(s, e.linker.Base+InertUnsubscribePath)
}

// takeTestSlot records a test send by a person at now (KEYS[1], a sorted
// set of send times in ms, its own hash tag) if fewer than TestSendLimit
// fall in the window before now.
//
// ARGV: now (ms), window (ms), limit, member (unique per send). Returns
// {1, sends in the window} when taken, {0, sends, ms until one leaves the
// window} when not.
var takeTestSlot = redis.NewScript(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, n, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, n + 1, 0}
`)

func (e *Engine) testSlotKey(by string) string {
	return e.st.Keys().Prefix + ":{lim:test:" + by + "}"
}

// takeTestSlot takes one of by's test sends at now and returns how many
// remain, or a *TestLimitError.
func (e *Engine) takeTestSlot(ctx context.Context, by, member string, now time.Time) (int, error) {
	res, err := takeTestSlot.Run(ctx, e.st.Redis(), []string{e.testSlotKey(by)},
		now.UnixMilli(), TestSendWindow.Milliseconds(), TestSendLimit, member).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("test send limit: %w", err)
	}
	if len(res) != 3 {
		return 0, fmt.Errorf("test send limit: unexpected answer %v", res)
	}
	if res[0] == 0 {
		return 0, &TestLimitError{Limit: TestSendLimit, Window: TestSendWindow, RetryAfter: time.Duration(max(res[2], 1000)) * time.Millisecond}
	}
	return TestSendLimit - int(res[1]), nil
}

// giveBackTestSlot removes a taken slot (the send failed).
func (e *Engine) giveBackTestSlot(ctx context.Context, by, member string) error {
	return e.st.Redis().ZRem(ctx, e.testSlotKey(by), member).Err()
}

package worker_test

// Engine-level tests of README and COMPLIANCE.md promises that the cadence
// unit tests check only in isolation: each drives the real send path
// (Engine.DispatchOnce through enginetest.SyncQueue, or the asynq handler)
// against a real Redis with an injected clock, and reads what was sent
// from an outbox and a capturing SMS sender.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
	"github.com/nurture-dev/nurture/worker"
)

// sentSMS is one message the capturing sender accepted, with the engine's
// clock at the call.
type sentSMS struct {
	At  time.Time
	Msg channels.SMS
}

// smsCapture is an SMS sender that accepts everything and keeps a copy of
// each message exactly as the engine handed it over.
type smsCapture struct {
	clock func() time.Time
	mu    sync.Mutex
	sent  []sentSMS
}

func (c *smsCapture) SendSMS(_ context.Context, m *channels.SMS) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, sentSMS{At: c.clock(), Msg: *m})
	return fmt.Sprintf("SM%032d", len(c.sent)), nil
}

func (c *smsCapture) Sent() []sentSMS {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sentSMS(nil), c.sent...)
}

// promiseRig is an engine on the test Redis with an injected clock, an
// outbox for email and a capturing SMS sender.
type promiseRig struct {
	e      *worker.Engine
	st     *store.Store
	clk    *enginetest.Clock
	outbox *channels.Outbox
	sms    *smsCapture
	signer *tokens.Signer
}

const promiseURL = "https://n.example"

func newPromiseRig(t *testing.T, start time.Time, yamls ...string) *promiseRig {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	cads := map[string]*cadence.Cadence{}
	for i, y := range yamls {
		c, err := cadence.Parse(fmt.Sprintf("c%d.yaml", i), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		cads[c.ID] = c
	}
	clk := enginetest.NewClock(start)
	ob, err := channels.NewOutbox("", 10000, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	sms := &smsCapture{clock: clk.Now}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	st := store.New(rdb, prefix)
	e, err := worker.New(worker.Config{Store: st, Cadences: cads, Email: ob, SMS: sms, Tokens: signer, Clock: clk.Now,
		PublicURL: promiseURL, MessageIDDomain: "n.example", Journal: rigJournal})
	if err != nil {
		t.Fatal(err)
	}
	return &promiseRig{e: e, st: st, clk: clk, outbox: ob, sms: sms, signer: signer}
}

func (r *promiseRig) dispatch(t *testing.T) int {
	t.Helper()
	n, err := r.e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: r.e})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *promiseRig) enroll(t *testing.T, p *store.Prospect, cadenceID string) string {
	t.Helper()
	en, err := r.e.Enroll(context.Background(), p, cadenceID)
	if err != nil {
		t.Fatal(err)
	}
	return en.ID
}

// setClock moves the clock forward to at.
func (r *promiseRig) setClock(t *testing.T, at time.Time) {
	t.Helper()
	d := at.Sub(r.clk.Now())
	if d < 0 {
		t.Fatalf("clock would go back from %v to %v", r.clk.Now(), at)
	}
	r.clk.Add(d)
}

// walk moves the clock to end in steps, dispatching at every step, and
// also at each mark and one millisecond before it, so a touch due at a mark
// is seen not to go out a moment early.
func (r *promiseRig) walk(t *testing.T, end time.Time, step time.Duration, marks ...time.Time) {
	t.Helper()
	now := r.clk.Now()
	var points []time.Time
	for p := now.Add(step); p.Before(end); p = p.Add(step) {
		points = append(points, p)
	}
	points = append(points, end)
	for _, m := range marks {
		points = append(points, m, m.Add(-time.Millisecond))
	}
	sort.Slice(points, func(i, j int) bool { return points[i].Before(points[j]) })
	last := now
	for _, p := range points {
		if !p.After(last) || p.After(end) {
			continue
		}
		r.setClock(t, p)
		r.dispatch(t)
		last = p
	}
}

func (r *promiseRig) timeline(t *testing.T, eid string) []cadence.Entry {
	t.Helper()
	tl, err := r.e.Timeline(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func timelineText(tl []cadence.Entry) string {
	var b strings.Builder
	for _, en := range tl {
		b.WriteString(en.At.UTC().Format(time.RFC3339) + " " + en.Text() + "\n")
	}
	return b.String()
}

// dueAt reads an enrollment's score in its due set (the time the
// dispatcher will claim it); ok is false when it is not there.
func (r *promiseRig) dueAt(t *testing.T, pid, eid string, lane store.Lane) (time.Time, bool) {
	t.Helper()
	score, err := r.st.Redis().ZScore(context.Background(), r.st.Keys().Due(store.Shard(pid), lane), eid).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(score)).UTC(), true
}

// leased reports whether an enrollment sits in its shard's lease set.
func (r *promiseRig) leased(t *testing.T, pid, eid string) bool {
	t.Helper()
	_, err := r.st.Redis().ZScore(context.Background(), r.st.Keys().Lease(store.Shard(pid)), eid).Result()
	if errors.Is(err, redis.Nil) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// emailsTo returns the outbox emails to an address.
func (r *promiseRig) emailsTo(addr string) []channels.OutboxMessage {
	var out []channels.OutboxMessage
	for _, m := range r.outbox.Messages() {
		if m.Channel == "email" && m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// smsTo returns the captured SMS to a number.
func (r *promiseRig) smsTo(number string) []sentSMS {
	var out []sentSMS
	for _, m := range r.sms.Sent() {
		if m.Msg.To == number {
			out = append(out, m)
		}
	}
	return out
}

func utcAt(y int, mo time.Month, d, h, m int) time.Time {
	return time.Date(y, mo, d, h, m, 0, 0, time.UTC)
}

const windowCadence = `id: window
name: Window
timezone: America/New_York
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {days: mon-fri, start: "09:00", end: "17:00"}
stages:
  - id: only
    touches:
      - {id: hello, channel: email, template: mail}
templates:
  mail: {subject: "Hi", text: "Hello"}
`

// TestDeferredTouchIsSentAtTheNextAllowedMinute: a touch due outside its
// send window is deferred to the next allowed minute in the recipient's
// zone, never dropped (README "Timing"). Three recipients enrolled at the
// same instant — Friday 17:30 in Los Angeles, 20:30 in New York (the
// cadence's fallback zone), Saturday 10:30 in Tokyo — each get a timeline
// line saying deferred, a due score equal to Monday 09:00 in their own zone
// (Los Angeles across the spring-forward weekend), nothing before that
// minute, and exactly one send at it.
func TestDeferredTouchIsSentAtTheNextAllowedMinute(t *testing.T) {
	ctx := context.Background()
	// Friday 2026-03-06 17:30 PST; US clocks spring forward on Sunday 8th.
	start := utcAt(2026, 3, 7, 1, 30)
	r := newPromiseRig(t, start, windowCadence)
	cases := []struct {
		id, zone, zoneName string
		want               time.Time
	}{
		{"la", "America/Los_Angeles", "America/Los_Angeles", utcAt(2026, 3, 9, 16, 0)}, // Mon 09:00 PDT
		{"ny", "", "America/New_York", utcAt(2026, 3, 9, 13, 0)},                       // Mon 09:00 EDT, cadence fallback
		{"tokyo", "Asia/Tokyo", "Asia/Tokyo", utcAt(2026, 3, 9, 0, 0)},                 // Mon 09:00 JST
	}
	eids := map[string]string{}
	for _, tc := range cases {
		eids[tc.id] = r.enroll(t, &store.Prospect{ID: tc.id, Email: tc.id + "@example.com", TimeZone: tc.zone}, "window")
	}
	if n := r.dispatch(t); n != len(cases) {
		t.Fatalf("claimed %d, want %d", n, len(cases))
	}
	if n := len(r.outbox.Messages()); n != 0 {
		t.Fatalf("%d emails sent outside the window", n)
	}
	for _, tc := range cases {
		eid := eids[tc.id]
		tl := r.timeline(t, eid)
		last := tl[len(tl)-1]
		if last.Kind != "deferred" || last.Touch != "hello" || !last.Until.Equal(tc.want) ||
			!strings.Contains(last.Text(), "outside send window") || !strings.Contains(last.Text(), tc.zoneName) {
			t.Errorf("%s: last timeline line %q, want deferred hello until %s in %s\n%s", tc.id, last.Text(), tc.want.Format(time.RFC3339), tc.zoneName, timelineText(tl))
		}
		due, ok := r.dueAt(t, tc.id, eid, store.LaneEmail)
		if !ok || !due.Equal(tc.want) {
			t.Errorf("%s: due score %v (present %v), want %v", tc.id, due, ok, tc.want)
		}
		if r.leased(t, tc.id, eid) {
			t.Errorf("%s: still leased after the deferral was committed", tc.id)
		}
		l, err := r.st.Enrollment(ctx, eid)
		if err != nil {
			t.Fatal(err)
		}
		if l.Enrollment.State != cadence.Active || l.Enrollment.Step != 0 {
			t.Errorf("%s: %s step %d after the deferral, want active at step 0", tc.id, l.Enrollment.State, l.Enrollment.Step)
		}
	}

	// Walk the weekend in 15-minute steps (and a millisecond before each
	// expected minute) until an hour after the last one.
	var marks []time.Time
	for _, tc := range cases {
		marks = append(marks, tc.want)
	}
	r.walk(t, utcAt(2026, 3, 9, 17, 0), 15*time.Minute, marks...)
	for _, tc := range cases {
		got := r.emailsTo(tc.id + "@example.com")
		if len(got) != 1 {
			t.Errorf("%s: %d emails, want exactly 1", tc.id, len(got))
			continue
		}
		if !got[0].At.Equal(tc.want) {
			t.Errorf("%s: sent at %v, want at %v (the next allowed minute, not before, not later)", tc.id, got[0].At.UTC(), tc.want)
		}
		tl := timelineText(r.timeline(t, eids[tc.id]))
		if strings.Count(tl, "sent hello (email)") != 1 || strings.Count(tl, "deferred hello") != 1 {
			t.Errorf("%s: timeline:\n%s", tc.id, tl)
		}
	}
}

// smsCadence is an SMS-only cadence open all day (so only the SMS rules
// limit it), with touches named after their delays.
func smsCadence(id string, touches ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: %s\ntimezone: America/New_York\nfrom: {email: \"Acme <hello@acme.example>\", sms: \"+15005550006\"}\n", id, id)
	b.WriteString("postal_address: \"1 Main St, Springfield\"\nsend_window: {start: \"00:00\", end: \"24:00\"}\nstages:\n  - id: only\n    touches:\n")
	for _, tch := range touches {
		name, delay, _ := strings.Cut(tch, "=")
		fmt.Fprintf(&b, "      - {id: %s, channel: sms, delay: %s, template: text}\n", name, delay)
	}
	b.WriteString("templates:\n  text: {sms: \"Hi from " + id + ". Reply STOP to opt out.\"}\n")
	return b.String()
}

// TestFloridaSMSCapAcrossCadences: a Florida number (+1 305, no state
// field) gets at most 3 marketing SMS per rolling 24 h across all cadences
// (COMPLIANCE.md 7). Two cadences want to send at 10:00, 10:30, 11:00 and
// 11:30 on Monday: the fourth is deferred — not dropped — to 10:00 on
// Tuesday, when the first leaves the 24-hour window, and sent then, once.
func TestFloridaSMSCapAcrossCadences(t *testing.T) {
	// Monday 2026-03-02 10:00 EST.
	start := utcAt(2026, 3, 2, 15, 0)
	r := newPromiseRig(t, start, smsCadence("fl-a", "a1=0", "a2=1h"), smsCadence("fl-b", "b1=30m", "b2=1h"))
	const phone = "+13055550123"
	p := func() *store.Prospect { return &store.Prospect{ID: "fla", Phone: phone, FirstName: "Flo"} }
	a := r.enroll(t, p(), "fl-a")
	b := r.enroll(t, p(), "fl-b")
	rolled := utcAt(2026, 3, 3, 15, 0) // Tuesday 10:00 EST: Monday's 10:00 send leaves the window

	// Through Monday until the fourth SMS comes due and is refused.
	r.dispatch(t)
	r.walk(t, utcAt(2026, 3, 2, 16, 30), 5*time.Minute)
	if got := r.smsTo(phone); len(got) != 3 {
		t.Fatalf("%d SMS by Monday 11:30, want 3:\n%s", len(got), smsList(got))
	}
	tl := r.timeline(t, b)
	last := tl[len(tl)-1]
	if last.Kind != "deferred" || last.Touch != "b2" || !last.Until.Equal(rolled) || !strings.Contains(last.Reason, "FL limit of 3 marketing SMS per 24h") {
		t.Fatalf("the fourth SMS: last line %q, want deferred b2 by the FL limit until %s\n%s", last.Text(), rolled.Format(time.RFC3339), timelineText(tl))
	}
	if due, ok := r.dueAt(t, "fla", b, store.LaneSMS); !ok || !due.Equal(rolled) {
		t.Fatalf("b2 due score %v (present %v), want %v", due, ok, rolled)
	}

	// Nothing more until the window rolls; then b2 goes out once.
	r.walk(t, rolled.Add(2*time.Hour), 5*time.Minute, rolled)
	got := r.smsTo(phone)
	want := []struct {
		at   time.Time
		from string
	}{
		{utcAt(2026, 3, 2, 15, 0), "fl-a"}, {utcAt(2026, 3, 2, 15, 30), "fl-b"}, {utcAt(2026, 3, 2, 16, 0), "fl-a"}, {rolled, "fl-b"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d SMS, want %d:\n%s", len(got), len(want), smsList(got))
	}
	for i, w := range want {
		if !got[i].At.Equal(w.at) || !strings.Contains(got[i].Msg.Body, "Hi from "+w.from) {
			t.Errorf("SMS %d: %s at %v, want %s at %v", i, got[i].Msg.Body, got[i].At.UTC(), w.from, w.at)
		}
	}
	if n := countWithin24h(got); n > 3 {
		t.Errorf("%d SMS within 24 h, want at most 3:\n%s", n, smsList(got))
	}
	for _, eid := range []string{a, b} {
		l, err := r.st.Enrollment(context.Background(), eid)
		if err != nil {
			t.Fatal(err)
		}
		if l.Enrollment.State != cadence.Completed {
			t.Errorf("%s: %s, want completed\n%s", eid, l.Enrollment.State, timelineText(r.timeline(t, eid)))
		}
	}
}

// smsList lists captured SMS one a line, for failure messages.
func smsList(sent []sentSMS) string {
	var b strings.Builder
	for _, m := range sent {
		fmt.Fprintf(&b, "  %s to %s: %s\n", m.At.UTC().Format(time.RFC3339), m.Msg.To, m.Msg.Body)
	}
	return b.String()
}

// TestFloridaSMSQuietHours: marketing SMS to FL go out only 08:00-20:00
// local, by the state field, else by area code, while other states get
// 08:00-21:00 (COMPLIANCE.md 6-7). A touch due outside is deferred to
// 08:00 the next day in the recipient's zone and sent then.
func TestFloridaSMSQuietHours(t *testing.T) {
	// Monday 2026-03-02 19:59 EST.
	r := newPromiseRig(t, utcAt(2026, 3, 3, 0, 59), smsCadence("quiet", "hello=0"))
	type want struct {
		sentAt time.Time
		state  string // "" sent at once; "FL" deferred by the Florida hours; "none" by the legal 08:00-21:00
	}
	people := map[string]want{}
	enrollAt := func(at time.Time, id, phone, state string, w want) {
		r.setClock(t, at)
		r.enroll(t, &store.Prospect{ID: id, Phone: phone, State: state}, "quiet")
		r.dispatch(t)
		people[id] = w
	}
	// Miami (area code 305, New York time): 19:59 goes, 20:00 waits.
	enrollAt(utcAt(2026, 3, 3, 0, 59), "fl1959", "+13055550101", "", want{utcAt(2026, 3, 3, 0, 59), ""})
	enrollAt(utcAt(2026, 3, 3, 1, 0), "fl2000", "+13055550102", "", want{utcAt(2026, 3, 3, 13, 0), "FL"}) // Tue 08:00 EST
	// Chicago numbers (Illinois): 20:00 goes, 21:00 waits; with the state
	// field FL the Florida hours apply in Chicago time.
	enrollAt(utcAt(2026, 3, 3, 2, 0), "il2000", "+13125550103", "", want{utcAt(2026, 3, 3, 2, 0), ""})
	enrollAt(utcAt(2026, 3, 3, 2, 0), "flstate2000", "+13125550104", "FL", want{utcAt(2026, 3, 3, 14, 0), "FL"}) // Tue 08:00 CST
	enrollAt(utcAt(2026, 3, 3, 3, 0), "il2100", "+13125550105", "", want{utcAt(2026, 3, 3, 14, 0), "none"})

	for id, w := range people {
		eid := id + "~quiet"
		if w.state == "" {
			continue
		}
		tl := r.timeline(t, eid)
		last := tl[len(tl)-1]
		wantHours := "08:00-20:00 (FL)"
		if w.state == "none" {
			wantHours = "08:00-21:00 in"
		}
		if last.Kind != "deferred" || !last.Until.Equal(w.sentAt) || !strings.Contains(last.Reason, "outside SMS hours") || !strings.Contains(last.Reason, wantHours) {
			t.Errorf("%s: last line %q, want deferred outside SMS hours %s until %v\n%s", id, last.Text(), wantHours, w.sentAt, timelineText(tl))
		}
		if due, ok := r.dueAt(t, id, eid, store.LaneSMS); !ok || !due.Equal(w.sentAt) {
			t.Errorf("%s: due score %v (present %v), want %v", id, due, ok, w.sentAt)
		}
	}
	r.walk(t, utcAt(2026, 3, 3, 16, 0), 10*time.Minute, utcAt(2026, 3, 3, 13, 0), utcAt(2026, 3, 3, 14, 0))
	phones := map[string]string{"fl1959": "+13055550101", "fl2000": "+13055550102", "il2000": "+13125550103", "flstate2000": "+13125550104", "il2100": "+13125550105"}
	for id, w := range people {
		got := r.smsTo(phones[id])
		if len(got) != 1 || !got[0].At.Equal(w.sentAt) {
			var ats []string
			for _, g := range got {
				ats = append(ats, g.At.UTC().Format(time.RFC3339))
			}
			t.Errorf("%s: sent at %v, want once at %v\n%s", id, ats, w.sentAt.Format(time.RFC3339), timelineText(r.timeline(t, id+"~quiet")))
		}
	}
}

const unsubCadence = `id: unsub
name: Unsub
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - {id: explicit, channel: email, template: explicit}
      - {id: footer, channel: email, delay: 1h, template: footer}
templates:
  explicit:
    subject: "Hi"
    text: "Hello. Leave: {{ .UnsubscribeURL }}"
    html: "<html><body><p>Hello</p><a href=\"https://acme.example/pricing\">Pricing</a> <a href=\"{{ .UnsubscribeURL }}\">Unsubscribe</a></body></html>"
  footer:
    subject: "Again"
    text: "Hello again"
    html: "<html><body><p>Hello again, see <a href=\"https://acme.example/docs?a=1&b=2\">the docs</a></p></body></html>"
`

var (
	promiseHrefRe  = regexp.MustCompile(`href="([^"]+)"`)
	promiseAngleRe = regexp.MustCompile(`<([^>]+)>`)
)

// mimeParts returns the decoded text and HTML parts of a MIME message.
func mimeParts(t *testing.T, raw string) (hdr mail.Header, text, html string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(ctype string, body io.Reader, enc string)
	walk = func(ctype string, body io.Reader, enc string) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatalf("content type %q: %v", ctype, err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				// multipart.Part decodes quoted-printable itself.
				walk(p.Header.Get("Content-Type"), p, "")
			}
		}
		switch strings.ToLower(enc) {
		case "quoted-printable":
			body = quotedprintable.NewReader(body)
		case "base64":
			body = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		switch mt {
		case "text/plain":
			text += string(b)
		case "text/html":
			html += string(b)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	return msg.Header, text, html
}

// TestUnsubscribeLinkIsNeverClickTracked: the List-Unsubscribe header and
// the body's unsubscribe link — written by the template or added as the
// footer — point at /u/ with a token naming the enrollment, never at the
// click endpoint, and no /c/ link in the email redirects to an
// unsubscribe URL (COMPLIANCE.md 11; a click-tracked unsubscribe would be
// followed by scanners and count as engagement).
func TestUnsubscribeLinkIsNeverClickTracked(t *testing.T) {
	r := newPromiseRig(t, utcAt(2026, 3, 2, 16, 0), unsubCadence)
	eid := r.enroll(t, &store.Prospect{ID: "ada", Email: "ada@example.com"}, "unsub")
	r.dispatch(t)
	r.setClock(t, r.clk.Now().Add(time.Hour))
	r.dispatch(t)
	msgs := r.emailsTo("ada@example.com")
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want 2", len(msgs))
	}
	for i, m := range msgs {
		hdr, text, html := mimeParts(t, m.Body)
		lu := promiseAngleRe.FindStringSubmatch(hdr.Get("List-Unsubscribe"))
		if lu == nil || !strings.HasPrefix(lu[1], promiseURL+"/u/") || hdr.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Fatalf("email %d: List-Unsubscribe %q, Post %q", i, hdr.Get("List-Unsubscribe"), hdr.Get("List-Unsubscribe-Post"))
		}
		unsub := lu[1]
		if got, err := r.signer.Verify(tracking.KindUnsub, strings.TrimPrefix(unsub, promiseURL+"/u/")); err != nil || got != eid {
			t.Errorf("email %d: unsubscribe token names %q (%v), want %s", i, got, err, eid)
		}
		if !strings.Contains(text, unsub) {
			t.Errorf("email %d: the text part does not show %s:\n%s", i, unsub, text)
		}
		var hrefs, clicks []string
		for _, h := range promiseHrefRe.FindAllStringSubmatch(html, -1) {
			hrefs = append(hrefs, strings.NewReplacer("&amp;", "&", "&#43;", "+").Replace(h[1]))
		}
		unsubLinks := 0
		for _, h := range hrefs {
			switch {
			case h == unsub:
				unsubLinks++
			case strings.HasPrefix(h, promiseURL+"/c/"):
				clicks = append(clicks, h)
			default:
				t.Errorf("email %d: link %s is neither tracked nor the unsubscribe link", i, h)
			}
		}
		if unsubLinks != 1 {
			t.Errorf("email %d: %d links to %s in the HTML, want 1; links %v", i, unsubLinks, unsub, hrefs)
		}
		if len(clicks) != 1 {
			t.Errorf("email %d: %d tracked links, want 1 (the content link); links %v", i, len(clicks), hrefs)
		}
		for _, c := range clicks {
			ref, err := tracking.Decode(r.signer, tracking.KindClick, strings.TrimPrefix(c, promiseURL+"/c/"))
			if err != nil {
				t.Errorf("email %d: click link %s does not decode: %v", i, c, err)
				continue
			}
			if strings.Contains(ref.URL, "/u/") || !strings.HasPrefix(ref.URL, "https://acme.example/") {
				t.Errorf("email %d: a tracked link redirects to %s", i, ref.URL)
			}
		}
	}
}

// heldQueue keeps the send tasks the dispatcher enqueues, to run them
// through the real handler later.
type heldQueue struct{ tasks []*asynq.Task }

func (q *heldQueue) EnqueueContext(_ context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	q.tasks = append(q.tasks, t)
	return &asynq.TaskInfo{}, nil
}

// TestPausedWithATouchDueSendsNothingUntilResumed: an active prospect is
// paused with a touch due; however far the clock moves, dispatching sends
// nothing — also when the pause lands after the dispatcher claimed the
// touch and before the send task runs. On resume the touch is sent once.
func TestPausedWithATouchDueSendsNothingUntilResumed(t *testing.T) {
	ctx := context.Background()
	r := newPromiseRig(t, utcAt(2026, 3, 2, 16, 0), enginetest.EmailCadence("hold", "0", "1d", "1d"))
	eid := r.enroll(t, &store.Prospect{ID: "ada", Email: "ada@example.com"}, "hold")
	r.dispatch(t)
	if n := len(r.emailsTo("ada@example.com")); n != 1 {
		t.Fatalf("welcome: %d emails", n)
	}

	// "two" is due; sales pauses before any dispatcher gets to it.
	r.setClock(t, r.clk.Now().Add(24*time.Hour))
	if _, err := r.e.Pause(ctx, eid, "sales:sam", "call booked", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Minute, time.Hour, 3 * 24 * time.Hour} {
		r.setClock(t, r.clk.Now().Add(d))
		if n := r.dispatch(t); n != 0 {
			t.Errorf("the dispatcher claimed %d while the only enrollment was paused", n)
		}
	}
	if n := len(r.emailsTo("ada@example.com")); n != 1 {
		t.Fatalf("sent while paused: %d emails", n)
	}
	if _, err := r.e.Resume(ctx, eid, "sales:sam"); err != nil {
		t.Fatal(err)
	}
	r.dispatch(t)
	got := r.emailsTo("ada@example.com")
	if len(got) != 2 || !got[1].At.Equal(r.clk.Now()) {
		t.Fatalf("after resume: %d emails, want 2 (the second at once)", len(got))
	}
	for range 3 {
		r.dispatch(t)
	}
	if n := len(r.emailsTo("ada@example.com")); n != 2 {
		t.Fatalf("the resumed touch was sent %d times", n-1)
	}

	// "three" is due: the dispatcher claims it, then the pause lands before
	// the send task runs on a worker.
	r.setClock(t, r.clk.Now().Add(24*time.Hour))
	q := &heldQueue{}
	if n, err := r.e.DispatchOnce(ctx, q); err != nil || n != 1 || len(q.tasks) != 1 {
		t.Fatalf("claim: %d claimed, %d tasks, %v", n, len(q.tasks), err)
	}
	if _, err := r.e.Pause(ctx, eid, "sales:sam", "second call", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, task := range q.tasks {
		if err := r.e.HandleSend(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	// Lease expiry and later ticks must not bring it back while paused.
	for _, d := range []time.Duration{time.Minute, 5 * time.Minute, 24 * time.Hour} {
		r.setClock(t, r.clk.Now().Add(d))
		r.dispatch(t)
	}
	if n := len(r.emailsTo("ada@example.com")); n != 2 {
		t.Fatalf("a touch claimed before the pause was sent during it: %d emails", n)
	}
	if _, err := r.e.Resume(ctx, eid, "sales:sam"); err != nil {
		t.Fatal(err)
	}
	r.dispatch(t)
	for range 3 {
		r.setClock(t, r.clk.Now().Add(time.Minute))
		r.dispatch(t)
	}
	got = r.emailsTo("ada@example.com")
	if len(got) != 3 {
		t.Fatalf("after the second resume: %d emails, want 3", len(got))
	}
	tl := timelineText(r.timeline(t, eid))
	for _, want := range []string{"sent one (email)", "sent two (email)", "sent three (email)", "paused: active -> paused by sales:sam: call booked", "paused: active -> paused by sales:sam: second call"} {
		if strings.Count(tl, want) != 1 {
			t.Errorf("timeline has %q %d times, want once:\n%s", want, strings.Count(tl, want), tl)
		}
	}
	if l, err := r.st.Enrollment(ctx, eid); err != nil || l.Enrollment.State != cadence.Completed {
		t.Errorf("state %v %v, want completed", l.Enrollment.State, err)
	}
}

// cappedEmailCadence is enginetest.EmailCadence with a frequency cap of
// max emails per 24 h.
func cappedEmailCadence(id string, max int, delays ...string) string {
	return strings.Replace(enginetest.EmailCadence(id, delays...), "stages:", fmt.Sprintf("frequency_caps:\n  email: {max: %d, per: 24h}\nstages:", max), 1)
}

// TestEmailFrequencyCapAcrossCadences: a cadence's frequency cap counts the
// prospect's sends from every cadence (the send history is per prospect).
// With "2 per 24h", the third email of Monday — 10:00 and 11:00 from one
// cadence, 10:30 from the other — is deferred to Tuesday 10:00 and sent
// then.
func TestEmailFrequencyCapAcrossCadences(t *testing.T) {
	start := utcAt(2026, 3, 2, 10, 0)
	r := newPromiseRig(t, start, cappedEmailCadence("cap-a", 2, "0", "1h"), cappedEmailCadence("cap-b", 2, "30m"))
	p := func() *store.Prospect { return &store.Prospect{ID: "capped", Email: "capped@example.com"} }
	a := r.enroll(t, p(), "cap-a")
	r.enroll(t, p(), "cap-b")
	rolled := start.Add(24 * time.Hour)
	r.dispatch(t)
	r.walk(t, rolled.Add(time.Hour), 5*time.Minute, rolled)
	var ats []time.Time
	for _, m := range r.emailsTo("capped@example.com") {
		ats = append(ats, m.At.UTC())
	}
	want := []time.Time{start, start.Add(30 * time.Minute), rolled}
	if len(ats) != len(want) {
		t.Fatalf("sent at %v, want %v\n%s", ats, want, timelineText(r.timeline(t, a)))
	}
	for i := range want {
		if !ats[i].Equal(want[i]) {
			t.Errorf("email %d sent at %v, want %v", i, ats[i], want[i])
		}
	}
	if tl := timelineText(r.timeline(t, a)); !strings.Contains(tl, "deferred two (email): frequency cap 2 per 24h0m0s") {
		t.Errorf("the third email was not deferred by the cap:\n%s", tl)
	}
}

// TestCapsHoldForTouchesDueTogether: the caps also hold when touches of
// several cadences come due for one prospect at the same minute — a
// prospect enrolled in several cadences at once, each starting with a
// touch. A prospect's enrollments share its shard, so those touches land in
// one claim and one send task; the cap must still count each send of the
// task before the next. Four SMS cadences for a Florida number: three go
// out, the fourth is deferred 24 hours; two email cadences capped at 1 per
// 24 h: one goes out, the other waits a day.
func TestCapsHoldForTouchesDueTogether(t *testing.T) {
	start := utcAt(2026, 3, 2, 15, 0) // Monday 10:00 EST
	t.Run("FloridaSMS", func(t *testing.T) {
		var yamls []string
		for _, id := range []string{"fl-1", "fl-2", "fl-3", "fl-4"} {
			yamls = append(yamls, smsCadence(id, "s=0"))
		}
		r := newPromiseRig(t, start, yamls...)
		const phone = "+13055550123"
		for _, id := range []string{"fl-1", "fl-2", "fl-3", "fl-4"} {
			r.enroll(t, &store.Prospect{ID: "fla", Phone: phone}, id)
		}
		r.dispatch(t)
		r.walk(t, start.Add(26*time.Hour), 10*time.Minute, start.Add(24*time.Hour))
		got := r.smsTo(phone)
		if len(got) != 4 {
			t.Errorf("%d SMS, want 4 (none dropped):\n%s", len(got), smsList(got))
		}
		if n := countWithin24h(got); n > 3 {
			t.Errorf("%d SMS to a Florida number within 24 h, want at most 3 (COMPLIANCE.md 7):\n%s", n, smsList(got))
		}
	})
	t.Run("EmailFrequencyCap", func(t *testing.T) {
		r := newPromiseRig(t, start, cappedEmailCadence("cap-1", 1, "0"), cappedEmailCadence("cap-2", 1, "0"))
		for _, id := range []string{"cap-1", "cap-2"} {
			r.enroll(t, &store.Prospect{ID: "capped", Email: "capped@example.com"}, id)
		}
		r.dispatch(t)
		r.walk(t, start.Add(26*time.Hour), 10*time.Minute, start.Add(24*time.Hour))
		var ats []time.Time
		for _, m := range r.emailsTo("capped@example.com") {
			ats = append(ats, m.At.UTC())
		}
		if want := []time.Time{start, start.Add(24 * time.Hour)}; len(ats) != 2 || !ats[0].Equal(want[0]) || !ats[1].Equal(want[1]) {
			t.Errorf("sent at %v, want %v (frequency cap 1 per 24h across both cadences)", ats, want)
		}
	})
}

// countWithin24h is the most messages in any rolling 24 hours.
func countWithin24h(sent []sentSMS) int {
	most := 0
	for i := range sent {
		n := 0
		for j := range sent {
			if d := sent[i].At.Sub(sent[j].At); d >= 0 && d < 24*time.Hour {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

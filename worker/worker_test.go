package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

const threeStage = `id: e2e
name: End to end
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "08:00", end: "20:00"}
stages:
  - id: awareness
    touches:
      - {id: welcome, channel: email, template: welcome}
      - {id: nudge, channel: sms, delay: 1d, template: nudge}
    advance:
      - {on: click, to: consideration}
      - {on: no_engagement, after: 3d, to: decision}
  - id: consideration
    touches:
      - {id: case-study, channel: email, delay: 1d, template: plain, thread: true}
      - {id: demo, channel: email, delay: 2d, template: plain}
  - id: decision
    touches:
      - {id: offer, channel: email, delay: 1d, template: plain}
templates:
  welcome:
    subject: "Welcome {{ .FirstName | default \"there\" }}"
    text: "Hi {{ .FirstName | default \"there\" }}"
    html: "<p>Hi {{ .FirstName | default \"there\" }}</p>"
  plain: {subject: "News for {{ .Company }}", text: "Hello"}
  nudge: {sms: "Hi {{ .FirstName | default \"there\" }}, reply STOP to opt out"}
`

// twilioFake speaks Twilio's Messages API JSON, with error codes per number.
type twilioFake struct {
	mu     sync.Mutex
	sent   []url.Values
	faults map[string][]int // To -> queue of error codes (HTTP status derived)
	// burst answers the next requests with these codes, whatever the To.
	burst []int
}

func (f *twilioFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
		http.Error(w, "bad request", 400)
		return
	}
	if u, _, ok := r.BasicAuth(); !ok || u != "AC123" {
		w.WriteHeader(401)
		json.NewEncoder(w).Encode(map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	to := r.PostForm.Get("To")
	if len(f.burst) > 0 {
		f.faults[to] = append([]int{f.burst[0]}, f.faults[to]...)
		f.burst = f.burst[1:]
	}
	if q := f.faults[to]; len(q) > 0 {
		code := q[0]
		f.faults[to] = q[1:]
		status := 400
		switch {
		case code == 429 || code == 20429:
			status = 429
		case code >= 20500:
			status = 500
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"code": code, "message": fmt.Sprintf("error %d", code), "status": status})
		return
	}
	f.sent = append(f.sent, r.PostForm)
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(map[string]any{"sid": fmt.Sprintf("SM%032d", len(f.sent)), "status": "queued", "to": to, "body": r.PostForm.Get("Body")})
}

func (f *twilioFake) Sent() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.sent...)
}

// rewriteHost sends every request to the fake, whatever its host.
type rewriteHost struct{ target *url.URL }

func (rt rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rt.target.Scheme, rt.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

type rig struct {
	e      *worker.Engine
	st     *store.Store
	clk    *enginetest.Clock
	smtp   *smtptest.Server
	twilio *twilioFake
	c      *cadence.Cadence
}

// rigJournal is the journal mode newRig's engine uses ("" = default);
// TestBatchJournal sets it to run the send-path tests again.
var rigJournal string

func newRig(t *testing.T) *rig {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("e2e.yaml", []byte(threeStage))
	if err != nil {
		t.Fatal(err)
	}
	sink := smtptest.Start(t)
	mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mailer.Close() })
	fake := &twilioFake{faults: map[string][]int{}}
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	tw, err := channels.NewTwilio(channels.TwilioConfig{AccountSID: "AC123", AuthToken: "secret", Transport: rewriteHost{u}})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	// Monday 2026-03-02 10:00 in Chicago.
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	st := store.New(rdb, prefix)
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mailer, SMS: tw,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", MessageIDDomain: "n.example", Journal: rigJournal})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{e: e, st: st, clk: clk, smtp: sink, twilio: fake, c: c}
}

func (r *rig) dispatch(t *testing.T) int {
	t.Helper()
	n, err := r.e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: r.e})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (r *rig) enroll(t *testing.T, p *store.Prospect) cadence.Enrollment {
	t.Helper()
	en, err := r.e.Enroll(context.Background(), p, r.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return en
}

func (r *rig) state(t *testing.T, eid string) cadence.Enrollment {
	t.Helper()
	l, err := r.st.Enrollment(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	return l.Enrollment
}

func (r *rig) timeline(t *testing.T, eid string) string {
	t.Helper()
	tl, err := r.e.Timeline(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, en := range tl {
		b.WriteString(en.Text() + "\n")
	}
	return b.String()
}

func ada() *store.Prospect {
	return &store.Prospect{ID: "ada", Email: "Ada@Example.com", Phone: "(312) 555-0100", FirstName: "Ada", Company: "Analytical", TimeZone: "America/Chicago", Owner: "sam"}
}

func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	if _, err := r.e.Enroll(ctx, ada(), r.c.ID); err == nil || !strings.Contains(err.Error(), "already enrolled") {
		t.Fatalf("second enrollment: %v", err)
	}

	// Welcome goes out at once.
	if n := r.dispatch(t); n != 1 {
		t.Fatalf("claimed %d", n)
	}
	msgs := r.smtp.Messages()
	if len(msgs) != 1 || msgs[0].To != "ada@example.com" {
		t.Fatalf("sink: %+v", msgs)
	}
	h := msgs[0].Header
	// The Message-ID is deterministic, signed, and names its enrollment
	// and touch without any index.
	wantID := r.e.MessageID(en.ID, "welcome", 1)
	if eid, touch, err := r.e.MessageOwner(ctx, wantID); err != nil || eid != en.ID || touch != "welcome" || !strings.HasSuffix(wantID, "@n.example>") {
		t.Fatalf("Message-ID %s reads back as %q %q %v", wantID, eid, touch, err)
	}
	forged := strings.Replace(wantID, wantID[1:4], "AAA", 1)
	if _, _, err := r.e.MessageOwner(ctx, forged); err == nil {
		t.Fatalf("a forged Message-ID %s named an enrollment", forged)
	}
	if h.Get("Message-Id") != wantID || !strings.HasPrefix(h.Get("List-Unsubscribe"), "<https://n.example/u/") ||
		h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || h.Get("Subject") != "Welcome Ada" {
		t.Fatalf("headers: %v", h)
	}
	if !strings.Contains(string(msgs[0].Data), "1 Main St, Springfield") {
		t.Error("postal address missing from the body")
	}
	if raw := string(msgs[0].Data); !strings.Contains(raw, "https://n.example/o/") {
		t.Error("open pixel missing from the HTML part")
	}
	// The next touch is an SMS: it waits in the SMS lane, not the email one.
	shard := store.Shard("ada")
	if _, err := r.st.Redis().ZScore(ctx, r.st.Keys().Due(shard, store.LaneSMS), en.ID).Result(); err != nil {
		t.Errorf("nudge not in the SMS lane: %v", err)
	}
	if n, _ := r.st.Redis().ZCard(ctx, r.st.Keys().Due(shard, store.LaneEmail)).Result(); n != 0 {
		t.Errorf("email lane still holds %d", n)
	}
	// Dispatching again before the next touch is due sends nothing.
	r.dispatch(t)
	if len(r.smtp.Messages()) != 1 {
		t.Fatal("a touch was sent twice")
	}

	// A day later the SMS goes to Twilio.
	r.clk.Add(24 * time.Hour)
	r.dispatch(t)
	sms := r.twilio.Sent()
	if len(sms) != 1 || sms[0].Get("To") != "+13125550100" || sms[0].Get("From") != "+15005550006" || !strings.Contains(sms[0].Get("StatusCallback"), "/webhooks/twilio/status/") {
		t.Fatalf("twilio: %v", sms)
	}

	// A human click on the welcome email moves Ada to consideration.
	if _, err := r.e.Apply(ctx, en.ID, cadence.Event{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email}); err != nil {
		t.Fatal(err)
	}
	if s := r.state(t, en.ID); s.Stage != "consideration" {
		t.Fatalf("stage %s", s.Stage)
	}
	r.clk.Add(24 * time.Hour)
	r.dispatch(t)
	if got := len(r.smtp.Messages()); got != 2 {
		t.Fatalf("case study not sent: %d", got)
	}
	if h := r.smtp.Messages()[1].Header; h.Get("In-Reply-To") != wantID || h.Get("References") != wantID {
		t.Errorf("case study does not thread under the welcome: In-Reply-To %q References %q", h.Get("In-Reply-To"), h.Get("References"))
	}

	// She replies: warm, nothing more goes out.
	if _, err := r.e.Apply(ctx, en.ID, cadence.Event{Kind: cadence.EvReplied, Channel: cadence.Email, By: "email"}); err != nil {
		t.Fatal(err)
	}
	r.clk.Add(5 * 24 * time.Hour)
	r.dispatch(t)
	if got := len(r.smtp.Messages()); got != 2 || r.state(t, en.ID).State != cadence.Warm {
		t.Fatalf("warm lead was sent to: %d messages, state %s", got, r.state(t, en.ID).State)
	}

	// Sales resumes; the remaining 2-day wait restarts from the resume.
	if _, err := r.e.Resume(ctx, en.ID, "sales:sam"); err != nil {
		t.Fatal(err)
	}
	r.dispatch(t)
	if got := len(r.smtp.Messages()); got != 2 {
		t.Fatalf("resume should keep the remaining wait, sent %d", got)
	}
	// Pause with the demo due: nothing is sent while paused.
	r.clk.Add(2 * 24 * time.Hour)
	if _, err := r.e.Pause(ctx, en.ID, "sales:sam", "call booked", time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.dispatch(t)
	if got := len(r.smtp.Messages()); got != 2 {
		t.Fatalf("sent while paused: %d", got)
	}
	if _, err := r.e.Resume(ctx, en.ID, "sales:sam"); err != nil {
		t.Fatal(err)
	}
	r.dispatch(t)
	r.clk.Add(24 * time.Hour)
	r.dispatch(t)
	if got := len(r.smtp.Messages()); got != 4 {
		t.Fatalf("demo and offer: %d messages", got)
	}
	if s := r.state(t, en.ID); s.State != cadence.Completed {
		t.Fatalf("state %s %s[%d]", s.State, s.Stage, s.Step)
	}
	tl := r.timeline(t, en.ID)
	for _, want := range []string{"enrolled at stage awareness: version v", "sent welcome (email)", "sent nudge (sms)", "clicked welcome", "stage awareness -> consideration: click on welcome",
		"warm: active -> warm", "resumed: warm -> active by sales:sam", "paused: active -> paused by sales:sam: call booked", "state: active -> completed"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	stats, _ := r.e.Stats(ctx, r.c.ID)
	if stats["t:welcome:sent"] != 1 || stats["t:welcome:clicked"] != 1 || stats["s:consideration:entered"] != 1 || stats["state:completed"] != 1 || stats["state:active"] != 0 ||
		stats["in:awareness"] != 0 || stats["in:decision"] != 0 {
		t.Errorf("stats: %v", stats)
	}
	// Message-IDs are unique: nothing was sent twice.
	seen := map[string]bool{}
	for _, m := range r.smtp.Messages() {
		if seen[m.MessageID] {
			t.Errorf("duplicate %s", m.MessageID)
		}
		seen[m.MessageID] = true
	}
}

func TestSMTPFaults(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	people := map[string]smtptest.Fault{
		"soft@example.com":    {Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}, Msg: "try later", Times: 1},
		"gone@example.com":    {Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"},
		"dropped@example.com": {DropConn: true, Times: 1},
	}
	for addr, f := range people {
		r.smtp.Fail(addr, f)
		r.enroll(t, &store.Prospect{ID: strings.Split(addr, "@")[0], Email: addr, TimeZone: "America/Chicago", Company: "X"})
	}
	r.dispatch(t)
	got := map[string]int{}
	for _, m := range r.smtp.Messages() {
		got[m.To]++
	}
	if got["dropped@example.com"] != 1 {
		t.Errorf("dropped connection should be redialled and sent once: %v", got)
	}
	// 451: retried after the backoff, then delivered once.
	if got["soft@example.com"] != 0 {
		t.Errorf("4xx delivered on first try? %v", got)
	}
	r.clk.Add(2 * time.Minute)
	r.dispatch(t)
	got = map[string]int{}
	for _, m := range r.smtp.Messages() {
		got[m.To]++
	}
	if got["soft@example.com"] != 1 {
		t.Errorf("4xx not retried: %v\n%s", got, r.timeline(t, "soft~e2e"))
	}
	// 5.1.1: hard bounce, suppressed, cadence exited.
	gone := r.state(t, "gone~e2e")
	p, _ := r.st.Prospect(ctx, "gone")
	if gone.State != cadence.Exited || p.EmailBlocked != "hard bounce" {
		t.Errorf("5.1.1: state %s blocked %q", gone.State, p.EmailBlocked)
	}
	log, _ := r.st.ConsentLog(ctx, "gone")
	if len(log) != 1 || log[0].Blocked != "hard bounce" || log[0].Source != "smtp" {
		t.Errorf("consent log: %+v", log)
	}
}

func TestTwilioFaults(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	mk := func(id, phone string) string {
		en := r.enroll(t, &store.Prospect{ID: id, Email: id + "@example.com", Phone: phone, TimeZone: "America/Chicago"})
		return en.ID
	}
	busy := mk("busy", "+13125550101")
	stop := mk("stop", "+13125550102")
	r.twilio.faults["+13125550101"] = []int{20429, 20429}
	r.twilio.faults["+13125550102"] = []int{21610}
	r.dispatch(t) // welcome emails
	r.clk.Add(24 * time.Hour)
	r.dispatch(t)
	if n := len(r.twilio.Sent()); n != 0 {
		t.Fatalf("sent %d", n)
	}
	p, _ := r.st.Prospect(ctx, "stop")
	if p.SMSBlocked == "" {
		t.Errorf("21610 must opt the number out\n%s", r.timeline(t, stop))
	}
	for i := 0; i < 3; i++ {
		r.clk.Add(5 * time.Minute)
		r.dispatch(t)
	}
	sent := r.twilio.Sent()
	if len(sent) != 1 || sent[0].Get("To") != "+13125550101" {
		t.Fatalf("429s should be retried until sent once: %v\n%s", sent, r.timeline(t, busy))
	}
	// The opted-out number's SMS touch is skipped, never sent.
	r.clk.Add(time.Hour)
	r.dispatch(t)
	if strings.Count(r.timeline(t, stop), "sent nudge") != 0 || !strings.Contains(r.timeline(t, stop), "skipped nudge (sms): sms opted out") {
		t.Errorf("timeline:\n%s", r.timeline(t, stop))
	}
}

func TestReplayedClaimSendsOnce(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	// The same batch delivered twice (an asynq retry after a lost ack).
	if err := r.e.ProcessBatch(ctx, []string{en.ID}); err != nil {
		t.Fatal(err)
	}
	if err := r.e.ProcessBatch(ctx, []string{en.ID}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.smtp.Messages()); n != 1 {
		t.Fatalf("sent %d times", n)
	}
}

func TestInterruptedSendIsUncertainNotResent(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	// A worker handed the message to the relay and died before it knew
	// the outcome.
	l := deadWorker(t, r, en.ID, store.LedgerSending)
	// While its lease lasts nobody else sends.
	r.dispatch(t)
	if len(r.smtp.Messages()) != 0 {
		t.Fatal("sent while another worker owned the send")
	}
	r.clk.Add(3 * time.Minute) // claim lease and ledger lease both expire
	r.dispatch(t)
	if len(r.smtp.Messages()) != 0 {
		t.Fatal("an ambiguous send was repeated")
	}
	if tl := r.timeline(t, en.ID); !strings.Contains(tl, "uncertain: an earlier attempt was interrupted") {
		t.Fatalf("timeline:\n%s", tl)
	}
	if s := r.state(t, en.ID); s.Step != 1 {
		t.Fatalf("enrollment did not move on: step %d", s.Step)
	}
	// Operators get it listed with the Message-ID to look up at the relay.
	list, err := r.e.Uncertain(ctx, r.c.ID, r.clk.Now().Add(-time.Hour), 10)
	want := strings.Trim(r.e.MessageID(en.ID, "welcome", l.Enrollment.Generation), "<>")
	if err != nil || len(list) != 1 || list[0].EID != en.ID || list[0].MessageID != want || list[0].Channel != cadence.Email {
		t.Fatalf("uncertain list %+v %v, want %s", list, err, want)
	}
}

// deadWorker leaves the ledger as a worker killed at the given point
// would: "sending" (while the relay had the message) or "sent" (accepted,
// not yet committed).
func deadWorker(t *testing.T, r *rig, eid, upTo string) store.Loaded {
	t.Helper()
	ctx := context.Background()
	l, err := r.st.Enrollment(ctx, eid)
	if err != nil {
		t.Fatal(err)
	}
	en := &l.Enrollment
	field := store.LedgerField(en)
	sending := store.SendingValue(r.clk.Now().Add(time.Minute), "dead.1")
	if res, err := r.st.StepLedger(ctx, []store.LedgerStep{{Begin: true, EID: en.ID, Field: field, Rev: l.Rev, Value: sending}}); err != nil || res[0] != "OK" {
		t.Fatalf("begin: %v %v", res, err)
	}
	if upTo == store.LedgerSent {
		if _, err := r.st.StepLedger(ctx, []store.LedgerStep{{EID: en.ID, Field: field, Value: store.LedgerSent}}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestAcceptedButUncommittedIsCommittedNotResent(t *testing.T) {
	r := newRig(t)
	en := r.enroll(t, ada())
	deadWorker(t, r, en.ID, store.LedgerSent)
	r.clk.Add(3 * time.Minute)
	r.dispatch(t)
	if n := len(r.smtp.Messages()); n != 0 {
		t.Fatalf("an accepted touch was sent again (%d)", n)
	}
	if s := r.state(t, en.ID); s.Step != 1 {
		t.Fatalf("enrollment did not move on: step %d", s.Step)
	}
	if tl := r.timeline(t, en.ID); !strings.Contains(tl, "committed after its worker stopped") {
		t.Fatalf("timeline:\n%s", tl)
	}
	// Replies thread to it as to any sent message.
	if s := r.state(t, en.ID); s.PrevMessageID == "" {
		t.Fatal("the recovered send has no Message-ID")
	}
}

// hookedSender runs before(i) just before message i reaches the relay.
type hookedSender struct {
	channels.EmailSender
	before func(i int)
}

func (h hookedSender) SendEmails(ctx context.Context, msgs []*channels.Email, j channels.Journal) []error {
	return h.EmailSender.SendEmails(ctx, msgs, hookedJournal{j, h.before})
}

type hookedJournal struct {
	channels.Journal
	before func(i int)
}

func (h hookedJournal) Step(ctx context.Context, done int, doneErr error, next int) error {
	if next >= 0 {
		h.before(next)
	}
	return h.Journal.Step(ctx, done, doneErr, next)
}

// hookedEngine is an engine on the rig's store and clock whose single SMTP
// connection runs hook(i) just before message i of a batch is journaled.
func hookedEngine(t *testing.T, r *rig, hook func(i int), lease time.Duration) *worker.Engine {
	t.Helper()
	mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: r.smtp.Port, TLS: "none", Connections: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mailer.Close() })
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	e, err := worker.New(worker.Config{Store: r.st, Cadences: map[string]*cadence.Cadence{r.c.ID: r.c}, Email: hookedSender{mailer, hook}, SMS: nilSMS{},
		Tokens: signer, Clock: r.clk.Now, PublicURL: "https://n.example", MessageIDDomain: "n.example", Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// enrollEmailOnly enrolls one email-only prospect per id and returns the
// enrollment ids.
func enrollEmailOnly(t *testing.T, e *worker.Engine, r *rig, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		en, err := e.Enroll(context.Background(), &store.Prospect{ID: id, Email: id + "@example.com", TimeZone: "America/Chicago", Company: "X"}, r.c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en.ID)
	}
	return out
}

func TestUnsubscribeDuringABatchStopsTheRestOfIt(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	var e *worker.Engine
	var unsubscribed []string
	e = hookedEngine(t, r, func(i int) {
		if i == 0 {
			// While the first message goes out, every other prospect in
			// the batch unsubscribes.
			for _, id := range []string{"u1", "u2", "u3"} {
				if err := e.ProspectEvent(ctx, id, cadence.Event{Kind: cadence.EvUnsubscribed, At: r.clk.Now(), Channel: cadence.Email, By: "one-click"}); err != nil {
					t.Error(err)
				}
				unsubscribed = append(unsubscribed, id)
			}
		}
	}, 0)
	ids := enrollEmailOnly(t, e, r, "u0", "u1", "u2", "u3")
	if err := e.ProcessBatch(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if len(unsubscribed) != 3 {
		t.Fatalf("hook ran for %v", unsubscribed)
	}
	got := r.smtp.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages went out after three of four recipients unsubscribed mid-batch: %+v", len(got), got)
	}
	for _, id := range ids[1:] {
		if s := r.state(t, id); s.State != cadence.Exited {
			t.Errorf("%s: state %s, want exited", id, s.State)
		}
	}
}

func TestUnsubscribeReachesEveryCadence(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	other, err := cadence.Parse("other.yaml", []byte(strings.Replace(threeStage, "id: e2e", "id: other", 1)))
	if err != nil {
		t.Fatal(err)
	}
	rdbCadences := map[string]*cadence.Cadence{r.c.ID: r.c, other.ID: other}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	out, _ := channels.NewOutbox("", 10, r.clk.Now)
	e, err := worker.New(worker.Config{Store: r.st, Cadences: rdbCadences, Email: out, SMS: out, Tokens: signer, Clock: r.clk.Now, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.Enroll(ctx, ada(), r.c.ID)
	b, _ := e.Enroll(ctx, ada(), other.ID)
	if _, err := e.Apply(ctx, a.ID, cadence.Event{Kind: cadence.EvUnsubscribed, By: "one-click"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, b.ID} {
		l, _ := r.st.Enrollment(ctx, id)
		if l.Enrollment.State != cadence.Exited {
			t.Errorf("%s: %s", id, l.Enrollment.State)
		}
	}
	p, _ := r.st.Prospect(ctx, "ada")
	if p.EmailBlocked != "unsubscribed" {
		t.Errorf("blocked %q", p.EmailBlocked)
	}
}

// TestRealAsynqWorker runs the dispatcher and handlers on a real asynq
// server against the test Redis.
func TestRealAsynqWorker(t *testing.T) {
	r := newRig(t)
	for i := 0; i < 30; i++ {
		r.enroll(t, &store.Prospect{ID: fmt.Sprintf("p%02d", i), Email: fmt.Sprintf("p%02d@example.com", i), TimeZone: "America/Chicago"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.e.Run(ctx, redistest.Asynq(t), worker.RunOptions{Concurrency: 4, Tick: 50 * time.Millisecond})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for r.smtp.Count() < 30 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(r.smtp.Messages()); n != 30 {
		t.Fatalf("sent %d of 30", n)
	}
}

func TestWarmLeadWebhookIsSignedAndRetried(t *testing.T) {
	r := newRig(t)
	var mu sync.Mutex
	var bodies [][]byte
	var sigOK []bool
	attempts := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		ts, _ := strconv.ParseInt(req.Header.Get("X-Nurture-Timestamp"), 10, 64)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			w.WriteHeader(http.StatusBadGateway) // the CRM is down once
			return
		}
		bodies = append(bodies, b)
		sigOK = append(sigOK, req.Header.Get("X-Nurture-Signature") == worker.SignWebhook("hook-secret", ts, b))
	}))
	defer recv.Close()
	conn := redistest.Asynq(t)
	client := asynq.NewClient(conn)
	defer client.Close()
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	mailer, _ := channels.NewOutbox("", 10, r.clk.Now)
	e, err := worker.New(worker.Config{Store: r.st, Cadences: map[string]*cadence.Cadence{r.c.ID: r.c}, Email: mailer, SMS: mailer, Tokens: signer,
		Clock: r.clk.Now, PublicURL: "https://n.example", WarmWebhookURL: recv.URL, WarmWebhookSecret: "hook-secret", Notify: client})
	if err != nil {
		t.Fatal(err)
	}
	// asynq keeps its own keys outside the test prefix: a unique prospect
	// keeps the task id unique when the same Redis serves many runs.
	p := ada()
	p.ID = fmt.Sprintf("ada-%d", time.Now().UnixNano())
	en, err := e.Enroll(context.Background(), p, r.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(context.Background(), en.ID, cadence.Event{Kind: cadence.EvReplied, Channel: cadence.Email, By: "email", Reason: "Call me Tuesday"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.Run(ctx, conn, worker.RunOptions{Concurrency: 2, Tick: 50 * time.Millisecond, RetryDelay: func(int) time.Duration { return 100 * time.Millisecond }})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(bodies)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !sigOK[0] || attempts != 2 {
		t.Fatalf("deliveries %d (attempts %d), signature ok %v", len(bodies), attempts, sigOK)
	}
	var notice worker.WarmNotice
	json.Unmarshal(bodies[0], &notice)
	if notice.Event != "lead.warm" || notice.Enrollment != en.ID || notice.Owner != "sam" || notice.Reply != "Call me Tuesday" {
		t.Fatalf("notice %+v", notice)
	}
}

func TestConsecutiveSoftBouncesSuppress(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	soft := cadence.Event{Kind: cadence.EvBounced, Channel: cadence.Email, By: "dsn", Reason: "4.2.2 mailbox full"}
	for i := 0; i < 2; i++ {
		if _, err := r.e.Apply(ctx, en.ID, soft); err != nil {
			t.Fatal(err)
		}
	}
	// A human open proves the address works: the count starts again.
	r.e.Apply(ctx, en.ID, cadence.Event{Kind: cadence.EvOpened, Channel: cadence.Email, Touch: "welcome"})
	for i := 0; i < 2; i++ {
		r.e.Apply(ctx, en.ID, soft)
	}
	if p, _ := r.st.Prospect(ctx, "ada"); p.EmailBlocked != "" {
		t.Fatalf("suppressed after a reset: %q", p.EmailBlocked)
	}
	r.e.Apply(ctx, en.ID, soft)
	if p, _ := r.st.Prospect(ctx, "ada"); p.EmailBlocked != "3 soft bounces in a row" {
		t.Fatalf("three soft bounces in a row: %q", p.EmailBlocked)
	}
}

func TestSenderPolicyPausesTheDomain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.smtp.Fail("policy@example.com", smtptest.Fault{Code: 554, Enhanced: smtp.EnhancedCode{5, 7, 1}, Msg: "sender blocked", Times: 1})
	r.enroll(t, &store.Prospect{ID: "policy", Email: "policy@example.com", TimeZone: "America/Chicago", Company: "X"})
	r.dispatch(t)
	// 5.7.1: sender-side; the recipient is not suppressed and it waits.
	pol, _ := r.st.Prospect(ctx, "policy")
	if pol.EmailBlocked != "" || r.state(t, "policy~e2e").State != cadence.Active || !strings.Contains(r.timeline(t, "policy~e2e"), "sender_policy 554 5.7.1") {
		t.Errorf("5.7.1: blocked %q\n%s", pol.EmailBlocked, r.timeline(t, "policy~e2e"))
	}
	// ...and the whole sending domain pauses: a new prospect's email waits.
	if until, _, _ := r.st.DomainPaused(ctx, "acme.example", r.clk.Now()); until.IsZero() {
		t.Fatal("sending domain not paused after 5.7.1")
	}
	before := r.smtp.Count()
	r.enroll(t, &store.Prospect{ID: "late", Email: "late@example.com", TimeZone: "America/Chicago"})
	r.dispatch(t)
	if r.smtp.Count() != before || !strings.Contains(r.timeline(t, "late~e2e"), "sending domain acme.example paused") {
		t.Errorf("sent from a paused domain:\n%s", r.timeline(t, "late~e2e"))
	}
	r.clk.Add(time.Hour + time.Minute)
	r.dispatch(t)
	if !strings.Contains(r.timeline(t, "late~e2e"), "sent welcome") {
		t.Errorf("not sent after the pause ended:\n%s", r.timeline(t, "late~e2e"))
	}
}

// TestProviderFaultsAtScale: 10% of SMTP recipients answer 4xx for a while
// and Twilio answers bursts of 429 and 500; everything is delivered in the
// end, retries back off, nothing is sent twice.
func TestProviderFaultsAtScale(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	const n = 300
	var ps []*store.Prospect
	for i := 0; i < n; i++ {
		email := fmt.Sprintf("f%03d@example.com", i)
		if i%10 == 0 {
			r.smtp.Fail(email, smtptest.Fault{Code: 451, Enhanced: smtp.EnhancedCode{4, 7, 1}, Msg: "try again later", Times: 3})
		}
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("f%03d", i), Email: email, Phone: fmt.Sprintf("+1312555%04d", 1000+i), TimeZone: "America/Chicago"})
	}
	for _, res := range r.e.EnrollBatch(ctx, ps, r.c.ID) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	r.twilio.mu.Lock()
	for i := 0; i < 60; i++ {
		r.twilio.burst = append(r.twilio.burst, 20429)
	}
	for i := 0; i < 30; i++ {
		r.twilio.burst = append(r.twilio.burst, 20500)
	}
	r.twilio.mu.Unlock()
	// Walk the clock a minute at a time through the first day: welcome
	// emails, their retries, then the SMS a day later and theirs.
	for step := 0; step < 26*60; step++ {
		r.dispatch(t)
		r.clk.Add(time.Minute)
		if r.smtp.Count() == n && len(r.twilio.Sent()) == n {
			break
		}
	}
	seen := map[string]int{}
	for _, m := range r.smtp.Messages() {
		seen[m.MessageID]++
	}
	if len(seen) != n {
		t.Fatalf("%d of %d welcome emails delivered", len(seen), n)
	}
	for id, k := range seen {
		if k > 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
	}
	smsTo := map[string]int{}
	for _, f := range r.twilio.Sent() {
		smsTo[f.Get("To")]++
	}
	if len(smsTo) != n {
		t.Fatalf("%d of %d SMS delivered", len(smsTo), n)
	}
	for to, k := range smsTo {
		if k > 1 {
			t.Errorf("SMS to %s sent %d times", to, k)
		}
	}
	// Backoff grows: 1 minute, then 2, then 4.
	tl := r.timeline(t, "f000~e2e")
	for _, want := range []string{"attempt 1 failed (retry 451 4.7.1", "attempt 2 failed", "attempt 3 failed", "sent welcome"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
	entries, _ := r.e.Timeline(ctx, "f000~e2e")
	var waits []time.Duration
	for _, en := range entries {
		if en.Kind == "retry" {
			waits = append(waits, en.Until.Sub(en.At))
		}
	}
	if len(waits) != 3 || waits[0] != time.Minute || waits[1] != 2*time.Minute || waits[2] != 4*time.Minute {
		t.Errorf("backoff %v, want [1m 2m 4m]", waits)
	}
}

// A message begun late in a long batch gets a lease from its own start,
// so a slow relay never leaves it looking abandoned while it is sent.
func TestJournalLeaseStartsWithEachMessage(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	var ids []string
	var leases []time.Time
	e := hookedEngine(t, r, func(i int) {
		if i > 0 {
			// The previous message is still "sending" until this step.
			l, _ := r.st.Enrollment(ctx, ids[i-1])
			v, _ := r.st.Ledger(ctx, ids[i-1], store.LedgerField(&l.Enrollment))
			_, until := store.ParseLedger(v)
			leases = append(leases, until)
		}
		r.clk.Add(50 * time.Second) // a slow relay
	}, time.Minute)
	start := r.clk.Now()
	ids = enrollEmailOnly(t, e, r, "l0", "l1", "l2")
	if err := e.ProcessBatch(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if len(leases) != 2 {
		t.Fatalf("leases %v", leases)
	}
	for i, until := range leases {
		// Message i began after (i+1) × 50 s of relay time.
		if want := start.Add(time.Duration(i+1)*50*time.Second + time.Minute); !until.Equal(want) {
			t.Errorf("message %d: lease until %v, want %v (from its own start)", i, until, want)
		}
	}
	if n := len(r.smtp.Messages()); n != 3 {
		t.Fatalf("sent %d", n)
	}
}

// TestBatchJournal runs the send-path tests again with the per-batch
// journal: the same guarantees (once, retries, uncertain, recovery) hold.
func TestBatchJournal(t *testing.T) {
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"EndToEnd", TestEndToEnd}, {"SMTPFaults", TestSMTPFaults}, {"TwilioFaults", TestTwilioFaults},
		{"ReplayedClaimSendsOnce", TestReplayedClaimSendsOnce}, {"InterruptedSendIsUncertainNotResent", TestInterruptedSendIsUncertainNotResent},
		{"AcceptedButUncommittedIsCommittedNotResent", TestAcceptedButUncommittedIsCommittedNotResent},
		{"ConsecutiveSoftBouncesSuppress", TestConsecutiveSoftBouncesSuppress}, {"SenderPolicyPausesTheDomain", TestSenderPolicyPausesTheDomain},
	}
	rigJournal = worker.JournalBatch
	defer func() { rigJournal = "" }()
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// loseBeginReply is a go-redis hook that lets the first pipeline carrying a
// journal Begin run and then reports an error, as when Redis dies after
// applying a command but before its reply arrives.
type loseBeginReply struct{ lost atomic.Bool }

func (*loseBeginReply) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*loseBeginReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *loseBeginReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if name := c.Name(); (name == "evalsha" || name == "eval") && c.Err() == nil && strings.Contains(fmt.Sprint(c.Args()...), "sending:") && h.lost.CompareAndSwap(false, true) {
				return errors.New("read tcp: connection reset by peer")
			}
		}
		return err
	}
}

// A Begin applied by Redis whose reply was lost leaves "sending" behind for
// a message that never went out; the worker releases it once Redis answers,
// so the retry sends the touch instead of marking it uncertain.
func TestUnansweredBeginIsReleasedNotUncertain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	hook := &loseBeginReply{}
	r.st.Redis().AddHook(hook)
	en := r.enroll(t, ada())
	if err := r.e.ProcessBatch(ctx, []string{en.ID}); err == nil {
		t.Fatal("the batch did not report the lost reply (asynq would not retry it)")
	}
	l, _ := r.st.Enrollment(ctx, en.ID)
	field := store.LedgerField(&l.Enrollment)
	if v, _ := r.st.Ledger(ctx, en.ID, field); !strings.HasPrefix(v, store.LedgerSending) || len(r.smtp.Messages()) != 0 {
		t.Fatalf("setup: ledger %q, %d sent", v, len(r.smtp.Messages()))
	}
	// asynq retries the task.
	if err := r.e.ProcessBatch(ctx, []string{en.ID}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.smtp.Messages()); n != 1 {
		t.Fatalf("sent %d times, want 1", n)
	}
	if tl := r.timeline(t, en.ID); strings.Contains(tl, "uncertain") {
		t.Fatalf("timeline:\n%s", tl)
	}
}

// redisDown is a go-redis hook that, from the first pipeline recording a
// "sent" outcome until disarmed, fails every pipeline without running it,
// as if Redis went away just after the relay accepted a message.
type redisDown struct{ armed atomic.Bool }

func (*redisDown) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*redisDown) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *redisDown) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if args := c.Args(); c.Name() == "hset" && len(args) == 4 && args[3] == store.LedgerSent {
				h.armed.CompareAndSwap(false, true)
			}
		}
		if h.armed.Load() {
			return errors.New("dial tcp: connection refused")
		}
		return next(ctx, cmds)
	}
}

// Redis goes away right after the relay accepted a message, so neither its
// "sent" nor the commit can be written. Once Redis is back the worker
// records "sent", and the retry commits the touch without resending it.
func TestAcceptedWhileRedisWasDownIsCommittedNotUncertain(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	down := &redisDown{}
	r.st.Redis().AddHook(down)
	e := hookedEngine(t, r, func(int) {}, 0)
	ids := enrollEmailOnly(t, e, r, "d0")
	if err := e.ProcessBatch(ctx, ids); err == nil {
		t.Fatal("the batch did not report the outage (asynq would not retry it)")
	}
	if !down.armed.Load() || len(r.smtp.Messages()) != 1 {
		t.Fatalf("setup: outage %v, %d accepted", down.armed.Load(), len(r.smtp.Messages()))
	}
	down.armed.Store(false) // Redis is back; asynq retries the task
	if err := e.ProcessBatch(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if n := len(r.smtp.Messages()); n != 1 {
		t.Fatalf("sent %d times, want 1", n)
	}
	if s := r.state(t, ids[0]); s.Step != 1 {
		t.Fatalf("not committed: step %d", s.Step)
	}
	if tl := r.timeline(t, ids[0]); strings.Contains(tl, "uncertain") || !strings.Contains(tl, "committed after its worker stopped") {
		t.Fatalf("timeline:\n%s", tl)
	}
}

// A marketer edits a live cadence: enrollments keep waiting for the touch
// they were waiting for (found by id), and those whose stage is gone exit
// with the reason instead of failing.
func TestLiveCadenceEdits(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	prospect := func(id string) *store.Prospect {
		return &store.Prospect{ID: id, Email: id + "@example.com", TimeZone: "America/Chicago", Company: "X"}
	}
	// Two prospects get the welcome and click: both wait for case-study,
	// the first touch of consideration.
	var ids []string
	for _, id := range []string{"live1", "live2"} {
		en := r.enroll(t, prospect(id))
		ids = append(ids, en.ID)
	}
	r.dispatch(t) // welcome to both
	for _, id := range ids {
		if _, err := r.e.Apply(ctx, id, cadence.Event{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, At: r.clk.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if s := r.state(t, ids[0]); s.Stage != "consideration" || s.NextTouch != "case-study" {
		t.Fatalf("setup: %s next %q", s.Stage, s.NextTouch)
	}
	// v2 inserts "webinar" before case-study; v3 (for live2) drops the stage.
	inserted := strings.Replace(threeStage, "      - {id: case-study,", "      - {id: webinar, channel: email, delay: 1d, template: plain}\n      - {id: case-study,", 1)
	v2, err := cadence.Parse("e2e.yaml", []byte(inserted))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{v2.ID: v2})
	r.clk.Add(26 * time.Hour)
	before := len(r.smtp.Messages())
	r.dispatch(t)
	got := r.smtp.Messages()[before:]
	if len(got) != 2 {
		t.Fatalf("sent %d after the edit, want 2", len(got))
	}
	for _, m := range got {
		if touch := m.Header.Get("X-Nurture-Touch"); !strings.HasPrefix(touch, "e2e/case-study/") {
			t.Errorf("%s got %s, want the case-study it was waiting for", m.To, touch)
		}
	}
	if tl := r.timeline(t, ids[0]); !strings.Contains(tl, "now following version "+v2.Version) || !strings.Contains(tl, "next touch case-study moved from position 1 to 2") {
		t.Fatalf("timeline:\n%s", tl)
	}

	removed := strings.Replace(inserted, "  - id: consideration\n    touches:\n      - {id: webinar, channel: email, delay: 1d, template: plain}\n      - {id: case-study, channel: email, delay: 1d, template: plain, thread: true}\n      - {id: demo, channel: email, delay: 2d, template: plain}\n", "", 1)
	removed = strings.Replace(removed, "      - {on: click, to: consideration}\n", "", 1)
	v3, err := cadence.Parse("e2e.yaml", []byte(removed))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{v3.ID: v3})
	r.clk.Add(3 * 24 * time.Hour)
	before = len(r.smtp.Messages())
	r.dispatch(t)
	if n := len(r.smtp.Messages()) - before; n != 0 {
		t.Fatalf("sent %d from a removed stage", n)
	}
	for _, id := range ids {
		if s := r.state(t, id); s.State != cadence.Exited || !strings.Contains(s.Reason, "stage consideration is not in version "+v3.Version) {
			t.Errorf("%s: %s %q", id, s.State, s.Reason)
		}
	}
}

// A worker dies while the relay has the message, and before the next claim
// a sales rep pauses the prospect, then resumes: the touch must not be sent
// again (the pause changes the enrollment's generation, not its ledger).
func TestCrashThenPauseThenResumeDoesNotResend(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	deadWorker(t, r, en.ID, store.LedgerSending)
	if _, err := r.e.Pause(ctx, en.ID, "sales:sam", "call booked", time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.clk.Add(time.Hour)
	if _, err := r.e.Resume(ctx, en.ID, "sales:sam"); err != nil {
		t.Fatal(err)
	}
	r.clk.Add(3 * time.Minute)
	r.dispatch(t)
	if n := len(r.smtp.Messages()); n != 0 {
		t.Fatalf("the interrupted touch was sent again after pause and resume (%d)", n)
	}
	if tl := r.timeline(t, en.ID); !strings.Contains(tl, "uncertain: an earlier attempt was interrupted") {
		t.Fatalf("timeline:\n%s", tl)
	}
	// Once settled, the ledger only has to outlive replays in flight.
	if ttl, _ := r.st.Redis().TTL(ctx, r.st.Keys().Ledger(en.ID)).Result(); ttl <= 0 || ttl > store.LedgerSettledTTL {
		t.Fatalf("settled ledger TTL %v, want at most %v", ttl, store.LedgerSettledTTL)
	}
}

package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// ownerCadence sends two threaded emails a day apart from the prospect's
// owner's mailbox.
const ownerCadence = `id: reps
name: Reps
timezone: UTC
from: {mailbox: owner}
postal_address: "1 Main St, Springfield"
send_window: {start: "08:00", end: "18:00"}
stages:
  - id: outreach
    touches:
      - {id: intro, channel: email, delay: 0, template: intro}
      - {id: bump, channel: email, delay: 1d, template: bump, thread: true}
      - {id: last, channel: email, delay: 5d, template: bump, thread: true}
templates:
  intro: {subject: "Quick question", text: "Hi {{ .FirstName }}"}
  bump: {subject: "Re: Quick question", text: "Following up"}
`

// fromOf is a message's From as name <address>.
func fromOf(t *testing.T, m smtptest.Message) string {
	t.Helper()
	a, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		t.Fatalf("From %q: %v", m.Header.Get("From"), err)
	}
	return a.Name + " <" + a.Address + ">"
}

// dailyCadence is one email touch from the owner's mailbox.
const dailyCadence = `id: reps
name: Reps
timezone: UTC
from: {mailbox: owner}
postal_address: "1 Main St, Springfield"
send_window: {start: "08:00", end: "18:00"}
stages:
  - id: outreach
    touches:
      - {id: intro, channel: email, delay: 0, template: intro}
templates:
  intro: {subject: "Quick question", text: "Hi {{ .FirstName }}"}
`

type senderRig struct {
	n     int // prospects enrolled so far (their ids)
	e     *worker.Engine
	st    *store.Store
	clk   *enginetest.Clock
	sink  *smtptest.Server
	c     *cadence.Cadence
	hooks *webhookSink
}

// webhookSink records the operator webhook's posts.
type webhookSink struct {
	mu     sync.Mutex
	bodies []worker.OperatorNotice
	sigs   []string
}

func (w *webhookSink) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var n worker.OperatorNotice
	_ = json.Unmarshal(b, &n)
	w.mu.Lock()
	w.bodies = append(w.bodies, n)
	w.sigs = append(w.sigs, r.Header.Get("X-Nurture-Signature")+"|"+r.Header.Get("X-Nurture-Timestamp")+"|"+string(b))
	w.mu.Unlock()
}

// webhookQueue delivers enqueued webhook tasks at once.
type webhookQueue struct{ e *worker.Engine }

func (q *webhookQueue) EnqueueContext(ctx context.Context, t *asynq.Task, _ ...asynq.Option) (*asynq.TaskInfo, error) {
	if t.Type() == worker.TaskOperatorWebhook {
		return &asynq.TaskInfo{}, q.e.HandleOperatorWebhook(ctx, t)
	}
	return &asynq.TaskInfo{}, nil
}

func newSenderRig(t *testing.T, cadenceSrc, mailboxes string, batch int) *senderRig {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("reps.yaml", []byte(cadenceSrc))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := senders.Parse("mailboxes.yaml", []byte(mailboxes), nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := smtptest.Start(t)
	mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mailer.Close() })
	hooks := &webhookSink{}
	hs := httptest.NewServer(hooks)
	t.Cleanup(hs.Close)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	// Monday 2027-02-01 09:00 UTC.
	clk := enginetest.NewClock(time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC))
	st := store.New(rdb, prefix)
	rig := &senderRig{st: st, clk: clk, sink: sink, c: c, hooks: hooks}
	ob, _ := channels.NewOutbox("", 10, clk.Now)
	notify := &webhookQueue{}
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mailer, SMS: ob,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", MessageIDDomain: "n.example", TaskBatch: batch, Senders: cfg,
		OperatorWebhookURL: hs.URL, OperatorWebhookSecret: "operator-secret-0123", Notify: notify})
	if err != nil {
		t.Fatal(err)
	}
	rig.e, notify.e = e, e
	return rig
}

func (r *senderRig) dispatch(t *testing.T) {
	t.Helper()
	if _, err := r.e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: r.e}); err != nil {
		t.Fatal(err)
	}
}

func (r *senderRig) enroll(t *testing.T, n int, owner, domain string) []string {
	t.Helper()
	var ps []*store.Prospect
	for i := r.n; i < r.n+n; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("%s%03d", owner, i), Email: fmt.Sprintf("%s%03d@%s", owner, i, domain), FirstName: "P", Owner: owner, TimeZone: "UTC"})
	}
	r.n += n
	var ids []string
	for _, res := range r.e.EnrollBatch(context.Background(), ps, r.c.ID) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		ids = append(ids, res.Enrollment.ID)
	}
	return ids
}

func (r *senderRig) lastEntry(t *testing.T, eid string) cadence.Entry {
	t.Helper()
	tl, err := r.e.Timeline(context.Background(), eid)
	if err != nil || len(tl) == 0 {
		t.Fatalf("timeline of %s: %v", eid, err)
	}
	return tl[len(tl)-1]
}

const repMailboxes = `mailboxes:
  sam:
    address: sam@acme.example
    name: Sam Rivera
    owners: [sam]
  ada:
    address: ada@acme.example
    name: Ada Park
    owners: [ada]
`

// TestOwnerMailboxThreadsReplies: from: owner sends each prospect's emails
// from its owner's mailbox, with no Reply-To, so the reply lands in the
// rep's inbox; the second touch threads on the first from the same
// mailbox; the reply, matched by its In-Reply-To, warms the lead for that
// rep. A prospect whose owner has no mailbox is held, with the reason.
func TestOwnerMailboxThreadsReplies(t *testing.T) {
	r := newSenderRig(t, ownerCadence, repMailboxes, 0)
	ctx := context.Background()
	samIDs := r.enroll(t, 2, "sam", "initech.example")
	adaIDs := r.enroll(t, 1, "ada", "globex.example")
	bobIDs := r.enroll(t, 1, "bob", "hooli.example")
	r.dispatch(t)
	msgs := r.sink.Messages()
	if len(msgs) != 3 {
		t.Fatalf("sent %d, want 3 (sam's two, ada's one)", len(msgs))
	}
	for _, m := range msgs {
		want := "Sam Rivera <sam@acme.example>"
		if strings.HasPrefix(m.To, "ada") {
			want = "Ada Park <ada@acme.example>"
		}
		if got := fromOf(t, m); got != want || m.Header.Get("Reply-To") != "" || m.From != strings.Fields(want)[2][1:len(strings.Fields(want)[2])-1] {
			t.Fatalf("to %s: From %q (envelope %s) Reply-To %q, want From %q and no Reply-To", m.To, got, m.From, m.Header.Get("Reply-To"), want)
		}
	}
	if l, _ := r.st.Enrollment(ctx, samIDs[0]); l.Enrollment.Mailbox != "sam" {
		t.Fatalf("enrollment keeps no mailbox: %+v", l.Enrollment)
	}
	if e := r.lastEntry(t, bobIDs[0]); e.Kind != "held" || !strings.Contains(e.Reason, "no mailbox to send from: owner bob has no mailbox") {
		t.Fatalf("bob's prospect: %s", e.Text())
	}
	// The bump a day later threads on the intro, from the same mailbox.
	r.clk.Add(24 * time.Hour)
	r.sink.Reset()
	r.dispatch(t)
	var intro, bump smtptest.Message
	for _, m := range r.sink.Messages() {
		if m.To == "sam000@initech.example" {
			bump = m
		}
	}
	for _, m := range msgs {
		if m.To == "sam000@initech.example" {
			intro = m
		}
	}
	if bump.Header.Get("In-Reply-To") != intro.MessageID || fromOf(t, bump) != "Sam Rivera <sam@acme.example>" {
		t.Fatalf("bump: In-Reply-To %q From %q; intro %q", bump.Header.Get("In-Reply-To"), bump.Header.Get("From"), intro.MessageID)
	}
	// The prospect replies to the rep's mailbox; the reply names our
	// Message-ID, as every mail client does.
	eid, touch, err := r.e.MessageOwner(ctx, bump.MessageID)
	if err != nil || eid != samIDs[0] || touch != "bump" {
		t.Fatalf("MessageOwner: %s %s %v", eid, touch, err)
	}
	if _, err := r.e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvReplied, At: r.clk.Now(), Touch: touch, Channel: cadence.Email, By: "email", Reason: "Sure, call me"}); err != nil {
		t.Fatal(err)
	}
	leads, err := r.e.WarmLeads(ctx, "sam", 10)
	if err != nil || len(leads) != 1 || leads[0].Enrollment.ID != samIDs[0] {
		t.Fatalf("sam's warm leads: %+v %v", leads, err)
	}
	if leads, _ := r.e.WarmLeads(ctx, "ada", 10); len(leads) != 0 {
		t.Fatalf("ada got sam's lead: %+v", leads)
	}
	_ = adaIDs
}

// TestMailboxDailyLimit: 300 touches due at once through a mailbox with a
// daily limit of 100 go out 100 a day; the rest wait for the next day's
// window with the limit named on their timeline.
func TestMailboxDailyLimit(t *testing.T) {
	mb := "mailboxes:\n  sam:\n    address: sam@acme.example\n    owners: [sam]\n    limits: {per_day: 100}\n"
	r := newSenderRig(t, dailyCadence, mb, 50)
	ids := r.enroll(t, 300, "sam", "initech.example")
	r.dispatch(t)
	if n := r.sink.Count(); n != 100 {
		t.Fatalf("day one: %d sent, want 100", n)
	}
	deferred := 0
	for _, id := range ids {
		e := r.lastEntry(t, id)
		if e.Kind == "deferred" {
			deferred++
			if !strings.Contains(e.Reason, "mailbox sam daily limit 100 reached; next slot Tue 2 Feb 08:00 UTC") {
				t.Fatalf("deferred reason: %s", e.Text())
			}
		}
	}
	if deferred != 200 {
		t.Fatalf("%d deferred, want 200", deferred)
	}
	st, err := r.e.MailboxStatuses(context.Background())
	if err != nil || len(st) != 1 || st[0].Today != 100 || st[0].Cap != 100 {
		t.Fatalf("status: %+v %v", st, err)
	}
	// Nothing more today, however often the dispatcher looks.
	r.clk.Add(3 * time.Hour)
	r.dispatch(t)
	if n := r.sink.Count(); n != 100 {
		t.Fatalf("later on day one: %d sent", n)
	}
	r.clk.Add(23 * time.Hour) // Tue 11:00
	r.dispatch(t)
	r.clk.Add(24 * time.Hour) // Wed 11:00
	r.dispatch(t)
	seen := map[string]int{}
	for _, m := range r.sink.Messages() {
		if m.Header.Get("Subject") == "Quick question" {
			seen[m.To]++
		}
	}
	if len(seen) != 300 {
		t.Fatalf("after three days %d prospects got the intro, want 300", len(seen))
	}
	for to, n := range seen {
		if n != 1 {
			t.Fatalf("%s got the intro %d times", to, n)
		}
	}
}

// TestBounceBrakeStopsAMailbox: hard bounces over the brake's rate stop
// the mailbox: later touches are held with the numbers, the operator
// webhook is told (signed), the brake is listed; an admin resumes it and
// the held touches go at their recheck.
func TestBounceBrakeStopsAMailbox(t *testing.T) {
	mb := repMailboxes + "brakes: {window: 20, bounce_rate: 10%}\n"
	r := newSenderRig(t, ownerCadence, mb, 0)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		r.sink.Fail(fmt.Sprintf("sam%03d@initech.example", i), smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	}
	first := r.enroll(t, 10, "sam", "initech.example")
	r.dispatch(t)
	// The dispatcher hands the claim over in several tasks (one per shard
	// at least): once the third bounce trips the brake, the tasks after it
	// hold their touches.
	var held []string
	for _, id := range first {
		if e := r.lastEntry(t, id); e.Kind == "held" {
			held = append(held, id)
			if !strings.Contains(e.Reason, "is stopped by its brake (hard bounces: 3 with") || !strings.Contains(e.Reason, "an admin resumes it") {
				t.Fatalf("held touch: %s", e.Text())
			}
		}
	}
	if n := r.sink.Count(); n+len(held)+3 != 10 {
		t.Fatalf("first dispatch: %d accepted, %d held, 3 bounced: want 10 in all", n, len(held))
	}
	bs, err := r.e.Brakes(ctx)
	if err != nil || len(bs) != 2 || bs[0].What != "cadence reps" || bs[1].What != "mailbox sam" || !strings.HasPrefix(bs[1].Reason, "hard bounces: 3 with") {
		t.Fatalf("brakes: %+v %v", bs, err)
	}
	// The cadence has its own brake, over every mailbox. Lift it so the
	// rest is about the mailbox.
	if err := r.e.ResumeSending(ctx, "cadence", "reps", "test"); err != nil {
		t.Fatal(err)
	}
	// Sam's next prospects are held; Ada's mailbox is not stopped.
	held = append(held, r.enroll(t, 5, "sam", "initech.example")...)
	r.enroll(t, 2, "ada", "globex.example")
	r.sink.Reset()
	r.dispatch(t)
	if n := r.sink.Count(); n != 2 {
		t.Fatalf("with sam's mailbox stopped: %d sent, want ada's 2", n)
	}
	e := r.lastEntry(t, held[len(held)-1])
	if e.Kind != "held" || !strings.Contains(e.Reason, "mailbox sam is stopped by its brake (hard bounces: 3 with") {
		t.Fatalf("held touch: %s", e.Text())
	}
	r.hooks.mu.Lock()
	notices := append([]worker.OperatorNotice(nil), r.hooks.bodies...)
	sigs := append([]string(nil), r.hooks.sigs...)
	r.hooks.mu.Unlock()
	found := false
	for i, n := range notices {
		if n.Event == "brake.on" && n.Group == "mb:sam" && strings.HasPrefix(n.Reason, "hard bounces") {
			found = true
			parts := strings.SplitN(sigs[i], "|", 3)
			var ts int64
			fmt.Sscan(parts[1], &ts)
			if parts[0] != worker.SignWebhook("operator-secret-0123", ts, []byte(parts[2])) {
				t.Fatalf("operator webhook signature %q does not verify", parts[0])
			}
		}
	}
	if !found {
		t.Fatalf("no operator notice for sam's mailbox: %+v", notices)
	}
	if err := r.e.ResumeSending(ctx, "mailbox", "sam", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := r.e.ResumeSending(ctx, "mailbox", "sam", "admin"); err == nil {
		t.Fatal("resuming twice: no error")
	}
	r.clk.Add(time.Hour)
	r.sink.Reset()
	r.dispatch(t)
	if n := r.sink.Count(); n != len(held) {
		t.Fatalf("after resuming: %d sent, want the %d held", n, len(held))
	}
}

// TestRateLimitedAnswerSlowsDown: a relay answering 421 4.7.0 halves the
// mailbox's rate (shown in its status); the refused touches are retried;
// the rate recovers once the provider stops asking.
func TestRateLimitedAnswerSlowsDown(t *testing.T) {
	mb := "mailboxes:\n  sam:\n    address: sam@acme.example\n    owners: [sam]\n    limits: {per_minute: 60}\n"
	r := newSenderRig(t, ownerCadence, mb, 0)
	ctx := context.Background()
	r.sink.FailAll(smtptest.Fault{Code: 421, Enhanced: smtp.EnhancedCode{4, 7, 0}, Msg: "Try again later, closing connection", Times: 4})
	ids := r.enroll(t, 10, "sam", "initech.example")
	r.dispatch(t)
	st, err := r.e.MailboxStatuses(ctx)
	if err != nil || st[0].Slow < 2 {
		t.Fatalf("after 421s: %+v %v", st, err)
	}
	factor := st[0].Slow
	retried := 0
	for _, id := range ids {
		if e := r.lastEntry(t, id); e.Kind == "retry" && strings.Contains(e.Reason, "421") {
			retried++
		}
	}
	if retried != 4 || r.sink.Count() != 6 {
		t.Fatalf("%d retried, %d sent; want 4 and 6", retried, r.sink.Count())
	}
	// Slowed down, a per-minute limit of 60 lets fewer than 60 through.
	more := r.enroll(t, 60, "sam", "globex.example")
	r.clk.Add(2 * time.Minute)
	r.sink.Reset()
	r.dispatch(t)
	if n := r.sink.Count(); n >= 60 || n > 60/factor+4 {
		t.Fatalf("slowed down %d×: %d sent in one batch", factor, n)
	}
	deferred := 0
	for _, id := range more {
		if e := r.lastEntry(t, id); e.Kind == "deferred" {
			deferred++
			if !strings.Contains(e.Reason, fmt.Sprintf("mailbox sam limit 60 per minute reached, slowed down %d× after the provider asked; next slot", factor)) {
				t.Fatalf("deferred touch: %s", e.Text())
			}
		}
	}
	sentMore := 0
	for _, m := range r.sink.Messages() {
		if strings.HasSuffix(m.To, "@globex.example") {
			sentMore++
		}
	}
	if deferred+sentMore != 60 || deferred == 0 {
		t.Fatalf("%d deferred and %d sent of 60", deferred, sentMore)
	}
	// Each SlowRecover without a 421 doubles the rate back.
	r.clk.Add(time.Duration(8) * store.SlowRecover)
	if st, _ := r.e.MailboxStatuses(ctx); st[0].Slow != 1 {
		t.Fatalf("after recovering: %+v", st[0])
	}
}

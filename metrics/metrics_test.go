package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/metrics"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// An email touch, then an SMS touch an hour later, open all day.
const testCadence = `id: mx
name: Metrics
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - {id: hello, channel: email, template: mail}
      - {id: text, channel: sms, delay: 1h, template: sms}
templates:
  mail:
    subject: "Hi {{ .FirstName | default \"there\" }}"
    text: "Hello"
    html: "<html><body><p>Hello</p><a href=\"https://acme.example/pricing\">Pricing</a></body></html>"
  sms: {sms: "Hi, reply STOP to opt out"}
`

// rig is a real engine — test Redis, the SMTP pool against smtptest, the
// Twilio client against a fake Messages API, asynq — with its metrics
// wired the way cmd/nurture does it (metrics.New as the engine's
// Observer, then Attach) and registered on a registry of its own.
type rig struct {
	t        *testing.T
	e        *worker.Engine
	clk      *enginetest.Clock
	reg      *prometheus.Registry
	sink     *smtptest.Server
	conn     asynq.RedisConnOpt
	client   *asynq.Client
	enqueued atomic.Int64
	smsMu    sync.Mutex
	smsTo    []string
}

// counting passes tasks to the real asynq client and counts them.
type counting struct{ r *rig }

func (c counting) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.r.client.EnqueueContext(ctx, t, opts...)
	if err == nil {
		c.r.enqueued.Add(1)
	}
	return info, err
}

// toServer routes the Twilio client's requests to a local server.
type toServer struct{ u *url.URL }

func (t toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.u.Scheme, t.u.Host
	return http.DefaultTransport.RoundTrip(r)
}

// optedOutNumber is refused by the fake Twilio with 21610.
const optedOutNumber = "+13125550101"

func newRig(t *testing.T) *rig {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("mx.yaml", []byte(testCadence))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)), conn: redistest.Asynq(t)}
	r.sink = smtptest.Start(t)
	mail, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: r.sink.Port, TLS: "none", Connections: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		to := req.PostForm.Get("To")
		r.smsMu.Lock()
		r.smsTo = append(r.smsTo, to)
		r.smsMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if to == optedOutNumber {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"sid": fmt.Sprintf("SM%d", time.Now().UnixNano()), "status": "queued"})
	}))
	t.Cleanup(api.Close)
	u, _ := url.Parse(api.URL)
	sms, err := channels.NewTwilio(channels.TwilioConfig{AccountSID: "AC1", AuthToken: "tok", Transport: toServer{u}})
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	m := metrics.New(asynq.NewInspector(r.conn))
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c},
		Email: mail, SMS: sms, Tokens: signer, Clock: r.clk.Now, PublicURL: "https://n.example", Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	m.Attach(e)
	r.e = e
	r.reg = prometheus.NewRegistry()
	r.reg.MustRegister(m)
	r.client = asynq.NewClient(r.conn)
	t.Cleanup(func() { r.client.Close() })
	return r
}

// run starts the real asynq handlers (not the dispatcher: the test claims
// by calling DispatchOnce, so it decides when work is due).
func (r *rig) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.e.Run(ctx, r.conn, worker.RunOptions{NoDispatcher: true, Concurrency: 4, TaskCheck: 20 * time.Millisecond})
	}()
	r.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("engine run: %v", err)
			}
		case <-time.After(30 * time.Second):
			r.t.Error("engine did not stop")
		}
	})
}

func (r *rig) dispatch() int {
	r.t.Helper()
	n, err := r.e.DispatchOnce(context.Background(), counting{r})
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// sample is one gathered series.
type sample struct {
	value   float64
	count   uint64             // histograms
	sum     float64            // histograms
	buckets map[float64]uint64 // histograms: upper bound → cumulative count
}

// gather scrapes the registry: family → "k=v,k=v" (sorted labels) → sample.
func (r *rig) gather() map[string]map[string]sample {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatalf("gather: %v", err)
	}
	out := map[string]map[string]sample{}
	for _, mf := range mfs {
		series := map[string]sample{}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(labels)
			var s sample
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				s.count, s.sum, s.buckets = h.GetSampleCount(), h.GetSampleSum(), map[float64]uint64{}
				for _, b := range h.GetBucket() {
					s.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			series[strings.Join(labels, ",")] = s
		}
		out[mf.GetName()] = series
	}
	return out
}

// value is a counter's or gauge's value (0 when the series is absent,
// as Prometheus reads a counter that never moved).
func (r *rig) value(family, labels string) float64 {
	r.t.Helper()
	return r.gather()[family][labels].value
}

func (r *rig) want(family, labels string, want float64) {
	r.t.Helper()
	g := r.gather()
	s, ok := g[family][labels]
	if !ok && want != 0 {
		var have []string
		for l, s := range g[family] {
			have = append(have, fmt.Sprintf("{%s} %v", l, s.value))
		}
		sort.Strings(have)
		r.t.Errorf("%s{%s}: no such series, want %v (have %v)", family, labels, want, have)
		return
	}
	if s.value != want {
		r.t.Errorf("%s{%s} = %v, want %v", family, labels, s.value, want)
	}
}

// waitFor polls the metrics until cond holds, failing after a deadline.
func (r *rig) waitFor(what string, cond func(g map[string]map[string]sample) bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		g := r.gather()
		if cond(g) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; metrics now: sends %v, failures %v, leased %v, due %v", what,
				g["nurture_sends_total"], g["nurture_send_failures_total"], g["nurture_leased"], g["nurture_due_backlog"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) dueAt(eid string) time.Time {
	r.t.Helper()
	l, err := r.e.Store().Enrollment(context.Background(), eid)
	if err != nil {
		r.t.Fatal(err)
	}
	return l.Enrollment.DueAt
}

func (r *rig) apply(eid string, ev cadence.Event) {
	r.t.Helper()
	ev.At = r.clk.Now()
	if _, err := r.e.Apply(context.Background(), eid, ev); err != nil {
		r.t.Fatalf("apply %s to %s: %v", ev.Kind, eid, err)
	}
}

// TestMetricsFollowTheEngine drives a real engine through sends, refused
// sends, claims and events, and checks that each family README.md lists
// under /metrics moves with the event that should move it, by exactly as
// much: nurture_sends_total{channel}, nurture_send_failures_total{channel,
// class}, nurture_send_lateness_seconds (count, sum and buckets, on a set
// clock), nurture_dispatch_claimed_total, nurture_due_backlog,
// nurture_leased, nurture_queue_tasks{queue,state}, nurture_events_total
// {kind}, and the per-cadence nurture_touches, nurture_engagement and
// nurture_enrollments read from Redis at scrape time.
func TestMetricsFollowTheEngine(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	// ada: email and SMS accepted. eve: email accepted, number opted out
	// at the carrier (Twilio 21610). bo: mailbox unknown (550 5.1.1). cy:
	// 451 once, then accepted. dan: 552 5.2.2 (refused for this message).
	r.sink.Fail("bo@example.com", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such mailbox"})
	r.sink.Fail("cy@example.com", smtptest.Fault{Code: 451, Enhanced: smtp.EnhancedCode{4, 3, 0}, Msg: "try later", Times: 1})
	r.sink.Fail("dan@example.com", smtptest.Fault{Code: 552, Enhanced: smtp.EnhancedCode{5, 2, 2}, Msg: "mailbox full"})
	eids := map[string]string{}
	for _, p := range []*store.Prospect{
		{ID: "ada", Email: "ada@example.com", Phone: "+13125550100", FirstName: "Ada", TimeZone: "America/Chicago"},
		{ID: "eve", Email: "eve@example.com", Phone: optedOutNumber, FirstName: "Eve", TimeZone: "America/Chicago"},
		{ID: "bo", Email: "bo@example.com", TimeZone: "America/Chicago"},
		{ID: "cy", Email: "cy@example.com", TimeZone: "America/Chicago"},
		{ID: "dan", Email: "dan@example.com", TimeZone: "America/Chicago"},
	} {
		en, err := r.e.Enroll(ctx, p, "mx")
		if err != nil {
			t.Fatal(err)
		}
		eids[p.ID] = en.ID
	}
	qEmail, qSMS := r.e.QueueOf(store.LaneEmail), r.e.QueueOf(store.LaneSMS)

	// Enrolled, nothing claimed yet: five due, none leased, no queue work,
	// no sends, five active enrollments.
	r.want("nurture_enrollments", "cadence=mx,state=active", 5)
	r.want("nurture_due_backlog", "", 5)
	r.want("nurture_leased", "", 0)
	r.want("nurture_dispatch_claimed_total", "", 0)
	for _, q := range r.e.Queues() {
		for _, st := range []string{"pending", "active", "scheduled", "retry", "archived"} {
			if _, ok := r.gather()["nurture_queue_tasks"]["queue="+q+",state="+st]; !ok {
				t.Errorf("nurture_queue_tasks{queue=%s,state=%s} missing before the queue is used", q, st)
			}
			r.want("nurture_queue_tasks", "queue="+q+",state="+st, 0)
		}
	}
	r.want("nurture_sends_total", "channel=email", 0)
	r.want("nurture_touches", "cadence=mx,channel=email,result=sent,touch=hello", 0)

	// Claim 3 s after the touches fell due: the claim moves all five to
	// the lease set and queues their tasks; nothing runs them yet.
	r.clk.Add(3 * time.Second)
	if n := r.dispatch(); n != 5 {
		t.Fatalf("claimed %d, want 5", n)
	}
	r.want("nurture_dispatch_claimed_total", "", 5)
	r.want("nurture_due_backlog", "", 0)
	r.want("nurture_leased", "", 5)
	if n := r.enqueued.Load(); n < 1 {
		t.Fatalf("claim enqueued %d tasks", n)
	}
	r.want("nurture_queue_tasks", "queue="+qEmail+",state=pending", float64(r.enqueued.Load()))
	r.want("nurture_queue_tasks", "queue="+qSMS+",state=pending", 0)

	// The handlers run: two accepted, one hard bounce, one 4xx, one
	// refused for the message.
	r.run()
	r.waitFor("the first email tasks to finish", func(g map[string]map[string]sample) bool {
		fails := 0.0
		for _, s := range g["nurture_send_failures_total"] {
			fails += s.value
		}
		return g["nurture_sends_total"]["channel=email"].value == 2 && fails == 3 && g["nurture_leased"][""].value == 0
	})
	r.waitFor("the email queue to drain", func(g map[string]map[string]sample) bool {
		return g["nurture_queue_tasks"]["queue="+qEmail+",state=pending"].value == 0 && g["nurture_queue_tasks"]["queue="+qEmail+",state=active"].value == 0
	})
	if got := len(r.sink.Messages()); got != 2 {
		t.Errorf("sink accepted %d messages, want 2", got)
	}
	r.want("nurture_sends_total", "channel=email", 2)
	r.want("nurture_sends_total", "channel=sms", 0)
	r.want("nurture_send_failures_total", "channel=email,class=hard_bounce", 1)
	r.want("nurture_send_failures_total", "channel=email,class=retry", 1)
	r.want("nurture_send_failures_total", "channel=email,class=permanent", 1)
	// Each accepted send was exactly 3 s late on the engine's clock.
	g := r.gather()
	lat := g["nurture_send_lateness_seconds"]["channel=email"]
	if lat.count != 2 || lat.sum != 6 || lat.buckets[2] != 0 || lat.buckets[5] != 2 {
		t.Errorf("lateness{email}: count %d sum %v buckets %v, want 2 sends of 3 s (none ≤ 2 s, both ≤ 5 s)", lat.count, lat.sum, lat.buckets)
	}
	if _, ok := g["nurture_send_lateness_seconds"]["channel=sms"]; ok {
		t.Errorf("lateness{sms} observed before any SMS was sent: %+v", g["nurture_send_lateness_seconds"]["channel=sms"])
	}
	r.want("nurture_touches", "cadence=mx,channel=email,result=sent,touch=hello", 2)
	r.want("nurture_touches", "cadence=mx,channel=email,result=bounced,touch=hello", 1)
	r.want("nurture_touches", "cadence=mx,channel=email,result=skipped,touch=hello", 1)
	r.want("nurture_touches", "cadence=mx,channel=email,result=uncertain,touch=hello", 0)
	// cy's retry waits in the due set a minute out: not due yet.
	r.want("nurture_due_backlog", "", 0)

	// cy's retry falls due; claimed 3 s late, accepted.
	r.clk.Add(r.dueAt(eids["cy"]).Add(3 * time.Second).Sub(r.clk.Now()))
	r.want("nurture_due_backlog", "", 1)
	if n := r.dispatch(); n != 1 {
		t.Fatalf("retry: claimed %d, want 1", n)
	}
	r.want("nurture_dispatch_claimed_total", "", 6)
	r.waitFor("cy's retry to be sent", func(g map[string]map[string]sample) bool {
		return g["nurture_sends_total"]["channel=email"].value == 3 && g["nurture_leased"][""].value == 0
	})
	r.want("nurture_send_failures_total", "channel=email,class=retry", 1) // the retry itself did not fail
	lat = r.gather()["nurture_send_lateness_seconds"]["channel=email"]
	if lat.count != 3 || lat.sum != 9 {
		t.Errorf("lateness{email} after the retry: count %d sum %v, want 3 sends of 3 s", lat.count, lat.sum)
	}
	r.want("nurture_touches", "cadence=mx,channel=email,result=sent,touch=hello", 3)

	// The SMS touch falls due for ada and eve, and for dan, whose email
	// touch was skipped (he has no phone: his SMS is skipped at send time,
	// neither sent nor a provider failure). Claimed 7 s after ada's.
	dueAda := r.dueAt(eids["ada"])
	r.clk.Add(dueAda.Add(7 * time.Second).Sub(r.clk.Now()))
	for _, id := range []string{"eve", "dan"} {
		if d := r.dueAt(eids[id]); d.After(r.clk.Now()) {
			t.Fatalf("%s's SMS is due %v, after ada's (%v) + 7 s", id, d, dueAda)
		}
	}
	r.want("nurture_due_backlog", "", 3)
	if n := r.dispatch(); n != 3 {
		t.Fatalf("SMS: claimed %d, want 3", n)
	}
	r.want("nurture_dispatch_claimed_total", "", 9)
	r.waitFor("the SMS touches to finish", func(g map[string]map[string]sample) bool {
		return g["nurture_sends_total"]["channel=sms"].value == 1 && g["nurture_send_failures_total"]["channel=sms,class=opted_out"].value == 1 && g["nurture_leased"][""].value == 0
	})
	r.want("nurture_touches", "cadence=mx,channel=sms,result=skipped,touch=text", 1)
	// The opt-out leaves eve active and due at once (the next pass skips
	// her SMS, now blocked): one enrollment in the backlog.
	r.want("nurture_due_backlog", "", 1)
	r.smsMu.Lock()
	if len(r.smsTo) != 2 {
		t.Errorf("Twilio saw %d requests (%v), want 2", len(r.smsTo), r.smsTo)
	}
	r.smsMu.Unlock()
	r.want("nurture_sends_total", "channel=email", 3)
	lat = r.gather()["nurture_send_lateness_seconds"]["channel=sms"]
	if lat.count != 1 || lat.sum != 7 || lat.buckets[5] != 0 || lat.buckets[10] != 1 {
		t.Errorf("lateness{sms}: count %d sum %v buckets %v, want one send 7 s late", lat.count, lat.sum, lat.buckets)
	}
	r.want("nurture_touches", "cadence=mx,channel=sms,result=sent,touch=text", 1)

	// Events through Engine.Apply: each counts once under its kind, and the
	// per-touch engagement keeps people and machines apart.
	r.want("nurture_events_total", "kind=opened", 0)
	r.apply(eids["ada"], cadence.Event{Kind: cadence.EvOpened, Touch: "hello", Channel: cadence.Email, By: "pixel"})
	r.want("nurture_events_total", "kind=opened", 1)
	r.want("nurture_engagement", "cadence=mx,kind=opened,touch=hello", 1)
	r.want("nurture_engagement", "cadence=mx,kind=machine_opened,touch=hello", 0)
	r.apply(eids["eve"], cadence.Event{Kind: cadence.EvOpened, Touch: "hello", Channel: cadence.Email, Machine: true, By: "pixel"})
	r.want("nurture_events_total", "kind=opened", 2)
	r.want("nurture_engagement", "cadence=mx,kind=opened,touch=hello", 1)
	r.want("nurture_engagement", "cadence=mx,kind=machine_opened,touch=hello", 1)
	r.apply(eids["ada"], cadence.Event{Kind: cadence.EvClicked, Touch: "hello", Channel: cadence.Email, By: "link"})
	r.want("nurture_events_total", "kind=clicked", 1)
	r.want("nurture_engagement", "cadence=mx,kind=clicked,touch=hello", 1)
	r.apply(eids["cy"], cadence.Event{Kind: cadence.EvClicked, Touch: "hello", Channel: cadence.Email, Machine: true, By: "link"})
	r.want("nurture_events_total", "kind=clicked", 2)
	r.want("nurture_engagement", "cadence=mx,kind=scanner_clicked,touch=hello", 1)
	r.want("nurture_engagement", "cadence=mx,kind=clicked,touch=hello", 1)
	// eve replies to the email: warm, so no longer due.
	r.apply(eids["eve"], cadence.Event{Kind: cadence.EvReplied, Touch: "hello", Channel: cadence.Email, By: "email", Reason: "call me"})
	r.want("nurture_events_total", "kind=replied", 1)
	r.want("nurture_engagement", "cadence=mx,kind=replied,touch=hello", 1)
	r.want("nurture_due_backlog", "", 0)
	if _, err := r.e.Pause(ctx, eids["cy"], "sales:sam", "holiday", time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.want("nurture_events_total", "kind=paused", 1)

	// nurture_enrollments is each state's count of the enrollments as
	// they are in Redis now.
	states := map[cadence.State]int{}
	for id, eid := range eids {
		l, err := r.e.Store().Enrollment(ctx, eid)
		if err != nil {
			t.Fatal(err)
		}
		states[l.Enrollment.State]++
		t.Logf("%s: %s", id, l.Enrollment.State)
	}
	if states[cadence.Paused] != 1 || states[cadence.Warm] != 1 {
		t.Errorf("states %v: want cy paused and eve warm", states)
	}
	total := 0.0
	for labels, s := range r.gather()["nurture_enrollments"] {
		if strings.HasPrefix(labels, "cadence=mx,") {
			total += s.value
		}
	}
	if total != 5 {
		t.Errorf("nurture_enrollments{cadence=mx} sums to %v, want 5", total)
	}
	for st, n := range states {
		r.want("nurture_enrollments", "cadence=mx,state="+string(st), float64(n))
	}
	r.want("nurture_enrollments", "cadence=mx,state=active", float64(states[cadence.Active]))
}

package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/metrics"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// TestMailboxMetrics: a mailbox's day (sent, limit, slow-down), deferrals
// by its limit, "slow down" answers and brakes are on /metrics.
func TestMailboxMetrics(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("mx.yaml", []byte(strings.Replace(testCadence, `from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}`,
		`from: {mailbox: owner, sms: "+15005550006"}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := senders.Parse("mb.yaml", []byte("mailboxes:\n  sam:\n    address: sam@acme.example\n    owners: [sam]\n    limits: {per_day: 8}\nbrakes: {window: 10, bounce_rate: 10%}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	sink := smtptest.Start(t)
	mail, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	ob, _ := channels.NewOutbox("", 10, clk.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	m := metrics.New(nil)
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mail, SMS: ob,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", Observer: m, Senders: cfg, TaskBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.Attach(e)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	sink.Fail("p0@initech.example", smtptest.Fault{Code: 421, Enhanced: smtp.EnhancedCode{4, 7, 0}, Msg: "rate limited, try again later"})
	sink.Fail("q1@globex.example", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	sink.Fail("q2@globex.example", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	var ps []*store.Prospect
	for i := 0; i < 6; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("p%d", i), Email: fmt.Sprintf("p%d@initech.example", i), Owner: "sam", TimeZone: "UTC"})
	}
	for _, r := range e.EnrollBatch(context.Background(), ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if _, err := e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: e}); err != nil {
		t.Fatal(err)
	}
	// Two that bounce put the brake on (2 of a 10-send window is over
	// 10 %); the one after is held by it.
	for _, batch := range [][]*store.Prospect{
		{{ID: "q1", Email: "q1@globex.example", Owner: "sam", TimeZone: "UTC"}, {ID: "q2", Email: "q2@globex.example", Owner: "sam", TimeZone: "UTC"}},
		{{ID: "q3", Email: "q3@globex.example", Owner: "sam", TimeZone: "UTC"}},
	} {
		for _, r := range e.EnrollBatch(context.Background(), batch, c.ID) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		if _, err := e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: e}); err != nil {
			t.Fatal(err)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			key := f.GetName()
			for _, l := range mt.GetLabel() {
				key += fmt.Sprintf(" %s=%s", l.GetName(), l.GetValue())
			}
			v := mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
			got[key] = v
		}
	}
	for key, want := range map[string]float64{
		"nurture_mailbox_sent_today mailbox=sam":                      7, // the 550s took slots; the 421 handed its back
		"nurture_mailbox_limit_today mailbox=sam":                     8,
		"nurture_mailbox_slowdown_factor mailbox=sam":                 2,
		"nurture_rate_limited_total group=mb:sam":                     1,
		"nurture_brakes_tripped_total group=mb:sam":                   1,
		"nurture_brake_on id=sam kind=mailbox":                        1,
		"nurture_limit_deferrals_total group=mb:sam limit=day":        0,
		"nurture_limit_deferrals_total group=cad:mx limit=brake":      0,
		"nurture_limit_deferrals_total group=mb:sam limit=brake":      0,
		"nurture_send_failures_total channel=email class=hard_bounce": 2,
	} {
		v, ok := got[key]
		if want == 0 {
			// Which limit deferred the other three depends on the order
			// of the batches (the brake or the day's cap): one of them.
			continue
		}
		if !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if got["nurture_limit_deferrals_total group=mb:sam limit=brake"] != 1 || got["nurture_limit_deferrals_total group=cad:mx limit=brake"] != 1 {
		t.Errorf("limit deferrals by the brakes: %v %v, want 1 and 1", got["nurture_limit_deferrals_total group=mb:sam limit=brake"], got["nurture_limit_deferrals_total group=cad:mx limit=brake"])
	}
	if t.Failed() {
		t.Logf("gathered: %v", got)
	}
}

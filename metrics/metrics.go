// Package metrics exposes Nurture in Prometheus format: what the process
// did (sends and their lateness, provider failures by class, events,
// claims) and, read from Redis at scrape time, what the system holds (due
// backlog, leases, asynq queue sizes, per-cadence touch and engagement
// counters, enrollments by state, sender mailboxes' day and brakes).
package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/worker"
)

// Metrics implements worker.Observer and prometheus.Collector.
type Metrics struct {
	e         *worker.Engine
	inspector *asynq.Inspector

	sends    *prometheus.CounterVec
	failures *prometheus.CounterVec
	events   *prometheus.CounterVec
	claimed  prometheus.Counter
	lateness *prometheus.HistogramVec
	// Deliverability: deferrals by a send limit, provider "slow down"
	// answers, brakes put on (worker.LimitObserver).
	limitDeferrals *prometheus.CounterVec
	rateLimited    *prometheus.CounterVec
	brakesOn       *prometheus.CounterVec

	due, leased, queue, touches, engagement, enrollments *prometheus.Desc
	mailboxSent, mailboxLimit, mailboxSlow, brake        *prometheus.Desc
}

// New returns metrics for an engine; inspector (may be nil) reports asynq
// queue sizes.
func New(inspector *asynq.Inspector) *Metrics {
	return &Metrics{
		inspector: inspector,
		sends:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_sends_total", Help: "Touches accepted by a provider, by channel."}, []string{"channel"}),
		failures:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_send_failures_total", Help: "Provider failures by channel and class (hard_bounce, retry, sender_policy, opted_out, ...)."}, []string{"channel", "class"}),
		events:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_events_total", Help: "Events applied to enrollments, by kind."}, []string{"kind"}),
		claimed:   prometheus.NewCounter(prometheus.CounterOpts{Name: "nurture_dispatch_claimed_total", Help: "Enrollments claimed by this process's dispatcher."}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nurture_send_lateness_seconds", Help: "Time from a touch's due time (after window deferrals) to its send.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}}, []string{"channel"}),
		limitDeferrals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_limit_deferrals_total", Help: "Touches deferred by a send limit, by group (mb:MAILBOX, relay:ID, sd:DOMAIN, rd:DOMAIN, cad:CADENCE) kind and the limit that bound (minute, hour, day, share, brake)."}, []string{"group", "limit"}),
		rateLimited:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_rate_limited_total", Help: "Provider answers asking to slow down (421, 4.7.x), by limit group."}, []string{"group"}),
		brakesOn:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nurture_brakes_tripped_total", Help: "Brakes put on by a bounce or complaint rate, by limit group."}, []string{"group"}),
		mailboxSent:    prometheus.NewDesc("nurture_mailbox_sent_today", "Emails a sender mailbox sent today (its zone).", []string{"mailbox"}, nil),
		mailboxLimit:   prometheus.NewDesc("nurture_mailbox_limit_today", "A sender mailbox's daily limit today (its warm-up ramp's value); absent without one.", []string{"mailbox"}, nil),
		mailboxSlow:    prometheus.NewDesc("nurture_mailbox_slowdown_factor", "How many times slower a mailbox sends after the provider asked to slow down (1: not slowed).", []string{"mailbox"}, nil),
		brake:          prometheus.NewDesc("nurture_brake_on", "1 for each mailbox or cadence a bounce or complaint brake stopped (an admin resumes it).", []string{"kind", "id"}, nil),
		due:            prometheus.NewDesc("nurture_due_backlog", "Enrollments due now and not yet claimed.", nil, nil),
		leased:         prometheus.NewDesc("nurture_leased", "Enrollments claimed and being processed.", nil, nil),
		queue:          prometheus.NewDesc("nurture_queue_tasks", "asynq tasks by queue and state.", []string{"queue", "state"}, nil),
		touches:        prometheus.NewDesc("nurture_touches", "Touch outcomes per cadence (sent, skipped, bounced, uncertain, delivered).", []string{"cadence", "touch", "channel", "result"}, nil),
		engagement:     prometheus.NewDesc("nurture_engagement", "Engagement per cadence touch; machine opens and scanner clicks apart.", []string{"cadence", "touch", "kind"}, nil),
		enrollments:    prometheus.NewDesc("nurture_enrollments", "Enrollments per cadence and state.", []string{"cadence", "state"}, nil),
	}
}

// Attach sets the engine the collector reads (it is built after the
// engine's config, which carries this as its Observer).
func (m *Metrics) Attach(e *worker.Engine) { m.e = e }

// Sent implements worker.Observer.
func (m *Metrics) Sent(ch cadence.Channel, lateness time.Duration) {
	m.sends.WithLabelValues(string(ch)).Inc()
	m.lateness.WithLabelValues(string(ch)).Observe(max(lateness, 0).Seconds())
}

// SendFailed implements worker.Observer.
func (m *Metrics) SendFailed(ch cadence.Channel, class string) {
	m.failures.WithLabelValues(string(ch), class).Inc()
}

// Event implements worker.Observer.
func (m *Metrics) Event(kind cadence.EventKind) { m.events.WithLabelValues(string(kind)).Inc() }

// Claimed implements worker.Observer.
func (m *Metrics) Claimed(n int) { m.claimed.Add(float64(n)) }

// groupKind is a limit group's kind ("mb", "rd", ...): recipient domains
// are unbounded, so only the kind is a label, except for mailboxes,
// relays and cadences, which are configured and few.
func groupLabel(group string) string {
	kind, _, _ := strings.Cut(group, ":")
	if kind == "rd" || kind == "sd" {
		return kind
	}
	return group
}

// LimitDeferred implements worker.LimitObserver.
func (m *Metrics) LimitDeferred(group, binding string) {
	m.limitDeferrals.WithLabelValues(groupLabel(group), binding).Inc()
}

// RateLimited implements worker.LimitObserver.
func (m *Metrics) RateLimited(group string, _ int) {
	m.rateLimited.WithLabelValues(groupLabel(group)).Inc()
}

// BrakeOn implements worker.LimitObserver.
func (m *Metrics) BrakeOn(group string) { m.brakesOn.WithLabelValues(groupLabel(group)).Inc() }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.limitDeferrals.Describe(ch)
	m.rateLimited.Describe(ch)
	m.brakesOn.Describe(ch)
	ch <- m.mailboxSent
	ch <- m.mailboxLimit
	ch <- m.mailboxSlow
	ch <- m.brake
	m.sends.Describe(ch)
	m.failures.Describe(ch)
	m.events.Describe(ch)
	m.claimed.Describe(ch)
	m.lateness.Describe(ch)
	for _, d := range []*prometheus.Desc{m.due, m.leased, m.queue, m.touches, m.engagement, m.enrollments} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.sends.Collect(ch)
	m.failures.Collect(ch)
	m.events.Collect(ch)
	m.claimed.Collect(ch)
	m.lateness.Collect(ch)
	m.limitDeferrals.Collect(ch)
	m.rateLimited.Collect(ch)
	m.brakesOn.Collect(ch)
	if m.e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if sts, err := m.e.MailboxStatuses(ctx); err == nil {
		for _, st := range sts {
			ch <- prometheus.MustNewConstMetric(m.mailboxSent, prometheus.GaugeValue, float64(st.Today), st.Mailbox.ID)
			if st.Cap > 0 {
				ch <- prometheus.MustNewConstMetric(m.mailboxLimit, prometheus.GaugeValue, float64(st.Cap), st.Mailbox.ID)
			}
			ch <- prometheus.MustNewConstMetric(m.mailboxSlow, prometheus.GaugeValue, float64(st.Slow), st.Mailbox.ID)
		}
	}
	if bs, err := m.e.Brakes(ctx); err == nil {
		for _, b := range bs {
			ch <- prometheus.MustNewConstMetric(m.brake, prometheus.GaugeValue, 1, b.Kind, b.ID)
		}
	}
	if due, leased, err := m.e.Store().DueCount(ctx, m.e.Clock()); err == nil {
		ch <- prometheus.MustNewConstMetric(m.due, prometheus.GaugeValue, float64(due))
		ch <- prometheus.MustNewConstMetric(m.leased, prometheus.GaugeValue, float64(leased))
	}
	if m.inspector != nil {
		existing := map[string]bool{}
		if qs, err := m.inspector.Queues(); err == nil {
			for _, q := range qs {
				existing[q] = true
			}
		}
		for _, q := range m.e.Queues() {
			info := &asynq.QueueInfo{} // a queue not used yet: all zero
			if existing[q] {
				var err error
				if info, err = m.inspector.GetQueueInfo(q); err != nil {
					continue
				}
			}
			for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry, "archived": info.Archived} {
				ch <- prometheus.MustNewConstMetric(m.queue, prometheus.GaugeValue, float64(n), q, state)
			}
		}
	}
	for id := range m.e.Cadences() {
		rep, err := m.e.Report(ctx, id)
		if err != nil {
			continue
		}
		for state, n := range rep.States {
			ch <- prometheus.MustNewConstMetric(m.enrollments, prometheus.GaugeValue, float64(n), id, state)
		}
		for _, t := range rep.Touches {
			for result, n := range map[string]int64{"sent": t.Sent, "skipped": t.Skipped, "bounced": t.Bounced, "uncertain": t.Uncertain, "delivered": t.Delivered} {
				ch <- prometheus.MustNewConstMetric(m.touches, prometheus.CounterValue, float64(n), id, t.ID, t.Channel, result)
			}
			for kind, n := range map[string]int64{"opened": t.Opened, "machine_opened": t.MachineOpened, "clicked": t.Clicked, "scanner_clicked": t.ScannerClicked, "replied": t.Replied} {
				ch <- prometheus.MustNewConstMetric(m.engagement, prometheus.CounterValue, float64(n), id, t.ID, kind)
			}
		}
	}
}

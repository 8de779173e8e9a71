// Package metrics exposes Nurture in Prometheus format: what the process
// did (sends and their lateness, provider failures by class, events,
// claims) and, read from Redis at scrape time, what the system holds (due
// backlog, leases, asynq queue sizes, per-cadence touch and engagement
// counters, enrollments by state).
package metrics

import (
	"context"
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

	due, leased, queue, touches, engagement, enrollments *prometheus.Desc
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
		due:         prometheus.NewDesc("nurture_due_backlog", "Enrollments due now and not yet claimed.", nil, nil),
		leased:      prometheus.NewDesc("nurture_leased", "Enrollments claimed and being processed.", nil, nil),
		queue:       prometheus.NewDesc("nurture_queue_tasks", "asynq tasks by queue and state.", []string{"queue", "state"}, nil),
		touches:     prometheus.NewDesc("nurture_touches", "Touch outcomes per cadence (sent, skipped, bounced, uncertain, delivered).", []string{"cadence", "touch", "channel", "result"}, nil),
		engagement:  prometheus.NewDesc("nurture_engagement", "Engagement per cadence touch; machine opens and scanner clicks apart.", []string{"cadence", "touch", "kind"}, nil),
		enrollments: prometheus.NewDesc("nurture_enrollments", "Enrollments per cadence and state.", []string{"cadence", "state"}, nil),
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

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
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
	if m.e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
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

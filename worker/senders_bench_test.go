package worker_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// benchMailboxes are four reps' mailboxes with limits far above what the
// benchmark sends, a recipient-domain limit for every domain and a
// sending-domain limit: every send takes slots in four groups (cadence
// brake, mailbox, sending domain, recipient domain), none refuses.
const benchMailboxes = `mailboxes:
  rep0: {address: rep0@acme.example, owners: [rep0], limits: {per_minute: 1000000, per_hour: 10000000, per_day: 100000000}}
  rep1: {address: rep1@acme.example, owners: [rep1], limits: {per_minute: 1000000, per_hour: 10000000, per_day: 100000000}}
  rep2: {address: rep2@acme.example, owners: [rep2], limits: {per_minute: 1000000, per_hour: 10000000, per_day: 100000000}}
  rep3: {address: rep3@acme.example, owners: [rep3], limits: {per_minute: 1000000, per_hour: 10000000, per_day: 100000000}}
recipient_domains:
  default: {per_hour: 10000000}
sending_domains:
  acme.example: {per_day: 100000000}
`

// BenchmarkSendLimits measures what the send limits cost: the send path of
// BenchmarkSendPath (default per-message journal, same sink, same Redis)
// without sender mailboxes, and with every send going through four reps'
// mailboxes whose limits never bind, over 50 recipient domains. The runs
// alternate A B A B so a busy machine affects both; it reports each
// side's best touches/s and the ratio limits/none.
func BenchmarkSendLimits(b *testing.B) {
	n := benchN(10000, 2000)
	cfg, err := senders.Parse("bench-mailboxes.yaml", []byte(benchMailboxes), nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		rdb, prefix := redistest.Client(b)
		st := store.New(rdb, prefix)
		sink := smtptest.Start(b)
		mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 4})
		if err != nil {
			b.Fatal(err)
		}
		conn := redistest.Asynq(b)
		var best [2]float64
		var cpu [2]float64
		for round := 0; round < 2; round++ {
			for side, mbs := range []*senders.Config{nil, cfg} {
				id := fmt.Sprintf("lim%d%d", round, side)
				src := strings.Replace(strings.Replace(oneTouch, "DELAY", "0", 1), "id: bench", "id: "+id, 1)
				if mbs != nil {
					src = strings.Replace(src, `from: {email: "Acme <hello@acme.example>"}`, `from: {mailbox: owner}`, 1)
				}
				run := runNurtureWith(b, st, conn, sink, mailer, n, worker.JournalMessage, src, mbs, id+"-", 50)
				tps := float64(n) / run.wall.Seconds()
				if tps > best[side] {
					best[side], cpu[side] = tps, float64(run.cpu.Milliseconds())*1000/float64(n)+run.redisCPU*1000*1000/float64(n)
				}
				b.Logf("round %d, %s: %.0f touch/s, process + Redis CPU %.0f ms per 1,000", round+1, map[bool]string{false: "no limits", true: "limits"}[mbs != nil], tps,
					float64(run.cpu.Milliseconds())*1000/float64(n)+run.redisCPU*1000*1000/float64(n))
			}
		}
		mailer.Close()
		b.ReportMetric(best[0], "none-touches/s")
		b.ReportMetric(best[1], "limits-touches/s")
		b.ReportMetric(best[1]/best[0], "ratio-limits/none")
		b.ReportMetric(cpu[0], "none-cpu-ms/1k")
		b.ReportMetric(cpu[1], "limits-cpu-ms/1k")
	}
}

package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// BenchmarkJournalReplicaWait measures what waiting for a replica costs:
// the send path (per-message journal, one loopback SMTP sink) on a master
// with one replica, with every Begin followed by WAIT 1 in its round trip
// (NURTURE_JOURNAL_REPLICAS=auto) and without (0), alternated A B A B in
// one run; it reports each side's best touches/s and the ratio.
func BenchmarkJournalReplicaWait(b *testing.B) {
	n := benchN(10000, 2000)
	for i := 0; i < b.N; i++ {
		m := redistest.StartServer(b, "--repl-diskless-sync-delay", "0")
		host, port, _ := strings.Cut(m.Addr, ":")
		redistest.StartServer(b, "--replicaof", host, port)
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr})
		for deadline := time.Now().Add(10 * time.Second); rdb.Do(context.Background(), "WAIT", 1, 1000).Val() != int64(1); {
			if time.Now().After(deadline) {
				b.Fatal("replica not online")
			}
		}
		sink := smtptest.Start(b)
		mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 4})
		if err != nil {
			b.Fatal(err)
		}
		conn := redistest.Asynq(b)
		var best [2]float64
		for round := 0; round < 2; round++ {
			for side, replicas := range []int{0, store.ReplicasAuto} {
				st := store.New(rdb, "w"+string(rune('a'+round*2+side)))
				if err := st.SetReplicaWait(replicas, 500*time.Millisecond); err != nil {
					b.Fatal(err)
				}
				id := "rw" + string(rune('a'+round*2+side))
				src := strings.Replace(strings.Replace(oneTouch, "DELAY", "0", 1), "id: bench", "id: "+id, 1)
				run := runNurtureWith(b, st, conn, sink, mailer, n, worker.JournalMessage, src, nil, id+"-", 0)
				tps := float64(n) / run.wall.Seconds()
				best[side] = max(best[side], tps)
				b.Logf("round %d, %s: %.0f touch/s, lateness p99 %v", round+1, map[bool]string{false: "no wait", true: "WAIT 1"}[replicas != 0], tps, run.p99)
			}
		}
		mailer.Close()
		rdb.Close()
		b.ReportMetric(best[0], "nowait-touches/s")
		b.ReportMetric(best[1], "wait-touches/s")
		b.ReportMetric(best[1]/best[0], "ratio-wait/nowait")
	}
}

package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

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

// TestUnreplicatedJournalDefersTheTouch: with replica waits on, a touch
// whose "sending" entry no replica confirms is not sent: the entry is
// released and the touch deferred with the reason; once the replica is
// back the touch goes, once. Both journal modes.
func TestUnreplicatedJournalDefersTheTouch(t *testing.T) {
	for _, journal := range []string{worker.JournalMessage, worker.JournalBatch} {
		t.Run(journal, func(t *testing.T) {
			ctx := context.Background()
			m := redistest.StartServer(t, "--repl-diskless-sync-delay", "0") // replicas sync at once
			host, port, _ := strings.Cut(m.Addr, ":")
			r := redistest.StartServer(t, "--replicaof", host, port)
			master, replica := redis.NewClient(&redis.Options{Addr: m.Addr}), redis.NewClient(&redis.Options{Addr: r.Addr})
			defer master.Close()
			defer replica.Close()
			online := func() {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					// Online and acknowledging: a WAIT of its own is confirmed.
					if info, _ := master.Info(ctx, "replication").Result(); strings.Contains(info, "state=online") && master.Do(ctx, "WAIT", 1, 1000).Val() == int64(1) {
						return
					}
					if time.Now().After(deadline) {
						t.Fatal("replica not online")
					}
				}
			}
			online()
			st := store.New(master, "n")
			if err := st.SetReplicaWait(store.ReplicasAuto, time.Second); err != nil {
				t.Fatal(err)
			}
			c, err := cadence.Parse("d.yaml", []byte(enginetest.EmailCadence("d", "0")))
			if err != nil {
				t.Fatal(err)
			}
			sink := smtptest.Start(t)
			mailer, _ := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 2, Timeout: 5 * time.Second})
			defer mailer.Close()
			signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
			clk := enginetest.NewClock(time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC))
			e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mailer, SMS: nil2{}, Tokens: signer,
				Clock: clk.Now, PublicURL: "https://n.example", Journal: journal, Logger: quietSlog()})
			if err != nil {
				t.Fatal(err)
			}
			enroll := func(ids ...string) {
				for _, id := range ids {
					if _, err := e.Enroll(ctx, &store.Prospect{ID: id, Email: id + "@example.com"}, c.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			dispatch := func() {
				if _, err := e.DispatchOnce(ctx, enginetest.SyncQueue{E: e}); err != nil {
					t.Fatal(err)
				}
			}
			enroll("a1", "a2")
			dispatch()
			if n := sink.Count(); n != 2 {
				tl, _ := e.Timeline(ctx, store.EnrollmentID("a1", c.ID))
				t.Fatalf("with the replica online: %d sent; a1: %v", n, tl)
			}
			// The replica stops acknowledging.
			if err := replica.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
				t.Fatal(err)
			}
			// Until the master sees the link gone a write can still reach
			// the replica.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if info, _ := master.Info(ctx, "replication").Result(); strings.Contains(info, "connected_slaves:0") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the master still lists its replica")
				}
			}
			enroll("b1", "b2")
			dispatch()
			if n := sink.Count(); n != 2 {
				t.Fatalf("with no replica confirming: %d sent, want still 2", n)
			}
			for _, id := range []string{"b1", "b2"} {
				eid := store.EnrollmentID(id, c.ID)
				tl, _ := e.Timeline(ctx, eid)
				last := tl[len(tl)-1]
				if last.Kind != "deferred" || !strings.Contains(last.Reason, "not sent: journal write confirmed by 0 of 1 replicas within 1s (a failover could have lost it)") {
					t.Fatalf("%s: %s", id, last.Text())
				}
				if left, _ := master.HGetAll(ctx, st.Keys().Ledger(eid)).Result(); len(left) != 0 {
					for f, v := range left {
						if !strings.HasPrefix(f, "a:") {
							t.Fatalf("%s: ledger entry %s=%s left behind", id, f, v)
						}
					}
				}
			}
			// The replica is back: the deferred touches go, once each.
			if err := replica.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
				t.Fatal(err)
			}
			online()
			clk.Add(time.Minute)
			dispatch()
			seen := map[string]int{}
			for _, msg := range sink.Messages() {
				seen[msg.To]++
			}
			if len(seen) != 4 {
				t.Fatalf("after the replica came back: %v", seen)
			}
			for to, n := range seen {
				if n != 1 {
					t.Errorf("%s got %d", to, n)
				}
			}
		})
	}
}

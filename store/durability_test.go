package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// masterWithReplica starts a master and a replica of it and waits for
// the link.
func masterWithReplica(t *testing.T) (master *redis.Client, replica *redis.Client) {
	t.Helper()
	m := redistest.StartServer(t, "--repl-diskless-sync-delay", "0") // replicas sync at once
	host, port, _ := strings.Cut(m.Addr, ":")
	r := redistest.StartServer(t, "--replicaof", host, port)
	master, replica = redis.NewClient(&redis.Options{Addr: m.Addr}), redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { master.Close(); replica.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := master.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") && master.Do(context.Background(), "WAIT", 1, 1000).Val() == int64(1) {
			return master, replica
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica did not come online:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicaWaitConfirmsJournalWrites: with replica waits on, a journal
// step that begins a send returns only once a replica holds it, and says
// so when none confirms in time; auto mode waits only where replicas exist.
func TestReplicaWaitConfirmsJournalWrites(t *testing.T) {
	ctx := context.Background()
	master, replica := masterWithReplica(t)
	st := store.New(master, "dur")
	if err := st.SetReplicaWait(store.ReplicasAuto, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.ReplicaWait(ctx); n != 1 {
		t.Fatalf("auto mode with a replica waits for %d", n)
	}
	begin := []store.LedgerStep{{Begin: true, EID: "p1~c", Field: "l:s:0:1", Rev: 0, Value: "sending|1"}}
	if _, err := st.StepLedger(ctx, begin); err != nil {
		t.Fatalf("with the replica up: %v", err)
	}
	// The replica stops replicating: the master's WAIT times out.
	if err := replica.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	linkDown(t, master)
	begin[0].EID = "p2~c"
	t0 := time.Now()
	_, err := st.StepLedger(ctx, begin)
	var nr *store.NotReplicatedError
	if !errors.As(err, &nr) || !errors.Is(err, store.ErrNotReplicated) || nr.Want != 1 || nr.Got != 0 {
		t.Fatalf("with the replica gone: %v", err)
	}
	if waited := time.Since(t0); waited < 250*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("waited %v for a 300 ms WAIT", waited)
	}
	// Steps that begin nothing never wait.
	if _, err := st.StepLedger(ctx, []store.LedgerStep{{EID: "p2~c", Field: "l:s:0:1", Value: "sent"}}); err != nil {
		t.Fatalf("an outcome step: %v", err)
	}
	// A fixed count on a Redis without replicas always refuses; 0 never
	// waits.
	// A plain Redis of its own (redistest.Client may be a cluster).
	solo := redis.NewClient(&redis.Options{Addr: redistest.StartServer(t).Addr})
	defer solo.Close()
	st2 := store.New(solo, "dur2")
	st2.SetReplicaWait(1, 50*time.Millisecond)
	if _, err := st2.StepLedger(ctx, begin); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("1 replica required, none there: %v", err)
	}
	st2.SetReplicaWait(0, 0)
	if _, err := st2.StepLedger(ctx, begin); err != nil {
		t.Fatalf("off: %v", err)
	}
	st3 := store.New(solo, "dur3")
	st3.SetReplicaWait(store.ReplicasAuto, 50*time.Millisecond)
	if n, _ := st3.ReplicaWait(ctx); n != 0 {
		t.Fatalf("auto on a Redis without replicas waits for %d", n)
	}
}

// linkDown waits until the master has seen its replica go: until then a
// write can still reach it (REPLICAOF NO ONE on the replica closes the
// link, the master notices a moment later).
func linkDown(t *testing.T, master *redis.Client) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, _ := master.Info(context.Background(), "replication").Result(); strings.Contains(info, "connected_slaves:0") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the master still lists its replica")
		}
	}
}

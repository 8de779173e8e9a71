package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Journal durability across failover. Redis replicates asynchronously: a
// "sending" entry the master acknowledged can vanish when a replica is
// promoted, and the new master would let another worker send the touch
// again. With replica waits on, every journal write that begins a send is
// followed, in the same round trip on the same connection, by WAIT n
// timeout; the send goes ahead only once n replicas hold the entry.

// ReplicasAuto waits for one replica whenever the master reports at least
// one connected (read from INFO replication, refreshed every
// autoReplicaRefresh), and for none on a Redis without replicas.
const ReplicasAuto = -1

const autoReplicaRefresh = 10 * time.Second

// ErrNotReplicated is returned by StepLedger when fewer replicas than
// required confirmed its writes in time: the writes are on the master,
// the send they begin must not go ahead.
var ErrNotReplicated = errors.New("journal write not confirmed by enough replicas")

// NotReplicatedError says how many replicas confirmed a journal write.
type NotReplicatedError struct {
	Want, Got int
	Timeout   time.Duration
}

func (e *NotReplicatedError) Error() string {
	return fmt.Sprintf("journal write confirmed by %d of %d replicas within %v", e.Got, e.Want, e.Timeout)
}

func (e *NotReplicatedError) Unwrap() error { return ErrNotReplicated }

// durability is a store's replica-wait setting.
type durability struct {
	replicas int // ReplicasAuto, 0 (off) or how many
	timeout  time.Duration

	mu      sync.Mutex
	checked time.Time
	auto    atomic.Int64 // replicas auto mode waits for
}

// SetReplicaWait makes journal writes that begin a send wait for replicas
// (ReplicasAuto, 0 for never, or a number) for at most timeout. On Redis
// Cluster it is refused: WAIT has no key there, so it cannot be sent to
// the shard that holds the entry.
func (s *Store) SetReplicaWait(replicas int, timeout time.Duration) error {
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster && replicas != 0 {
		if replicas == ReplicasAuto {
			return nil // auto: nothing to wait for that WAIT could confirm
		}
		return errors.New("replica waits are not supported on Redis Cluster (WAIT would not reach the shard holding the entry)")
	}
	if timeout <= 0 {
		timeout = 200 * time.Millisecond
	}
	s.dur = &durability{replicas: replicas, timeout: timeout}
	return nil
}

// ReplicaWait reports the replicas journal writes wait for now (0: none)
// and the timeout.
func (s *Store) ReplicaWait(ctx context.Context) (int, time.Duration) {
	d := s.dur
	if d == nil || d.replicas == 0 {
		return 0, 0
	}
	if d.replicas > 0 {
		return d.replicas, d.timeout
	}
	d.mu.Lock()
	stale := time.Since(d.checked) > autoReplicaRefresh
	if stale {
		d.checked = time.Now() // one refresher at a time; the others use the last value
	}
	d.mu.Unlock()
	if stale {
		if n, err := s.connectedReplicas(ctx); err == nil {
			d.auto.Store(int64(min(n, 1)))
		}
	}
	return int(d.auto.Load()), d.timeout
}

// connectedReplicas reads connected_slaves from INFO replication.
func (s *Store) connectedReplicas(ctx context.Context) (int, error) {
	info, err := s.rdb.Info(ctx, "replication").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, nil
}

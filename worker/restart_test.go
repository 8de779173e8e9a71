package worker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
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

// TestRedisRestartMidRun restarts Redis while the engine is sending: a
// clean restart of an AOF Redis (appendfsync everysec, the documented
// setting), and a SIGKILL of one with appendfsync always. The engine
// reconnects, every enrollment is still there, every touch goes out
// exactly once. (A SIGKILL with everysec may lose the last second of
// writes, and with it "sent" records: those touches could go out again.)
func TestRedisRestartMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a redis-server; skipped with -short")
	}
	t.Run("shutdown/everysec", func(t *testing.T) {
		redisOutageMidRun(t, "everysec", func(s *redistest.Server) { s.Restart(500 * time.Millisecond) })
	})
	t.Run("sigkill/always", func(t *testing.T) {
		redisOutageMidRun(t, "always", func(s *redistest.Server) { s.Kill(500 * time.Millisecond) })
	})
}

func redisOutageMidRun(t *testing.T, fsync string, outage func(*redistest.Server)) {
	const prospects = 300
	srv := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", fsync, "--save", "")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: 10, MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: time.Second})
	defer rdb.Close()
	sink := smtptest.Start(t)
	sink.Delay = 2 * time.Millisecond
	mailer, _ := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 2})
	defer mailer.Close()
	c, err := cadence.Parse("restart.yaml", []byte(enginetest.EmailCadence("restart", "0", "2s")))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	st := store.New(rdb, "nurture")
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mailer, SMS: nilSMS{}, Tokens: signer,
		PublicURL: "https://n.example", Logger: quietSlog(), Lease: 5 * time.Second, TaskBatch: 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ps []*store.Prospect
	for i := 0; i < prospects; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("r%03d", i), Email: fmt.Sprintf("r%03d@example.com", i)})
	}
	for _, r := range e.EnrollBatch(ctx, ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- e.Run(runCtx, asynq.RedisClientOpt{Addr: srv.Addr}, worker.RunOptions{Concurrency: 4, Tick: 50 * time.Millisecond})
	}()
	// Restart while the first touches are going out.
	deadline := time.Now().Add(30 * time.Second)
	for sink.Count() < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sentBefore := sink.Count()
	outage(srv)

	var stats map[string]int64
	deadline = time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		stats, _ = st.Stats(ctx, c.ID)
		if stats["state:completed"] == prospects {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-done
	if stats["state:completed"] != prospects {
		t.Fatalf("after the restart only %d of %d completed: %v", stats["state:completed"], prospects, stats)
	}
	seen := map[string]int{}
	for _, m := range sink.Messages() {
		seen[m.MessageID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	uncertain := stats["t:one:uncertain"] + stats["t:two:uncertain"]
	if int64(len(seen))+uncertain < 2*prospects {
		t.Errorf("%d distinct messages + %d uncertain < %d touches: something was lost", len(seen), uncertain, 2*prospects)
	}
	t.Logf("Redis went down after %d sends; %d distinct messages, %d uncertain, all %d enrollments completed", sentBefore, len(seen), uncertain, prospects)
}

// nilSMS is an SMS sender for email-only tests.
type nilSMS struct{}

func (nilSMS) SendSMS(context.Context, *channels.SMS) (string, error) {
	return "", fmt.Errorf("this cadence sends no SMS")
}

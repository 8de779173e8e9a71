package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

const oneTouch = `id: bench
name: One touch
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - {id: hello, channel: email, delay: DELAY, template: hello}
templates:
  hello:
    subject: "Hello {{ .FirstName | default \"there\" }}"
    text: "Hi {{ .FirstName | default \"there\" }}, {{ .Company | default \"your team\" }} is set up."
    html: "<p>Hi {{ .FirstName | default \"there\" }}, <b>{{ .Company | default \"your team\" }}</b> is set up.</p>"
`

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func redisInfo(b *testing.B, st *store.Store, field string) float64 {
	info, err := st.Redis().Info(context.Background(), "cpu", "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatalf("no %s in INFO", field)
	return 0
}

func redisCPUSeconds(b *testing.B, st *store.Store) float64 {
	return redisInfo(b, st, "used_cpu_sys") + redisInfo(b, st, "used_cpu_user")
}

// BenchmarkSendPath measures, in one run against one loopback SMTP sink:
// (a) the ceiling: pre-rendered messages pushed straight through the SMTP
// pool; (b) bare asynq running no-op tasks; (c) Nurture end to end: N
// prospects enrolled in a one-touch cadence due now, personalized,
// ledgered, committed. It reports touches/s of each, (c)/(a), CPU per
// 1,000 touches and Redis bytes per active enrollment.
func BenchmarkSendPath(b *testing.B) {
	n := benchN(20000, 2000)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		// A 7-character prefix, as long as the production default "nurture",
		// so bytes per enrollment are what production sees.
		rdb, prefix := redistest.ClientPrefix(b, fmt.Sprintf("n%06d", (os.Getpid()*10+i)%1000000))
		st := store.New(rdb, prefix)
		sink := smtptest.Start(b)
		// NURTURE_BENCH_RELAY_DELAY (e.g. 5ms) makes the sink answer each
		// message as slowly as a remote relay would.
		if d, err := time.ParseDuration(os.Getenv("NURTURE_BENCH_RELAY_DELAY")); err == nil {
			sink.Delay = d
		}
		const conns = 4
		mailer, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: conns})
		if err != nil {
			b.Fatal(err)
		}

		// (a) ceiling.
		msgs := make([]*channels.Email, n)
		for j := range msgs {
			msgs[j] = &channels.Email{MessageID: fmt.Sprintf("<c%d@n.example>", j), From: "Acme <hello@acme.example>", To: fmt.Sprintf("c%d@example.com", j),
				Subject: "Hello Ada", Text: "Hi Ada, Analytical is set up.", HTML: "<p>Hi Ada, <b>Analytical</b> is set up.</p>", Unsubscribe: "https://n.example/u/x"}
		}
		runtime.GC()
		cpu0, t0 := cpuTime(), time.Now()
		for lo := 0; lo < n; lo += 100 {
			for _, err := range mailer.SendEmails(ctx, msgs[lo:min(lo+100, n)], nil) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		ceilWall, ceilCPU := time.Since(t0), cpuTime()-cpu0

		// (b) bare asynq.
		conn := redistest.Asynq(b)
		var done atomic.Int64
		srv := asynq.NewServer(conn, asynq.Config{Concurrency: 8, Queues: map[string]int{prefix + "-noop": 1}, Logger: quiet{}})
		mux := asynq.NewServeMux()
		mux.HandleFunc("noop", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
		client := asynq.NewClient(conn)
		for j := 0; j < n; j++ {
			if _, err := client.Enqueue(asynq.NewTask("noop", nil), asynq.Queue(prefix+"-noop")); err != nil {
				b.Fatal(err)
			}
		}
		t0 = time.Now()
		if err := srv.Start(mux); err != nil {
			b.Fatal(err)
		}
		for done.Load() < int64(n) {
			time.Sleep(5 * time.Millisecond)
			if time.Since(t0) > 3*time.Minute {
				b.Fatalf("bare asynq: only %d of %d no-op tasks ran in %v", done.Load(), n, time.Since(t0).Round(time.Second))
			}
		}
		asynqWall := time.Since(t0)
		srv.Shutdown()
		client.Close()

		// (c) Nurture end to end, per-message journal (the default), and
		// (c') with the per-batch journal, on separate prospects.
		msg := runNurture(b, st, conn, sink, mailer, n, worker.JournalMessage)
		batch := runNurture(b, st, conn, sink, mailer, n, worker.JournalBatch)
		signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
		mailer.Close()

		// Redis bytes per active enrollment: enroll N more with a touch
		// 30 days out and measure used_memory.
		far, _ := cadence.Parse("far.yaml", []byte(strings.Replace(strings.Replace(oneTouch, "DELAY", "30d", 1), "id: bench", "id: far", 1)))
		e2, _ := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{far.ID: far}, Email: mailer, SMS: nil2{}, Tokens: signer, PublicURL: "https://n.example"})
		mem0 := redisInfo(b, st, "used_memory")
		for lo := 0; lo < n; lo += 1000 {
			var batch []*store.Prospect
			for j := lo; j < min(lo+1000, n); j++ {
				batch = append(batch, &store.Prospect{ID: "f" + strconv.Itoa(j), Email: fmt.Sprintf("f%d@example.com", j), FirstName: "Ada", Company: "Analytical"})
			}
			for _, r := range e2.EnrollBatch(ctx, batch, far.ID) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		perEnrollment := (redisInfo(b, st, "used_memory") - mem0) / float64(n)

		ceil := float64(n) / ceilWall.Seconds()
		bare := float64(n) / asynqWall.Seconds()
		eng := float64(n) / msg.wall.Seconds()
		engBatch := float64(n) / batch.wall.Seconds()
		b.ReportMetric(ceil, "ceiling-msgs/s")
		b.ReportMetric(bare, "asynq-noop/s")
		b.ReportMetric(eng, "nurture-touches/s")
		b.ReportMetric(eng/ceil, "ratio-c/a")
		b.ReportMetric(engBatch/ceil, "ratio-batch-journal")
		b.ReportMetric(msg.enroll, "enroll/s")
		b.ReportMetric(float64((msg.cpu-ceilCPU).Milliseconds())*1000/float64(n), "engine-cpu-ms/1k")
		b.ReportMetric(msg.redisCPU*1000*1000/float64(n), "redis-cpu-ms/1k")
		b.ReportMetric(perEnrollment, "redis-B/enrollment")
		b.Logf("N=%d: (a) ceiling %.0f msg/s (%v, process CPU %v); (b) bare asynq %.0f task/s", n, ceil, ceilWall, ceilCPU, bare)
		for _, r := range []struct {
			name string
			run  nurtureRun
		}{{"(c) per-message journal", msg}, {"(c') per-batch journal", batch}} {
			tps := float64(n) / r.run.wall.Seconds()
			b.Logf("%s: %.0f touch/s (%v; %.0f/s first to last send), ratio to (a) %.2f; process CPU %v, %.0f ms per 1,000 beyond the ceiling's; Redis CPU %.0f ms per 1,000; lateness after due p50 %v p99 %v (backlog of %d due at once)",
				r.name, tps, r.run.wall.Round(time.Millisecond), r.run.steady, tps/ceil, r.run.cpu.Round(time.Millisecond),
				float64((r.run.cpu-ceilCPU).Milliseconds())*1000/float64(n), r.run.redisCPU*1000*1000/float64(n), r.run.p50, r.run.p99, n)
		}
		b.Logf("enroll %.0f/s; %.0f B per active enrollment", msg.enroll, perEnrollment)
	}
}

// nurtureRun is one end-to-end phase of BenchmarkSendPath.
type nurtureRun struct {
	wall, cpu, p50, p99 time.Duration
	redisCPU            float64
	steady, enroll      float64
}

// latencies is an Observer that keeps send lateness.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (*latencies) SendFailed(cadence.Channel, string) {}
func (*latencies) Event(cadence.EventKind)            {}
func (*latencies) Claimed(int)                        {}

func (l *latencies) Sent(_ cadence.Channel, late time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, late)
	l.mu.Unlock()
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[min(len(l.d)-1, int(q*float64(len(l.d))))].Round(time.Millisecond)
}

// runNurture enrolls n prospects into c (one touch due now), runs the
// engine with the given journal mode until the sink has them all, and
// checks every enrollment completed once with no duplicate Message-ID.
func runNurture(b *testing.B, st *store.Store, conn asynq.RedisConnOpt, sink *smtptest.Server, mailer channels.EmailSender, n int, journal string) nurtureRun {
	src := strings.Replace(strings.Replace(oneTouch, "DELAY", "0", 1), "id: bench", "id: bench-"+journal, 1)
	return runNurtureWith(b, st, conn, sink, mailer, n, journal, src, nil, journal, 0)
}

// runNurtureWith is runNurture for a cadence source and sender mailboxes
// (nil: none); prospect ids start with idPrefix, and with domains > 0
// their addresses spread over that many recipient domains.
func runNurtureWith(b *testing.B, st *store.Store, conn asynq.RedisConnOpt, sink *smtptest.Server, mailer channels.EmailSender, n int, journal, src string, mbs *senders.Config, idPrefix string, domains int) nurtureRun {
	ctx := context.Background()
	c, err := cadence.Parse("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	lat := &latencies{}
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mailer, SMS: nil2{}, Tokens: signer,
		PublicURL: "https://n.example", Logger: quietSlog(), Journal: journal, Observer: lat, Senders: mbs})
	if err != nil {
		b.Fatal(err)
	}
	var run nurtureRun
	ps := make([]*store.Prospect, 0, 1000)
	enrollStart := time.Now()
	for j := 0; j < n; j++ {
		id := idPrefix + strconv.Itoa(j)
		email := id + "@example.com"
		if domains > 0 {
			email = id + "@d" + strconv.Itoa(j%domains) + ".example"
		}
		ps = append(ps, &store.Prospect{ID: id, Email: email, FirstName: "Ada", Company: "Analytical", Owner: "rep" + strconv.Itoa(j%4)})
		if len(ps) == cap(ps) || j == n-1 {
			for _, r := range e.EnrollBatch(ctx, ps, c.ID) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			ps = ps[:0]
		}
	}
	run.enroll = float64(n) / time.Since(enrollStart).Seconds()
	// Each phase starts from the same heap: drop what the sink kept.
	sink.Reset()
	runtime.GC()
	rcpu0 := redisCPUSeconds(b, st)
	cpu0, t0 := cpuTime(), time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- e.Run(runCtx, conn, worker.RunOptions{Concurrency: 8, Tick: 20 * time.Millisecond})
	}()
	for sink.Count() < n {
		time.Sleep(5 * time.Millisecond)
		if time.Since(t0) > 3*time.Minute {
			stats, _ := e.Stats(ctx, c.ID)
			b.Fatalf("only %d of %d sent; stats %v", sink.Count(), n, stats)
		}
	}
	run.wall, run.cpu = time.Since(t0), cpuTime()-cpu0
	run.redisCPU = redisCPUSeconds(b, st) - rcpu0
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if stats, _ := e.Stats(ctx, c.ID); stats["state:completed"] != int64(n) || stats["t:hello:sent"] != int64(n) {
		b.Fatalf("not every enrollment completed once: %v", stats)
	}
	sent := sink.Messages()
	run.steady = float64(n-1) / sent[n-1].At.Sub(sent[0].At).Seconds()
	seen := make(map[string]bool, n)
	for _, m := range sent {
		if seen[m.MessageID] {
			b.Fatalf("duplicate %s", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	run.p50, run.p99 = lat.quantile(0.50), lat.quantile(0.99)
	return run
}

func quietSlog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type quiet struct{}

func (quiet) Debug(...any) {}
func (quiet) Info(...any)  {}
func (quiet) Warn(...any)  {}
func (quiet) Error(...any) {}
func (quiet) Fatal(...any) {}

// nil2 is an SMS sender for email-only benchmarks: any call is a bug.
type nil2 struct{}

func (nil2) SendSMS(context.Context, *channels.SMS) (string, error) {
	panic("the benchmark cadence has no SMS touch")
}

// BenchmarkEnrollIngest measures enrollment ingest through EnrollBatch in
// chunks of 1,000 (what the bulk API and CLI import call), 100,000
// prospects with phone numbers and attributes (NURTURE_BENCH_N overrides,
// e.g. 1000000), and the Redis memory they hold.
func BenchmarkEnrollIngest(b *testing.B) {
	n := benchN(100_000, 5_000)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		rdb, prefix := redistest.ClientPrefix(b, fmt.Sprintf("i%06d", (os.Getpid()*10+i)%1000000))
		c, _ := cadence.Parse("bench.yaml", []byte(strings.Replace(oneTouch, "DELAY", "30d", 1)))
		signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
		ob, _ := channels.NewOutbox("", 1, time.Now)
		e, _ := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example", Logger: quietSlog()})
		mem0 := redisInfo(b, e.Store(), "used_memory")
		start := time.Now()
		for lo := 0; lo < n; lo += 1000 {
			for _, r := range e.EnrollBatch(ctx, benchProspects(lo, min(lo+1000, n)), c.ID) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "enrollments/s")
		b.ReportMetric((redisInfo(b, e.Store(), "used_memory")-mem0)/float64(n), "redis-B/enrollment")
	}
}

// BenchmarkLateness measures how late touches go out after they fall due
// while the engine runs below capacity: 1,000 prospects/s enrolled with a
// touch due at once, for 10 s, default dispatcher settings. It reports the
// p50 and p99 of (SMTP accept time - due time).
func BenchmarkLateness(b *testing.B) {
	rate, seconds := 1000, 10
	if testing.Short() {
		seconds = 2
	}
	// NURTURE_BENCH_RATE sets touches per second (a multiple of 10).
	if v, err := strconv.Atoi(os.Getenv("NURTURE_BENCH_RATE")); err == nil && v >= 10 {
		rate = v
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		rdb, prefix := redistest.ClientPrefix(b, fmt.Sprintf("l%06d", (os.Getpid()*10+i)%1000000))
		sink := smtptest.Start(b)
		mailer, _ := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 4})
		c, _ := cadence.Parse("bench.yaml", []byte(strings.Replace(oneTouch, "DELAY", "0", 1)))
		signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
		e, _ := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: mailer, SMS: nil2{},
			Tokens: signer, PublicURL: "https://n.example", Logger: quietSlog()})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(runCtx, redistest.Asynq(b), worker.RunOptions{}) }()
		// The engine is ready when a warm-up touch due now has gone out
		// (asynq's server and the dispatcher both running); it is not
		// measured.
		if rs := e.EnrollBatch(ctx, []*store.Prospect{{ID: "warmup", Email: "warmup@example.com", FirstName: "Ada"}}, c.ID); rs[0].Err != nil {
			b.Fatal(rs[0].Err)
		}
		for ready := time.Now(); sink.Count() < 1; time.Sleep(10 * time.Millisecond) {
			select {
			case err := <-done:
				b.Fatalf("the engine stopped before its first send: %v", err)
			default:
			}
			if time.Since(ready) > 30*time.Second {
				stats, _ := e.Stats(ctx, c.ID)
				b.Fatalf("the warm-up touch was not sent within 30s: sink has %d messages; stats %v", sink.Count(), stats)
			}
		}
		sink.Reset()
		due := map[string]time.Time{}
		tick := time.NewTicker(100 * time.Millisecond)
		n := 0
		for k := 0; k < seconds*10; k++ {
			<-tick.C
			var ps []*store.Prospect
			for j := 0; j < rate/10; j++ {
				email := fmt.Sprintf("l%06d@example.com", n)
				ps = append(ps, &store.Prospect{ID: fmt.Sprintf("l%06d", n), Email: email, FirstName: "Ada"})
				n++
			}
			at := time.Now()
			for _, r := range e.EnrollBatch(ctx, ps, c.ID) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
				due[e.MessageID(r.Enrollment.ID, "hello", r.Enrollment.Generation)] = at
			}
		}
		tick.Stop()
		deadline := time.Now().Add(60 * time.Second)
		for sink.Count() < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		<-done
		mailer.Close()
		var late []time.Duration
		for _, m := range sink.Messages() {
			if at, ok := due[m.MessageID]; ok {
				late = append(late, m.At.Sub(at))
			}
		}
		if len(late) != n {
			b.Fatalf("matched %d of %d sends", len(late), n)
		}
		sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
		b.ReportMetric(late[len(late)/2].Seconds(), "p50-late-s")
		b.ReportMetric(late[len(late)*99/100].Seconds(), "p99-late-s")
		b.Logf("%d touches at %d/s: lateness p50 %v p99 %v max %v", n, rate, late[len(late)/2].Round(time.Millisecond), late[len(late)*99/100].Round(time.Millisecond), late[len(late)-1].Round(time.Millisecond))
	}
}

// BenchmarkMemoryMidJourney measures Redis bytes per active enrollment
// after three touches went out (timeline lines, send history, send ledger,
// done-touch ids) with the fourth 30 days away, and what each key holds
// for a sample. N = 20,000 (NURTURE_BENCH_N overrides; -short 2,000).
func BenchmarkMemoryMidJourney(b *testing.B) {
	n := benchN(20_000, 2_000)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		rdb, prefix := redistest.ClientPrefix(b, fmt.Sprintf("m%06d", (os.Getpid()*10+i)%1000000))
		c, err := cadence.Parse("journey.yaml", []byte(enginetest.EmailCadence("journey", "0", "0", "0", "30d")))
		if err != nil {
			b.Fatal(err)
		}
		signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
		ob, _ := channels.NewOutbox("", 1, time.Now)
		st := store.New(rdb, prefix)
		e, _ := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example", Logger: quietSlog()})
		mem0 := redisInfo(b, st, "used_memory")
		for lo := 0; lo < n; lo += 1000 {
			for _, r := range e.EnrollBatch(ctx, benchProspects(lo, min(lo+1000, n)), c.ID) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		fresh := (redisInfo(b, st, "used_memory") - mem0) / float64(n)
		for start := time.Now(); ; {
			if _, err := e.DispatchOnce(ctx, enginetest.SyncQueue{E: e}); err != nil {
				b.Fatal(err)
			}
			stats, _ := e.Stats(ctx, c.ID)
			if stats["t:three:sent"] == int64(n) {
				break
			}
			if time.Since(start) > 3*time.Minute {
				b.Fatalf("three touches each to %d prospects not sent within 3m; stats %v", n, stats)
			}
		}
		after := (redisInfo(b, st, "used_memory") - mem0) / float64(n)
		// What one enrollment's keys hold, averaged over a sample.
		parts := map[string]int64{}
		const sample = 200
		for j := 0; j < sample; j++ {
			pid := "p" + strconv.Itoa(j*(n/sample))
			eid := store.EnrollmentID(pid, c.ID)
			k := st.Keys()
			for name, key := range map[string]string{"prospect": k.Prospect(pid), "enrollment": k.Enrollment(eid), "timeline": k.Timeline(eid), "ledger": k.Ledger(eid), "send history": k.Sends(pid)} {
				v, _ := rdb.MemoryUsage(ctx, key).Result()
				parts[name] += v
			}
		}
		b.ReportMetric(fresh, "fresh-B/enrollment")
		b.ReportMetric(after, "after3-B/enrollment")
		b.Logf("N=%d: %.0f B per enrollment when enrolled, %.0f B after three touches (the fourth 30 days away); per key, sampled: prospect %d, enrollment %d, timeline %d, ledger %d, send history %d B",
			n, fresh, after, parts["prospect"]/sample, parts["enrollment"]/sample, parts["timeline"]/sample, parts["ledger"]/sample, parts["send history"]/sample)
	}
}

// benchN is a benchmark's N: def, or short with -short, or NURTURE_BENCH_N.
func benchN(def, short int) int {
	n := def
	if testing.Short() {
		n = short
	}
	if v, err := strconv.Atoi(os.Getenv("NURTURE_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	return n
}

// benchProspects are prospects lo..hi-1 as a bulk import brings them: email,
// phone, first name, owner and one attribute.
func benchProspects(lo, hi int) []*store.Prospect {
	ps := make([]*store.Prospect, 0, hi-lo)
	for j := lo; j < hi; j++ {
		ps = append(ps, &store.Prospect{ID: "p" + strconv.Itoa(j), Email: fmt.Sprintf("p%d@example.com", j), Phone: fmt.Sprintf("+1312%07d", 2000000+j),
			FirstName: "Ada", Owner: "sam", Attr: map[string]string{"plan": "team"}})
	}
	return ps
}

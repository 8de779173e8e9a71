package store_test

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// BenchmarkStepLedger measures the send journal's per-message cost: one
// pipeline with the previous message's outcome and the next one's Begin,
// from 4 goroutines (one per SMTP connection). It reports wall time and
// this process's CPU per step.
func BenchmarkStepLedger(b *testing.B) {
	rdb, prefix := redistest.Client(b)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	const conns = 4
	n := b.N
	var ens []store.NewEnrollment
	for i := 0; i < n; i++ {
		ens = append(ens, store.NewEnrollment{Enrollment: cadence.Enrollment{ID: "p" + strconv.Itoa(i) + "~c", ProspectID: "p" + strconv.Itoa(i), CadenceID: "c", State: cadence.Active, Stage: "s"}})
		if len(ens) == 1000 || i == n-1 {
			st.CreateEnrollments(ctx, ens)
			ens = ens[:0]
		}
	}
	field := store.LedgerField(&cadence.Enrollment{Stage: "s"})
	sending := store.SendingValue(time.Now().Add(time.Minute), "bench")
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	cpu0, t0 := cpu(), time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			prev := -1
			for i := c; i < n; i += conns {
				steps := []store.LedgerStep{{Begin: true, EID: "p" + strconv.Itoa(i) + "~c", Field: field, Rev: 1, Value: sending}}
				if prev >= 0 {
					steps = append([]store.LedgerStep{{EID: "p" + strconv.Itoa(prev) + "~c", Field: field, Value: store.LedgerSent}}, steps...)
				}
				res, err := st.StepLedger(ctx, steps)
				if err != nil || res[len(res)-1] != "OK" {
					b.Errorf("%v %v", res, err)
					return
				}
				prev = i
			}
		}(c)
	}
	wg.Wait()
	b.ReportMetric(float64(time.Since(t0).Microseconds())/float64(n), "wall-µs/step")
	b.ReportMetric(float64((cpu()-cpu0).Microseconds())/float64(n), "cpu-µs/step")
}

package worker_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// TestBatchCheckRunsBeforeEachBatch: the check set with SetBatchCheck (the
// catalog's version check in nurture serve and worker) runs before a batch
// is gated and rendered, so a version it loads is the one the batch sends.
func TestBatchCheckRunsBeforeEachBatch(t *testing.T) {
	r := newRig(t)
	v2, err := cadence.Parse("e2e.yaml", []byte(strings.Replace(threeStage, `subject: "Welcome {{`, `subject: "Version two {{`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version == r.c.Version {
		t.Fatal("the edited cadence has the same version")
	}
	var calls atomic.Int32
	r.e.SetBatchCheck(func(context.Context) error {
		calls.Add(1)
		r.e.SetCadences(map[string]*cadence.Cadence{v2.ID: v2})
		return nil
	})
	r.enroll(t, &store.Prospect{ID: "ada", Email: "ada@example.com", FirstName: "Ada", TimeZone: "America/Chicago"})
	if n := r.dispatch(t); n == 0 {
		t.Fatal("nothing was dispatched")
	}
	if calls.Load() == 0 {
		t.Fatal("the batch check did not run")
	}
	msgs := r.smtp.Messages()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Header.Get("Subject"), "Version two") {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Header.Get("Subject"))
		}
		t.Fatalf("sent %q, want one message with the version the check loaded", subjects)
	}
}

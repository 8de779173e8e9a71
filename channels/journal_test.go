package channels_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/smtptest"
)

// stepRecorder is a Journal that checks the contract every EmailSender
// must keep: a message is announced before anyone can receive it, its
// outcome is reported after, no connection has more than one message
// outstanding, and a message the journal refuses is never delivered.
type stepRecorder struct {
	t           *testing.T
	delivered   func() map[string]bool // recipients that received a message
	msgs        []*channels.Email
	refuse      map[int]bool
	mu          sync.Mutex
	outstanding map[int]bool
	maxOut      int
	outcomes    map[int]error
}

var errRefused = errors.New("claim lost")

func (r *stepRecorder) Step(_ context.Context, done int, doneErr error, next int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if done >= 0 {
		if !r.outstanding[done] {
			r.t.Errorf("outcome of message %d reported but it was never announced", done)
		}
		delete(r.outstanding, done)
		r.outcomes[done] = doneErr
	}
	if next < 0 {
		return nil
	}
	if r.delivered()[r.msgs[next].To] {
		r.t.Errorf("message %d was delivered before it was announced", next)
	}
	if r.refuse[next] {
		return errRefused
	}
	r.outstanding[next] = true
	r.maxOut = max(r.maxOut, len(r.outstanding))
	return nil
}

// journalConformance sends 30 messages through s with a journal that
// refuses two of them and checks the contract; bounced are recipients the
// sender's far end refuses (their outcome must be reported as errors).
func journalConformance(t *testing.T, s channels.EmailSender, conns int, delivered func() map[string]bool, bounced map[string]bool) {
	var msgs []*channels.Email
	for i := 0; i < 30; i++ {
		to := fmt.Sprintf("p%d@example.com", i)
		if i == 7 && len(bounced) > 0 {
			for b := range bounced {
				to = b
			}
		}
		msgs = append(msgs, email(to, i))
	}
	j := &stepRecorder{t: t, delivered: delivered, msgs: msgs, refuse: map[int]bool{3: true, 20: true}, outstanding: map[int]bool{}, outcomes: map[int]error{}}
	errs := s.SendEmails(context.Background(), msgs, j)
	got := delivered()
	for i, err := range errs {
		to := msgs[i].To
		switch {
		case j.refuse[i]:
			if !errors.Is(err, errRefused) || got[to] {
				t.Errorf("message %d: refused by the journal, but result %v, delivered %v", i, err, got[to])
			}
		case bounced[to]:
			if err == nil || j.outcomes[i] == nil {
				t.Errorf("message %d to %s: result %v, journaled %v; want the refusal in both", i, to, err, j.outcomes[i])
			}
		default:
			if err != nil || !got[to] {
				t.Errorf("message %d: result %v, delivered %v", i, err, got[to])
			}
			if o, ok := j.outcomes[i]; !ok || o != nil {
				t.Errorf("message %d: accepted but journaled %v (reported %v)", i, o, ok)
			}
		}
	}
	if len(j.outstanding) != 0 {
		t.Errorf("messages announced but never finished: %v", j.outstanding)
	}
	if j.maxOut > conns {
		t.Errorf("%d messages outstanding at once over %d connections", j.maxOut, conns)
	}
}

func TestSMTPJournalsEveryMessage(t *testing.T) {
	sink := smtptest.Start(t)
	sink.Fail("refused@example.com", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	const conns = 3
	journalConformance(t, newSMTP(t, sink, conns, channels.DKIMConfig{}), conns, func() map[string]bool {
		got := map[string]bool{}
		for _, m := range sink.Messages() {
			got[m.To] = true
		}
		return got
	}, map[string]bool{"refused@example.com": true})
}

func TestOutboxJournalsEveryMessage(t *testing.T) {
	o, err := channels.NewOutbox(t.TempDir(), 100, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	journalConformance(t, o, 1, func() map[string]bool {
		got := map[string]bool{}
		for _, m := range o.Messages() {
			got[m.To] = true
		}
		return got
	}, nil)
}

// A prospect id can be a long email address; the dev outbox still writes
// its files.
func TestOutboxWritesLongKeys(t *testing.T) {
	dir := t.TempDir()
	o, err := channels.NewOutbox(dir, 10, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a-very-long-local-part.", 12) + "@example.com~saas-trial"
	for i := range 2 {
		e := email("x@example.com", i)
		e.MessageID = "<" + long + fmt.Sprint(i) + "@nurture.local>"
		if errs := o.SendEmails(context.Background(), []*channels.Email{e}, nil); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 2 {
		t.Fatalf("%d files for 2 messages", len(files))
	}
}

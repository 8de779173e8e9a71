package channels

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// OutboxMessage is one message the dev outbox kept.
type OutboxMessage struct {
	At      time.Time
	Channel string
	To      string
	Subject string
	// Body is the SMS text or the full MIME source of the email.
	Body string
	Key  string
}

// Outbox is the development channel: it accepts every message, keeps the
// latest in memory for the dashboard and, when Dir is set, writes each to
// a file (.eml for email, .txt for SMS).
type Outbox struct {
	Dir   string
	Keep  int
	Clock func() time.Time

	mu   sync.Mutex
	msgs []OutboxMessage
	seq  int
}

// NewOutbox returns an outbox keeping the last keep messages.
func NewOutbox(dir string, keep int, clock func() time.Time) (*Outbox, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
	}
	if keep <= 0 {
		keep = 1000
	}
	return &Outbox{Dir: dir, Keep: keep, Clock: clock}, nil
}

func (o *Outbox) add(m OutboxMessage, ext string) error {
	o.mu.Lock()
	o.seq++
	seq := o.seq
	o.msgs = append(o.msgs, m)
	if len(o.msgs) > o.Keep {
		o.msgs = append(o.msgs[:0], o.msgs[len(o.msgs)-o.Keep:]...)
	}
	o.mu.Unlock()
	if o.Dir == "" {
		return nil
	}
	name := fmt.Sprintf("%06d-%s-%s.%s", seq, m.Channel, safeName(m.Key), ext)
	return os.WriteFile(filepath.Join(o.Dir, name), []byte(m.Body), 0o644)
}

// safeName makes a message key usable in a file name: safe characters
// only, and at most 100 of them (long keys keep a prefix and a hash, so
// names stay unique within the file system's 255-byte limit).
func safeName(s string) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if len(name) > 100 {
		sum := sha256.Sum256([]byte(s))
		name = name[:80] + "-" + hex.EncodeToString(sum[:8])
	}
	return name
}

// SendEmails renders each email to MIME and keeps it, journaling each
// the way the SMTP pool does.
func (o *Outbox) SendEmails(ctx context.Context, msgs []*Email, j Journal) []error {
	errs := make([]error, len(msgs))
	run := newJournalRun(j, 0)
	for i, e := range msgs {
		if err := run.begin(ctx, i, errs); err != nil {
			errs[i] = err
			continue
		}
		errs[i] = o.keepEmail(e)
	}
	run.end(ctx, errs)
	return errs
}

func (o *Outbox) keepEmail(e *Email) error {
	m, err := BuildMsg(e)
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	return o.add(OutboxMessage{At: o.Clock(), Channel: "email", To: e.To, Subject: e.Subject, Body: b.String(), Key: strings.Trim(e.MessageID, "<>")}, "eml")
}

// SendSMS keeps the SMS.
func (o *Outbox) SendSMS(_ context.Context, m *SMS) (string, error) {
	if err := o.add(OutboxMessage{At: o.Clock(), Channel: "sms", To: m.To, Body: m.Body, Key: m.Key}, "txt"); err != nil {
		return "", err
	}
	return "outbox-" + m.Key, nil
}

// Messages returns the kept messages, newest last.
func (o *Outbox) Messages() []OutboxMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]OutboxMessage(nil), o.msgs...)
}

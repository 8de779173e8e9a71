package channels

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Email is a rendered email ready to send.
type Email struct {
	// MessageID is deterministic per (enrollment, touch, generation), so a
	// retried send carries the same id and receivers can dedupe.
	MessageID string
	From      string
	ReplyTo   string
	To        string
	Subject   string
	Text      string
	HTML      string
	// Unsubscribe is the https one-click URL (RFC 8058).
	Unsubscribe string
	// InReplyTo threads a follow-up under an earlier message of the cadence.
	InReplyTo string
	Headers   map[string]string
}

// SMS is a rendered text message.
type SMS struct {
	// Key identifies the send (enrollment, touch, generation) for logs.
	Key              string
	To               string
	From             string
	MessagingService string
	Body             string
	StatusCallback   string
}

// Class is what a failure means for the sender.
type Class string

const (
	// HardBounce: the mailbox does not exist (5.1.x); suppress the address.
	HardBounce Class = "hard_bounce"
	// Permanent: refused for this message or number; do not retry.
	Permanent Class = "permanent"
	// SenderPolicy: our sender is refused (5.7.x); alert and pause the
	// sending domain, do not blame the recipient.
	SenderPolicy Class = "sender_policy"
	// Retry: temporary (4xx, 429, provider 5xx); retry with backoff.
	Retry Class = "retry"
	// Transport: the connection failed before the message was accepted;
	// redial and retry.
	Transport Class = "transport"
	// Ambiguous: the connection failed after the message was handed over;
	// it may have been delivered.
	Ambiguous Class = "ambiguous"
	// OptedOut: the carrier says the recipient opted out (Twilio 21610).
	OptedOut Class = "opted_out"
	// Halt: the channel itself is broken (bad credentials, unverified
	// sender); stop sending on it and alert.
	Halt Class = "halt"
)

// Error is a classified delivery failure.
type Error struct {
	Class Class
	// Code is the SMTP reply code or the provider's error code.
	Code int
	// Enhanced is the SMTP enhanced status code (5.1.1), if any.
	Enhanced string
	// RetryAfter is a provider's hint, if any.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	s := string(e.Class)
	if e.Code != 0 {
		s += fmt.Sprintf(" %d", e.Code)
	}
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns an error's class, or "" for nil; unclassified errors
// count as Transport (nothing was accepted).
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Class
	}
	return Transport
}

// EmailSender sends a batch of emails; the result has one error per
// message (nil when accepted). A non-nil journal is stepped around every
// provider call.
type EmailSender interface {
	SendEmails(ctx context.Context, msgs []*Email, j Journal) []error
}

// Journal durably records each message's progress around its provider
// call, so that a crash leaves at most one message per connection whose
// fate is unknown: the one the provider was handling.
type Journal interface {
	// Step records, in one round trip, that message done (or -1) finished
	// with doneErr (nil: accepted) and that message next (or -1) is about
	// to reach the provider. A non-nil error means next must not be sent;
	// the sender reports that error as next's result.
	Step(ctx context.Context, done int, doneErr error, next int) error
}

// SMSSender sends one SMS and returns the provider's message id.
type SMSSender interface {
	SendSMS(ctx context.Context, msg *SMS) (string, error)
}

package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Key identifies the message for deduplication, as a fixed-length hash
// whatever the input: "m-" and 32 hex digits for a message with a
// Message-ID (the Message-ID alone decides, so a redelivered message has
// the same key however a relay rewrapped it), else a hash of what tells
// two messages apart:
//
//   - a DSN ("d-"): the sender, the report's Reporting-MTA and
//     Arrival-Date, each recipient block (Final- and Original-Recipient,
//     Action, Status, Diagnostic-Code, Last-Attempt-Date) and the returned
//     Message-IDs — so two bounces from one daemon for two recipients, or a
//     delay then a failure for one, are two messages;
//   - an ARF report ("c-"): the sender, Feedback-Type, recipient,
//     Arrival-Date, Source-IP and the returned Message-IDs;
//   - a reply ("r-"): the sender, Subject, Date, the Message-IDs it answers
//     and its text.
func (e *Email) Key() string {
	if e.MessageID != "" {
		return hashKey("m", e.MessageID)
	}
	switch e.Kind {
	case KindBounce:
		parts := []string{e.From, e.Subject}
		parts = append(parts, e.reportMeta...)
		for _, r := range e.Recipients {
			parts = append(parts, "rcpt", r.Final, r.Original, r.Action, r.Status, r.Diagnostic, r.LastAttempt)
		}
		if len(e.Recipients) == 0 {
			parts = append(parts, "rcpt", e.BounceRecipient, e.BounceStatus)
		}
		return hashKey("d", append(parts, e.Returned...)...)
	case KindComplaint:
		parts := []string{e.From, e.FeedbackType, e.BounceRecipient}
		parts = append(parts, e.reportMeta...)
		return hashKey("c", append(parts, e.Returned...)...)
	}
	parts := []string{e.From, e.Subject, e.date, e.Text}
	return hashKey("r", append(parts, e.References...)...)
}

// LegacyKey is the key versions before hashed keys deduplicated a message
// with a Message-ID by (the bare Message-ID), so a message delivered again
// across the upgrade is still recognised; "" for messages without one
// (their old keys collided and are not worth honouring) and for
// Message-IDs too long to have been sensible keys.
func (e *Email) LegacyKey() string {
	if e.MessageID == "" || len(e.MessageID) > 998 {
		return ""
	}
	return e.MessageID
}

// hashKey hashes length-prefixed parts, so no choice of parts can collide
// with another by moving a separator.
func hashKey(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	sum := h.Sum(nil)
	return kind + "-" + hex.EncodeToString(sum[:16])
}

package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
)

// The test-send limit is a rolling window: a slot frees up exactly when
// the oldest send in the window leaves it, and a slot given back is free
// at once.
func TestTestSlotWindow(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	ob, _ := channels.NewOutbox("", 10, time.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	e, err := New(Config{Store: store.New(rdb, prefix), Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC)
	for i := range TestSendLimit {
		left, err := e.takeTestSlot(ctx, "sales:sam", tokens.RandomHex(4), t0.Add(time.Duration(i)*time.Minute))
		if err != nil || left != TestSendLimit-1-i {
			t.Fatalf("slot %d: %d left, %v", i, left, err)
		}
	}
	over := t0.Add(30 * time.Minute)
	_, err = e.takeTestSlot(ctx, "sales:sam", "x", over)
	var le *TestLimitError
	if !errors.As(err, &le) || le.RetryAfter != 30*time.Minute {
		t.Fatalf("over the limit at +30m: %v (want a retry in 30m, when the first send leaves the window)", err)
	}
	if ttl := rdb.PTTL(ctx, e.testSlotKey("sales:sam")).Val(); ttl <= 0 || ttl > TestSendWindow {
		t.Errorf("the log's TTL is %s", ttl)
	}
	if _, err := e.takeTestSlot(ctx, "sales:sam", "y", t0.Add(TestSendWindow)); err != nil {
		t.Fatalf("an hour after the first send: %v", err)
	}
	if _, err := e.takeTestSlot(ctx, "sales:sam", "z", t0.Add(TestSendWindow)); !errors.As(err, &le) {
		t.Fatalf("the window is full again: %v", err)
	}
	if err := e.giveBackTestSlot(ctx, "sales:sam", "y"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.takeTestSlot(ctx, "sales:sam", "z", t0.Add(TestSendWindow)); err != nil {
		t.Fatalf("after giving a slot back: %v", err)
	}
}

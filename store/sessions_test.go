package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

func TestDashboardKeysCarryHashTag(t *testing.T) {
	k := store.Keys{Prefix: "nurture"}
	for _, key := range []string{k.RevokedSession("abc"), k.LoginFailures("192.0.2.1"), k.LoginFailures("2001:db8::")} {
		if !strings.HasPrefix(key, "nurture:{dash}:") {
			t.Errorf("%s: want prefix nurture:{dash}:", key)
		}
	}
}

func TestRevokeSession(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	if revoked, err := st.SessionRevoked(ctx, "s1"); err != nil || revoked {
		t.Fatalf("fresh session: revoked %v, %v", revoked, err)
	}
	if err := st.RevokeSession(ctx, "s1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if revoked, err := st.SessionRevoked(ctx, "s1"); err != nil || !revoked {
		t.Fatalf("after revoke: revoked %v, %v", revoked, err)
	}
	if revoked, _ := st.SessionRevoked(ctx, "s2"); revoked {
		t.Fatal("revoking s1 revoked s2")
	}
	// The mark lasts as long as the session could (plus a minute), no more.
	ttl := rdb.TTL(ctx, st.Keys().RevokedSession("s1")).Val()
	if ttl < 59*time.Minute || ttl > 61*time.Minute {
		t.Fatalf("revocation TTL %v, want about 1h1m", ttl)
	}
	// An expired session needs no mark.
	if err := st.RevokeSession(ctx, "old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, st.Keys().RevokedSession("old")).Val(); n != 0 {
		t.Fatal("an expired session was marked")
	}
}

func TestSessionRevokedFailsClosed(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	rdb.Close()
	revoked, err := st.SessionRevoked(context.Background(), "s1")
	if err == nil || !revoked {
		t.Fatalf("closed client: revoked %v, err %v; want revoked and an error", revoked, err)
	}
}

func TestLoginFailures(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	if n, ttl, err := st.LoginFailures(ctx, "192.0.2.1"); err != nil || n != 0 || ttl != 0 {
		t.Fatalf("no failures yet: %d %v %v", n, ttl, err)
	}
	for i := int64(1); i <= 3; i++ {
		n, err := st.CountLoginFailure(ctx, "192.0.2.1", 5*time.Minute)
		if err != nil || n != i {
			t.Fatalf("failure %d counted as %d, %v", i, n, err)
		}
	}
	n, ttl, err := st.LoginFailures(ctx, "192.0.2.1")
	if err != nil || n != 3 || ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Fatalf("after 3 failures: %d, window left %v, %v", n, ttl, err)
	}
	if n, _, _ := st.LoginFailures(ctx, "192.0.2.2"); n != 0 {
		t.Fatalf("another address has %d failures", n)
	}

	// A counter left without a TTL (written by hand, or by a crash of an
	// older version) gets one at the next failure instead of locking the
	// address out for good.
	key := st.Keys().LoginFailures("192.0.2.3")
	rdb.Set(ctx, key, 50, 0)
	if _, err := st.CountLoginFailure(ctx, "192.0.2.3", time.Minute); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("counter without TTL: PTTL %v after a failure", ttl)
	}

	// The window is fixed: it ends window after the first failure.
	if _, err := st.CountLoginFailure(ctx, "192.0.2.4", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n, ttl, err := st.LoginFailures(ctx, "192.0.2.4"); err != nil || n != 0 || ttl != 0 {
		t.Fatalf("after the window: %d %v %v", n, ttl, err)
	}
	if n, err := st.CountLoginFailure(ctx, "192.0.2.4", time.Minute); err != nil || n != 1 {
		t.Fatalf("first failure of a new window counted as %d, %v", n, err)
	}
}

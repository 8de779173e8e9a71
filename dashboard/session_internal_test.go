package dashboard

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
)

// Sessions that are expired, of another payload version or of an unknown
// token are refused before Redis is asked. d's store is a Redis client
// that is closed: asking it is an error.
func TestSessionRefusedBeforeRedis(t *testing.T) {
	key := SessionKey([]byte("test-token-key-0123456789abcdef-0123456789"))
	signer, _ := tokens.NewSigner(key)
	fp := fingerprint(key, "sales-secret")
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	rdb.Close()
	d := &Dashboard{signer: signer, st: store.New(rdb, "x"), creds: []credential{{name: "sam", role: server.RoleSales, fp: fp}}}
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	past := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)

	// Control: a valid payload gets as far as Redis, and fails closed.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", cookieName+"="+signer.Sign(sessionKind, "v1|sid|"+fp+"|csrf|"+future+"|sam"))
	if s, err := d.session(r); s != nil || err == nil {
		t.Fatalf("valid payload without Redis: session %+v, err %v; want an error", s, err)
	}
	for name, payload := range map[string]string{
		"expired":         "v1|sid|" + fp + "|csrf|" + past + "|sam",
		"other version":   "v2|sid|" + fp + "|csrf|" + future + "|sam",
		"bad expiry":      "v1|sid|" + fp + "|csrf|soon|sam",
		"unknown token":   "v1|sid|" + fp + "|csrf|" + future + "|someone",
		"wrong secret":    "v1|sid|" + fingerprint(key, "guess") + "|csrf|" + future + "|sam",
		"missing a field": "v1|sid|" + fp + "|" + future + "|sam",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", cookieName+"="+signer.Sign(sessionKind, payload))
		if s, err := d.session(r); s != nil || err != nil {
			t.Errorf("%s: session %+v, err %v; want none", name, s, err)
		}
	}
	// The same payload signed as another kind (a flash) is no session.
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", cookieName+"="+signer.Sign(flashKind, "v1|sid|"+fp+"|csrf|"+future+"|sam"))
	if s, err := d.session(r); s != nil || err != nil {
		t.Errorf("flash-signed payload: session %+v, err %v", s, err)
	}
	if fingerprint(key, "a") == fingerprint(key, "b") || len(fp) != 16 || strings.Contains(fp, "sales") {
		t.Error("fingerprints must be 8 bytes of hex and differ per secret")
	}
}

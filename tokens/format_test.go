package tokens_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/tokens"
)

// specToken builds a token from the package documentation's description of
// the format, independently of the implementation: tokens in emails
// already sent must keep verifying, so the format may not drift.
func specToken(t *testing.T, key []byte, kind, payload string) string {
	t.Helper()
	macKey, err := hkdf.Key(sha256.New, key, nil, "nurture/tokens/v1 mac", 32)
	if err != nil {
		t.Fatal(err)
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, "nurture/tokens/v1 enc", 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte{0x01, byte(len(kind))}) // uvarint of a length < 128 is one byte
	m.Write([]byte(kind))
	m.Write([]byte(payload))
	tag := m.Sum(nil)[:16]
	block, err := aes.NewCipher(encKey)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(payload))
	cipher.NewCTR(block, tag).XORKeyStream(ct, []byte(payload))
	return base64.RawURLEncoding.EncodeToString(append(append([]byte{0x01}, tag...), ct...))
}

func TestFormatMatchesDocumentation(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s, err := tokens.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kind, payload string }{{"u", "ada~saas"}, {"c", ""}, {"mid", "e1|welcome|1767225600000|https://acme.example/"}} {
		want := specToken(t, key, c.kind, c.payload)
		if got := s.Sign(c.kind, c.payload); got != want {
			t.Errorf("Sign(%q, %q) = %s, the documented format gives %s", c.kind, c.payload, got, want)
		}
		if got, err := s.Verify(c.kind, want); err != nil || got != c.payload {
			t.Errorf("Verify(documented token) = %q, %v", got, err)
		}
	}
}

// Tokens up to 4,096 characters verify; longer ones are refused unread.
func TestMaxTokenLength(t *testing.T) {
	s := newSigner(t, "k")
	// 17 bytes of header and tag + 3,055 of payload = 3,072 bytes = 4,096 characters.
	p := strings.Repeat("p", 3055)
	tok := s.Sign("c", p)
	if len(tok) != 4096 {
		t.Fatalf("test token is %d characters, want 4096", len(tok))
	}
	if got, err := s.Verify("c", tok); err != nil || got != p {
		t.Fatalf("a 4,096-character token was refused: %v", err)
	}
	tok = s.Sign("c", p+"p")
	if len(tok) <= 4096 {
		t.Fatalf("test token is %d characters, want more than 4096", len(tok))
	}
	if _, err := s.Verify("c", tok); err == nil {
		t.Fatalf("a %d-character token verified", len(tok))
	}
}

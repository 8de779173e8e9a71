// Package tokens makes the opaque, HMAC-signed tokens in tracking, click
// and unsubscribe links (COMPLIANCE.md 16): a forged or altered token
// fails verification and reveals nothing about what it names.
package tokens

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrInvalid is returned for any token that does not verify.
var ErrInvalid = errors.New("invalid token")

// Signer signs and verifies tokens with one secret key.
type Signer struct {
	key []byte
}

// NewSigner returns a signer; the key must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("token key must be at least 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

func (s *Signer) mac(kind, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

// Sign returns a URL-safe token for payload; kind separates uses (a click
// token is not an unsubscribe token).
func (s *Signer) Sign(kind, payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.mac(kind, payload))
}

// Verify returns the payload of a valid token of the given kind.
func (s *Signer) Verify(kind, token string) (string, error) {
	// Strict: one token has exactly one spelling.
	enc := base64.RawURLEncoding.Strict()
	p, m, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 || !urlSafe(p) || !urlSafe(m) {
		return "", ErrInvalid
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(kind, string(payload))) {
		return "", ErrInvalid
	}
	return string(payload), nil
}

// urlSafe reports whether s uses only the base64url alphabet: the decoder
// would otherwise skip CR and LF, giving one token many spellings.
func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

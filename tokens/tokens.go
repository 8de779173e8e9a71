// Package tokens makes the opaque tokens in tracking, click and
// unsubscribe links and in Message-IDs (COMPLIANCE.md 16): the payload is
// encrypted and authenticated, so a forged or altered token fails
// verification and a token reveals nothing about what it names (not even
// an email address used as a prospect id).
//
// # Format
//
// A token is the unpadded base64url encoding of
//
//	version (1 byte, 0x01) || tag (16 bytes) || ciphertext (len(payload) bytes)
//
// where, SIV style (deterministic authenticated encryption, RFC 5297's
// construction with HMAC-SHA256 as the PRF):
//
//	tag        = HMAC-SHA256(macKey, 0x01 || uvarint(len(kind)) || kind || payload)[:16]
//	ciphertext = AES-256-CTR(encKey, iv = tag, payload)
//	macKey     = HKDF-SHA256(secret key, no salt, info "nurture/tokens/v1 mac")
//	encKey     = HKDF-SHA256(secret key, no salt, info "nurture/tokens/v1 enc")
//
// The kind is authenticated (associated data) but not sent. Equal (kind,
// payload) pairs give equal tokens: Message-IDs must be the same for the
// same send across retries. A token reveals only its payload's length and
// whether it equals another token.
// Verify decrypts with the tag as the IV and accepts the payload only if
// the tag recomputed over it matches. The overhead over the payload is 17
// bytes, no longer in characters than the signed format's 16 bytes and
// separating dot.
//
// # Legacy format
//
// Tokens made before encryption are base64url(payload) "." base64url(mac),
// mac = HMAC-SHA256(key, kind || 0x00 || payload)[:16]. They reveal the
// payload, and Sign no longer makes them, but Verify still accepts them:
// they are in emails already sent (unsubscribe links must keep working) and
// in Message-IDs that replies refer to. The two formats cannot be confused:
// a legacy token always contains one ".", which base64url never does, so
// a token stays plain base64url with no marker character (which link
// matchers and mail encoders might treat differently). A later format
// would take another version byte.
package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// ErrInvalid is returned for any token that does not verify.
var ErrInvalid = errors.New("invalid token")

// Signer makes and verifies tokens with one secret key. It is safe for
// concurrent use.
type Signer struct {
	key    []byte // the legacy format's HMAC key
	macKey []byte
	block  cipher.Block
}

const (
	tagLen     = 16
	maxToken   = 4096
	version1   = 0x01
	infoMAC    = "nurture/tokens/v1 mac"
	infoCipher = "nurture/tokens/v1 enc"
)

// NewSigner returns a signer; the key must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("token key must be at least 32 bytes")
	}
	macKey, err := hkdf.Key(sha256.New, key, nil, infoMAC, 32)
	if err != nil {
		return nil, err
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, infoCipher, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	return &Signer{key: append([]byte(nil), key...), macKey: macKey, block: block}, nil
}

// tag is the synthetic IV and authenticator of (kind, payload).
func (s *Signer) tag(kind string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.macKey)
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = version1
	n := binary.PutUvarint(hdr[1:], uint64(len(kind)))
	m.Write(hdr[:1+n])
	m.Write([]byte(kind))
	m.Write(payload)
	return m.Sum(nil)[:tagLen]
}

// Sign returns a URL-safe token that carries payload encrypted; kind
// separates uses (a click token is not an unsubscribe token).
func (s *Signer) Sign(kind, payload string) string {
	out := make([]byte, 1+tagLen+len(payload))
	out[0] = version1
	tag := out[1 : 1+tagLen]
	copy(tag, s.tag(kind, []byte(payload)))
	cipher.NewCTR(s.block, tag).XORKeyStream(out[1+tagLen:], []byte(payload))
	return base64.RawURLEncoding.EncodeToString(out)
}

// Verify returns the payload of a valid token of the given kind, in either
// format (see the package documentation).
func (s *Signer) Verify(kind, token string) (string, error) {
	if len(token) > maxToken {
		return "", ErrInvalid
	}
	if strings.Contains(token, ".") {
		return s.verifyLegacy(kind, token)
	}
	// Strict: one token has exactly one spelling.
	if !urlSafe(token) {
		return "", ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < 1+tagLen || raw[0] != version1 {
		return "", ErrInvalid
	}
	tag, ct := raw[1:1+tagLen], raw[1+tagLen:]
	payload := make([]byte, len(ct))
	cipher.NewCTR(s.block, tag).XORKeyStream(payload, ct)
	if !hmac.Equal(tag, s.tag(kind, payload)) {
		return "", ErrInvalid
	}
	return string(payload), nil
}

// legacyMAC is the authenticator of the signed, unencrypted format.
func (s *Signer) legacyMAC(kind, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

func (s *Signer) verifyLegacy(kind, token string) (string, error) {
	enc := base64.RawURLEncoding.Strict()
	p, m, ok := strings.Cut(token, ".")
	if !ok || !urlSafe(p) || !urlSafe(m) {
		return "", ErrInvalid
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.legacyMAC(kind, string(payload))) {
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

// RandomHex returns n bytes from crypto/rand, hex encoded: generated keys,
// API tokens, session and request ids.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

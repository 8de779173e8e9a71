package tokens_test

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/tokens"
)

func newSigner(t testing.TB, k string) *tokens.Signer {
	t.Helper()
	s, err := tokens.NewSigner([]byte(strings.Repeat(k, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokens(t *testing.T) {
	s := newSigner(t, "k")
	tok := s.Sign("u", "ada~saas")
	if got, err := s.Verify("u", tok); err != nil || got != "ada~saas" {
		t.Fatalf("verify: %q %v", got, err)
	}
	other := newSigner(t, "x")
	flipped := []byte(tok)
	flipped[2] ^= 1
	for name, bad := range map[string]func() (string, error){
		"other kind":   func() (string, error) { return s.Verify("c", tok) },
		"other key":    func() (string, error) { return other.Verify("u", tok) },
		"altered":      func() (string, error) { return s.Verify("u", string(flipped)) },
		"truncated":    func() (string, error) { return s.Verify("u", tok[:len(tok)-1]) },
		"extended":     func() (string, error) { return s.Verify("u", tok+"A") },
		"empty":        func() (string, error) { return s.Verify("u", "") },
		"short":        func() (string, error) { return s.Verify("u", "AQAA") },
		"with a dot":   func() (string, error) { return s.Verify("u", tok[:5]+"."+tok[5:]) },
		"padded":       func() (string, error) { return s.Verify("u", tok+"=") },
		"std alphabet": func() (string, error) { return s.Verify("u", stdAlphabet(t, s, "u")) },
		"crlf":         func() (string, error) { return s.Verify("u", tok[:10]+"\r\n"+tok[10:]) },
		"garbage":      func() (string, error) { return s.Verify("u", "%%%.###") },
		"new garbage":  func() (string, error) { return s.Verify("u", "%%%###") },
		"huge":         func() (string, error) { return s.Verify("u", strings.Repeat("a", 5000)+".b") },
		"huge new":     func() (string, error) { return s.Verify("u", strings.Repeat("a", 5000)) },
		"spliced": func() (string, error) {
			// The version and tag of one token with the ciphertext of
			// another (17 bytes: 22 characters and 4 bits).
			b := s.Sign("u", "bob~saas")
			return s.Verify("u", tok[:23]+b[23:])
		},
		"other version": func() (string, error) {
			raw, _ := base64.RawURLEncoding.DecodeString(tok)
			raw[0] = 2
			return s.Verify("u", base64.RawURLEncoding.EncodeToString(raw))
		},
	} {
		if _, err := bad(); !errors.Is(err, tokens.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := tokens.NewSigner([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

// stdAlphabet is a valid token of kind spelled in the standard base64
// alphabet ("+" and "/" for "-" and "_").
func stdAlphabet(t *testing.T, s *tokens.Signer, kind string) string {
	for i := 0; ; i++ {
		tok := s.Sign(kind, strconv.Itoa(i))
		if strings.ContainsAny(tok, "-_") {
			return strings.NewReplacer("-", "+", "_", "/").Replace(tok)
		}
		if i > 1000 {
			t.Fatal("no token with - or _")
		}
	}
}

// TestRoundTrip covers payload sizes around the base64 and AES block
// boundaries, the empty payload and bytes that are not UTF-8.
func TestRoundTrip(t *testing.T) {
	s := newSigner(t, "k")
	payloads := []string{"", "a", "\x00\xff|~.", "ada.lovelace@example.com~saas|welcome|1767225600000|https://acme.example/pricing"}
	for n := 1; n <= 40; n++ {
		payloads = append(payloads, strings.Repeat("z", n))
	}
	for _, p := range payloads {
		for _, kind := range []string{"c", "o", "u", "m", "s", ""} {
			tok := s.Sign(kind, p)
			if raw, err := base64.RawURLEncoding.Strict().DecodeString(tok); err != nil || len(raw) != 17+len(p) || raw[0] != 1 {
				t.Fatalf("token %q is not version 1 of %d bytes: %v", tok, 17+len(p), err)
			}
			for i := 0; i < len(tok); i++ {
				c := tok[i]
				if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
					t.Fatalf("token %q has %q, not base64url without padding", tok, c)
				}
			}
			if got, err := s.Verify(kind, tok); err != nil || got != p {
				t.Fatalf("Verify(%q, Sign(%q)) = %q, %v", kind, p, got, err)
			}
		}
	}
}

// TestDeterministic: the same kind and payload always give the same token
// (Message-IDs depend on it), on any signer with the same key; anything
// else gives a different one.
func TestDeterministic(t *testing.T) {
	s, again := newSigner(t, "k"), newSigner(t, "k")
	p := "ada@example.com~saas|welcome|1"
	tok := s.Sign("m", p)
	if s.Sign("m", p) != tok || again.Sign("m", p) != tok {
		t.Fatal("the same payload gave different tokens")
	}
	seen := map[string]string{tok: "m " + p}
	for _, other := range [][2]string{{"c", p}, {"m", p + "x"}, {"m", "ada@example.com~saas|welcome|2"}, {"", p}} {
		o := s.Sign(other[0], other[1])
		if prev, dup := seen[o]; dup {
			t.Fatalf("%v and %s gave the same token", other, prev)
		}
		seen[o] = other[0] + " " + other[1]
	}
	if newSigner(t, "x").Sign("m", p) == tok {
		t.Fatal("another key gave the same token")
	}
}

// TestTamper flips every bit of every character of a token: no change
// verifies.
func TestTamper(t *testing.T) {
	s := newSigner(t, "k")
	tok := s.Sign("c", "ada@example.com~saas|welcome|1767225600000|https://acme.example/")
	for i := 0; i < len(tok); i++ {
		for bit := 0; bit < 8; bit++ {
			b := []byte(tok)
			b[i] ^= 1 << bit
			if p, err := s.Verify("c", string(b)); err == nil {
				t.Fatalf("flipping bit %d of byte %d verified: %q -> %q", bit, i, b, p)
			}
		}
	}
	// And every bit of the decoded bytes, re-encoded.
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := 0; bit < 8; bit++ {
			b := append([]byte(nil), raw...)
			b[i] ^= 1 << bit
			if p, err := s.Verify("c", base64.RawURLEncoding.EncodeToString(b)); err == nil {
				t.Fatalf("flipping bit %d of decoded byte %d verified: %q", bit, i, p)
			}
		}
	}
}

func TestWrongKind(t *testing.T) {
	s := newSigner(t, "k")
	kinds := []string{"c", "o", "u", "m", "s", "", "c\x00", "uu"}
	for _, k := range kinds {
		tok := s.Sign(k, "ada~saas")
		for _, other := range kinds {
			if other == k {
				continue
			}
			if p, err := s.Verify(other, tok); !errors.Is(err, tokens.ErrInvalid) {
				t.Errorf("a %q token verified as %q: %q %v", k, other, p, err)
			}
		}
	}
}

// TestLegacyStillVerifies: tokens in emails sent before encryption (signed
// only) keep working, with the same checks as before.
func TestLegacyStillVerifies(t *testing.T) {
	s := newSigner(t, "k")
	// Made by the previous Sign, with the key "k"*32.
	const fixed = "YWRhfnNhYXM.sq4VQjuG7-TXiStqnXG3Cg"
	if got, err := s.Verify("u", fixed); err != nil || got != "ada~saas" {
		t.Fatalf("a token of the previous release: %q %v", got, err)
	}
	for _, p := range []string{"", "ada@example.com~saas", "ada@example.com~saas|welcome|1767225600000|https://acme.example/"} {
		old := tokens.SignLegacy(s, "c", p)
		if strings.Count(old, ".") != 1 {
			t.Fatalf("legacy token %q has no single dot", old)
		}
		if got, err := s.Verify("c", old); err != nil || got != p {
			t.Fatalf("legacy %q: %q %v", old, got, err)
		}
		if _, err := s.Verify("u", old); err == nil {
			t.Errorf("legacy token verified as another kind")
		}
		if _, err := newSigner(t, "x").Verify("c", old); err == nil {
			t.Errorf("legacy token verified with another key")
		}
		payload, mac, _ := strings.Cut(old, ".")
		for name, bad := range map[string]string{
			"no mac":     payload,
			"altered":    payload + "." + strings.Map(func(r rune) rune { return r ^ 1 }, mac),
			"two dots":   old + ".",
			"crlf":       payload + ".\r\n" + mac,
			"other data": base64.RawURLEncoding.EncodeToString([]byte(p+"x")) + "." + mac,
		} {
			if _, err := s.Verify("c", bad); !errors.Is(err, tokens.ErrInvalid) {
				t.Errorf("legacy %s: %v", name, err)
			}
		}
	}
}

// TestNoPlaintext: nothing of the payload shows in the token, in its text
// or in its decoded bytes (the legacy format showed all of it).
func TestNoPlaintext(t *testing.T) {
	s := newSigner(t, "k")
	email := "ada.lovelace@example.com"
	for _, p := range []string{email, email + "~saas", email + "~saas|welcome|1767225600000|https://acme.example/pricing"} {
		for _, kind := range []string{"c", "o", "u", "m", "s"} {
			tok := s.Sign(kind, p)
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, needle := range []string{email, "ada.lovelace", "example.com", "lovelace", "acme.example", "welcome"} {
				if !strings.Contains(p, needle) {
					continue
				}
				b64 := base64.RawURLEncoding.EncodeToString([]byte(needle))
				if strings.Contains(strings.ToLower(tok), strings.ToLower(needle)) || strings.Contains(string(raw), needle) || strings.Contains(tok, b64[:len(b64)-2]) {
					t.Errorf("%s token for %q shows %q: %s", kind, p, needle, tok)
				}
			}
		}
		// The legacy format does show it: the check above would catch it.
		old := tokens.SignLegacy(s, "c", p)
		if raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(old, ".")[0]); !strings.Contains(string(raw), email) {
			t.Fatalf("the check is blind: legacy %q does not decode to the address", old)
		}
	}
}

// TestLength: the overhead over the payload stays that of the signed
// format (a version byte and 16 bytes of tag, against 16 bytes of mac and
// the dot): never longer.
func TestLength(t *testing.T) {
	s := newSigner(t, "k")
	for _, p := range []string{"", "ada~saas", "ada.lovelace@example.com~saas|welcome|1767225600000|https://acme.example/pricing?plan=pro"} {
		old, tok := tokens.SignLegacy(s, "c", p), s.Sign("c", p)
		if len(tok) > len(old) {
			t.Errorf("payload of %d bytes: token %d characters, legacy %d", len(p), len(tok), len(old))
		}
		t.Logf("payload %d bytes: legacy token %d characters, new %d", len(p), len(old), len(tok))
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	f.Add(s.Sign("u", "ada~saas"))
	f.Add(tokens.SignLegacy(s, "u", "ada~saas"))
	f.Add("a.b")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if p, err := s.Verify("u", tok); err == nil && s.Sign("u", p) != tok && tokens.SignLegacy(s, "u", p) != tok {
			t.Fatalf("accepted a token it did not sign: %q", tok)
		}
	})
}

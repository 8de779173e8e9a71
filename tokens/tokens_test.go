package tokens_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/tokens"
)

func TestTokens(t *testing.T) {
	s, err := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Sign("u", "ada~saas")
	if got, err := s.Verify("u", tok); err != nil || got != "ada~saas" {
		t.Fatalf("verify: %q %v", got, err)
	}
	other, _ := tokens.NewSigner([]byte(strings.Repeat("x", 32)))
	flipped := []byte(tok)
	flipped[2] ^= 1
	for name, bad := range map[string]func() (string, error){
		"other kind": func() (string, error) { return s.Verify("c", tok) },
		"other key":  func() (string, error) { return other.Verify("u", tok) },
		"altered":    func() (string, error) { return s.Verify("u", string(flipped)) },
		"no mac":     func() (string, error) { return s.Verify("u", strings.Split(tok, ".")[0]) },
		"garbage":    func() (string, error) { return s.Verify("u", "%%%.###") },
		"huge":       func() (string, error) { return s.Verify("u", strings.Repeat("a", 5000)+".b") },
		"swapped mac": func() (string, error) {
			return s.Verify("u", strings.Split(s.Sign("u", "bob~saas"), ".")[0]+"."+strings.Split(tok, ".")[1])
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

func FuzzVerify(f *testing.F) {
	s, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	f.Add(s.Sign("u", "ada~saas"))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, tok string) {
		if p, err := s.Verify("u", tok); err == nil && s.Sign("u", p) != tok {
			t.Fatalf("accepted a token it did not sign: %q", tok)
		}
	})
}

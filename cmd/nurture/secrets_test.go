package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/server"
)

// TestGeneratedSecretsAreAccepted: the weak-secret rules never refuse a
// value made the usual ways (openssl rand -hex/-base64, RandomHex, UUIDs,
// prefixed hex, random digits or letters), at the shortest lengths
// allowed and longer. Each rule's chance of refusing one is far below
// 1/10,000 per value; this draws a few thousand of each.
func TestGeneratedSecretsAreAccepted(t *testing.T) {
	random := func(n int) []byte {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	from := func(n int, set string) string {
		b := random(n)
		for i := range b {
			b[i] = set[int(b[i])%len(set)]
		}
		return string(b)
	}
	uuid := func() string {
		h := hex.EncodeToString(random(16))
		return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
	}
	gens := map[string]func() string{
		"hex of 8 bytes":        func() string { return hex.EncodeToString(random(8)) },
		"hex of 16 bytes":       func() string { return hex.EncodeToString(random(16)) },
		"HEX of 16 bytes":       func() string { return strings.ToUpper(hex.EncodeToString(random(16))) },
		"hex of 32 bytes":       func() string { return hex.EncodeToString(random(32)) },
		"base64 of 12 bytes":    func() string { return base64.StdEncoding.EncodeToString(random(12)) },
		"base64 of 24 bytes":    func() string { return base64.StdEncoding.EncodeToString(random(24)) },
		"base64url of 32 bytes": func() string { return base64.RawURLEncoding.EncodeToString(random(32)) },
		"uuid":                  uuid,
		"prefix + hex":          func() string { return "adm" + hex.EncodeToString(random(16)) },
		"16 digits":             func() string { return from(16, "0123456789") },
		"32 digits":             func() string { return from(32, "0123456789") },
		"16 lowercase letters":  func() string { return from(16, "abcdefghijklmnopqrstuvwxyz") },
		"32 letters and digits": func() string { return from(32, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") },
	}
	for name, gen := range gens {
		for range 3000 {
			s := gen()
			if len(s) >= 32 {
				if err := checkTokenKey(s); err != nil {
					t.Errorf("%s as NURTURE_TOKEN_KEY: %v", name, err)
				}
			}
			if err := checkAPITokens([]server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: s}}); err != nil {
				t.Errorf("%s as an API token: %v", name, err)
			}
		}
	}
}

// fewDistinctChance matches the exact count for small cases.
func TestFewDistinctChance(t *testing.T) {
	for _, c := range []struct {
		n, d, a int
		want    float64
	}{
		{1, 1, 16, 1},
		{2, 1, 16, 1.0 / 16},       // both the same
		{3, 1, 2, 2.0 / 8},         // aaa, bbb
		{3, 2, 3, 1 - 6.0/27},      // all but the 3! permutations of abc
		{32, 0, 16, 0},             // never none
		{4, 4, 16, 1},              // at most all
		{16, 16, 10, 1},            // d past the alphabet
		{5, 1, 10, 10 / 100000.0},  // 00000 … 99999
		{2, 2, 10, 1},              // any two
		{3, 2, 10, 1 - 720.0/1000}, // not all three different
	} {
		if got := fewDistinctChance(c.n, c.d, c.a); fmt.Sprintf("%.12f", got) != fmt.Sprintf("%.12f", c.want) {
			t.Errorf("fewDistinctChance(%d, %d, %d) = %g, want %g", c.n, c.d, c.a, got, c.want)
		}
	}
}

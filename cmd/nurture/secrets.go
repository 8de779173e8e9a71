package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/tokens"
)

// placeholderMarks are the words example configurations use for values a
// deployment must replace; a secret containing one was copied, not made.
var placeholderMarks = []string{"change-me", "changeme", "change_me", "replace-me", "replaceme", "placeholder", "your-secret", "xxxxxxxx"}

const genHint = "generate one with: openssl rand -hex 32"

// placeholderIn returns the placeholder mark s contains, or "".
func placeholderIn(s string) string {
	low := strings.ToLower(s)
	for _, m := range placeholderMarks {
		if strings.Contains(low, m) {
			return m
		}
	}
	return ""
}

// distinctBytes counts the different byte values in s.
func distinctBytes(s string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(s); i++ {
		if !seen[s[i]] {
			seen[s[i]] = true
			n++
		}
	}
	return n
}

// fewDistinctChance is the chance that a random string of n characters
// from an alphabet of a has at most d distinct characters.
func fewDistinctChance(n, d, a int) float64 {
	p := make([]float64, a+1) // p[k]: chance of k distinct so far
	p[0] = 1
	for range n {
		for k := a; k >= 0; k-- {
			p[k] *= float64(k) / float64(a)
			if k > 0 {
				p[k] += p[k-1] * float64(a-k+1) / float64(a)
			}
		}
	}
	sum := 0.0
	for k := 0; k <= d && k <= a; k++ {
		sum += p[k]
	}
	return sum
}

// weakness says why s does not look like a random secret, or "" when it
// does. Random strings are judged against hex (or decimal digits when s
// has only digits), the narrowest alphabet generators use, so any
// generated value passes each rule but with negligible chance
// (TestGeneratedSecretsAreAccepted):
//   - so few distinct characters that fewer than one random string of its
//     length in a billion has as few ("kkkk…", "aaaa…ab");
//   - a pattern repeated to fill it ("0123456789abcdef0123456789abcdef",
//     "password1password1…");
//   - mostly evenly stepped runs ("abcdefgh…", "0000…1111…", "00112233…").
func weakness(s string) string {
	n := len(s)
	alphabet, name := 10, "string of digits"
	if strings.Trim(s, "0123456789") != "" {
		alphabet, name = 16, "hex string"
	}
	if d := distinctBytes(s); fewDistinctChance(n, d, alphabet) < 1e-9 {
		return fmt.Sprintf("uses only %d distinct characters over %d bytes (fewer than one random %s of that length in a billion has so few), it does not look random", d, n, name)
	}
	for p := 1; p <= n/2; p++ {
		if s[p:] == s[:n-p] {
			return fmt.Sprintf("repeats a %d-byte pattern, it does not look random", p)
		}
	}
	// A character continues the step when it differs from the one before
	// as that one did from its predecessor (abcd, 0000), or as the one
	// two back did (00112233, acbdce).
	step := func(i int) int { return int(s[i]) - int(s[i-1]) }
	stepped := 0
	for i := 2; i < n; i++ {
		if step(i) == step(i-1) || i >= 3 && step(i) == step(i-2) {
			stepped++
		}
	}
	if n > 2 && 3*stepped >= 2*(n-2) {
		return fmt.Sprintf("is mostly evenly stepped runs (like abcd, 0123 or 0000): %d of its %d characters continue the step before them, it does not look random", stepped, n-2)
	}
	return ""
}

// checkTokenKey refuses a link-signing key anyone could guess: whoever
// knows it forges click, open and unsubscribe links and Message-IDs. The
// key's bytes are the key material as given (tokens.NewSigner derives
// its keys from them with HKDF; hex is not decoded), so it needs 32 bytes
// that look random. The value itself is never in the error.
func checkTokenKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("NURTURE_TOKEN_KEY is not set: it signs tracking and unsubscribe links; %s", genHint)
	case placeholderIn(key) != "":
		return fmt.Errorf("NURTURE_TOKEN_KEY contains %q, an example value: anyone who has read the example can forge unsubscribe and click links; %s", placeholderIn(key), genHint)
	case len(key) < 32:
		return fmt.Errorf("NURTURE_TOKEN_KEY is %d bytes, at least 32 are required; %s", len(key), genHint)
	case weakness(key) != "":
		return fmt.Errorf("NURTURE_TOKEN_KEY %s: a guessable key lets anyone forge unsubscribe and click links; %s", weakness(key), genHint)
	}
	return nil
}

// checkAPITokens refuses example and guessable API credentials.
func checkAPITokens(tokens []server.Token) error {
	if len(tokens) == 0 {
		return fmt.Errorf("NURTURE_API_TOKENS must name at least one token, e.g. ops:admin:<secret> (%s)", genHint)
	}
	for _, t := range tokens {
		switch {
		case placeholderIn(t.Secret) != "":
			return fmt.Errorf("NURTURE_API_TOKENS: token %q contains %q, an example value: anyone who has read the example could call the API; %s", t.Name, placeholderIn(t.Secret), genHint)
		case len(t.Secret) < 16:
			return fmt.Errorf("NURTURE_API_TOKENS: token %q is %d characters, at least 16 are required; %s", t.Name, len(t.Secret), genHint)
		case weakness(t.Secret) != "":
			return fmt.Errorf("NURTURE_API_TOKENS: token %q %s; %s", t.Name, weakness(t.Secret), genHint)
		}
	}
	return nil
}

// embeddedMode reports whether serve runs on its own in-memory Redis:
// nothing outlives the process, so secrets it is not given it makes up.
func (c engineConfig) embeddedMode() bool { return !c.Redis.configured() }

// resolveTokenKey validates NURTURE_TOKEN_KEY, or in embedded mode makes
// one when it is unset.
func resolveTokenKey(cfg *engineConfig, embedded bool, log *slog.Logger) error {
	if cfg.TokenKey == "" && embedded {
		cfg.TokenKey = tokens.RandomHex(32)
		log.Warn("NURTURE_TOKEN_KEY is not set: using a random key for this embedded run; links it signs stop working when the process stops")
		return nil
	}
	return checkTokenKey(cfg.TokenKey)
}

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

// distinctBytes counts the different byte values in s: a random key of 32
// bytes or more has dozens (hex has 16), a typed word or a repeated
// character only a few.
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

// checkTokenKey refuses a link-signing key anyone could guess: whoever
// knows it forges click, open and unsubscribe links and Message-IDs.
func checkTokenKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("NURTURE_TOKEN_KEY is not set: it signs tracking and unsubscribe links; %s", genHint)
	case placeholderIn(key) != "":
		return fmt.Errorf("NURTURE_TOKEN_KEY contains %q, an example value: anyone who has read the example can forge unsubscribe and click links; %s", placeholderIn(key), genHint)
	case len(key) < 32:
		return fmt.Errorf("NURTURE_TOKEN_KEY is %d bytes, at least 32 are required; %s", len(key), genHint)
	case distinctBytes(key) < 12:
		return fmt.Errorf("NURTURE_TOKEN_KEY uses only %d distinct characters, it does not look random; %s", distinctBytes(key), genHint)
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
		case distinctBytes(t.Secret) < 8:
			return fmt.Errorf("NURTURE_API_TOKENS: token %q uses only %d distinct characters, it does not look random; %s", t.Name, distinctBytes(t.Secret), genHint)
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

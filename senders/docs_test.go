package senders_test

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/senders"
)

// sendingDocBlock returns the ```yaml block of docs/sending.md's "Sender
// mailboxes" section, preceded by as many empty lines as come before it in
// the file, so that problems are reported at docs/sending.md's lines.
func sendingDocBlock(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../docs/sending.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	section, start := -1, -1
	for i, l := range lines {
		switch {
		case section < 0 && l == "## Sender mailboxes":
			section = i
		case section >= 0 && start < 0 && strings.HasPrefix(l, "## "):
			t.Fatalf("docs/sending.md: the Sender mailboxes section (line %d) has no ```yaml block", section+1)
		case section >= 0 && start < 0 && strings.TrimSpace(l) == "```yaml":
			start = i + 1
		case start >= 0 && strings.TrimSpace(l) == "```":
			return []byte(strings.Repeat("\n", start) + strings.Join(lines[start:i], "\n") + "\n")
		}
	}
	if section < 0 {
		t.Fatal(`docs/sending.md has no "## Sender mailboxes" section`)
	}
	t.Fatal("docs/sending.md: the Sender mailboxes ```yaml block is not closed")
	return nil
}

// describe lists a mailboxes config's settings, one a line, sorted.
func describe(c *senders.Config) []string {
	var out []string
	for id, r := range c.Relays {
		s := r.SMTP
		out = append(out, fmt.Sprintf("relay %s: host=%s port=%d tls=%s username=%s password=%q connections=%d helo=%s limits=%+v", id, s.Host, s.Port, s.TLS, s.Username, s.Password, s.Connections, s.HELO, r.Limits))
	}
	for _, m := range c.Mailboxes {
		w := "none"
		if m.Warmup != nil {
			w = fmt.Sprintf("%+v", *m.Warmup)
		}
		out = append(out, fmt.Sprintf("mailbox %s: from=%s owners=%v pools=%v relay=%s zone=%s limits=%+v warmup=%s", m.ID, m.From(), m.Owners, m.Pools, m.Relay, m.Zone, m.Limits, w))
	}
	out = append(out, fmt.Sprintf("recipient default: %+v", c.DefaultRecipient))
	for d, l := range c.RecipientDomains {
		out = append(out, fmt.Sprintf("recipient %s: %+v", d, l))
	}
	for d, l := range c.SendingDomains {
		out = append(out, fmt.Sprintf("sending %s: %+v", d, l))
	}
	out = append(out, fmt.Sprintf("brakes: %+v", c.Brakes))
	sort.Strings(out)
	return out
}

// TestSendingDocMailboxesExample keeps the mailboxes example of
// docs/sending.md honest: it loads as NURTURE_MAILBOXES does (every
// problem listed at its docs/sending.md line otherwise), and it is
// docs/mailboxes.yaml, which it introduces, setting for setting.
func TestSendingDocMailboxesExample(t *testing.T) {
	vars := env(map[string]string{"WORKSPACE_SMTP_PASSWORD": "s3cret"})
	src := sendingDocBlock(t)
	doc, err := senders.Parse("docs/sending.md", src, vars)
	if err != nil {
		var ve *cadence.ValidationError
		if errors.As(err, &ve) {
			t.Fatalf("the docs/sending.md mailboxes example does not load:\n%s", ve.Render(src))
		}
		t.Fatalf("the docs/sending.md mailboxes example does not load: %v", err)
	}
	file, err := senders.LoadFile("../docs/mailboxes.yaml", vars)
	if err != nil {
		t.Fatal(err)
	}
	got, want := describe(doc), describe(file)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the docs/sending.md example is not docs/mailboxes.yaml:\nsending.md:\n  %s\nmailboxes.yaml:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

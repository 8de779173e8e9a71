package server_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/server"
)

// A long reply keeps its first server.ExcerptChars characters, cut
// between characters, never inside one (the text is mostly two-byte
// letters), and says it was cut; a short one is kept whole. What the
// warm-lead list shows is that excerpt.
func TestReplyExcerptCutsBetweenCharacters(t *testing.T) {
	h := newHarness(t)
	h.enroll("ada", "ada@example.com", "+13125550100")
	h.enroll("bob", "bob@example.com", "+13125550102")
	long := strings.Repeat("Oui, ça m'intéresse énormément, appelez-moi   demain. ", 12)
	if code, body := h.twilio("/webhooks/twilio/sms", sms("SMX1", "+13125550100", long), true); code != 200 {
		t.Fatalf("long reply: %d %s", code, body)
	}
	if code, body := h.twilio("/webhooks/twilio/sms", sms("SMX2", "+13125550102", "Yes, call me   tomorrow"), true); code != 200 {
		t.Fatalf("short reply: %d %s", code, body)
	}
	collapsed := []rune(strings.Join(strings.Fields(long), " "))
	want := map[string]string{"ada": string(collapsed[:server.ExcerptChars]) + "…", "bob": "Yes, call me tomorrow"}
	leads, err := h.e.WarmLeads(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(leads) != 2 {
		t.Fatalf("%d warm leads, want 2", len(leads))
	}
	for _, l := range leads {
		pid := l.Enrollment.ProspectID
		if l.Enrollment.State != cadence.Warm || l.Reply != want[pid] || !utf8.ValidString(l.Reply) {
			t.Errorf("%s: %s, reply (%d characters, valid UTF-8 %v)\n%q\nwant\n%q", pid, l.Enrollment.State, utf8.RuneCountInString(l.Reply), utf8.ValidString(l.Reply), l.Reply, want[pid])
		}
	}
}

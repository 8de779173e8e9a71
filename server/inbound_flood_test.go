package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// TestForgedReportFloodKeepsAuditLines floods the webhook with 720
// distinct forged reports naming one prospect (bounces and delay warnings
// that return none of our messages): the prospect's
// enrolled, sent and "paused by sales" lines stay on its timeline, the
// timeline stays bounded, and the review list keeps at most a day's
// allowance for that address, so another address's report is still
// listed.
func TestForgedReportFloodKeepsAuditLines(t *testing.T) {
	h := newHarness(t)
	ada := h.enroll("ada", "ada@example.com", "")
	h.send()
	if code, out := h.json("POST", "/v1/enrollments/"+ada+"/pause", salesToken, `{"reason":"call booked"}`); code != 200 {
		t.Fatalf("pause: %d %v", code, out)
	}
	hard := fixture(t, "postfix-hard-unknown-user.eml", "nosuchuser@mta.test", "ada@example.com")
	delayed := fixture(t, "postfix-delayed.eml", "casey@slow.test", "ada@example.com")
	// More than a timeline holds (store.TimelineMaxLines, 650): 600 would
	// not reach the trim at all.
	const flood = store.TimelineMaxLines + 70
	for i := 0; i < flood; i++ {
		var raw string
		switch i % 3 {
		case 0, 1:
			raw = strings.NewReplacer("c29tZXRoaW5n.AbCdEf@n.example", fmt.Sprintf("forged%d.AbCdEf@n.example", i),
				"unknown user: \"nosuchuser\"", fmt.Sprintf("unknown user: \"ada%d\"", i)).Replace(hard)
			raw = dsnMessageIDHeader.ReplaceAllString(raw, fmt.Sprintf("Message-Id: <forged-dsn-%d@mta.test>\n", i))
		default:
			raw = strings.ReplaceAll(delayed, "ZGVsYXllZA.EfGhIj@n.example", fmt.Sprintf("forged%d.EfGhIj@n.example", i))
			raw = dsnMessageIDHeader.ReplaceAllString(raw, fmt.Sprintf("Message-Id: <forged-delay-%d@mta.test>\n", i))
		}
		res := h.postEmail(raw)
		if res.Duplicate || res.Verified || !res.Matched {
			t.Fatalf("forged report %d: %+v", i, res)
		}
	}
	if p, e := h.prospect("ada"), h.enrollment(ada); p.EmailBlocked != "" || e.State != cadence.Paused {
		t.Fatalf("forged reports changed ada: blocked %q, %s", p.EmailBlocked, e.State)
	}
	tl := h.timelineText(ada)
	for _, want := range []string{"enrolled at stage awareness", "sent welcome (email)", "paused: active -> paused by sales:sam: call booked"} {
		if !strings.Contains(tl, want) {
			t.Fatalf("%q was pushed off ada's timeline by forged reports:\n%s", want, tl)
		}
	}
	if !strings.Contains(tl, "unverified bounce report (names none of our messages): not suppressed") {
		t.Fatalf("the newest forged reports are not noted:\n%s", tl)
	}
	if n, err := h.st.Redis().LLen(context.Background(), h.st.Keys().Timeline(ada)).Result(); err != nil || n > store.TimelineMaxLines {
		t.Fatalf("timeline holds %d lines (%v), more than %d", n, err, store.TimelineMaxLines)
	}
	for _, kind := range []string{"bounce_report_unverified", "spam_complaint_report_unverified", "delivery_delayed", "delivery_report", "reply_ignored"} {
		if store.IsAudit(kind) {
			t.Errorf("%s lines are audit lines: a forged flood evicts the real ones", kind)
		}
	}
	// A report for someone else, after the flood, is still listed.
	h.postEmail(fixture(t, "postfix-remote-nosuch.eml"))
	code, out := h.json("GET", "/v1/inbound/unverified?limit=1000", adminToken, "")
	reports, _ := out["reports"].([]any)
	if code != 200 || len(reports) == 0 {
		t.Fatalf("review list: %d %v", code, out)
	}
	forAda := 0
	for _, r := range reports {
		if r.(map[string]any)["recipient"] == "ada@example.com" {
			forAda++
		}
	}
	if forAda == 0 || forAda > 20 {
		t.Fatalf("%d reports for ada listed, want 1..20 of the %d forged bounces", forAda, flood*2/3)
	}
	if newest := reports[0].(map[string]any); newest["recipient"] != "nosuch@remote.test" {
		t.Fatalf("newest listed report %v, want the stranger's", newest)
	}
}

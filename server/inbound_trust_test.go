package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/inbound"
	"github.com/nurture-dev/nurture/server"
)

const inboundToken = "inbound-secret-0123456789"

// replyCadence sends one email at once and one SMS two days later, inside
// an 08:00-20:00 weekday window in America/Chicago (the default zone; the
// prospects of these tests live in Europe/Paris).
const replyCadence = `id: replies
name: Replies
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {days: mon-fri, start: "08:00", end: "20:00"}
stages:
  - id: first
    touches:
      - {id: hello, channel: email, template: mail}
      - {id: text, channel: sms, delay: 2d, template: sms}
      - {id: again, channel: email, delay: 30d, template: mail}
templates:
  mail:
    subject: "Hi"
    text: "Hello"
    html: "<html><body><p>Hello</p><a href=\"{{ .UnsubscribeURL }}\">Unsubscribe</a></body></html>"
  sms: {sms: "Hi, reply STOP to opt out"}
`

// enrollIn enrolls a prospect (zone Europe/Paris) in a cadence.
func (h *harness) enrollIn(cadenceID, id, email, phone string) string {
	h.t.Helper()
	code, out := h.json("POST", "/v1/enrollments", adminToken, fmt.Sprintf(`{"cadence":%q,"prospect":{"id":%q,"email":%q,"phone":%q,"timezone":"Europe/Paris","owner":"sam"}}`, cadenceID, id, email, phone))
	if code != http.StatusCreated {
		h.t.Fatalf("enroll: %d %v", code, out)
	}
	return out["id"].(string)
}

// msgIDTo is the Message-ID (without <>) of the last email sent to addr.
func (h *harness) msgIDTo(addr string) string {
	h.t.Helper()
	id := ""
	for _, m := range h.outbox.Messages() {
		if m.Channel == "email" && m.To == addr {
			parsed, err := mail.ReadMessage(strings.NewReader(m.Body))
			if err != nil {
				h.t.Fatal(err)
			}
			id = strings.Trim(parsed.Header.Get("Message-ID"), "<>")
		}
	}
	if id == "" {
		h.t.Fatalf("no email to %s", addr)
	}
	return id
}

// postEmailTo posts a raw message (LF line endings are sent as CRLF
// unless crlf is false) to the inbound webhook at base.
func postEmailTo(t *testing.T, base, token, raw string) (int, server.EmailResult, string) {
	t.Helper()
	if !strings.Contains(raw, "\r\n") {
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
	}
	req, _ := http.NewRequest("POST", base+"/webhooks/email", strings.NewReader(raw))
	req.Header.Set("Content-Type", "message/rfc822")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var res server.EmailResult
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(buf.Bytes(), &res); err != nil {
			t.Fatalf("not an EmailResult: %s", buf.String())
		}
	}
	return resp.StatusCode, res, buf.String()
}

func (h *harness) postEmail(raw string) server.EmailResult {
	h.t.Helper()
	code, res, text := postEmailTo(h.t.(*testing.T), h.url, adminToken, raw)
	if code != 200 {
		h.t.Fatalf("POST /webhooks/email: %d %s", code, text)
	}
	return res
}

// fixture is a report from inbound/testdata/dsn with replacements (old,
// new pairs) applied: our addresses and Message-IDs in real Postfix DSNs.
func fixture(t *testing.T, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "inbound", "testdata", "dsn", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("%s does not contain %q", name, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

func (h *harness) timelineText(eid string) string {
	h.t.Helper()
	tl, err := h.e.Timeline(context.Background(), eid)
	if err != nil {
		h.t.Fatal(err)
	}
	var lines []string
	for _, en := range tl {
		lines = append(lines, en.Text())
	}
	return strings.Join(lines, "\n")
}

func (h *harness) stats(cadenceID string) map[string]int64 {
	h.t.Helper()
	s, err := h.e.Stats(context.Background(), cadenceID)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

var dsnMessageIDHeader = regexp.MustCompile(`(?m)^Message-Id: <[^>]+>\n`)

// TestBounceReportsAreAttributedAndVerified feeds real Postfix DSNs (see
// inbound/testdata/dsn/README.md) naming our signed Message-IDs, and
// forged ones naming none: only the first suppress (COMPLIANCE.md 23).
func TestBounceReportsAreAttributedAndVerified(t *testing.T) {
	h := newHarness(t)
	ada := h.enroll("ada", "renee.dupont@mta.test", "")
	bob := h.enroll("bob", "bob@example.com", "")
	team := h.enroll("team", "team@mta.test", "")
	casey := h.enroll("casey", "casey@slow.test", "")
	h.send()

	// Postfix answers SMTPUTF8 mail (ours) with message/global-delivery-status
	// and message/global: the returned Message-ID names ada's welcome.
	res := h.postEmail(fixture(t, "postfix-smtputf8-ascii-rcpt.eml", "YXNjaWktcmNwdA.MnOpQr@n.example", h.msgIDTo("renee.dupont@mta.test")))
	if res.Kind != inbound.KindBounce || !res.Verified || res.MatchedBy != server.MatchedByMessageID || res.Touch != "welcome" || res.Action != "hard_bounce" {
		t.Fatalf("global DSN: %+v", res)
	}
	if p := h.prospect("ada"); p.EmailBlocked != "hard bounce" {
		t.Fatalf("verified 5.1.1 did not suppress: %+v", p)
	}
	if n := h.stats("trial")["t:welcome:bounced"]; n != 1 {
		t.Fatalf("t:welcome:bounced = %d, want 1", n)
	}
	if tl := h.timelineText(ada); !strings.Contains(tl, "hard_bounce welcome (email)") {
		t.Fatalf("timeline does not name the touch:\n%s", tl)
	}

	// A forged report: the same DSN for bob, returning a Message-ID that
	// is not ours (anyone can mail the bounce address).
	forged := fixture(t, "postfix-hard-unknown-user.eml", "nosuchuser@mta.test", "bob@example.com")
	res = h.postEmail(forged)
	if res.Verified || !res.Matched || res.MatchedBy != server.MatchedByFinalRecipient || res.Action != "unverified" {
		t.Fatalf("forged DSN: %+v", res)
	}
	if p, e := h.prospect("bob"), h.enrollment(bob); p.EmailBlocked != "" || e.State != cadence.Active {
		t.Fatalf("a forged DSN suppressed bob: blocked %q, %s", p.EmailBlocked, e.State)
	}
	if tl := h.timelineText(bob); !strings.Contains(tl, "unverified bounce report (names none of our messages): not suppressed") {
		t.Fatalf("bob's timeline does not say why nothing happened:\n%s", tl)
	}
	// A forged complaint likewise.
	arf := "From: fbl@isp.example\nSubject: FW: Hi\nMessage-ID: <c9@isp.example>\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"ARF\"\n\n" +
		"--ARF\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: <bob@example.com>\n\n" +
		"--ARF\nContent-Type: message/rfc822\n\nTo: bob@example.com\nMessage-ID: <not.ours@n.example>\nSubject: Hi\n\nHello\n--ARF--\n"
	if res := h.postEmail(arf); res.Verified || res.Action != "unverified" {
		t.Fatalf("forged ARF: %+v", res)
	}
	if p, e := h.prospect("bob"), h.enrollment(bob); p.EmailBlocked != "" || e.State != cadence.Active {
		t.Fatalf("a forged complaint suppressed bob: blocked %q, %s", p.EmailBlocked, e.State)
	}
	if tl := h.timelineText(bob); !strings.Contains(tl, "unverified spam complaint report (names none of our messages): not suppressed") {
		t.Fatalf("complaint not noted:\n%s", tl)
	}
	// A forged report for nobody we know is kept for review too.
	res = h.postEmail(fixture(t, "postfix-remote-nosuch.eml"))
	if res.Matched || res.Verified {
		t.Fatalf("report for a stranger: %+v", res)
	}
	code, out := h.json("GET", "/v1/inbound/unverified", adminToken, "")
	reports, _ := out["reports"].([]any)
	if code != 200 || len(reports) != 3 {
		t.Fatalf("unverified reports: %d %v", code, out)
	}
	newest := reports[0].(map[string]any)
	if newest["recipient"] != "nosuch@remote.test" || newest["prospect"] != nil || reports[2].(map[string]any)["prospect"] != "bob" {
		t.Fatalf("review list: %v", reports)
	}
	if code, _ := h.json("GET", "/v1/inbound/unverified", salesToken, ""); code != 403 {
		t.Fatalf("sales read the review list: %d", code)
	}

	// A forwarding alias: we sent to team@, the alias expanded to
	// departed@, which bounced. The report returns team's Message-ID.
	res = h.postEmail(fixture(t, "postfix-alias-forward-unknown.eml", "YWxpYXMtZndk.StUvWx@n.example", h.msgIDTo("team@mta.test")))
	if !res.Verified || res.Touch != "welcome" || len(res.Enrollments) != 1 || res.Enrollments[0] != team {
		t.Fatalf("alias DSN: %+v", res)
	}
	if p := h.prospect("team"); p.EmailBlocked != "hard bounce" {
		t.Fatalf("alias bounce: %+v", p)
	}
	if tl := h.timelineText(team); !strings.Contains(tl, "(reported for departed@mta.test)") {
		t.Fatalf("alias timeline:\n%s", tl)
	}

	// A delay warning is noted on the touch, never counted as a bounce;
	// the failure that follows (4.4.1 after retries) is a soft bounce.
	caseyID := h.msgIDTo("casey@slow.test")
	res = h.postEmail(fixture(t, "postfix-delayed.eml", "ZGVsYXllZA.EfGhIj@n.example", caseyID))
	if res.Action != "delivery_delayed" || !res.Verified || res.Touch != "welcome" {
		t.Fatalf("delay: %+v", res)
	}
	if n := h.stats("trial")["t:welcome:bounced"]; n != 2 {
		t.Fatalf("after a delay warning t:welcome:bounced = %d, want 2 (ada, team)", n)
	}
	if tl := h.timelineText(casey); !strings.Contains(tl, "delivery_delayed welcome (email) by dsn: delivery delayed: 4.4.1") {
		t.Fatalf("delay not noted with its touch:\n%s", tl)
	}
	res = h.postEmail(fixture(t, "postfix-expired-after-retries.eml", "ZGVsYXllZA.EfGhIj@n.example", caseyID))
	if res.Action != "soft_bounce" || h.prospect("casey").EmailBlocked != "" || h.stats("trial")["t:welcome:bounced"] != 3 {
		t.Fatalf("expiry: %+v blocked %q", res, h.prospect("casey").EmailBlocked)
	}
}

// TestUnverifiedReportsWhenTrusted runs the operator's opt-in
// (Config.TrustUnverifiedReports): reports naming none of our messages
// are applied by address — Final-Recipient, else Original-Recipient —
// and two DSNs without a Message-ID of their own, from one daemon, for
// two recipients, are two reports.
func TestUnverifiedReportsWhenTrusted(t *testing.T) {
	h := newHarness(t)
	h.enroll("p1", "gone.prospect1@mta.test", "")
	h.enroll("p2", "gone.prospect2@mta.test", "")
	h.enroll("team", "team@mta.test", "")
	srv, err := server.New(server.Config{Engine: h.e, TrustUnverifiedReports: true, Tokens: []server.Token{{Name: "relay", Role: server.RoleInbound, Secret: inboundToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	post := func(raw string) server.EmailResult {
		t.Helper()
		code, res, text := postEmailTo(t, ts.URL, inboundToken, raw)
		if code != 200 {
			t.Fatalf("%d %s", code, text)
		}
		return res
	}
	d1 := dsnMessageIDHeader.ReplaceAllString(fixture(t, "postfix-dedupe-1.eml"), "")
	d2 := dsnMessageIDHeader.ReplaceAllString(fixture(t, "postfix-dedupe-2.eml"), "")
	if strings.Contains(d1, "Message-Id: <2026") {
		t.Fatal("the DSN's own Message-Id is still there")
	}
	r1, r2 := post(d1), post(d2)
	if r1.Duplicate || r2.Duplicate || r1.Action != "hard_bounce" || r2.Action != "hard_bounce" {
		t.Fatalf("two DSNs without Message-ID: %+v / %+v", r1, r2)
	}
	if h.prospect("p1").EmailBlocked != "hard bounce" || h.prospect("p2").EmailBlocked != "hard bounce" {
		t.Fatalf("both should be suppressed: %q %q", h.prospect("p1").EmailBlocked, h.prospect("p2").EmailBlocked)
	}
	if again := post(d1); !again.Duplicate {
		t.Fatalf("the same DSN twice: %+v", again)
	}
	if tl := h.timelineText("p1~trial"); !strings.Contains(tl, "unverified bounce report, trusted by configuration") {
		t.Fatalf("trusted report not labelled:\n%s", tl)
	}
	// Forwarding alias, no Message-ID of ours: Original-Recipient finds team.
	res := post(fixture(t, "postfix-alias-forward-unknown.eml"))
	if res.MatchedBy != server.MatchedByOriginalRecipient || res.Verified || h.prospect("team").EmailBlocked != "hard bounce" {
		t.Fatalf("alias by Original-Recipient: %+v blocked %q", res, h.prospect("team").EmailBlocked)
	}
}

// TestReplyClassesOverHTTP posts one reply of each class to the webhook
// and checks what each does to the enrollment (server/inbound_email.go
// applyReply).
func TestReplyClassesOverHTTP(t *testing.T) {
	h := newHarnessWith(t, nil, replyCadence)
	names := []string{"optout", "ooo", "auto", "disguised", "later", "notnow", "wrong", "yes"}
	eids := map[string]string{}
	for _, n := range names {
		eids[n] = h.enrollIn("replies", n, n+"@example.com", "")
	}
	h.send()
	reply := func(who, subject, body string, headers ...string) server.EmailResult {
		t.Helper()
		raw := "From: " + who + "@example.com\nTo: hello@acme.example\nSubject: " + subject + "\nMessage-ID: <" + who + "-reply@mail.example>\nIn-Reply-To: <" + h.msgIDTo(who+"@example.com") + ">\n"
		for _, x := range headers {
			raw += x + "\n"
		}
		return h.postEmail(raw + "\n" + body + "\n")
	}
	// Opt-out: unsubscribed at once, never a warm lead.
	res := reply("optout", "Re: Hi", "Please remove me from your list.\n\nOn Mon, Acme wrote:\n> Hello")
	if res.Class != inbound.ClassOptOut || res.Action != "unsubscribed" || res.Touch != "hello" {
		t.Fatalf("opt-out: %+v", res)
	}
	if p, e := h.prospect("optout"), h.enrollment(eids["optout"]); p.EmailBlocked != "unsubscribed" || e.State != cadence.Exited {
		t.Fatalf("opt-out reply: blocked %q state %s", p.EmailBlocked, e.State)
	}
	if tl := h.timelineText(eids["optout"]); !strings.Contains(tl, `unsubscribed by email reply: opt-out request: "remove me"`) || strings.Contains(tl, "replied") {
		t.Fatalf("opt-out timeline:\n%s", tl)
	}
	// Out of office: snoozed to 08:00 (the window's start) on Monday 14
	// December in the prospect's zone, Paris — not 08:00 in Chicago, not
	// 09:00 UTC.
	res = reply("ooo", "Out of office", "I am out of the office, back on Monday 14 December.", "Auto-Submitted: auto-replied")
	want := time.Date(2026, 12, 14, 8, 0, 0, 0, mustZone(t, "Europe/Paris"))
	if e := h.enrollment(eids["ooo"]); res.Class != inbound.ClassOutOfOffice || res.ReturnOn.String() != "2026-12-14" || e.State != cadence.Snoozed || !e.Until.Equal(want) {
		t.Fatalf("ooo: %+v, %s until %v, want %v", res, e.State, e.Until, want)
	}
	// Other automatic replies and disguised bounces: the default snooze
	// (7 days), nothing suppressed.
	h.postEmail("From: auto@example.com\nSubject: Re: Hi\nMessage-ID: <a1@mail.example>\nIn-Reply-To: <" + h.msgIDTo("auto@example.com") + ">\n\nThank you for your email. This is an automated response: we will get back to you within 2 business days.\n")
	h.postEmail(fixture(t, "handwritten-yahoo-failure-notice-plaintext.eml", "c29tZXRoaW5n.YaHoO1@n.example", h.msgIDTo("disguised@example.com")))
	for _, n := range []string{"auto", "disguised"} {
		e := h.enrollment(eids[n])
		if e.State != cadence.Snoozed || !e.Until.Equal(h.clk.Now().Add(7*24*time.Hour)) || h.prospect(n).EmailBlocked != "" {
			t.Fatalf("%s: %s until %v blocked %q", n, e.State, e.Until, h.prospect(n).EmailBlocked)
		}
	}
	if tl := h.timelineText(eids["disguised"]); !strings.Contains(tl, "bounce in disguise, not suppressed") {
		t.Fatalf("disguised bounce timeline:\n%s", tl)
	}
	// Not now, with a month: snoozed to the window's start on 1 September
	// (Paris, summer time); without a date, a reply.
	res = reply("later", "Re: Hi", "Not right now, try me again in September.")
	want = time.Date(2026, 9, 1, 8, 0, 0, 0, mustZone(t, "Europe/Paris"))
	if e := h.enrollment(eids["later"]); res.Class != inbound.ClassNotNow || e.State != cadence.Snoozed || !e.Until.Equal(want) {
		t.Fatalf("not now: %+v, %s until %v, want %v", res, e.State, e.Until, want)
	}
	res = reply("notnow", "Re: Hi", "Not right now, thanks.")
	if e := h.enrollment(eids["notnow"]); res.Class != inbound.ClassNotNow || e.State != cadence.Warm {
		t.Fatalf("not now without a date: %+v, %s", res, e.State)
	}
	// Wrong person: paused, with the referral, not warm.
	res = reply("wrong", "Re: Hi", "I'm not the right person for this, please contact bob@example.com instead.")
	if e := h.enrollment(eids["wrong"]); res.Class != inbound.ClassWrongPerson || e.State != cadence.Paused || !strings.Contains(e.Reason, "→ bob@example.com") || e.By != "email reply" {
		t.Fatalf("wrong person: %+v, %s %q by %q", res, e.State, e.Reason, e.By)
	}
	// Positive: warm, counted against the touch.
	if res := reply("yes", "Re: Hi", "Sounds good, call me Tuesday."); res.Class != inbound.ClassPositive || h.enrollment(eids["yes"]).State != cadence.Warm {
		t.Fatalf("positive: %+v", res)
	}
	st := h.stats("replies")
	if st["t:hello:replied"] != 2 || st["unsubscribed"] != 1 {
		t.Fatalf("stats: replied %d (want 2: not-now without date, yes), unsubscribed %d: %v", st["t:hello:replied"], st["unsubscribed"], st)
	}
	leads, err := h.e.WarmLeads(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leads {
		if id := l.Enrollment.ID; id != eids["yes"] && id != eids["notnow"] {
			t.Errorf("%s is a warm lead", id)
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestRepliesMatchedBySenderOnly: a reply naming none of our messages is
// matched by its From address to every enrollment of the sender, and the
// timeline says so; an opt-out from a known address with no enrollment
// still blocks email.
func TestRepliesMatchedBySenderOnly(t *testing.T) {
	h := newHarnessWith(t, nil, replyCadence, engagementCadence("other", "click"))
	a := h.enrollIn("replies", "ann", "ann@example.com", "")
	b := h.enrollIn("other", "ann", "ann@example.com", "")
	res := h.postEmail("From: Ann <ann@example.com>\nSubject: question\nMessage-ID: <q1@mail.example>\n\nCan you send pricing?\n")
	if res.Verified || res.MatchedBy != server.MatchedBySender || len(res.Enrollments) != 2 || res.Touch != "" {
		t.Fatalf("%+v", res)
	}
	for _, eid := range []string{a, b} {
		if tl := h.timelineText(eid); h.enrollment(eid).State != cadence.Warm || !strings.Contains(tl, "Can you send pricing? (matched by sender address only)") {
			t.Fatalf("%s: %s\n%s", eid, h.enrollment(eid).State, tl)
		}
	}
	if code, out := h.json("PUT", "/v1/prospects/zed", adminToken, `{"email":"zed@example.com"}`); code != 200 && code != 201 {
		t.Fatalf("put prospect: %d %v", code, out)
	}
	res = h.postEmail("From: zed@example.com\nSubject: stop\nMessage-ID: <z1@mail.example>\n\nPlease unsubscribe me from these emails.\n")
	if res.Class != inbound.ClassOptOut || h.prospect("zed").EmailBlocked != "unsubscribed" {
		t.Fatalf("opt-out with no enrollment: %+v blocked %q", res, h.prospect("zed").EmailBlocked)
	}
	log, _ := h.st.ConsentLog(context.Background(), "zed")
	if len(log) != 1 || log[0].Source != "email reply" {
		t.Fatalf("consent log %+v", log)
	}
}

// TestInboundDedupeNeverLosesNorRepeats: a delivery racing one in
// progress is refused (503, retry) rather than acknowledged; a message
// marked by the previous version's key (the bare Message-ID) is still a
// duplicate; a redelivery after a partial failure resumes where it
// stopped.
func TestInboundDedupeNeverLosesNorRepeats(t *testing.T) {
	h := newHarnessWith(t, nil, replyCadence, engagementCadence("other", "click"))
	a := h.enrollIn("replies", "ann", "ann@example.com", "")
	b := h.enrollIn("other", "ann", "ann@example.com", "")
	ctx := context.Background()
	rdb, prefix := h.st.Redis(), h.st.Keys().Prefix
	raw := "From: ann@example.com\nSubject: hi\nMessage-ID: <d1@mail.example>\n\nLet's talk.\n"
	msg, err := inbound.ParseEmail([]byte(raw), h.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := prefix + ":{idx}:seen:mail:" + msg.Key()
	// Another request holds the claim: not acknowledged, nothing applied.
	rdb.Set(ctx, seen, "claim:someone-else", time.Minute)
	code, _, text := postEmailTo(t, h.url, adminToken, raw)
	if code != 503 || !strings.Contains(text, "in_progress") || h.enrollment(a).State != cadence.Active {
		t.Fatalf("racing delivery: %d %s", code, text)
	}
	// That request failed and released its claim, having applied the reply
	// to the first enrollment: the redelivery does the rest only.
	rdb.Del(ctx, seen)
	first, second := a, b
	if second < first {
		first, second = second, first
	}
	if _, err := h.e.Apply(ctx, first, cadence.Event{Kind: cadence.EvReplied, Channel: cadence.Email, By: "email", Reason: "Let's talk."}); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, seen+":steps", "apply:"+first, 1)
	if res := h.postEmail(raw); res.Duplicate || len(res.Enrollments) != 2 {
		t.Fatalf("redelivery: %+v", res)
	}
	for _, eid := range []string{first, second} {
		if n := strings.Count(h.timelineText(eid), "\nreplied by email"); n != 1 || h.enrollment(eid).State != cadence.Warm {
			t.Fatalf("%s: %d replies, %s\n%s", eid, n, h.enrollment(eid).State, h.timelineText(eid))
		}
	}
	if res := h.postEmail(raw); !res.Duplicate {
		t.Fatalf("third delivery: %+v", res)
	}
	// Marked by the previous version (SET seen:mail:<Message-ID> 1): a
	// duplicate, not reprocessed after the upgrade.
	old := "From: bo@example.com\nSubject: hi\nMessage-ID: <legacy@mail.example>\n\nremove me\n"
	rdb.Set(ctx, prefix+":{idx}:seen:mail:legacy@mail.example", 1, time.Hour)
	if res := h.postEmail(old); !res.Duplicate {
		t.Fatalf("legacy-marked message: %+v", res)
	}
}

// TestSMSOptOutWordingAndReplies: opt-out wording beyond the keyword
// list, and "wrong number", are STOPs with one confirmation; automatic
// answers are recorded, not replies; a reply counts against the last SMS
// touch.
func TestSMSOptOutWordingAndReplies(t *testing.T) {
	h := newHarness(t)
	bodies := []string{"stop please", "Arrêt", "STOP ALL", "OPT-OUT", "REMOVE", "wrong number", "please don't text me again"}
	for i, body := range bodies {
		id := fmt.Sprintf("p%d", i)
		phone := fmt.Sprintf("+1312555%04d", 200+i)
		h.enroll(id, id+"@example.com", phone)
		code, twiml := h.twilio("/webhooks/twilio/sms", sms(fmt.Sprintf("SMO%d", i), phone, body), true)
		if code != 200 || strings.Count(twiml, "<Message>") != 1 || !strings.Contains(twiml, "you are unsubscribed") {
			t.Fatalf("%q: %d %s", body, code, twiml)
		}
		if p := h.prospect(id); !strings.HasPrefix(p.SMSBlocked, "opted out") {
			t.Fatalf("%q did not opt out: %+v", body, p)
		}
		if h.enrollment(id+"~trial").State == cadence.Warm {
			t.Fatalf("%q turned the lead warm", body)
		}
		// A second one gets no second confirmation.
		if _, twiml := h.twilio("/webhooks/twilio/sms", sms(fmt.Sprintf("SMO%db", i), phone, body), true); strings.Contains(twiml, "<Message>") {
			t.Fatalf("%q twice: a second confirmation %s", body, twiml)
		}
	}
	if p := h.prospect("p5"); !strings.Contains(p.SMSBlocked, "wrong number") {
		t.Fatalf("reason for wrong number: %q", p.SMSBlocked)
	}
	// A reply after the nudge SMS went out: counted against it.
	h.enroll("rae", "rae@example.com", "+13125550300")
	h.enroll("dan", "dan@example.com", "+13125550301")
	h.send()
	h.clk.Add(2*24*time.Hour + time.Minute)
	h.send()
	if code, twiml := h.twilio("/webhooks/twilio/sms", sms("SMR1", "+13125550300", "Yes, call me tomorrow"), true); code != 200 || strings.Contains(twiml, "<Message>") {
		t.Fatalf("reply: %d %s", code, twiml)
	}
	if e := h.enrollment("rae~trial"); e.State != cadence.Warm {
		t.Fatalf("reply: %s", e.State)
	}
	if n := h.stats("trial")["t:nudge:replied"]; n != 1 {
		t.Fatalf("t:nudge:replied = %d, want 1", n)
	}
	// An automatic answer: not a reply; the cadence's reply.auto_reply
	// applies (by default a snooze, as for email).
	h.twilio("/webhooks/twilio/sms", sms("SMR2", "+13125550301", "I'm driving with notifications silenced. I'll see your message when I get where I'm going."), true)
	if e := h.enrollment("dan~trial"); e.State != cadence.Snoozed || !strings.Contains(h.timelineText("dan~trial"), "automatic SMS reply, not counted as a reply") {
		t.Fatalf("auto SMS: %s\n%s", e.State, h.timelineText("dan~trial"))
	}
}

// TestOneClickMultipart: RFC 8058 allows the one-click POST as
// multipart/form-data.
func TestOneClickMultipart(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "")
	h.send()
	msg, err := mail.ReadMessage(strings.NewReader(h.lastEmail()))
	if err != nil {
		t.Fatal(err)
	}
	m := unsubRe.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if m == nil {
		t.Fatal("no List-Unsubscribe")
	}
	path := strings.TrimPrefix(m[1], h.url)
	form := func(value string) (*bytes.Buffer, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("List-Unsubscribe", value)
		mw.Close()
		return &body, mw.FormDataContentType()
	}
	body, ctype := form("Something-Else")
	if resp, _ := h.do("POST", path, "", ctype, body); resp.StatusCode != 400 || h.prospect("ada").EmailBlocked != "" {
		t.Fatalf("wrong value: %d", resp.StatusCode)
	}
	body, ctype = form("One-Click")
	resp, text := h.do("POST", path, "", ctype, body)
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(text, "You are unsubscribed") {
		t.Fatalf("multipart one-click: %d %s", resp.StatusCode, text)
	}
	if p, e := h.prospect("ada"), h.enrollment(eid); p.EmailBlocked != "unsubscribed" || e.State != cadence.Exited {
		t.Fatalf("not unsubscribed: %q %s", p.EmailBlocked, e.State)
	}
}

// TestInboundRole: an inbound token may post inbound email and nothing
// else; sales may not post inbound email.
func TestInboundRole(t *testing.T) {
	h := newHarness(t)
	h.enroll("ada", "ada@example.com", "")
	srv, err := server.New(server.Config{Engine: h.e, Tokens: []server.Token{
		{Name: "relay", Role: server.RoleInbound, Secret: inboundToken}, {Name: "ops", Role: server.RoleAdmin, Secret: adminToken}, {Name: "sam", Role: server.RoleSales, Secret: salesToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	raw := "From: ada@example.com\nSubject: hi\nMessage-ID: <role@mail.example>\n\nLet's talk.\n"
	if code, res, text := postEmailTo(t, ts.URL, inboundToken, raw); code != 200 || !res.Matched {
		t.Fatalf("inbound token on /webhooks/email: %d %s", code, text)
	}
	if code, _, _ := postEmailTo(t, ts.URL, salesToken, raw); code != 403 {
		t.Fatalf("sales token on /webhooks/email: %d", code)
	}
	if code, _, _ := postEmailTo(t, ts.URL, adminToken, raw); code != 200 {
		t.Fatalf("admin token on /webhooks/email: %d", code)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/cadences"}, {"GET", "/v1/warm"}, {"POST", "/v1/enrollments"}, {"GET", "/v1/prospects/ada"}, {"GET", "/v1/inbound/unverified"}, {"POST", "/v1/enrollments/ada~trial/pause"},
	} {
		req, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+inboundToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("inbound token on %s %s: %d, want 403", r.method, r.path, resp.StatusCode)
		}
	}
	if _, err := server.New(server.Config{Engine: h.e, Tokens: []server.Token{{Name: "x", Role: "relay", Secret: inboundToken}}}); err == nil {
		t.Fatal("an unknown role was accepted")
	}
}

package worker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tracking"
	"github.com/nurture-dev/nurture/worker"
)

// linksCadence has a tracked link, a link from prospect data and the
// unsubscribe link written in the template, and two variants.
const linksCadence = `id: links
name: Links
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", reply_to: "sales@acme.example", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - id: offer
        channel: email
        variants:
          - {id: a, template: offer-a, weight: 1}
          - {id: b, template: offer-b, weight: 1}
      - {id: ping, channel: sms, delay: 1d, template: ping}
templates:
  offer-a:
    subject: "Pricing for {{ .Company | default \"you\" }}"
    text: "See https://acme.example/pricing or leave: {{ .UnsubscribeURL }}"
    html: "<html><body><p>Hi {{ .FirstName | default \"there\" }}</p><a href=\"https://acme.example/pricing?x=1&y=2\">Pricing</a> <a href=\"{{ .Attr.site }}\">yours</a></body></html>"
  offer-b:
    subject: "B: pricing for {{ .Company | default \"you\" }}"
    text: "B text"
  ping: {sms: "Zoë says hi {{ .FirstName | default \"there\" }}, reply STOP to opt out"}
`

// withLinks loads linksCadence next to the rig's cadence.
func withLinks(t *testing.T, r *rig) *cadence.Cadence {
	t.Helper()
	c, err := cadence.Parse("links.yaml", []byte(linksCadence))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{r.c.ID: r.c, c.ID: c})
	return c
}

var unsubRE = regexp.MustCompile(`/u/[A-Za-z0-9_.-]+`)

// snapshot is every key of the rig's prefix with its serialized value.
func snapshot(t *testing.T, r *rig) map[string]string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	out := map[string]string{}
	// On a Redis Cluster every master holds some of the keys.
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, r.st.Keys().Prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			v, err := node.Dump(ctx, k).Result()
			if err != nil {
				return fmt.Errorf("DUMP %s: %w", k, err)
			}
			mu.Lock()
			out[k] = v
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := r.st.Redis().(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, r.st.Redis())
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range after {
		if b, ok := before[k]; !ok {
			t.Errorf("%s created key %s", what, k)
		} else if b != v {
			t.Errorf("%s changed key %s", what, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s deleted key %s", what, k)
		}
	}
}

// parts decodes a message the sink received: its text and HTML parts.
func parts(t *testing.T, data []byte) (h mail.Header, text, html string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	read := func(ctype, cte string, body io.Reader) {
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(cte, "base64") {
			if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
				t.Fatal(err)
			}
		}
		mt, _, _ := mime.ParseMediaType(ctype)
		s := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch mt {
		case "text/plain":
			text = s
		case "text/html":
			html = s
		}
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		read(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return m.Header, text, html
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		read(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
	}
	return m.Header, text, html
}

// The preview is the message the send path sends: same subject, text and
// HTML (tracking links, pixel and footer included), same headers; and
// previewing writes nothing to Redis.
func TestPreviewIsWhatIsSent(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	c := withLinks(t, r)
	p := ada()
	p.Attr = map[string]string{"site": "https://analytical.example/"}
	en, err := r.e.Enroll(ctx, p, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, r)
	pv, err := r.e.Preview(ctx, c.ID, "offer", "ada", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Preview(ctx, c.ID, "ping", "Ada@Example.com", ""); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "Preview", before, snapshot(t, r))
	if len(r.smtp.Messages()) != 0 || len(r.twilio.Sent()) != 0 {
		t.Fatal("a preview sent something")
	}
	if pv.Verdict != cadence.Send || pv.Reason != "" || !pv.Rendered || !pv.Enrolled || !pv.Current || pv.Note != "" || pv.State != cadence.Active {
		t.Fatalf("preview of the next touch: %+v", pv)
	}
	chosen := c.Touch("offer").ChooseVariant(en.ID)
	if pv.Variant != chosen.ID || pv.Template != chosen.Template || strings.Join(pv.Variants, ",") != "a,b" {
		t.Fatalf("variant %s (%s), want the send path's %s; variants %v", pv.Variant, pv.Template, chosen.ID, pv.Variants)
	}

	// The real send of the same touch at the same instant.
	if r.dispatch(t) != 1 {
		t.Fatal("nothing claimed")
	}
	msgs := r.smtp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sent %d", len(msgs))
	}
	h, text, html := parts(t, msgs[0].Data)
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if subject != pv.Subject || text != pv.Text || html != pv.HTML || msgs[0].To != pv.To {
		t.Fatalf("preview differs from the send:\nsubject %q\n   want %q\ntext %q\nwant %q\nhtml %q\nwant %q\nto %s want %s", pv.Subject, subject, pv.Text, text, pv.HTML, html, pv.To, msgs[0].To)
	}
	for k, v := range pv.Headers {
		if got := h.Get(k); got != v {
			t.Errorf("header %s: preview %q, sent %q", k, v, got)
		}
	}
	for _, k := range []string{"Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "X-Nurture-Touch", "Reply-To"} {
		if pv.Headers[k] == "" {
			t.Errorf("preview lacks header %s: %v", k, pv.Headers)
		}
	}
	if pv.MessageID != h.Get("Message-Id") || pv.Headers["X-Nurture-Touch"] != "links/offer/"+pv.Variant {
		t.Errorf("Message-ID %s (sent %s), X-Nurture-Touch %q", pv.MessageID, h.Get("Message-Id"), pv.Headers["X-Nurture-Touch"])
	}
	if pv.Variant == "a" && (!strings.Contains(pv.HTML, "https://n.example/c/") || !strings.Contains(pv.HTML, "https://n.example/o/") ||
		!strings.Contains(pv.HTML, `href="https://analytical.example/"`)) {
		t.Errorf("the preview's HTML should carry the tracking as sent: %s", pv.HTML)
	}
	if !strings.Contains(pv.Text+pv.HTML, "https://n.example/u/") {
		t.Errorf("no unsubscribe link: %s %s", pv.Text, pv.HTML)
	}

	// The other variant on request; the SMS with its segments.
	other := "a"
	if pv.Variant == "a" {
		other = "b"
	}
	pb, err := r.e.Preview(ctx, c.ID, "offer", "ada", other)
	if err != nil || pb.Variant != other || pb.Template != "offer-"+other {
		t.Fatalf("variant %s on request: %+v %v", other, pb, err)
	}
	early, err := r.e.Preview(ctx, c.ID, "ping", "ada", "")
	if err != nil || !early.Current || !early.DueAt.Equal(r.state(t, en.ID).DueAt) || !early.DueAt.After(r.clk.Now()) || early.Verdict != cadence.Send {
		t.Fatalf("the next touch before it is due: %+v %v", early, err)
	}
	r.clk.Add(24 * time.Hour)
	ps, err := r.e.Preview(ctx, c.ID, "ping", "ada", "")
	if err != nil {
		t.Fatal(err)
	}
	if ps.Encoding != "UCS-2" || ps.Segments != 1 || ps.Chars != len([]rune(ps.SMS)) || ps.To != "+13125550100" || ps.From != "+15005550006" || !ps.Current {
		t.Fatalf("sms preview: %+v", ps)
	}
	r.dispatch(t)
	sms := r.twilio.Sent()
	if len(sms) != 1 || sms[0].Get("Body") != ps.SMS {
		t.Fatalf("sms sent %v, preview %q", sms, ps.SMS)
	}
}

// The preview says why the send path would not send, with the gate's (or
// render's) reason.
func TestPreviewReasons(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r.enroll(t, ada())
	r.enroll(t, &store.Prospect{ID: "phoneonly", Phone: "+13125550111", TimeZone: "America/Chicago"})
	r.enroll(t, &store.Prospect{ID: "gone", Email: "gone@example.com", Phone: "+13125550112", TimeZone: "America/Chicago", Company: "Gone"})
	r.enroll(t, &store.Prospect{ID: "nocompany", Email: "nc@example.com", TimeZone: "America/Chicago"})
	must(r.e.ProspectEvent(ctx, "gone", cadence.Event{Kind: cadence.EvUnsubscribed, Channel: cadence.Email, By: "one-click"}))
	must(r.e.ProspectEvent(ctx, "gone", cadence.Event{Kind: cadence.EvSMSOptOut, Channel: cadence.SMS, By: "twilio", Reason: "STOP"}))
	huge := &store.Prospect{ID: "huge", Email: "huge@example.com", TimeZone: "America/Chicago"}
	r.enroll(t, huge)
	storeFirstName(t, r, huge, strings.Repeat("x", 600<<10))
	must(r.st.UpsertProspect(ctx, &store.Prospect{ID: "stranger", Email: "stranger@example.com", TimeZone: "America/Chicago", Company: "S"}))
	_, err := r.e.Pause(ctx, "ada~e2e", "sales:sam", "call booked", time.Time{})
	must(err)

	for _, tc := range []struct {
		touch, prospect string
		verdict         cadence.Verdict
		reason, note    string
		rendered        bool
	}{
		{"welcome", "phoneonly", cadence.Skip, "no email address", "", true},
		{"welcome", "gone", cadence.Skip, "email suppressed: unsubscribed", "ended", true},
		{"nudge", "gone", cadence.Skip, "sms opted out: opted out: STOP", "ended", true},
		{"case-study", "nocompany", cadence.Hold, "template plain subject: field Company is empty", "next touch is welcome", false},
		{"welcome", "huge", cadence.Hold, "over the 512 KiB limit", "", false},
		{"case-study", "stranger", cadence.Send, "", "not enrolled", true},
		{"welcome", "ada", cadence.Send, "", "paused by sales:sam (call booked)", true},
	} {
		pv, err := r.e.Preview(ctx, "e2e", tc.touch, tc.prospect, "")
		if err != nil {
			t.Fatalf("%s for %s: %v", tc.touch, tc.prospect, err)
		}
		if pv.Verdict != tc.verdict || !strings.Contains(pv.Reason, tc.reason) || (tc.reason == "" && pv.Reason != "") ||
			!strings.Contains(pv.Note, tc.note) || (tc.note == "" && pv.Note != "") || pv.Rendered != tc.rendered {
			t.Errorf("%s for %s: verdict %s reason %q note %q rendered %v; want %s %q %q %v", tc.touch, tc.prospect, pv.Verdict, pv.Reason, pv.Note, pv.Rendered,
				tc.verdict, tc.reason, tc.note, tc.rendered)
		}
		if tc.rendered && pv.Subject == "" && pv.SMS == "" {
			t.Errorf("%s for %s: rendered but empty", tc.touch, tc.prospect)
		}
	}

	// Outside the window (03:00 in Chicago): deferred, and still readable.
	r.clk.Add(17 * time.Hour)
	pv, err := r.e.Preview(ctx, "e2e", "welcome", "stranger", "")
	must(err)
	if pv.Verdict != cadence.Defer || !strings.Contains(pv.Reason, "outside send window") || !pv.Until.After(r.clk.Now()) || pv.Subject != "Welcome there" {
		t.Errorf("at night: %+v", pv)
	}

	// Unknown names are *UnknownError, found as store.ErrNotFound, and say
	// what is known.
	for _, tc := range []struct{ cad, touch, prospect, variant, what, msg string }{
		{"e2f", "welcome", "ada", "", "cadence", "did you mean e2e?"},
		{"e2e", "welcom", "ada", "", "touch", "did you mean welcome?"},
		{"e2e", "welcome", "nobody@example.com", "", "prospect", `"nobody@example.com"`},
		{"e2e", "welcome", "ada", "zz", "variant", `touch welcome has no variant "zz" (variants: default)`},
	} {
		_, err := r.e.Preview(ctx, tc.cad, tc.touch, tc.prospect, tc.variant)
		var ue *worker.UnknownError
		if !errors.As(err, &ue) || ue.What != tc.what || !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: want an unknown %s saying %q", err, tc.what, tc.msg)
		}
	}
	var re *worker.RequestError
	if _, err := r.e.Preview(ctx, "e2e", "welcome", " ", ""); !errors.As(err, &re) || re.Field != "prospect" {
		t.Errorf("no prospect: %v", err)
	}
}

// A test goes to the typed address through the real sender, marked and
// untracked, and changes nothing for the prospect.
func TestSendTest(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	c := withLinks(t, r)
	p := ada()
	p.Attr = map[string]string{"site": "https://analytical.example/"}
	en, err := r.e.Enroll(ctx, p, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, r)
	res, err := r.e.SendTest(ctx, c.ID, "offer", "ada", "a", "Me <ME@acme.example>", "sales:sam")
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, r)
	for k := range after {
		if _, ok := before[k]; !ok && !strings.Contains(k, "{lim:test:sales:sam}") {
			t.Errorf("a test send created %s", k)
		}
	}
	delete(after, r.st.Keys().Prefix+":{lim:test:sales:sam}")
	sameSnapshot(t, "SendTest", before, after)
	if res.Remaining != worker.TestSendLimit-1 {
		t.Errorf("remaining %d", res.Remaining)
	}
	msgs := r.smtp.Messages()
	if len(msgs) != 1 || msgs[0].To != "me@acme.example" {
		t.Fatalf("sink: %+v", msgs)
	}
	h, text, html := parts(t, msgs[0].Data)
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if subject != "[Test] Pricing for Analytical" || h.Get("X-Nurture-Test") != "1" || h.Get("X-Nurture-Touch") != "links/offer/a" {
		t.Fatalf("headers: %v", h)
	}
	if h.Get("List-Unsubscribe") != "<https://n.example/u/test-message>" || h.Get("In-Reply-To") != "" {
		t.Errorf("unsubscribe header %q, In-Reply-To %q", h.Get("List-Unsubscribe"), h.Get("In-Reply-To"))
	}
	if eid, _, err := r.e.MessageOwner(ctx, h.Get("Message-Id")); err == nil {
		t.Errorf("the test's Message-ID %s names enrollment %s", h.Get("Message-Id"), eid)
	}
	if strings.Contains(html, "/o/") || strings.Contains(html, "/c/") {
		t.Errorf("tracking left in the test: %s", html)
	}
	for _, u := range unsubRE.FindAllString(text+html, -1) {
		if u != "/u/test-message" {
			t.Errorf("a live unsubscribe link in the test: %s", u)
		}
	}
	if !strings.Contains(html, `href="https://acme.example/pricing?x=1&amp;y=2"`) || !strings.Contains(html, `href="https://analytical.example/"`) ||
		!strings.Contains(text, "leave: https://n.example/u/test-message") {
		t.Errorf("links should go straight to their destinations:\n%s\n%s", html, text)
	}
	if res.Message.To != "me@acme.example" || res.Message.Subject != subject || res.Message.HTML != html {
		t.Errorf("result: %+v", res.Message)
	}
	// The real send still goes out, tracked, as if no test had been made.
	r.dispatch(t)
	msgs = r.smtp.Messages()
	if len(msgs) != 2 || msgs[1].To != "ada@example.com" || !strings.Contains(string(msgs[1].Data), "https://n.example/o/") {
		t.Fatalf("real send after a test: %d messages", len(msgs))
	}
	if st, _ := r.e.Stats(ctx, c.ID); st["t:offer:sent"] != 1 {
		t.Errorf("stats count the test: %v", st)
	}
	if l := r.state(t, en.ID); l.Step != 1 {
		t.Errorf("enrollment after the real send: %+v", l)
	}

	// SMS: to a typed number, prefixed, without a status callback.
	res, err = r.e.SendTest(ctx, c.ID, "ping", "ada", "", "(312) 555-0199", "sales:sam")
	if err != nil {
		t.Fatal(err)
	}
	sms := r.twilio.Sent()
	if len(sms) != 1 || sms[0].Get("To") != "+13125550199" || !strings.HasPrefix(sms[0].Get("Body"), "[Test] Zoë says hi Ada") ||
		sms[0].Get("StatusCallback") != "" || res.Message.SMS != sms[0].Get("Body") || res.Remaining != worker.TestSendLimit-2 {
		t.Fatalf("sms test: %v, result %+v", sms, res)
	}
}

// Test sends refuse bad and suppressed addresses and stop at the limit; a
// send the relay refuses does not count.
func TestSendTestRefusals(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.enroll(t, ada())
	r.enroll(t, &store.Prospect{ID: "nocompany", Email: "nc@example.com", TimeZone: "America/Chicago"})
	if err := r.st.UpsertProspect(ctx, &store.Prospect{ID: "gone", Email: "gone@example.com", Phone: "+13125550112"}); err != nil {
		t.Fatal(err)
	}
	if err := r.e.ProspectEvent(ctx, "gone", cadence.Event{Kind: cadence.EvUnsubscribed, Channel: cadence.Email, By: "one-click"}); err != nil {
		t.Fatal(err)
	}
	if err := r.e.ProspectEvent(ctx, "gone", cadence.Event{Kind: cadence.EvSMSOptOut, Channel: cadence.SMS, By: "twilio"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ touch, prospect, to, by, field, code, msg string }{
		{"welcome", "ada", "not an address", "sales:sam", "to", "invalid_to", "is not an email address"},
		{"nudge", "ada", "me@acme.example", "sales:sam", "to", "invalid_to", "is not a phone number"},
		{"welcome", "ada", "", "sales:sam", "to", "missing_to", "give the email address"},
		{"welcome", "ada", "GONE@example.com", "sales:sam", "to", "to_blocked", "gone@example.com is suppressed (unsubscribed)"},
		{"nudge", "ada", "+1 312 555 0112", "sales:sam", "to", "to_blocked", "has opted out of SMS"},
		{"case-study", "nocompany", "me@acme.example", "sales:sam", "prospect", "not_rendered", "field Company is empty"},
		{"welcome", "ada", "me@acme.example", "", "by", "missing_sender", "who sends it"},
	} {
		_, err := r.e.SendTest(ctx, "e2e", tc.touch, tc.prospect, "", tc.to, tc.by)
		var re *worker.RequestError
		if !errors.As(err, &re) || re.Field != tc.field || re.Code != tc.code || !strings.Contains(re.Msg, tc.msg) {
			t.Errorf("%s to %q: %v; want %s/%s %q", tc.touch, tc.to, err, tc.field, tc.code, tc.msg)
		}
	}
	if n := len(r.smtp.Messages()) + len(r.twilio.Sent()); n != 0 {
		t.Fatalf("refused tests sent %d messages", n)
	}

	// A refused delivery gives its slot back.
	r.smtp.Fail("bounce@acme.example", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	_, err := r.e.SendTest(ctx, "e2e", "welcome", "ada", "", "bounce@acme.example", "sales:sam")
	var ce *channels.Error
	if !errors.As(err, &ce) || ce.Class != channels.HardBounce {
		t.Fatalf("refused by the relay: %v", err)
	}
	if p, _ := r.st.Prospect(ctx, "ada"); p.EmailBlocked != "" {
		t.Fatalf("a bounced test suppressed the prospect: %q", p.EmailBlocked)
	}
	for i := 1; i <= worker.TestSendLimit; i++ {
		res, err := r.e.SendTest(ctx, "e2e", "welcome", "ada", "", "me@acme.example", "sales:sam")
		if err != nil || res.Remaining != worker.TestSendLimit-i {
			t.Fatalf("test %d: %v, remaining %d", i, err, res.Remaining)
		}
	}
	_, err = r.e.SendTest(ctx, "e2e", "welcome", "ada", "", "me@acme.example", "sales:sam")
	var le *worker.TestLimitError
	if !errors.As(err, &le) || le.RetryAfter <= 0 || le.RetryAfter > time.Hour || !strings.Contains(err.Error(), "10 per hour per person") {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := r.e.SendTest(ctx, "e2e", "welcome", "ada", "", "me@acme.example", "sales:kim"); err != nil {
		t.Fatalf("another person's limit: %v", err)
	}
	if n := len(r.smtp.Messages()); n != worker.TestSendLimit+1 {
		t.Fatalf("sink has %d messages", n)
	}
	// Nothing of it reached the prospect's enrollment.
	if tl := r.timeline(t, "ada~e2e"); strings.Contains(tl, "sent") {
		t.Errorf("timeline after tests:\n%s", tl)
	}
	if st, _ := r.e.Stats(ctx, "e2e"); st["t:welcome:sent"] != 0 {
		t.Errorf("stats: %v", st)
	}
	if h, _ := r.st.RecentSends(ctx, "ada", r.clk.Now().Add(-time.Hour)); len(h.Email) != 0 {
		t.Errorf("send history: %v", h)
	}
}

// Untrack takes the pixel and click tracking out and disarms unsubscribe
// links; a forged click token is left alone.
func TestUntrack(t *testing.T) {
	r := newRig(t)
	l := tracking.Linker{Base: "https://n.example", Signer: r.e.Tokens()}
	ref := tracking.Ref{EID: "ada~e2e", Touch: "welcome", SentAt: r.clk.Now()}
	in := `<html><body><a href="https://acme.example/a?x=1&amp;y=2">A</a><a href="https://n.example/u/TOKEN">Unsubscribe</a></body></html>`
	tracked := l.Rewrite(in, ref, "https://n.example/u/TOKEN", []string{"https://acme.example"})
	if !strings.Contains(tracked, "/o/") || !strings.Contains(tracked, "/c/") {
		t.Fatalf("rewrite: %s", tracked)
	}
	got := r.e.Untrack(tracked + `<a href="https://n.example/c/forged">F</a>`)
	want := `<html><body><a href="https://acme.example/a?x=1&amp;y=2">A</a><a href="https://n.example/u/test-message">Unsubscribe</a></body></html><a href="https://n.example/c/forged">F</a>`
	if got != want {
		t.Fatalf("untracked:\n%s\nwant\n%s", got, want)
	}
}

package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
	"github.com/nurture-dev/nurture/worker"
)

const testCadence = `id: trial
name: Trial
timezone: America/Chicago
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: awareness
    touches:
      - {id: welcome, channel: email, template: welcome}
      - {id: nudge, channel: sms, delay: 2d, template: nudge}
    advance:
      - {on: click, to: decision}
  - id: decision
    touches:
      - {id: offer, channel: email, delay: 1d, template: welcome}
templates:
  welcome:
    subject: "Hi {{ .FirstName | default \"there\" }}"
    text: "Hello"
    html: "<html><body><p>Hello</p><a href=\"https://acme.example/pricing?x=1&y=2\">Pricing</a></body></html>"
  nudge: {sms: "Hi, reply STOP to opt out"}
`

const (
	adminToken  = "admin-secret-0123456789"
	salesToken  = "sales-secret-0123456789"
	twilioToken = "twilio-auth-token"
)

type harness struct {
	t      testing.TB
	url    string
	e      *worker.Engine
	st     *store.Store
	clk    *enginetest.Clock
	outbox *channels.Outbox
	signer *tokens.Signer
	srv    http.Handler
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("trial.yaml", []byte(testCadence))
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", 100, clk.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	st := store.New(rdb, prefix)
	h := &harness{t: t, st: st, clk: clk, outbox: ob, signer: signer}
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	h.url = ts.URL
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer,
		Clock: clk.Now, PublicURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	srv, err := server.New(server.Config{Engine: e, PublicURL: ts.URL, TwilioAuthToken: twilioToken, Brand: "Acme", HelpContact: "help@acme.example",
		Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}, {Name: "sam", Role: server.RoleSales, Secret: salesToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	h.srv = srv
	return h
}

func (h *harness) do(method, path, token, ctype string, body io.Reader) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (h *harness) json(method, path, token, body string) (int, map[string]any) {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp, text := h.do(method, path, token, "application/json", r)
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		h.t.Fatalf("%s %s: not JSON (%d): %s", method, path, resp.StatusCode, text)
	}
	return resp.StatusCode, out
}

func (h *harness) enroll(id, email, phone string) string {
	h.t.Helper()
	code, out := h.json("POST", "/v1/enrollments", adminToken, fmt.Sprintf(`{"cadence":"trial","prospect":{"id":%q,"email":%q,"phone":%q,"first_name":"Ada","owner":"sam"}}`, id, email, phone))
	if code != http.StatusCreated {
		h.t.Fatalf("enroll: %d %v", code, out)
	}
	return out["id"].(string)
}

func (h *harness) send() {
	h.t.Helper()
	if _, err := h.e.DispatchOnce(context.Background(), enginetest.SyncQueue{E: h.e}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) prospect(id string) *store.Prospect {
	p, err := h.st.Prospect(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) enrollment(id string) cadence.Enrollment {
	l, err := h.st.Enrollment(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return l.Enrollment
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		method, path, token string
		code                int
		errcode             string
	}{
		{"GET", "/v1/cadences", "", 401, "unauthorized"},
		{"GET", "/v1/cadences", "wrong-token-0123456789", 401, "unauthorized"},
		{"GET", "/v1/cadences", salesToken, 200, ""},
		{"POST", "/v1/enrollments", salesToken, 403, "forbidden"},
		{"PUT", "/v1/prospects/x", salesToken, 403, "forbidden"},
		{"POST", "/v1/webhooks/email", "", 404, ""},
	} {
		resp, text := h.do(tc.method, tc.path, tc.token, "application/json", strings.NewReader("{}"))
		if resp.StatusCode != tc.code || (tc.errcode != "" && !strings.Contains(text, `"code": "`+tc.errcode+`"`)) {
			t.Errorf("%s %s with %q: %d %s", tc.method, tc.path, tc.token, resp.StatusCode, text)
		}
	}
}

func TestEnrollAndControl(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "+13125550100")
	code, out := h.json("POST", "/v1/enrollments", adminToken, `{"cadence":"trial","prospect":{"id":"ada","email":"ada@example.com"}}`)
	if code != 409 || errCode(out) != "already_enrolled" {
		t.Fatalf("duplicate enrollment: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments", adminToken, `{"cadence":"trial","prospect":{"id":"bob","email":"bob@"}}`)
	if code != 400 || out["error"].(map[string]any)["field"] != "prospect.email" {
		t.Fatalf("bad email: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments", adminToken, `{"cadence":"trial","prospect":{"id":"bob","email":"bob@example.com","age":3}}`)
	if code != 400 || errCode(out) != "bad_json" {
		t.Fatalf("unknown field: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments", adminToken, `{"cadence":"nope","prospect":{"id":"bob","email":"bob@example.com"}}`)
	if code != 404 || errCode(out) != "unknown_cadence" {
		t.Fatalf("unknown cadence: %d %v", code, out)
	}
	h.send()
	code, out = h.json("POST", "/v1/enrollments/"+eid+"/pause", salesToken, `{"reason":"call booked"}`)
	if code != 200 || out["state"] != "paused" || out["by"] != "sales:sam" {
		t.Fatalf("pause: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments/"+eid+"/resume", salesToken, `{}`)
	if code != 200 || out["state"] != "active" {
		t.Fatalf("resume: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments/"+eid+"/resume", salesToken, `{}`)
	if code != 409 || errCode(out) != "invalid_transition" {
		t.Fatalf("resume twice: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments/"+eid+"/snooze", salesToken, `{"until":"2026-03-20T15:00:00Z"}`)
	if code != 200 || out["state"] != "snoozed" {
		t.Fatalf("snooze: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/enrollments/"+eid+"/stop", salesToken, `{"reason":"customer"}`)
	if code != 200 || out["state"] != "exited" {
		t.Fatalf("stop: %d %v", code, out)
	}
	code, out = h.json("GET", "/v1/enrollments/"+eid, salesToken, "")
	var texts []string
	for _, en := range out["timeline"].([]any) {
		texts = append(texts, en.(map[string]any)["text"].(string))
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{"enrolled at stage awareness", "sent welcome (email)", "paused: active -> paused by sales:sam: call booked", "snoozed", "stopped: customer"} {
		if !strings.Contains(joined, want) {
			t.Errorf("timeline lacks %q:\n%s", want, joined)
		}
	}
	code, out = h.json("GET", "/v1/prospects?email=ADA@example.com", salesToken, "")
	if code != 200 || out["prospect"].(map[string]any)["id"] != "ada" || len(out["enrollments"].([]any)) != 1 {
		t.Fatalf("find by email: %d %v", code, out)
	}
	code, out = h.json("GET", "/v1/cadences/trial/stats", salesToken, "")
	if c := out["counters"].(map[string]any); code != 200 || c["t:welcome:sent"] != 1.0 || c["state:exited"] != 1.0 {
		t.Fatalf("stats: %d %v", code, out)
	}
}

func TestBulkEnrollReportsBadRows(t *testing.T) {
	h := newHarness(t)
	csv := "email,first_name,phone,plan\n" +
		"a1@example.com,Ann,+13125550101,team\n" +
		"not-an-email,Bad,,\n" +
		"a3@example.com,Cy,12,\n" +
		"a4@example.com,Di,(312) 555-0104,pro\n" +
		"a1@example.com,Ann again,,\n"
	resp, text := h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, "text/csv", strings.NewReader(csv))
	var out struct {
		Enrolled int `json:"enrolled"`
		Rejected []struct {
			Row   int    `json:"row"`
			Field string `json:"field"`
			Error string `json:"error"`
		} `json:"rejected"`
	}
	json.Unmarshal([]byte(text), &out)
	if resp.StatusCode != 200 || out.Enrolled != 2 || len(out.Rejected) != 3 {
		t.Fatalf("%d %s", resp.StatusCode, text)
	}
	if out.Rejected[0].Row != 3 || out.Rejected[0].Field != "email" || out.Rejected[1].Row != 4 || out.Rejected[1].Field != "phone" || out.Rejected[2].Row != 6 || !strings.Contains(out.Rejected[2].Error, "already enrolled") {
		t.Fatalf("rejected rows: %+v", out.Rejected)
	}
	if p := h.prospect("a4@example.com"); p.Attr["plan"] != "pro" || p.Phone != "+13125550104" {
		t.Fatalf("attributes/phone: %+v", p)
	}
	jsonl := `{"id":"j1","email":"j1@example.com"}` + "\n" + `{"id":"j2","email":` + "\n" + `{"id":"j3","email":"j3@example.com","phone":"+13125550103"}` + "\n"
	resp, text = h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, "application/x-ndjson", strings.NewReader(jsonl))
	if resp.StatusCode != 200 || !strings.Contains(text, `"enrolled": 2`) || !strings.Contains(text, `"row": 2`) {
		t.Fatalf("jsonl: %d %s", resp.StatusCode, text)
	}
	resp, _ = h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, "application/pdf", strings.NewReader("x"))
	if resp.StatusCode != 415 {
		t.Fatalf("pdf: %d", resp.StatusCode)
	}
}

// A body of several 1,000-row chunks (enrolled two at a time) reports
// each rejected row by its line in the whole body.
func TestBulkEnrollAcrossChunks(t *testing.T) {
	h := newHarness(t)
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := 0; i < 2500; i++ {
		switch i {
		case 4, 2300:
			b.WriteString("not-an-email,Bad\n")
		default:
			fmt.Fprintf(&b, "c%d@example.com,Ann\n", i)
		}
	}
	resp, text := h.do("POST", "/v1/enrollments/bulk?cadence=trial", adminToken, "text/csv", strings.NewReader(b.String()))
	var out struct {
		Enrolled int `json:"enrolled"`
		Rejected []struct {
			Row   int    `json:"row"`
			Field string `json:"field"`
		} `json:"rejected"`
	}
	json.Unmarshal([]byte(text), &out)
	if resp.StatusCode != 200 || out.Enrolled != 2498 || len(out.Rejected) != 2 {
		t.Fatalf("%d %.500s", resp.StatusCode, text)
	}
	// Data line i is body line i+2 (the header is line 1).
	if out.Rejected[0].Row != 6 || out.Rejected[1].Row != 2302 || out.Rejected[1].Field != "email" {
		t.Fatalf("rejected rows: %+v", out.Rejected)
	}
	if p := h.prospect("c2499@example.com"); p.FirstName != "Ann" {
		t.Fatalf("last row: %+v", p)
	}
}

func TestValidateEndpoint(t *testing.T) {
	h := newHarness(t)
	resp, text := h.do("POST", "/v1/cadences/validate?file=mine.yaml", adminToken, "application/yaml", strings.NewReader("id: x\nname: y\ntimezone: Nowhere/City\nfrom: {}\nstages: []\n"))
	if resp.StatusCode != 422 || !strings.Contains(text, `"line": 3`) || !strings.Contains(text, "mine.yaml:3:11: timezone: unknown time zone") {
		t.Fatalf("%d %s", resp.StatusCode, text)
	}
	resp, text = h.do("POST", "/v1/cadences/validate", adminToken, "application/yaml", strings.NewReader(testCadence))
	if resp.StatusCode != 200 || !strings.Contains(text, `"valid": true`) {
		t.Fatalf("%d %s", resp.StatusCode, text)
	}
}

// lastEmail returns the MIME source of the newest outbox email.
func (h *harness) lastEmail() string {
	msgs := h.outbox.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Channel == "email" {
			return msgs[i].Body
		}
	}
	h.t.Fatal("no email in the outbox")
	return ""
}

var unsubRe = regexp.MustCompile(`<([^>]+)>`)

func TestOneClickUnsubscribe(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "")
	h.send()
	msg, err := mail.ReadMessage(strings.NewReader(h.lastEmail()))
	if err != nil {
		t.Fatal(err)
	}
	m := unsubRe.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if m == nil {
		t.Fatalf("no List-Unsubscribe header: %v", msg.Header)
	}
	path := strings.TrimPrefix(m[1], h.url)
	// GET shows a page and changes nothing.
	resp, text := h.do("GET", path, "", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(text, `name="List-Unsubscribe" value="One-Click"`) || h.prospect("ada").EmailBlocked != "" {
		t.Fatalf("GET: %d %s", resp.StatusCode, text)
	}
	// A forged token changes nothing.
	resp, _ = h.do("POST", path+"x", "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if resp.StatusCode != 400 || h.prospect("ada").EmailBlocked != "" {
		t.Fatalf("forged: %d", resp.StatusCode)
	}
	// Exactly what Gmail sends (RFC 8058): POST, form body, no cookies.
	resp, text = h.do("POST", path, "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(text, "You are unsubscribed") {
		t.Fatalf("POST: %d %s", resp.StatusCode, text)
	}
	if p := h.prospect("ada"); p.EmailBlocked != "unsubscribed" {
		t.Fatalf("not unsubscribed: %+v", p)
	}
	if e := h.enrollment(eid); e.State != cadence.Exited {
		t.Fatalf("enrollment %s", e.State)
	}
	// A second POST is harmless.
	if resp, _ := h.do("POST", path, "", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); resp.StatusCode != 200 {
		t.Fatalf("second POST: %d", resp.StatusCode)
	}
}

var pixelRe = regexp.MustCompile(`/o/([A-Za-z0-9_.=\-]+)`)
var clickRe = regexp.MustCompile(`/c/([A-Za-z0-9_.=\-]+)`)

// decodeQP undoes quoted-printable soft breaks enough to read URLs.
func decodeQP(s string) string {
	return strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(s)
}

func TestOpensAndClicks(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "")
	h.send()
	body := decodeQP(h.lastEmail())
	open, click := pixelRe.FindStringSubmatch(body), clickRe.FindStringSubmatch(body)
	if open == nil || click == nil {
		t.Fatalf("no pixel or tracked link:\n%s", body)
	}
	// Within seconds of delivery: a machine open.
	h.clk.Add(2 * time.Second)
	req := func(method, path, ua string) *http.Response {
		r, _ := http.NewRequest(method, h.url+path, nil)
		r.Header.Set("User-Agent", ua)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	chrome := "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	if resp := req("GET", "/o/"+open[1], chrome); resp.Header.Get("Content-Type") != "image/gif" {
		t.Fatalf("pixel: %v", resp.Header)
	}
	h.clk.Add(time.Hour)
	req("GET", "/o/"+open[1], "Mozilla/5.0") // Apple MPP proxy: counted once per message
	req("GET", "/o/"+open[1]+"AA", chrome)   // forged: still a GIF, nothing recorded
	req("GET", "/o/"+open[1], chrome)        // the person, an hour later
	req("GET", "/o/"+open[1], chrome)        // and again: one human open
	if resp := req("HEAD", "/c/"+click[1], chrome); resp.StatusCode != 302 {
		t.Fatalf("HEAD click: %d", resp.StatusCode)
	}
	if e := h.enrollment(eid); e.Stage != "awareness" {
		t.Fatalf("a scanner HEAD advanced the prospect to %s", e.Stage)
	}
	resp := req("GET", "/c/"+click[1], chrome)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://acme.example/pricing?x=1&y=2" {
		t.Fatalf("click: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := req("GET", "/c/"+click[1]+"x", chrome); resp.StatusCode != 404 {
		t.Fatalf("forged click: %d", resp.StatusCode)
	}
	if e := h.enrollment(eid); e.Stage != "decision" {
		t.Fatalf("a human click should advance: %s", e.Stage)
	}
	stats, _ := h.e.Stats(context.Background(), "trial")
	if stats["t:welcome:machine_opened"] != 1 || stats["t:welcome:opened"] != 1 || stats["t:welcome:scanner_clicked"] != 1 || stats["t:welcome:clicked"] != 1 {
		t.Fatalf("stats: %v", stats)
	}
	if _, err := tracking.Decode(h.signer, tracking.KindOpen, click[1]); err == nil {
		t.Fatal("a click token was accepted as an open token")
	}
}

// twilioSign computes X-Twilio-Signature: base64(HMAC-SHA1(token, URL +
// sorted key+value pairs)).
func twilioSign(fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		s += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(twilioToken))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (h *harness) twilio(path string, form url.Values, sign bool) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign {
		req.Header.Set("X-Twilio-Signature", twilioSign(h.url+path, form))
	} else {
		req.Header.Set("X-Twilio-Signature", "forged")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func sms(sid, from, body string) url.Values {
	return url.Values{"MessageSid": {sid}, "From": {from}, "To": {"+15005550006"}, "Body": {body}, "AccountSid": {"AC1"}}
}

func TestTwilioInboundSMS(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "+13125550100")
	h.enroll("bob", "bob@example.com", "+13125550102")
	if code, _ := h.twilio("/webhooks/twilio/sms", sms("SM1", "+13125550100", "STOP"), false); code != 403 {
		t.Fatalf("forged signature: %d", code)
	}
	if h.prospect("ada").SMSBlocked != "" {
		t.Fatal("a forged STOP changed consent")
	}
	code, body := h.twilio("/webhooks/twilio/sms", sms("SM1", "+13125550100", "  stop "), true)
	if code != 200 || !strings.Contains(body, "<Message>Acme: you are unsubscribed") || strings.Count(body, "<Message>") != 1 {
		t.Fatalf("STOP: %d %s", code, body)
	}
	if p := h.prospect("ada"); !strings.HasPrefix(p.SMSBlocked, "opted out") {
		t.Fatalf("STOP not recorded: %+v", p)
	}
	// Twilio retries the same webhook: nothing changes twice.
	h.twilio("/webhooks/twilio/sms", sms("SM1", "+13125550100", "STOP"), true)
	if log, _ := h.st.ConsentLog(context.Background(), "ada"); len(log) != 1 {
		t.Fatalf("duplicate webhook changed consent again: %+v", log)
	}
	// The SMS touch is skipped at send time; the email cadence goes on.
	h.send()
	h.clk.Add(3 * 24 * time.Hour)
	h.send()
	if e := h.enrollment(eid); e.State != cadence.Active || e.Stage != "decision" {
		t.Fatalf("after STOP: %s %s", e.State, e.Stage)
	}
	for _, m := range h.outbox.Messages() {
		if m.Channel == "sms" && m.To == "+13125550100" {
			t.Fatal("an SMS went to an opted-out number")
		}
	}
	// A second STOP (a new message) gets no second confirmation.
	if code, body := h.twilio("/webhooks/twilio/sms", sms("SM1b", "+13125550100", "stop"), true); code != 200 || strings.Contains(body, "<Message>") {
		t.Fatalf("second STOP: %d %s", code, body)
	}
	code, body = h.twilio("/webhooks/twilio/sms", sms("SM2", "+13125550100", "HELP"), true)
	if code != 200 || !strings.Contains(body, "Msg&amp;data rates may apply") || !strings.Contains(body, "help@acme.example") {
		t.Fatalf("HELP: %s", body)
	}
	code, body = h.twilio("/webhooks/twilio/sms", sms("SM3", "+13125550100", "Start"), true)
	if code != 200 || h.prospect("ada").SMSBlocked != "" {
		t.Fatalf("START: %d %s", code, body)
	}
	log, _ := h.st.ConsentLog(context.Background(), "ada")
	if len(log) != 2 || log[1].Blocked != "" || !strings.Contains(log[1].Source, "+13125550100") {
		t.Fatalf("re-consent not logged with source: %+v", log)
	}
	// Any other text is a reply: Bob turns warm.
	code, _ = h.twilio("/webhooks/twilio/sms", sms("SM4", "+13125550102", "Yes please call me tomorrow"), true)
	if e := h.enrollment("bob~trial"); code != 200 || e.State != cadence.Warm {
		t.Fatalf("reply: %d %s", code, e.State)
	}
	// A STOP from an unknown number still gets its confirmation.
	if code, body := h.twilio("/webhooks/twilio/sms", sms("SM5", "+13125550199", "STOP"), true); code != 200 || !strings.Contains(body, "unsubscribed") {
		t.Fatalf("unknown number STOP: %d %s", code, body)
	}
}

func TestInboundEmail(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "")
	h.enroll("cy", "cy@example.com", "")
	h.enroll("dee", "dee@example.com", "")
	h.send()
	msgIDs := map[string]string{}
	for _, m := range h.outbox.Messages() {
		parsed, err := mail.ReadMessage(strings.NewReader(m.Body)) // the header may be folded
		if err != nil {
			t.Fatal(err)
		}
		msgIDs[m.To] = strings.Trim(parsed.Header.Get("Message-ID"), "<>")
	}
	adaMsgID := msgIDs["ada@example.com"]
	post := func(raw string) (int, string) {
		resp, text := h.do("POST", "/webhooks/email", adminToken, "message/rfc822", strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n")))
		return resp.StatusCode, text
	}
	reply := "From: Ada <ada@example.com>\nTo: hello@acme.example\nSubject: Re: Hi Ada\nMessage-ID: <r1@mail.example>\nIn-Reply-To: <" + adaMsgID + ">\n\nSounds good, can we talk Tuesday?\n\nOn Mon, Acme wrote:\n> Hello\n"
	if code, text := post(reply); code != 200 || !strings.Contains(text, `"matched": true`) {
		t.Fatalf("reply: %d %s", code, text)
	}
	if e := h.enrollment(eid); e.State != cadence.Warm {
		t.Fatalf("reply did not warm the lead: %s", e.State)
	}
	tl, _ := h.e.Timeline(context.Background(), eid)
	if last := tl[len(tl)-2].Text(); !strings.Contains(last, "Sounds good, can we talk Tuesday?") || strings.Contains(last, "> Hello") {
		t.Errorf("reply excerpt: %q", last)
	}
	// Delivered twice (a relay's retry, or the IMAP poller reading it
	// again a minute later): nothing changes — the enrollment, its
	// timeline, the cadence's counters and the warm list are as they were.
	type snapshot struct {
		enrollment cadence.Enrollment
		timeline   []string
		stats      map[string]int64
		warm       []string
	}
	snap := func() snapshot {
		t.Helper()
		ctx := context.Background()
		var sn snapshot
		sn.enrollment = h.enrollment(eid)
		tl, err := h.e.Timeline(ctx, eid)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range tl {
			sn.timeline = append(sn.timeline, en.Text())
		}
		if sn.stats, err = h.e.Stats(ctx, "trial"); err != nil {
			t.Fatal(err)
		}
		leads, err := h.e.WarmLeads(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leads {
			sn.warm = append(sn.warm, fmt.Sprintf("%s %s %q", l.Enrollment.ID, l.Enrollment.State, l.Reply))
		}
		return sn
	}
	before := snap()
	if len(before.warm) != 1 {
		t.Fatalf("after the first delivery: warm %v", before.warm)
	}
	// The reply names its touch (In-Reply-To is welcome's Message-ID),
	// so the touch's replied counter shows it.
	if n := before.stats["t:welcome:replied"]; n != 1 {
		t.Errorf("after a reply to welcome's Message-ID: t:welcome:replied = %d, want 1 (stats %v)", n, before.stats)
	}
	h.clk.Add(time.Minute)
	if code, text := post(reply); code != 200 {
		t.Fatalf("reply delivered twice: %d %s", code, text)
	}
	after := snap()
	if !reflect.DeepEqual(after.enrollment, before.enrollment) {
		t.Errorf("second delivery changed the enrollment:\n%+v\nwas\n%+v", after.enrollment, before.enrollment)
	}
	if !reflect.DeepEqual(after.timeline, before.timeline) {
		t.Errorf("second delivery changed the timeline:\n%s\nwas\n%s", strings.Join(after.timeline, "\n"), strings.Join(before.timeline, "\n"))
	}
	if !reflect.DeepEqual(after.stats, before.stats) {
		t.Errorf("second delivery changed the counters: %v, was %v", after.stats, before.stats)
	}
	if !reflect.DeepEqual(after.warm, before.warm) {
		t.Errorf("second delivery changed the warm list: %v, was %v", after.warm, before.warm)
	}
	ooo := "From: cy@example.com\nTo: hello@acme.example\nSubject: Out of Office: Hi Cy\nAuto-Submitted: auto-replied\nMessage-ID: <r2@mail.example>\n\nI am away until March 16, 2026 with limited access to email.\n"
	if code, _ := post(ooo); code != 200 {
		t.Fatalf("ooo: %d", code)
	}
	// Back on March 16: snoozed to the send window's start that day in the
	// prospect's zone (the cadence's, America/Chicago, window 00:00-24:00).
	if e := h.enrollment("cy~trial"); e.State != cadence.Snoozed || !e.Until.Equal(time.Date(2026, 3, 16, 5, 0, 0, 0, time.UTC)) {
		t.Fatalf("auto-reply: %s until %v", e.State, e.Until)
	}
	dsn := "From: MAILER-DAEMON@mx.example\nTo: hello@acme.example\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <b1@mx.example>\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"BOUND\"\n\n" +
		"--BOUND\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n" +
		"--BOUND\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; dee@example.com\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n\n" +
		"--BOUND\nContent-Type: text/rfc822-headers\n\nMessage-ID: <" + msgIDs["dee@example.com"] + ">\nSubject: Hi\n\n--BOUND--\n"
	if code, text := post(dsn); code != 200 || !strings.Contains(text, `"kind": "bounce"`) {
		t.Fatalf("dsn: %d %s", code, text)
	}
	if p := h.prospect("dee"); p.EmailBlocked != "hard bounce" {
		t.Fatalf("DSN 5.1.1 did not suppress: %+v", p)
	}
	arf := "From: fbl@isp.example\nTo: abuse@acme.example\nSubject: FW: Hi Cy\nMessage-ID: <c1@isp.example>\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"ARF\"\n\n" +
		"--ARF\nContent-Type: text/plain\n\nThis is a spam report.\n\n" +
		"--ARF\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: ISP-FBL/1.0\nVersion: 1\nOriginal-Rcpt-To: <cy@example.com>\n\n" +
		"--ARF\nContent-Type: message/rfc822\n\nFrom: hello@acme.example\nTo: cy@example.com\nMessage-ID: <" + msgIDs["cy@example.com"] + ">\nSubject: Hi Cy\n\nHello\n--ARF--\n"
	if code, text := post(arf); code != 200 || !strings.Contains(text, `"kind": "complaint"`) {
		t.Fatalf("arf: %d %s", code, text)
	}
	if p, e := h.prospect("cy"), h.enrollment("cy~trial"); p.EmailBlocked != "spam complaint" || e.State != cadence.Exited {
		t.Fatalf("complaint: blocked %q state %s", p.EmailBlocked, e.State)
	}
	if code, _ := post("this is not an email"); code != 400 {
		t.Fatalf("garbage: %d", code)
	}
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	srv, _ := server.New(server.Config{Engine: h.e})
	for _, route := range srv.Routes() {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in openapi.json", route)
		}
	}
	resp, text := h.do("GET", "/v1/openapi.json", "", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(text, `"openapi": "3.1.0"`) {
		t.Fatalf("%d", resp.StatusCode)
	}
}

func TestWarmLeadsAndBulk(t *testing.T) {
	h := newHarness(t)
	h.enroll("ada", "ada@example.com", "+13125550100")
	h.enroll("bob", "bob@example.com", "+13125550102")
	code, _ := h.json("PUT", "/v1/prospects/cy", adminToken, `{"email":"cy@example.com","owner":"kim"}`)
	if code != 200 {
		t.Fatalf("put prospect: %d", code)
	}
	code, out := h.json("POST", "/v1/enrollments", adminToken, `{"cadence":"trial","prospect":{"id":"cy","email":"cy@example.com","owner":"kim"}}`)
	if code != 201 {
		t.Fatalf("enroll cy: %d %v", code, out)
	}
	h.send()
	h.twilio("/webhooks/twilio/sms", sms("SMw", "+13125550102", "Interested, call me"), true)
	code, out = h.json("GET", "/v1/warm?owner=sam", salesToken, "")
	warm := out["warm"].([]any)
	if code != 200 || len(warm) != 1 || warm[0].(map[string]any)["enrollment"] != "bob~trial" || warm[0].(map[string]any)["reply"] != "Interested, call me" {
		t.Fatalf("warm: %d %v", code, out)
	}
	if _, out := h.json("GET", "/v1/warm?owner=kim", salesToken, ""); len(out["warm"].([]any)) != 0 {
		t.Fatalf("kim has no warm leads: %v", out)
	}
	// Sam goes on holiday: pause all his enrollments.
	code, out = h.json("POST", "/v1/bulk/pause?owner=sam", salesToken, `{"reason":"holiday","until":"2026-03-10T08:00:00Z"}`)
	if code != 200 || out["changed"] != 2.0 {
		t.Fatalf("bulk pause: %d %v", code, out)
	}
	if e := h.enrollment("ada~trial"); e.State != cadence.Paused || e.Reason != "holiday" {
		t.Fatalf("ada: %s %q", e.State, e.Reason)
	}
	if e := h.enrollment("cy~trial"); e.State != cadence.Active {
		t.Fatalf("kim's prospect was paused: %s", e.State)
	}
	code, out = h.json("POST", "/v1/bulk/resume?owner=sam", salesToken, "")
	if code != 200 || out["changed"] != 2.0 {
		t.Fatalf("bulk resume: %d %v", code, out)
	}
	// Reassigning a prospect moves its enrollments to the new owner.
	h.json("PUT", "/v1/prospects/ada", adminToken, `{"email":"ada@example.com","phone":"+13125550100","owner":"kim"}`)
	// A rep may not hold another rep's book or a whole cadence.
	if code, out = h.json("POST", "/v1/bulk/pause?owner=kim", salesToken, `{"reason":"kim away"}`); code != http.StatusForbidden {
		t.Fatalf("sam paused kim's book: %d %v", code, out)
	}
	if code, out = h.json("POST", "/v1/bulk/resume?cadence=trial", salesToken, ""); code != http.StatusForbidden {
		t.Fatalf("sam resumed a whole cadence: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/bulk/pause?owner=kim", adminToken, `{"reason":"kim away"}`)
	if code != 200 || out["changed"] != 2.0 {
		t.Fatalf("after reassignment: %d %v", code, out)
	}
	code, out = h.json("POST", "/v1/bulk/resume?cadence=trial", adminToken, "")
	if code != 200 || out["changed"] != 2.0 || out["skipped"] != 1.0 {
		t.Fatalf("bulk resume by cadence: %d %v", code, out)
	}
	if code, _ := h.json("POST", "/v1/bulk/pause", salesToken, ""); code != 400 {
		t.Fatalf("bulk without scope: %d", code)
	}
}

func TestReloadCadences(t *testing.T) {
	h := newHarness(t)
	var next map[string]*cadence.Cadence
	var nextErr error
	srv, err := server.New(server.Config{Engine: h.e, Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminToken}},
		Reload: func() (map[string]*cadence.Cadence, error) { return next, nextErr }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	h.url = ts.URL
	before := h.e.Cadences()["trial"].Version
	nextErr = fmt.Errorf("broken.yaml:1:5: id: bad")
	if code, out := h.json("POST", "/v1/cadences/reload", adminToken, ""); code != 422 || !strings.Contains(fmt.Sprint(out), "broken.yaml:1:5") {
		t.Fatalf("broken reload: %d %v", code, out)
	}
	if h.e.Cadences()["trial"].Version != before {
		t.Fatal("a failed reload changed the cadences")
	}
	changed, err := cadence.Parse("trial.yaml", []byte(strings.Replace(testCadence, "name: Trial", "name: Trial v2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	next, nextErr = map[string]*cadence.Cadence{"trial": changed}, nil
	code, out := h.json("POST", "/v1/cadences/reload", adminToken, "")
	if code != 200 || out["loaded"].(map[string]any)["trial"] != changed.Version || changed.Version == before {
		t.Fatalf("reload: %d %v", code, out)
	}
	if _, out := h.json("GET", "/v1/cadences/trial", adminToken, ""); out["name"] != "Trial v2" {
		t.Fatalf("not reloaded: %v", out)
	}
}

func TestUncertainTouchesAreListed(t *testing.T) {
	h := newHarness(t)
	eid := h.enroll("ada", "ada@example.com", "+13125550100")
	ctx := context.Background()
	// A worker died while the relay had the welcome email.
	l, _ := h.st.Enrollment(ctx, eid)
	field := store.LedgerField(&l.Enrollment)
	if res, err := h.st.StepLedger(ctx, []store.LedgerStep{{Begin: true, EID: eid, Field: field, Rev: l.Rev, Value: store.SendingValue(h.clk.Now().Add(time.Minute), "dead.1")}}); err != nil || res[0] != "OK" {
		t.Fatalf("%v %v", res, err)
	}
	h.clk.Add(3 * time.Minute)
	h.send()
	if n := len(h.outbox.Messages()); n != 0 {
		t.Fatalf("an interrupted send was repeated (%d)", n)
	}
	code, out := h.json("GET", "/v1/cadences/trial/uncertain", adminToken, "")
	list, _ := out["uncertain"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("%d %v", code, out)
	}
	u := list[0].(map[string]any)
	if u["enrollment"] != eid || u["prospect_id"] != "ada" || u["touch"] != "welcome" || u["channel"] != "email" || !strings.HasSuffix(u["message_id"].(string), "@"+"nurture.local") {
		t.Fatalf("listed %v", u)
	}
	if code, out := h.json("GET", "/v1/cadences/trial/uncertain?since="+url.QueryEscape(h.clk.Now().Add(time.Hour).Format(time.RFC3339)), adminToken, ""); code != 200 || len(out["uncertain"].([]any)) != 0 {
		t.Fatalf("since in the future: %d %v", code, out)
	}
	if code, out := h.json("GET", "/v1/cadences/trial/uncertain?since=yesterday", adminToken, ""); code != 400 || errCode(out) != "bad_query" {
		t.Fatalf("bad since: %d %v", code, out)
	}
	if code, _ := h.json("GET", "/v1/cadences/nope/uncertain", adminToken, ""); code != 404 {
		t.Fatalf("unknown cadence: %d", code)
	}
	if code, _ := h.json("GET", "/v1/cadences/trial/uncertain", salesToken, ""); code != 403 {
		t.Fatalf("sales token: %d", code)
	}
}

package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	"github.com/nurture-dev/nurture/worker"
)

func testCadence(t *testing.T) *cadence.Cadence {
	t.Helper()
	c, err := cadence.Parse("c.yaml", []byte(`id: saas-trial
name: SaaS trial
timezone: America/New_York
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {days: mon-fri, start: "09:00", end: "17:00"}
stages:
  - id: awareness
    touches:
      - {id: welcome, channel: email, delay: 0, template: mail}
      - {id: checkin-sms, channel: sms, delay: 2d, template: sms}
  - id: decision
    touches:
      - {id: trial-ending, channel: email, delay: 1d, template: mail}
templates:
  mail: {subject: "Hi", text: "Hello"}
  sms: {sms: "Hi from Acme. Reply STOP to opt out."}
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A timeline reads as sentences a person writes, in the prospect's zone;
// repeated deferrals are one line that counts them.
func TestTimelineSentences(t *testing.T) {
	c := testCadence(t)
	la, _ := time.LoadLocation("America/Los_Angeles")
	// Tue 3 Mar 2026 22:02 UTC is 14:02 in Los Angeles.
	reply := time.Date(2026, 3, 3, 22, 2, 0, 0, time.UTC)
	now := reply.Add(3 * 24 * time.Hour)
	day := func(n int) time.Time { return time.Date(2026, 2, 20+n, 13, 0, 0, 0, time.UTC) }
	window := "outside send window Mon,Tue,Wed,Thu,Fri 09:00-17:00 in America/Los_Angeles (zone explicit)"
	monday9 := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC) // Mon 2 Mar 09:00 in Los Angeles
	tl := []cadence.Entry{
		{At: day(0), Kind: "enrolled", To: cadence.Active, ToStage: "awareness", Reason: "version v1"},
		{At: day(1), Kind: "sent", Touch: "welcome", Channel: cadence.Email, From: cadence.Active, To: cadence.Active},
		{At: day(2), Kind: "deferred", Touch: "checkin-sms", Channel: cadence.SMS, Reason: window, Until: day(3)},
		{At: day(3), Kind: "deferred", Touch: "checkin-sms", Channel: cadence.SMS, Reason: window, Until: day(4)},
		{At: day(4), Kind: "deferred", Touch: "checkin-sms", Channel: cadence.SMS, Reason: window, Until: monday9},
		{At: day(5), Kind: "stage", Stage: "awareness", ToStage: "decision", Reason: "click on welcome"},
		// A line the store already folded: ×4 and its last time.
		{At: day(6), Kind: "opened", Touch: "trial-ending", Channel: cadence.Email, Reason: "×4, last 2026-03-01T10:00:00Z"},
		{At: reply, Kind: "replied", Touch: "welcome", Channel: cadence.Email, By: "email", Reason: "Can we talk on Tuesday?", From: cadence.Active, To: cadence.Active},
		{At: reply, Kind: "warm", From: cadence.Active, To: cadence.Warm, By: "email", Reason: "replied: waiting for sales"},
		{At: reply.Add(time.Hour), Kind: "paused", From: cadence.Warm, To: cadence.Paused, By: "sales:sam", Reason: "from the dashboard"},
		{At: reply.Add(2 * time.Hour), Kind: "undo", From: cadence.Paused, To: cadence.Warm, By: "sales:sam", Reason: "undid the pause; waiting for sales again"},
		{At: reply.Add(3 * time.Hour), Kind: "state", From: cadence.Warm, To: cadence.Exited, By: "sales:sam", Reason: "stopped: from the dashboard"},
	}
	lines := describe(c, tl, la, now)
	var got []string
	for _, l := range lines {
		got = append(got, l.Plain())
	}
	want := []string{
		"Stopped by sam — from the dashboard",
		"Undone by sam — undid the pause; waiting for sales again",
		"Paused by sam — from the dashboard",
		"Waiting for sales since Tue 14:02 — replied to Welcome",
		"Replied to Welcome by email",
		"Opened Trial ending, 4 times (first Thu 26 Feb 05:00)",
		"Moved from Awareness to Decision — clicked Welcome",
		"Held Checkin SMS until Mon 09:00 — outside the send window (Mon–Fri 09:00–17:00 in America/Los_Angeles), 3 times (first Sun 22 Feb 05:00)",
		"Sent Welcome by email",
		"Enrolled in SaaS trial, starting at Awareness (version v1)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if lines[4].Quote != "Can we talk on Tuesday?" || lines[4].Tone != "warm" {
		t.Errorf("reply line: quote %q, tone %q", lines[4].Quote, lines[4].Tone)
	}
	if held := lines[7]; held.Count != 3 || !held.At.T.Equal(day(4)) || !held.First.T.Equal(day(2)) {
		t.Errorf("folded deferral: %d times, %v to %v", held.Count, held.First.T, held.At.T)
	}
	if opened := lines[5]; opened.Count != 4 || !opened.At.T.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("store-folded open: %d times, last %v", opened.Count, opened.At.T)
	}

	// Rendered: local time shown, UTC in the title.
	tmpl := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "parts", lines[3].Parts); err != nil {
		t.Fatal(err)
	}
	if want := `Waiting for sales since <time datetime="2026-03-03T22:02:00Z" title="2026-03-03 22:02 UTC">Tue 14:02</time> — replied to Welcome`; b.String() != want {
		t.Fatalf("rendered:\n%s\nwant\n%s", b.String(), want)
	}
}

func TestReasonsInWords(t *testing.T) {
	for in, want := range map[string]string{
		"outside send window Mon,Tue,Wed,Thu,Fri 09:00-17:00 in America/Chicago (zone phone)": "outside the send window (Mon–Fri 09:00–17:00 in America/Chicago)",
		"outside SMS hours Mon,Tue,Wed,Thu,Fri,Sat 08:00-21:00 (FL) in America/New_York":      "outside SMS hours (Mon–Sat 08:00–21:00 in America/New_York, FL rules)",
		"frequency cap 2 per 24h0m0s (zone cadence default)":                                  "the frequency cap (2 per day)",
		"FL limit of 3 marketing SMS per 24h (zone explicit)":                                 "FL's limit of 3 marketing SMS a day",
		"not due yet": "not due yet",
	} {
		if got := deferReason(in); got != want {
			t.Errorf("deferReason(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Mon,Wed,Fri": "Mon, Wed, Fri", "Mon,Tue,Wed,Thu,Fri,Sat,Sun": "every day", "Sat,Sun": "Sat, Sun", "Tue,Wed,Thu": "Tue–Thu"} {
		if got := days(in); got != want {
			t.Errorf("days(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"sales:sam": "sam", "admin:ops": "ops", "schedule": "the schedule", "email": "email"} {
		if got := who(in); got != want {
			t.Errorf("who(%q) = %q, want %q", in, got, want)
		}
	}
	if got := humanize("trial-ending-sms"); got != "Trial ending SMS" {
		t.Errorf("humanize: %q", got)
	}
}

// undoFixture is a dashboard and one warm enrollment, seen from inside.
func undoFixture(t *testing.T) (*Dashboard, string, *http.Cookie, *Session) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	c, err := cadence.Parse("c1.yaml", []byte(enginetest.EmailCadence("c1", "0", "3d")))
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", 100, clk.Now)
	key := []byte("test-token-key-0123456789abcdef-0123456789")
	signer, _ := tokens.NewSigner(key)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Engine: e, Tokens: []server.Token{{Name: "sam", Role: server.RoleSales, Secret: "sales-secret-0123456789abcdef"}},
		SessionKey: SessionKey(key), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.Enroll(context.Background(), &store.Prospect{ID: "ada", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Owner: "sam"}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(context.Background(), en.ID, cadence.Event{Kind: cadence.EvReplied, Touch: "one", By: "email", Reason: "hi"}); err != nil {
		t.Fatal(err)
	}
	s, value := d.newSession(d.creds[0])
	return d, en.ID, &http.Cookie{Name: cookieName, Value: value}, s
}

func postUndo(t *testing.T, d *Dashboard, cookie *http.Cookie, s *Session, tok string) string {
	t.Helper()
	form := url.Values{"csrf": {s.CSRF}, "undo": {tok}, "back": {"/warm"}}
	r := httptest.NewRequest("POST", "/undo", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(cookie)
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("undo: %d\n%s", w.Code, w.Body)
	}
	u, _ := url.Parse(w.Header().Get("Location"))
	msg, err := d.signer.Verify(flashKind, u.Query().Get("flash"))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// An undo token is refused once its 30 seconds are over, and changes
// nothing; a fresh one with the same content works.
func TestUndoExpires(t *testing.T) {
	d, eid, cookie, s := undoFixture(t)
	ctx := context.Background()
	before, err := d.st.Enrollment(ctx, eid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvPaused, By: "sales:sam"}); err != nil {
		t.Fatal(err)
	}
	rec := undoRecord{SID: s.id, EID: eid, Act: "pause", Rev: before.Rev + 1, State: before.Enrollment.State, By: before.Enrollment.By,
		Reason: before.Enrollment.Reason, Remaining: int64(before.Enrollment.Remaining)}
	rec.Exp = time.Now().Add(-time.Second).UnixMilli()
	b, _ := json.Marshal(rec)
	if msg := postUndo(t, d, cookie, s, d.signer.Sign(undoTokenKind, string(b))); msg != "Too late to undo: Undo lasts 30 seconds. Use the buttons on Ada Lovelace's page instead." {
		t.Fatalf("expired undo: %q", msg)
	}
	if l, _ := d.st.Enrollment(ctx, eid); l.Enrollment.State != cadence.Paused {
		t.Fatalf("an expired undo changed the enrollment: %s", l.Enrollment.State)
	}
	// The page after an action shows the button only while it works.
	r := httptest.NewRequest("GET", "/warm?undo="+url.QueryEscape(d.signer.Sign(undoTokenKind, string(b))), nil)
	if d.usableUndo(r, s) != "" {
		t.Fatal("an expired undo token is offered")
	}
	if msg := postUndo(t, d, cookie, s, d.signUndo(rec)); msg != "Undone: Ada Lovelace's c1 cadence is waiting for sales again." {
		t.Fatalf("fresh undo: %q", msg)
	}
}

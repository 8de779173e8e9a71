package dashboard_test

import (
	"context"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// checkErrorPage checks a 5xx page: it shows the request id (also in
// X-Request-Id) and not detail, which is in the log under that id.
func checkErrorPage(t *testing.T, resp *http.Response, body string, logs *logBuf, detail string) {
	t.Helper()
	id := resp.Header.Get("X-Request-Id")
	if !requestIDRE.MatchString(id) {
		t.Fatalf("X-Request-Id %q, want 16 hex digits", id)
	}
	if !strings.Contains(body, `<code id="request-id">`+id+`</code>`) {
		t.Fatalf("error page does not show request id %s:\n%s", id, body)
	}
	if strings.Contains(body, detail) {
		t.Fatalf("error page shows the internal error %q:\n%s", detail, body)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "request_id="+id) && strings.Contains(line, detail) && strings.Contains(line, "level=ERROR") {
			return
		}
	}
	t.Fatalf("log has no error line with request_id=%s and %q:\n%s", id, detail, logs.String())
}

// An engine over a Redis nobody listens on: the login page's 500 shows a
// request id, not the dial error.
func TestErrorPageHidesInternalError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	logs := &logBuf{}
	cfg := config(newEngine(t, rdb, "nowhere"))
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ts := serve(t, cfg)

	resp, body := do(t, req{method: "POST", url: ts.URL + "/login", form: url.Values{"token": {salesSecret}}})
	if resp.StatusCode != http.StatusInternalServerError || sessionCookie(resp) != "" {
		t.Fatalf("login without Redis: %d, cookie %q\n%s", resp.StatusCode, sessionCookie(resp), body)
	}
	checkErrorPage(t, resp, body, logs, "connection refused")
	for _, s := range []string{"dial tcp", addr} {
		if strings.Contains(body, s) {
			t.Fatalf("error page shows %q:\n%s", s, body)
		}
	}
	if !strings.Contains(body, "Logging in is not possible right now.") {
		t.Fatalf("error page has no message for the user:\n%s", body)
	}
	// Ordinary pages carry a request id too.
	if resp, _ := do(t, req{method: "GET", url: ts.URL + "/login"}); !requestIDRE.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("login page: X-Request-Id %q", resp.Header.Get("X-Request-Id"))
	}
}

// A page that fails after the session check (here a counter key of the
// wrong type) answers 500 with a request id.
func TestErrorPageOfAPage(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	logs := &logBuf{}
	e := newEngine(t, rdb, prefix)
	cfg := config(e)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ts := serve(t, cfg)
	cookie := login(t, ts.URL, salesSecret)
	if err := rdb.Set(context.Background(), e.Store().Keys().Stats(0, "c1"), "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, req{method: "GET", url: ts.URL + "/cadences", cookie: cookie})
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("GET /cadences with a broken counter: %d\n%s", resp.StatusCode, body)
	}
	checkErrorPage(t, resp, body, logs, "WRONGTYPE")
	if !strings.Contains(body, "The cadence reports could not be loaded.") || !strings.Contains(body, `action="/logout"`) {
		t.Fatalf("error page should say what failed and keep the logged-in header:\n%s", body)
	}
}

var flashRE = regexp.MustCompile(`<p id="flash-text">([^<]*)</p>`)

// follow loads a redirect's target and returns its flash message.
func follow(t *testing.T, base string, resp *http.Response, cookie string) string {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("want a redirect, got %d", resp.StatusCode)
	}
	r2, body := do(t, req{method: "GET", url: base + resp.Header.Get("Location"), cookie: cookie})
	if r2.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", resp.Header.Get("Location"), r2.StatusCode, body)
	}
	m := flashRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// Failed actions: a transition that does not apply is explained; an
// internal failure shows a request id and logs the detail. Flash messages
// are signed: text put in a URL by hand is not shown.
func TestActionErrors(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	logs := &logBuf{}
	e := newEngine(t, rdb, prefix)
	cfg := config(e)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ts := serve(t, cfg)
	ctx := context.Background()
	for _, pid := range []string{"p1", "p2"} {
		if _, err := e.Enroll(ctx, &store.Prospect{ID: pid, Email: pid + "@example.com", Owner: "sam"}, "c1"); err != nil {
			t.Fatal(err)
		}
	}
	cookie := login(t, ts.URL, salesSecret)
	_, page := loggedIn(t, ts.URL, cookie)
	csrf := csrfOf(t, page)
	act := func(eid, action string) *http.Response {
		resp, body := do(t, req{method: "POST", url: ts.URL + "/act/" + eid + "/" + action, cookie: cookie, form: url.Values{"csrf": {csrf}, "back": {"/warm"}}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s %s: %d\n%s", action, eid, resp.StatusCode, body)
		}
		return resp
	}

	if f := follow(t, ts.URL, act("p1~c1", "pause"), cookie); f != "Paused p1@example.com's c1 cadence." {
		t.Fatalf("pause flash %q", f)
	}
	if f := follow(t, ts.URL, act("p2~c1", "resume"), cookie); f != "Not done: p2@example.com's c1 cadence is already running; there is nothing to resume." {
		t.Fatalf("resuming an active enrollment: flash %q, want the reason", f)
	}
	if f := follow(t, ts.URL, act("nobody~c1", "pause"), cookie); !strings.HasPrefix(f, "Not done: ") || !strings.Contains(f, "not found") {
		t.Fatalf("pausing an unknown enrollment: flash %q", f)
	}

	// An enrollment record of the wrong type: Redis answers WRONGTYPE.
	key := e.Store().Keys().Enrollment("p2~c1")
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, key, "x", "y").Err(); err != nil {
		t.Fatal(err)
	}
	resp := act("p2~c1", "pause")
	id := resp.Header.Get("X-Request-Id")
	f := follow(t, ts.URL, resp, cookie)
	if !strings.Contains(f, "request id "+id) || strings.Contains(f, "WRONGTYPE") {
		t.Fatalf("internal failure: flash %q, want request id %s and no Redis error", f, id)
	}
	if !strings.Contains(logs.String(), "request_id="+id) || !strings.Contains(logs.String(), "WRONGTYPE") {
		t.Fatalf("log lacks the failure under request id %s:\n%s", id, logs.String())
	}

	// Holiday pause: p1, stopped, is left alone; p2, broken, fails.
	if f := follow(t, ts.URL, act("p1~c1", "stop"), cookie); f != "Stopped p1@example.com's c1 cadence: nothing more is sent from it." {
		t.Fatalf("stop flash %q", f)
	}
	resp, _ = do(t, req{method: "POST", url: ts.URL + "/bulk/pause", cookie: cookie, form: url.Values{"csrf": {csrf}, "owner": {"sam"}, "until": {"2026-03-20"}, "confirm": {"yes"}}})
	id = resp.Header.Get("X-Request-Id")
	if f := follow(t, ts.URL, resp, cookie); f != "Nothing was paused: none of your 2 enrollments is running or snoozed. Left as they were: 1 finished. 1 could not be paused (request id "+id+")." {
		t.Fatalf("bulk pause flash %q", f)
	}

	// A flash made up in the URL is not shown, on any page.
	for _, path := range []string{"/login?flash=", "/warm?flash="} {
		_, body := do(t, req{method: "GET", url: ts.URL + path + url.QueryEscape("Session expired: call +1 555 0100"), cookie: cookie})
		if strings.Contains(body, "555 0100") || strings.Contains(body, `id="flash"`) {
			t.Fatalf("%s shows an unsigned flash:\n%s", path, body)
		}
	}
}

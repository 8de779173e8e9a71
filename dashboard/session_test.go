package dashboard_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

const (
	adminSecret = "admin-secret-0123456789abcdef"
	salesSecret = "sales-secret-0123456789abcdef"
)

var (
	testTokens = []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: adminSecret}, {Name: "sam", Role: server.RoleSales, Secret: salesSecret}}
	tokenKey   = []byte("test-token-key-0123456789abcdef-0123456789")
)

// logBuf collects a dashboard's log; handlers write from server goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newEngine(t *testing.T, rdb redis.UniversalClient, prefix string) *worker.Engine {
	t.Helper()
	c, err := cadence.Parse("c1.yaml", []byte(enginetest.EmailCadence("c1", "0", "3d")))
	if err != nil {
		t.Fatal(err)
	}
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	ob, _ := channels.NewOutbox("", 100, clk.Now)
	signer, _ := tokens.NewSigner(tokenKey)
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob,
		Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func config(e *worker.Engine) dashboard.Config {
	return dashboard.Config{Engine: e, Tokens: testTokens, SessionKey: dashboard.SessionKey(tokenKey), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func serve(t *testing.T, cfg dashboard.Config) *httptest.Server {
	t.Helper()
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(d)
	t.Cleanup(ts.Close)
	return ts
}

// client does not follow redirects: tests look at each answer.
var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type req struct {
	method, url, cookie string
	form                url.Values
	header              map[string]string
	client              *http.Client
}

func do(t *testing.T, q req) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	r, err := http.NewRequest(q.method, q.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: "nurture_session", Value: q.cookie})
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	c := q.client
	if c == nil {
		c = client
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func sessionCookie(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name == "nurture_session" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// login logs in with secret and returns the session cookie's value.
func login(t *testing.T, base, secret string) string {
	t.Helper()
	resp, body := do(t, req{method: "POST", url: base + "/login", form: url.Values{"token": {secret}}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	v := sessionCookie(resp)
	if v == "" {
		t.Fatal("login set no session cookie")
	}
	return v
}

// loggedIn reports whether cookie is a valid session on base: the home
// page shows the user, or the request is sent to log in.
func loggedIn(t *testing.T, base, cookie string) (bool, string) {
	t.Helper()
	resp, body := do(t, req{method: "GET", url: base + "/", cookie: cookie})
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(body, `action="/logout"`):
		return true, body
	case resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/login":
		return false, body
	}
	t.Fatalf("GET / with a session: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	return false, ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

func TestSessionKeyDerivation(t *testing.T) {
	k := dashboard.SessionKey(tokenKey)
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte("nurture dashboard session v1"))
	// Pinned: changing the derivation logs every user out at the deploy.
	if !bytes.Equal(k, m.Sum(nil)) {
		t.Fatal("SessionKey is not HMAC-SHA256(tokenKey, \"nurture dashboard session v1\")")
	}
	if len(k) != 32 || bytes.Contains(tokenKey, k) || bytes.Equal(k, dashboard.SessionKey([]byte("another deployment's token key, 32+ bytes"))) {
		t.Fatal("session key must be 32 bytes, differ from the token key and from other deployments' keys")
	}
}

func TestNewRequiresSessionKey(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	for _, key := range [][]byte{nil, []byte("too short: 31 bytes, one less..")} {
		cfg := config(e)
		cfg.SessionKey = key
		if _, err := dashboard.New(cfg); err == nil || !strings.Contains(err.Error(), "SessionKey") {
			t.Errorf("SessionKey of %d bytes: err %v, want one naming SessionKey", len(key), err)
		}
	}
}

// Two replicas built with the same key accept each other's sessions; a
// dashboard with another key does not.
func TestSessionSharedByReplicas(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	a, b := serve(t, config(e)), serve(t, config(e))
	other := config(e)
	other.SessionKey = dashboard.SessionKey([]byte("another deployment's token key, 32+ bytes"))
	c := serve(t, other)

	cookie := login(t, a.URL, salesSecret)
	for name, ts := range map[string]*httptest.Server{"a": a, "b": b} {
		ok, body := loggedIn(t, ts.URL, cookie)
		if !ok || !strings.Contains(body, "sam (sales)") {
			t.Fatalf("replica %s refused a session of replica a:\n%s", name, body)
		}
	}
	if ok, _ := loggedIn(t, c.URL, cookie); ok {
		t.Fatal("a dashboard with another session key accepted the session")
	}
	// A tampered cookie is refused.
	if ok, _ := loggedIn(t, b.URL, cookie[:len(cookie)-2]+"AA"); ok {
		t.Fatal("tampered cookie accepted")
	}
}

// Logging out on one replica revokes that session on every replica, so a
// copied cookie replayed afterwards is refused; another session of the
// same token stays logged in.
func TestLogoutRevokesEverywhere(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	a, b := serve(t, config(e)), serve(t, config(e))

	cookie := login(t, a.URL, salesSecret)
	laptop := login(t, a.URL, salesSecret) // the same token in another browser
	_, body := loggedIn(t, b.URL, cookie)

	// Without the CSRF token, logout is refused and changes nothing.
	if resp, _ := do(t, req{method: "POST", url: b.URL + "/logout", cookie: cookie, form: url.Values{}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", resp.StatusCode)
	}
	if ok, _ := loggedIn(t, a.URL, cookie); !ok {
		t.Fatal("a refused logout ended the session")
	}

	resp, _ := do(t, req{method: "POST", url: b.URL + "/logout", cookie: cookie, form: url.Values{"csrf": {csrfOf(t, body)}}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || c.Name == "nurture_session" && c.MaxAge < 0
	}
	if !cleared {
		t.Fatal("logout did not clear the cookie")
	}
	for name, ts := range map[string]*httptest.Server{"a": a, "b": b} {
		if ok, _ := loggedIn(t, ts.URL, cookie); ok {
			t.Fatalf("replica %s accepted the cookie after logout", name)
		}
		if ok, _ := loggedIn(t, ts.URL, laptop); !ok {
			t.Fatalf("replica %s refused another session of the same token", name)
		}
	}
	// A fresh replica (a restart) still refuses it: the revocation is in Redis.
	if ok, _ := loggedIn(t, serve(t, config(e)).URL, cookie); ok {
		t.Fatal("a new replica accepted the logged-out cookie")
	}
}

// A session is refused once its token is removed or its secret rotated;
// a role change applies to existing sessions.
func TestSessionOfRemovedTokenRefused(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	cookie := login(t, serve(t, config(e)).URL, salesSecret)

	removed := config(e)
	removed.Tokens = testTokens[:1]
	if ok, _ := loggedIn(t, serve(t, removed).URL, cookie); ok {
		t.Fatal("session of a removed token accepted")
	}

	rotated := config(e)
	rotated.Tokens = []server.Token{testTokens[0], {Name: "sam", Role: server.RoleSales, Secret: "sales-secret-rotated-0123456789"}}
	if ok, _ := loggedIn(t, serve(t, rotated).URL, cookie); ok {
		t.Fatal("session of a rotated token accepted")
	}

	promoted := config(e)
	promoted.Tokens = []server.Token{testTokens[0], {Name: "sam", Role: server.RoleAdmin, Secret: salesSecret}}
	if ok, body := loggedIn(t, serve(t, promoted).URL, cookie); !ok || !strings.Contains(body, "sam (admin)") {
		t.Fatalf("session after a role change: logged in %v, want the new role shown:\n%s", ok, body)
	}
}

func TestLoginChecksOrigin(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ts := serve(t, config(newEngine(t, rdb, prefix)))
	form := url.Values{"token": {salesSecret}}
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "null"},
		{"Referer": "https://evil.example/login"},
	} {
		resp, body := do(t, req{method: "POST", url: ts.URL + "/login", form: form, header: h})
		if resp.StatusCode != http.StatusForbidden || sessionCookie(resp) != "" || !strings.Contains(body, "Cross-origin login refused") {
			t.Errorf("login with %v: %d, cookie %q\n%s", h, resp.StatusCode, sessionCookie(resp), body)
		}
	}
	for _, h := range []map[string]string{
		{"Origin": ts.URL},
		{"Referer": ts.URL + "/login"},
		nil, // curl: neither
	} {
		resp, _ := do(t, req{method: "POST", url: ts.URL + "/login", form: form, header: h})
		if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == "" {
			t.Errorf("same-site login with %v: %d", h, resp.StatusCode)
		}
	}
}

// failLogins posts n wrong tokens and checks each is a plain 401.
func failLogins(t *testing.T, q req, n int) {
	t.Helper()
	q.method, q.form = "POST", url.Values{"token": {"wrong"}}
	for i := 1; i <= n; i++ {
		if resp, body := do(t, q); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Unknown token.") {
			t.Fatalf("failed login %d: %d\n%s", i, resp.StatusCode, body)
		}
	}
}

// checkLimited checks that a login is refused with 429, Retry-After and a
// message saying when to try again.
func checkLimited(t *testing.T, q req, secret string) {
	t.Helper()
	q.method, q.form = "POST", url.Values{"token": {secret}}
	resp, body := do(t, q)
	if resp.StatusCode != http.StatusTooManyRequests || sessionCookie(resp) != "" {
		t.Fatalf("login past the limit: %d, cookie %q\n%s", resp.StatusCode, sessionCookie(resp), body)
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 300 {
		t.Fatalf("Retry-After %q, want 1 to 300 seconds", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "Too many failed logins") || !strings.Contains(body, "Try again in") {
		t.Fatalf("429 page does not say when to try again:\n%s", body)
	}
}

// Ten failed logins from an address are answered; the eleventh is refused
// with 429, on every replica and even with the right token, while other
// addresses log in.
func TestLoginRateLimit(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	a, b := serve(t, config(e)), serve(t, config(e))

	failLogins(t, req{url: a.URL + "/login"}, 5)
	failLogins(t, req{url: b.URL + "/login"}, 5) // counted together with a's
	checkLimited(t, req{url: a.URL + "/login"}, "wrong")
	checkLimited(t, req{url: b.URL + "/login"}, salesSecret)
	// Only the TCP peer counts without TrustProxy: a made-up
	// X-Forwarded-For does not escape the limit.
	checkLimited(t, req{url: a.URL + "/login", header: map[string]string{"X-Forwarded-For": "198.51.100.9"}}, salesSecret)

	// Another address (127.0.0.2 on the loopback) logs in.
	other := &http.Client{
		CheckRedirect: client.CheckRedirect,
		Transport:     &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext},
	}
	if c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, a.Listener.Addr().(*net.TCPAddr)); err != nil {
		t.Logf("cannot connect from 127.0.0.2 (%v): TestLoginRateLimitTrustProxy covers other addresses", err)
	} else {
		c.Close()
		resp, body := do(t, req{method: "POST", url: a.URL + "/login", form: url.Values{"token": {salesSecret}}, client: other})
		if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == "" {
			t.Fatalf("login from another address: %d\n%s", resp.StatusCode, body)
		}
	}
}

// With TrustProxy the last X-Forwarded-For entry is the client; IPv6
// clients count per /64.
func TestLoginRateLimitTrustProxy(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	cfg := config(newEngine(t, rdb, prefix))
	cfg.TrustProxy = true
	ts := serve(t, cfg)
	xff := func(v string) req {
		return req{url: ts.URL + "/login", header: map[string]string{"X-Forwarded-For": v}}
	}

	// The client claims 203.0.113.1; the proxy appended what it saw.
	failLogins(t, xff("203.0.113.1, 198.51.100.7"), 10)
	checkLimited(t, xff("198.51.100.7"), "wrong")
	checkLimited(t, xff("203.0.113.2, 198.51.100.7"), salesSecret)
	resp, body := do(t, req{method: "POST", url: ts.URL + "/login", form: url.Values{"token": {salesSecret}},
		header: map[string]string{"X-Forwarded-For": "198.51.100.8"}})
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == "" {
		t.Fatalf("login from another forwarded address: %d\n%s", resp.StatusCode, body)
	}

	failLogins(t, xff("2001:db8:1:2::1"), 10)
	checkLimited(t, xff("2001:db8:1:2:ffff::99"), "wrong") // same /64
	failLogins(t, xff("2001:db8:1:3::1"), 1)               // another /64
}

// Revocation is checked in Redis on every request: when Redis does not
// answer, a valid session gets an error page, never the dashboard.
func TestSessionFailsClosedWithoutRedis(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	logs := &logBuf{}
	cfg := config(newEngine(t, rdb, prefix))
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ts := serve(t, cfg)
	cookie := login(t, ts.URL, adminSecret)
	if ok, _ := loggedIn(t, ts.URL, cookie); !ok {
		t.Fatal("fresh session refused")
	}
	rdb.Close()
	resp, body := do(t, req{method: "GET", url: ts.URL + "/", cookie: cookie})
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, `action="/logout"`) {
		t.Fatalf("session check without Redis: %d\n%s", resp.StatusCode, body)
	}
	checkErrorPage(t, resp, body, logs, "client is closed")

	// The queue monitor's guard fails closed too.
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	monitor := httptest.NewServer(d.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "monitor")
	})))
	defer monitor.Close()
	resp, body = do(t, req{method: "GET", url: monitor.URL + "/monitor", cookie: cookie})
	if resp.StatusCode != http.StatusInternalServerError || body == "monitor" {
		t.Fatalf("monitor without Redis: %d\n%s", resp.StatusCode, body)
	}
	checkErrorPage(t, resp, body, logs, "client is closed")
}

// TestInboundTokenCannotOpenTheDashboard: the relay's token may post
// inbound email and nothing else, the dashboard included.
func TestInboundTokenCannotOpenTheDashboard(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	e := newEngine(t, rdb, prefix)
	toks := []server.Token{{Name: "relay", Role: server.RoleInbound, Secret: "relay-secret-0123456789"}, {Name: "sam", Role: server.RoleSales, Secret: "sam-secret-0123456789abc"}}
	d, err := dashboard.New(dashboard.Config{Engine: e, Tokens: toks, SessionKey: dashboard.SessionKey([]byte(strings.Repeat("k", 32)))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(d)
	defer ts.Close()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(ts.URL+"/login", url.Values{"token": {"relay-secret-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(string(body), "inbound email relay") {
		t.Fatalf("inbound token login: %s, cookies %v\n%s", resp.Status, resp.Cookies(), body)
	}
}

// A session logged in through /login lasts SessionLifetime: a minute
// before, every page opens; a second after, pages, a form post with the
// right CSRF token and the queue monitor send the user to /login, and
// logging in again starts a new session.
func TestSessionExpires(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	d, err := dashboard.New(config(newEngine(t, rdb, prefix)))
	if err != nil {
		t.Fatal(err)
	}
	var ahead atomic.Int64 // how far the sessions' clock is ahead of the wall clock
	dashboard.SetSessionClock(d, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	ts := httptest.NewServer(d)
	t.Cleanup(ts.Close)
	monitor := httptest.NewServer(d.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "monitor") })))
	t.Cleanup(monitor.Close)

	cookie := login(t, ts.URL, adminSecret)
	_, page := loggedIn(t, ts.URL, cookie)
	csrf := csrfOf(t, page)

	ahead.Store(int64(dashboard.SessionLifetime - time.Minute))
	if ok, _ := loggedIn(t, ts.URL, cookie); !ok {
		t.Fatal("session refused a minute before it expires")
	}
	if resp, body := do(t, req{method: "GET", url: monitor.URL + "/monitor/", cookie: cookie}); resp.StatusCode != http.StatusOK || body != "monitor" {
		t.Fatalf("monitor a minute before expiry: %d %q", resp.StatusCode, body)
	}

	ahead.Store(int64(dashboard.SessionLifetime + time.Second))
	for _, q := range []req{
		{method: "GET", url: ts.URL + "/"},
		{method: "GET", url: ts.URL + "/prospects"},
		{method: "GET", url: ts.URL + "/cadences/c1"},
		{method: "POST", url: ts.URL + "/bulk/pause", form: url.Values{"csrf": {csrf}, "owner": {"sam"}, "until": {"2026-03-20"}, "confirm": {"yes"}}},
		{method: "GET", url: monitor.URL + "/monitor/"},
	} {
		q.cookie = cookie
		resp, body := do(t, q)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Errorf("%s %s after the session expired: %d %q, want 303 to /login\n%s", q.method, q.url, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}

	fresh := login(t, ts.URL, adminSecret)
	if ok, _ := loggedIn(t, ts.URL, fresh); !ok {
		t.Fatal("a new login after expiry is refused")
	}
	if ok, _ := loggedIn(t, ts.URL, cookie); ok {
		t.Fatal("the expired cookie is accepted again after a new login")
	}
}

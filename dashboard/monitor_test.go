package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// The queue monitor's guard refuses a state-changing request whose Origin
// is another site (asynqmon's forms carry no CSRF token) before it reaches
// the monitor; a same-origin one, one with no Origin (curl) and any GET or
// HEAD pass through.
func TestMonitorRefusesCrossOriginWrites(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	monitor := httptest.NewServer(f.d.RequireAdmin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "asynqmon "+r.Method)
	})))
	defer monitor.Close()
	host := strings.TrimPrefix(monitor.URL, "http://")
	_, port, _ := strings.Cut(host, ":")
	otherPort := "http://127.0.0.1:1"
	if port == "1" {
		otherPort = "http://127.0.0.1:2"
	}
	form := url.Values{"queue": {"default"}}
	target := monitor.URL + "/monitor/api/queues/default:pause"

	for _, origin := range []string{"https://evil.example", "null", otherPort, "https://" + host + ".evil.example"} {
		before := calls.Load()
		for _, method := range []string{"POST", "DELETE"} {
			resp, body := do(t, req{method: method, url: target, cookie: f.ops, form: form, header: map[string]string{"Origin": origin}})
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "cross-origin request refused") {
				t.Errorf("admin %s with Origin %q: %d %q, want 403 cross-origin request refused", method, origin, resp.StatusCode, body)
			}
		}
		if n := calls.Load() - before; n != 0 {
			t.Errorf("Origin %q: the monitor was called %d times, want 0", origin, n)
		}
	}

	pass := []struct {
		method string
		header map[string]string
	}{
		{"POST", map[string]string{"Origin": monitor.URL}}, // same origin
		{"DELETE", map[string]string{"Origin": monitor.URL}},
		{"POST", nil}, // no Origin: curl, or a browser's same-origin form in older browsers
		{"GET", nil},
		{"GET", map[string]string{"Origin": "https://evil.example"}}, // reads are not guarded
		{"HEAD", map[string]string{"Origin": "https://evil.example"}},
	}
	for _, p := range pass {
		before := calls.Load()
		var fm url.Values
		if p.method == "POST" || p.method == "DELETE" {
			fm = form
		}
		resp, body := do(t, req{method: p.method, url: target, cookie: f.ops, form: fm, header: p.header})
		want := "asynqmon " + p.method
		if p.method == "HEAD" {
			want = ""
		}
		if resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("admin %s with %v: %d %q, want 200 %q", p.method, p.header, resp.StatusCode, body, want)
		}
		if n := calls.Load() - before; n != 1 {
			t.Errorf("admin %s with %v: the monitor was called %d times, want 1", p.method, p.header, n)
		}
	}

	// The origin check comes after the role check: a rep's same-origin
	// POST is still refused, and without reaching the monitor.
	before := calls.Load()
	resp, body := do(t, req{method: "POST", url: target, cookie: f.sam, form: form, header: map[string]string{"Origin": monitor.URL}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "The queue monitor is for admins") || calls.Load() != before {
		t.Errorf("rep's same-origin POST: %d, monitor calls %d\n%s", resp.StatusCode, calls.Load()-before, body)
	}
}

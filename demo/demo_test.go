package demo_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/demo"
	"github.com/nurture-dev/nurture/store"
)

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b)
	}
	return string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
var pauseRe = regexp.MustCompile(`action="/act/([^/"]+)/pause"`)

// TestDemoMovesProspectsAndSalesCanPause runs the demo and uses the
// dashboard as a sales rep would.
func TestDemoMovesProspectsAndSalesCanPause(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Prospects: 200, DaySeconds: 1, Seed: 3, Ready: func(i demo.Info) { ready <- i }})
	}()
	var info demo.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start")
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}

	// Not logged in: the dashboard sends us to the login page.
	if body := get(t, c, info.URL+"/"); !strings.Contains(body, `name="token"`) {
		t.Fatalf("no login page:\n%s", body)
	}
	resp, err := c.PostForm(info.URL+"/login", url.Values{"token": {"wrong"}})
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("bad token: %v %d", err, resp.StatusCode)
	}
	resp, err = c.PostForm(info.URL+"/login", url.Values{"token": {info.SalesToken}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %d", err, resp.StatusCode)
	}

	// Within a bounded time a prospect crosses a stage and a lead turns warm.
	deadline := time.Now().Add(60 * time.Second)
	var warm string
	for time.Now().Before(deadline) {
		rep, err := info.Engine.Report(ctx, "saas-trial")
		if err != nil {
			t.Fatal(err)
		}
		warm = get(t, c, info.URL+"/warm")
		if rep.Stages[1].Entered > 0 && pauseRe.MatchString(warm) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := pauseRe.FindStringSubmatch(warm)
	if m == nil {
		t.Fatalf("no warm lead with a Pause button within 60 s:\n%s", warm)
	}
	eid, _ := url.PathUnescape(m[1])
	// An uncertain touch (as a crashed worker leaves one) is listed on the
	// cadence page with its Message-ID.
	if err := info.Engine.Store().AddUncertain(ctx, "saas-trial", store.UncertainTouch{EID: eid, Touch: "welcome", Channel: cadence.Email,
		MessageID: "u1.awareness.0.1@nurture.local", At: info.Engine.Clock()}); err != nil {
		t.Fatal(err)
	}
	funnel := get(t, c, info.URL+"/cadences/saas-trial")
	if !strings.Contains(funnel, `id="funnel"`) || !strings.Contains(funnel, "consideration") || !strings.Contains(funnel, "Human opens") ||
		!strings.Contains(funnel, `id="uncertain"`) || !strings.Contains(funnel, "u1.awareness.0.1@nurture.local") {
		t.Fatalf("cadence page:\n%s", funnel)
	}

	// The queue monitor is for admins only.
	if resp, err := c.Get(info.URL + "/monitor/"); err != nil || resp.StatusCode != 403 {
		t.Fatalf("sales on /monitor: %v %d", err, resp.StatusCode)
	}
	adminJar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: adminJar, Timeout: 10 * time.Second}
	if resp, err := admin.PostForm(info.URL+"/login", url.Values{"token": {info.AdminToken}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin login: %v", err)
	}
	if body := get(t, admin, info.URL+"/monitor/"); !strings.Contains(strings.ToLower(body), "asynq") {
		t.Fatalf("monitor page:\n%.300s", body)
	}
	// /metrics needs an admin bearer token, not a dashboard session.
	if resp, err := c.Get(info.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %v %v", err, resp)
	}
	req, _ := http.NewRequest("GET", info.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+info.AdminToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(mb), "nurture_sends_total") {
		t.Fatalf("metrics: %s\n%.300s", resp.Status, mb)
	}

	// A form without the CSRF token is refused.
	resp, _ = c.PostForm(info.URL+"/act/"+m[1]+"/pause", url.Values{})
	if resp.StatusCode != 403 {
		t.Fatalf("pause without CSRF: %d", resp.StatusCode)
	}
	csrf := csrfRe.FindStringSubmatch(warm)[1]
	resp, err = c.PostForm(info.URL+"/act/"+m[1]+"/pause", url.Values{"csrf": {csrf}, "back": {"/warm"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pause: %v %d", err, resp.StatusCode)
	}
	l, err := info.Engine.Store().Enrollment(ctx, eid)
	if err != nil || l.Enrollment.State != cadence.Paused {
		t.Fatalf("after Pause: %v %s", err, l.Enrollment.State)
	}
	pid := strings.Split(eid, "~")[0]
	page := get(t, c, info.URL+"/prospects/"+pid)
	if !strings.Contains(page, "paused: warm -&gt; paused by sales:sam: from the dashboard") {
		t.Fatalf("prospect timeline does not say it was paused:\n%s", page)
	}
	// Several cadence days later, nothing more was sent to this prospect.
	before := strings.Count(get(t, c, info.URL+"/prospects/"+pid), "sent ")
	time.Sleep(4 * time.Second)
	if after := strings.Count(get(t, c, info.URL+"/prospects/"+pid), "sent "); after != before {
		t.Fatalf("the engine kept sending to a paused prospect: %d -> %d sends", before, after)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not shut down")
	}
}

func TestEmbeddedRedisExpiresKeysWithTheClock(t *testing.T) {
	m, err := demo.EmbeddedRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Set("k", "v")
	m.SetTTL("k", 200*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for m.Exists("k") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m.Exists("k") {
		t.Fatal("a key with a TTL did not expire with the clock")
	}
}

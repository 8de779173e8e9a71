package demo_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// The demo the tests run: 200 prospects, one cadence day per 3 real
// seconds (demo.Options.DaySeconds): the engine's clock runs 86,400 /
// DaySeconds times faster than the wall clock. The demo's workers lag its
// clock by around a real second on a busy two-core machine (miniredis);
// at one second a day that is most of a day, and touches claimed after
// their send window closed are deferred to the next day again and again.
// Three seconds keeps the lag to hours.
//
// quietStretch starts the clock on a Monday with no holiday of the sample
// cadences in the weeks the test runs: a touch deferred past Christmas
// would leave its control unsent for longer than the test watches.
var quietStretch = time.Date(2027, 2, 1, 8, 0, 0, 0, time.UTC)

const (
	demoProspects = 200
	demoDay       = 3 * time.Second
)

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
var pauseRe = regexp.MustCompile(`action="/act/([^/"]+)/pause"`)

// TestDemoMovesProspectsAndSalesCanPause runs the demo and uses the
// dashboard as a sales rep would.
func TestDemoMovesProspectsAndSalesCanPause(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		// No trickle of new prospects (TestDemoKeepsEnrollingAndReportsProgress
		// covers it): the timing checks below want the machine's time.
		done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Prospects: demoProspects, DaySeconds: demoDay.Seconds(), Seed: 3, Trickle: -1,
			Start: quietStretch, Ready: func(i demo.Info) { ready <- i }})
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
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	var warm string
	nudged := false
	for time.Now().Before(deadline) {
		rep, err := info.Engine.Report(ctx, "saas-trial")
		if err != nil {
			t.Fatal(err)
		}
		warm = get(t, c, info.URL+"/warm")
		if rep.Stages[1].Entered > 0 && pauseRe.MatchString(warm) {
			break
		}
		if !nudged && time.Since(start) > 30*time.Second && !pauseRe.MatchString(warm) {
			// The demo's replies are random (4 % of emails): on a busy
			// machine sam may have none yet.
			nudged = replyAsSam(t, info)
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
	if !strings.Contains(page, "Paused by sam — from the dashboard") {
		t.Fatalf("prospect timeline does not say it was paused:\n%s", page)
	}
	// The warm lead had no touch due anyway: that it stays quiet proves
	// little. Pause an ACTIVE prospect whose next touch is due within the
	// next cadence day, from its prospect page, and watch the outbox until
	// that touch would certainly have gone out (a twin in the same position
	// got its own, and a cadence day has passed since the due time):
	// nothing goes to it, and it stays paused.
	var q quietCheck
	for attempt := 0; ; attempt++ {
		pair := duePair(t, ctx, info, demoProspects, 0.25)
		cand := pair.target
		page := get(t, c, info.URL+"/prospects/"+cand.pid)
		pm := csrfRe.FindStringSubmatch(page)
		if pm == nil || !strings.Contains(page, `action="/act/`+cand.eid+`/pause"`) {
			t.Fatalf("prospect page of %s has no Pause button for %s:\n%s", cand.pid, cand.eid, page)
		}
		resp, err = c.PostForm(info.URL+"/act/"+url.PathEscape(cand.eid)+"/pause", url.Values{"csrf": {pm[1]}, "back": {"/prospects/" + cand.pid}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pause %s: %v %v", cand.eid, err, resp)
		}
		resp.Body.Close()
		var ok bool
		if q, ok = pausedInTime(t, ctx, info, pair); ok {
			break
		}
		if attempt == 4 {
			t.Fatalf("five prospects in a row were sent their touch before the pause landed")
		}
	}
	q.watch(t, ctx, c, info, demoDay)
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

// demoEnrollments lists the demo's enrollment ids (demo.enrollSamples:
// prospects demo-NNNN, seven in ten in saas-trial, the rest in
// shop-winback).
func demoEnrollments(prospects int) []string {
	var eids []string
	for i := 0; i < prospects; i++ {
		cid := "saas-trial"
		if i%10 >= 7 {
			cid = "shop-winback"
		}
		eids = append(eids, fmt.Sprintf("demo-%04d~%s", i, cid))
	}
	return eids
}

func sentCount(t *testing.T, ctx context.Context, info demo.Info, eid string) int {
	t.Helper()
	tl, err := info.Engine.Timeline(ctx, eid)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range tl {
		if en.Kind == "sent" {
			n++
		}
	}
	return n
}

// candidate is an active enrollment with a touch due soon.
type candidate struct {
	eid, pid string
	// due is its next touch's due time (engine clock); the send-time gate
	// would send touch then.
	due   time.Time
	touch string
	// sends is how many touches its timeline showed sent when picked.
	sends int
	// email and phone are where a send to it would go.
	email, phone string
	// like says which enrollments are in the same position: same
	// cadence, channel, send window, zone (and SMS state).
	like string
}

// pausePair is an enrollment to pause and its control: another in the
// same position (candidate.like) whose touch is due no earlier. When the
// control's touch goes out, the paused one's would have gone out too.
type pausePair struct{ target, control candidate }

// duePair finds, polling with a deadline, two active enrollments in the
// same position whose next touches are due between lead and one cadence
// day from now on the engine's clock (lead, a fraction of a day, is time
// for the test to pause one), that the send-time gate would send at their
// due times (window, frequency caps, conditions, consent), and that were
// sent nothing in the last cadence day, so the simulated recipients have
// reacted to everything they got and no engagement lands on them while
// the test watches. The target is the one due first.
//
// The control is needed because the demo's workers lag its clock: under
// load a touch due at 09:00 on a one-second day may be claimed at 18:00,
// past its window, and deferred to the next day. A due time alone does not
// say when a touch would have gone out; a twin that was not paused does.
func duePair(t *testing.T, ctx context.Context, info demo.Info, prospects int, lead float64) pausePair {
	t.Helper()
	eids := demoEnrollments(prospects)
	deadline := time.Now().Add(90 * time.Second)
	for {
		loaded, err := info.Engine.Store().Enrollments(ctx, eids)
		if err != nil {
			t.Fatal(err)
		}
		// Reading 200 enrollments takes a good part of a one-second day:
		// judge them by the clock after the read.
		now := info.Clock()
		byPos := map[string][]candidate{}
		for _, l := range loaded {
			if l == nil {
				continue
			}
			e := l.Enrollment
			if e.State != cadence.Active || e.DueAt.Before(now.Add(time.Duration(lead*float64(24*time.Hour)))) || !e.DueAt.Before(now.Add(24*time.Hour)) ||
				e.LastTouchAt.After(now.Add(-24*time.Hour)) {
				continue
			}
			c, err := info.Engine.Cadence(e.CadenceID)
			if err != nil {
				t.Fatal(err)
			}
			p, err := info.Engine.Store().Prospect(ctx, e.ProspectID)
			if err != nil {
				t.Fatal(err)
			}
			h, err := info.Engine.Store().RecentSends(ctx, e.ProspectID, e.DueAt.Add(-8*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			r := p.Recipient()
			d := c.Gate(&e, cadence.Claim{Stage: e.Stage, Step: e.Step, Generation: e.Generation}, &r, &h, e.DueAt)
			if d.Verdict != cadence.Send {
				continue
			}
			like := fmt.Sprintf("%s %s %s %s", e.CadenceID, d.Touch.Channel, c.WindowFor(d.Touch), p.TimeZone)
			if d.Touch.Channel == cadence.SMS {
				like += " " + r.SMSState()
			}
			byPos[like] = append(byPos[like], candidate{eid: e.ID, pid: e.ProspectID, due: e.DueAt, touch: d.Touch.ID, email: p.Email, phone: p.Phone, like: like})
		}
		// Of the positions with two or more, take the pair whose target is
		// due last, for the most time to pause it.
		var best *pausePair
		for _, cs := range byPos {
			if len(cs) < 2 {
				continue
			}
			sort.Slice(cs, func(i, j int) bool { return cs[i].due.Before(cs[j].due) })
			pp := pausePair{target: cs[len(cs)-2], control: cs[len(cs)-1]}
			if best == nil || pp.target.due.After(best.target.due) {
				best = &pp
			}
		}
		if best != nil && best.target.due.After(info.Clock().Add(time.Duration(lead*float64(24*time.Hour)))) {
			best.target.sends = sentCount(t, ctx, info, best.target.eid)
			best.control.sends = sentCount(t, ctx, info, best.control.eid)
			return *best
		}
		if time.Now().After(deadline) {
			t.Fatalf("for 90 s (a loaded machine reads 200 enrollments slowly), no two active enrollments in the same position had touches due within the next cadence day")
		}
		time.Sleep(demoDay / 10)
	}
}

// quietCheck is a paused enrollment to watch, with its control.
type quietCheck struct {
	pausePair
	pausedAt time.Time
}

// pausedInTime reads the pause back from the timeline: it must have
// landed before the touch was due and before anything more was sent,
// else the check would prove nothing (the caller picks another pair).
func pausedInTime(t *testing.T, ctx context.Context, info demo.Info, pp pausePair) (quietCheck, bool) {
	t.Helper()
	c := pp.target
	l, err := info.Engine.Store().Enrollment(ctx, c.eid)
	if err != nil {
		t.Fatal(err)
	}
	if l.Enrollment.State != cadence.Paused {
		t.Fatalf("%s after Pause: %s", c.eid, l.Enrollment.State)
	}
	tl, err := info.Engine.Timeline(ctx, c.eid)
	if err != nil {
		t.Fatal(err)
	}
	var pausedAt time.Time
	for _, en := range tl {
		if en.Kind == "paused" {
			pausedAt = en.At
		}
	}
	if pausedAt.IsZero() {
		t.Fatalf("%s: no pause on the timeline", c.eid)
	}
	if n := sentCount(t, ctx, info, c.eid); n != c.sends || !pausedAt.Before(c.due) {
		t.Logf("%s: pause landed at %v, its touch was due %v (sends %d -> %d); trying another pair", c.eid, pausedAt, c.due, c.sends, n)
		return quietCheck{}, false
	}
	return quietCheck{pausePair: pp, pausedAt: pausedAt}, true
}

// outboxCardRe matches one message on the dashboard's /outbox page.
var outboxCardRe = regexp.MustCompile(`<div class="card"><strong>(email|sms)</strong> to (\S+) (\d{4}-\d\d-\d\d \d\d:\d\d) UTC`)

// outboxPageSize is how many of the newest messages /outbox shows.
const outboxPageSize = 200

// watch polls the paused enrollment's state and the dashboard's outbox
// until its touch would certainly have gone out: its control has been sent
// its touch, and the engine's clock is a cadence day past the paused
// touch's due time. Through it all the paused enrollment must stay paused
// and no message may go to its address or number after the pause. Each
// look also checks that the outbox page still reaches back to the previous
// look (it shows the newest 200), so no message could slip between two
// looks.
func (q quietCheck) watch(t *testing.T, ctx context.Context, c *http.Client, info demo.Info, day time.Duration) {
	t.Helper()
	// The outbox shows minutes; the prospect's last send was over a
	// cadence day before the pause, so anything at or after the pause's
	// minute is a send after the pause.
	cutoff := q.pausedAt.Truncate(time.Minute)
	until := q.target.due.Add(24 * time.Hour)
	realDeadline := time.Now().Add(60 * time.Second)
	prev := cutoff
	polls := 0
	var controlSent time.Time
	for {
		now := info.Clock()
		page := get(t, c, info.URL+"/outbox")
		cards := outboxCardRe.FindAllStringSubmatch(page, -1)
		if len(cards) == 0 {
			t.Fatalf("outbox page lists no messages:\n%.2000s", page)
		}
		for _, m := range cards {
			at, err := time.Parse("2006-01-02 15:04", m[3])
			if err != nil {
				t.Fatal(err)
			}
			if !at.Before(cutoff) && (m[2] == q.target.email || (q.target.phone != "" && m[2] == q.target.phone)) {
				t.Fatalf("%s is paused (since %v; %s was due %v) but the outbox shows %s to %s at %s UTC", q.target.eid, q.pausedAt, q.target.touch, q.target.due, m[1], m[2], m[3])
			}
		}
		if len(cards) >= outboxPageSize {
			oldest, _ := time.Parse("2006-01-02 15:04", cards[len(cards)-1][3])
			if oldest.After(prev.Truncate(time.Minute)) {
				t.Fatalf("the outbox page (newest %d) starts at %v, after the previous look at %v: it no longer shows everything sent since", len(cards), oldest, prev)
			}
		}
		l, err := info.Engine.Store().Enrollment(ctx, q.target.eid)
		if err != nil {
			t.Fatal(err)
		}
		if l.Enrollment.State != cadence.Paused {
			t.Fatalf("%s left paused: %s (%s)", q.target.eid, l.Enrollment.State, l.Enrollment.Reason)
		}
		polls++
		prev = now
		if controlSent.IsZero() && sentCount(t, ctx, info, q.control.eid) > q.control.sends {
			controlSent = now
		}
		if !controlSent.IsZero() && now.After(until) {
			break
		}
		if time.Now().After(realDeadline) {
			cl, _ := info.Engine.Store().Enrollment(ctx, q.control.eid)
			t.Fatalf("within 60 s the control %s (%s, due %v) was not sent its touch (it is %s, due %v), or the clock did not pass %v: clock %v",
				q.control.eid, q.control.like, q.control.due, cl.Enrollment.State, cl.Enrollment.DueAt, until, info.Clock())
		}
		time.Sleep(day / 10)
	}
	if n := sentCount(t, ctx, info, q.target.eid); n != q.target.sends {
		t.Fatalf("%s: timeline shows %d sends, %d when it was paused", q.target.eid, n, q.target.sends)
	}
	t.Logf("%s paused at %v, %s due %v: nothing sent to it through %v; its control %s (%s, due %v) was sent by %v (%d looks at the outbox)",
		q.target.eid, q.pausedAt, q.target.touch, q.target.due, prev, q.control.eid, q.control.like, q.control.due, controlSent, polls)
}

// syncBuffer is an io.Writer the demo writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var progressRe = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  cadence day (\d+) \([A-Z][a-z]{2} \d+ [A-Z][a-z]{2}\): (\d+) enrolled · (\d+) sent · (\d+) opened · (\d+) replied · (\d+) warm, waiting for sales$`)

// The demo keeps enrolling new sample prospects for as long as it runs,
// and prints a line of totals every Progress.
func TestDemoKeepsEnrollingAndReportsProgress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	ready := make(chan demo.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", Prospects: 30, DaySeconds: 1, Seed: 9, Trickle: 10, Out: out,
			Progress: 300 * time.Millisecond, Ready: func(i demo.Info) { ready <- i }})
	}()
	var info demo.Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}
	if !strings.Contains(out.String(), "30 sample prospects enrolled in 2 example cadences; about 10 more join every cadence day.") {
		t.Fatalf("banner:\n%s", out.String())
	}
	deadline := time.Now().Add(60 * time.Second)
	var lines [][]string
	for {
		lines = progressRe.FindAllStringSubmatch(out.String(), -1)
		if len(lines) >= 4 {
			last, _ := strconv.Atoi(lines[len(lines)-1][2])
			if last > 30+10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 60 s, no progress lines showing more than 40 enrolled:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	prevDay, prevEnrolled := 0, 0
	for _, l := range lines {
		day, _ := strconv.Atoi(l[1])
		enrolled, _ := strconv.Atoi(l[2])
		if day < prevDay || enrolled < prevEnrolled {
			t.Fatalf("progress went backwards at %q:\n%s", l[0], out.String())
		}
		prevDay, prevEnrolled = day, enrolled
	}
	// The new prospects are real enrollments, numbered on from the first.
	p, err := info.Engine.Store().Prospect(ctx, "demo-0035")
	if err != nil || p.FirstName == "" || p.LastName == "" || !strings.HasSuffix(p.Email, "@example.com") {
		t.Fatalf("trickled prospect demo-0035: %+v %v", p, err)
	}
	if _, err := info.Engine.Store().Enrollment(ctx, "demo-0035~saas-trial"); err != nil {
		t.Fatalf("demo-0035 is not enrolled in saas-trial (seven in ten of each ten are): %v", err)
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

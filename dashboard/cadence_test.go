package dashboard_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/store"
)

// TestCadencePageShowsFunnelTrendsAndReasons renders the cadence page
// over real sends and events and reads back what a marketer would: the
// summary, how stages were entered, how enrollments ended, the per-day
// trend with its numbers, per-touch rates for the channel, and why a
// touch was skipped.
func TestCadencePageShowsFunnelTrendsAndReasons(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var eids []string
	for _, id := range []string{"ann", "bob", "cy"} {
		eids = append(eids, f.enroll(&store.Prospect{ID: id, FirstName: strings.ToUpper(id[:1]) + id[1:], Owner: "sam"}))
	}
	// dee has a phone and no email: the email touch is skipped for her.
	if _, err := f.e.Enroll(ctx, &store.Prospect{ID: "dee", Phone: "+13125550199", Owner: "sam"}, "c1"); err != nil {
		t.Fatal(err)
	}
	now := f.e.Clock()
	yesterday := now.Add(-24 * time.Hour)
	if _, err := f.e.DispatchOnce(ctx, enginetest.SyncQueue{E: f.e}); err != nil {
		t.Fatal(err)
	}
	// ann's reply came in yesterday (a late webhook carries its time); bob
	// unsubscribes today.
	if _, err := f.e.Apply(ctx, eids[0], cadence.Event{Kind: cadence.EvReplied, At: yesterday, Touch: "one", Channel: cadence.Email, By: "email", Reason: "yes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Apply(ctx, eids[1], cadence.Event{Kind: cadence.EvUnsubscribed, By: "one-click"}); err != nil {
		t.Fatal(err)
	}
	page := f.get(f.ops, "/cadences/c1")
	for _, want := range []string{
		`<p id="summary">4 enrolled · 3 still in the cadence · 0 completed · 1 exited · 0 reached a goal</p>`,
		`<td colspan="3" class="muted">entered by enrolling</td>`,
		`<li data-reason="unsubscribed">unsubscribed: 1</li>`,
		`<div data-skip="no_email">no email address: 1</div>`,
		// Email has no delivery reports: no "Delivered 0" that reads as broken.
		`<span class="muted" title="mail relays do not report deliveries">—</span>`,
		`<a href="?days=30" aria-current="page">Last 30 days</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("cadence page lacks %s", want)
		}
	}
	// The trend: 3 sends today, the reply on yesterday's bar.
	sent := figure(t, page, "sent")
	if !strings.Contains(sent, `data-total="3"`) || !strings.Contains(sent, "<title>"+now.Format(time.DateOnly)+": 3</title>") || strings.Count(sent, "<rect") != 1 {
		t.Errorf("sent trend:\n%s", sent)
	}
	replied := figure(t, page, "replied")
	if !strings.Contains(replied, "<title>"+yesterday.Format(time.DateOnly)+": 1</title>") {
		t.Errorf("replies trend:\n%s", replied)
	}
	// The last bar ends at the right edge of the viewBox: today is last.
	if m := regexp.MustCompile(`x="([0-9.]+)" y="0.00" width="([0-9.]+)"`).FindStringSubmatch(sent); m == nil || m[1] != "290.00" {
		t.Errorf("today's full-height bar not last: %v", m)
	}
	if !regexp.MustCompile(`<tr><th scope="row">` + now.Format(time.DateOnly) + `</th><td class="n">4</td><td class="n">3</td>`).MatchString(page) {
		t.Errorf("numbers per day lack today's 4 enrolled, 3 sent")
	}
	// Touch row: 1 reply of 3 sent.
	if !strings.Contains(page, `<td class="n">1 (33.3%)</td>`) {
		t.Errorf("touch one's reply rate missing")
	}
	if p90 := f.get(f.ops, "/cadences/c1?days=90"); !strings.Contains(p90, `<a href="?days=90" aria-current="page">`) || strings.Count(figure(t, p90, "sent"), "<rect") != 1 {
		t.Errorf("90 days view")
	}
	// Sales reads it too.
	if page := f.get(f.sam, "/cadences/c1"); !strings.Contains(page, `id="trend-sent"`) {
		t.Errorf("sales does not see the trends")
	}
	t.Run("variants and SMS", testCadencePageVariantsAndSMS)
}

// abSMSCadence has an A/B email touch, advanced from by a click, and an
// SMS touch whose window defers it and whose text needs a first name.
const abSMSCadence = `id: ab
name: A/B and SMS
timezone: UTC
from: {email: "Acme <hello@acme.example>", sms: "+15005550006"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: intro
    touches:
      - id: welcome
        channel: email
        variants:
          - {id: short, template: short, weight: 1}
          - {id: story, template: story, weight: 1}
      - {id: nudge, channel: email, delay: 1d, template: plain}
    advance:
      - {on: click, to: follow}
  - id: follow
    touches:
      - {id: text, channel: sms, delay: 6h, template: ping, window: {start: "18:00", end: "20:00"}}
templates:
  short: {subject: "Five minutes, {{ .FirstName | default \"there\" }}", text: "Short"}
  story: {subject: "A story for {{ .Company | default \"you\" }}", text: "Story"}
  plain: {subject: "Still there?", text: "Nudge"}
  ping: {sms: "Hi {{ .FirstName }}, can we talk? Reply STOP to opt out"}
`

// testCadencePageVariantsAndSMS reads the parts of the cadence page an
// A/B touch and an SMS touch add: per-variant rows and their note, touches
// named by subject, no open counts for SMS, how the SMS stage was entered
// (by a click or in time) and why the SMS was skipped, waited or was held.
func testCadencePageVariantsAndSMS(t *testing.T) {
	f := newCadenceFixture(t, 100, abSMSCadence)
	ctx := context.Background()
	eids := map[string]string{}
	for i, p := range []*store.Prospect{
		{ID: "ann", FirstName: "Ann", Company: "Initech"},
		{ID: "bob", FirstName: "Bob", Company: "Globex"},
		{ID: "cy", Company: "Hooli"},  // no first name: the SMS is held
		{ID: "dee", FirstName: "Dee"}, // no phone: the SMS is skipped
	} {
		p.Email, p.TimeZone = p.ID+"@example.com", "America/Chicago"
		if p.ID != "dee" {
			p.Phone = fmt.Sprintf("+1312555010%d", i)
		}
		eids[p.ID] = f.enroll(p)
	}
	f.dispatch() // Mon 16:00 UTC (10:00 in Chicago): welcome to all four
	// ann clicks (on to follow by the rule); bob opens; a machine opens cy's.
	for _, ev := range []struct {
		who string
		ev  cadence.Event
	}{
		{"ann", cadence.Event{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, By: "link"}},
		{"bob", cadence.Event{Kind: cadence.EvOpened, Touch: "welcome", Channel: cadence.Email, By: "pixel"}},
		{"cy", cadence.Event{Kind: cadence.EvOpened, Touch: "welcome", Channel: cadence.Email, By: "pixel", Machine: true}},
	} {
		if _, err := f.e.Apply(ctx, eids[ev.who], ev.ev); err != nil {
			t.Fatal(err)
		}
	}
	// 22:00 UTC: ann's SMS is due at 16:00 in Chicago, deferred to 18:00;
	// 00:00 UTC: sent. Tue 16:00: the nudge to bob, cy and dee, whose
	// intro has run out: on to follow in time (dee's SMS skipped, no
	// phone). 22:00: bob's and cy's SMS deferred; 00:00: bob's sent, cy's
	// held (no first name).
	for _, step := range []time.Duration{6 * time.Hour, 2 * time.Hour, 16 * time.Hour, 6 * time.Hour, 2 * time.Hour} {
		f.clk.Add(step)
		f.dispatch()
	}
	resp, page := f.get("/cadences/ab")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /cadences/ab: %d\n%s", resp.StatusCode, page)
	}
	// How follow was entered, with the numbers.
	if want := `<td class="n" data-by="rule">1</td><td class="n" data-by="time">3</td><td class="n" data-by="no_engagement">0</td>`; !strings.Contains(row(t, page, `<tr data-stage="follow">`), want) {
		t.Errorf("follow not entered 1 by rule, 3 in time:\n%s", row(t, page, `<tr data-stage="follow">`))
	}
	// Every touch row is named by its subject (or SMS text), the id beside.
	for id, subject := range map[string]string{"welcome": "Five minutes, {FirstName}", "nudge": "Still there?", "text": "Hi {FirstName}, can we talk? Reply STOP to opt out"} {
		if want := `<th scope="row" class="touch"><span class="headline">` + subject + `</span><br><span class="muted">` + id + ` · `; !strings.HasPrefix(row(t, page, `<tr data-touch="`+id+`">`)[len(`<tr data-touch="`+id+`">`):], want) {
			t.Errorf("touch %s not named %q:\n%s", id, subject, row(t, page, `<tr data-touch="`+id+`">`))
		}
	}
	// Columns: channel, when, sent, delivered, human opens, machine opens,
	// clicks, scanner clicks, replies, bounces, skipped, uncertain.
	welcome := cells(row(t, page, `<tr data-touch="welcome">`))
	if got := strings.Join(welcome[2:11], "|"); got != "4|"+relayNoDeliveries+"|1 (25.0%)|1|1 (25.0%)|0|0 (0.0%)|0 (0.0%)|0" {
		t.Errorf("welcome cells %s", got)
	}
	// SMS: no open counts at all, no bounces, a delivered column.
	sms := cells(row(t, page, `<tr data-touch="text">`))
	if got := strings.Join(sms[2:11], "|"); got != `2|0|<span class="muted" title="SMS has no opens">—</span>|<span class="muted">—</span>|0 (0.0%)|0|0 (0.0%)|<span class="muted">—</span>|1` {
		t.Errorf("SMS cells %s", got)
	}
	// Per-variant rows: named by subject, sends as the variants were
	// chosen, a human open counted and the machine's not.
	ab := section(t, page, `<section class="card ab" id="ab-welcome"`, "</section>")
	if !strings.Contains(ab, `A/B test: <span class="headline">Five minutes, {FirstName}</span> <span class="muted">welcome · Intro</span></h3>`) {
		t.Errorf("A/B section not named by subject:\n%s", ab)
	}
	sent, opened, clicked := map[string]int{}, map[string]int{}, map[string]int{}
	welcomeTouch := f.e.Cadences()["ab"].Touch("welcome")
	for _, who := range []string{"ann", "bob", "cy", "dee"} {
		v := welcomeTouch.ChooseVariant(eids[who]).ID
		sent[v]++
		opened[v] += map[string]int{"bob": 1}[who]
		clicked[v] += map[string]int{"ann": 1}[who]
	}
	for id, subject := range map[string]string{"short": "Five minutes, {FirstName}", "story": "A story for {Company}"} {
		want := fmt.Sprintf(`<tr data-variant="%s"><th scope="row" class="touch"><span class="headline">%s</span><br><span class="muted">variant %s</span></th><td class="n">1</td><td class="n">%d</td><td class="n">%d (%s)</td><td class="n">%d (%s)</td><td class="n">0 (0.0%%)</td></tr>`,
			id, subject, id, sent[id], opened[id], pctOf(opened[id], sent[id]), clicked[id], pctOf(clicked[id], sent[id]))
		if !strings.Contains(ab, want) {
			t.Errorf("variant row %s: want\n%s\nin\n%s", id, want, ab)
		}
	}
	// One click and a human open: too few to compare, and opens never are.
	if want := `<p class="ab-note">Not enough replies or clicks yet to compare the variants (0 replies and 1 click so far; it takes 5 of either). Opens are not compared: machine opens make them unreliable.</p>`; !strings.Contains(ab, want) {
		t.Errorf("A/B note: want %s in\n%s", want, ab)
	}
	// Why: the SMS row, named by its text, with each reason and count.
	reasons := section(t, page, `<table id="reasons">`, "</table>")
	why := row(t, reasons, `<tr data-touch="text"><th scope="row" class="touch"><span class="headline">Hi {FirstName}, can we talk? Reply STOP to opt out</span>`)
	for _, want := range []string{
		`<div data-skip="no_phone">no phone number: 1</div>`,
		`<div data-deferred="sms_hours">outside SMS hours: 3</div>`,
		`<div data-held="missing_data">template data missing: 1</div>`,
	} {
		if !strings.Contains(why, want) {
			t.Errorf("reasons row lacks %s:\n%s", want, why)
		}
	}
	if strings.Count(reasons, "<tr data-touch=") != 1 {
		t.Errorf("reasons for touches that never waited:\n%s", reasons)
	}
}

const relayNoDeliveries = `<span class="muted" title="mail relays do not report deliveries">—</span>`

// section returns page from start up to and including end.
func section(t *testing.T, page, start, end string) string {
	t.Helper()
	i := strings.Index(page, start)
	if i < 0 {
		t.Fatalf("page lacks %s", start)
	}
	j := strings.Index(page[i:], end)
	if j < 0 {
		t.Fatalf("%s does not end", start)
	}
	return page[i : i+j+len(end)]
}

// row returns the table row that starts with start.
func row(t *testing.T, page, start string) string {
	t.Helper()
	return section(t, page, start, "</tr>")
}

var cellRE = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)

// cells returns a row's td contents, trimmed.
func cells(row string) []string {
	var out []string
	for _, m := range cellRE.FindAllStringSubmatch(row, -1) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

func pctOf(n, of int) string {
	if of == 0 {
		return "0.0%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// figure returns the trend figure of a flow.
func figure(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `<figure class="trend" id="trend-`+id+`"`)
	if i < 0 {
		t.Fatalf("no trend %s", id)
	}
	j := strings.Index(page[i:], "</figure>")
	return page[i : i+j]
}

package dashboard_test

import (
	"context"
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

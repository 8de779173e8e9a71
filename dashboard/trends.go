package dashboard

import (
	"fmt"
	"time"

	"github.com/nurture-dev/nurture/worker"
)

// A trend is one flow of a cadence per UTC day, drawn as a server-rendered
// SVG bar chart (no script, no chart CDN) with the numbers beside it for
// screen readers and for anyone who wants them.
type trend struct {
	ID, Title string
	Total     int64
	Max       int64
	Bars      []trendBar
	// First and Last label the x axis.
	First, Last string
}

type trendBar struct {
	X, Y, W, H float64
	Date       string
	N          int64
}

// trendWidth and trendHeight are the SVG viewBox; it scales to the card.
const trendWidth, trendHeight = 300.0, 64.0

var trendFlows = []struct {
	id, title string
	of        func(worker.DayRow) int64
}{
	{"sent", "Sent", func(d worker.DayRow) int64 { return d.Sent }},
	{"opened", "Human opens", func(d worker.DayRow) int64 { return d.Opened }},
	{"clicked", "Clicks", func(d worker.DayRow) int64 { return d.Clicked }},
	{"replied", "Replies", func(d worker.DayRow) int64 { return d.Replied }},
	{"bounced", "Bounces", func(d worker.DayRow) int64 { return d.Bounced }},
	{"unsubscribed", "Unsubscribes", func(d worker.DayRow) int64 { return d.Unsubscribed }},
}

// trends draws each flow over the days, each on its own scale (sends and
// replies differ by orders of magnitude; one scale would flatten replies).
func trends(days []worker.DayRow) []trend {
	var out []trend
	for _, f := range trendFlows {
		t := trend{ID: f.id, Title: f.title}
		for _, d := range days {
			n := f.of(d)
			t.Total += n
			t.Max = max(t.Max, n)
		}
		w := trendWidth / float64(max(len(days), 1))
		for i, d := range days {
			n := f.of(d)
			h := 0.0
			if t.Max > 0 {
				h = trendHeight * float64(n) / float64(t.Max)
			}
			if n > 0 && h < 1 {
				h = 1 // a day with any activity stays visible
			}
			t.Bars = append(t.Bars, trendBar{X: float64(i) * w, Y: trendHeight - h, W: max(w-1, 0.5), H: h, Date: d.Date, N: n})
		}
		if len(days) > 0 {
			t.First, t.Last = shortDate(days[0].Date), shortDate(days[len(days)-1].Date)
		}
		out = append(out, t)
	}
	return out
}

func shortDate(iso string) string {
	t, err := time.Parse(time.DateOnly, iso)
	if err != nil {
		return iso
	}
	return t.Format("Mon 2 Jan")
}

// trendDays reads ?days= (30 or 90, default 30).
func trendDays(v string) (int, error) {
	switch v {
	case "", "30":
		return 30, nil
	case "90":
		return 90, nil
	}
	return 0, fmt.Errorf("days=%q: choose 30 or 90", v)
}

package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatsByDay reads a cadence's flows per UTC day over HTTP: enrollments
// on the day they happened, the default range of 30 days ending today,
// and clear errors for a bad range.
func TestStatsByDay(t *testing.T) {
	h := newHarness(t)
	h.enrollIn("trial", "p1", "p1@example.com", "")
	h.clk.Add(24 * time.Hour)
	h.enrollIn("trial", "p2", "p2@example.com", "")
	h.enrollIn("trial", "p3", "p3@example.com", "")
	today := h.clk.Now().UTC().Format(time.DateOnly)
	yesterday := h.clk.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)

	var got struct {
		Cadence, From, To string
		Days              []struct {
			Date     string
			Enrolled int64
		}
	}
	resp, body := h.do("GET", "/v1/cadences/trial/stats?by=day", salesToken, "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("by=day: %d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Cadence != "trial" || got.To != today || len(got.Days) != 30 || got.Days[29].Date != today {
		t.Fatalf("default range: %s to %s, %d days", got.From, got.To, len(got.Days))
	}
	if got.Days[28].Date != yesterday || got.Days[28].Enrolled != 1 || got.Days[29].Enrolled != 2 {
		t.Errorf("enrolled per day: %+v, %+v; want 1 yesterday and 2 today", got.Days[28], got.Days[29])
	}
	resp, body = h.do("GET", "/v1/cadences/trial/stats?by=day&from="+yesterday+"&to="+yesterday, salesToken, "", nil)
	if resp.StatusCode != http.StatusOK || strings.Count(body, `"date"`) != 1 || !strings.Contains(body, `"enrolled": 1`) {
		t.Errorf("one day: %d %s", resp.StatusCode, body)
	}
	for q, want := range map[string]string{
		"by=week":                              "by=\\\"week\\\": want by=day",
		"by=day&from=2026-13-01":               "from=\\\"2026-13-01\\\": want a UTC day as YYYY-MM-DD",
		"by=day&from=2026-03-05&to=2026-03-01": "to=2026-03-01 is before from=2026-03-05",
		"by=day&from=2025-01-01&to=2026-03-01": "is 425 days; ask for at most 400 at once",
	} {
		resp, body := h.do("GET", "/v1/cadences/trial/stats?"+q, salesToken, "", nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s, want 400 with %s", q, resp.StatusCode, body, want)
		}
	}
	if resp, _ := h.do("GET", "/v1/cadences/nope/stats?by=day", salesToken, "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown cadence: %d", resp.StatusCode)
	}
	// Without by: the report, with stage moves and endings.
	resp, body = h.do("GET", "/v1/cadences/trial/stats", salesToken, "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"by_rule"`) || !strings.Contains(body, `"ends"`) {
		t.Errorf("report: %d %s", resp.StatusCode, body)
	}
}

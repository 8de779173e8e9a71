package cadence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

func TestWindowMinutes(t *testing.T) {
	w := weekdays9to5()
	// 17:30 is after the window even though 17*60-30 would not be.
	got, ok := w.NextOpen(local("America/Chicago", 2026, 3, 4, 17, 30), chicago, nil)
	if want := local("America/Chicago", 2026, 3, 5, 9, 0); !ok || !got.Equal(want) {
		t.Fatalf("NextOpen(17:30) = %v, want %v", got, want)
	}
	early := cadence.Window{Days: cadence.AllDays.Days, Start: 0, End: 60}
	got, ok = early.NextOpen(local("America/Chicago", 2026, 3, 4, 12, 15), chicago, nil)
	if want := local("America/Chicago", 2026, 3, 5, 0, 0); !ok || !got.Equal(want) {
		t.Fatalf("00:00-01:00 NextOpen(12:15) = %v, want %v", got, want)
	}
	// An SMS window that the touch's window does not overlap is empty.
	c := mustParse(t, strings.Replace(gateCadence, `send_window: {start: "00:00", end: "24:00"}`, `send_window: {start: "20:00", end: "21:00"}`, 1))
	fl := cadence.Recipient{Phone: "+13055550100", PhoneZones: cadence.ZonesForPhone("+13055550100")}
	d := gateAt(t, c, 0, fl, cadence.History{}, local("America/New_York", 2026, 3, 4, 12, 0))
	if d.Verdict != cadence.Hold || !strings.Contains(d.Reason, "window Mon,Tue,Wed,Thu,Fri,Sat,Sun 20:00-20:00 is never open") {
		t.Fatalf("%s: %q", d.Verdict, d.Reason)
	}
}

// A reason lists every zone the window was checked in.
func TestReasonNamesEachZone(t *testing.T) {
	c := mustParse(t, gateCadence)
	r := cadence.Recipient{Phone: "+17752345678", PhoneZones: []*time.Location{mustZone("America/Los_Angeles"), mustZone("America/Denver")}}
	d := gateAt(t, c, 0, r, cadence.History{}, local("America/New_York", 2026, 3, 4, 9, 0))
	if d.Verdict != cadence.Defer || !strings.HasSuffix(d.Reason, " in America/Los_Angeles, America/Denver (zone phone)") {
		t.Fatalf("%s: %q", d.Verdict, d.Reason)
	}
}

func TestDelaysAndClocks(t *testing.T) {
	for in, want := range map[string]struct {
		days, business int
		approx         time.Duration
	}{
		"2w":                 {14, 0, 14 * 24 * time.Hour},
		"2 business days":    {0, 2, 48 * time.Hour},
		"1d 2 business days": {1, 2, 72 * time.Hour},
		"3650d":              {3650, 0, 3650 * 24 * time.Hour},
	} {
		d, err := cadence.ParseDelay(in)
		if err != nil || d.Days != want.days || d.BusinessDays != want.business || d.Approx() != want.approx || d.String() != in {
			t.Errorf("ParseDelay(%q) = %+v (approx %v, %q), %v", in, d, d.Approx(), d.String(), err)
		}
	}
	if _, err := cadence.ParseDelay("3651d"); err == nil {
		t.Error("3651d accepted")
	}
	if s := (cadence.Delay{}).String(); s != "0" {
		t.Errorf("zero delay prints %q", s)
	}
	for in, want := range map[string]cadence.Clock{"00:00": 0, "08:05": 8*60 + 5, "13:47": 13*60 + 47, "24:00": 24 * 60} {
		c, err := cadence.ParseClock(in)
		if err != nil || c != want || c.String() != in {
			t.Errorf("ParseClock(%q) = %d (%q), %v", in, c, c.String(), err)
		}
	}
	for _, bad := range []string{"24:30", "25:00", "9:7"} {
		if _, err := cadence.ParseClock(bad); err == nil {
			t.Errorf("ParseClock(%q) accepted", bad)
		}
	}
	days, err := cadence.ParseWeekdays([]string{"Monday", "tuesday"})
	if err != nil || days != (cadence.Weekdays{time.Monday: true, time.Tuesday: true}) {
		t.Errorf("ParseWeekdays(Monday, tuesday) = %v, %v", days, err)
	}
}

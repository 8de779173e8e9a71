package cadence_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

func local(zone string, y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, mustZone(zone))
}

func weekdays9to5() cadence.Window {
	days, _ := cadence.ParseWeekdays([]string{"mon-fri"})
	return cadence.Window{Days: days, Start: 9 * 60, End: 17 * 60}
}

func TestParseDelay(t *testing.T) {
	cases := map[string]cadence.Delay{
		"0":               {},
		"30m":             {Duration: 30 * time.Minute},
		"2h":              {Duration: 2 * time.Hour},
		"3d":              {Days: 3},
		"1w":              {Days: 7},
		"2 business days": {BusinessDays: 2},
		"1 business day":  {BusinessDays: 1},
		"1d 12h":          {Days: 1, Duration: 12 * time.Hour},
		"90 minutes":      {Duration: 90 * time.Minute},
	}
	for in, want := range cases {
		got, err := cadence.ParseDelay(in)
		want.Text = in
		if err != nil || got != want {
			t.Errorf("ParseDelay(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"soon", "2 fortnights", "-1d", "1.5h", "d", "99999d"} {
		if _, err := cadence.ParseDelay(bad); err == nil {
			t.Errorf("ParseDelay(%q) accepted", bad)
		}
	}
}

func TestNextOpen(t *testing.T) {
	w := weekdays9to5()
	christmas := cadence.Holidays{{Year: 2026, Month: 12, Day: 25}: true}
	cases := []struct {
		name   string
		at     time.Time
		zone   string
		hol    cadence.Holidays
		window cadence.Window
		want   time.Time
	}{
		{"inside", local("America/Chicago", 2026, 3, 4, 10, 0), "America/Chicago", nil, w, local("America/Chicago", 2026, 3, 4, 10, 0)},
		{"before opening", local("America/Chicago", 2026, 3, 4, 7, 30), "America/Chicago", nil, w, local("America/Chicago", 2026, 3, 4, 9, 0)},
		{"friday evening to monday", local("America/Chicago", 2026, 3, 6, 17, 30), "America/Chicago", nil, w, local("America/Chicago", 2026, 3, 9, 9, 0)},
		{"closes mid-day: at close", local("America/Chicago", 2026, 3, 4, 17, 0), "America/Chicago", nil, w, local("America/Chicago", 2026, 3, 5, 9, 0)},
		{"holiday skipped", local("America/Chicago", 2026, 12, 24, 18, 0), "America/Chicago", christmas, w, local("America/Chicago", 2026, 12, 28, 9, 0)},
		{"evaluated in recipient zone", local("Europe/Berlin", 2026, 3, 4, 16, 0), "America/Chicago", nil, w, local("America/Chicago", 2026, 3, 4, 9, 0)},
		// 2026-03-08 02:00-03:00 does not exist in New York.
		{"spring-forward gap band skipped", local("America/New_York", 2026, 3, 8, 1, 30), "America/New_York", nil,
			cadence.Window{Days: cadence.AllDays.Days, Start: 2 * 60, End: 3 * 60}, local("America/New_York", 2026, 3, 9, 2, 0)},
		{"spring-forward: 02:30 opening moves to 03:00, the end of the gap", local("America/New_York", 2026, 3, 8, 0, 0), "America/New_York", nil,
			cadence.Window{Days: cadence.AllDays.Days, Start: 2*60 + 30, End: 5 * 60}, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
		// 2026-11-01 01:00-02:00 happens twice in New York: the first counts.
		{"fall-back overlap opens at the first 01:00", local("America/New_York", 2026, 11, 1, 0, 0), "America/New_York", nil,
			cadence.Window{Days: cadence.AllDays.Days, Start: 60, End: 90}, time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC)},
		{"arizona keeps MST in summer", time.Date(2026, 7, 1, 15, 0, 0, 0, time.UTC), "America/Phoenix", nil, w, time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.window.NextOpen(tc.at, mustZone(tc.zone), tc.hol)
			if !ok || !got.Equal(tc.want) {
				t.Fatalf("NextOpen = %v (%v), want %v", got, ok, tc.want)
			}
		})
	}
}

func TestDelayAfter(t *testing.T) {
	ny := mustZone("America/New_York")
	phx := mustZone("America/Phoenix")
	labor := cadence.Holidays{{Year: 2026, Month: 9, Day: 7}: true}
	cases := []struct {
		name  string
		delay string
		from  time.Time
		loc   *time.Location
		hol   cadence.Holidays
		want  time.Time
	}{
		{"days keep wall time across spring forward", "1d", local("America/New_York", 2026, 3, 7, 9, 0), ny, nil, local("America/New_York", 2026, 3, 8, 9, 0)},
		{"days keep wall time across fall back (25h)", "1d", local("America/New_York", 2026, 10, 31, 9, 0), ny, nil, local("America/New_York", 2026, 11, 1, 9, 0)},
		{"hours are absolute across DST", "24h", local("America/New_York", 2026, 3, 7, 9, 0), ny, nil, local("America/New_York", 2026, 3, 8, 10, 0)},
		{"arizona: 3d is 72h", "3d", local("America/Phoenix", 2026, 3, 7, 9, 0), phx, nil, local("America/Phoenix", 2026, 3, 7, 9, 0).Add(72 * time.Hour)},
		{"business day from friday", "1 business day", local("America/New_York", 2026, 9, 4, 10, 0), ny, nil, local("America/New_York", 2026, 9, 7, 10, 0)},
		{"business day skips holiday", "1 business day", local("America/New_York", 2026, 9, 4, 10, 0), ny, labor, local("America/New_York", 2026, 9, 8, 10, 0)},
		{"two business days from saturday", "2 business days", local("America/New_York", 2026, 9, 5, 10, 0), ny, nil, local("America/New_York", 2026, 9, 8, 10, 0)},
		{"mixed", "1d 2h", local("America/New_York", 2026, 9, 5, 10, 0), ny, nil, local("America/New_York", 2026, 9, 6, 12, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := cadence.ParseDelay(tc.delay)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.After(tc.from, tc.loc, tc.hol); !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNextAllowedOverlapRule(t *testing.T) {
	w := weekdays9to5()
	ny, la := mustZone("America/New_York"), mustZone("America/Los_Angeles")
	got, err := cadence.NextAllowed(local("America/New_York", 2026, 3, 4, 8, 0), w, []*time.Location{ny, la}, nil)
	if want := local("America/New_York", 2026, 3, 4, 12, 0); err != nil || !got.Equal(want) {
		t.Fatalf("overlap of NY and LA: %v %v, want %v", got, err, want)
	}
	short := cadence.Window{Days: cadence.AllDays.Days, Start: 9 * 60, End: 12 * 60}
	_, err = cadence.NextAllowed(local("America/New_York", 2026, 3, 4, 8, 0), short, []*time.Location{ny, mustZone("Asia/Tokyo")}, nil)
	if !errors.Is(err, cadence.ErrNoSendWindow) {
		t.Fatalf("Tokyo and New York mornings never overlap: got %v", err)
	}
}

func TestZonesForPhone(t *testing.T) {
	cases := map[string]string{
		"+13125550100":  "America/Chicago",
		"+16025550100":  "America/Phoenix",
		"+447911123456": "Europe/London",
	}
	for num, want := range cases {
		z := cadence.ZonesForPhone(num)
		if len(z) == 0 || !strings.Contains(fmt.Sprint(z), want) {
			t.Errorf("ZonesForPhone(%s) = %v, want it to include %s", num, z, want)
		}
	}
	if z := cadence.ZonesForPhone("+18005550100"); len(z) != 0 {
		t.Errorf("a toll-free number has no time zone, got %v", z)
	}
	if z := cadence.ZonesForPhone("+17752345678"); len(z) != 2 {
		t.Errorf("775 (Nevada) spans two zones, got %v", z)
	}
	if got := cadence.StateForPhone("+13055550100"); got != "FL" {
		t.Errorf("305 is Florida, got %q", got)
	}
}

func TestNormalizePhone(t *testing.T) {
	good := map[string]string{"(312) 555-0100": "+13125550100", "+44 7911 123456": "+447911123456", "312.555.0100": "+13125550100"}
	for in, want := range good {
		if got, err := cadence.NormalizePhone(in, "US"); err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12", "not a number", "+1 555"} {
		_, err := cadence.NormalizePhone(bad, "US")
		if !errors.Is(err, cadence.ErrInvalidPhone) {
			t.Errorf("NormalizePhone(%q): want ErrInvalidPhone, got %v", bad, err)
		}
	}
}

const gateCadence = `id: gate
name: Gate
timezone: America/Chicago
from: {email: "a@example.com", sms: "+15005550006"}
postal_address: "1 Main St"
send_window: {start: "00:00", end: "24:00"}
frequency_caps:
  email: {max: 2, per: 24h}
stages:
  - id: s1
    touches:
      - {id: text, channel: sms, template: text}
      - {id: mail, channel: email, template: mail, if: [attr.plan=team]}
templates:
  mail: {subject: "Hi", text: "Hello"}
  text: {sms: "Hello"}
`

func gateAt(t *testing.T, c *cadence.Cadence, step int, r cadence.Recipient, h cadence.History, now time.Time) cadence.Decision {
	t.Helper()
	o := c.Start(cadence.Enrollment{ID: "e"}, now.Add(-time.Hour), chicago)
	e := o.Enrollment
	if step == 1 {
		e = mustApply(t, c, e, cadence.Event{Kind: cadence.EvSent, At: now.Add(-time.Hour), Touch: "text"})
	}
	return c.Gate(&e, cadence.Claim{Stage: e.Stage, Step: e.Step, Generation: e.Generation}, &r, &h, now)
}

func TestGate(t *testing.T) {
	c := mustParse(t, gateCadence)
	ny := mustZone("America/New_York")
	nyPhone := cadence.Recipient{Phone: "+12125550100", PhoneZones: cadence.ZonesForPhone("+12125550100")}
	flPhone := cadence.Recipient{Phone: "+13055550100", PhoneZones: cadence.ZonesForPhone("+13055550100")}
	evening := local("America/New_York", 2026, 3, 4, 20, 30)
	t.Run("sms at 20:30 in New York is allowed", func(t *testing.T) {
		if d := gateAt(t, c, 0, nyPhone, cadence.History{}, evening); d.Verdict != cadence.Send {
			t.Fatalf("%s: %s", d.Verdict, d.Reason)
		}
	})
	t.Run("sms at 20:30 in Florida waits for 08:00", func(t *testing.T) {
		d := gateAt(t, c, 0, flPhone, cadence.History{}, evening)
		if d.Verdict != cadence.Defer || !d.At.Equal(local("America/New_York", 2026, 3, 5, 8, 0)) || !strings.Contains(d.Reason, "(FL)") {
			t.Fatalf("%s at %v: %s", d.Verdict, d.At, d.Reason)
		}
	})
	t.Run("sms at 21:00 anywhere waits", func(t *testing.T) {
		d := gateAt(t, c, 0, nyPhone, cadence.History{}, evening.Add(30*time.Minute))
		if d.Verdict != cadence.Defer || !d.At.Equal(local("America/New_York", 2026, 3, 5, 8, 0)) {
			t.Fatalf("%s at %v", d.Verdict, d.At)
		}
	})
	t.Run("explicit state beats area code", func(t *testing.T) {
		r := nyPhone
		r.State = "WA"
		if d := gateAt(t, c, 0, r, cadence.History{}, evening); d.Verdict != cadence.Defer {
			t.Fatalf("WA is 08:00-20:00, got %s", d.Verdict)
		}
	})
	t.Run("florida: fourth sms in 24h waits", func(t *testing.T) {
		noon := local("America/New_York", 2026, 3, 4, 12, 0)
		h := cadence.History{SMS: []time.Time{noon.Add(-20 * time.Hour), noon.Add(-10 * time.Hour), noon.Add(-time.Hour)}}
		d := gateAt(t, c, 0, flPhone, h, noon)
		if d.Verdict != cadence.Defer || !d.At.Equal(noon.Add(4*time.Hour)) || !strings.Contains(d.Reason, "FL limit of 3") {
			t.Fatalf("%s at %v: %s", d.Verdict, d.At, d.Reason)
		}
	})
	t.Run("no zone for the number holds the sms", func(t *testing.T) {
		r := cadence.Recipient{Phone: "+18005550100"}
		want := "+1 800 number: toll-free numbers have no time zone; set the prospect's timezone"
		if d := gateAt(t, c, 0, r, cadence.History{}, evening); d.Verdict != cadence.Hold || d.Reason != want {
			t.Fatalf("%s: %q, want %q", d.Verdict, d.Reason, want)
		}
	})
	t.Run("ambiguous zones use the overlap", func(t *testing.T) {
		// 775 (Nevada) spans Pacific and Mountain time: 09:00 in New York
		// is 06:00 in Los Angeles and 07:00 in Boise, before 08:00 in both.
		r := cadence.Recipient{Phone: "+17752345678", PhoneZones: cadence.ZonesForPhone("+17752345678")}
		d := gateAt(t, c, 0, r, cadence.History{}, local("America/New_York", 2026, 3, 4, 9, 0))
		if d.Verdict != cadence.Defer || len(d.Zones) < 2 {
			t.Fatalf("%s zones %v: %s", d.Verdict, d.Zones, d.Reason)
		}
	})
	t.Run("opted-out number is skipped", func(t *testing.T) {
		r := nyPhone
		r.SMSBlocked = "STOP via sms"
		if d := gateAt(t, c, 0, r, cadence.History{}, evening); d.Verdict != cadence.Skip {
			t.Fatalf("%s", d.Verdict)
		}
	})
	mail := cadence.Recipient{Email: "a@example.com", Zone: ny, Attr: map[string]string{"plan": "team"}}
	t.Run("condition not met skips", func(t *testing.T) {
		r := mail
		r.Attr = nil
		if d := gateAt(t, c, 1, r, cadence.History{}, evening); d.Verdict != cadence.Skip || !strings.Contains(d.Reason, "attr.plan=team") {
			t.Fatalf("%s: %s", d.Verdict, d.Reason)
		}
	})
	t.Run("suppressed email is skipped", func(t *testing.T) {
		r := mail
		r.EmailBlocked = "hard bounce"
		if d := gateAt(t, c, 1, r, cadence.History{}, evening); d.Verdict != cadence.Skip {
			t.Fatalf("%s", d.Verdict)
		}
	})
	t.Run("email frequency cap defers", func(t *testing.T) {
		h := cadence.History{Email: []time.Time{evening.Add(-23 * time.Hour), evening.Add(-2 * time.Hour)}}
		d := gateAt(t, c, 1, mail, h, evening)
		if d.Verdict != cadence.Defer || !d.At.Equal(evening.Add(time.Hour)) {
			t.Fatalf("%s at %v: %s", d.Verdict, d.At, d.Reason)
		}
	})
	t.Run("stale claim", func(t *testing.T) {
		o := c.Start(cadence.Enrollment{ID: "e"}, evening, chicago)
		e := o.Enrollment
		d := c.Gate(&e, cadence.Claim{Stage: "s1", Step: 0, Generation: e.Generation - 1}, &mail, nil, evening)
		if d.Verdict != cadence.Stale {
			t.Fatalf("%s", d.Verdict)
		}
	})
}

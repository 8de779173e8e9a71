package inbound_test

import (
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

func d(y int, m time.Month, day int) inbound.Date { return inbound.Date{Year: y, Month: m, Day: day} }

func TestParseReturnDate(t *testing.T) {
	us := time.FixedZone("EST", -5*3600)
	uk := time.FixedZone("GMT", 0)
	cet := time.FixedZone("CET", 3600)
	// Wednesday 9 December 2026.
	wed := func(z *time.Location) time.Time { return time.Date(2026, 12, 9, 10, 0, 0, 0, z) }
	cases := []struct {
		name string
		text string
		sent time.Time
		want inbound.Date
	}{
		{"dd/mm/yyyy", "I am out of the office until 14/12/2026.", wed(uk), d(2026, 12, 14)},
		{"mm/dd US", "Out until 12/14, back then.", wed(us), d(2026, 12, 14)},
		{"the 14th", "I'm on vacation until the 14th.", wed(us), d(2026, 12, 14)},
		{"back on Monday", "I'll be back on Monday.", wed(us), d(2026, 12, 14)},
		{"Monday on a Monday is next week", "Back Monday.", time.Date(2026, 12, 14, 9, 0, 0, 0, us), d(2026, 12, 21)},
		{"returning December 14", "Returning December 14 with limited access until then.", wed(us), d(2026, 12, 14)},
		{"back next week", "I'm away for the rest of the week and back next week.", wed(us), d(2026, 12, 14)},
		{"zurück am", "Ich bin im Urlaub und zurück am 14.12.", wed(cet), d(2026, 12, 14)},
		{"ab dem … wieder", "Ich bin bis einschließlich 11.12. nicht im Büro und ab dem 14.12. wieder erreichbar.", wed(cet), d(2026, 12, 14)},
		{"bis is inclusive", "Ich bin bis 18.12.2026 im Urlaub.", wed(cet), d(2026, 12, 19)},
		{"de retour le", "Je suis absente et serai de retour le 14 décembre.", wed(cet), d(2026, 12, 14)},
		{"jusqu'au … inclus", "En congés jusqu'au 3 janvier inclus.", wed(cet), d(2027, 1, 4)},
		{"du … au", "Je suis en déplacement du 10 au 18 décembre.", wed(cet), d(2026, 12, 19)},
		{"de vuelta el", "Estaré de vuelta el 14 de diciembre.", wed(cet), d(2026, 12, 14)},
		{"hasta el", "Estoy de vacaciones hasta el 7 de enero.", wed(cet), d(2027, 1, 8)},
		{"del … al", "Estaré ausente del 10 al 17 de diciembre.", wed(cet), d(2026, 12, 18)},
		{"ISO", "Away; I will return on 2027-01-04.", wed(uk), d(2027, 1, 4)},
		{"back in two weeks", "I'm on leave and back in two weeks.", wed(uk), d(2026, 12, 23)},
		{"for 3 days", "I'm out of the office for 3 days.", wed(uk), d(2026, 12, 12)},
		{"back tomorrow", "Out today, back tomorrow.", wed(uk), d(2026, 12, 10)},
		{"through is inclusive", "Out of office through January 3rd, 2027.", wed(us), d(2027, 1, 4)},
		{"range is inclusive", "I will be out of the office from December 14 to December 21.", wed(us), d(2026, 12, 22)},
		{"return beats until", "Closed from December 24 through January 1. I'll be back on Monday January 4th.", wed(us), d(2027, 1, 4)},
		{"year rollover: month name", "Back on January 5.", time.Date(2026, 12, 28, 9, 0, 0, 0, us), d(2027, 1, 5)},
		{"year rollover: dd/mm", "I will be back on 04/01.", time.Date(2026, 12, 21, 9, 0, 0, 0, uk), d(2027, 1, 4)},
		{"year rollover: mm/dd", "Back 1/4, happy holidays.", time.Date(2026, 12, 21, 9, 0, 0, 0, us), d(2027, 1, 4)},
		{"year rollover: the 4th", "Away until the 4th.", time.Date(2026, 12, 21, 9, 0, 0, 0, us), d(2027, 1, 4)},
		{"ambiguous: only one soon (dd/mm)", "Back on 05/01.", time.Date(2026, 12, 28, 9, 0, 0, 0, us), d(2027, 1, 5)},
		{"ambiguous: both soon, US offset → mm/dd", "Back on 1/2.", time.Date(2026, 12, 20, 9, 0, 0, 0, us), d(2027, 1, 2)},
		{"ambiguous: both soon, UK offset → dd/mm", "Back on 1/2.", time.Date(2026, 12, 20, 9, 0, 0, 0, uk), d(2027, 2, 1)},
		{"ambiguous: both soon, French → dd/mm", "De retour le 1/2.", time.Date(2026, 12, 20, 9, 0, 0, 0, time.FixedZone("", -5*3600)), d(2027, 2, 1)},
		{"invalid 31/02", "Out of office until 31/02.", wed(uk), inbound.Date{}},
		{"invalid 30 February", "Back on February 30.", wed(us), inbound.Date{}},
		{"past date", "I was back on 2026-11-02.", wed(us), inbound.Date{}},
		{"too far", "Back on 2028-06-01.", wed(us), inbound.Date{}},
		{"no date", "I'm out of the office with limited access to email.", wed(us), inbound.Date{}},
		{"time is not a date", "Termin bis 9.30 Uhr, back tomorrow.", wed(cet), d(2026, 12, 10)},
		{"phone number is not a date", "Call 020 7946 0321 until then.", wed(uk), inbound.Date{}},
		{"weekday until (en)", "I'm OOO until Monday.", wed(us), d(2026, 12, 14)},
		{"jusqu'à lundi (inclusive)", "Je suis absent jusqu'à lundi.", wed(cet), d(2026, 12, 15)},
	}
	if len(cases) < 25 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		got, phrase := inbound.ParseReturnDate(c.text, c.sent)
		if got != c.want {
			t.Errorf("%s: ParseReturnDate(%q) = %v (from %q), want %v", c.name, c.text, got, phrase, c.want)
		}
		if !got.IsZero() && phrase == "" {
			t.Errorf("%s: a date without the phrase it came from", c.name)
		}
	}
}

func TestDate(t *testing.T) {
	x := d(2026, 12, 31)
	if x.AddDays(1) != d(2027, 1, 1) || x.String() != "2026-12-31" || x.Weekday() != time.Thursday {
		t.Fatalf("%v %v %v", x.AddDays(1), x.String(), x.Weekday())
	}
	ny, _ := time.LoadLocation("America/New_York")
	if got := d(2026, 12, 14).At(8, 30, ny); got.Format(time.RFC3339) != "2026-12-14T08:30:00-05:00" {
		t.Fatal(got)
	}
	if !d(2026, 12, 14).Before(d(2026, 12, 15)) || d(2026, 12, 14).After(d(2026, 12, 15)) || !(inbound.Date{}).IsZero() {
		t.Fatal("ordering")
	}
	b, _ := x.MarshalText()
	var y inbound.Date
	if err := y.UnmarshalText(b); err != nil || y != x {
		t.Fatalf("round trip %q → %v %v", b, y, err)
	}
	if got := inbound.DateOf(time.Date(2026, 12, 14, 23, 30, 0, 0, time.FixedZone("", -8*3600))); got != d(2026, 12, 14) {
		t.Fatalf("DateOf uses the time's own zone: %v", got)
	}
}

package inbound_test

import (
	"net/mail"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

// More return dates: every expression also where it is not the first of its
// kind in the text, text that starts with the date, the bounds of the US
// offsets, of "soon" (60 days) and of "plausible" (366 days), ties, and the
// phrase quoted.
func TestParseReturnDateMore(t *testing.T) {
	us := time.FixedZone("EST", -5*3600)
	uk := time.FixedZone("GMT", 0)
	cet := time.FixedZone("CET", 3600)
	wed := func(z *time.Location) time.Time { return time.Date(2026, 12, 9, 10, 0, 0, 0, z) }
	dec20 := func(offset int) time.Time { return time.Date(2026, 12, 20, 9, 0, 0, 0, time.FixedZone("", offset)) }
	for _, c := range []struct {
		text   string
		sent   time.Time
		want   string
		phrase string
	}{
		{"Away from 2026-12-10, I will return on 2026-12-14.", wed(uk), "2026-12-14", "Away from 2026-12-10, I will return on 2026-12-14"},
		{"Away from 10-12-2026, back on 14-12-2026.", wed(uk), "2026-12-14", "Away from 10-12-2026, back on 14-12-2026"},
		{"Away from 10 December, back on 14 December.", wed(uk), "2026-12-14", "Away from 10 December, back on 14 December."},
		{"Away from the 10th, back on the 14th.", wed(uk), "2026-12-14", "Away from the 10th, back on the 14th"},
		{"The end of the month is busy; I'm away and back at the end of the month.", wed(uk), "2027-01-01", "I'm away and back at the end of the month"},
		{"Away from Thursday, back on Monday.", wed(uk), "2026-12-14", "Away from Thursday, back on Monday"},
		{"Tomorrow is busy. I'm back tomorrow.", wed(uk), "2026-12-10", "I'm back tomorrow"},
		{"In 3 days I start my leave and I'm back in 2 weeks.", wed(uk), "2026-12-23", "In 3 days I start my leave and I'm back in 2 weeks"},
		{"I'm away for the rest of this week. Off this week, sorry.", wed(uk), "2026-12-14", "Off this week"},
		{"I'm out of the office for 2 weeks.", wed(uk), "2026-12-23", "I'm out of the office for 2 weeks"},
		{"Thanks for your email! Meeting today. I'm out until the 14th.", wed(uk), "2026-12-14", "I'm out until the 14th"},
		{"Out Thursday - Monday.", wed(uk), "2026-12-15", "Out Thursday - Monday"},
		{"Back on 2027-12-10.", wed(uk), "2027-12-10", "Back on 2027-12-10"}, // 366 days
		{"Back on 2027-12-11.", wed(uk), "", ""}, // 367
		{"Out until the 14th; the team is out until the 18th.", wed(uk), "2026-12-14", "Out until the 14th"},
		{"Back on 31/12.", wed(uk), "2026-12-31", "Back on 31/12."},
		{"Back on 1/2.", dec20(-10 * 3600), "2027-01-02", "Back on 1/2."},      // Hawaii: month first
		{"Back on 1/2.", dec20(-10*3600 - 1800), "2027-02-01", "Back on 1/2."}, // west of it: day first
		{"Back on 1/2.", dec20(-3*3600 - 1800), "2027-01-02", "Back on 1/2."},  // Newfoundland: month first
		{"Back on 1/2.", dec20(-3 * 3600), "2027-02-01", "Back on 1/2."},       // east of it: day first
		{"Back on 7/2.", wed(us), "2027-02-07", "Back on 7/2."},                // 7 Feb is 60 days away: soon
		{"Back on 8/2.", wed(us), "2027-08-02", "Back on 8/2."},                // 61: US convention
		{"2026-12-14 wieder im Büro.", wed(cet), "2026-12-14", "2026-12-14"},   // the date opens the text
		{"Montag wieder im Büro.", wed(cet), "2026-12-14", "Montag"},           // so does the weekday
		// An IP address is not a date, next to a return word or not.
		{"Out of office. While I'm away the VPN is reachable at 10.1.0.1 as usual.", wed(uk), "", ""},
		{"Out of office. While I'm away the VPN is reachable at 10.1.9.1 as usual.", wed(uk), "", ""},
		// An implausible duration does not hide the next one.
		{"I'm on sabbatical for 99 weeks, and out of the office for 2 weeks first.", wed(uk), "2026-12-23", "I'm on sabbatical for 99 weeks, and out of the office for 2 weeks"},
		// The phrase keeps a clause of exactly 60 bytes before the date whole.
		{"We all flew to the annual offsite in Lisbon and are back on Monday.", wed(uk), "2026-12-14", "We all flew to the annual offsite in Lisbon and are back on Monday"},
		{"I am currently travelling for a conference with a lot of colleagues from all over the world and will be back on Monday.", wed(uk), "2026-12-14", "of colleagues from all over the world and will be back on Monday"},
	} {
		got, phrase := inbound.ParseReturnDate(c.text, c.sent)
		if got.String() != c.want || phrase != c.phrase {
			t.Errorf("ParseReturnDate(%q) = %v %q, want %s %q", c.text, got, phrase, c.want, c.phrase)
		}
	}
}

// TestFollowUpDates: when a "not now" reply asks to be contacted again.
func TestFollowUpDates(t *testing.T) {
	const dec, feb, may, jun = "Wed, 09 Dec 2026 10:00:00 -0500", "Mon, 16 Feb 2026 10:00:00 -0500", "Fri, 15 May 2026 10:00:00 -0400", "Mon, 15 Jun 2026 10:00:00 -0400"
	const sep = "Tue, 15 Sep 2026 10:00:00 -0400"
	for _, c := range []struct{ text, date, want, phrase string }{
		{"Not right now, try again in Q2.", dec, "2027-04-01", "Q2"},
		{"Q4 is busy - not right now; try me in Q1.", dec, "2027-01-01", "Q1"},
		{"Not right now, maybe in Q4.", dec, "", ""}, // the quarter we are in
		{"Second quarter would be better - not right now.", dec, "2027-04-01", "Second quarter"},
		{"Ahora no, hablemos en el segundo trimestre.", dec, "2027-04-01", "segundo trimestre"},
		{"Pas maintenant, recontactez-moi au troisième trimestre.", dec, "2027-07-01", "troisième trimestre"},
		{"Not right now, try again in Q2.", feb, "2026-04-01", "Q2"},
		{"Not right now, try again in Q3.", feb, "2026-07-01", "Q3"},
		{"Not right now, try again in Q1.", feb, "", ""},
		{"Not right now, try again in Q4.", may, "2026-10-01", "Q4"},
		{"Not right now, check back next quarter.", dec, "2027-01-01", "next quarter"},
		{"Not right now, check back next quarter.", may, "2026-07-01", "next quarter"},
		{"Not right now, check back next quarter.", feb, "2026-04-01", "next quarter"},
		{"Not now - next year.", dec, "2027-01-01", "next year"},
		{"Not right now, check back next month.", dec, "2027-01-01", "next month"},
		{"Not right now, check back in 3 months.", dec, "2027-03-09", "in 3 months"},
		{"Not right now, check back in September.", jun, "2026-09-01", "in September"},
		{"Not right now, check back in June.", jun, "2027-06-01", "in June"}, // this month: next year's
		{"Not right now, check back after the summer.", jun, "2026-09-01", "after the summer"},
		{"Not right now, check back after the holidays.", dec, "2027-01-04", "after the holidays"},
		{"Not right now, check back after the holidays.", sep, "2027-01-04", "after the holidays"},
		{"Not right now, try again in a few weeks.", dec, "2026-12-30", "in a few weeks"},
		{"Not right now, check back in a couple of months.", dec, "2027-02-09", "in a couple of months"},
		{"Not right now, check back in 2 months.", dec, "2027-02-09", "in 2 months"},
		{"Not right now, try again in 2 weeks.", dec, "2026-12-23", "in 2 weeks"},
		{"Not right now, maybe in the summer.", dec, "2027-06-01", "summer"},
		{"Summer would be better - not right now.", dec, "2027-06-01", "Summer"},
		{"Not right now - maybe next month, or next year.", may, "2026-06-01", "next month"},
		{"Not right now. We might switch within 18 months; try again in 6 weeks.", dec, "2027-01-20", "in 6 weeks"},
	} {
		r := inbound.ClassifyReply("Re: hi", c.text, mail.Header{"From": {"Dana <dana@brightlane.io>"}, "Date": {c.date}})
		if r.Class != inbound.ClassNotNow || r.Until.String() != c.want || r.UntilPhrase != c.phrase {
			t.Errorf("%q sent %s: %s %v %q, want not_now %s %q", c.text, c.date, r.Class, r.Until, r.UntilPhrase, c.want, c.phrase)
		}
	}
}

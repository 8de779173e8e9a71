package cadence_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// TestSMSCapsAgainstStateCaps: the cadence's SMS cap and a state's 3 per
// 24 h (FL, OK, MD): the state's replaces the cadence's when it is
// stricter in count or the cadence's period is shorter than a day, never
// otherwise; a cadence cap applies in every state.
func TestSMSCapsAgainstStateCaps(t *testing.T) {
	ny := cadence.Recipient{Phone: "+12125550100", PhoneZones: cadence.ZonesForPhone("+12125550100")}
	fl := cadence.Recipient{Phone: "+13055550100", PhoneZones: cadence.ZonesForPhone("+13055550100")}
	noon := local("America/New_York", 2026, 3, 4, 12, 0)
	ago := func(hours ...int) cadence.History {
		var h cadence.History
		for _, n := range hours {
			h.SMS = append(h.SMS, noon.Add(-time.Duration(n)*time.Hour))
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		cp      *cadence.Cap
		r       cadence.Recipient
		h       cadence.History
		verdict cadence.Verdict
		at      time.Time
		reason  string
	}{
		{"cadence cap outside the capped states", &cadence.Cap{Max: 1, Per: 24 * time.Hour}, ny, ago(2), cadence.Defer, noon.Add(22 * time.Hour), "frequency cap 1 per 24h0m0s"},
		{"no cadence cap outside the capped states", nil, ny, ago(20, 10, 1), cadence.Send, noon, ""},
		{"state cap with no cadence cap", nil, fl, ago(20, 10, 1), cadence.Defer, noon.Add(4 * time.Hour), "FL limit of 3 marketing SMS per 24h"},
		{"longer cadence period is kept", &cadence.Cap{Max: 1, Per: 48 * time.Hour}, fl, ago(44), cadence.Defer, noon.Add(4 * time.Hour), "frequency cap 1 per 48h0m0s"},
		{"equal cadence cap is kept", &cadence.Cap{Max: 3, Per: 24 * time.Hour}, fl, ago(20, 10, 1), cadence.Defer, noon.Add(4 * time.Hour), "frequency cap 3 per 24h0m0s"},
		{"stricter cadence count is kept", &cadence.Cap{Max: 2, Per: 24 * time.Hour}, fl, ago(20, 1), cadence.Defer, noon.Add(4 * time.Hour), "frequency cap 2 per 24h0m0s"},
		{"looser cadence count gives way", &cadence.Cap{Max: 5, Per: 24 * time.Hour}, fl, ago(20, 10, 1), cadence.Defer, noon.Add(4 * time.Hour), "FL limit of 3 marketing SMS per 24h"},
		{"shorter cadence period gives way", &cadence.Cap{Max: 2, Per: 12 * time.Hour}, fl, ago(20, 15, 1), cadence.Defer, noon.Add(4 * time.Hour), "FL limit of 3 marketing SMS per 24h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, gateCadence)
			delete(c.Caps, cadence.SMS)
			if tc.cp != nil {
				c.Caps[cadence.SMS] = *tc.cp
			}
			d := gateAt(t, c, 0, tc.r, tc.h, noon)
			if d.Verdict != tc.verdict || !d.At.Equal(tc.at) || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("%s at %v: %q; want %s at %v: %q", d.Verdict, d.At, d.Reason, tc.verdict, tc.at, tc.reason)
			}
		})
	}
}

// A history the window and the cap can never agree on (sends booked an
// hour apart into the future) ends in a hold, not an endless search.
func TestNextSendTimeGivesUp(t *testing.T) {
	c := mustParse(t, gateCadence)
	c.Caps[cadence.SMS] = cadence.Cap{Max: 1, Per: time.Hour}
	ny := cadence.Recipient{Phone: "+12125550100", PhoneZones: cadence.ZonesForPhone("+12125550100")}
	noon := local("America/New_York", 2026, 3, 4, 12, 0)
	var h cadence.History
	for i := 0; i < 24*10; i++ {
		h.SMS = append(h.SMS, noon.Add(time.Duration(i)*time.Hour))
	}
	d := gateAt(t, c, 0, ny, h, noon)
	if d.Verdict != cadence.Hold || !strings.Contains(d.Reason, "no send time satisfies") {
		t.Fatalf("%s at %v: %s", d.Verdict, d.At, d.Reason)
	}
}

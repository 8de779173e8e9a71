package cadence_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/nurture-dev/nurture/cadence"
)

// TestNonGeographicNumbersHaveNoZone: service numbers ring anywhere, so they
// yield no zone (an SMS to one is held), with the reason the hold shows;
// geographic numbers, including the area codes that sit among them, keep
// theirs.
func TestNonGeographicNumbersHaveNoZone(t *testing.T) {
	cases := []struct {
		phone string
		why   string // "" for a geographic number
		zone  string // one zone a geographic number must give
	}{
		{"+18005550100", "+1 800 number: toll-free numbers have no time zone", ""},
		{"+18335550100", "+1 833 number: toll-free numbers have no time zone", ""},
		{"+18445550100", "+1 844 number: toll-free numbers have no time zone", ""},
		{"+18555550100", "+1 855 number: toll-free numbers have no time zone", ""},
		{"+18665550100", "+1 866 number: toll-free numbers have no time zone", ""},
		{"+18775550100", "+1 877 number: toll-free numbers have no time zone", ""},
		{"+18885550100", "+1 888 number: toll-free numbers have no time zone", ""},
		{"+18225550100", "+1 822 number: toll-free numbers have no time zone", ""},
		{"+19005550100", "+1 900 number: premium-rate numbers have no time zone", ""},
		{"+15005550100", "+1 500 number: personal (5XX) numbers have no time zone", ""},
		{"+15215550100", "+1 521 number: personal (5XX) numbers have no time zone", ""},
		{"+15335550100", "+1 533 number: personal (5XX) numbers have no time zone", ""},
		{"+15445550100", "+1 544 number: personal (5XX) numbers have no time zone", ""},
		{"+17005550100", "+1 700 number: carrier-service numbers have no time zone", ""},
		{"+16005550100", "+1 600 number: Canadian non-geographic numbers have no time zone", ""},
		{"+80012345678", "+800 number: international freephone numbers have no time zone", ""},
		{"+80812345678", "+808 number: international shared-cost numbers have no time zone", ""},
		// Geographic numbers next to them.
		{"+15305550100", "", "America/Los_Angeles"}, // 530 is California
		{"+15315550100", "", "America/Chicago"},     // 531 is Nebraska
		{"+18015550100", "", "America/Denver"},      // 801 is Utah
		{"+19075550100", "", "America/Anchorage"},   // 907 is Alaska
		{"+13125550100", "", "America/Chicago"},
		{"+14165550100", "", "America/Toronto"},
		{"+18095550100", "", "America/Santo_Domingo"}, // +1 809 is the Dominican Republic
		{"+447911123456", "", "Europe/London"},
		{"+8613812345678", "", "Asia/Shanghai"}, // +86: not +8 00
		{"+88612345678", "", "Asia/Taipei"},     // +886 Taiwan: not +888
	}
	for _, tc := range cases {
		got := cadence.NonGeographic(tc.phone)
		zones := cadence.ZonesForPhone(tc.phone)
		if got != tc.why {
			t.Errorf("NonGeographic(%s) = %q, want %q", tc.phone, got, tc.why)
		}
		if tc.why != "" {
			if len(zones) != 0 {
				t.Errorf("ZonesForPhone(%s) = %d zones (%v), want none", tc.phone, len(zones), zones)
			}
			if r := cadence.NoZoneReason(tc.phone); r != tc.why {
				t.Errorf("NoZoneReason(%s) = %q, want %q", tc.phone, r, tc.why)
			}
			continue
		}
		if !strings.Contains(fmt.Sprint(zones), tc.zone) || len(zones) > 3 {
			t.Errorf("ZonesForPhone(%s) = %v, want %s", tc.phone, zones, tc.zone)
		}
	}
	if r := cadence.NoZoneReason("+99912345678"); r != "no time zone could be resolved for +99912345678" {
		t.Errorf("NoZoneReason of an unknown number: %q", r)
	}
}

// TestNonGeographicAgreesWithTheMetadata checks the area-code table against
// the phone-number metadata for every area code: each one the metadata
// types as toll-free, premium-rate, personal, VoIP or UAN (and gives every
// zone of the plan) is in the table, and none in the table is a number the
// metadata places.
func TestNonGeographicAgreesWithTheMetadata(t *testing.T) {
	nonGeo := map[phonenumbers.PhoneNumberType]bool{phonenumbers.TOLL_FREE: true, phonenumbers.PREMIUM_RATE: true,
		phonenumbers.PERSONAL_NUMBER: true, phonenumbers.VOIP: true, phonenumbers.UAN: true, phonenumbers.SHARED_COST: true}
	table := 0
	for npa := 200; npa <= 999; npa++ {
		for _, line := range []string{"2345678", "5550100", "9876543"} {
			e164 := fmt.Sprintf("+1%d%s", npa, line)
			num, err := phonenumbers.Parse(e164, "")
			if err != nil {
				t.Fatal(err)
			}
			valid, typ := phonenumbers.IsValidNumber(num), phonenumbers.GetNumberType(num)
			ours := cadence.NonGeographic(e164) != ""
			if ours && line == "2345678" {
				table++
			}
			switch {
			case valid && nonGeo[typ] && !ours:
				t.Errorf("%s: the metadata says type %v (no place), NonGeographic says geographic", e164, typ)
			case valid && !nonGeo[typ] && ours:
				t.Errorf("%s: the metadata places it (type %v), NonGeographic says non-geographic", e164, typ)
			}
		}
	}
	if table < 40 {
		t.Errorf("only %d non-geographic area codes", table)
	}
}

// TestTollFreeDayArithmetic: without a zone of its own, a toll-free
// prospect's business days are the cadence's, not America/Adak's (the first
// of the 42 zones the metadata gave).
func TestTollFreeDayArithmetic(t *testing.T) {
	c := mustParse(t, gateCadence)
	r := cadence.Recipient{Phone: "+18005550100", PhoneZones: cadence.ZonesForPhone("+18005550100")}
	if got := c.ZoneFor(&r); got != c.Zone {
		t.Errorf("ZoneFor a toll-free prospect = %v, want the cadence zone %v", got, c.Zone)
	}
	r.Zone = time.UTC
	if got := c.ZoneFor(&r); got != time.UTC {
		t.Errorf("ZoneFor with an explicit zone = %v", got)
	}
}

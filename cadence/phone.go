package cadence

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone parses a phone number written by a person or a CRM and
// returns it in E.164. Numbers without a country code are read in
// defaultRegion (ISO 3166 code, e.g. "US").
func NormalizePhone(raw, defaultRegion string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidPhone)
	}
	num, err := phonenumbers.Parse(raw, defaultRegion)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidPhone, raw, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: %q is not a valid number", ErrInvalidPhone, raw)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// nanpNonGeographic are the North American area codes that name a service,
// not a place: the number can ring anywhere, so it says nothing of the
// recipient's time zone. (The phone-number metadata gives such numbers
// every one of the plan's 42 zones.) Values say what they are.
var nanpNonGeographic = func() map[string]string {
	m := map[string]string{}
	add := func(kind string, codes ...int) {
		for _, c := range codes {
			m[strconv.Itoa(c)] = kind
		}
	}
	// In service, then reserved for toll-free growth.
	add("toll-free", 800, 833, 844, 855, 866, 877, 888, 822, 880, 881, 882, 883, 884, 885, 886, 887, 889)
	add("premium-rate", 900)
	// 5XX personal communications services. 530 (California) and 531
	// (Nebraska) sit in that range and are geographic.
	add("personal (5XX)", 500, 521, 522, 523, 524, 525, 526, 527, 528, 529, 532, 533, 535, 538, 542, 543,
		544, 545, 546, 547, 549, 550, 552, 553, 554, 556, 558, 566, 569, 577, 578, 588, 589)
	add("carrier-service", 700)
	add("US government", 710)
	add("inbound international", 456)
	add("Canadian non-geographic", 600, 622, 633)
	return m
}()

// intlNonGeographic are the ITU's country codes without a country (they
// have no time zone either).
var intlNonGeographic = map[string]string{
	"800": "international freephone", "808": "international shared-cost", "979": "international premium-rate",
	"870": "Inmarsat", "878": "universal personal", "881": "satellite", "882": "international network",
	"883": "international network", "888": "humanitarian (OCHA)",
}

// NonGeographic says why an E.164 number has no time zone when it is a
// toll-free, premium-rate, personal or other service number ("+1 800
// number: toll-free numbers have no time zone"), and returns "" for any
// other number. ZonesForPhone returns no zones for such numbers, so an SMS
// to one is held until the prospect's own timezone is set.
func NonGeographic(e164 string) string {
	if len(e164) == 12 && strings.HasPrefix(e164, "+1") {
		if kind, ok := nanpNonGeographic[e164[2:5]]; ok {
			return "+1 " + e164[2:5] + " number: " + kind + " numbers have no time zone"
		}
		return ""
	}
	if len(e164) > 4 && e164[0] == '+' {
		if kind, ok := intlNonGeographic[e164[1:4]]; ok {
			return "+" + e164[1:4] + " number: " + kind + " numbers have no time zone"
		}
	}
	return ""
}

// NoZoneReason explains why no time zone could be found for a number (for
// a hold), without the advice to set the prospect's timezone.
func NoZoneReason(e164 string) string {
	if why := NonGeographic(e164); why != "" {
		return why
	}
	return "no time zone could be resolved for " + e164
}

// ZonesForPhone returns the IANA zones an E.164 number may be in, from its
// country and area code. An unknown number, and a non-geographic one (see
// NonGeographic), returns none.
func ZonesForPhone(e164 string) []*time.Location {
	if NonGeographic(e164) != "" {
		return nil
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil
	}
	var out []*time.Location
	for _, n := range names {
		if n == "" || strings.HasPrefix(n, "Etc/") {
			continue
		}
		if loc, err := time.LoadLocation(n); err == nil {
			out = append(out, loc)
		}
	}
	return out
}

// strictSMSStates have 08:00-20:00 SMS hours; the first three also cap
// marketing SMS at three per rolling 24 hours (COMPLIANCE.md 7).
var strictSMSStates = map[string]bool{"FL": true, "OK": true, "MD": true, "WA": true}

// capped24hStates cap marketing SMS at 3 per rolling 24 hours.
var capped24hStates = map[string]bool{"FL": true, "OK": true, "MD": true}

// areaCodeStates maps North American area codes of the states with stricter
// SMS rules to the state.
var areaCodeStates = func() map[int]string {
	m := map[int]string{}
	add := func(state string, codes ...int) {
		for _, c := range codes {
			m[c] = state
		}
	}
	add("FL", 239, 305, 321, 324, 352, 386, 407, 448, 561, 645, 656, 689, 727, 728, 754, 772, 786, 813, 850, 863, 904, 941, 954)
	add("OK", 405, 539, 572, 580, 918)
	add("MD", 227, 240, 301, 410, 443, 667)
	add("WA", 206, 253, 360, 425, 509, 564)
	return m
}()

// StateForPhone returns the US state (two letters) of a +1 number's area
// code when it is one of the states with stricter SMS rules, else "".
func StateForPhone(e164 string) string {
	if !strings.HasPrefix(e164, "+1") || len(e164) != 12 {
		return ""
	}
	code, err := strconv.Atoi(e164[2:5])
	if err != nil {
		return ""
	}
	return areaCodeStates[code]
}

// SMSWindow returns the legal band for marketing SMS in a state: 08:00-21:00,
// or 08:00-20:00 in FL, OK, MD and WA (COMPLIANCE.md 6-7).
func SMSWindow(state string) Window {
	w := Window{Days: AllDays.Days, Start: 8 * 60, End: 21 * 60}
	if strictSMSStates[strings.ToUpper(state)] {
		w.End = 20 * 60
	}
	return w
}

// SMSDailyCap returns the rolling-24h cap on marketing SMS in a state, or 0
// when the state sets none.
func SMSDailyCap(state string) int {
	if capped24hStates[strings.ToUpper(state)] {
		return 3
	}
	return 0
}

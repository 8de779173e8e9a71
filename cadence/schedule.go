package cadence

import (
	"fmt"
	"time"
)

// Window is a weekly send window in local wall-clock time: the days it is
// open and the minutes [Start, End) of those days.
type Window struct {
	Days  Weekdays
	Start Clock
	End   Clock
}

// AllDays is a window open all day, every day.
var AllDays = Window{Days: Weekdays{true, true, true, true, true, true, true}, Start: 0, End: 24 * 60}

func (w Window) String() string {
	return w.Days.String() + " " + w.Start.String() + "-" + w.End.String()
}

// Intersect returns the window open when both are.
func (w Window) Intersect(o Window) Window {
	var out Window
	for d := range w.Days {
		out.Days[d] = w.Days[d] && o.Days[d]
	}
	out.Start, out.End = max(w.Start, o.Start), min(w.End, o.End)
	return out
}

// Empty reports whether the window is never open.
func (w Window) Empty() bool {
	if w.End <= w.Start {
		return true
	}
	for _, open := range w.Days {
		if open {
			return false
		}
	}
	return true
}

func minuteOfDay(t time.Time) Clock {
	return Clock(t.Hour()*60 + t.Minute())
}

// Holidays is a set of civil dates on which nothing is sent.
type Holidays map[Date]bool

// Contains reports whether t's local date is a holiday.
func (h Holidays) Contains(t time.Time) bool {
	return len(h) > 0 && h[DateOf(t)]
}

// Contains reports whether local time t (in its own zone) is inside the
// window and not on a holiday.
func (w Window) Contains(t time.Time, h Holidays) bool {
	m := minuteOfDay(t)
	return w.Days[t.Weekday()] && m >= w.Start && m < w.End && !h.Contains(t)
}

// horizon bounds every search for an allowed time.
const horizon = 60 * 24 * time.Hour

// NextOpen returns the earliest instant at or after t that is inside the
// window on a non-holiday, evaluated in loc. On a spring-forward day an
// opening time that does not exist moves to the first minute that does.
func (w Window) NextOpen(t time.Time, loc *time.Location, h Holidays) (time.Time, bool) {
	if w.Empty() {
		return time.Time{}, false
	}
	local := t.In(loc)
	if w.Contains(local, h) {
		return t, true
	}
	y, mo, d := local.Date()
	for i := 0; i <= 60; i++ {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, loc)
		if !w.Days[day.Weekday()] || h.Contains(day) {
			continue
		}
		open := wallTime(y, mo, d+i, int(w.Start)/60, int(w.Start)%60, 0, 0, loc)
		closeAt := wallTime(y, mo, d+i, int(w.End)/60, int(w.End)%60, 0, 0, loc)
		if w.End == 24*60 {
			closeAt = time.Date(y, mo, d+i+1, 0, 0, 0, 0, loc)
		}
		// A band that falls wholly in a spring-forward gap does not exist
		// that day.
		if !closeAt.After(t) || !open.Before(closeAt) {
			continue
		}
		if open.Before(t) {
			// t is inside the day's band but was not Contains (holiday
			// handled above), so only DST shifts land here.
			return t, true
		}
		return open, true
	}
	return time.Time{}, false
}

// NextAllowed returns the earliest instant at or after t at which w is open
// in every zone of zones (the overlap rule for a number whose zone is
// ambiguous). It returns ErrNoSendWindow if the zones' windows never
// overlap within 60 days.
func NextAllowed(t time.Time, w Window, zones []*time.Location, h Holidays) (time.Time, error) {
	if len(zones) == 0 {
		return time.Time{}, fmt.Errorf("%w: no time zone for the recipient", ErrNoSendWindow)
	}
	start := t
	for iter := 0; iter < 256; iter++ {
		moved := false
		for _, z := range zones {
			n, ok := w.NextOpen(t, z, h)
			if !ok {
				return time.Time{}, fmt.Errorf("%w: window %s never opens in %s", ErrNoSendWindow, w, z)
			}
			if n.After(t) {
				t, moved = n, true
			}
		}
		if !moved {
			return t, nil
		}
		if t.Sub(start) > horizon {
			break
		}
	}
	return time.Time{}, fmt.Errorf("%w: window %s does not overlap in %s within 60 days", ErrNoSendWindow, w, zoneNames(zones))
}

func zoneNames(zones []*time.Location) string {
	s := ""
	for i, z := range zones {
		if i > 0 {
			s += ", "
		}
		s += z.String()
	}
	return s
}

// AddBusinessDays moves n business days (Monday to Friday, not holidays)
// forward from t in loc, keeping the wall-clock time.
func AddBusinessDays(t time.Time, n int, loc *time.Location, h Holidays) time.Time {
	local := t.In(loc)
	y, mo, d := local.Date()
	hh, mm, ss := local.Clock()
	for i := 1; n > 0; i++ {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, loc)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday || h.Contains(day) {
			continue
		}
		n--
		if n == 0 {
			return wallTime(y, mo, d+i, hh, mm, ss, local.Nanosecond(), loc)
		}
	}
	return t
}

// After returns when a delay started at t ends. Calendar and business days
// keep the recipient's local wall-clock time (3d after 09:00 is 09:00, DST
// or not); hours and minutes are absolute.
func (d Delay) After(t time.Time, loc *time.Location, h Holidays) time.Time {
	if d.Days != 0 {
		local := t.In(loc)
		y, mo, day := local.Date()
		hh, mm, ss := local.Clock()
		t = wallTime(y, mo, day+d.Days, hh, mm, ss, local.Nanosecond(), loc)
	}
	if d.BusinessDays != 0 {
		t = AddBusinessDays(t, d.BusinessDays, loc, h)
	}
	return t.Add(d.Duration)
}

// Approx returns the delay as a duration, counting a business day as a day.
func (d Delay) Approx() time.Duration {
	return d.Duration + time.Duration(d.Days+d.BusinessDays)*24*time.Hour
}

// wallTime is time.Date, except that a wall-clock time inside a
// spring-forward gap (02:30 on the day clocks jump from 02:00 to 03:00)
// becomes the first instant after the gap, never one before it. In a
// fall-back overlap it is the first of the two instants, as time.Date gives.
func wallTime(y int, mo time.Month, d, hh, mm, ss, ns int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, hh, mm, ss, ns, loc)
	if h, m, _ := t.Clock(); (h != hh || m != mm) && hh < 24 {
		if _, end := t.ZoneBounds(); !end.IsZero() && end.After(t) {
			return end
		}
	}
	return t
}

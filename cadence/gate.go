package cadence

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Recipient is what the gate knows of a prospect at send time.
type Recipient struct {
	Email string
	// Phone is E.164.
	Phone string
	// Zone is the explicit IANA zone, if the prospect has one.
	Zone *time.Location
	// PhoneZones are the zones of Phone's area, resolved once when the
	// prospect is stored (see ZonesForPhone).
	PhoneZones []*time.Location
	// State is the US state (two letters), if known; else inferred from the
	// phone's area code for SMS rules.
	State string
	// EmailBlocked says why email may not be sent (unsubscribed, hard
	// bounce, complaint); empty when email is allowed.
	EmailBlocked string
	// SMSBlocked says why SMS may not be sent (opted out); empty when
	// allowed.
	SMSBlocked string
	Attr       map[string]string
}

// Zones resolves the recipient's candidate time zones for a channel:
// the explicit zone, else the zones of the phone number, else (email only)
// the cadence default. SMS never falls back to a guess (COMPLIANCE.md 8).
func (r *Recipient) Zones(c *Cadence, ch Channel) ([]*time.Location, string) {
	if r.Zone != nil {
		return []*time.Location{r.Zone}, "explicit"
	}
	if len(r.PhoneZones) > 0 {
		return r.PhoneZones, "phone"
	}
	if ch == Email {
		return []*time.Location{c.Zone}, "cadence default"
	}
	return nil, ""
}

// SMSState returns the state whose SMS rules apply.
func (r *Recipient) SMSState() string {
	if r.State != "" {
		return r.State
	}
	return StateForPhone(r.Phone)
}

// History is the recipient's recent sends across every cadence, used for
// frequency caps. Times need not be sorted.
type History struct {
	Email []time.Time
	SMS   []time.Time
}

// Verdict is the gate's decision.
type Verdict string

const (
	// Send: send the touch now.
	Send Verdict = "send"
	// Defer: not now; the touch is due again at Decision.At.
	Defer Verdict = "defer"
	// Skip: this touch will not be sent to this prospect; move on.
	Skip Verdict = "skip"
	// Hold: the touch cannot be sent until someone fixes data or consent;
	// it stays where it is.
	Hold Verdict = "hold"
	// Stale: the claim no longer matches the enrollment; do nothing.
	Stale Verdict = "stale"
	// StageEnd: the step is the end of a stage, not a touch: apply EvDue.
	StageEnd Verdict = "stage_end"
)

// Decision is the gate's answer for one claimed step.
type Decision struct {
	Verdict Verdict
	Touch   *Touch
	Variant Variant
	At      time.Time
	Reason  string
	// Zones are the zones the window was checked in.
	Zones []*time.Location
}

// Claim identifies the step a worker claimed.
type Claim struct {
	Stage      string
	Step       int
	Generation int64
}

// Gate decides, at send time, whether the claimed step of e may be sent
// now: state, step and generation still current; conditions; consent and
// suppression; the send window and SMS quiet hours in the recipient's zone;
// frequency caps (COMPLIANCE.md 6-8, 20).
func (c *Cadence) Gate(e *Enrollment, cl Claim, r *Recipient, h *History, now time.Time) Decision {
	if e.State != Active || e.Stage != cl.Stage || e.Step != cl.Step || e.Generation != cl.Generation {
		return Decision{Verdict: Stale, Reason: fmt.Sprintf("claim %s[%d]#%d no longer current (%s %s[%d]#%d)", cl.Stage, cl.Step, cl.Generation, e.State, e.Stage, e.Step, e.Generation)}
	}
	t := c.TouchAt(e.Stage, e.Step)
	if t == nil {
		return Decision{Verdict: StageEnd}
	}
	if e.DueAt.After(now) {
		return Decision{Verdict: Defer, Touch: t, At: e.DueAt, Reason: "not due yet"}
	}
	for _, cond := range t.Conditions {
		if !cond.holds(e, r) {
			return Decision{Verdict: Skip, Touch: t, Reason: "condition " + cond.Text + " not met"}
		}
	}
	switch t.Channel {
	case Email:
		if r.Email == "" {
			return Decision{Verdict: Skip, Touch: t, Reason: "no email address"}
		}
		if r.EmailBlocked != "" {
			return Decision{Verdict: Skip, Touch: t, Reason: "email suppressed: " + r.EmailBlocked}
		}
	case SMS:
		if r.Phone == "" {
			return Decision{Verdict: Skip, Touch: t, Reason: "no phone number"}
		}
		if r.SMSBlocked != "" {
			return Decision{Verdict: Skip, Touch: t, Reason: "sms opted out: " + r.SMSBlocked}
		}
	}
	zones, source := r.Zones(c, t.Channel)
	if len(zones) == 0 {
		return Decision{Verdict: Hold, Touch: t, Reason: NoZoneReason(r.Phone) + "; set the prospect's timezone"}
	}
	at, reason, err := c.NextSendTime(t, r, h, zones, now)
	if err != nil {
		return Decision{Verdict: Hold, Touch: t, Zones: zones, Reason: err.Error()}
	}
	if at.After(now) {
		return Decision{Verdict: Defer, Touch: t, At: at, Zones: zones, Reason: reason + " (zone " + source + ")"}
	}
	return Decision{Verdict: Send, Touch: t, Variant: t.ChooseVariant(e.ID), At: now, Zones: zones}
}

// NextSendTime returns the earliest time at or after now at which touch t
// may go to r, and why it is later than now, if it is.
func (c *Cadence) NextSendTime(t *Touch, r *Recipient, h *History, zones []*time.Location, now time.Time) (time.Time, string, error) {
	w := c.WindowFor(t)
	var capMax int
	var capPer time.Duration
	var sent []time.Time
	state, stateCap := "", false
	if cp, ok := c.Caps[t.Channel]; ok {
		capMax, capPer = cp.Max, cp.Per
	}
	if t.Channel == SMS {
		state = r.SMSState()
		w = w.Intersect(SMSWindow(state)).Intersect(c.SMSQuiet)
		if n := SMSDailyCap(state); n > 0 && (capMax == 0 || n < capMax || capPer < 24*time.Hour) {
			capMax, capPer, stateCap = n, 24*time.Hour, true
		}
		if h != nil {
			sent = h.SMS
		}
	} else if h != nil {
		sent = h.Email
	}
	if w.Empty() {
		return time.Time{}, "", fmt.Errorf("%w: window %s is never open", ErrNoSendWindow, w)
	}
	// Reasons are built only when the touch waits: this runs for every send.
	const (
		none = iota
		byWindow
		byCap
	)
	at, why := now, none
	for iter := 0; iter < 64; iter++ {
		next, err := NextAllowed(at, w, zones, c.Holidays)
		if err != nil {
			return time.Time{}, "", err
		}
		if next.After(at) {
			at, why = next, byWindow
		}
		free := capFree(sent, capMax, capPer, at)
		if !free.After(at) {
			switch why {
			case byWindow:
				if t.Channel == SMS {
					reason := "outside SMS hours " + w.String()
					if state != "" {
						reason += " (" + state + ")"
					}
					return at, reason + " in " + zoneNames(zones), nil
				}
				return at, "outside send window " + w.String() + " in " + zoneNames(zones), nil
			case byCap:
				if stateCap {
					return at, fmt.Sprintf("%s limit of %d marketing SMS per 24h", state, capMax), nil
				}
				return at, fmt.Sprintf("frequency cap %d per %s", capMax, capPer), nil
			}
			return at, "", nil
		}
		at, why = free, byCap
	}
	return time.Time{}, "", errors.New("no send time satisfies both the window and the frequency cap")
}

// capFree returns the earliest time at or after at when fewer than max of
// sent fall in the rolling period before it.
func capFree(sent []time.Time, max int, per time.Duration, at time.Time) time.Time {
	if max <= 0 || len(sent) < max {
		return at
	}
	var recent []time.Time
	for _, s := range sent {
		if s.After(at.Add(-per)) && !s.After(at) {
			recent = append(recent, s)
		}
	}
	if len(recent) < max {
		return at
	}
	sort.Slice(recent, func(i, j int) bool { return recent[i].Before(recent[j]) })
	// The window frees up when the oldest send that keeps us at the cap
	// leaves it.
	return recent[len(recent)-max].Add(per)
}

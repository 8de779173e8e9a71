package worker

import (
	"context"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// Stats returns a cadence's counters:
//
//   - enrolled; state:STATE and in:STAGE (now, not ended);
//   - s:STAGE:entered, and how: s:STAGE:by_rule (an advance rule: open,
//     click, reply, goal), s:STAGE:by_time (the previous stage's touches
//     ran out), s:STAGE:no_engagement;
//   - t:TOUCH:sent|delivered|opened|opened_total|machine_opened|clicked|
//     clicked_total|scanner_clicked|replied|bounced|complained|skipped|
//     uncertain;
//     t:TOUCH:skipped:REASON, t:TOUCH:deferred:REASON, t:TOUCH:held:REASON
//     (reason codes: reasonLabels);
//   - v:TOUCH:VARIANT:sent|opened|clicked|replied|bounced|complained for
//     A/B touches;
//   - end:STATE:REASON (completed or exited, by endReason), goal:GOAL,
//     unsubscribed, complained.
//
// t:TOUCH:opened and t:TOUCH:clicked count messages, not events: the
// enrollments a person opened or clicked the touch's message for, once
// each (a touch sent again is a new message), so they stay at or below
// sent and make the rates. t:TOUCH:opened_total and clicked_total count
// every human open and click. Machine opens and scanner clicks are counted
// apart, as events.
func (e *Engine) Stats(ctx context.Context, cadenceID string) (map[string]int64, error) {
	return e.st.Stats(ctx, cadenceID)
}

// DailyStats returns a cadence's per-day flows (UTC days, from and to
// included): enrolled, sent, opened, clicked, replied, bounced, skipped,
// unsubscribed, complained, goal, completed, exited, and per touch
// t:TOUCH:sent|opened|clicked|replied|bounced|complained|skipped.
func (e *Engine) DailyStats(ctx context.Context, cadenceID string, from, to time.Time) ([]store.Day, error) {
	if _, err := e.Cadence(cadenceID); err != nil {
		return nil, err
	}
	return e.st.DailyStats(ctx, cadenceID, from, to)
}

// enrollStats are a new enrollment's counters.
func enrollStats(o *cadence.Outcome) map[string]int64 {
	s := map[string]int64{"enrolled": 1, "@enrolled": 1, "state:" + string(o.Enrollment.State): 1}
	if !o.Enrollment.State.Terminal() {
		s["in:"+o.Enrollment.Stage] = 1
	}
	for _, en := range o.Entries {
		if en.ToStage != "" {
			s["s:"+en.ToStage+":entered"]++
		}
	}
	return s
}

// statsFor derives counter increments from an applied event; fields
// named "@…" are the day's (store.Commit.Day).
func statsFor(c *cadence.Cadence, before cadence.Enrollment, o cadence.Outcome, ev cadence.Event) map[string]int64 {
	s := map[string]int64{}
	after := &o.Enrollment
	if before.State != after.State {
		s["state:"+string(before.State)]--
		s["state:"+string(after.State)]++
		if !before.State.Terminal() && after.State.Terminal() {
			s["end:"+string(after.State)+":"+endReason(after.State, after.Reason)]++
			s["@"+string(after.State)]++
		}
	}
	// in:STAGE counts the enrollments currently in a stage (not ended).
	wasIn, isIn := !before.State.Terminal(), !after.State.Terminal()
	if wasIn != isIn || before.Stage != after.Stage {
		if wasIn {
			s["in:"+before.Stage]--
		}
		if isIn {
			s["in:"+after.Stage]++
		}
	}
	for _, en := range o.Entries {
		if en.ToStage != "" {
			s["s:"+en.ToStage+":entered"]++
			if en.Kind == "stage" {
				s["s:"+en.ToStage+":"+stageMove(en.Reason)]++
			}
		}
	}
	touch := ev.Touch
	key := ""
	switch ev.Kind {
	case cadence.EvSent, cadence.EvDelivered, cadence.EvReplied:
		key = string(ev.Kind)
	case cadence.EvSkipped:
		key = "skipped"
		if touch != "" {
			s["t:"+touch+":skipped:"+skipReason(ev.Reason)]++
		}
	case cadence.EvOpened, cadence.EvClicked:
		switch {
		case ev.Machine && ev.Kind == cadence.EvOpened:
			key = "machine_opened"
		case ev.Machine:
			key = "scanner_clicked"
		case touch != "":
			name, first := "opened", !before.HasOpened(touch) && after.HasOpened(touch)
			if ev.Kind == cadence.EvClicked {
				name, first = "clicked", !before.HasClicked(touch) && after.HasClicked(touch)
			}
			s["t:"+touch+":"+name+"_total"]++
			if first {
				key = name
			}
		}
	case cadence.EvBounced:
		key = "bounced"
	case cadence.EvUnsubscribed:
		s["unsubscribed"]++
		s["@unsubscribed"]++
	case cadence.EvComplained:
		// The total, and (below) the day's and the touch's when the report
		// named one of our messages.
		s["complained"]++
		key = "complained"
	case cadence.EvGoal:
		if !before.State.Terminal() {
			s["goal:"+ev.Goal]++
			s["@goal"]++
		}
	}
	if key == "" {
		return s
	}
	daily := key != "delivered" && key != "machine_opened" && key != "scanner_clicked"
	if daily {
		s["@"+key]++
	}
	if touch == "" {
		return s
	}
	s["t:"+touch+":"+key]++
	if daily {
		s["@t:"+touch+":"+key]++
	}
	if t := c.Touch(touch); t != nil && len(t.Variants) > 1 && key != "delivered" && key != "skipped" && daily {
		s["v:"+touch+":"+t.ChooseVariant(before.ID).ID+":"+key]++
	}
	return s
}

// holdStats counts a touch moved to a later slot (deferred) or held for
// missing data, by reason. Each occurrence counts: a held touch is
// re-checked every HoldRecheck and counted again.
func holdStats(note cadence.Entry) map[string]int64 {
	if note.Touch == "" {
		return nil
	}
	code := ""
	switch note.Kind {
	case "deferred":
		code = deferReason(note.Reason)
	case "held":
		code = holdReason(note.Reason)
	}
	if code == "" {
		return nil
	}
	return map[string]int64{"t:" + note.Touch + ":" + note.Kind + ":" + code: 1}
}

// stageMove says how a stage was entered, from its timeline reason.
func stageMove(reason string) string {
	switch {
	case strings.HasSuffix(reason, " touches done"):
		return "by_time"
	case strings.HasPrefix(reason, "no engagement"):
		return "no_engagement"
	}
	return "by_rule"
}

// endReason is the reason code of an enrollment's end.
func endReason(st cadence.State, reason string) string {
	switch {
	case strings.HasSuffix(reason, " touches done"):
		if st == cadence.Completed {
			return "finished"
		}
		return "ran_out"
	case reason == "hard bounce":
		return "bounced"
	case reason == "spam complaint":
		return "complained"
	case reason == "unsubscribed":
		return "unsubscribed"
	case reason == "sms opt-out":
		return "sms_opt_out"
	case reason == "replied":
		return "replied"
	case strings.HasPrefix(reason, "goal "):
		return "goal"
	case strings.HasPrefix(reason, "stopped"):
		return "stopped"
	case strings.HasPrefix(reason, "no engagement"):
		return "no_engagement"
	case strings.HasPrefix(reason, "stage loop"):
		return "stage_loop"
	case strings.Contains(reason, " is not in version "):
		return "stage_removed"
	}
	return "other"
}

func skipReason(reason string) string {
	switch {
	case strings.HasPrefix(reason, "condition "):
		return "condition_not_met"
	case reason == "no email address":
		return "no_email"
	case strings.HasPrefix(reason, "email suppressed"):
		return "email_suppressed"
	case reason == "no phone number":
		return "no_phone"
	case strings.HasPrefix(reason, "sms opted out"):
		return "sms_opted_out"
	case strings.HasPrefix(reason, "refused by provider"):
		return "refused_by_provider"
	case strings.HasPrefix(reason, "gave up after"):
		return "gave_up"
	}
	return "other"
}

// deferReason is the code of a deferral; "" for one not worth counting
// (a claim that came early).
func deferReason(reason string) string {
	switch {
	case reason == "not due yet":
		return ""
	case strings.HasPrefix(reason, "outside send window"):
		return "send_window"
	case strings.HasPrefix(reason, "outside SMS hours"):
		return "sms_hours"
	case strings.HasPrefix(reason, "frequency cap"):
		return "frequency_cap"
	case strings.Contains(reason, "marketing SMS per 24h"):
		return "state_sms_limit"
	case strings.HasPrefix(reason, "sending domain ") && strings.Contains(reason, " paused: "):
		return "domain_paused"
	case strings.Contains(reason, "used its fair share of the daily limit"):
		return "fair_share"
	case strings.Contains(reason, " limit ") && strings.Contains(reason, " reached") && strings.Contains(reason, "; next slot "):
		return "send_limit" // senders.go limitReason: a mailbox, relay or domain limit
	case strings.HasPrefix(reason, "not sent: journal write confirmed by "):
		return "journal_unreplicated"
	}
	return "other"
}

func holdReason(reason string) string {
	switch {
	case strings.Contains(reason, "is stopped by its brake"):
		return "brake" // before the size check: a brake's reason says "over the 5.0% limit"
	case strings.HasPrefix(reason, "no mailbox to send from"):
		return "no_mailbox"
	case strings.Contains(reason, "is empty and has no fallback"):
		return "missing_data"
	case strings.Contains(reason, "over the ") && strings.Contains(reason, "limit"):
		return "over_size_limit"
	case strings.Contains(reason, "time zone"):
		return "no_time_zone"
	case strings.Contains(reason, "never open"):
		return "window_never_open"
	}
	return "other"
}

// reasonLabels say each reason code in words, for reports.
var reasonLabels = map[string]string{
	"send_limit":           "sender mailbox or domain limit reached",
	"fair_share":           "mailbox's daily limit shared with other cadences",
	"journal_unreplicated": "journal not confirmed by a Redis replica",
	"brake":                "stopped by a bounce or complaint brake",
	"no_mailbox":           "no sender mailbox fits",
	"finished":             "finished every stage",
	"ran_out":              "touches ran out (then: exit)",
	"bounced":              "hard bounce",
	"complained":           "spam complaint",
	"unsubscribed":         "unsubscribed",
	"sms_opt_out":          "texted STOP",
	"replied":              "replied",
	"goal":                 "reached a goal",
	"stopped":              "stopped by a person",
	"no_engagement":        "no engagement",
	"stage_loop":           "stages loop without touches",
	"stage_removed":        "stage removed by a new version",
	"condition_not_met":    "condition not met",
	"no_email":             "no email address",
	"email_suppressed":     "email suppressed",
	"no_phone":             "no phone number",
	"sms_opted_out":        "opted out of SMS",
	"refused_by_provider":  "refused by the provider",
	"gave_up":              "gave up after retries",
	"send_window":          "outside the send window",
	"sms_hours":            "outside SMS hours",
	"frequency_cap":        "frequency cap",
	"state_sms_limit":      "state SMS limit",
	"domain_paused":        "sending domain paused",
	"no_time_zone":         "no time zone",
	"missing_data":         "template data missing",
	"over_size_limit":      "over a size limit",
	"window_never_open":    "send window never open",
	"other":                "other",
}

// ReasonLabel says a reason code in words.
func ReasonLabel(code string) string {
	if l, ok := reasonLabels[code]; ok {
		return l
	}
	return strings.ReplaceAll(code, "_", " ")
}

// DayRow is one UTC day of a cadence's flows.
type DayRow struct {
	Date         string              `json:"date"`
	Enrolled     int64               `json:"enrolled"`
	Sent         int64               `json:"sent"`
	Opened       int64               `json:"opened"`
	Clicked      int64               `json:"clicked"`
	Replied      int64               `json:"replied"`
	Bounced      int64               `json:"bounced"`
	Skipped      int64               `json:"skipped"`
	Unsubscribed int64               `json:"unsubscribed"`
	Complained   int64               `json:"complained"`
	Goal         int64               `json:"goal"`
	Completed    int64               `json:"completed"`
	Exited       int64               `json:"exited"`
	Touches      map[string]DayTouch `json:"touches,omitempty"`
}

// DayTouch is one touch's flows on one day.
type DayTouch struct {
	Sent       int64 `json:"sent"`
	Opened     int64 `json:"opened"`
	Clicked    int64 `json:"clicked"`
	Replied    int64 `json:"replied"`
	Bounced    int64 `json:"bounced"`
	Complained int64 `json:"complained"`
	Skipped    int64 `json:"skipped"`
}

// Trend returns a cadence's flows per UTC day, from and to included,
// oldest first (at most store.MaxStatsDays days).
func (e *Engine) Trend(ctx context.Context, cadenceID string, from, to time.Time) ([]DayRow, error) {
	days, err := e.DailyStats(ctx, cadenceID, from, to)
	if err != nil {
		return nil, err
	}
	rows := make([]DayRow, len(days))
	for i, d := range days {
		c := d.Counters
		r := DayRow{Date: d.Date, Enrolled: c["enrolled"], Sent: c["sent"], Opened: c["opened"], Clicked: c["clicked"], Replied: c["replied"],
			Bounced: c["bounced"], Skipped: c["skipped"], Unsubscribed: c["unsubscribed"], Complained: c["complained"], Goal: c["goal"],
			Completed: c["completed"], Exited: c["exited"]}
		for k, v := range c {
			rest, ok := strings.CutPrefix(k, "t:")
			if !ok {
				continue
			}
			i := strings.LastIndexByte(rest, ':')
			if i < 0 {
				continue
			}
			if r.Touches == nil {
				r.Touches = map[string]DayTouch{}
			}
			t := r.Touches[rest[:i]]
			switch rest[i+1:] {
			case "sent":
				t.Sent += v
			case "opened":
				t.Opened += v
			case "clicked":
				t.Clicked += v
			case "replied":
				t.Replied += v
			case "bounced":
				t.Bounced += v
			case "complained":
				t.Complained += v
			case "skipped":
				t.Skipped += v
			}
			r.Touches[rest[:i]] = t
		}
		rows[i] = r
	}
	return rows, nil
}

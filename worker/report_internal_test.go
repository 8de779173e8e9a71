package worker

import (
	"math"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

func TestCompareVariants(t *testing.T) {
	v := func(id string, sent, replied, clicked, opened int64) VariantRow {
		return VariantRow{ID: id, Sent: sent, Replied: replied, Clicked: clicked, Opened: opened}
	}
	for _, tc := range []struct {
		name      string
		vs        []VariantRow
		metric    string
		leader    string
		z         float64
		confident bool
		need      int64
		note      string
	}{
		// p 0.12 vs 0.06, pooled 0.09: z = 0.06 / sqrt(0.09·0.91·(2/500)) = 3.315.
		{"clear lead", []VariantRow{v("a", 500, 30, 0, 0), v("b", 500, 60, 0, 0)}, "reply_rate", "b", 3.315, true, 0,
			"b leads on reply rate with 95 % confidence (b 12.0 % vs a 6.0 %, 500 and 500 sent)."},
		// Same rates, a tenth of the sends: z = 1.048; n = 7.849·(0.1056+0.0564)/0.0036 = 353.3.
		{"too few", []VariantRow{v("a", 50, 3, 0, 0), v("b", 50, 6, 0, 0)}, "reply_rate", "b", 1.048, false, 354,
			"No variant leads on reply rate with 95 % confidence yet (b 12.0 % vs a 6.0 %, 50 and 50 sent). If the rates hold, about 354 sends per variant would tell them apart."},
		// z over 1.96 but under 30 sends each: not called.
		{"tiny", []VariantRow{v("a", 20, 0, 0, 0), v("b", 20, 8, 0, 0)}, "reply_rate", "b", 3.162, false, 30, ""},
		// Too few replies to compare (4): clicks decide instead.
		{"clicks when too few replies", []VariantRow{v("a", 100, 3, 10, 40), v("b", 100, 1, 5, 50)}, "click_rate", "a", 1.342, false, 0, ""},
		// Opens alone never name a leader, however lopsided (email or SMS).
		{"opens alone", []VariantRow{v("a", 100, 0, 0, 40), v("b", 100, 0, 0, 20)}, "reply_rate", "", 0, false, 0,
			"Not enough replies or clicks yet to compare the variants (0 replies and 0 clicks so far; it takes 5 of either). Opens are not compared: machine opens make them unreliable."},
		{"opens with too few replies and clicks", []VariantRow{v("a", 400, 1, 2, 300), v("b", 400, 3, 2, 10)}, "reply_rate", "", 0, false, 0,
			"Not enough replies or clicks yet to compare the variants (4 replies and 4 clicks so far; it takes 5 of either). Opens are not compared: machine opens make them unreliable."},
		{"nothing yet", []VariantRow{v("a", 100, 0, 0, 0), v("b", 100, 0, 0, 0)}, "reply_rate", "", 0, false, 0,
			"Not enough replies or clicks yet to compare the variants (0 replies and 0 clicks so far; it takes 5 of either). Opens are not compared: machine opens make them unreliable."},
		{"one reply one click", []VariantRow{v("a", 10, 1, 1, 5), v("b", 10, 0, 0, 0)}, "reply_rate", "", 0, false, 0,
			"Not enough replies or clicks yet to compare the variants (1 reply and 1 click so far; it takes 5 of either). Opens are not compared: machine opens make them unreliable."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := compareVariants(tc.vs)
			if r.Metric != tc.metric || r.Leader != tc.leader || math.Abs(r.Z-tc.z) > 0.005 || r.Confident != tc.confident {
				t.Errorf("got %+v, want metric %s leader %s z %.3f confident %v", r, tc.metric, tc.leader, tc.z, tc.confident)
			}
			if tc.need != 0 && r.NeedPerVariant != tc.need {
				t.Errorf("need per variant %d, want %d", r.NeedPerVariant, tc.need)
			}
			if tc.note != "" && r.Note != tc.note {
				t.Errorf("note %q\nwant %q", r.Note, tc.note)
			}
		})
	}
	// However many opens, and whatever their split, no leader and no
	// open-rate metric.
	for _, opens := range [][2]int64{{1000, 0}, {0, 1000}, {999, 1}} {
		r := compareVariants([]VariantRow{v("a", 1000, 0, 0, opens[0]), v("b", 1000, 0, 0, opens[1])})
		if r.Leader != "" || r.RunnerUp != "" || r.Confident || r.Metric == "open_rate" || !strings.HasPrefix(r.Note, "Not enough replies or clicks yet") {
			t.Errorf("opens %v: %+v", opens, r)
		}
	}
}

func TestReasonCodes(t *testing.T) {
	for reason, want := range map[string]string{
		"condition has_phone not met":                 "condition_not_met",
		"no email address":                            "no_email",
		"email suppressed: hard bounce":               "email_suppressed",
		"sms opted out: STOP":                         "sms_opted_out",
		"refused by provider: 550 5.1.1 no such user": "refused_by_provider",
		"gave up after 8 attempts: dial tcp: timeout": "gave_up",
		"something new":                               "other",
	} {
		if got := skipReason(reason); got != want {
			t.Errorf("skipReason(%q) = %s, want %s", reason, got, want)
		}
	}
	for reason, want := range map[string]string{
		"not due yet": "",
		"outside send window 08:00-20:00 in America/Chicago (zone explicit)":                                                                  "send_window",
		"outside SMS hours 08:00-21:00 (FL) in America/New_York":                                                                              "sms_hours",
		"frequency cap 2 per 24h0m0s":                                                                                                         "frequency_cap",
		"FL limit of 3 marketing SMS per 24h":                                                                                                 "state_sms_limit",
		"sending domain acme.example paused: complaint rate 0.4 %":                                                                            "domain_paused",
		"mailbox sam daily limit 100 reached; next slot Tue 2 Feb 09:00 EST":                                                                  "send_limit",
		"recipient domain acme.com limit 30 per hour reached; next slot Mon 1 Feb 10:02 UTC":                                                  "send_limit",
		"sending domain acme.example daily limit 5000 reached; next slot Tue 2 Feb 00:00 UTC":                                                 "send_limit",
		"mailbox sam is shared by several cadences today: this one used its fair share of the daily limit 100; next slot Mon 1 Feb 10:15 UTC": "fair_share",
		"not sent: journal write confirmed by 0 of 1 replicas within 200ms (a failover could have lost it); trying again":                     "journal_unreplicated",
	} {
		if got := deferReason(reason); got != want {
			t.Errorf("deferReason(%q) = %q, want %q", reason, got, want)
		}
	}
	for reason, want := range map[string]string{
		`template welcome subject: field Company is empty and has no fallback (use | default "…")`:                                      "missing_data",
		"email is 600 KiB (subject 10 B, text 1 KiB, html 599 KiB), over the 512 KiB limit":                                             "over_size_limit",
		"+1 800 number: toll-free numbers have no time zone; set the prospect's timezone":                                               "no_time_zone",
		"mailbox sam is stopped by its brake (hard bounces: 11 of the last 200 sends (5.5%), over the 5.0% limit); an admin resumes it": "brake",
		"no mailbox to send from: owner bob has no mailbox":                                                                             "no_mailbox",
	} {
		if got := holdReason(reason); got != want {
			t.Errorf("holdReason(%q) = %s, want %s", reason, got, want)
		}
	}
	for reason, want := range map[string]string{
		"stage decision touches done": "ran_out", "hard bounce": "bounced", "spam complaint": "complained", "sms opt-out": "sms_opt_out",
		"goal booked": "goal", "stopped: not a fit": "stopped", "replied": "replied", "no engagement for 5d": "no_engagement",
		"stage trial is not in version abc of the cadence": "stage_removed",
	} {
		if got := endReason(cadence.Exited, reason); got != want {
			t.Errorf("endReason(exited, %q) = %s, want %s", reason, got, want)
		}
	}
	if got := endReason(cadence.Completed, "stage decision touches done"); got != "finished" {
		t.Errorf("completed run-out: %s", got)
	}
}

func TestHeadline(t *testing.T) {
	c, err := cadence.Parse("h.yaml", []byte(`id: h
name: H
timezone: UTC
from: {email: "Acme <a@acme.example>"}
postal_address: "1 Main St"
stages:
  - id: s
    touches:
      - {id: one, channel: email, template: a}
templates:
  a: {subject: "Welcome, {{ .FirstName | default \"there\" }}{{ if .Company }} at {{ .Company }}{{ end }}!", text: "x"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := headline(c, "a"); got != "Welcome, {FirstName} at {Company}!" {
		t.Errorf("headline %q", got)
	}
}

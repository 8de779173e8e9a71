package cadence_test

import (
	"os"
	"strings"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

// TestReplyClassPolicy resolves the per-class reply actions: defaults equal
// the fixed behaviour from before they were configurable, and each given
// field replaces only its own default.
func TestReplyClassPolicy(t *testing.T) {
	week := cadence.Delay{Days: 7, Text: "7d"}
	cases := []struct {
		name, reply string
		check       func(t *testing.T, r cadence.ReplyPolicy)
	}{
		{"defaults", "", func(t *testing.T, r cadence.ReplyPolicy) {
			want := cadence.ReplyPolicy{Action: cadence.ReplyWarm, AutoReplySnooze: week,
				OutOfOffice:      cadence.ClassPolicy{Action: cadence.ClassSnoozeUntilReturn, Snooze: week},
				AutoReply:        cadence.ClassPolicy{Action: cadence.ClassSnooze, Snooze: week},
				BounceInDisguise: cadence.ClassPolicy{Action: cadence.ClassSnooze, Snooze: week},
				NotNow:           cadence.ClassPolicy{Action: cadence.ClassSnoozeUntilDate},
				WrongPerson:      cadence.ClassPolicy{Action: cadence.ClassPause}}
			if r != want {
				t.Errorf("got %+v\nwant %+v", r, want)
			}
		}},
		{"auto_reply_snooze is the default snooze", "reply: {auto_reply_snooze: 2d}\n", func(t *testing.T, r cadence.ReplyPolicy) {
			if r.AutoReply.Snooze.Days != 2 || r.BounceInDisguise.Snooze.Days != 2 || r.OutOfOffice.Snooze.Days != 2 {
				t.Errorf("got %+v", r)
			}
		}},
		{"every class set", `reply:
  out_of_office: {action: ignore}
  auto_reply: {action: snooze, for: 3d}
  bounce_in_disguise: {for: 2 business days}
  not_now: {action: snooze_until_date, fallback: 90d}
  wrong_person: {action: exit}
`, func(t *testing.T, r cadence.ReplyPolicy) {
			if r.OutOfOffice.Action != cadence.ClassIgnore {
				t.Errorf("out_of_office %+v", r.OutOfOffice)
			}
			if r.AutoReply.Action != cadence.ClassSnooze || r.AutoReply.Snooze.Days != 3 {
				t.Errorf("auto_reply %+v", r.AutoReply)
			}
			if r.BounceInDisguise.Action != cadence.ClassSnooze || r.BounceInDisguise.Snooze.BusinessDays != 2 {
				t.Errorf("bounce_in_disguise %+v", r.BounceInDisguise)
			}
			if r.NotNow.Action != cadence.ClassSnoozeUntilDate || r.NotNow.Snooze.Days != 90 {
				t.Errorf("not_now %+v", r.NotNow)
			}
			if r.WrongPerson.Action != cadence.ClassExit {
				t.Errorf("wrong_person %+v", r.WrongPerson)
			}
		}},
		{"warm", "reply: {not_now: {action: warm}, wrong_person: {action: warm}}\n", func(t *testing.T, r cadence.ReplyPolicy) {
			if r.NotNow.Action != cadence.ClassWarm || r.WrongPerson.Action != cadence.ClassWarm {
				t.Errorf("got %+v", r)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := base
			if tc.reply != "" {
				src = edit(t, "stages:\n", tc.reply+"stages:\n")
			}
			c, err := cadence.Parse("saas.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c.Reply)
		})
	}
}

// TestReplyClassProblems lists the exact problems of each bad per-class
// setting. The reply block sits on line 7 of the edited base.
func TestReplyClassProblems(t *testing.T) {
	cases := []struct {
		name, reply string
		want        []string
	}{
		{"unknown action, close", "reply: {wrong_person: {action: exti}}\n",
			[]string{`saas.yaml:7:32: reply.wrong_person.action: found "exti", expected one of: pause, exit, warm; did you mean exit?`}},
		{"action of another class", "reply: {auto_reply: {action: snooze_until_return}}\n",
			[]string{`saas.yaml:7:30: reply.auto_reply.action: found "snooze_until_return", expected one of: snooze, ignore`}},
		{"warm is not offered for out of office (COMPLIANCE.md 19)", "reply: {out_of_office: {action: warm}}\n",
			[]string{`saas.yaml:7:33: reply.out_of_office.action: found "warm", expected one of: snooze_until_return, ignore`}},
		{"opt-out is not configurable (COMPLIANCE.md 22)", "reply: {opt_out: {action: ignore}}\n",
			[]string{`saas.yaml:7:9: reply.opt_out: unknown field (expected one of: action, to, auto_reply_snooze, out_of_office, auto_reply, bounce_in_disguise, not_now, wrong_person)`}},
		{"misspelt class", "reply: {wrong_persn: {action: exit}}\n",
			[]string{`saas.yaml:7:9: reply.wrong_persn: unknown field; did you mean wrong_person?`}},
		{"bad duration", "reply: {auto_reply: {for: 3 fortnights}}\n",
			[]string{`saas.yaml:7:27: reply.auto_reply.for: cannot read "3 fortnights" as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)`}},
		{"bad fallback", "reply: {not_now: {fallback: soon}}\n",
			[]string{`saas.yaml:7:29: reply.not_now.fallback: cannot read "soon" as a delay (expected e.g. 0, 30m, 2h, 3d, 1w, 2 business days)`}},
		{"zero snooze", "reply: {bounce_in_disguise: {action: snooze, for: 0}}\n",
			[]string{`saas.yaml:7:51: reply.bounce_in_disguise.for: for must be a wait such as 7d, not 0`}},
		{"wait without a snooze", "reply: {out_of_office: {action: ignore, fallback: 7d}}\n",
			[]string{`saas.yaml:7:51: reply.out_of_office.fallback: fallback only applies when action snoozes, not with action ignore`}},
		{"unknown field in a class", "reply: {wrong_person: {action: pause, for: 3d}}\n",
			[]string{`saas.yaml:7:39: reply.wrong_person.for: unknown field (expected one of: action)`}},
		{"not a mapping", "reply: {not_now: later}\n",
			[]string{`saas.yaml:7:18: reply.not_now: expected a mapping, found "later"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := allProblems(t, edit(t, "stages:\n", tc.reply+"stages:\n"))
			if want := strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestReplyClassesKeepVersions: the new fields change nothing for a file
// that does not use them; the version hashes the file, not the struct.
func TestReplyClassesKeepVersions(t *testing.T) {
	a, err := cadence.Parse("saas.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b, err := cadence.Parse("other.yaml", []byte("# a comment\n"+base))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != b.Version {
		t.Errorf("versions differ: %s %s", a.Version, b.Version)
	}
	src, err := os.ReadFile("../examples/saas-trial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := cadence.Parse("saas-trial.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Reply.BounceInDisguise.Snooze.Days != 3 || ex.Reply.NotNow.Snooze.Days != 90 || ex.Reply.AutoReply.Snooze.BusinessDays != 5 {
		t.Errorf("example's reply policy: %+v", ex.Reply)
	}
}

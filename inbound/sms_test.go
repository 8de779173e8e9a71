package inbound_test

import (
	"testing"
	"time"

	"github.com/nurture-dev/nurture/inbound"
)

func TestSMSKeywordTable(t *testing.T) {
	cases := []struct {
		body string
		want inbound.Keyword
	}{
		// The whole message is an opt-out keyword.
		{"STOP", inbound.Stop},
		{"stop", inbound.Stop},
		{"  Stop.  ", inbound.Stop},
		{"STOP!!!", inbound.Stop},
		{"STOPALL", inbound.Stop},
		{"STOP ALL", inbound.Stop},
		{"stop-all", inbound.Stop},
		{"UNSUBSCRIBE", inbound.Stop},
		{"Unsub", inbound.Stop},
		{"CANCEL", inbound.Stop},
		{"End", inbound.Stop},
		{"QUIT", inbound.Stop},
		{"Revoke", inbound.Stop},
		{"OPTOUT", inbound.Stop},
		{"OPT OUT", inbound.Stop},
		{"opt-out", inbound.Stop},
		{"Opt_Out", inbound.Stop},
		{"REMOVE", inbound.Stop},
		{"TD", inbound.Stop},
		{"ARRET", inbound.Stop},
		{"Arrêt", inbound.Stop},
		{"ARRÊT", inbound.Stop},
		{"arrêt svp", inbound.Stop},
		{"S.T.O.P", inbound.Stop},
		{"ＳＴＯＰ", inbound.Stop}, // full-width
		{"🛑 STOP 🛑", inbound.Stop},
		{"\tstop\n", inbound.Stop},
		// Politeness around a keyword.
		{"Stop please", inbound.Stop},
		{"please stop", inbound.Stop},
		{"Cancel please", inbound.Stop},
		{"quit thanks", inbound.Stop},
		{"END thank you", inbound.Stop},
		{"ok stop", inbound.Stop},
		// A message whose first word is a stop word.
		{"stop please", inbound.Stop},
		{"STOP!!! no more", inbound.Stop},
		{"Stop texting me", inbound.Stop},
		{"STOP sending these", inbound.Stop},
		{"unsubscribe me", inbound.Stop},
		{"Opt out of everything", inbound.Stop},
		{"Arrêt des messages", inbound.Stop},
		{"remove me", inbound.Stop},
		{"Remove my number please", inbound.Stop},
		{"remove this number", inbound.Stop},
		{"Revoke consent", inbound.Stop},
		// Re-subscribe and help: the whole message only.
		{"START", inbound.Start},
		{"Unstop", inbound.Start},
		{"yes", inbound.Start},
		{"YES!", inbound.Start},
		{"HELP", inbound.Help},
		{"help?", inbound.Help},
		{"Info", inbound.Help},
		{"AIDE", inbound.Help},
		// Replies, not keywords.
		{"", inbound.None},
		{"   ", inbound.None},
		{"!!!", inbound.None},
		{"please", inbound.None},
		{"Thanks!", inbound.None},
		{"End of month works for me", inbound.None},
		{"Cancel Tuesday, Thursday is better", inbound.None},
		{"quit my job last week lol", inbound.None},
		{"Remove the second line item and resend", inbound.None},
		{"stopping by later", inbound.None},
		{"Stop by the booth at 3", inbound.None},
		{"stop in tomorrow?", inbound.None},
		{"Yes please", inbound.None},
		{"yes, Thursday works", inbound.None},
		{"Help me pick a plan", inbound.None},
		{"Start date is Monday", inbound.None},
		{"Information please", inbound.None},
		{"Endless thanks", inbound.None},
		{"Tdy works", inbound.None},
		{"Can we talk?", inbound.None},
		{"nonstop meetings today, call tomorrow", inbound.None},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		if got := inbound.SMSKeyword(c.body); got != c.want {
			t.Errorf("SMSKeyword(%q) = %v, want %v", c.body, got, c.want)
		}
	}
}

// TestClassifySMS: what the keyword list leaves to the reply rules.
func TestClassifySMS(t *testing.T) {
	now := time.Date(2026, 12, 8, 15, 0, 0, 0, time.UTC)
	cases := []struct {
		body string
		want inbound.Class
	}{
		{"STOP", inbound.ClassOptOut},
		{"please don't text me again", inbound.ClassOptOut},
		{"no more texts", inbound.ClassOptOut},
		{"cancel my subscription please", inbound.ClassOptOut},
		{"quit texting me", inbound.ClassOptOut},
		{"Thanks but please stop", inbound.ClassOptOut},
		{"Baja", inbound.ClassOptOut},
		{"No más mensajes por favor", inbound.ClassOptOut},
		{"Bitte keine SMS mehr", inbound.ClassOptOut},
		{"arrêtez de m'envoyer des messages", inbound.ClassOptOut},
		{"wrong number", inbound.ClassWrongPerson},
		{"I'm driving with notifications silenced. I'll see your message when I get where I'm going.", inbound.ClassAutoReply},
		{"not right now, try me in March", inbound.ClassNotNow},
		{"yes can you call me at 3", inbound.ClassPositive},
		{"End of month works for me", inbound.ClassPositive},
		{"Stop by the booth at 3", inbound.ClassPositive},
	}
	for _, c := range cases {
		got := inbound.ClassifySMS(c.body, now)
		if got.Class != c.want {
			t.Errorf("ClassifySMS(%q) = %s (%s), want %s", c.body, got.Class, got.Reason, c.want)
		}
		if got.Class != inbound.ClassPositive && got.Reason == "" {
			t.Errorf("ClassifySMS(%q): no reason", c.body)
		}
	}
	if c := inbound.ClassifySMS("not right now, try me in March", now); c.Until != (inbound.Date{Year: 2027, Month: time.March, Day: 1}) {
		t.Errorf("not now until %v, want 2027-03-01", c.Until)
	}
}

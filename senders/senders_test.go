package senders_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/senders"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadExampleFile(t *testing.T) {
	c, err := senders.LoadFile("testdata/mailboxes.yaml", env(map[string]string{"WORKSPACE_SMTP_PASSWORD": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mailboxes) != 3 || c.Mailboxes[0].ID != "sam" || c.Mailboxes[2].ID != "news" {
		t.Fatalf("mailboxes in file order: %+v", c.Mailboxes)
	}
	sam := c.Mailbox("sam")
	if sam.From() != "Sam Rivera <sam@acme.example>" || sam.Limits != (senders.Limits{PerMinute: 2, PerHour: 40, PerDay: 100}) || sam.Zone.String() != "America/New_York" {
		t.Fatalf("sam: %+v (%s)", sam, sam.From())
	}
	r := c.Relays["workspace"]
	if r.SMTP.Password != "s3cret" || r.SMTP.Host != "smtp.workspace.example" || r.Limits.PerDay != 2000 {
		t.Fatalf("relay: %+v", r)
	}
	if c.OwnerMailbox("SAM") != sam || c.OwnerMailbox("bob") != nil {
		t.Fatal("owner lookup")
	}
	if got := c.RecipientLimits("gmail.com"); got.PerHour != 500 {
		t.Fatalf("gmail.com: %+v", got)
	}
	if got := c.RecipientLimits("initech.example"); got.PerHour != 30 {
		t.Fatalf("default recipient domain: %+v", got)
	}
	if c.Brakes.BounceRate != 0.05 || c.Brakes.ComplaintRate != 0.003 || c.Brakes.Window != 200 {
		t.Fatalf("brakes: %+v", c.Brakes)
	}
}

func TestWarmupRamp(t *testing.T) {
	c, err := senders.LoadFile("testdata/mailboxes.yaml", env(map[string]string{"WORKSPACE_SMTP_PASSWORD": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	ada := c.Mailbox("ada")
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d.Add(12 * time.Hour) }
	// 20 on the first day, +10 % a day (floored), never above per_day.
	for _, tc := range []struct {
		on   string
		want int
	}{{"2026-11-19", 20}, {"2026-11-20", 20}, {"2026-11-21", 22}, {"2026-11-22", 24}, {"2026-11-30", 51}, {"2026-12-06", 91}, {"2026-12-07", 100}, {"2027-06-01", 100}} {
		if got := ada.DayCap(day(tc.on)); got != tc.want {
			t.Errorf("cap on %s: %d, want %d", tc.on, got, tc.want)
		}
	}
	if got := c.Mailbox("sam").DayCap(day("2026-12-01")); got != 100 {
		t.Errorf("no warm-up: %d", got)
	}
}

func TestChooseKeepsTheMailboxAndSpreadsPools(t *testing.T) {
	c, err := senders.LoadFile("testdata/mailboxes.yaml", env(map[string]string{"WORKSPACE_SMTP_PASSWORD": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Choose("owner", "sam", "p1~c", ""); m == nil || m.ID != "sam" {
		t.Fatalf("owner: %v", m)
	}
	if m, why := c.Choose("owner", "bob", "p1~c", ""); m != nil || why != "owner bob has no mailbox" {
		t.Fatalf("unknown owner: %v %q", m, why)
	}
	if m, why := c.Choose("owner", "", "p1~c", ""); m != nil || why != "the prospect has no owner" {
		t.Fatalf("no owner: %v %q", m, why)
	}
	// A reassigned prospect keeps the thread's mailbox only while it is
	// still the owner's.
	if m, _ := c.Choose("owner", "ada", "p1~c", "sam"); m.ID != "ada" {
		t.Fatalf("owner changed: %s", m.ID)
	}
	counts := map[string]int{}
	for i := 0; i < 1000; i++ {
		eid := "p" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "~" + time.Duration(i).String()
		m, _ := c.Choose("pool:sales", "", eid, "")
		again, _ := c.Choose("pool:sales", "", eid, "")
		if m != again {
			t.Fatal("pool choice is not stable")
		}
		counts[m.ID]++
	}
	if counts["sam"] < 400 || counts["ada"] < 400 || counts["sam"]+counts["ada"] != 1000 {
		t.Fatalf("pool spread: %v", counts)
	}
	// Kept while it still fits.
	if m, _ := c.Choose("pool:sales", "", "any", "ada"); m.ID != "ada" {
		t.Fatal("kept mailbox not kept")
	}
	if m, _ := c.Choose("pool:sales", "", "any", "news"); m.ID == "news" {
		t.Fatal("a mailbox outside the pool was kept")
	}
	if m, why := c.Choose("nobody", "", "x", ""); m != nil || why != "mailbox nobody is not configured" {
		t.Fatalf("unknown id: %v %q", m, why)
	}
}

func TestProblemsHavePositions(t *testing.T) {
	src := `relays:
  r1:
    port: 25
    password: hunter2
mailboxes:
  Sam:
    address: sam@acme.example
  bob:
    address: "Bob <bob@acme.example>"
    relay: nowhere
    limits: {per_day: -3, per_week: 9}
    warmup: {start: 20}
  eve:
    address: eve@acme.example
    owners: [bob2]
    time_zone: Mars/Olympus
  eve2:
    address: eve2@acme.example
    owners: [bob2]
`
	_, err := senders.Parse("mb.yaml", []byte(src), env(nil))
	var ve *cadence.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	got := ve.Error()
	for _, want := range []string{
		"mb.yaml:2:3: relays.r1.host: required",
		"mb.yaml:4:5: relays.r1.password: a password is not written in this file; put it in an environment variable and name it with password_env",
		`mb.yaml:6:3: mailboxes.Sam: mailbox id "Sam": use 1-64 lowercase letters`,
		`mb.yaml:9:14: mailboxes.bob.address: "Bob <bob@acme.example>" is not an email address (give the display name in name:)`,
		`mb.yaml:10:12: mailboxes.bob.relay: relay "nowhere" is not defined under relays:`,
		`mb.yaml:11:23: mailboxes.bob.limits.per_day: "-3": expected a whole number of at least 1`,
		"mb.yaml:11:27: mailboxes.bob.limits.per_week: unknown field; expected one of per_minute, per_hour, per_day",
		"mb.yaml:12:13: mailboxes.bob.warmup.since: required: the mailbox's first day, YYYY-MM-DD",
		`mb.yaml:16:16: mailboxes.eve.time_zone: "Mars/Olympus" is not an IANA time zone`,
		`mb.yaml:17:3: mailboxes.eve2.owners: owner "bob2" already has mailbox eve (mb.yaml:13:3); a rep sends from one mailbox`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hunter2") {
		t.Error("the error repeats the password")
	}
}

func TestSecretsComeFromTheEnvironment(t *testing.T) {
	src := "relays:\n  r:\n    host: smtp.example\n    password_env: MISSING_PASSWORD\nmailboxes:\n  a:\n    address: a@x.example\n    relay: r\n"
	_, err := senders.Parse("mb.yaml", []byte(src), env(nil))
	if err == nil || !strings.Contains(err.Error(), "mb.yaml:4:19: relays.r.password_env: environment variable MISSING_PASSWORD is not set") {
		t.Fatalf("unset secret: %v", err)
	}
	if _, err := senders.Parse("mb.yaml", []byte("mailboxes: [\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "mb.yaml:") {
		t.Fatalf("malformed YAML: %v", err)
	}
}

// The example file in docs/ loads (its secret from the environment).
func TestExampleMailboxesFile(t *testing.T) {
	c, err := senders.LoadFile("../docs/mailboxes.yaml", env(map[string]string{"WORKSPACE_SMTP_PASSWORD": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mailboxes) != 2 || c.OwnerMailbox("dana") == nil || len(c.Pool("sales")) != 2 || c.Relays["workspace"].Limits.PerDay != 2000 {
		t.Fatalf("example: %+v", c)
	}
}

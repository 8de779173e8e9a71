package worker_test

// "Inbound you can trust": replayed clicks, unsubscribes and STOPs change
// what they change once; the timeline keeps its audit lines whatever the
// engagement noise.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/store"
)

// TestReplayedClicksCountOnce replays one link's click 130 times on a
// welcome email that sales paused: the touch counts one clicker among one
// send and 130 clicks in all, and the timeline keeps the enrolled, sent and
// paused lines with the clicks as one coalesced line.
func TestReplayedClicksCountOnce(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	if n := r.dispatch(t); n != 1 || len(r.smtp.Messages()) != 1 {
		t.Fatalf("welcome not sent: claimed %d, %d messages", n, len(r.smtp.Messages()))
	}
	if _, err := r.e.Pause(ctx, en.ID, "sales:alice", "talking to them", time.Time{}); err != nil {
		t.Fatal(err)
	}
	const clicks = 130
	first := r.clk.Now()
	for i := 0; i < clicks; i++ {
		r.clk.Add(time.Second)
		ev := cadence.Event{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, By: "link", Reason: "https://acme.example/pricing"}
		if _, err := r.e.Apply(ctx, en.ID, ev); err != nil {
			t.Fatalf("click %d: %v", i, err)
		}
	}
	stats, err := r.e.Stats(ctx, r.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stats["t:welcome:sent"] != 1 || stats["t:welcome:clicked"] != 1 || stats["t:welcome:clicked_total"] != clicks || stats["t:welcome:scanner_clicked"] != 0 {
		t.Errorf("stats: sent %d clicked %d clicked_total %d (want 1, 1, %d)", stats["t:welcome:sent"], stats["t:welcome:clicked"], stats["t:welcome:clicked_total"], clicks)
	}
	rep, err := r.e.Report(ctx, r.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row := rep.Touches[0]; row.ID != "welcome" || row.Clicked != 1 || row.ClickRate != 1 {
		t.Errorf("report row %+v: want 1 click, rate 1", row)
	}

	lines, err := r.st.TimelineLines(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	var enrolled, sent, paused, clickLines int
	for _, l := range lines {
		switch en := l.Entry; {
		case en.Kind == "enrolled":
			enrolled++
		case en.Kind == "sent" && en.Touch == "welcome":
			sent++
		case en.Kind == "paused" && en.By == "sales:alice":
			paused++
		case en.Kind == "clicked":
			clickLines++
			if l.Count != clicks || !en.At.Equal(first.Add(time.Second)) || !l.Last.Equal(first.Add(clicks*time.Second)) {
				t.Errorf("click line: ×%d from %s to %s, want ×%d from %s to %s", l.Count, en.At, l.Last, clicks,
					first.Add(time.Second), first.Add(clicks*time.Second))
			}
		}
	}
	if enrolled != 1 || sent != 1 || paused != 1 || clickLines != 1 || len(lines) > 10 {
		t.Errorf("timeline: %d enrolled, %d sent, %d paused-by-sales, %d click lines of %d:\n%s", enrolled, sent, paused, clickLines, len(lines), r.timeline(t, en.ID))
	}
	if mem, err := r.st.Redis().MemoryUsage(ctx, r.st.Keys().Timeline(en.ID)).Result(); err == nil {
		t.Logf("timeline after %d clicks: %d lines, %d bytes in Redis", clicks, len(lines)-1, mem)
	}
	text := r.timeline(t, en.ID)
	if !strings.Contains(text, "clicked welcome (email): https://acme.example/pricing (×130, last 2026-03-02T16:02:10Z)") {
		t.Errorf("the clicks are not told as one line:\n%s", text)
	}

	// Another link of the same message, after sales resumed: one more
	// click in all, still one clicker.
	if _, err := r.e.Resume(ctx, en.ID, "sales:alice"); err != nil {
		t.Fatal(err)
	}
	r.clk.Add(time.Minute)
	if _, err := r.e.Apply(ctx, en.ID, cadence.Event{Kind: cadence.EvClicked, Touch: "welcome", Channel: cadence.Email, By: "link", Reason: "https://acme.example/docs"}); err != nil {
		t.Fatal(err)
	}
	stats, _ = r.e.Stats(ctx, r.c.ID)
	if stats["t:welcome:clicked"] != 1 || stats["t:welcome:clicked_total"] != clicks+1 {
		t.Errorf("after another link: clicked %d clicked_total %d", stats["t:welcome:clicked"], stats["t:welcome:clicked_total"])
	}
}

// TestReplayedOpensCountOnce: opens are counted like clicks, and machine
// opens stay apart.
func TestReplayedOpensCountOnce(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	r.dispatch(t)
	for i := 0; i < 7; i++ {
		r.clk.Add(time.Minute)
		if _, err := r.e.Apply(ctx, en.ID, cadence.Event{Kind: cadence.EvOpened, Touch: "welcome", Channel: cadence.Email, By: "pixel", Machine: i == 0}); err != nil {
			t.Fatal(err)
		}
	}
	stats, _ := r.e.Stats(ctx, r.c.ID)
	if stats["t:welcome:opened"] != 1 || stats["t:welcome:opened_total"] != 6 || stats["t:welcome:machine_opened"] != 1 {
		t.Errorf("stats: opened %d opened_total %d machine_opened %d, want 1, 6, 1", stats["t:welcome:opened"], stats["t:welcome:opened_total"], stats["t:welcome:machine_opened"])
	}
}

// TestReplayedUnsubscribesRecordOnce replays a one-click unsubscribe 50
// times, one after another (the POST retried by a mail client): one consent
// change, one timeline line, one count.
func TestReplayedUnsubscribesRecordOnce(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	en := r.enroll(t, ada())
	r.dispatch(t)
	for i := 0; i < 50; i++ {
		r.clk.Add(time.Second)
		ev := cadence.Event{Kind: cadence.EvUnsubscribed, Channel: cadence.Email, By: "one-click", Reason: "List-Unsubscribe"}
		if _, err := r.e.Apply(ctx, en.ID, ev); err != nil {
			t.Fatalf("unsubscribe %d: %v", i, err)
		}
	}
	log, err := r.st.ConsentLog(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Blocked != "unsubscribed" || log[0].Source != "one-click" {
		t.Errorf("consent log: %+v, want one unsubscribe", log)
	}
	tl, err := r.e.Timeline(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := countEntries(tl, string(cadence.EvUnsubscribed)); n != 1 {
		t.Errorf("%d unsubscribed lines, want 1:\n%s", n, r.timeline(t, en.ID))
	}
	stats, _ := r.e.Stats(ctx, r.c.ID)
	if stats["unsubscribed"] != 1 || stats["state:exited"] != 1 {
		t.Errorf("stats: unsubscribed %d exited %d", stats["unsubscribed"], stats["state:exited"])
	}
	if p, _ := r.st.Prospect(ctx, "ada"); p.EmailBlocked != "unsubscribed" {
		t.Errorf("email blocked %q", p.EmailBlocked)
	}
}

// TestReOptOutAddsNothing: a STOP from a number already opted out, and a
// START from one that is not, change nothing and log nothing — with and
// without an enrollment. Neither cadence exits on an SMS opt-out, so each
// records the change once, the other one through the fan-out.
func TestReOptOutAddsNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	other, err := cadence.Parse("other.yaml", []byte(enginetest.EmailCadence("other", "0", "1d")))
	if err != nil {
		t.Fatal(err)
	}
	r.e.SetCadences(map[string]*cadence.Cadence{r.c.ID: r.c, other.ID: other})
	en := r.enroll(t, ada())
	oen, err := r.e.Enroll(ctx, ada(), other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.e.UpsertProspect(ctx, &store.Prospect{ID: "lone", Phone: "+13125550142"}); err != nil {
		t.Fatal(err)
	}
	stop := cadence.Event{Kind: cadence.EvSMSOptOut, Channel: cadence.SMS, By: "sms +13125550100", Reason: "STOP"}
	start := cadence.Event{Kind: cadence.EvSMSOptIn, Channel: cadence.SMS, By: "sms +13125550100", Reason: "START"}
	for _, pid := range []string{"ada", "lone"} {
		step := func(ev cadence.Event, wantLog int, wantBlocked string) {
			t.Helper()
			r.clk.Add(time.Minute)
			if err := r.e.ProspectEvent(ctx, pid, ev); err != nil {
				t.Fatal(err)
			}
			log, err := r.st.ConsentLog(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := r.st.Prospect(ctx, pid)
			if len(log) != wantLog || p.SMSBlocked != wantBlocked {
				t.Fatalf("%s after %s: %d consent entries, blocked %q; want %d, %q: %+v", pid, ev.Reason, len(log), p.SMSBlocked, wantLog, wantBlocked, log)
			}
		}
		step(start, 0, "") // not opted out: nothing to restore
		step(stop, 1, "opted out: STOP")
		step(stop, 1, "opted out: STOP")
		step(stop, 1, "opted out: STOP")
		step(start, 2, "")
		step(start, 2, "")
	}
	// A burst of STOPs at once: one more change, recorded once in each.
	applyConcurrently(t, r, en.ID, []cadence.Event{stop, stop, stop, stop, stop, stop, stop, stop})
	if log, _ := r.st.ConsentLog(ctx, "ada"); len(log) != 3 {
		t.Errorf("after a burst of STOPs: %d consent entries, want 3: %+v", len(log), log)
	}
	for _, id := range []string{en.ID, oen.ID} {
		tl, err := r.e.Timeline(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s := r.state(t, id); s.State != cadence.Active {
			t.Errorf("%s: %s, want active (no exit on sms_opt_out)", id, s.State)
		}
		if outs, ins := countEntries(tl, string(cadence.EvSMSOptOut)), countEntries(tl, string(cadence.EvSMSOptIn)); outs != 2 || ins != 1 {
			t.Errorf("%s: %d opt-out and %d opt-in lines, want 2 and 1:\n%s", id, outs, ins, r.timeline(t, id))
		}
	}
}

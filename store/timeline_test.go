package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
)

// timelineRig is one stored enrollment whose timeline a test writes
// through commits, as the engine does.
type timelineRig struct {
	t   *testing.T
	rdb redis.UniversalClient
	st  *store.Store
	e   cadence.Enrollment
	rev int64
}

var tlStart = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

func newTimelineRig(t *testing.T) *timelineRig {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	e := cadence.Enrollment{ID: "p1~c", ProspectID: "p1", CadenceID: "c", Version: "v1", State: cadence.Active,
		FirstStage: "s1", Stage: "s1", EnrolledAt: tlStart, StageEnteredAt: tlStart, DueAt: tlStart}
	if errs, err := st.CreateEnrollments(context.Background(), []store.NewEnrollment{{Enrollment: e}}); errs[0] != nil || err != nil {
		t.Fatal(errs[0], err)
	}
	return &timelineRig{t: t, rdb: rdb, st: st, e: e, rev: 1}
}

// commit writes entries in one commit.
func (r *timelineRig) commit(entries ...cadence.Entry) {
	r.t.Helper()
	rev, err := r.st.Commit(context.Background(), &store.Commit{Rev: r.rev, Enrollment: r.e, Entries: entries})
	if err != nil {
		r.t.Fatal(err)
	}
	r.rev = rev
}

func (r *timelineRig) lines() []store.TimelineLine {
	r.t.Helper()
	lines, err := r.st.TimelineLines(context.Background(), r.e.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return lines
}

func (r *timelineRig) stored() int64 {
	r.t.Helper()
	n, err := r.rdb.LLen(context.Background(), r.st.Keys().Timeline(r.e.ID)).Result()
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func describe(lines []store.TimelineLine) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s ×%d\n", l.Folded().Text(), l.Count)
	}
	return b.String()
}

func at(i int) time.Time { return tlStart.Add(time.Duration(i) * time.Minute) }

// TestTimelineCoalescesEngagement: a repeated engagement line is folded into
// the identical line among the newest TimelineCoalesceWindow, counting it
// and keeping the first and the newest time, even across an audit line; a
// different reason or touch is its own line; audit lines never fold.
func TestTimelineCoalescesEngagement(t *testing.T) {
	r := newTimelineRig(t)
	click := func(i int, url string) cadence.Entry {
		return cadence.Entry{At: at(i), Kind: "clicked", Touch: "welcome", Channel: cadence.Email, Reason: url}
	}
	r.commit(cadence.Entry{At: at(1), Kind: "sent", Touch: "welcome", Channel: cadence.Email})
	for i := 0; i < 130; i++ {
		if i == 50 {
			r.commit(cadence.Entry{At: at(2 + i), Kind: "paused", From: cadence.Active, To: cadence.Paused, By: "sales:alice"})
		}
		r.commit(click(2+i, "https://acme.example/pricing"))
	}
	r.commit(click(200, "https://acme.example/docs"))
	// A late repeat, older than the newest: it counts, and the line starts
	// at the oldest time.
	r.commit(click(0, "https://acme.example/pricing"))
	// Audit lines are never folded.
	r.commit(cadence.Entry{At: at(201), Kind: "goal", Reason: "goal demo"}, cadence.Entry{At: at(202), Kind: "goal", Reason: "goal demo"})

	lines := r.lines()
	want := []struct {
		kind, reason string
		count        int
		first, last  time.Time
	}{
		{"enrolled", "version v1", 1, tlStart, tlStart},
		{"sent", "", 1, at(1), at(1)},
		{"clicked", "https://acme.example/pricing", 131, at(0), at(131)},
		{"paused", "", 1, at(52), at(52)},
		{"clicked", "https://acme.example/docs", 1, at(200), at(200)},
		{"goal", "goal demo", 1, at(201), at(201)},
		{"goal", "goal demo", 1, at(202), at(202)},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), describe(lines))
	}
	for i, w := range want {
		l := lines[i]
		if l.Entry.Kind != w.kind || l.Entry.Reason != w.reason || l.Count != w.count || !l.Entry.At.Equal(w.first) || !l.Last.Equal(w.last) {
			t.Errorf("line %d: %s %q ×%d %s..%s, want %s %q ×%d %s..%s", i, l.Entry.Kind, l.Entry.Reason, l.Count, l.Entry.At, l.Last,
				w.kind, w.reason, w.count, w.first, w.last)
		}
	}
	tl, err := r.st.Timeline(context.Background(), r.e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := tl[2].Text(); got != "clicked welcome (email): https://acme.example/pricing (×131, last 2026-03-02T17:11:00Z)" {
		t.Errorf("folded line: %q", got)
	}
	if got := tl[1].Text(); got != "sent welcome (email)" {
		t.Errorf("a single line is unchanged: %q", got)
	}
}

// TestTimelineCoalescesDeferrals: one touch deferred day after day for the
// same reason is one line with the newest until; another reason is another
// line; a line beyond the window is not looked for.
func TestTimelineCoalescesDeferrals(t *testing.T) {
	r := newTimelineRig(t)
	ctx := context.Background()
	deferred := func(day int, reason string) cadence.Entry {
		d := time.Duration(day) * 24 * time.Hour
		return cadence.Entry{At: tlStart.Add(d), Kind: "deferred", Touch: "nudge", Channel: cadence.SMS, Reason: reason, Until: tlStart.Add(d + 18*time.Hour)}
	}
	for day := 0; day < 5; day++ {
		if err := r.st.AppendTimeline(ctx, r.e.ID, deferred(day, "sending domain acme.example paused: 5.7.1")); err != nil {
			t.Fatal(err)
		}
	}
	r.commit(deferred(5, "FL limit of 3 SMS in 24h"))
	r.commit(deferred(6, "sending domain acme.example paused: 5.7.1"))
	lines := r.lines()
	if len(lines) != 3 || lines[1].Count != 6 || lines[2].Count != 1 || !lines[1].Entry.Until.Equal(tlStart.Add(6*24*time.Hour+18*time.Hour)) ||
		!lines[1].Last.Equal(tlStart.Add(6*24*time.Hour)) || !lines[1].Entry.At.Equal(tlStart) {
		t.Fatalf("deferrals:\n%s", describe(lines))
	}
	// Past the window, the same line starts again.
	for i := 0; i < store.TimelineCoalesceWindow; i++ {
		r.commit(cadence.Entry{At: at(10000 + i), Kind: "opened", Touch: fmt.Sprintf("t%d", i)})
	}
	r.commit(deferred(8, "FL limit of 3 SMS in 24h"))
	lines = r.lines()
	if last := lines[len(lines)-1]; len(lines) != 3+store.TimelineCoalesceWindow+1 || last.Count != 1 || last.Entry.Kind != "deferred" {
		t.Fatalf("a repeat beyond the window: %d lines, last %+v", len(lines), last)
	}
}

// TestTimelineKeepsAuditLines floods a timeline with distinct engagement
// lines, then with audit lines: it never holds more than TimelineMaxLines;
// engagement lines go first, down to the newest TimelineCap; audit lines
// go only past the newest TimelineAuditCap, counted by a trimmed line.
func TestTimelineKeepsAuditLines(t *testing.T) {
	r := newTimelineRig(t)
	ctx := context.Background()
	r.commit(cadence.Entry{At: at(1), Kind: "sent", Touch: "welcome", Channel: cadence.Email})
	r.commit(cadence.Entry{At: at(2), Kind: "paused", From: cadence.Active, To: cadence.Paused, By: "sales:alice", Reason: "on holiday"})
	n := 0
	flood := func(kind string, count int) {
		for sent := 0; sent < count; {
			var batch []cadence.Entry
			for j := 0; j < 37 && sent < count; j++ {
				n++
				sent++
				batch = append(batch, cadence.Entry{At: at(10 + n), Kind: kind, Touch: "welcome", Channel: cadence.Email,
					Reason: fmt.Sprintf("https://acme.example/p/%d", n)})
			}
			r.commit(batch...)
			if l := r.stored(); l > store.TimelineMaxLines {
				t.Fatalf("after %d lines the timeline holds %d, more than %d", n, l, store.TimelineMaxLines)
			}
		}
	}
	flood("clicked", 3000)
	lines := r.lines()
	count := func(lines []store.TimelineLine) (audit, engagement int) {
		for _, l := range lines[1:] {
			if store.IsAudit(l.Entry.Kind) {
				audit++
			} else {
				engagement++
			}
		}
		return
	}
	audit, engagement := count(lines)
	if lines[0].Entry.Kind != "enrolled" || lines[1].Entry.Kind != "sent" || lines[2].Entry.By != "sales:alice" || audit != 2 ||
		engagement < store.TimelineCap || engagement > store.TimelineMaxLines-2 {
		t.Fatalf("after 3000 clicks: %d audit, %d engagement lines; head:\n%s", audit, engagement, describe(lines[:3]))
	}
	if last := lines[len(lines)-1]; last.Entry.Reason != fmt.Sprintf("https://acme.example/p/%d", n) {
		t.Fatalf("newest line %q, want the last click", last.Entry.Reason)
	}
	mem, err := r.rdb.MemoryUsage(ctx, r.st.Keys().Timeline(r.e.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 3000 distinct clicks: %d stored lines, %d bytes", r.stored(), mem)

	// Now more audit lines than the cap: the oldest go, and say so.
	flood("goal", 700)
	lines = r.lines()
	audit, engagement = count(lines)
	if lines[1].Entry.Kind != store.TimelineTrimmed {
		t.Fatalf("no trimmed line after 702 audit lines:\n%s", describe(lines[:3]))
	}
	dropped := 0
	fmt.Sscanf(lines[1].Entry.Reason, "%d audit lines", &dropped)
	if audit-1 < store.TimelineAuditCap || dropped+audit-1 != 702 || engagement > store.TimelineCap {
		t.Fatalf("after 700 goals: %d audit lines kept, %d dropped (%q), %d engagement", audit-1, dropped, lines[1].Entry.Reason, engagement)
	}
	if last := lines[len(lines)-1]; last.Entry.Kind != "goal" || last.Entry.Reason != fmt.Sprintf("https://acme.example/p/%d", n) {
		t.Fatalf("newest line %+v", last.Entry)
	}
	// The trimmed line starts at the oldest line dropped (the sent line)
	// and tells up to when.
	if tr := lines[1]; !tr.Entry.At.Equal(at(1)) || !tr.Last.Before(lines[len(lines)-1].Entry.At) ||
		tr.Folded().Text() != fmt.Sprintf("trimmed: %d audit lines up to %s not kept: a timeline keeps its newest %d", dropped, tr.Last.Format(time.RFC3339), store.TimelineAuditCap) {
		t.Errorf("trimmed line %q at %s, last %s", tr.Folded().Text(), tr.Entry.At, tr.Last)
	}
	// Trims again keep one trimmed line and add to its count.
	flood("goal", 200)
	lines = r.lines()
	audit, _ = count(lines)
	again := 0
	fmt.Sscanf(lines[1].Entry.Reason, "%d audit lines", &again)
	if lines[1].Entry.Kind != store.TimelineTrimmed || lines[2].Entry.Kind == store.TimelineTrimmed || !lines[1].Entry.At.Equal(at(1)) || again+audit-1 != 902 {
		t.Fatalf("after 200 more: %d dropped + %d kept, want 902:\n%s", again, audit-1, describe(lines[:3]))
	}
	mem, _ = r.rdb.MemoryUsage(ctx, r.st.Keys().Timeline(r.e.ID)).Result()
	t.Logf("after 700 more audit lines: %d stored lines, %d bytes", r.stored(), mem)
}

// TestConsentChangesThatChangeNothing: the consent history only grows when
// the consent changes.
func TestConsentChangesThatChangeNothing(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	ctx := context.Background()
	if err := st.UpsertProspect(ctx, &store.Prospect{ID: "p6", Email: "p6@example.com", Phone: "+13125550106"}); err != nil {
		t.Fatal(err)
	}
	set := func(ch cadence.Channel, blocked string, wantPrev string, wantLog int) {
		t.Helper()
		prev, err := st.SetConsent(ctx, "p6", store.ConsentChange{At: tlStart, Channel: ch, Blocked: blocked, Source: "test"})
		if err != nil {
			t.Fatal(err)
		}
		log, _ := st.ConsentLog(ctx, "p6")
		if prev != wantPrev || len(log) != wantLog {
			t.Fatalf("set %s %q: prev %q, %d entries; want %q, %d", ch, blocked, prev, len(log), wantPrev, wantLog)
		}
	}
	set(cadence.SMS, "", "", 0) // restoring an allowed channel
	set(cadence.Email, "unsubscribed", "", 1)
	for i := 0; i < 50; i++ {
		set(cadence.Email, "unsubscribed", "unsubscribed", 1)
	}
	set(cadence.SMS, "opted out: STOP", "", 2)
	set(cadence.SMS, "opted out: STOP", "opted out: STOP", 2)
	set(cadence.Email, "spam complaint", "unsubscribed", 3) // another reason is a change
	set(cadence.SMS, "", "opted out: STOP", 4)
	set(cadence.SMS, "", "", 4)
	if p, _ := st.Prospect(ctx, "p6"); p.EmailBlocked != "spam complaint" || p.SMSBlocked != "" {
		t.Fatalf("prospect %+v", p)
	}
}

// TestCommitWithConsent: a commit carries a consent change atomically; a
// dedupe commit that changes neither the consent nor the enrollment writes
// nothing and says so.
func TestCommitWithConsent(t *testing.T) {
	r := newTimelineRig(t)
	ctx := context.Background()
	unsub := store.ConsentChange{At: at(1), Channel: cadence.Email, Blocked: "unsubscribed", Source: "one-click"}
	exited := r.e
	exited.State, exited.Reason, exited.DueAt = cadence.Exited, "unsubscribed", time.Time{}
	line := cadence.Entry{At: at(1), Kind: "unsubscribed", By: "one-click"}
	c := &store.Commit{Rev: 1, Enrollment: exited, Entries: []cadence.Entry{line}, Consent: &unsub, Dedupe: true,
		Stats: map[string]int64{"unsubscribed": 1}}
	rev, err := r.st.Commit(ctx, c)
	if err != nil || rev != 2 || c.ConsentPrev != "" {
		t.Fatalf("first: rev %d prev %q %v", rev, c.ConsentPrev, err)
	}
	for i := 0; i < 3; i++ {
		c := &store.Commit{Rev: 2, Enrollment: exited, Entries: []cadence.Entry{line}, Consent: &unsub, Dedupe: true,
			Stats: map[string]int64{"unsubscribed": 1}}
		if _, err := r.st.Commit(ctx, c); !errors.Is(err, store.ErrUnchanged) || c.ConsentPrev != "unsubscribed" {
			t.Fatalf("replay %d: %v prev %q", i, err, c.ConsentPrev)
		}
	}
	// Without dedupe, or with an enrollment that changes, it commits but
	// logs no consent change.
	moved := exited
	moved.Generation++
	if _, err := r.st.Commit(ctx, &store.Commit{Rev: 2, Enrollment: moved, Consent: &unsub, Dedupe: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Commit(ctx, &store.Commit{Rev: 3, Enrollment: moved, Consent: &unsub}); err != nil {
		t.Fatal(err)
	}
	log, _ := r.st.ConsentLog(ctx, "p1")
	stats, _ := r.st.Stats(ctx, "c")
	lines := r.lines()
	if len(log) != 1 || stats["unsubscribed"] != 1 || len(lines) != 2 {
		t.Fatalf("log %+v stats %v lines:\n%s", log, stats, describe(lines))
	}
	if l, _ := r.st.Enrollment(ctx, r.e.ID); l.Rev != 4 || l.Enrollment != moved {
		t.Fatalf("enrollment rev %d %+v", l.Rev, l.Enrollment)
	}
}

// TestEngagementListsRoundTrip: the opened and clicked touch lists are
// stored with the enrollment.
func TestEngagementListsRoundTrip(t *testing.T) {
	r := newTimelineRig(t)
	e := r.e
	e.Opened, e.Clicked = "welcome,nudge", "welcome"
	r.e = e
	r.commit()
	l, err := r.st.Enrollment(context.Background(), e.ID)
	if err != nil || l.Enrollment != e {
		t.Fatalf("round trip: %+v %v, want %+v", l.Enrollment, err, e)
	}
}

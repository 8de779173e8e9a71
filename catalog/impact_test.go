package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// journey's stage s1 is t1, t2, t3; s2 is t4. Edits replace parts of it.
const journey = `id: journey
name: Journey
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: s1
    touches:
      - {id: t1, channel: email, template: mail}
      - {id: t2, channel: email, delay: 1d, template: mail}
      - {id: t3, channel: email, delay: 2d, template: mail}
    advance:
      - {on: click, to: s2}
  - id: s2
    touches:
      - {id: t4, channel: email, delay: 1d, template: mail}
templates:
  mail: {subject: "Hi", text: "Hello"}
`

const s1Touches = "      - {id: t1, channel: email, template: mail}\n      - {id: t2, channel: email, delay: 1d, template: mail}\n      - {id: t3, channel: email, delay: 2d, template: mail}\n"

func parseJourney(t *testing.T, src string) *cadence.Cadence {
	t.Helper()
	c, err := cadence.Parse("journey.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCadencePreviewCountsWhatANewVersionDoes enrolls prospects at
// different places of journey v1 and previews edits of it.
func TestCadencePreviewCountsWhatANewVersionDoes(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, prefix)
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	cat := New(st, Options{Clock: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	v1 := parseJourney(t, journey)
	if _, err := cat.PublishParsed(ctx, v1, []byte(journey), "files:journey.yaml", "v1"); err != nil {
		t.Fatal(err)
	}
	ob, _ := channels.NewOutbox("", 10, clk.Now)
	signer, _ := tokens.NewSigner([]byte(strings.Repeat("k", 32)))
	e, err := worker.New(worker.Config{Store: st, Cadences: map[string]*cadence.Cadence{"journey": v1}, Email: ob, SMS: ob, Tokens: signer, Clock: clk.Now, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	// 4 wait for t1, 3 for t2 (t1 sent), 2 are in s2 (clicked), 1 stopped.
	groups := map[string]int{"t1": 4, "t2": 3, "s2": 2, "stopped": 1}
	for g, n := range groups {
		for i := range n {
			pid := fmt.Sprintf("%s-%d", g, i)
			en, err := e.Enroll(ctx, &store.Prospect{ID: pid, Email: pid + "@example.com"}, "journey")
			if err != nil {
				t.Fatal(err)
			}
			var evs []cadence.Event
			switch g {
			case "t2":
				evs = []cadence.Event{{Kind: cadence.EvSent, Touch: "t1", Channel: cadence.Email}}
			case "s2":
				evs = []cadence.Event{{Kind: cadence.EvSent, Touch: "t1", Channel: cadence.Email}, {Kind: cadence.EvClicked, Touch: "t1", Channel: cadence.Email}}
			case "stopped":
				evs = []cadence.Event{{Kind: cadence.EvStopped, By: "sales:sam"}}
			}
			for _, ev := range evs {
				if _, err := e.Apply(ctx, en.ID, ev); err != nil {
					t.Fatalf("%s %s: %v", pid, ev.Kind, err)
				}
			}
		}
	}
	edit := func(old, new string) (*cadence.Cadence, string) {
		src := strings.Replace(journey, old, new, 1)
		if src == journey {
			t.Fatalf("edit of %q changed nothing", old)
		}
		return parseJourney(t, src), src
	}
	s2 := "  - id: s2\n    touches:\n      - {id: t4, channel: email, delay: 1d, template: mail}\n"
	cases := []struct {
		name                 string
		old, new             string
		want                 map[Effect]int64
		exampleFor, exampleT string
	}{
		{"stage s2 removed", "    advance:\n      - {on: click, to: s2}\n" + s2, "",
			map[Effect]int64{Exited: 2, Unchanged: 7, Finished: 1}, "s2-0~journey", "stage s2 is not in"},
		{"t2 removed", "      - {id: t2, channel: email, delay: 1d, template: mail}\n", "",
			map[Effect]int64{Moved: 3, Skipped: 4, Unchanged: 2, Finished: 1}, "t2-0~journey", "next touch t2 was removed; gets t3 instead"},
		{"t0 inserted before t1", s1Touches, "      - {id: t0, channel: email, template: mail}\n" + s1Touches,
			map[Effect]int64{Skipped: 7, Unchanged: 2, Finished: 1}, "t1-0~journey", "will not get t0 (now before its position)"},
		{"t3 waits longer", "delay: 2d, template: mail}", "delay: 3d, template: mail}",
			map[Effect]int64{NewDelay: 7, Unchanged: 2, Finished: 1}, "t2-0~journey", "t3 waits 3d (was 2d)"},
		{"t5 added at the end of s1", s1Touches, s1Touches + "      - {id: t5, channel: email, delay: 1d, template: mail}\n",
			map[Effect]int64{Added: 7, Unchanged: 2, Finished: 1}, "t2-0~journey", "will also get t5"},
		{"only copy", `subject: "Hi"`, `subject: "Hello there"`,
			map[Effect]int64{Unchanged: 9, Finished: 1}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v2, src := edit(tc.old, tc.new)
			headBefore, _ := cat.Head(ctx, "journey")
			im, err := cat.Preview(ctx, v2, []byte(src), PreviewOptions{Live: v1})
			if err != nil {
				t.Fatal(err)
			}
			got := map[Effect]int64{Exited: im.Exited, Moved: im.Moved, Skipped: im.Skipped, Added: im.Added, NewDelay: im.NewDelay, Unchanged: im.Unchanged, Finished: im.Finished}
			for eff, n := range got {
				if n != tc.want[eff] {
					t.Errorf("%s: %d, want %d (all: %v)\nexamples: %+v", eff, n, tc.want[eff], got, im.Examples)
				}
			}
			if im.EnrollmentsTotal != 10 || im.Sampled != 10 || im.Scaled || !im.Changed || im.Head != v1.Version || !strings.Contains(im.Note, "every enrollment read (10)") {
				t.Errorf("impact: %+v", im)
			}
			if !strings.Contains(im.Diff, "--- journey@"+v1.Version) || !strings.Contains(im.Diff, "+++ journey@"+v2.Version) {
				t.Errorf("diff:\n%s", im.Diff)
			}
			found := tc.exampleFor == ""
			for _, ex := range im.Examples {
				if ex.Enrollment == tc.exampleFor && strings.Contains(ex.Text, tc.exampleT) && ex.Version == v1.Version {
					found = true
				}
			}
			if !found {
				t.Errorf("no example %s %q in %+v", tc.exampleFor, tc.exampleT, im.Examples)
			}
			if head, _ := cat.Head(ctx, "journey"); head != headBefore {
				t.Error("a preview moved the head")
			}
		})
	}

	// Previewing the head itself: nothing changes.
	im, err := cat.Preview(ctx, v1, []byte(journey), PreviewOptions{})
	if err != nil || im.Changed || im.Diff != "" || im.Unchanged != 9 || !strings.Contains(im.Note, "already the head") {
		t.Fatalf("preview of the head: %+v %v", im, err)
	}

	// Above the sample size: a random sample, counts scaled to the total.
	v2, src := edit("      - {id: t2, channel: email, delay: 1d, template: mail}\n", "")
	im, err = cat.Preview(ctx, v2, []byte(src), PreviewOptions{Sample: 5})
	if err != nil {
		t.Fatal(err)
	}
	sum := im.Moved + im.Exited + im.Skipped + im.Added + im.NewDelay + im.Unchanged + im.Finished
	if !im.Scaled || im.Sampled != 5 || im.EnrollmentsTotal != 10 || sum < 8 || sum > 12 || sum%2 != 0 ||
		!strings.Contains(im.Note, "scaled from a random sample of 5 of 10 enrollments") {
		t.Fatalf("sampled preview (sum %d): %+v", sum, im)
	}
	// What the preview said is what the engine does: t2's waiters are
	// rebased onto t3 when their step comes.
	if _, err := cat.PublishParsed(ctx, v2, []byte(src), "admin:ops", "drop t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Sync(ctx, e); err != nil || e.Cadences()["journey"].Version != v2.Version {
		t.Fatalf("sync: %v", err)
	}
	clk.Add(48 * time.Hour)
	if _, err := e.DispatchOnce(ctx, enginetest.SyncQueue{E: e}); err != nil {
		t.Fatal(err)
	}
	tl, err := e.Timeline(ctx, "t2-0~journey")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, en := range tl {
		texts = append(texts, en.Text())
	}
	// The timeline names both versions: the one it followed, and the new.
	if all := strings.Join(texts, "\n"); !strings.Contains(all, "now following version "+v2.Version+" (was "+v1.Version+")") || !strings.Contains(all, "next touch t2 was removed, going on with t3") {
		t.Fatalf("timeline of a t2 waiter after the publish:\n%s", all)
	}
}

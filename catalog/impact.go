package catalog

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// SampleSize is how many enrollments Preview reads by default; a cadence
// with more is previewed on a random sample of that many and the counts
// are scaled to the total.
const SampleSize = 10000

// Effect is what a new version does to one live enrollment.
type Effect string

// The effects, most severe first; an enrollment is counted under the first
// that applies.
const (
	// Exited: its stage is not in the new version; it exits at its next
	// step ("stage X is not in version v…").
	Exited Effect = "exited"
	// Moved: it will get another touch next than it would have (its next
	// touch was removed and it goes on with what sits at its position, or
	// a touch was added where it waited for its stage's end). The touch it
	// gets instead is sent when the removed one was due.
	Moved Effect = "moved"
	// Skipped: a touch of its stage that it would have got is gone from
	// ahead of it, or the new version has a touch before its position that
	// it never got (inserted or moved there): it will not get it.
	Skipped Effect = "skipped"
	// Added: a touch new to its stage sits ahead of it; it will get it.
	Added Effect = "added"
	// NewDelay: a touch ahead of it (after the one it waits for, whose
	// wait is already scheduled and kept) waits another delay.
	NewDelay Effect = "new_delay"
	// Unchanged: its path through its stage is the same (copy, windows or
	// other stages may still differ: see the diff).
	Unchanged Effect = "unchanged"
	// Finished: completed or exited; versions no longer matter to it.
	Finished Effect = "finished"
)

// PreviewOptions tunes Preview.
type PreviewOptions struct {
	// Sample bounds the enrollments read (default SampleSize).
	Sample int
	// Now stamps the rebase (default the catalog's clock).
	Now time.Time
	// Live is the version processes run now; it stands in for an
	// enrollment's recorded version when the catalog does not have it
	// (enrollments made before the catalog existed).
	Live *cadence.Cadence
	// Examples bounds the examples listed per effect (default 5).
	Examples int
}

// Impact is what publishing a version would do, computed before anything
// changes.
type Impact struct {
	Cadence string `json:"cadence"`
	Version string `json:"version"`
	// Head is the current head ("" when the cadence has none); Changed
	// says whether publishing would move it.
	Head    string `json:"head"`
	Changed bool   `json:"changed"`
	// Diff is the unified diff from the head's source to the new one.
	Diff string `json:"diff"`
	// EnrollmentsTotal is every enrollment of the cadence; Sampled how
	// many were read; Scaled says the counts below were scaled from the
	// sample to the total.
	EnrollmentsTotal int64 `json:"enrollments_total"`
	Sampled          int   `json:"sampled"`
	Scaled           bool  `json:"scaled"`
	Moved            int64 `json:"moved"`
	Exited           int64 `json:"exited"`
	Skipped          int64 `json:"skipped"`
	Added            int64 `json:"added"`
	NewDelay         int64 `json:"new_delay"`
	Unchanged        int64 `json:"unchanged"`
	Finished         int64 `json:"finished"`
	// Examples are a few enrollments of each effect but unchanged and
	// finished, with what happens to them.
	Examples []Example `json:"examples"`
	// Note says how the counts were made.
	Note string `json:"note"`
}

// Example is one enrollment and what the new version does to it.
type Example struct {
	Enrollment string `json:"enrollment"`
	Effect     Effect `json:"effect"`
	State      string `json:"state"`
	Stage      string `json:"stage"`
	// Version is the version the enrollment follows now.
	Version string `json:"version"`
	Text    string `json:"text"`
}

// Preview computes, without changing anything, what making to (parsed
// from src) the head would do: the diff from the head and, for the
// cadence's enrollments (all of them, or a random sample of o.Sample),
// what cadence.(*Cadence).Rebase and the remaining path of each one's
// stage would become.
func (c *Catalog) Preview(ctx context.Context, to *cadence.Cadence, src []byte, o PreviewOptions) (Impact, error) {
	if o.Sample <= 0 {
		o.Sample = SampleSize
	}
	if o.Examples <= 0 {
		o.Examples = 5
	}
	if o.Now.IsZero() {
		o.Now = c.clock()
	}
	id := to.ID
	im := Impact{Cadence: id, Version: to.Version, Examples: []Example{}}
	head, err := c.Head(ctx, id)
	if err != nil {
		return im, err
	}
	im.Head, im.Changed = head, head != to.Version
	newLabel := fmt.Sprintf("%s@%s\t(new)", id, to.Version)
	switch {
	case !im.Changed:
	case head == "":
		im.Diff = Diff(id+" (none)", newLabel, nil, src)
	default:
		hp, err := c.Get(ctx, id, head)
		if err != nil {
			return im, err
		}
		im.Diff = Diff(label(id, hp), newLabel, hp.Source, src)
	}

	key := c.st.Keys().CadenceIndex(id)
	if im.EnrollmentsTotal, err = c.rdb.SCard(ctx, key).Result(); err != nil {
		return im, err
	}
	var ids []string
	if im.EnrollmentsTotal <= int64(o.Sample) {
		ids, err = c.rdb.SMembers(ctx, key).Result()
	} else {
		ids, err = c.rdb.SRandMemberN(ctx, key, int64(o.Sample)).Result()
		im.Scaled = true
	}
	if err != nil {
		return im, err
	}
	sort.Strings(ids)
	old := map[string]*cadence.Cadence{}
	oldOf := func(v string) *cadence.Cadence {
		if cd, seen := old[v]; seen {
			return cd
		}
		cd := o.Live
		if o.Live == nil || o.Live.Version != v {
			if compiled, err := c.Compile(ctx, id, v); err == nil {
				cd = compiled
			}
		}
		old[v] = cd
		return cd
	}
	counts := map[Effect]int64{}
	shown := map[Effect]int{}
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(len(ids), start+1000)]
		loaded, err := c.st.Enrollments(ctx, chunk)
		if err != nil {
			return im, err
		}
		for i, l := range loaded {
			if l == nil {
				continue // indexed, then deleted
			}
			e := l.Enrollment
			eff, text := classify(oldOf(e.Version), to, e, o.Now)
			counts[eff]++
			im.Sampled++
			if eff != Unchanged && eff != Finished && shown[eff] < o.Examples {
				shown[eff]++
				im.Examples = append(im.Examples, Example{Enrollment: chunk[i], Effect: eff, State: string(e.State), Stage: e.Stage, Version: e.Version, Text: text})
			}
		}
	}
	scale := func(n int64) int64 {
		if !im.Scaled || im.Sampled == 0 {
			return n
		}
		return int64(math.Round(float64(n) * float64(im.EnrollmentsTotal) / float64(im.Sampled)))
	}
	im.Moved, im.Exited, im.Skipped, im.Added = scale(counts[Moved]), scale(counts[Exited]), scale(counts[Skipped]), scale(counts[Added])
	im.NewDelay, im.Unchanged, im.Finished = scale(counts[NewDelay]), scale(counts[Unchanged]), scale(counts[Finished])
	sort.SliceStable(im.Examples, func(i, j int) bool { return effectRank(im.Examples[i].Effect) < effectRank(im.Examples[j].Effect) })
	switch {
	case im.Scaled:
		im.Note = fmt.Sprintf("counts are scaled from a random sample of %d of %d enrollments", im.Sampled, im.EnrollmentsTotal)
	default:
		im.Note = fmt.Sprintf("every enrollment read (%d)", im.Sampled)
	}
	if !im.Changed {
		im.Note += fmt.Sprintf("; %s is already the head: publishing it changes nothing", to.Version)
	}
	return im, nil
}

func effectRank(e Effect) int {
	for i, x := range []Effect{Exited, Moved, Skipped, Added, NewDelay, Unchanged, Finished} {
		if x == e {
			return i
		}
	}
	return 99
}

// classify says what version to does to enrollment e, which follows old
// (nil when unknown: then only what Rebase alone tells is reported).
func classify(old, to *cadence.Cadence, e cadence.Enrollment, now time.Time) (Effect, string) {
	if e.State.Terminal() {
		return Finished, ""
	}
	if e.Version == to.Version {
		return Unchanged, ""
	}
	newStage := to.Stage(e.Stage)
	if newStage == nil {
		return Exited, fmt.Sprintf("stage %s is not in %s: exits at its next step", e.Stage, to.Version)
	}
	ne, _, _ := to.Rebase(e, now)
	var oldStage *cadence.Stage
	if old != nil {
		oldStage = old.Stage(e.Stage)
	}
	before := e.NextTouch
	if before == "" && oldStage != nil && e.Step < len(oldStage.Touches) {
		before = oldStage.Touches[e.Step].ID
	}
	after := ""
	if t := to.TouchAt(ne.Stage, ne.Step); t != nil {
		after = t.ID
	}
	if before != after {
		switch {
		case before == "":
			return Moved, fmt.Sprintf("waited for the end of stage %s; gets %s first", e.Stage, after)
		case after == "":
			return Moved, fmt.Sprintf("next touch %s was removed; stage %s ends at its next step", before, e.Stage)
		}
		return Moved, fmt.Sprintf("next touch %s was removed; gets %s instead, when %s was due", before, after, before)
	}
	passed := map[string]bool{}
	for _, t := range strings.Split(e.StageDone, ",") {
		passed[t] = t != ""
	}
	oldByID := map[string]*cadence.Touch{}
	if oldStage != nil {
		for i, t := range oldStage.Touches {
			oldByID[t.ID] = t
			if i < e.Step {
				passed[t.ID] = true
			}
		}
	}
	newIDs := map[string]bool{}
	for _, t := range newStage.Touches {
		newIDs[t.ID] = true
	}
	var skipped []string
	for _, t := range newStage.Touches[:min(ne.Step, len(newStage.Touches))] {
		if !passed[t.ID] {
			skipped = append(skipped, t.ID+" (now before its position)")
		}
	}
	if oldStage != nil {
		for _, t := range oldStage.Touches[min(e.Step+1, len(oldStage.Touches)):] {
			if !newIDs[t.ID] {
				skipped = append(skipped, t.ID+" (removed)")
			}
		}
	}
	if len(skipped) > 0 {
		return Skipped, "will not get " + strings.Join(skipped, ", ")
	}
	if oldStage == nil {
		return Unchanged, ""
	}
	var added, delays []string
	for _, t := range newStage.Touches[min(ne.Step+1, len(newStage.Touches)):] {
		ot := oldByID[t.ID]
		switch {
		case ot == nil && !passed[t.ID]:
			added = append(added, t.ID)
		case ot != nil && !sameDelay(ot, t):
			delays = append(delays, fmt.Sprintf("%s waits %s (was %s)", t.ID, delayText(t), delayText(ot)))
		}
	}
	if len(added) > 0 {
		return Added, "will also get " + strings.Join(added, ", ")
	}
	if len(delays) > 0 {
		return NewDelay, strings.Join(delays, ", ")
	}
	return Unchanged, ""
}

func sameDelay(a, b *cadence.Touch) bool {
	return a.Delay.Duration == b.Delay.Duration && a.Delay.Days == b.Delay.Days && a.Delay.BusinessDays == b.Delay.BusinessDays && a.FromEntry == b.FromEntry
}

func delayText(t *cadence.Touch) string {
	s := t.Delay.String()
	if t.FromEntry {
		s += " from stage entry"
	}
	return s
}

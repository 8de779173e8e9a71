package worker

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/nurture-dev/nurture/cadence"
)

// StageRow is one stage of a cadence funnel.
type StageRow struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Entered int64  `json:"entered"`
	Current int64  `json:"current"`
	// How the stage was entered after the first: ByRule by an advance
	// rule (an open, click, reply or goal), ByTime when the previous
	// stage's touches ran out, NoEngagement by a no-engagement rule. The
	// first stage is entered by enrolling.
	ByRule       int64 `json:"by_rule"`
	ByTime       int64 `json:"by_time"`
	NoEngagement int64 `json:"no_engagement"`
	// FromPrevious is Entered over the previous stage's Entered.
	FromPrevious float64 `json:"from_previous"`
}

// ReasonCount is how many times something happened for one reason.
type ReasonCount struct {
	Code  string `json:"code"`
	Label string `json:"label"`
	Count int64  `json:"count"`
}

// EndRow counts enrollments that ended (completed or exited) for a reason.
type EndRow struct {
	State string `json:"state"`
	ReasonCount
}

// VariantRow is one A/B variant of a touch. Opened and Clicked count
// messages opened / clicked by a person at least once.
type VariantRow struct {
	ID        string  `json:"id"`
	Weight    int     `json:"weight"`
	Headline  string  `json:"headline"`
	Sent      int64   `json:"sent"`
	Opened    int64   `json:"opened"`
	Clicked   int64   `json:"clicked"`
	Replied   int64   `json:"replied"`
	Bounced   int64   `json:"bounced"`
	OpenRate  float64 `json:"open_rate"`
	ClickRate float64 `json:"click_rate"`
	ReplyRate float64 `json:"reply_rate"`
}

// ABResult compares a touch's variants on one rate.
type ABResult struct {
	// Metric is "reply_rate" or "click_rate": replies when there are at
	// least MinABEvents, else clicks when there are that many. Opens are
	// never compared (machine opens make them unreliable); below the
	// floor Leader is empty and Note says there is not enough data.
	Metric string `json:"metric"`
	// Leader is the variant with the best rate and RunnerUp the next.
	Leader   string `json:"leader"`
	RunnerUp string `json:"runner_up"`
	// Z is the two-proportion z statistic of leader against runner-up;
	// Confident says |Z| ≥ 1.96 (95 %, two-sided) with at least
	// MinABSends sends each.
	Z         float64 `json:"z"`
	Confident bool    `json:"confident"`
	// NeedPerVariant estimates the sends per variant to tell the two
	// apart at 95 % confidence and 80 % power if the rates hold (0 when
	// confident or the rates are equal).
	NeedPerVariant int64 `json:"need_per_variant"`
	// Note says the result in a sentence.
	Note string `json:"note"`
}

// MinABSends is the fewest sends per variant before a leader is named.
const MinABSends = 30

// MinABEvents is the fewest replies (or, failing those, clicks) over all
// variants before they are compared at all: with fewer, the normal
// approximation behind the z-test does not hold.
const MinABEvents = 5

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// TouchRow is one touch's delivery and engagement counts and rates.
// Sent is what the relay (email) or provider (SMS) accepted; Delivered
// is what the provider reported delivered (SMS status callbacks; email
// relays report no deliveries, only bounces).
type TouchRow struct {
	Stage     string `json:"stage"`
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	Delay     string `json:"delay"`
	Headline  string `json:"headline"`
	Sent      int64  `json:"sent"`
	Delivered int64  `json:"delivered"`
	// Opened and Clicked count messages opened / clicked by a person at
	// least once; the totals count every human open and click.
	Opened         int64   `json:"opened"`
	OpenedTotal    int64   `json:"opened_total"`
	MachineOpened  int64   `json:"machine_opened"`
	Clicked        int64   `json:"clicked"`
	ClickedTotal   int64   `json:"clicked_total"`
	ScannerClicked int64   `json:"scanner_clicked"`
	Replied        int64   `json:"replied"`
	Bounced        int64   `json:"bounced"`
	Skipped        int64   `json:"skipped"`
	Uncertain      int64   `json:"uncertain"`
	OpenRate       float64 `json:"open_rate"`
	ClickRate      float64 `json:"click_rate"`
	ReplyRate      float64 `json:"reply_rate"`
	BounceRate     float64 `json:"bounce_rate"`
	// Skips, Deferrals and Holds break skipped, deferred and held touches
	// down by reason. Skips count enrollments; deferrals and holds count
	// occurrences (a held touch is re-checked and counted again).
	Skips     []ReasonCount `json:"skips,omitempty"`
	Deferrals []ReasonCount `json:"deferrals,omitempty"`
	Holds     []ReasonCount `json:"holds,omitempty"`
	Variants  []VariantRow  `json:"variants,omitempty"`
	AB        *ABResult     `json:"ab,omitempty"`
}

// Report is a cadence's funnel and per-touch rates. Opens count people
// only; machine opens and scanner clicks are shown apart.
type Report struct {
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	Version      string           `json:"version"`
	Enrolled     int64            `json:"enrolled"`
	States       map[string]int64 `json:"states"`
	Unsubscribed int64            `json:"unsubscribed"`
	Complained   int64            `json:"complained"`
	// Goals counts goal events per goal, while the enrollment was still
	// in the cadence.
	Goals    []ReasonCount    `json:"goals"`
	Ends     []EndRow         `json:"ends"`
	Stages   []StageRow       `json:"stages"`
	Touches  []TouchRow       `json:"touches"`
	Counters map[string]int64 `json:"counters"`
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Report builds a cadence's report from its counters.
func (e *Engine) Report(ctx context.Context, cadenceID string) (*Report, error) {
	c, err := e.Cadence(cadenceID)
	if err != nil {
		return nil, err
	}
	s, err := e.Stats(ctx, cadenceID)
	if err != nil {
		return nil, err
	}
	return buildReport(c, s), nil
}

// buildReport reads a cadence's counters (see Engine.Stats) into a report.
func buildReport(c *cadence.Cadence, s map[string]int64) *Report {
	r := &Report{ID: c.ID, Name: c.Name, Version: c.Version, Enrolled: s["enrolled"], States: map[string]int64{},
		Unsubscribed: s["unsubscribed"], Complained: s["complained"], Counters: s}
	for _, st := range cadence.States {
		r.States[string(st)] = s["state:"+string(st)]
	}
	for k, v := range s {
		if v == 0 {
			continue
		}
		if g, ok := strings.CutPrefix(k, "goal:"); ok {
			r.Goals = append(r.Goals, ReasonCount{Code: g, Label: g, Count: v})
		}
		if rest, ok := strings.CutPrefix(k, "end:"); ok {
			if st, code, ok := strings.Cut(rest, ":"); ok {
				r.Ends = append(r.Ends, EndRow{State: st, ReasonCount: ReasonCount{Code: code, Label: ReasonLabel(code), Count: v}})
			}
		}
	}
	byCount(r.Goals)
	sort.Slice(r.Ends, func(i, j int) bool {
		if r.Ends[i].State != r.Ends[j].State {
			return r.Ends[i].State < r.Ends[j].State
		}
		return r.Ends[i].Count > r.Ends[j].Count || r.Ends[i].Count == r.Ends[j].Count && r.Ends[i].Code < r.Ends[j].Code
	})
	var prev int64 = -1
	for _, st := range c.Stages {
		k := func(what string) int64 { return s["s:"+st.ID+":"+what] }
		row := StageRow{ID: st.ID, Name: st.Name, Entered: k("entered"), Current: s["in:"+st.ID],
			ByRule: k("by_rule"), ByTime: k("by_time"), NoEngagement: k("no_engagement")}
		if prev >= 0 {
			row.FromPrevious = ratio(row.Entered, prev)
		} else {
			row.FromPrevious = 1
		}
		prev = row.Entered
		r.Stages = append(r.Stages, row)
		for _, t := range st.Touches {
			r.Touches = append(r.Touches, touchRow(c, st.ID, t, s))
		}
	}
	return r
}

func touchRow(c *cadence.Cadence, stage string, t *cadence.Touch, s map[string]int64) TouchRow {
	k := func(what string) int64 { return s["t:"+t.ID+":"+what] }
	tr := TouchRow{Stage: stage, ID: t.ID, Channel: string(t.Channel), Delay: t.Delay.String(), Headline: headline(c, t.Variants[0].Template),
		Sent: k("sent"), Delivered: k("delivered"), Opened: k("opened"), OpenedTotal: k("opened_total"), MachineOpened: k("machine_opened"),
		Clicked: k("clicked"), ClickedTotal: k("clicked_total"), ScannerClicked: k("scanner_clicked"), Replied: k("replied"), Bounced: k("bounced"),
		Skipped: k("skipped"), Uncertain: k("uncertain")}
	tr.OpenRate, tr.ClickRate = ratio(tr.Opened, tr.Sent), ratio(tr.Clicked, tr.Sent)
	tr.ReplyRate, tr.BounceRate = ratio(tr.Replied, tr.Sent), ratio(tr.Bounced, tr.Sent)
	tr.Skips = reasons(s, "t:"+t.ID+":skipped:")
	tr.Deferrals = reasons(s, "t:"+t.ID+":deferred:")
	tr.Holds = reasons(s, "t:"+t.ID+":held:")
	if len(t.Variants) > 1 {
		for _, v := range t.Variants {
			vk := func(what string) int64 { return s["v:"+t.ID+":"+v.ID+":"+what] }
			row := VariantRow{ID: v.ID, Weight: v.Weight, Headline: headline(c, v.Template),
				Sent: vk("sent"), Opened: vk("opened"), Clicked: vk("clicked"), Replied: vk("replied"), Bounced: vk("bounced")}
			row.OpenRate, row.ClickRate, row.ReplyRate = ratio(row.Opened, row.Sent), ratio(row.Clicked, row.Sent), ratio(row.Replied, row.Sent)
			tr.Variants = append(tr.Variants, row)
		}
		tr.AB = compareVariants(tr.Variants)
	}
	return tr
}

// headline is a template's subject (or SMS text) with each field shown
// as {Field} and other template actions left out, for people:
// `Welcome, {{ .FirstName | default "there" }}` → "Welcome, {FirstName}".
func headline(c *cadence.Cadence, template string) string {
	t := c.Templates[template]
	if t == nil {
		return ""
	}
	out := templateAction.ReplaceAllStringFunc(t.Headline(), func(a string) string {
		if f := templateField.FindStringSubmatch(a); f != nil {
			return "{" + f[1] + "}"
		}
		return ""
	})
	return strings.Join(strings.Fields(out), " ")
}

var (
	templateAction = regexp.MustCompile(`\{\{.*?\}\}`)
	templateField  = regexp.MustCompile(`^\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_.]*)[^}]*\}\}$`)
)

// reasons lists the counters under a prefix by reason, most first.
func reasons(s map[string]int64, prefix string) []ReasonCount {
	var out []ReasonCount
	for k, v := range s {
		if code, ok := strings.CutPrefix(k, prefix); ok && v != 0 {
			out = append(out, ReasonCount{Code: code, Label: ReasonLabel(code), Count: v})
		}
	}
	byCount(out)
	return out
}

func byCount(rs []ReasonCount) {
	sort.Slice(rs, func(i, j int) bool {
		return rs[i].Count > rs[j].Count || rs[i].Count == rs[j].Count && rs[i].Code < rs[j].Code
	})
}

// compareVariants names the leading variant on replies when there are
// at least MinABEvents of them, else on clicks when there are that many,
// with a two-proportion z-test against the runner-up, so a lead that
// chance explains is not called a win. Opens are never compared: Apple
// Mail Privacy Protection and security scanners open mail by machine, so
// a variant could "win" on opens no person made. Below the floor it says
// there are not enough replies or clicks yet and names no leader.
func compareVariants(vs []VariantRow) *ABResult {
	var replies, clicks int64
	for _, v := range vs {
		replies, clicks = replies+v.Replied, clicks+v.Clicked
	}
	metric, label, hits := "reply_rate", "reply rate", func(v VariantRow) int64 { return v.Replied }
	switch {
	case replies >= MinABEvents:
	case clicks >= MinABEvents:
		metric, label, hits = "click_rate", "click rate", func(v VariantRow) int64 { return v.Clicked }
	default:
		return &ABResult{Metric: metric, Note: fmt.Sprintf("Not enough replies or clicks yet to compare the variants "+
			"(%s and %s so far; it takes %d of either). Opens are not compared: machine opens make them unreliable.",
			plural(replies, "reply", "replies"), plural(clicks, "click", "clicks"), MinABEvents)}
	}
	rate := func(v VariantRow) float64 { return ratio(hits(v), v.Sent) }
	sorted := append([]VariantRow(nil), vs...)
	sort.SliceStable(sorted, func(i, j int) bool { return rate(sorted[i]) > rate(sorted[j]) })
	a, b := sorted[0], sorted[1]
	res := &ABResult{Metric: metric, Leader: a.ID, RunnerUp: b.ID}
	p1, p2 := rate(a), rate(b)
	pool := ratio(hits(a)+hits(b), a.Sent+b.Sent)
	if se := math.Sqrt(pool * (1 - pool) * (1/float64(max(a.Sent, 1)) + 1/float64(max(b.Sent, 1)))); se > 0 {
		res.Z = (p1 - p2) / se
	}
	res.Confident = math.Abs(res.Z) >= 1.96 && a.Sent >= MinABSends && b.Sent >= MinABSends
	rates := fmt.Sprintf("%s %.1f %% vs %s %.1f %%, %d and %d sent", a.ID, 100*p1, b.ID, 100*p2, a.Sent, b.Sent)
	if res.Confident {
		res.Note = fmt.Sprintf("%s leads on %s with 95 %% confidence (%s).", a.ID, label, rates)
		return res
	}
	if p1 > p2 {
		// Sends per variant for 95 % confidence and 80 % power.
		const zz = (1.96 + 0.8416) * (1.96 + 0.8416)
		res.NeedPerVariant = int64(math.Ceil(zz * (p1*(1-p1) + p2*(1-p2)) / ((p1 - p2) * (p1 - p2))))
		res.NeedPerVariant = max(res.NeedPerVariant, MinABSends)
	}
	res.Note = fmt.Sprintf("No variant leads on %s with 95 %% confidence yet (%s).", label, rates)
	if res.NeedPerVariant > 0 {
		res.Note += fmt.Sprintf(" If the rates hold, about %d sends per variant would tell them apart.", res.NeedPerVariant)
	}
	return res
}

package worker

import (
	"context"

	"github.com/nurture-dev/nurture/cadence"
)

// StageRow is one stage of a cadence funnel.
type StageRow struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Entered int64  `json:"entered"`
	Current int64  `json:"current"`
	// FromPrevious is Entered over the previous stage's Entered.
	FromPrevious float64 `json:"from_previous"`
}

// TouchRow is one touch's delivery and engagement counts and rates.
type TouchRow struct {
	Stage     string `json:"stage"`
	ID        string `json:"id"`
	Channel   string `json:"channel"`
	Delay     string `json:"delay"`
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
	Stages       []StageRow       `json:"stages"`
	Touches      []TouchRow       `json:"touches"`
	Counters     map[string]int64 `json:"counters"`
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
	r := &Report{ID: c.ID, Name: c.Name, Version: c.Version, Enrolled: s["enrolled"], States: map[string]int64{},
		Unsubscribed: s["unsubscribed"], Complained: s["complained"], Counters: s}
	for _, st := range cadence.States {
		r.States[string(st)] = s["state:"+string(st)]
	}
	var prev int64 = -1
	for _, st := range c.Stages {
		row := StageRow{ID: st.ID, Name: st.Name, Entered: s["s:"+st.ID+":entered"], Current: s["in:"+st.ID]}
		if prev >= 0 {
			row.FromPrevious = ratio(row.Entered, prev)
		} else {
			row.FromPrevious = 1
		}
		prev = row.Entered
		r.Stages = append(r.Stages, row)
		for _, t := range st.Touches {
			k := func(what string) int64 { return s["t:"+t.ID+":"+what] }
			tr := TouchRow{Stage: st.ID, ID: t.ID, Channel: string(t.Channel), Delay: t.Delay.String(),
				Sent: k("sent"), Delivered: k("delivered"), Opened: k("opened"), OpenedTotal: k("opened_total"), MachineOpened: k("machine_opened"),
				Clicked: k("clicked"), ClickedTotal: k("clicked_total"), ScannerClicked: k("scanner_clicked"), Replied: k("replied"), Bounced: k("bounced"),
				Skipped: k("skipped"), Uncertain: k("uncertain")}
			tr.OpenRate, tr.ClickRate = ratio(tr.Opened, tr.Sent), ratio(tr.Clicked, tr.Sent)
			tr.ReplyRate, tr.BounceRate = ratio(tr.Replied, tr.Sent), ratio(tr.Bounced, tr.Sent)
			r.Touches = append(r.Touches, tr)
		}
	}
	return r, nil
}

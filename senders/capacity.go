package senders

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// Capacity planning: the simulator (cadence.Simulate with RecordEmails)
// says when a cadence wants each email to go; Plan replays those sends
// through the mailboxes' limits in time order, as the worker would take
// them, and says when each mailbox reaches its cap and how far sends slip.
// It is a first-order model: a slipped touch does not push the touches
// after it back (the simulator schedules those from the wanted time), so
// real slips compound a little more than it shows.

// MailboxPlan is one mailbox's share of a simulated run.
type MailboxPlan struct {
	Mailbox *Mailbox
	// Wanted is how many sends the cadence wanted from it; Sent how many
	// went out within the run; Queued how many were still waiting at its
	// end.
	Wanted, Sent, Queued int
	// FirstFull is when a limit first made a send wait (zero: never);
	// FullDays how many days one did.
	FirstFull time.Time
	FullDays  int
	// Slipped is how many sends went later than wanted (beyond their own
	// send window); SlipP50, SlipP90 and SlipMax how much later.
	Slipped                   int
	SlipP50, SlipP90, SlipMax time.Duration
	// Binding counts the sends that waited, by the limit they waited for
	// ("mailbox sam daily limit", "relay x per-hour limit", ...); a send
	// that waited for two is in both.
	Binding map[string]int
	// PerDay is its sends per day (its zone, as dates at midnight UTC).
	PerDay map[time.Time]int
}

// CapacityPlan is Plan's result.
type CapacityPlan struct {
	Mailboxes []*MailboxPlan
	// Owners are the owners the synthetic prospects were spread over
	// (from: {mailbox: owner}).
	Owners []string
	End    time.Time
}

// limitState is one group's counters during a plan.
type limitState struct {
	label       string
	limits      Limits
	dayCap      func(time.Time) int
	zone        *time.Location
	perDay      map[time.Time]int
	tatM, tatH  time.Time
	full        map[time.Time]bool
	firstFull   time.Time
	waitsByKind map[string]int
}

func newLimitState(label string, l Limits, zone *time.Location, dayCap func(time.Time) int) *limitState {
	if dayCap == nil {
		dayCap = func(time.Time) int { return l.PerDay }
	}
	return &limitState{label: label, limits: l, zone: zone, dayCap: dayCap, perDay: map[time.Time]int{}, full: map[time.Time]bool{}, waitsByKind: map[string]int{}}
}

// next returns t if a send may go at t, else the earliest time it may
// and which limit said so.
func (s *limitState) next(t time.Time) (time.Time, string) {
	if c := s.dayCap(t); c > 0 && s.perDay[Day(t, s.zone)] >= c {
		return NextDay(t, s.zone), s.label + " daily limit"
	}
	gcra := func(tat time.Time, per int, period time.Duration) time.Time {
		if per <= 0 {
			return t
		}
		interval := period / time.Duration(per)
		if tat.Before(t) {
			tat = t
		}
		if free := tat.Add(interval - period); free.After(t) {
			return free
		}
		return t
	}
	if at := gcra(s.tatM, s.limits.PerMinute, time.Minute); at.After(t) {
		return at, s.label + " per-minute limit"
	}
	if at := gcra(s.tatH, s.limits.PerHour, time.Hour); at.After(t) {
		return at, s.label + " per-hour limit"
	}
	return t, ""
}

func (s *limitState) take(t time.Time) {
	s.perDay[Day(t, s.zone)]++
	step := func(tat *time.Time, per int, period time.Duration) {
		if per <= 0 {
			return
		}
		if tat.Before(t) {
			*tat = t
		}
		*tat = tat.Add(period / time.Duration(per))
	}
	step(&s.tatM, s.limits.PerMinute, time.Minute)
	step(&s.tatH, s.limits.PerHour, time.Hour)
}

func (s *limitState) waited(t time.Time, why string) {
	if s.firstFull.IsZero() || t.Before(s.firstFull) {
		s.firstFull = t
	}
	s.full[Day(t, s.zone)] = true
	s.waitsByKind[why]++
}

type pending struct {
	at, wanted time.Time
	mb         int
	send       *cadence.SimEmail
	i          int
	waited     []string
}

type pendingHeap []*pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(a, b int) bool {
	if !h[a].at.Equal(h[b].at) {
		return h[a].at.Before(h[b].at)
	}
	return h[a].i < h[b].i
}
func (h pendingHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(*pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Plan replays a simulated run's email sends (report.Emails) through the
// mailboxes of c's from.mailbox, their relays and sending domains, until
// end. Synthetic prospects are spread over the mailboxes' owners in turn
// (from: {mailbox: owner}), over a pool by its rendezvous hash, or all go
// from one mailbox. Recipient-domain limits are not modelled: the
// synthetic population has no real domains.
func Plan(cfg *Config, c *cadence.Cadence, emails []cadence.SimEmail, end time.Time) (*CapacityPlan, error) {
	if c.From.Mailbox == "" {
		return nil, errors.New("the cadence sends from from.email, not a mailbox: no mailbox limits apply (set from.mailbox)")
	}
	choice := Choice(c.From.Mailbox)
	plan := &CapacityPlan{End: end}
	var owners []string
	for _, m := range cfg.Mailboxes {
		owners = append(owners, m.Owners...)
	}
	plan.Owners = owners
	if choice.Owner() && len(owners) == 0 {
		return nil, errors.New("from.mailbox is owner but no mailbox has owners")
	}
	index := map[*Mailbox]int{}
	var mbStates, relayStates, domainStates []*limitState
	groups := map[string]*limitState{}
	state := func(key, label string, l Limits, zone *time.Location, dayCap func(time.Time) int) *limitState {
		if s, ok := groups[key]; ok {
			return s
		}
		s := newLimitState(label, l, zone, dayCap)
		groups[key] = s
		return s
	}
	mailboxFor := func(p int) (*Mailbox, error) {
		owner := ""
		if choice.Owner() {
			owner = owners[p%len(owners)]
		}
		m, why := cfg.Choose(choice, owner, fmt.Sprintf("sim-%d", p), "")
		if m == nil {
			return nil, errors.New(why)
		}
		return m, nil
	}
	h := &pendingHeap{}
	for i := range emails {
		m, err := mailboxFor(emails[i].Prospect)
		if err != nil {
			return nil, err
		}
		k, ok := index[m]
		if !ok {
			k = len(plan.Mailboxes)
			index[m] = k
			plan.Mailboxes = append(plan.Mailboxes, &MailboxPlan{Mailbox: m, Binding: map[string]int{}})
			mb := m
			mbStates = append(mbStates, state("mb:"+m.ID, "mailbox "+m.ID, m.Limits, m.Zone, mb.DayCap))
			var rs, ds *limitState
			if r := cfg.Relays[m.Relay]; r != nil && r.Limits.Any() {
				rs = state("relay:"+r.ID, "relay "+r.ID, r.Limits, time.UTC, nil)
			}
			if l, ok := cfg.SendingDomains[DomainOf(m.Address)]; ok && l.Any() {
				ds = state("sd:"+DomainOf(m.Address), "sending domain "+DomainOf(m.Address), l, time.UTC, nil)
			}
			relayStates, domainStates = append(relayStates, rs), append(domainStates, ds)
		}
		plan.Mailboxes[k].Wanted++
		heap.Push(h, &pending{at: emails[i].At, wanted: emails[i].At, mb: k, send: &emails[i], i: i})
	}
	slips := make([][]time.Duration, len(plan.Mailboxes))
	for h.Len() > 0 {
		p := heap.Pop(h).(*pending)
		mp := plan.Mailboxes[p.mb]
		if p.at.After(end) {
			mp.Queued++
			continue
		}
		at, why := p.at, ""
		for _, s := range []*limitState{mbStates[p.mb], relayStates[p.mb], domainStates[p.mb]} {
			if s == nil {
				continue
			}
			if next, w := s.next(at); next.After(at) {
				s.waited(at, w)
				at, why = next, w
				break
			}
		}
		if why != "" {
			if !slices.Contains(p.waited, why) {
				p.waited = append(p.waited, why)
			}
			if next, err := cadence.NextAllowed(at, c.WindowFor(p.send.Touch), p.send.Zones, c.Holidays); err == nil {
				at = next
			}
			p.at = at
			heap.Push(h, p)
			continue
		}
		for _, s := range []*limitState{mbStates[p.mb], relayStates[p.mb], domainStates[p.mb]} {
			if s != nil {
				s.take(at)
			}
		}
		mp.Sent++
		for _, w := range p.waited {
			mp.Binding[w]++
		}
		if slip := at.Sub(p.wanted); slip > 0 {
			mp.Slipped++
			slips[p.mb] = append(slips[p.mb], slip)
		}
	}
	for k, mp := range plan.Mailboxes {
		s := mbStates[k]
		mp.FirstFull, mp.FullDays, mp.PerDay = s.firstFull, len(s.full), s.perDay
		for _, o := range []*limitState{relayStates[k], domainStates[k]} {
			if o != nil && !o.firstFull.IsZero() && (mp.FirstFull.IsZero() || o.firstFull.Before(mp.FirstFull)) {
				mp.FirstFull = o.firstFull
			}
		}
		if d := slips[k]; len(d) > 0 {
			slices.Sort(d)
			mp.SlipP50, mp.SlipP90, mp.SlipMax = d[len(d)/2], d[len(d)*9/10], d[len(d)-1]
		}
	}
	slices.SortFunc(plan.Mailboxes, func(a, b *MailboxPlan) int {
		return slices.Index(cfg.Mailboxes, a.Mailbox) - slices.Index(cfg.Mailboxes, b.Mailbox)
	})
	return plan, nil
}

// WriteText prints the plan for people.
func (p *CapacityPlan) WriteText(w io.Writer, start time.Time) {
	fmt.Fprintf(w, "\nsender mailboxes (limits replayed in time order; a slip does not push later touches back):\n")
	for _, m := range p.Mailboxes {
		fmt.Fprintf(w, "  %s (%s): wanted %d, sent %d, still waiting at the end %d\n", m.Mailbox.ID, m.Mailbox.Address, m.Wanted, m.Sent, m.Queued)
		if m.FirstFull.IsZero() {
			fmt.Fprintf(w, "    never at a limit\n")
			continue
		}
		day := int(m.FirstFull.Sub(start)/(24*time.Hour)) + 1
		fmt.Fprintf(w, "    first at a limit on day %d (%s), at a limit on %d days\n", day, m.FirstFull.In(m.Mailbox.Zone).Format("Mon 2 Jan 15:04 MST"), m.FullDays)
		for _, k := range sortedKeys(m.Binding) {
			fmt.Fprintf(w, "    sends that waited for the %s: %d\n", k, m.Binding[k])
		}
		if m.Slipped > 0 {
			fmt.Fprintf(w, "    %d sends slipped: median %s, p90 %s, max %s later than wanted\n", m.Slipped, human(m.SlipP50), human(m.SlipP90), human(m.SlipMax))
		}
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// human prints a duration in days, hours or minutes.
func human(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%.0f min", d.Minutes())
}

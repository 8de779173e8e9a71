package cadence

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SimConfig configures a dry run over a synthetic population.
type SimConfig struct {
	Prospects int
	Seed      uint64
	// Start is when the population enrolls (spread over its first day).
	Start time.Time
	// Days is how long the virtual clock runs.
	Days int
	// Rates per delivered message. ClickRate is per human open.
	OpenRate, ClickRate, ReplyRate, BounceRate float64
	// MachineOpenRate is the share of delivered emails opened by a proxy
	// (Apple MPP): recorded, never engagement.
	MachineOpenRate float64
	// AutoReplyShare is the share of replies that are out-of-office.
	AutoReplyShare float64
	// GoalRate is the chance a human click leads to the cadence's first goal
	// a day later.
	GoalRate float64
	// OptOutRate is the chance an SMS is answered with STOP.
	OptOutRate float64
	// PhoneShare is the share of prospects with a mobile number.
	PhoneShare float64
	// Parallel bounds worker goroutines; results do not depend on it.
	Parallel int
	// RecordEmails keeps every email send in SimReport.Emails, for a
	// capacity pass over shared sender limits (senders.Capacity).
	RecordEmails bool
}

// SimEmail is one simulated email send: who, when, which touch, and the
// zones its send window is read in.
type SimEmail struct {
	Prospect int
	At       time.Time
	Touch    *Touch
	Zones    []*time.Location
}

// WithDefaults fills unset fields with documented defaults.
func (c SimConfig) WithDefaults() SimConfig {
	if c.Prospects == 0 {
		c.Prospects = 10000
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if c.Days == 0 {
		c.Days = 120
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.OpenRate, 0.25)
	def(&c.ClickRate, 0.2)
	def(&c.ReplyRate, 0.02)
	def(&c.BounceRate, 0.01)
	def(&c.MachineOpenRate, 0.3)
	def(&c.AutoReplyShare, 0.25)
	def(&c.GoalRate, 0.15)
	def(&c.OptOutRate, 0.01)
	def(&c.PhoneShare, 0.7)
	if c.Parallel <= 0 {
		c.Parallel = runtime.GOMAXPROCS(0)
	}
	return c
}

func (c SimConfig) validate() error {
	for name, v := range map[string]float64{"open-rate": c.OpenRate, "click-rate": c.ClickRate, "reply-rate": c.ReplyRate,
		"bounce-rate": c.BounceRate, "machine-open-rate": c.MachineOpenRate, "goal-rate": c.GoalRate, "phone-share": c.PhoneShare} {
		if v < 0 || v > 1 || math.IsNaN(v) {
			return fmt.Errorf("%s must be between 0 and 1, found %v", name, v)
		}
	}
	if c.Prospects < 0 || c.Prospects > 50_000_000 {
		return fmt.Errorf("prospects must be between 1 and 50,000,000, found %d", c.Prospects)
	}
	if c.Days < 1 || c.Days > 3650 {
		return fmt.Errorf("days must be between 1 and 3650, found %d", c.Days)
	}
	return nil
}

// simZone is one place a synthetic prospect lives.
type simZone struct {
	name   string
	weight int
	// phone is a sample number there; its zones come from the number.
	phone string
	state string
}

// simZones is the synthetic population's geography: mostly North America,
// with Europe, Asia-Pacific, Arizona (no DST) and states with stricter SMS
// rules represented.
var simZones = []simZone{
	{"America/New_York", 22, "+12125550100", ""},
	{"America/New_York", 6, "+13055550100", "FL"},
	{"America/Chicago", 14, "+13125550100", ""},
	{"America/Chicago", 3, "+14055550100", "OK"},
	{"America/Denver", 5, "+13035550100", ""},
	{"America/Phoenix", 4, "+16025550100", ""},
	{"America/Los_Angeles", 14, "+14155550100", ""},
	{"America/Los_Angeles", 4, "+12065550100", "WA"},
	{"Europe/London", 10, "+447911123456", ""},
	{"Europe/Berlin", 8, "+4915123456789", ""},
	{"Asia/Tokyo", 4, "+819012345678", ""},
	{"Australia/Sydney", 3, "+61412345678", ""},
	{"Asia/Kolkata", 3, "+919812345678", ""},
}

// SimReport is the result of a simulation.
type SimReport struct {
	Cadence     string
	Version     string
	Config      SimConfig
	Entered     map[string]int
	Final       map[string]int
	Sends       map[Channel]int
	PerTouch    map[string]int
	PerDay      map[int][2]int
	Deferred    map[string]int
	Held        map[string]int
	Skipped     map[string]int
	Events      map[string]int
	Variants    map[string]int
	Transitions int
	// Emails lists every email send with RecordEmails, by time then
	// prospect.
	Emails []SimEmail
}

func newReport() *SimReport {
	return &SimReport{Entered: map[string]int{}, Final: map[string]int{}, Sends: map[Channel]int{},
		PerTouch: map[string]int{}, PerDay: map[int][2]int{}, Deferred: map[string]int{}, Held: map[string]int{},
		Skipped: map[string]int{}, Events: map[string]int{}, Variants: map[string]int{}}
}

func (r *SimReport) merge(o *SimReport) {
	add := func(dst, src map[string]int) {
		for k, v := range src {
			dst[k] += v
		}
	}
	add(r.Entered, o.Entered)
	add(r.Final, o.Final)
	add(r.PerTouch, o.PerTouch)
	add(r.Deferred, o.Deferred)
	add(r.Held, o.Held)
	add(r.Skipped, o.Skipped)
	add(r.Events, o.Events)
	add(r.Variants, o.Variants)
	for k, v := range o.Sends {
		r.Sends[k] += v
	}
	for k, v := range o.PerDay {
		cur := r.PerDay[k]
		r.PerDay[k] = [2]int{cur[0] + v[0], cur[1] + v[1]}
	}
	r.Transitions += o.Transitions
	r.Emails = append(r.Emails, o.Emails...)
}

// rng is splitmix64: tiny, fast and seedable per prospect, so a prospect's
// fate depends only on (seed, index), never on scheduling.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *rng) chance(p float64) bool { return r.float() < p }

// exp returns an exponentially distributed duration with the given mean.
func (r *rng) exp(mean time.Duration) time.Duration {
	return time.Duration(-math.Log(1-r.float()) * float64(mean))
}

type simEvent struct {
	at time.Time
	ev Event
}

// Simulate runs the cadence over a synthetic population on a virtual clock
// with the real schedule maths, gate and state machine.
func Simulate(c *Cadence, cfg SimConfig) (*SimReport, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	zones := make([]*time.Location, len(simZones))
	phoneZones := make([][]*time.Location, len(simZones))
	totalWeight := 0
	for i, z := range simZones {
		loc, err := time.LoadLocation(z.name)
		if err != nil {
			return nil, err
		}
		zones[i] = loc
		phoneZones[i] = ZonesForPhone(z.phone)
		totalWeight += z.weight
	}
	goal := ""
	for _, s := range c.Stages {
		for _, r := range s.Advance {
			if r.On == OnGoal && goal == "" {
				goal = orDefault(r.Goal, "converted")
			}
		}
	}
	for _, e := range c.Exits {
		if e.On == "goal" && goal == "" {
			goal = orDefault(e.Goal, "converted")
		}
	}

	parts := make([]*SimReport, cfg.Parallel)
	var wg sync.WaitGroup
	chunk := (cfg.Prospects + cfg.Parallel - 1) / cfg.Parallel
	for w := 0; w < cfg.Parallel; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, cfg.Prospects)
		parts[w] = newReport()
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(rep *SimReport, lo, hi int) {
			defer wg.Done()
			s := simulator{c: c, cfg: cfg, rep: rep, zones: zones, phoneZones: phoneZones, totalWeight: totalWeight, goal: goal,
				end: cfg.Start.Add(time.Duration(cfg.Days) * 24 * time.Hour)}
			for i := lo; i < hi; i++ {
				s.prospect(i)
			}
		}(parts[w], lo, hi)
	}
	wg.Wait()
	rep := newReport()
	rep.Cadence, rep.Version, rep.Config = c.ID, c.Version, cfg
	for _, p := range parts {
		rep.merge(p)
	}
	sort.Slice(rep.Emails, func(i, j int) bool {
		a, b := rep.Emails[i], rep.Emails[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.Prospect < b.Prospect
	})
	return rep, nil
}

type simulator struct {
	c           *Cadence
	cfg         SimConfig
	rep         *SimReport
	zones       []*time.Location
	phoneZones  [][]*time.Location
	totalWeight int
	goal        string
	end         time.Time
	pending     []simEvent
	hist        History
	out         Outcome
}

// reasonKey shortens a gate reason to its category for counting.
func reasonKey(s string) string {
	if i := strings.Index(s, " in "); i > 0 {
		return s[:i]
	}
	if i := strings.Index(s, " (zone"); i > 0 {
		return s[:i]
	}
	return s
}

func (s *simulator) push(at time.Time, ev Event) {
	ev.At = at
	s.pending = append(s.pending, simEvent{at, ev})
	// Insertion keeps the tiny queue sorted by time.
	for i := len(s.pending) - 1; i > 0 && s.pending[i].at.Before(s.pending[i-1].at); i-- {
		s.pending[i], s.pending[i-1] = s.pending[i-1], s.pending[i]
	}
}

func (s *simulator) prospect(i int) {
	r := rng{s: s.cfg.Seed*0x9e3779b97f4a7c15 + uint64(i)*0xd1b54a32d192ed03 + 1}
	pick := int(r.next() % uint64(s.totalWeight))
	zi := 0
	for ; zi < len(simZones)-1 && pick >= simZones[zi].weight; zi++ {
		pick -= simZones[zi].weight
	}
	z := simZones[zi]
	rec := Recipient{Email: "p" + strconv.Itoa(i) + "@example.com", State: z.state}
	explicitZone := r.chance(0.6)
	if explicitZone {
		rec.Zone = s.zones[zi]
	}
	if r.chance(s.cfg.PhoneShare) {
		rec.Phone = z.phone
		rec.PhoneZones = s.phoneZones[zi]
	}
	if r.chance(0.4) {
		rec.Attr = map[string]string{"plan": "team"}
	}
	loc := s.c.ZoneFor(&rec)
	s.pending = s.pending[:0]
	s.hist.Email, s.hist.SMS = s.hist.Email[:0], s.hist.SMS[:0]

	enrollAt := s.cfg.Start.Add(time.Duration(r.next() % uint64(24*time.Hour)))
	o := s.c.Start(Enrollment{ID: "sim-" + strconv.Itoa(i)}, enrollAt, loc)
	e := o.Enrollment
	s.rep.Entered[e.Stage]++
	if e.State.Terminal() {
		s.rep.Final[finalKey(&e)]++
		return
	}
	apply := func(ev Event) {
		prevStage := e.Stage
		if err := s.c.ApplyInto(&s.out, e, ev, loc); err != nil {
			return
		}
		s.rep.Transitions++
		e = s.out.Enrollment
		for _, a := range s.out.Actions {
			switch a {
			case ActSuppressEmail, ActUnsubscribeEmail:
				rec.EmailBlocked = string(a)
			case ActOptOutSMS:
				rec.SMSBlocked = "STOP"
			}
		}
		if e.Stage != prevStage {
			s.rep.Entered[e.Stage]++
		}
	}
	for iter := 0; iter < 1000; iter++ {
		var next time.Time
		dueKind := 0 // 1: step due, 2: pause/snooze ends
		switch {
		case e.State == Active:
			next, dueKind = e.DueAt, 1
		case (e.State == Paused || e.State == Snoozed) && !e.Until.IsZero():
			next, dueKind = e.Until, 2
		}
		if len(s.pending) > 0 && (dueKind == 0 || !s.pending[0].at.After(next)) {
			pe := s.pending[0]
			copy(s.pending, s.pending[1:])
			s.pending = s.pending[:len(s.pending)-1]
			if pe.at.After(s.end) {
				break
			}
			s.rep.Events[eventKey(pe.ev)]++
			apply(pe.ev)
			continue
		}
		if dueKind == 0 || next.After(s.end) || e.State.Terminal() {
			break
		}
		if dueKind == 2 {
			apply(Event{Kind: EvDue, At: next})
			continue
		}
		d := s.c.Gate(&e, Claim{e.Stage, e.Step, e.Generation}, &rec, &s.hist, next)
		switch d.Verdict {
		case Send:
			if s.cfg.RecordEmails && d.Touch.Channel == Email {
				s.rep.Emails = append(s.rep.Emails, SimEmail{Prospect: i, At: next, Touch: d.Touch, Zones: d.Zones})
			}
			s.sent(&r, &e, &rec, d, next)
			apply(Event{Kind: EvSent, At: next, Touch: d.Touch.ID, Channel: d.Touch.Channel})
		case Defer:
			s.rep.Deferred[reasonKey(d.Reason)]++
			e.DueAt = d.At
		case Skip:
			s.rep.Skipped[d.Touch.ID+": "+d.Reason]++
			apply(Event{Kind: EvSkipped, At: next, Touch: d.Touch.ID, Reason: d.Reason})
		case Hold:
			s.rep.Held[reasonKey(d.Reason)]++
			s.rep.Final["held"]++
			return
		case StageEnd:
			apply(Event{Kind: EvDue, At: next})
		default:
			s.rep.Final["stale claim (bug)"]++
			return
		}
	}
	s.rep.Final[finalKey(&e)]++
}

func finalKey(e *Enrollment) string {
	switch e.State {
	case Exited:
		return "exited: " + e.Reason
	case Active:
		return "active at end of run"
	case Warm:
		return "warm (waiting for sales)"
	}
	return string(e.State)
}

func eventKey(ev Event) string {
	switch {
	case ev.Kind == EvOpened && ev.Machine:
		return "machine opens"
	case ev.Kind == EvOpened:
		return "human opens"
	case ev.Kind == EvClicked:
		return "clicks"
	case ev.Kind == EvReplied:
		return "replies"
	case ev.Kind == EvAutoReplied:
		return "auto-replies"
	case ev.Kind == EvBounced:
		return "hard bounces"
	case ev.Kind == EvSMSOptOut:
		return "sms opt-outs"
	case ev.Kind == EvGoal:
		return "goals"
	}
	return string(ev.Kind)
}

// sent records a send and draws what the recipient does with it.
func (s *simulator) sent(r *rng, e *Enrollment, rec *Recipient, d Decision, at time.Time) {
	t := d.Touch
	s.rep.Sends[t.Channel]++
	s.rep.PerTouch[t.ID]++
	if len(t.Variants) > 1 {
		s.rep.Variants[t.ID+"/"+d.Variant.ID]++
	}
	day := int(at.Sub(s.cfg.Start) / (24 * time.Hour))
	pd := s.rep.PerDay[day]
	if t.Channel == Email {
		pd[0]++
		s.hist.Email = append(s.hist.Email, at)
	} else {
		pd[1]++
		s.hist.SMS = append(s.hist.SMS, at)
	}
	s.rep.PerDay[day] = pd
	if t.Channel == SMS {
		if r.chance(s.cfg.OptOutRate) {
			s.push(at.Add(r.exp(time.Hour)), Event{Kind: EvSMSOptOut, Channel: SMS, By: "sms"})
		} else if r.chance(s.cfg.ReplyRate) {
			s.push(at.Add(r.exp(2*time.Hour)), Event{Kind: EvReplied, Touch: t.ID, Channel: SMS})
		}
		return
	}
	if r.chance(s.cfg.BounceRate) {
		s.push(at.Add(time.Minute), Event{Kind: EvBounced, Hard: true, Touch: t.ID, Channel: Email})
		return
	}
	if r.chance(s.cfg.MachineOpenRate) {
		s.push(at.Add(5*time.Second), Event{Kind: EvOpened, Machine: true, Touch: t.ID, Channel: Email})
	}
	if r.chance(s.cfg.OpenRate) {
		openAt := at.Add(time.Minute + r.exp(6*time.Hour))
		s.push(openAt, Event{Kind: EvOpened, Touch: t.ID, Channel: Email})
		if r.chance(s.cfg.ClickRate) {
			clickAt := openAt.Add(time.Minute + r.exp(5*time.Minute))
			s.push(clickAt, Event{Kind: EvClicked, Touch: t.ID, Channel: Email})
			if s.goal != "" && r.chance(s.cfg.GoalRate) {
				s.push(clickAt.Add(24*time.Hour), Event{Kind: EvGoal, Goal: s.goal, By: "simulated"})
			}
		}
	}
	if r.chance(s.cfg.ReplyRate) {
		if r.chance(s.cfg.AutoReplyShare) {
			s.push(at.Add(2*time.Minute), Event{Kind: EvAutoReplied, Touch: t.ID, Channel: Email})
		} else {
			s.push(at.Add(time.Minute+r.exp(12*time.Hour)), Event{Kind: EvReplied, Touch: t.ID, Channel: Email})
		}
	}
}

// WriteText prints the report for people.
func (r *SimReport) WriteText(w io.Writer, c *Cadence) {
	cfg := r.Config
	n := cfg.Prospects
	pct := func(v int) string { return fmt.Sprintf("%5.1f%%", 100*float64(v)/float64(max(n, 1))) }
	fmt.Fprintf(w, "Simulated %d prospects through %s (%s), seed %d, %s to %s (%d days)\n",
		n, r.Cadence, r.Version, cfg.Seed, cfg.Start.Format("2006-01-02"), cfg.Start.AddDate(0, 0, cfg.Days).Format("2006-01-02"), cfg.Days)
	fmt.Fprintf(w, "rates: open %.2f, click %.2f of opens, reply %.3f, bounce %.3f, machine open %.2f, goal %.2f of clicks\n\n",
		cfg.OpenRate, cfg.ClickRate, cfg.ReplyRate, cfg.BounceRate, cfg.MachineOpenRate, cfg.GoalRate)

	fmt.Fprintf(w, "Stage funnel             entered  of all\n")
	for _, s := range c.Stages {
		fmt.Fprintf(w, "  %-22s %7d  %s\n", s.ID, r.Entered[s.ID], pct(r.Entered[s.ID]))
	}
	fmt.Fprintf(w, "\nWhere prospects ended\n")
	writeCounts(w, r.Final, n)

	fmt.Fprintf(w, "\nSends: %d email, %d sms\n", r.Sends[Email], r.Sends[SMS])
	fmt.Fprintf(w, "  %-22s %7s\n", "touch", "sent")
	for _, s := range c.Stages {
		for _, t := range s.Touches {
			fmt.Fprintf(w, "  %-22s %7d  %s/%s\n", t.ID, r.PerTouch[t.ID], s.ID, t.Channel)
		}
	}
	if len(r.Variants) > 0 {
		fmt.Fprintf(w, "\nA/B variants\n")
		writeCounts(w, r.Variants, 0)
	}
	fmt.Fprintf(w, "\nEngagement\n")
	writeCounts(w, r.Events, 0)
	fmt.Fprintf(w, "\nDeferred (sent later, never dropped)\n")
	writeCounts(w, r.Deferred, 0)
	fmt.Fprintf(w, "\nSkipped touches\n")
	writeCounts(w, r.Skipped, 0)
	fmt.Fprintf(w, "\nHeld touches\n")
	writeCounts(w, r.Held, 0)

	fmt.Fprintf(w, "\nSends per day        email     sms\n")
	days := make([]int, 0, len(r.PerDay))
	for d := range r.PerDay {
		days = append(days, d)
	}
	sort.Ints(days)
	for _, d := range days {
		v := r.PerDay[d]
		day := cfg.Start.AddDate(0, 0, d)
		fmt.Fprintf(w, "  %s %s %7d %7d\n", day.Format("2006-01-02"), day.Format("Mon"), v[0], v[1])
	}
}

func writeCounts(w io.Writer, m map[string]int, total int) {
	if len(m) == 0 {
		fmt.Fprintf(w, "  (none)\n")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		if total > 0 {
			fmt.Fprintf(w, "  %-44s %7d  %5.1f%%\n", k, m[k], 100*float64(m[k])/float64(total))
		} else {
			fmt.Fprintf(w, "  %-44s %7d\n", k, m[k])
		}
	}
}

package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/worker"
)

// The mailboxes page shows each sender mailbox's day (NURTURE_MAILBOXES):
// who it sends for, today's sends against today's limit (the warm-up
// ramp's value while it warms up), its rate limits, a slow-down the
// provider asked for and its brake. Every page also carries the brake
// banner: a brake stops a mailbox or a cadence until an admin resumes it,
// so it must not wait for someone to open this page to be seen.

// mailboxView is one mailbox's card.
type mailboxView struct {
	ID, Name, Address string
	// Mine says the mailbox sends for the logged-in rep.
	Mine          bool
	Owners, Pools []string
	// Relay is the relay's id ("" is the default relay) and RelayLimits
	// its own limits in words.
	Relay, RelayLimits string
	Zone               string
	Today, Cap         int
	// Percent is the bar's fill (0–100); Usage the exact numbers.
	Percent int
	Usage   string
	// Full says today's limit is reached; NextDay is when sending resumes.
	Full    bool
	NextDay stamp
	Warmup  string
	Rates   string
	// Slow is the slow-down factor (1: none); SlowNow the limits in
	// effect meanwhile.
	Slow    int
	SlowNow string
	// Brake is the reason its brake is on ("": off); BrakeAt when.
	Brake   string
	BrakeAt stamp
}

type mailboxesView struct {
	page
	// Configured says a mailboxes file is loaded; File is its path.
	Configured bool
	File       string
	List       []mailboxView
	// Summary counts the mailboxes and those needing a look.
	Summary string
	// SlowEvery is how often a slow-down halves without another answer.
	SlowEvery string
}

// brakeView is one brake in the banner.
type brakeView struct {
	Kind, ID string
	// Title names what is stopped ("Mailbox sam (sam@acme.example)").
	Title  string
	Reason string
	Since  stamp
	Ago    string
	// Link leads to the stopped thing's page.
	Link string
}

// brakes lists the brakes that are on for the banner. It is one small
// Redis read per page; a failure only hides the banner (logged), it does
// not take the page down with it.
func (d *Dashboard) brakes(ctx context.Context) []brakeView {
	bs, err := d.e.Brakes(ctx)
	if err != nil {
		d.cfg.Logger.Warn("dashboard: reading the send brakes for the banner", "err", err)
		return nil
	}
	now := d.e.Clock()
	out := make([]brakeView, 0, len(bs))
	for _, b := range bs {
		v := brakeView{Kind: b.Kind, ID: b.ID, Title: capitalize(b.What), Reason: b.Reason,
			Since: stamp{T: b.At, loc: time.UTC, now: now}, Ago: ago(now.Sub(b.At))}
		switch b.Kind {
		case "mailbox":
			v.Link = "/mailboxes#mailbox-" + b.ID
			if mb := d.e.Senders().Mailbox(b.ID); mb != nil {
				v.Title = "Mailbox " + mb.ID + " (" + mb.Address + ")"
			}
		case "cadence":
			v.Link = "/cadences/" + url.PathEscape(b.ID)
			if c, err := d.e.Cadence(b.ID); err == nil {
				v.Title = cadenceName(c) + " cadence"
			}
		}
		out = append(out, v)
	}
	return out
}

// mailboxes shows every configured mailbox's day, or how to configure
// them.
func (d *Dashboard) mailboxes(w http.ResponseWriter, r *http.Request, s *Session) {
	v := mailboxesView{page: d.page(r, s, "Mailboxes")}
	v.Nav = "mailboxes"
	v.SlowEvery = durationWords(store.SlowRecover)
	cfg := d.e.Senders()
	if cfg == nil {
		d.render(w, r, http.StatusOK, "mailboxes", v)
		return
	}
	v.Configured, v.File = true, cfg.File
	sts, err := d.e.MailboxStatuses(r.Context())
	if err != nil {
		d.fail(w, r, s, err, "The mailboxes could not be loaded.")
		return
	}
	since := map[string]stamp{}
	for _, b := range v.Brakes {
		if b.Kind == "mailbox" {
			since[b.ID] = b.Since
		}
	}
	now := d.e.Clock()
	var stopped, slowed, warming, full int
	for _, st := range sts {
		mv := mailboxCard(cfg, st, now)
		mv.Mine = !isAdmin(s) && containsFold(st.Mailbox.Owners, s.Name)
		mv.BrakeAt = since[mv.ID]
		if mv.Brake != "" {
			stopped++
		}
		if mv.Slow > 1 {
			slowed++
		}
		if mv.Full {
			full++
		}
		if st.Mailbox.Warmup != nil && st.Cap < st.Mailbox.Limits.PerDay {
			warming++
		}
		v.List = append(v.List, mv)
	}
	v.Summary = mailboxSummary(len(sts), stopped, full, slowed, warming)
	d.render(w, r, http.StatusOK, "mailboxes", v)
}

// mailboxSummary is "3 mailboxes: 1 stopped by its brake, 1 warming up."
func mailboxSummary(n, stopped, full, slowed, warming int) string {
	head := "1 mailbox"
	if n != 1 {
		head = strconv.Itoa(n) + " mailboxes"
	}
	var parts []string
	if stopped > 0 {
		parts = append(parts, fmt.Sprintf("%d stopped by a brake", stopped))
	}
	if full > 0 {
		parts = append(parts, fmt.Sprintf("%d at today's limit", full))
	}
	if slowed > 0 {
		parts = append(parts, fmt.Sprintf("%d slowed down", slowed))
	}
	if warming > 0 {
		parts = append(parts, fmt.Sprintf("%d warming up", warming))
	}
	if len(parts) == 0 {
		return head + ", all sending normally."
	}
	return head + ": " + strings.Join(parts, ", ") + "."
}

// mailboxCard puts a mailbox's status into words and numbers.
func mailboxCard(cfg *senders.Config, st worker.MailboxStatus, now time.Time) mailboxView {
	m := st.Mailbox
	zone := m.Zone
	if zone == nil {
		zone = time.UTC
	}
	v := mailboxView{ID: m.ID, Name: m.Name, Address: m.Address, Owners: m.Owners, Pools: m.Pools, Relay: m.Relay, Zone: zone.String(),
		Today: st.Today, Cap: st.Cap, Slow: max(st.Slow, 1), Brake: st.Brake}
	if r := cfg.Relays[m.Relay]; r != nil && r.Limits.Any() {
		v.RelayLimits = limitWords(r.Limits, 1)
	}
	if st.Cap > 0 {
		v.Usage = fmt.Sprintf("%d of %d today", st.Today, st.Cap)
		v.Percent = min(100, st.Today*100/st.Cap)
		v.Full = st.Today >= st.Cap
		v.NextDay = stamp{T: senders.NextDay(now, zone), loc: zone, now: now}
	} else {
		v.Usage = fmt.Sprintf("%d today, no daily limit", st.Today)
	}
	v.Warmup = warmupWords(m, st.Cap, now)
	v.Rates = limitWords(senders.Limits{PerMinute: m.Limits.PerMinute, PerHour: m.Limits.PerHour}, 1)
	if v.Rates == "" {
		v.Rates = "no per-minute or per-hour limit"
	}
	if v.Slow > 1 {
		v.SlowNow = limitWords(senders.Limits{PerMinute: m.Limits.PerMinute, PerHour: m.Limits.PerHour}, v.Slow)
	}
	return v
}

// warmupWords describes a warm-up ramp on the day that holds now: "warm-up
// day 4: limit 26 today, rising 10 %/day to 100".
func warmupWords(m *senders.Mailbox, capToday int, now time.Time) string {
	w := m.Warmup
	if w == nil {
		return ""
	}
	growth := strconv.FormatFloat(math.Round(w.Growth*1000)/10, 'f', -1, 64) + " %/day"
	day := int(senders.Day(now, m.Zone).Sub(w.Since).Hours()/24) + 1
	switch {
	case day < 1:
		// DayCap holds a mailbox to its first day's limit before it starts.
		return fmt.Sprintf("warm-up starts %s: limit %d today, then rising %s to %d", w.Since.Format("Mon 2 Jan 2006"), capToday, growth, m.Limits.PerDay)
	case capToday >= m.Limits.PerDay:
		return fmt.Sprintf("warm-up done (day %d): the full limit of %d a day", day, m.Limits.PerDay)
	}
	return fmt.Sprintf("warm-up day %d: limit %d today, rising %s to %d", day, capToday, growth, m.Limits.PerDay)
}

// limitWords says limits divided by a slow-down factor: "at most 2 a
// minute and 40 an hour"; "" for none. Divided limits that are not whole
// are said as intervals ("1 every 2 min"), which is how GCRA spaces them.
func limitWords(l senders.Limits, slow int) string {
	var parts []string
	one := func(n int, period time.Duration, unit string) {
		if n <= 0 {
			return
		}
		if n%slow == 0 {
			parts = append(parts, strconv.Itoa(n/slow)+" "+unit)
			return
		}
		parts = append(parts, "1 every "+durationWords(period*time.Duration(slow)/time.Duration(n)))
	}
	one(l.PerMinute, time.Minute, "a minute")
	one(l.PerHour, time.Hour, "an hour")
	if l.PerDay > 0 {
		parts = append(parts, strconv.Itoa(l.PerDay)+" a day")
	}
	if len(parts) == 0 {
		return ""
	}
	return "at most " + strings.Join(parts, " and ")
}

// durationWords is a duration as people say it: "10 min", "4.5 min", "2 h".
func durationWords(d time.Duration) string {
	f := func(x float64) string { return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64) }
	switch {
	case d < time.Minute:
		return f(d.Seconds()) + " s"
	case d < time.Hour:
		return f(d.Minutes()) + " min"
	}
	return f(d.Hours()) + " h"
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// resumeSending lifts a mailbox's or cadence's brake (admins) and goes
// back to the page the banner was on.
func (d *Dashboard) resumeSending(w http.ResponseWriter, r *http.Request, s *Session) {
	if !isAdmin(s) {
		d.forbidden(w, r, s, "Resuming sending is for admins",
			"You are logged in as "+s.Name+" ("+string(s.Role)+"). A brake stops sending when too many emails bounce or draw complaints; an admin resumes it once the cause is fixed.")
		return
	}
	kind, id := r.PostForm.Get("kind"), r.PostForm.Get("id")
	to := back(r, "/mailboxes")
	say := func(msg string) { http.Redirect(w, r, d.withFlash(to, msg, ""), http.StatusSeeOther) }
	if (kind != "mailbox" && kind != "cadence") || id == "" {
		say("Not done: that is not a mailbox or cadence brake.")
		return
	}
	what := kind + " " + id
	err := d.e.ResumeSending(r.Context(), kind, id, by(s))
	switch {
	case errors.Is(err, worker.ErrNoBrake):
		say("Nothing to do: " + what + " was not stopped; someone may have resumed it already.")
	case err != nil:
		say(d.notDone(w, r, err))
	default:
		// Held touches are looked at again within the hour (the worker's
		// brake recheck), so "at once" would be a promise we do not keep.
		say("Sending resumed for " + what + ". The emails it held go out within the hour; its bounce and complaint counts start afresh.")
	}
}

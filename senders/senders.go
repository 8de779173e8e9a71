// Package senders holds the sender mailboxes a deployment sends from: the
// mailboxes file (NURTURE_MAILBOXES), its validation, the limits on each
// mailbox, relay (the provider account), sending domain and recipient
// domain, warm-up ramps, bounce brakes, and which mailbox an enrollment
// sends from. It has no Redis and no clock: the store enforces the limits
// (store/sendlimits.go), the worker asks at send time (worker/senders.go).
package senders

import (
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
)

// Limits bounds sends per rolling minute and hour (GCRA: sends are spaced,
// a full burst is allowed once the bucket is full) and per calendar day in
// the owner's zone (a hard count, as mailbox providers and reps count a
// day). Zero is no limit.
type Limits struct {
	PerMinute, PerHour, PerDay int
}

// Any reports whether some limit is set.
func (l Limits) Any() bool { return l.PerMinute > 0 || l.PerHour > 0 || l.PerDay > 0 }

// Warmup ramps a new mailbox's daily limit: Start sends on Since's day,
// growing by Growth (0.10 is +10 %) each day after, up to Limits.PerDay.
type Warmup struct {
	Start  int
	Growth float64
	Since  time.Time // a date, midnight UTC
}

// Relay is an SMTP account mailboxes send through; its limits are the
// provider's quota over every mailbox on it.
type Relay struct {
	ID     string
	SMTP   channels.SMTPConfig
	Limits Limits
	Pos    cadence.Pos
}

// Mailbox is one sending address.
type Mailbox struct {
	ID string
	// Address is the bare address; Name the display name.
	Address, Name string
	// Owners are the prospect owners (reps) whose prospects it sends to
	// with `from: {mailbox: owner}`.
	Owners []string
	// Pools are the pools it is in (`from: {mailbox: pool:NAME}`).
	Pools []string
	// Relay is the relay it sends through; "" is the default relay
	// (SMTP_HOST).
	Relay  string
	Limits Limits
	Warmup *Warmup
	// Zone is where its day starts for PerDay (default UTC).
	Zone *time.Location
	Pos  cadence.Pos
}

// From is the mailbox's From header value.
func (m *Mailbox) From() string {
	if m.Name == "" {
		return m.Address
	}
	return quoteName(m.Name) + " <" + m.Address + ">"
}

func quoteName(n string) string {
	if strings.ContainsAny(n, `"(),:;<>@[\].`) {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(n) + `"`
	}
	return n
}

// Brakes stop a mailbox or a cadence when its recent sends bounce or draw
// complaints too often.
type Brakes struct {
	// Window is how many recent sends the rates are taken over (default
	// 200). A rate is counted against at least Window sends, so a few
	// early bounces do not stop a new mailbox, but more bounces than the
	// threshold allows in a full window stop it at once.
	Window int
	// BounceRate (default 0.05) and ComplaintRate (default 0.003) are the
	// thresholds; over either, sending stops until an admin resumes.
	BounceRate, ComplaintRate float64
}

// Config is a loaded mailboxes file.
type Config struct {
	// File is where it was loaded from.
	File      string
	Relays    map[string]*Relay
	Mailboxes []*Mailbox
	// RecipientDomains limits sends to one recipient domain ("acme.com");
	// DefaultRecipient applies to every domain without its own entry.
	RecipientDomains map[string]Limits
	DefaultRecipient Limits
	// SendingDomains limits sends from a domain, over all its mailboxes.
	SendingDomains map[string]Limits
	Brakes         Brakes

	byID    map[string]*Mailbox
	byOwner map[string]*Mailbox
	pools   map[string][]*Mailbox
}

// Mailbox returns a mailbox by id.
func (c *Config) Mailbox(id string) *Mailbox {
	if c == nil {
		return nil
	}
	return c.byID[id]
}

// OwnerMailbox returns an owner's mailbox, or nil.
func (c *Config) OwnerMailbox(owner string) *Mailbox {
	if c == nil {
		return nil
	}
	return c.byOwner[strings.ToLower(owner)]
}

// Pool returns a pool's mailboxes in file order.
func (c *Config) Pool(name string) []*Mailbox {
	if c == nil {
		return nil
	}
	return c.pools[name]
}

// Choice is how a cadence picks its mailbox (cadence.FromSpec.Mailbox):
// "owner", "pool:NAME" or a mailbox id.
type Choice string

// Owner reports whether the choice is the prospect's owner's mailbox.
func (c Choice) Owner() bool { return c == "owner" }

// Pool returns the pool name of a "pool:NAME" choice.
func (c Choice) Pool() (string, bool) { return strings.CutPrefix(string(c), "pool:") }

// Choose picks the mailbox an enrollment sends from. kept is the mailbox
// the enrollment already sent from (cadence.Enrollment.Mailbox): it is kept
// while it exists and still fits the choice, so a thread stays in one
// inbox. A pool is spread by rendezvous hashing of the enrollment id, so
// adding a mailbox to a pool moves only the enrollments it wins. It returns
// nil and why when nothing fits (the owner has no mailbox, an unknown id or
// pool): the caller falls back to the cadence's own from address, or holds
// the touch.
func (c *Config) Choose(choice Choice, owner, enrollmentID, kept string) (*Mailbox, string) {
	if choice == "" {
		return nil, "the cadence names no mailbox"
	}
	if m := c.Mailbox(kept); m != nil && c.fits(choice, m, owner) {
		return m, ""
	}
	switch {
	case choice.Owner():
		if owner == "" {
			return nil, "the prospect has no owner"
		}
		if m := c.OwnerMailbox(owner); m != nil {
			return m, ""
		}
		return nil, "owner " + owner + " has no mailbox"
	}
	if name, ok := choice.Pool(); ok {
		pool := c.Pool(name)
		if len(pool) == 0 {
			return nil, "mailbox pool " + name + " is empty or not configured"
		}
		return rendezvous(pool, enrollmentID), ""
	}
	if m := c.Mailbox(string(choice)); m != nil {
		return m, ""
	}
	return nil, "mailbox " + string(choice) + " is not configured"
}

func (c *Config) fits(choice Choice, m *Mailbox, owner string) bool {
	switch {
	case choice.Owner():
		return c.OwnerMailbox(owner) == m
	}
	if name, ok := choice.Pool(); ok {
		return slices.Contains(m.Pools, name)
	}
	return m.ID == string(choice)
}

func rendezvous(pool []*Mailbox, key string) *Mailbox {
	var best *Mailbox
	var bestScore uint64
	for _, m := range pool {
		h := fnv.New64a()
		h.Write([]byte(m.ID))
		h.Write([]byte{0})
		h.Write([]byte(key))
		if s := h.Sum64(); best == nil || s > bestScore {
			best, bestScore = m, s
		}
	}
	return best
}

// DayCap is the mailbox's daily limit on the day that holds t (its zone):
// the warm-up ramp's value that day, never above Limits.PerDay; 0 is no
// daily limit.
func (m *Mailbox) DayCap(t time.Time) int {
	limit := m.Limits.PerDay
	if m.Warmup == nil {
		return limit
	}
	day := Day(t, m.Zone)
	d := int(day.Sub(m.Warmup.Since).Hours() / 24)
	if d < 0 {
		d = 0
	}
	ramp := float64(m.Warmup.Start) * math.Pow(1+m.Warmup.Growth, float64(d))
	if limit > 0 && ramp >= float64(limit) {
		return limit
	}
	return int(math.Floor(ramp + 1e-9))
}

// Day is the calendar day holding t in loc, as midnight UTC of that date.
func Day(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, mo, d := t.In(loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// NextDay is when the day after the one holding t begins in loc.
func NextDay(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, mo, d := t.In(loc).Date()
	return time.Date(y, mo, d+1, 0, 0, 0, 0, loc)
}

// RecipientLimits returns the limits on sends to a recipient domain.
func (c *Config) RecipientLimits(domain string) Limits {
	if c == nil {
		return Limits{}
	}
	if l, ok := c.RecipientDomains[domain]; ok {
		return l
	}
	return c.DefaultRecipient
}

// DomainOf is the lowercased domain of an address ("Ada <ada@Acme.com>").
func DomainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimRight(addr[i+1:], "> "))
}

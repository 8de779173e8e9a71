package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/tracking"
)

// Config wires an Engine. Zero durations take the documented defaults.
type Config struct {
	Store    *store.Store
	Cadences map[string]*cadence.Cadence
	Email    channels.EmailSender
	SMS      channels.SMSSender
	Tokens   *tokens.Signer
	// Clock is the engine's "now"; tests and the demo inject their own.
	Clock  func() time.Time
	Logger *slog.Logger
	// PublicURL is where tracking and unsubscribe links point.
	PublicURL string
	// MessageIDDomain is the right-hand side of Message-IDs.
	MessageIDDomain string
	// Lease is how long a claim or a "sending" ledger entry is owned
	// (default 2m). It must outlast a send attempt.
	Lease time.Duration
	// ClaimBatch is how many enrollments one claim takes per shard and lane
	// (default 1000); TaskBatch how many one asynq task carries (default
	// 250). Larger tasks amortize round trips (with JournalBatch, a
	// worker killed mid-task leaves the task's unsent touches "uncertain").
	ClaimBatch, TaskBatch int
	// HoldRecheck is how long a held touch waits before it is re-checked
	// (default 6h).
	HoldRecheck time.Duration
	// MaxRetries bounds temporary-failure retries of a touch (default 8).
	MaxRetries int
	// DefaultRegion reads phone numbers without a country code (default US).
	DefaultRegion string
	// WarmWebhookURL receives a signed POST when a lead turns warm;
	// WarmWebhookSecret signs it. Notify enqueues the delivery (an asynq
	// client), so failures are retried with backoff.
	WarmWebhookURL, WarmWebhookSecret string
	Notify                            Enqueuer
	// HTTPClient sends webhooks (default: 20 s timeout).
	HTTPClient *http.Client
	// SoftBounceLimit is how many soft bounces in a row suppress an
	// address (default 3); a human open, click or reply resets the count.
	SoftBounceLimit int
	// DomainPause is how long a sending domain pauses after a sender-side
	// refusal (5.7.x) (default 1h).
	DomainPause time.Duration
	// Observer, if set, is told about sends, failures, events and claims
	// (metrics).
	Observer Observer
	// Journal is how finely sends are recorded before the provider sees
	// them. JournalMessage (default): each message's ledger entry is written
	// just before its provider call, so a crash leaves at most one touch per
	// SMTP connection or SMS call in flight "uncertain", for one Redis round
	// trip per message. JournalBatch: a task's entries are written in one
	// round trip before any is sent, which is cheaper, but a crash leaves
	// every touch of the task not yet sent "uncertain". Either way nothing
	// is ever sent twice.
	Journal string
	// Senders are the sender mailboxes, their limits and brakes (nil:
	// every email goes from its cadence's from.email, unlimited).
	Senders *senders.Config
	// Relays are the email senders of Senders' relays by id; a mailbox
	// without a relay sends through Email.
	Relays map[string]channels.EmailSender
	// OperatorWebhookURL receives a signed POST (OperatorNotice) when a
	// brake stops sending; OperatorWebhookSecret signs it.
	OperatorWebhookURL, OperatorWebhookSecret string
}

// Journal modes (Config.Journal).
const (
	JournalMessage = "message"
	JournalBatch   = "batch"
)

// Observer receives what the engine does, for metrics.
type Observer interface {
	Sent(ch cadence.Channel, lateness time.Duration)
	SendFailed(ch cadence.Channel, class string)
	Event(kind cadence.EventKind)
	Claimed(n int)
}

type noObserver struct{}

func (noObserver) Sent(cadence.Channel, time.Duration) {}
func (noObserver) SendFailed(cadence.Channel, string)  {}
func (noObserver) Event(cadence.EventKind)             {}
func (noObserver) Claimed(int)                         {}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Minute
	}
	if c.ClaimBatch == 0 {
		c.ClaimBatch = 1000
	}
	if c.TaskBatch == 0 {
		c.TaskBatch = 250
	}
	if c.HoldRecheck == 0 {
		c.HoldRecheck = 6 * time.Hour
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 8
	}
	if c.MessageIDDomain == "" {
		c.MessageIDDomain = "nurture.local"
	}
	if c.DefaultRegion == "" {
		c.DefaultRegion = "US"
	}
	if c.SoftBounceLimit == 0 {
		c.SoftBounceLimit = 3
	}
	if c.Journal == "" {
		c.Journal = JournalMessage
	}
	if c.DomainPause == 0 {
		c.DomainPause = time.Hour
	}
	if c.Observer == nil {
		c.Observer = noObserver{}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// Engine is the cadence engine over Redis.
type Engine struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	linker tracking.Linker
	// cads holds the loaded cadences; SetCadences swaps it whole, so a
	// batch in flight sees one consistent set.
	cads atomic.Pointer[map[string]*cadence.Cadence]
	// batchCheck, when set, runs before each send batch (the cadence
	// catalog's version check); set it before Run.
	batchCheck func(context.Context) error
	// owner and batches make every batch's "sending" ledger value unique,
	// so settling an entry after a Redis failure (repairs, a compare-and-
	// set on the exact value) never touches another worker's send.
	owner   string
	batches atomic.Uint64
	repairs ledgerRepairs
}

// New returns an engine.
func New(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if cfg.Store == nil {
		return nil, errors.New("worker: Store is required")
	}
	if cfg.Email == nil || cfg.SMS == nil {
		return nil, errors.New("worker: Email and SMS senders are required (use the outbox in development)")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("worker: Tokens signer is required")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("worker: PublicURL is required for unsubscribe links")
	}
	if cfg.Journal != JournalMessage && cfg.Journal != JournalBatch {
		return nil, fmt.Errorf("worker: Journal %q: want %q or %q", cfg.Journal, JournalMessage, JournalBatch)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	e := &Engine{cfg: cfg, st: cfg.Store, log: cfg.Logger, linker: tracking.Linker{Base: cfg.PublicURL, Signer: cfg.Tokens}, owner: hex.EncodeToString(id[:])}
	e.SetCadences(cfg.Cadences)
	return e, nil
}

// SetCadences replaces the loaded cadences (a reload). Enrollments of a
// cadence whose definition changed continue on the new one at the same
// stage and step; enrollments of a cadence that is no longer loaded wait.
func (e *Engine) SetCadences(cads map[string]*cadence.Cadence) {
	m := make(map[string]*cadence.Cadence, len(cads))
	for k, v := range cads {
		m[k] = v
	}
	e.cads.Store(&m)
}

// SetBatchCheck makes every send batch start with check, e.g. the cadence
// catalog's version check, so a batch never runs a version older than the
// one published when it started. A failing check is logged and the batch
// goes on with the cadences it has. Call it before Run.
func (e *Engine) SetBatchCheck(check func(context.Context) error) { e.batchCheck = check }

// Store returns the engine's store.
func (e *Engine) Store() *store.Store { return e.st }

// Cadence returns a loaded cadence.
func (e *Engine) Cadence(id string) (*cadence.Cadence, error) {
	c, ok := (*e.cads.Load())[id]
	if !ok {
		return nil, fmt.Errorf("cadence %q: %w", id, store.ErrNotFound)
	}
	return c, nil
}

// Errors callers branch on.
var (
	ErrUnknownCadence = errors.New("unknown cadence")
)

// EnrollResult is the outcome for one prospect of a batch.
type EnrollResult struct {
	Enrollment cadence.Enrollment
	Err        error
}

// Enroll upserts a prospect and enrolls it in a cadence. Enrolling the same
// prospect twice in a cadence returns store.ErrAlreadyEnrolled.
func (e *Engine) Enroll(ctx context.Context, p *store.Prospect, cadenceID string) (cadence.Enrollment, error) {
	res := e.EnrollBatch(ctx, []*store.Prospect{p}, cadenceID)
	return res[0].Enrollment, res[0].Err
}

// EnrollBatch upserts prospects and enrolls them with pipelined writes. A
// bad row gets its own error; the good rows are enrolled.
func (e *Engine) EnrollBatch(ctx context.Context, ps []*store.Prospect, cadenceID string) []EnrollResult {
	out := make([]EnrollResult, len(ps))
	c, ok := (*e.cads.Load())[cadenceID]
	if !ok {
		for i := range out {
			out[i].Err = fmt.Errorf("%w %q", ErrUnknownCadence, cadenceID)
		}
		return out
	}
	now := e.cfg.Clock()
	upserted := e.UpsertProspects(ctx, ps)
	var batch []store.NewEnrollment
	var idx []int
	for i, p := range ps {
		if err := upserted[i]; err != nil {
			out[i].Err = err
			continue
		}
		r := p.Recipient()
		o := c.Start(cadence.Enrollment{ID: store.EnrollmentID(p.ID, c.ID), ProspectID: p.ID}, now, c.ZoneFor(&r))
		stats := enrollStats(&o)
		batch = append(batch, store.NewEnrollment{Enrollment: o.Enrollment, Entries: o.Entries, Stats: stats, Lane: laneFor(c, &o.Enrollment)})
		idx = append(idx, i)
		out[i].Enrollment = o.Enrollment
	}
	byOwner := map[string][]string{}
	created, counterErr := e.st.CreateEnrollments(ctx, batch)
	if counterErr != nil {
		e.log.Error("enrolled, but stats counters were not updated", "cadence", c.ID, "err", counterErr)
	}
	for j, err := range created {
		out[idx[j]].Err = err
		if err == nil {
			owner := ps[idx[j]].Owner
			byOwner[owner] = append(byOwner[owner], batch[j].Enrollment.ID)
		}
	}
	for owner, ids := range byOwner {
		if err := e.st.IndexEnrollments(ctx, owner, c.ID, ids); err != nil {
			for _, j := range idx {
				if out[j].Err == nil {
					out[j].Err = err
				}
			}
			break
		}
	}
	return out
}

// UpsertProspects validates and stores a batch of prospects in a few round
// trips; one error per prospect. Owner changes move enrollments.
func (e *Engine) UpsertProspects(ctx context.Context, ps []*store.Prospect) []error {
	errs := make([]error, len(ps))
	// Validation (phone numbers above all) is CPU-bound and independent
	// per prospect: spread it over the cores for large batches.
	workers := min(runtime.GOMAXPROCS(0), max(1, len(ps)/64))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(ps); i += workers {
				errs[i] = ps[i].Normalize(e.cfg.DefaultRegion)
			}
		}(w)
	}
	wg.Wait()
	var valid []*store.Prospect
	var at []int
	for i, p := range ps {
		if errs[i] == nil {
			valid, at = append(valid, p), append(at, i)
		}
	}
	serrs, olds := e.st.UpsertProspects(ctx, valid)
	ierrs := e.st.IndexProspects(ctx, valid, olds, serrs)
	for j, err := range serrs {
		i := at[j]
		if err == nil {
			// Saved but not searchable: the caller retries the upsert,
			// which is idempotent.
			err = ierrs[j]
		}
		errs[i] = err
		if err == nil && olds[j] != nil && olds[j].Owner != valid[j].Owner {
			ids, err := e.prospectEnrollments(ctx, valid[j].ID)
			if err == nil {
				err = e.st.MoveOwner(ctx, olds[j].Owner, valid[j].Owner, ids)
			}
			errs[i] = err
		}
	}
	return errs
}

// UpsertProspect creates or updates a prospect; when its owner changes,
// its enrollments move to the new owner's list.
func (e *Engine) UpsertProspect(ctx context.Context, p *store.Prospect) error {
	return e.UpsertProspects(ctx, []*store.Prospect{p})[0]
}

// Apply applies an event to an enrollment and carries out its actions:
// consent changes are recorded for the prospect (with the enrollment, in
// one atomic write) and fanned out to the prospect's other enrollments, so
// an unsubscribe or STOP reaches every cadence at once. An unsubscribe,
// STOP or START that changes nothing (a replay) records nothing: the
// outcome is the enrollment as it was, without entries.
func (e *Engine) Apply(ctx context.Context, eid string, ev cadence.Event) (cadence.Outcome, error) {
	o, done, err := e.applyOne(ctx, eid, ev, dedupeAlways)
	if err != nil {
		return o, err
	}
	e.cfg.Observer.Event(ev.Kind)
	e.noteBadOutcome(ctx, &o.Enrollment, ev)
	if !ev.Machine && ev.Channel == cadence.Email && (ev.Kind == cadence.EvOpened || ev.Kind == cadence.EvClicked || ev.Kind == cadence.EvReplied) {
		// The address works: soft bounces are no longer consecutive.
		if err := e.st.ResetSoftBounces(ctx, o.Enrollment.ProspectID); err != nil {
			return o, err
		}
	}
	if err := e.carryOutDone(ctx, o.Enrollment, ev, o.Actions, done); err != nil {
		return o, err
	}
	return o, nil
}

// committedConsent is the consent change applyOne wrote with the
// enrollment, atomically.
type committedConsent struct {
	action cadence.Action
	// replay says the channel already had the value: nothing was logged.
	replay bool
}

// dedupedKind reports whether a repeat of an event kind that changes
// neither the consent nor the enrollment is a replay, recorded nothing:
// unsubscribes, STOPs and STARTs. (A bounce or a complaint is about a
// message; each is recorded and counted.)
func dedupedKind(k cadence.EventKind) bool {
	return k == cadence.EvUnsubscribed || k == cadence.EvSMSOptOut || k == cadence.EvSMSOptIn
}

// dedupeMode says when applyOne treats a consent event (dedupedKind) that
// changes neither the consent nor the enrollment as a replay.
type dedupeMode int

const (
	// dedupeAlways: the event itself, and a fan-out of a replay.
	dedupeAlways dedupeMode = iota
	// dedupeEnded: the fan-out of a change, which an enrollment still
	// running records even when the event does not change it, and an
	// ended one only when it does (a replay's fan-out may have got there
	// first).
	dedupeEnded
)

// applyOne is the optimistic loop: read, decide in Go, compare-and-set,
// with retryConflicts' backoff when another writer got there first. The
// outcome's consent change, if any, is written with the enrollment. A
// consent event that changes nothing is, by dedupe, a replay and writes
// nothing: its outcome is the enrollment as it was, with no entries, and
// with its actions (carryOutDone still fans them out).
func (e *Engine) applyOne(ctx context.Context, eid string, ev cadence.Event, dedupe dedupeMode) (cadence.Outcome, *committedConsent, error) {
	if ev.At.IsZero() {
		ev.At = e.cfg.Clock()
	}
	var o cadence.Outcome
	var before cadence.State
	var done *committedConsent
	err := retryConflicts(ctx, func(int) error {
		o, done = cadence.Outcome{}, nil
		l, err := e.st.Enrollment(ctx, eid)
		if err != nil {
			return err
		}
		c, err := e.Cadence(l.Enrollment.CadenceID)
		if err != nil {
			return err
		}
		p, err := e.st.Prospect(ctx, l.Enrollment.ProspectID)
		if err != nil {
			return err
		}
		r := p.Recipient()
		if o, err = c.Apply(l.Enrollment, ev, c.ZoneFor(&r)); err != nil {
			return err
		}
		before = l.Enrollment.State
		cm := &store.Commit{Rev: l.Rev, Enrollment: o.Enrollment, Entries: o.Entries, Stats: statsFor(c, l.Enrollment, o, ev), Day: ev.At,
			Lane: laneFor(c, &o.Enrollment), Dedupe: dedupedKind(ev.Kind) && (dedupe == dedupeAlways || l.Enrollment.State.Terminal())}
		var act cadence.Action
		for _, a := range o.Actions {
			if ch, ok := consentChange(a, ev); ok {
				ch.At, ch.Source = ev.At, orDefault(ev.By, string(ev.Kind))
				cm.Consent, act = &ch, a
				break
			}
		}
		_, err = e.st.Commit(ctx, cm)
		if errors.Is(err, store.ErrUnchanged) {
			o, err = cadence.Outcome{Enrollment: l.Enrollment, Actions: o.Actions}, nil
		}
		if err == nil && cm.Consent != nil {
			done = &committedConsent{action: act, replay: cm.ConsentPrev == cm.Consent.Blocked}
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return cadence.Outcome{}, nil, fmt.Errorf("enrollment %s: %w", eid, err)
	case err != nil:
		return o, nil, err
	}
	return o, done, e.indexWarm(ctx, before, &o.Enrollment, ev.At)
}

// consentChange is the consent change an action makes for an event; ok is
// false for the actions that are not one (soft bounces count first).
func consentChange(a cadence.Action, ev cadence.Event) (ch store.ConsentChange, ok bool) {
	switch a {
	case cadence.ActSuppressEmail:
		reason := "hard bounce"
		if ev.Kind == cadence.EvComplained {
			reason = "spam complaint"
		}
		return store.ConsentChange{Channel: cadence.Email, Blocked: reason}, true
	case cadence.ActUnsubscribeEmail:
		return store.ConsentChange{Channel: cadence.Email, Blocked: "unsubscribed"}, true
	case cadence.ActOptOutSMS:
		return store.ConsentChange{Channel: cadence.SMS, Blocked: "opted out: " + orDefault(ev.Reason, "STOP")}, true
	case cadence.ActOptInSMS:
		return store.ConsentChange{Channel: cadence.SMS}, true
	}
	return store.ConsentChange{}, false
}

// carryOut performs an outcome's global actions.
func (e *Engine) carryOut(ctx context.Context, en cadence.Enrollment, ev cadence.Event, actions []cadence.Action) error {
	return e.carryOutDone(ctx, en, ev, actions, nil)
}

// carryOutDone is carryOut after applyOne: the consent change done, if
// any, was written with the enrollment and is only fanned out.
func (e *Engine) carryOutDone(ctx context.Context, en cadence.Enrollment, ev cadence.Event, actions []cadence.Action, done *committedConsent) error {
	pid := en.ProspectID
	for _, a := range actions {
		ch, ok := consentChange(a, ev)
		fanout := ev.Kind
		switch {
		case ok:
		case a == cadence.ActSoftBounce:
			n, err := e.st.CountSoftBounce(ctx, pid)
			if err != nil {
				return err
			}
			if n < int64(e.cfg.SoftBounceLimit) {
				continue
			}
			ch = store.ConsentChange{Channel: cadence.Email, Blocked: fmt.Sprintf("%d soft bounces in a row", n)}
			fanout = cadence.EvBounced
		case a == cadence.ActNotifyWarm:
			e.log.Info("lead turned warm", "enrollment", en.ID, "cadence", en.CadenceID)
			if err := e.notifyWarm(ctx, en, ev); err != nil {
				return err
			}
			continue
		default:
			continue
		}
		var replay bool
		if done != nil && done.action == a {
			replay = done.replay
		} else {
			ch.At, ch.Source = ev.At, orDefault(ev.By, string(ev.Kind))
			if ch.At.IsZero() {
				ch.At = e.cfg.Clock()
			}
			prev, err := e.st.SetConsent(ctx, pid, ch)
			if err != nil {
				return err
			}
			replay = prev == ch.Blocked
		}
		// The same event reaches the prospect's other cadences, whose own
		// exit rules decide; their global actions are already done. When
		// the consent was already so (a replay), the others record it only
		// if it still changes them (a fan-out a crash cut short).
		mode := dedupeEnded
		if replay {
			mode = dedupeAlways
		}
		others, err := e.prospectEnrollments(ctx, pid)
		if err != nil {
			return err
		}
		for _, other := range others {
			if other == en.ID {
				continue
			}
			oev := ev
			oev.Kind, oev.Touch = fanout, ""
			if _, _, err := e.applyOne(ctx, other, oev, mode); err != nil && !errors.Is(err, cadence.ErrInvalidTransition) && !errors.Is(err, cadence.ErrStale) {
				return fmt.Errorf("fan-out to %s: %w", other, err)
			}
		}
	}
	return nil
}

// ProspectEvent applies a prospect-level event (STOP from a number, an
// unsubscribe by address) to every enrollment of the prospect, and records
// the consent change even when the prospect has no enrollment.
func (e *Engine) ProspectEvent(ctx context.Context, pid string, ev cadence.Event) error {
	if ev.At.IsZero() {
		ev.At = e.cfg.Clock()
	}
	ids, err := e.prospectEnrollments(ctx, pid)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		var act cadence.Action
		switch ev.Kind {
		case cadence.EvSMSOptOut:
			act = cadence.ActOptOutSMS
		case cadence.EvSMSOptIn:
			act = cadence.ActOptInSMS
		case cadence.EvUnsubscribed:
			act = cadence.ActUnsubscribeEmail
		default:
			return nil
		}
		return e.carryOut(ctx, cadence.Enrollment{ProspectID: pid}, ev, []cadence.Action{act})
	}
	_, err = e.Apply(ctx, ids[0], ev)
	if errors.Is(err, cadence.ErrInvalidTransition) || errors.Is(err, cadence.ErrStale) {
		return nil
	}
	return err
}

// Pause pauses an enrollment; until may be zero (until resumed).
func (e *Engine) Pause(ctx context.Context, eid, by, reason string, until time.Time) (cadence.Outcome, error) {
	return e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvPaused, By: by, Reason: reason, Until: until})
}

// Resume resumes a paused, snoozed or warm enrollment with the wait it had
// left.
func (e *Engine) Resume(ctx context.Context, eid, by string) (cadence.Outcome, error) {
	return e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvResumed, By: by})
}

// Snooze pauses an enrollment until a time.
func (e *Engine) Snooze(ctx context.Context, eid, by string, until time.Time) (cadence.Outcome, error) {
	return e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvSnoozed, By: by, Until: until})
}

// Stop ends an enrollment.
func (e *Engine) Stop(ctx context.Context, eid, by, reason string) (cadence.Outcome, error) {
	return e.Apply(ctx, eid, cadence.Event{Kind: cadence.EvStopped, By: by, Reason: reason})
}

// Timeline returns an enrollment's timeline.
func (e *Engine) Timeline(ctx context.Context, eid string) ([]cadence.Entry, error) {
	return e.st.Timeline(ctx, eid)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// laneFor is the due lane of an enrollment's next step.
func laneFor(c *cadence.Cadence, e *cadence.Enrollment) store.Lane {
	if e.State == cadence.Active {
		if t := c.TouchAt(e.Stage, e.Step); t != nil && t.Channel == cadence.SMS {
			return store.LaneSMS
		}
	}
	return store.LaneEmail
}

// prospectEnrollments lists a prospect's enrollments in the loaded
// cadences (enrollment ids are prospect~cadence).
func (e *Engine) prospectEnrollments(ctx context.Context, pid string) ([]string, error) {
	cads := *e.cads.Load()
	ids := make([]string, 0, len(cads))
	for id := range cads {
		ids = append(ids, store.EnrollmentID(pid, id))
	}
	sort.Strings(ids)
	return e.st.ExistingEnrollments(ctx, ids)
}

// ProspectEnrollments lists a prospect's enrollment ids.
func (e *Engine) ProspectEnrollments(ctx context.Context, pid string) ([]string, error) {
	return e.prospectEnrollments(ctx, pid)
}

// Clock returns the engine's clock.
func (e *Engine) Clock() time.Time { return e.cfg.Clock() }

// Cadences returns the loaded cadences by id.
func (e *Engine) Cadences() map[string]*cadence.Cadence { return *e.cads.Load() }

// Tokens returns the link signer.
func (e *Engine) Tokens() *tokens.Signer { return e.cfg.Tokens }

// indexWarm keeps the warm-lead index in step with a committed change. It
// is written after the commit (another slot): a crash in between leaves a
// lead out of, or stale in, the list until its next change; the list
// re-checks each entry's state when read.
func (e *Engine) indexWarm(ctx context.Context, before cadence.State, after *cadence.Enrollment, at time.Time) error {
	switch {
	case before != cadence.Warm && after.State == cadence.Warm:
		return e.st.SetWarm(ctx, after.ID, true, at)
	case before == cadence.Warm && after.State != cadence.Warm:
		return e.st.SetWarm(ctx, after.ID, false, at)
	}
	return nil
}

// WarmLead is a lead waiting for sales.
type WarmLead struct {
	Enrollment cadence.Enrollment
	Prospect   *store.Prospect
	Since      time.Time
	// Reply is the excerpt of the reply that warmed the lead.
	Reply string
}

// Uncertain lists a cadence's touches whose send was interrupted at the
// provider (maybe delivered, never resent) found at or after since, newest
// first: search the provider's logs by MessageID to settle them.
func (e *Engine) Uncertain(ctx context.Context, cadenceID string, since time.Time, limit int) ([]store.UncertainTouch, error) {
	if _, err := e.Cadence(cadenceID); err != nil {
		return nil, err
	}
	return e.st.Uncertain(ctx, cadenceID, since, limit)
}

// WarmLeads lists warm leads, newest first, optionally of one owner.
func (e *Engine) WarmLeads(ctx context.Context, owner string, limit int) ([]WarmLead, error) {
	ids, err := e.st.WarmEnrollments(ctx, 5000)
	if err != nil {
		return nil, err
	}
	loaded, err := e.st.Enrollments(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []WarmLead
	for i, l := range loaded {
		if l == nil || l.Enrollment.State != cadence.Warm {
			_ = e.st.SetWarm(ctx, ids[i], false, time.Time{})
			continue
		}
		p, err := e.st.Prospect(ctx, l.Enrollment.ProspectID)
		if err != nil {
			return nil, err
		}
		if owner != "" && p.Owner != owner {
			continue
		}
		lead := WarmLead{Enrollment: l.Enrollment, Prospect: p}
		tl, err := e.st.Timeline(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		for j := len(tl) - 1; j >= 0; j-- {
			if tl[j].Kind == string(cadence.EvReplied) {
				lead.Reply, lead.Since = tl[j].Reason, tl[j].At
				break
			}
		}
		out = append(out, lead)
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// BulkResult reports a bulk pause or resume.
type BulkResult struct {
	Changed int      `json:"changed"`
	Skipped int      `json:"skipped"`
	Errors  []string `json:"errors,omitempty"`
}

// Bulk applies a pause, resume, snooze or stop to every enrollment of an
// owner or a cadence; enrollments where it does not apply (already ended,
// resuming an active one) are skipped, not errors.
func (e *Engine) Bulk(ctx context.Context, owner, cadenceID string, ev cadence.Event) (BulkResult, error) {
	var ids []string
	var err error
	switch {
	case owner != "":
		ids, err = e.st.OwnerEnrollments(ctx, owner)
	case cadenceID != "":
		if _, err := e.Cadence(cadenceID); err != nil {
			return BulkResult{}, err
		}
		ids, err = e.st.CadenceEnrollments(ctx, cadenceID)
	default:
		return BulkResult{}, errors.New("bulk: give an owner or a cadence")
	}
	if err != nil {
		return BulkResult{}, err
	}
	sort.Strings(ids)
	var res BulkResult
	for _, id := range ids {
		if cadenceID != "" && owner != "" && !strings.HasSuffix(id, "~"+cadenceID) {
			continue
		}
		_, err := e.Apply(ctx, id, ev)
		switch {
		case err == nil:
			res.Changed++
		case errors.Is(err, cadence.ErrInvalidTransition), errors.Is(err, cadence.ErrStale):
			res.Skipped++
		default:
			res.Errors = append(res.Errors, id+": "+err.Error())
		}
	}
	return res, nil
}

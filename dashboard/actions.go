package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
)

// Actions on one lead, and their undo.
//
// Every action answers with a sentence ("Paused Ada Lovelace's SaaS trial
// nurture cadence.") and, for undoFor, an Undo button: a POST of a signed
// undo token that only the session that acted can use. The token carries
// what the action changed. Undoing a pause, resume, snooze or stop writes
// the enrollment back as it was (its state, who and why, its pause end,
// due time and the wait it had left) with a compare-and-set on the
// revision the action left, so it applies only if nothing else happened to
// the enrollment since; a timeline line records the undo. That is how a
// paused warm lead goes back to waiting for sales: no event of the state
// machine leads there without a new reply. Undoing "mark handled" puts the
// previous mark back.

const (
	undoKind      = "undo"
	undoTokenKind = "dashboard-undo-v1"
	// undoFor is how long an Undo button works.
	undoFor = 30 * time.Second
	// snoozeFor is the Snooze button's snooze.
	snoozeFor = 72 * time.Hour
	// maxUndoToken keeps undo tokens well inside the signer's limit.
	maxUndoToken = 2048
)

// undoRecord is what an undo token carries.
type undoRecord struct {
	Exp int64  `json:"x"` // wall clock, unix ms
	SID string `json:"s"`
	EID string `json:"e"`
	Act string `json:"a"`

	// An enrollment action: the revision it left, and the fields it
	// changed as they were before.
	Rev       int64         `json:"r,omitempty"`
	State     cadence.State `json:"st,omitempty"`
	By        string        `json:"b,omitempty"`
	Reason    string        `json:"rs,omitempty"`
	Until     int64         `json:"u,omitempty"`
	Due       int64         `json:"d,omitempty"`
	Remaining int64         `json:"rm,omitempty"`
	WarmSince int64         `json:"w,omitempty"`

	// A handled mark action: the mark before (nil: none).
	Mark *markRecord `json:"h,omitempty"`
}

type markRecord struct {
	By    string `json:"b"`
	At    int64  `json:"a"`
	Reply int64  `json:"r"`
}

func toMarkRecord(m *store.HandledMark) *markRecord {
	if m == nil {
		return nil
	}
	return &markRecord{By: m.By, At: unixMS(m.At), Reply: unixMS(m.Reply)}
}

func (m *markRecord) mark() *store.HandledMark {
	if m == nil {
		return nil
	}
	return &store.HandledMark{By: m.By, At: fromUnixMS(m.At), Reply: fromUnixMS(m.Reply)}
}

func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (d *Dashboard) signUndo(rec undoRecord) string {
	rec.Exp = time.Now().Add(undoFor).UnixMilli()
	b, err := json.Marshal(rec)
	if err != nil {
		return ""
	}
	tok := d.signer.Sign(undoTokenKind, string(b))
	if len(tok) > maxUndoToken {
		return "" // a very long reason: no undo rather than a broken one
	}
	return tok
}

var errUndoInvalid = errors.New("invalid undo token")

func (d *Dashboard) verifyUndo(tok string) (undoRecord, error) {
	var rec undoRecord
	payload, err := d.signer.Verify(undoTokenKind, tok)
	if err != nil || json.Unmarshal([]byte(payload), &rec) != nil || rec.EID == "" {
		return rec, errUndoInvalid
	}
	return rec, nil
}

// usableUndo returns the undo token of a request's flash if this session
// may still use it.
func (d *Dashboard) usableUndo(r *http.Request, s *Session) string {
	tok := r.URL.Query().Get("undo")
	if tok == "" || s == nil {
		return ""
	}
	rec, err := d.verifyUndo(tok)
	if err != nil || rec.SID != s.id || time.Now().UnixMilli() > rec.Exp {
		return ""
	}
	return tok
}

// subject is who and what an action is about, in words.
type subject struct {
	Name    string // "Ada Lovelace"
	Cadence string // "SaaS trial nurture"
	c       *cadence.Cadence
	loc     *time.Location
}

func possessive(name string) string { return name + "'s" }

// thing is "Ada Lovelace's SaaS trial nurture cadence".
func (sb subject) thing() string { return possessive(sb.Name) + " " + sb.Cadence + " cadence" }

func (d *Dashboard) subjectOf(ctx context.Context, e *cadence.Enrollment) subject {
	sb := subject{Name: e.ProspectID, Cadence: humanize(e.CadenceID), loc: time.UTC}
	c, _ := d.e.Cadence(e.CadenceID)
	if c != nil {
		sb.c, sb.Cadence = c, cadenceName(c)
	}
	p, err := d.st.Prospect(ctx, e.ProspectID)
	if err == nil {
		sb.Name = displayName(p)
	}
	sb.loc, _ = zoneOf(p, c)
	return sb
}

// displayName is a prospect's full name, else its email or phone.
func displayName(p *store.Prospect) string {
	if p == nil {
		return ""
	}
	if n := strings.TrimSpace(p.FirstName + " " + p.LastName); n != "" {
		return n
	}
	if p.Email != "" {
		return p.Email
	}
	if p.Phone != "" {
		return p.Phone
	}
	return p.ID
}

func by(s *Session) string { return string(s.Role) + ":" + s.Name }

var actions = map[string]bool{"pause": true, "resume": true, "snooze": true, "stop": true, "handled": true, "unhandle": true}

// act pauses, resumes, snoozes (3 days), stops or marks handled one
// enrollment; sales and admin may all do this. It acts at once and
// returns to the page with what it did and an Undo button.
func (d *Dashboard) act(w http.ResponseWriter, r *http.Request, s *Session) {
	eid, action := r.PathValue("eid"), r.PathValue("action")
	if !actions[action] {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	to := back(r, "/prospects/"+url.PathEscape(store.ProspectOf(eid)))
	say := func(msg, undo string) {
		http.Redirect(w, r, d.withFlash(to, msg, undo), http.StatusSeeOther)
	}
	l0, err := d.st.Enrollment(ctx, eid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			say("Not done: that enrollment was not found; it may have been removed.", "")
			return
		}
		say(d.notDone(w, r, err), "")
		return
	}
	before := l0.Enrollment
	sb := d.subjectOf(ctx, &before)
	rec := undoRecord{SID: s.id, EID: eid, Act: action}

	if action == "handled" || action == "unhandle" {
		var prev *store.HandledMark
		var msg string
		switch {
		case action == "handled" && before.State != cadence.Warm:
			say("Not done: "+sb.Name+" is not waiting for sales (the cadence is "+stateWords(before.State)+").", "")
			return
		case action == "handled":
			tl, err := d.e.Timeline(ctx, eid)
			if err != nil {
				say(d.notDone(w, r, err), "")
				return
			}
			prev, err = d.st.MarkHandled(ctx, eid, store.HandledMark{By: s.Name, At: d.e.Clock(), Reply: lastReply(tl)})
			if err != nil {
				say(d.notDone(w, r, err), "")
				return
			}
			msg = "Marked " + sb.Name + " handled: off the inbox. The " + sb.Cadence + " cadence stays as it was."
		default:
			prev, err = d.st.ClearHandled(ctx, eid)
			if err != nil {
				say(d.notDone(w, r, err), "")
				return
			}
			if prev == nil {
				say("Nothing to do: "+sb.Name+" was not marked handled.", "")
				return
			}
			msg = "Moved " + sb.Name + " back to the inbox."
		}
		rec.Mark = toMarkRecord(prev)
		say(msg, d.signUndo(rec))
		return
	}

	ev := cadence.Event{By: by(s), Reason: "from the dashboard"}
	switch action {
	case "pause":
		ev.Kind = cadence.EvPaused
	case "resume":
		ev.Kind, ev.Reason = cadence.EvResumed, ""
	case "snooze":
		ev.Kind, ev.Until = cadence.EvSnoozed, d.e.Clock().Add(snoozeFor)
	case "stop":
		ev.Kind = cadence.EvStopped
	}
	o, err := d.e.Apply(ctx, eid, ev)
	if err != nil {
		say(d.refused(w, r, err, sb, action, before.State), "")
		return
	}
	// Undo is offered when the action's commit is the only one since we
	// read the enrollment: then before is exactly what it changed.
	undo := ""
	if l1, err := d.st.Enrollment(ctx, eid); err == nil && l1.Rev == l0.Rev+1 {
		rec.Rev, rec.State, rec.By, rec.Reason = l1.Rev, before.State, before.By, before.Reason
		rec.Until, rec.Due, rec.Remaining = unixMS(before.Until), unixMS(before.DueAt), int64(before.Remaining)
		if before.State == cadence.Warm {
			if tl, err := d.e.Timeline(ctx, eid); err == nil {
				rec.WarmSince = unixMS(warmSince(tl))
			}
		}
		undo = d.signUndo(rec)
	}
	say(doneMessage(action, sb, &o.Enrollment, d.e.Clock()), undo)
}

// doneMessage says what an action did, as a person would.
func doneMessage(action string, sb subject, after *cadence.Enrollment, now time.Time) string {
	switch action {
	case "pause":
		return "Paused " + sb.thing() + "."
	case "resume":
		return "Resumed " + sb.thing() + "."
	case "snooze":
		until := stamp{T: after.Until, loc: sb.loc, now: now}
		return "Snoozed " + sb.thing() + " for 3 days, until " + until.Long() + " (" + zoneName(sb.loc) + ")."
	case "stop":
		return "Stopped " + sb.thing() + ": nothing more is sent from it."
	}
	return "Done."
}

func zoneName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	return loc.String()
}

// refused explains an action that did not apply.
func (d *Dashboard) refused(w http.ResponseWriter, r *http.Request, err error, sb subject, action string, st cadence.State) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "Not done: that enrollment was not found; it may have been removed."
	case errors.Is(err, cadence.ErrStale), errors.Is(err, store.ErrConflict):
		return "Not done: " + sb.thing() + " changed meanwhile; reload the page and try again."
	case errors.Is(err, cadence.ErrInvalidTransition):
		switch {
		case st.Terminal():
			return "Not done: " + sb.thing() + " has " + stateWords(st) + "."
		case action == "resume" && st == cadence.Active:
			return "Not done: " + sb.thing() + " is already running; there is nothing to resume."
		}
		return fmt.Sprintf("Not done: you cannot %s %s while it is %s.", action, sb.thing(), stateWords(st))
	}
	return d.notDone(w, r, err)
}

// lastReply is when the newest reply of a timeline came.
func lastReply(tl []cadence.Entry) time.Time {
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].Kind == string(cadence.EvReplied) {
			return tl[i].At
		}
	}
	return time.Time{}
}

// warmSince is when an enrollment last turned warm.
func warmSince(tl []cadence.Entry) time.Time {
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].Kind == "warm" {
			return tl[i].At
		}
	}
	return lastReply(tl)
}

var errUndoStale = errors.New("changed since")

// undo reverts the action of an undo token.
func (d *Dashboard) undo(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	to := back(r, "/warm")
	say := func(msg, undo string) {
		http.Redirect(w, r, d.withFlash(to, msg, undo), http.StatusSeeOther)
	}
	rec, err := d.verifyUndo(r.PostForm.Get("undo"))
	switch {
	case err != nil:
		say("Not undone: that Undo button is not valid.", "")
		return
	case rec.SID != s.id:
		say("Not undone: only the session that did it can undo it.", "")
		return
	}
	l, err := d.st.Enrollment(ctx, rec.EID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			say("Not undone: that enrollment was not found.", "")
			return
		}
		say(d.notDone(w, r, err), "")
		return
	}
	sb := d.subjectOf(ctx, &l.Enrollment)
	if time.Now().UnixMilli() > rec.Exp {
		say(fmt.Sprintf("Too late to undo: Undo lasts %d seconds. Use the buttons on %s page instead.", int(undoFor/time.Second), possessive(sb.Name)), "")
		return
	}
	if rec.Act == "handled" || rec.Act == "unhandle" {
		cur, err := d.st.RestoreHandled(ctx, rec.EID, rec.Mark.mark())
		if err != nil {
			say(d.notDone(w, r, err), "")
			return
		}
		redo := undoRecord{SID: s.id, EID: rec.EID, Act: "handled", Mark: toMarkRecord(cur)}
		if rec.Act == "handled" {
			redo.Act = "unhandle"
			say("Undone: "+sb.Name+" is back in the inbox.", d.signUndo(redo))
			return
		}
		say("Undone: "+sb.Name+" is marked handled again.", d.signUndo(redo))
		return
	}
	after, err := d.restore(ctx, l, rec, by(s))
	switch {
	case errors.Is(err, errUndoStale):
		say("Not undone: "+sb.thing()+" changed since (another action, a send or a reply); change it from "+possessive(sb.Name)+" page.", "")
		return
	case err != nil:
		say(d.notDone(w, r, err), "")
		return
	}
	say("Undone: "+sb.thing()+" is "+stateWords(after.State)+" again.", "")
}

// restore writes the enrollment back as it was before the token's action,
// if it is still at the revision the action left.
func (d *Dashboard) restore(ctx context.Context, l store.Loaded, rec undoRecord, who string) (cadence.Enrollment, error) {
	if l.Rev != rec.Rev {
		return cadence.Enrollment{}, errUndoStale
	}
	cur := l.Enrollment
	prev := cur
	prev.State, prev.By, prev.Reason = rec.State, rec.By, rec.Reason
	prev.Until, prev.DueAt, prev.Remaining = fromUnixMS(rec.Until), fromUnixMS(rec.Due), time.Duration(rec.Remaining)
	prev.Generation = cur.Generation + 1 // claims made meanwhile are stale
	stats := map[string]int64{}
	if cur.State != prev.State {
		stats["state:"+string(cur.State)]--
		stats["state:"+string(prev.State)]++
	}
	if cur.State.Terminal() != prev.State.Terminal() {
		if prev.State.Terminal() {
			stats["in:"+prev.Stage]--
		} else {
			stats["in:"+prev.Stage]++
		}
	}
	lane := store.LaneEmail
	if c, err := d.e.Cadence(prev.CadenceID); err == nil && prev.State == cadence.Active {
		if t := c.TouchAt(prev.Stage, prev.Step); t != nil && t.Channel == cadence.SMS {
			lane = store.LaneSMS
		}
	}
	now := d.e.Clock()
	entry := cadence.Entry{At: now, Kind: undoKind, From: cur.State, To: prev.State, By: who, Reason: undoReason(rec.Act, prev.State)}
	if _, err := d.st.Commit(ctx, &store.Commit{Rev: l.Rev, Enrollment: prev, Entries: []cadence.Entry{entry}, Stats: stats, Lane: lane}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return cadence.Enrollment{}, errUndoStale
		}
		return cadence.Enrollment{}, err
	}
	// The warm-lead index follows the state, as the engine keeps it.
	switch {
	case prev.State == cadence.Warm && cur.State != cadence.Warm:
		since := fromUnixMS(rec.WarmSince)
		if since.IsZero() {
			since = now
		}
		return prev, d.st.SetWarm(ctx, prev.ID, true, since)
	case cur.State == cadence.Warm && prev.State != cadence.Warm:
		return prev, d.st.SetWarm(ctx, prev.ID, false, now)
	}
	return prev, nil
}

func undoReason(act string, back cadence.State) string {
	noun := map[string]string{"pause": "the pause", "resume": "the resume", "snooze": "the snooze", "stop": "the stop"}[act]
	if noun == "" {
		noun = act
	}
	return "undid " + noun + "; " + stateWords(back) + " again"
}

// isAdmin reports whether the session is an admin's.
func isAdmin(s *Session) bool { return s != nil && s.Role == server.RoleAdmin }

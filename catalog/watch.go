package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nurture-dev/nurture/cadence"
)

// Target is what runs cadences: *worker.Engine.
type Target interface {
	Cadences() map[string]*cadence.Cadence
	SetCadences(map[string]*cadence.Cadence)
}

// Switch is one cadence a Sync moved to another version.
type Switch struct {
	ID   string `json:"id"`
	From string `json:"from"` // "" when the target did not have it
	To   string `json:"to"`
}

// syncMu serializes Syncs in the process: each reads the heads after the
// one before it has set its own, so a slow Sync can never put an older
// set of heads back over a newer one (a server's publish handler and its
// Watch share one engine).
var syncMu sync.Mutex

// Sync loads the heads and gives t every one it does not run yet, in one
// SetCadences; it logs each switch ("cadence saas-trial now v…, was v…").
// A cadence t runs that has no head stays as it is. A head that does not
// compile in this build is logged (once) and t keeps the version it has.
func (c *Catalog) Sync(ctx context.Context, t Target) ([]Switch, error) {
	syncMu.Lock()
	defer syncMu.Unlock()
	heads, err := c.Heads(ctx)
	if err != nil {
		return nil, err
	}
	cur := t.Cadences()
	next := make(map[string]*cadence.Cadence, len(cur)+len(heads))
	for id, cd := range cur {
		next[id] = cd
	}
	var switched []Switch
	for id, v := range heads {
		have := cur[id]
		if have != nil && have.Version == v {
			continue
		}
		cd, err := c.Compile(ctx, id, v)
		if err != nil {
			if c.firstFailure(id, v) {
				keep := "nothing"
				if have != nil {
					keep = have.Version
				}
				c.log.Error(fmt.Sprintf("cadence %s: cannot load published %s; keeping %s", id, v, keep), "err", err)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		next[id] = cd
		switched = append(switched, Switch{ID: id, From: versionOf(have), To: v})
	}
	if len(switched) == 0 {
		return nil, nil
	}
	t.SetCadences(next)
	sort.Slice(switched, func(i, j int) bool { return switched[i].ID < switched[j].ID })
	for _, s := range switched {
		by, msg := c.lastPublication(ctx, s.ID, s.To)
		if s.From == "" {
			c.log.Info(fmt.Sprintf("cadence %s now %s (new)", s.ID, s.To), "by", by, "message", msg)
		} else {
			c.log.Info(fmt.Sprintf("cadence %s now %s, was %s", s.ID, s.To, s.From), "by", by, "message", msg)
		}
	}
	return switched, nil
}

func versionOf(cd *cadence.Cadence) string {
	if cd == nil {
		return ""
	}
	return cd.Version
}

// firstFailure reports whether a head's compile failure is new, so it is
// logged once rather than at every poll.
func (c *Catalog) firstFailure(id, v string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := "logged:" + cacheKey(id, v)
	if _, seen := c.broken[k]; seen {
		return false
	}
	c.broken[k] = nil
	return true
}

// lastPublication says who made v the head, for the log line.
func (c *Catalog) lastPublication(ctx context.Context, id, v string) (by, message string) {
	raw, err := c.rdb.LIndex(ctx, c.k.log(id), 0).Result()
	if err != nil {
		return "", ""
	}
	var p Publication
	if json.Unmarshal([]byte(raw), &p) != nil || p.Version != v {
		return "", ""
	}
	return p.By, p.Message
}

// Watch keeps t on the published heads until ctx ends: it listens on the
// catalog's channel and reads the epoch every Poll, so a lost message (or
// a broken subscription) delays a change by at most Poll; on a change it
// calls Sync. It syncs once at the start. Redis errors are logged (once
// per outage) and retried at the next poll. It returns when ctx ends.
func (c *Catalog) Watch(ctx context.Context, t Target) error {
	sub := c.rdb.Subscribe(ctx, c.k.channel())
	defer sub.Close()
	msgs := sub.Channel()
	// The epoch is read before the heads: a change in between is seen at
	// the next check.
	last, err := c.Epoch(ctx)
	synced := err == nil
	if synced {
		_, err = c.Sync(ctx, t)
		synced = err == nil
	}
	failing := false
	report := func(err error) {
		if ctx.Err() != nil {
			return
		}
		if err != nil && !failing {
			c.log.Warn("catalog: cannot check the published cadences; retrying", "every", c.poll, "err", err)
		}
		if err == nil && failing {
			c.log.Info("catalog: checking the published cadences again")
		}
		failing = err != nil
	}
	report(err)
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-msgs:
		case <-tick.C:
		}
		ep, err := c.Epoch(ctx)
		if err == nil && (ep != last || !synced) {
			if _, err = c.Sync(ctx, t); err == nil {
				last, synced = ep, true
			}
		}
		report(err)
	}
}

// Freshen returns a check to run before each send batch: one GET of the
// epoch, and a Sync when it moved since the check last synced. Watch alone
// switches a process within a poll interval; with Freshen a batch never
// starts on a version older than the one published when it started.
func (c *Catalog) Freshen(t Target) func(context.Context) error {
	var last atomic.Int64
	last.Store(-1)
	return func(ctx context.Context) error {
		ep, err := c.Epoch(ctx)
		if err != nil {
			return err
		}
		if ep == last.Load() {
			return nil
		}
		if _, err := c.Sync(ctx, t); err != nil {
			return err
		}
		last.Store(ep)
		return nil
	}
}

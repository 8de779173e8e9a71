package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/store"
)

// Spool keeps opt-outs that arrived while Redis could not take them on
// local disk until it can: RFC 8058 senders and carriers do not retry, and
// an opt-out must be honoured whatever state the database is in. Each
// record is its own file, written to a temporary name, fsynced and renamed,
// so a crash leaves either the whole record or none of it.
type Spool struct {
	dir string
}

// spooled is one opt-out waiting for Redis.
type spooled struct {
	// Kind is "unsubscribe" (one-click or the page's form) or "sms_stop".
	Kind string `json:"kind"`
	// EID is the enrollment of an unsubscribe link.
	EID string `json:"eid,omitempty"`
	// Phone and Body are the sender and text of an SMS STOP.
	Phone string `json:"phone,omitempty"`
	Body  string `json:"body,omitempty"`
	// Key identifies the request (token or MessageSid), so a request
	// replayed during the outage is applied once.
	Key string `json:"key"`
	// At is when the request arrived: the opt-out's time of record.
	At time.Time `json:"at"`
}

// OpenSpool uses dir (created if needed, mode 0700) as the spool.
func OpenSpool(dir string) (*Spool, error) {
	if dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	// Fail at start, not during an outage, when the directory is not
	// writable.
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("spool %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Spool{dir: dir}, nil
}

// Dir is the spool's directory.
func (sp *Spool) Dir() string { return sp.dir }

// add writes one record durably; a record with the same key replaces the
// earlier one (the same request replayed).
func (sp *Spool) add(r spooled) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(r.Kind + "\x00" + r.Key))
	name := filepath.Join(sp.dir, r.At.UTC().Format("20060102T150405.000000000Z")+"-"+hex.EncodeToString(sum[:8])+".json")
	tmp, err := os.CreateTemp(sp.dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(sp.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// pending lists the spooled records, oldest first.
func (sp *Spool) pending() ([]string, error) {
	entries, err := os.ReadDir(sp.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, filepath.Join(sp.dir, e.Name()))
		}
	}
	sort.Strings(names)
	return names, nil
}

// requestKey is a short, fixed-size key for a long token.
func requestKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:12])
}

// spoolOptOut keeps an opt-out Redis refused; it reports whether the
// request is now safe to acknowledge.
func (s *Server) spoolOptOut(r spooled, cause error) bool {
	if s.cfg.Spool == nil {
		return false
	}
	if err := s.cfg.Spool.add(r); err != nil {
		s.log.Error("opt-out could not be applied nor spooled", "kind", r.Kind, "cause", cause, "err", err)
		return false
	}
	s.log.Warn("opt-out spooled until Redis answers", "kind", r.Kind, "dir", s.cfg.Spool.dir, "cause", cause)
	return true
}

// DrainSpool applies spooled opt-outs with their original times and removes
// each once applied; it stops at the first failure (Redis still down) and
// returns how many it applied.
func (s *Server) DrainSpool(ctx context.Context) (int, error) {
	if s.cfg.Spool == nil {
		return 0, nil
	}
	names, err := s.cfg.Spool.pending()
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return applied, err
		}
		var r spooled
		if err := json.Unmarshal(b, &r); err != nil {
			// Unreadable records are kept aside for an operator, never lost.
			s.log.Error("spooled opt-out is unreadable; renamed .bad for inspection", "file", name, "err", err)
			os.Rename(name, name+".bad")
			continue
		}
		if err := s.applySpooled(ctx, r); err != nil {
			return applied, err
		}
		if err := os.Remove(name); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

func (s *Server) applySpooled(ctx context.Context, r spooled) error {
	switch r.Kind {
	case "unsubscribe":
		ev := cadence.Event{Kind: cadence.EvUnsubscribed, At: r.At, Channel: cadence.Email, By: "one-click", Reason: "List-Unsubscribe (received while the database was unreachable)"}
		return s.once(ctx, "unsub:"+r.Key, func() error { return s.applyQuiet(ctx, r.EID, ev) })
	case "sms_stop":
		return s.once(ctx, "sms:"+r.Key, func() error {
			pid, err := s.st.ProspectIDByPhone(ctx, r.Phone)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return s.e.ProspectEvent(ctx, pid, cadence.Event{Kind: cadence.EvSMSOptOut, At: r.At, Channel: cadence.SMS, By: "sms " + r.Phone,
				Reason: strings.TrimSpace(r.Body) + " (received while the database was unreachable)"})
		})
	}
	return fmt.Errorf("spool: unknown record kind %q", r.Kind)
}

// RunSpool drains the spool every interval until ctx ends.
func (s *Server) RunSpool(ctx context.Context, every time.Duration) {
	if s.cfg.Spool == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.DrainSpool(ctx); n > 0 || err != nil {
			if n > 0 {
				s.log.Info("spooled opt-outs applied", "count", n)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn("spooled opt-outs wait for Redis", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

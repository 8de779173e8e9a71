package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPConfig configures the IMAP poller, for teams that reply from a real
// mailbox instead of an inbound relay.
type IMAPConfig struct {
	Addr     string // host:port
	Username string
	Password string
	// Mailbox to read (default INBOX).
	Mailbox string
	// TLS: "tls" (implicit, port 993, default), "starttls" or "none".
	TLS      string
	Interval time.Duration
	// InsecureSkipVerify is for test servers with self-signed certificates.
	InsecureSkipVerify bool
}

// IMAPPoller reads unseen messages, processes each like the inbound-email
// webhook, and marks it seen only once processed, so a crash re-reads it
// (processing is idempotent: see Email.Key, and a message half processed
// resumes where it stopped).
type IMAPPoller struct {
	cfg     IMAPConfig
	process func(ctx context.Context, raw []byte) (EmailResult, error)
	log     *slog.Logger
}

// NewIMAPPoller returns a poller feeding s.ProcessEmail.
func (s *Server) NewIMAPPoller(cfg IMAPConfig) (*IMAPPoller, error) {
	if cfg.Addr == "" || cfg.Username == "" {
		return nil, errors.New("imap: address and username are required")
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	if cfg.TLS == "" {
		cfg.TLS = "tls"
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	return &IMAPPoller{cfg: cfg, process: s.ProcessEmail, log: s.log}, nil
}

// Run polls until ctx ends; errors are logged and retried next interval.
func (p *IMAPPoller) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if n, err := p.PollOnce(ctx); err != nil {
			p.log.Error("imap poll failed", "mailbox", p.cfg.Mailbox, "err", err)
		} else if n > 0 {
			p.log.Info("imap poll", "processed", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (p *IMAPPoller) dial() (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: p.cfg.InsecureSkipVerify}} //nolint:gosec // test servers only
	switch p.cfg.TLS {
	case "none":
		return imapclient.DialInsecure(p.cfg.Addr, opts)
	case "starttls":
		return imapclient.DialStartTLS(p.cfg.Addr, opts)
	default:
		return imapclient.DialTLS(p.cfg.Addr, opts)
	}
}

// PollOnce processes the unseen messages once and returns how many.
func (p *IMAPPoller) PollOnce(ctx context.Context) (int, error) {
	c, err := p.dial()
	if err != nil {
		return 0, fmt.Errorf("imap dial %s: %w", p.cfg.Addr, err)
	}
	defer c.Close()
	if err := c.Login(p.cfg.Username, p.cfg.Password).Wait(); err != nil {
		return 0, fmt.Errorf("imap login: %w", err)
	}
	if _, err := c.Select(p.cfg.Mailbox, nil).Wait(); err != nil {
		return 0, fmt.Errorf("imap select %s: %w", p.cfg.Mailbox, err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("imap search: %w", err)
	}
	uids := found.AllUIDs()
	processed := 0
	for _, uid := range uids {
		if ctx.Err() != nil {
			break
		}
		set := imap.UIDSetNum(uid)
		msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			return processed, fmt.Errorf("imap fetch %d: %w", uid, err)
		}
		if len(msgs) != 1 || len(msgs[0].BodySection) == 0 {
			continue
		}
		_, err = p.process(ctx, msgs[0].BodySection[0].Bytes)
		if errors.Is(err, errInFlight) {
			// The webhook (or another poller) is processing the same
			// message right now: leave it unseen, the next poll sees it
			// done.
			continue
		}
		var bad *BadMessageError
		if err != nil && !errors.As(err, &bad) {
			// Leave it unseen: the next poll tries again.
			return processed, err
		}
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
			return processed, fmt.Errorf("imap mark seen %d: %w", uid, err)
		}
		processed++
	}
	_ = c.Logout().Wait()
	return processed, nil
}

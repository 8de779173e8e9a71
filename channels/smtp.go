package channels

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
)

// SMTPConfig configures the SMTP relay.
type SMTPConfig struct {
	Host string
	Port int
	// TLS: "starttls" (opportunistic, default), "mandatory" (STARTTLS
	// required), "tls" (implicit TLS, port 465) or "none".
	TLS      string
	Username string
	Password string
	// Connections is how many SMTP connections the pool keeps (default 4).
	Connections int
	Timeout     time.Duration
	HELO        string
	// InsecureSkipVerify is for test relays with self-signed certificates.
	InsecureSkipVerify bool
	// NoPipelining sends one command per round trip even when the relay
	// offers PIPELINING (for relays that advertise it and mishandle it).
	NoPipelining bool
	// DKIM signs every message when Domain, Selector and KeyPEM are set.
	DKIM DKIMConfig
}

// DKIMConfig configures DKIM signing.
type DKIMConfig struct {
	Domain   string
	Selector string
	// KeyPEM is an RSA or Ed25519 private key, PKCS#1 or PKCS#8.
	KeyPEM []byte
}

// dkimSignedHeaders are the headers DKIM signs. RFC 8058 requires both
// List-Unsubscribe headers to be signed. Kept short on purpose: go-mail's
// signer produces signatures that fail verification once the joined list
// ("From:To:...") reaches 73 characters; this one is 70.
var dkimSignedHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"}

// NewDKIMSigner builds a signer from a config, or nil when DKIM is off.
func NewDKIMSigner(c DKIMConfig) (*mail.DKIMSigner, error) {
	if c.Domain == "" && c.Selector == "" && len(c.KeyPEM) == 0 {
		return nil, nil
	}
	if c.Domain == "" || c.Selector == "" || len(c.KeyPEM) == 0 {
		return nil, errors.New("dkim: domain, selector and key are all required")
	}
	key, err := mail.PrivKeyFromPEM(c.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	s := mail.NewDKIMSigner(c.Domain, c.Selector, key)
	s.SignHeaders(dkimSignedHeaders...)
	s.HeaderCanonicalization(mail.CanonicalizationRelaxed)
	s.BodyCanonicalization(mail.CanonicalizationRelaxed)
	return s, nil
}

// WithDefaults fills unset fields.
func (c SMTPConfig) WithDefaults() SMTPConfig {
	if c.Port == 0 {
		c.Port = 587
	}
	if c.TLS == "" {
		c.TLS = "starttls"
	}
	if c.Connections <= 0 {
		c.Connections = 4
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// SMTP sends email over a pool of reused connections. Each connection
// sends many messages without the per-send NOOP probe.
type SMTP struct {
	cfg  SMTPConfig
	pool chan *smtpConn
	dkim *mail.DKIMSigner
}

// NewSMTP returns a sender; connections are dialled lazily.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	cfg = cfg.WithDefaults()
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is required")
	}
	signer, err := NewDKIMSigner(cfg.DKIM)
	if err != nil {
		return nil, err
	}
	s := &SMTP{cfg: cfg, pool: make(chan *smtpConn, cfg.Connections), dkim: signer}
	for i := 0; i < cfg.Connections; i++ {
		s.pool <- nil
	}
	return s, nil
}

func (s *SMTP) newClient() (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(s.cfg.Port), mail.WithTimeout(s.cfg.Timeout), mail.WithoutNoop()}
	switch s.cfg.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "mandatory":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "tls":
		opts = append(opts, mail.WithSSL())
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.InsecureSkipVerify {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: s.cfg.Host})) //nolint:gosec // test relays only
	}
	return mail.NewClient(s.cfg.Host, opts...)
}

// BuildMsg turns an Email into a go-mail message with the RFC 8058
// headers and a deterministic Message-ID.
func BuildMsg(e *Email) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", e.From, err)
	}
	if err := m.To(e.To); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	if e.ReplyTo != "" {
		if err := m.ReplyTo(e.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply-to %q: %w", e.ReplyTo, err)
		}
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(strings.Trim(e.MessageID, "<>"))
	m.SetDate()
	switch {
	case strings.HasPrefix(e.Unsubscribe, "https://"):
		// Both RFC 8058 headers: List-Unsubscribe and List-Unsubscribe-Post.
		if err := m.SetListUnsubscribeOneClick(e.Unsubscribe); err != nil {
			return nil, fmt.Errorf("list-unsubscribe: %w", err)
		}
	case e.Unsubscribe != "":
		// One-click needs HTTPS; a development URL gets the plain header.
		m.SetGenHeader(mail.HeaderListUnsubscribe, "<"+e.Unsubscribe+">")
	}
	if e.InReplyTo != "" {
		ref := "<" + strings.Trim(e.InReplyTo, "<>") + ">"
		m.SetGenHeader(mail.HeaderInReplyTo, ref)
		m.SetGenHeader(mail.HeaderReferences, ref)
	}
	for k, v := range e.Headers {
		m.SetGenHeader(mail.Header(k), v)
	}
	switch {
	case e.Text != "" && e.HTML != "":
		m.SetBodyString(mail.TypeTextPlain, e.Text)
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	case e.HTML != "":
		m.SetBodyString(mail.TypeTextHTML, e.HTML)
	default:
		m.SetBodyString(mail.TypeTextPlain, e.Text)
	}
	return m, nil
}

// SendEmails sends msgs over the pool, spreading them across connections.
func (s *SMTP) SendEmails(ctx context.Context, msgs []*Email, j Journal) []error {
	errs := make([]error, len(msgs))
	built := make([]*mail.Msg, len(msgs))
	for i, e := range msgs {
		m, err := BuildMsg(e)
		if err != nil {
			errs[i] = &Error{Class: Permanent, Err: err}
			continue
		}
		if s.dkim != nil {
			m.SetDKIM(s.dkim)
		}
		built[i] = m
	}
	per := (len(msgs) + s.cfg.Connections - 1) / s.cfg.Connections
	var wg sync.WaitGroup
	for lo := 0; lo < len(msgs); lo += per {
		hi := min(lo+per, len(msgs))
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			s.sendChunk(ctx, built[lo:hi], errs[lo:hi], newJournalRun(j, lo))
		}(lo, hi)
	}
	wg.Wait()
	return errs
}

// journalRun steps a journal through messages sent one after another on
// one connection: each step reports the previous message's outcome and
// announces the next, so journaling costs one round trip per message.
type journalRun struct {
	j    Journal
	off  int // index of the chunk's first message in the batch
	prev int // the message awaiting its outcome, or -1
}

func newJournalRun(j Journal, off int) *journalRun { return &journalRun{j: j, off: off, prev: -1} }

// begin announces message i; an error means i must not be sent.
func (r *journalRun) begin(ctx context.Context, i int, errs []error) error {
	if r.j == nil {
		return nil
	}
	done, doneErr := -1, error(nil)
	if r.prev >= 0 {
		done, doneErr = r.off+r.prev, errs[r.prev]
	}
	r.prev = -1
	if err := r.j.Step(ctx, done, doneErr, r.off+i); err != nil {
		return err
	}
	r.prev = i
	return nil
}

// end reports the last message's outcome. Best effort: if this write is
// lost the batch commit records the outcome anyway; only a crash in
// between leaves it unknown.
func (r *journalRun) end(ctx context.Context, errs []error) {
	if r.j != nil && r.prev >= 0 {
		_ = r.j.Step(ctx, r.off+r.prev, errs[r.prev], -1)
	}
}

// sendChunk sends on one pooled connection, redialling once if the
// connection broke before a message was accepted. The journal hears of
// each message just before its transaction and of its outcome on the next
// step (one round trip per message), so a connection never has more than
// one message whose fate a crash could hide.
func (s *SMTP) sendChunk(ctx context.Context, msgs []*mail.Msg, errs []error, j *journalRun) {
	var c *smtpConn
	select {
	case c = <-s.pool:
	case <-ctx.Done():
		for i := range errs {
			if errs[i] == nil {
				errs[i] = &Error{Class: Transport, Err: ctx.Err()}
			}
		}
		return
	}
	defer func() { s.pool <- c }()
	for i, m := range msgs {
		if m == nil {
			continue
		}
		if err := j.begin(ctx, i, errs); err != nil {
			errs[i] = err
			continue
		}
		for attempt := 0; attempt < 2; attempt++ {
			if c == nil {
				nc, err := s.dial(ctx)
				if err != nil {
					errs[i] = &Error{Class: Transport, Err: err}
					break
				}
				c = nc
			}
			errs[i] = c.send(m)
			if ClassOf(errs[i]) == Ambiguous {
				// The conversation is out of step: a late reply must not
				// be read as the next message's.
				_ = c.close()
				c = nil
				break
			}
			if ClassOf(errs[i]) != Transport {
				break
			}
			// The connection is gone: drop it and redial once.
			_ = c.close()
			c = nil
		}
	}
	j.end(ctx, errs)
}

// Close closes pooled connections.
func (s *SMTP) Close() error {
	for i := 0; i < s.cfg.Connections; i++ {
		if c := <-s.pool; c != nil {
			_ = c.close()
		}
		s.pool <- nil
	}
	return nil
}

// classifySMTP maps a go-mail error to a Class by reply code, not by
// IsTemp (which is false for transport errors too).
func classifySMTP(err error) error {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return &Error{Class: Transport, Err: err}
	}
	return classifyCode(se.ErrorCode(), se.EnhancedStatusCode(), se.Reason == mail.ErrSMTPDataClose, err)
}

// classifyReply maps a pipelined transaction's failure to a Class.
func classifyReply(re *replyError) error {
	return classifyCode(re.code, re.enhanced, re.afterData, re)
}

// classifyCode classifies a reply code; afterData with no reply means
// the relay stopped answering after the whole body: it may have been
// accepted.
func classifyCode(code int, enh string, afterData bool, err error) error {
	ce := &Error{Code: code, Enhanced: enh, Err: err}
	switch {
	case code >= 500 && (strings.HasPrefix(enh, "5.1.") || (enh == "" && (code == 550 || code == 551 || code == 553) && mentionsMailbox(err))):
		ce.Class = HardBounce
	case code >= 500 && strings.HasPrefix(enh, "5.7."):
		ce.Class = SenderPolicy
	case code >= 500:
		ce.Class = Permanent
	case code >= 400:
		ce.Class = Retry
	case afterData:
		ce.Class = Ambiguous
	default:
		ce.Class = Transport
	}
	return ce
}

func mentionsMailbox(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "mailbox") || strings.Contains(s, "user unknown") || strings.Contains(s, "no such user")
}

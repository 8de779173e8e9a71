package channels

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// smtpConn is one relay connection. go-mail dials it (TLS, AUTH, EHLO)
// and builds every message; when the relay offers PIPELINING (RFC 2920)
// the envelope goes out in one write — MAIL, RCPT and DATA together —
// and no RSET follows a delivered message, so a message costs two round
// trips instead of go-mail's five (MAIL, RCPT, DATA, body, RSET).
type smtpConn struct {
	mc         *mail.Client
	sc         *smtp.Client
	timeout    time.Duration
	pipelining bool
	enhanced   bool
	// mailParams follow MAIL FROM, as go-mail would add them.
	mailParams string
	// dirty is set when a transaction may still be open on the server.
	dirty bool
}

func (s *SMTP) dial(ctx context.Context) (*smtpConn, error) {
	mc, err := s.newClient()
	if err != nil {
		return nil, err
	}
	sc, err := mc.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, err
	}
	c := &smtpConn{mc: mc, sc: sc, timeout: s.cfg.Timeout}
	c.pipelining, _ = sc.Extension("PIPELINING")
	c.pipelining = c.pipelining && !s.cfg.NoPipelining
	c.enhanced, _ = sc.Extension("ENHANCEDSTATUSCODES")
	if ok, _ := sc.Extension("8BITMIME"); ok {
		c.mailParams += " BODY=8BITMIME"
	}
	if ok, _ := sc.Extension("SMTPUTF8"); ok {
		c.mailParams += " SMTPUTF8"
	}
	return c, nil
}

func (c *smtpConn) close() error { return c.mc.CloseWithSMTPClient(c.sc) }

// send delivers one message; errors classify as classifySMTP says.
func (c *smtpConn) send(m *mail.Msg) error {
	if !c.pipelining {
		if err := c.mc.SendWithSMTPClient(c.sc, m); err != nil {
			return classifySMTP(err)
		}
		return nil
	}
	return c.sendPipelined(m)
}

// replyError is a refusal or a broken conversation in a pipelined
// transaction; afterData says the whole body had been written, so a
// missing reply leaves the outcome unknown.
type replyError struct {
	stage     string
	code      int
	enhanced  string
	msg       string
	afterData bool
	err       error
}

func (e *replyError) Error() string {
	if e.code != 0 {
		return fmt.Sprintf("smtp %s: %d %s", e.stage, e.code, e.msg)
	}
	return fmt.Sprintf("smtp %s: %v", e.stage, e.err)
}

func (e *replyError) Unwrap() error { return e.err }

func (c *smtpConn) refusal(stage string, err error, afterData bool) error {
	re := &replyError{stage: stage, afterData: afterData, err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		re.code, re.msg = te.Code, te.Msg
		if c.enhanced {
			re.enhanced = enhancedOf(te.Msg)
		}
	}
	return classifyReply(re)
}

// enhancedOf reads an RFC 3463 status code ("5.1.1") at the start of a
// reply text.
func enhancedOf(msg string) string {
	f, _, _ := strings.Cut(msg, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || parts[0] < "2" || parts[0] > "5" {
		return ""
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return f
}

func (c *smtpConn) sendPipelined(m *mail.Msg) error {
	from, err := m.GetSender(false)
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	rcpts, err := m.GetRecipients()
	if err != nil {
		return &Error{Class: Permanent, Err: err}
	}
	for _, a := range append([]string{from}, rcpts...) {
		if strings.ContainsAny(a, "\r\n") {
			return &Error{Class: Permanent, Err: fmt.Errorf("address %q holds a line break", a)}
		}
	}
	if err := c.sc.UpdateDeadline(c.timeout); err != nil {
		return &Error{Class: Transport, Err: err}
	}
	t := c.sc.Text
	w := t.Writer.W
	if c.dirty {
		// An earlier refusal left a transaction open: reset it in the
		// same write.
		w.WriteString("RSET\r\n")
	}
	w.WriteString("MAIL FROM:" + from + c.mailParams + "\r\n")
	for _, r := range rcpts {
		w.WriteString("RCPT TO:" + r + "\r\n")
	}
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return &Error{Class: Transport, Err: err}
	}
	wasDirty := c.dirty
	c.dirty = true
	if wasDirty {
		if _, _, err := t.ReadResponse(250); err != nil {
			return c.readFailed("RSET", err)
		}
	}
	var refused error
	if _, _, err := t.ReadResponse(250); err != nil {
		if broken(err) {
			return c.readFailed("MAIL", err)
		}
		refused = c.refusal("MAIL", err, false)
	}
	for range rcpts {
		if _, _, err := t.ReadResponse(25); err != nil {
			if broken(err) {
				return c.readFailed("RCPT", err)
			}
			if refused == nil {
				refused = c.refusal("RCPT", err, false)
			}
		}
	}
	if _, _, err := t.ReadResponse(354); err != nil {
		if broken(err) {
			return c.readFailed("DATA", err)
		}
		if refused == nil {
			refused = c.refusal("DATA", err, false)
		}
		return refused
	}
	if refused != nil {
		// The relay took DATA although it refused the envelope: end the
		// empty body (it has no recipient to deliver to) and report the
		// refusal.
		w.WriteString(".\r\n")
		if err := w.Flush(); err != nil {
			return &Error{Class: Transport, Err: err}
		}
		_, _, _ = t.ReadResponse(250)
		return refused
	}
	dw := t.DotWriter()
	if _, err := m.WriteTo(dw); err != nil {
		_ = c.sc.Close()
		return &Error{Class: Transport, Err: fmt.Errorf("writing the message: %w", err)}
	}
	if err := dw.Close(); err != nil {
		// The body may have reached the relay whole.
		return c.refusal("end of data", err, true)
	}
	if _, _, err := t.ReadResponse(250); err != nil {
		return c.refusal("end of data", err, true)
	}
	c.dirty = false
	return nil
}

// readFailed is a broken connection before the body was sent: nothing
// was delivered.
func (c *smtpConn) readFailed(stage string, err error) error {
	return &Error{Class: Transport, Err: fmt.Errorf("smtp %s: %w", stage, err)}
}

// broken reports an I/O failure rather than a reply.
func broken(err error) bool {
	var te *textproto.Error
	var pe textproto.ProtocolError
	return !errors.As(err, &te) && !errors.As(err, &pe)
}

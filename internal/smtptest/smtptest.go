// Package smtptest is an in-process SMTP server (emersion/go-smtp) for
// tests: it records every accepted message and can answer chosen
// recipients with 4xx or 5xx replies, a limited number of times.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is an accepted message.
type Message struct {
	From, To  string
	Data      []byte
	MessageID string
	Header    mail.Header
	// At is when the server accepted it.
	At time.Time
	// Helo is the name the sending client announced.
	Helo string
}

// Fault makes the server refuse a recipient.
type Fault struct {
	Code     int
	Enhanced smtp.EnhancedCode
	Msg      string
	// Times is how many times to refuse (0 = always).
	Times int
	// DropConn closes the connection instead of answering.
	DropConn bool
}

// Server is a recording SMTP server on 127.0.0.1.
type Server struct {
	Addr string
	Port int

	mu       sync.Mutex
	msgs     []Message
	faults   map[string]*Fault
	sessions int
	srv      *smtp.Server
	// Delay slows every DATA, so tests can interrupt a sender mid-batch.
	Delay time.Duration
	// DropData keeps each message's headers but not its bytes (long soaks
	// receive millions).
	DropData bool
	opts     Options
}

// Options configures StartWith.
type Options struct {
	// TLS enables STARTTLS with this configuration.
	TLS *tls.Config
	// Username and Password, when set, require AUTH PLAIN.
	Username, Password string
}

// Start starts a plain server that stops when the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a server with STARTTLS and/or AUTH.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{faults: map[string]*Fault{}, opts: o}
	srv := smtp.NewServer(s)
	srv.TLSConfig = o.TLS
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.EnableSMTPUTF8 = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	s.Port = l.Addr().(*net.TCPAddr).Port
	s.srv = srv
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Fail sets a fault for a recipient.
func (s *Server) Fail(rcpt string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[strings.ToLower(rcpt)] = &f
}

// FailAll sets a fault for every recipient without one of its own (a
// relay answering "421 4.7.0 try again later" to everything).
func (s *Server) FailAll(f Fault) { s.Fail("*", f) }

// Messages returns the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// MessagesFrom returns the accepted messages from the i-th on (a poller
// reads only what is new).
func (s *Server) MessagesFrom(i int) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.msgs) {
		return nil
	}
	return append([]Message(nil), s.msgs[i:]...)
}

// Reset forgets the accepted messages (benchmarks run phases on one sink).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

// Count returns how many messages were accepted, without copying them.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Sessions returns how many SMTP connections were opened.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	return &session{s: s, conn: c}, nil
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	from   string
	to     []string
	authed bool
}

// AuthMechanisms implements smtp.AuthSession.
func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

// Encrypted reports whether the session used STARTTLS (tests assert it).
func (ss *session) encrypted() bool {
	_, ok := ss.conn.TLSConnectionState()
	return ok
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	if ss.s.opts.TLS != nil && !ss.encrypted() {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "STARTTLS required"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	key := strings.ToLower(to)
	f := ss.s.faults[key]
	if f == nil {
		key, f = "*", ss.s.faults["*"]
	}
	if f != nil && f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(ss.s.faults, key)
		}
	}
	ss.s.mu.Unlock()
	if f != nil {
		if f.DropConn {
			ss.conn.Conn().Close()
			return errors.New("connection dropped")
		}
		return &smtp.SMTPError{Code: f.Code, EnhancedCode: f.Enhanced, Message: f.Msg}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if ss.s.Delay > 0 {
		time.Sleep(ss.s.Delay)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "malformed message"}
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.DropData {
		b = nil
	}
	for _, to := range ss.to {
		ss.s.msgs = append(ss.s.msgs, Message{From: ss.from, To: to, Data: b, MessageID: m.Header.Get("Message-Id"), Header: m.Header, At: time.Now(), Helo: ss.conn.Hostname()})
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

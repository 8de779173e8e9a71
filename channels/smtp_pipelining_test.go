package channels_test

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/smtptest"
)

// strictPipeliner is a relay that answers a transaction's envelope only
// once it has read MAIL, RCPT and DATA: a client that waits for each reply
// before the next command stalls until its timeout.
type strictPipeliner struct {
	addr string
	mu   sync.Mutex
	cmds []string
	msgs int
}

func startStrictPipeliner(t *testing.T) *strictPipeliner {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &strictPipeliner{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p
}

func (p *strictPipeliner) serve(conn net.Conn) {
	defer conn.Close()
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	reply := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
	reply("220 strict ESMTP")
	var pending []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		p.mu.Lock()
		p.cmds = append(p.cmds, strings.Fields(cmd + " x")[0])
		p.mu.Unlock()
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-strict\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"):
			pending = append(pending, "250 2.0.0 ok")
		case cmd == "DATA":
			for _, s := range pending {
				w.WriteString(s + "\r\n")
			}
			pending = nil
			reply("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			p.mu.Lock()
			p.msgs++
			p.mu.Unlock()
			reply("250 2.0.0 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 5.5.1 what")
		}
	}
}

// TestSMTPPipelinesTheEnvelope: with PIPELINING offered, a message's
// MAIL, RCPT and DATA go out before any reply is read, and no RSET
// follows a delivered message — two round trips per message.
func TestSMTPPipelinesTheEnvelope(t *testing.T) {
	relay := startStrictPipeliner(t)
	host, port, _ := net.SplitHostPort(relay.addr)
	portN, _ := strconv.Atoi(port)
	s, err := channels.NewSMTP(channels.SMTPConfig{Host: host, Port: portN, TLS: "none", Connections: 1, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs := []*channels.Email{email("a@example.com", 1), email("b@example.com", 2), email("c@example.com", 3)}
	start := time.Now()
	errs := s.SendEmails(context.Background(), msgs, nil)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v (after %s: a client waiting for each reply stalls here)", i, err, time.Since(start))
		}
	}
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if relay.msgs != 3 {
		t.Fatalf("relay took %d messages, want 3", relay.msgs)
	}
	if got := strings.Join(relay.cmds, " "); strings.Contains(got, "RSET") {
		t.Errorf("commands %s: no RSET is needed after a delivered message", got)
	}
}

// TestSMTPWithoutPipelining: NoPipelining, or a relay that does not offer
// it, sends one command per round trip and still delivers.
func TestSMTPWithoutPipelining(t *testing.T) {
	sink := smtptest.Start(t)
	s, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: 1, Timeout: 5 * time.Second, NoPipelining: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sink.Fail("bad@example.com", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	errs := s.SendEmails(context.Background(), []*channels.Email{email("ok@example.com", 1), email("bad@example.com", 2), email("ok2@example.com", 3)}, nil)
	if errs[0] != nil || errs[2] != nil || channels.ClassOf(errs[1]) != channels.HardBounce {
		t.Fatalf("errors %v", errs)
	}
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("sink has %d messages, want 2", n)
	}
}

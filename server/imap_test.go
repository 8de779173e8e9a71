package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/server"
)

// startIMAP serves an in-memory mailbox for user "sales" on loopback.
func startIMAP(t *testing.T) string {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("sales", "pw")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func appendMail(t *testing.T, addr, raw string) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("sales", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	cmd.Write([]byte(raw))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestIMAPPollerProcessesRepliesOnce(t *testing.T) {
	h := newHarness(t)
	h.enroll("ada", "ada@example.com", "")
	h.enroll("cy", "cy@example.com", "")
	h.send()
	addr := startIMAP(t)
	appendMail(t, addr, "From: ada@example.com\nTo: sales@acme.example\nSubject: Re: Hi\nMessage-ID: <i1@mail.example>\n\nLet's talk.\n")
	appendMail(t, addr, "From: cy@example.com\nSubject: Automatic reply: Hi\nAuto-Submitted: auto-replied\nMessage-ID: <i2@mail.example>\n\nBack on March 12.\n")
	appendMail(t, addr, "this is not a message at all")
	srv, err := server.New(server.Config{Engine: h.e})
	if err != nil {
		t.Fatal(err)
	}
	poller, err := srv.NewIMAPPoller(server.IMAPConfig{Addr: addr, Username: "sales", Password: "pw", TLS: "none", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n, err := poller.PollOnce(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("first poll: %d %v", n, err)
	}
	if e := h.enrollment("ada~trial"); e.State != cadence.Warm {
		t.Fatalf("ada: %s", e.State)
	}
	if e := h.enrollment("cy~trial"); e.State != cadence.Snoozed || e.Until.Day() != 12 {
		t.Fatalf("cy: %s until %v", e.State, e.Until)
	}
	if n, err := poller.PollOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("second poll re-read seen messages: %d %v", n, err)
	}
	if _, err := (&server.IMAPPoller{}).PollOnce(context.Background()); err == nil {
		t.Fatal("an unconfigured poller did not fail")
	}
}

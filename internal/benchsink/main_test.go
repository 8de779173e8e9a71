package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/benchsink/expect"
	"github.com/nurture-dev/nurture/templates"
)

// TestSinkCountsAndChecks sends benchmark emails rendered from the
// cadence's template through the real SMTP sender: the sink checks each
// one's personalization, and counts a repeat and a wrong branch.
func TestSinkCountsAndChecks(t *testing.T) {
	st := &stats{seenID: map[string]bool{}, seenTo: map[string]bool{}, checkEvery: 1}
	srv := smtp.NewServer(backend{st})
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	tpl, probs := templates.Compile("hello", templates.Source{Subject: "s", HTML: expect.Template})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	var msgs []*channels.Email
	for i := range 3 {
		r := expect.RowFor(i)
		out, err := tpl.RenderEmail(templates.Data{FirstName: r.FirstName, City: r.City, UnsubscribeURL: "https://n.example/u/x",
			Attr: map[string]string{"plan": r.Plan, "points": r.Points, "ref": r.Ref}})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, &channels.Email{MessageID: "<m" + r.Points + "@n.example>", From: "hello@acme.example", To: r.Email, Subject: out.Subject, HTML: out.HTML})
	}
	// A repeat of the first, and recipient 1's message sent to recipient 2.
	repeat, wrong := *msgs[0], *msgs[1]
	wrong.To, wrong.MessageID = expect.RowFor(5).Email, "<wrong@n.example>"
	msgs = append(msgs, &repeat, &wrong)
	port := ln.Addr().(*net.TCPAddr).Port
	s, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: "none", Connections: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, err := range s.SendEmails(context.Background(), msgs, nil) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.Received != 5 || st.Duplicates != 1 || st.Checked != 5 || st.Failures != 1 {
		t.Fatalf("received %d duplicates %d checked %d failures %d (%v); want 5, 1, 5, 1", st.Received, st.Duplicates, st.Checked, st.Failures, st.Samples)
	}
	if !strings.Contains(st.Samples[0], expect.RowFor(5).Email) {
		t.Errorf("failure sample %q should name the recipient", st.Samples[0])
	}
}

func TestMessageIDUnfolds(t *testing.T) {
	for data, want := range map[string]string{
		"Date: x\r\nMessage-ID: <a@b>\r\n\r\nbody":             "<a@b>",
		"Message-Id:\r\n <long@b>\r\nSubject: s\r\n\r\n":       "<long@b>",
		"Subject: s\nMessage-ID: <lf@b>\n\nMessage-ID: <no@b>": "<lf@b>",
		"Subject: s\r\n\r\nMessage-ID: <body@b>":               "",
	} {
		if got := messageID([]byte(data)); got != want {
			t.Errorf("messageID(%q) = %q, want %q", data, got, want)
		}
	}
}

// Command benchsink is the SMTP relay of scripts/bench-e2e.sh: a
// separate go-smtp process (so its CPU is measured apart from the
// engine's) that accepts every message, counts duplicates by Message-ID
// and recipient, and MIME-decodes every Nth message to check its
// personalization against what the benchmark's CSV gave that recipient.
// GET /stats on the status address answers the counts as JSON.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/nurture-dev/nurture/internal/benchsink/expect"
)

type stats struct {
	mu         sync.Mutex
	Received   int      `json:"received"`
	Duplicates int      `json:"duplicates"`
	Checked    int      `json:"checked"`
	Failures   int      `json:"personalization_failures"`
	Samples    []string `json:"failure_samples,omitempty"`
	FirstNS    int64    `json:"first_unix_ns"`
	LastNS     int64    `json:"last_unix_ns"`
	Sessions   int      `json:"sessions"`
	seenID     map[string]bool
	seenTo     map[string]bool
	checkEvery int
	saveDir    string
}

func (s *stats) record(to string, data []byte) {
	now := time.Now().UnixNano()
	id := messageID(data)
	s.mu.Lock()
	s.Received++
	if s.FirstNS == 0 {
		s.FirstNS = now
	}
	s.LastNS = now
	if id == "" || s.seenID[id] || s.seenTo[to] {
		s.Duplicates++
	}
	s.seenID[id], s.seenTo[to] = true, true
	check := s.checkEvery > 0 && s.Received%s.checkEvery == 0
	n := s.Received
	s.mu.Unlock()
	if s.saveDir != "" {
		if err := os.WriteFile(filepath.Join(s.saveDir, fmt.Sprintf("%07d.eml", n)), data, 0o644); err != nil {
			log.Printf("benchsink: %v", err)
		}
	}
	if !check {
		return
	}
	err := checkPersonalization(to, data)
	s.mu.Lock()
	s.Checked++
	if err != nil {
		s.Failures++
		if len(s.Samples) < 5 {
			s.Samples = append(s.Samples, to+": "+err.Error())
		}
	}
	s.mu.Unlock()
}

// messageID reads the Message-ID header without parsing the message
// (lines end in CRLF or LF; a long header may be folded).
func messageID(data []byte) string {
	var id []byte
	found := false
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		data = rest
		switch {
		case len(line) == 0:
			return string(bytes.TrimSpace(id))
		case found && (line[0] == ' ' || line[0] == '\t'):
			id = append(id, bytes.TrimSpace(line)...)
		case found:
			return string(bytes.TrimSpace(id))
		case len(line) >= 11 && strings.EqualFold(string(line[:11]), "message-id:"):
			found, id = true, append(id, line[11:]...)
		}
	}
	return string(bytes.TrimSpace(id))
}

// checkPersonalization decodes the HTML part and compares it with what
// the recipient's CSV row said.
func checkPersonalization(to string, data []byte) error {
	want, err := expect.For(to)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	html, err := htmlPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return err
	}
	for _, s := range want.InHTML {
		if !strings.Contains(html, s) {
			return fmt.Errorf("html lacks %q", s)
		}
	}
	for _, s := range want.NotInHTML {
		if strings.Contains(html, s) {
			return fmt.Errorf("html has %q, meant for another branch", s)
		}
	}
	return nil
}

func htmlPart(ctype, cte string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return "", fmt.Errorf("content-type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return "", fmt.Errorf("no text/html part")
			}
			if err != nil {
				return "", err
			}
			if s, err := htmlPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err == nil {
				return s, nil
			}
		}
	}
	if mt != "text/html" {
		return "", fmt.Errorf("%s is not text/html", mt)
	}
	var r io.Reader = body
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		return "", fmt.Errorf("base64 html not expected")
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

type backend struct{ st *stats }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	b.st.mu.Lock()
	b.st.Sessions++
	b.st.mu.Unlock()
	return &session{st: b.st}, nil
}

type session struct {
	st *stats
	to string
}

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.st.record(s.to, data)
	return nil
}
func (s *session) Reset()        { s.to = "" }
func (s *session) Logout() error { return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "SMTP listen address")
	statsAddr := flag.String("stats", "127.0.0.1:2526", "HTTP address answering GET /stats")
	every := flag.Int("check-every", 10, "MIME-decode and check every Nth message (0: none)")
	csvRows := flag.Int("write-csv", -1, "write the CSV of this many benchmark recipients to stdout and exit")
	writeCadence := flag.String("write-cadence", "", "write the benchmark cadence with this id to stdout and exit")
	saveDir := flag.String("save", "", "also write every message to this directory as NNNNNNN.eml")
	flag.Parse()
	switch {
	case *csvRows >= 0:
		if err := expect.WriteCSV(os.Stdout, *csvRows); err != nil {
			log.Fatal(err)
		}
		return
	case *writeCadence != "":
		fmt.Print(expect.Cadence(*writeCadence))
		return
	}
	st := &stats{seenID: map[string]bool{}, seenTo: map[string]bool{}, checkEvery: *every, saveDir: *saveDir}
	srv := smtp.NewServer(backend{st})
	srv.Domain = "sink.local"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.Lock()
		defer st.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	go func() { log.Fatal(http.ListenAndServe(*statsAddr, nil)) }()
	fmt.Fprintf(os.Stderr, "benchsink: SMTP on %s, stats on http://%s/stats\n", ln.Addr(), *statsAddr)
	log.Fatal(srv.Serve(ln))
}

package dashboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/templates"
)

// The development outbox (channels.Outbox) keeps the newest Keep messages
// in memory, email as its full MIME source. The outbox page reads them
// back as a person reads mail: who, when, which cadence and touch (the
// X-Nurture-Touch header; for an SMS, its signed key), the text part, the
// HTML part in the same sandboxed frame as previews (its document from
// /outbox/document, untracked), the SMS text with its segments. Filters by
// cadence, touch and prospect; newest first, at most outboxShown.

// outboxShown is how many messages the outbox page lists.
const outboxShown = 200

// outboxItem is one kept message as the page shows it.
type outboxItem struct {
	Key     string
	At      time.Time
	Channel string
	From    string
	To      string
	Subject string
	// Cadence, Touch and Variant name what sent it; Prospect is the
	// prospect's id when the message names its enrollment ("" for tests).
	Cadence, Touch, Variant string
	Prospect                string
	Test                    bool
	Text                    string
	HTML                    bool
	Document                string
	SMS                     string
	Segments                int
	Encoding                string
	Source                  string
	// Problem says why the message could not be read, if so.
	Problem string
}

// outboxFilter is the page's GET form.
type outboxFilter struct {
	Cadence, Touch, Prospect string
}

func (f outboxFilter) active() bool { return f.Cadence != "" || f.Touch != "" || f.Prospect != "" }

// readOutbox reads what the page needs of a kept message: its names,
// always; its content when full.
func (d *Dashboard) readOutbox(ctx context.Context, m channels.OutboxMessage, full bool) outboxItem {
	it := outboxItem{Key: m.Key, At: m.At, Channel: m.Channel, To: m.To, Subject: m.Subject}
	it.Test = strings.HasPrefix(m.Key, "test.")
	if m.Channel == "sms" {
		if !it.Test {
			if eid, touch, err := d.e.MessageOwner(ctx, m.Key); err == nil {
				it.Prospect, it.Touch = store.ProspectOf(eid), touch
				it.Cadence = strings.TrimPrefix(eid[len(it.Prospect):], "~")
			}
		}
		if full {
			it.SMS = d.e.Untrack(m.Body)
			info := templates.CountSegments(m.Body)
			it.Segments, it.Encoding = info.Segments, string(info.Encoding)
		}
		return it
	}
	msg, err := mail.ReadMessage(strings.NewReader(m.Body))
	if err != nil {
		it.Problem = "the message does not parse: " + err.Error()
		it.Source = m.Body
		return it
	}
	var dec mime.WordDecoder
	header := func(k string) string {
		v := msg.Header.Get(k)
		if s, err := dec.DecodeHeader(v); err == nil {
			return s
		}
		return v
	}
	it.From = header("From")
	if a, err := mail.ParseAddress(it.From); err == nil {
		it.From = a.Address
		if a.Name != "" {
			it.From = a.Name + " <" + a.Address + ">"
		}
	}
	if s := header("Subject"); s != "" {
		it.Subject = s
	}
	it.Test = it.Test || msg.Header.Get("X-Nurture-Test") == "1"
	if parts := strings.SplitN(msg.Header.Get("X-Nurture-Touch"), "/", 3); len(parts) == 3 {
		it.Cadence, it.Touch, it.Variant = parts[0], parts[1], parts[2]
	}
	if !it.Test {
		if eid, _, err := d.e.MessageOwner(ctx, msg.Header.Get("Message-Id")); err == nil {
			it.Prospect = store.ProspectOf(eid)
		}
	}
	if !full {
		return it
	}
	it.Source = m.Body
	text, html, err := bodies(msg)
	if err != nil {
		it.Problem = "the body does not decode: " + err.Error()
	}
	it.Text, it.HTML = d.e.Untrack(text), html != ""
	if it.HTML {
		it.Document = "/outbox/document?key=" + url.QueryEscape(m.Key)
	}
	return it
}

// bodies returns the text/plain and text/html parts of a message,
// transfer-decoded, through nested multiparts.
func bodies(msg *mail.Message) (text, html string, err error) {
	var walk func(ctype, cte string, r io.Reader, depth int) error
	walk = func(ctype, cte string, r io.Reader, depth int) error {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			mt = "text/plain"
		}
		if strings.HasPrefix(mt, "multipart/") {
			if depth > 5 {
				return errors.New("multiparts nested too deep")
			}
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				// multipart hides and undoes quoted-printable itself.
				if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1); err != nil {
					return err
				}
			}
		}
		if mt != "text/plain" && mt != "text/html" {
			return nil
		}
		switch strings.ToLower(strings.TrimSpace(cte)) {
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, &stripSpace{r: r})
		case "quoted-printable":
			r = quotedprintable.NewReader(r)
		}
		b, err := io.ReadAll(io.LimitReader(r, 4<<20))
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(b), "\r\n", "\n")
		if mt == "text/html" && html == "" {
			html = s
		} else if mt == "text/plain" && text == "" {
			text = s
		}
		return nil
	}
	err = walk(orDefault(msg.Header.Get("Content-Type"), "text/plain"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	return text, html, err
}

// stripSpace drops line breaks and spaces (base64 bodies are wrapped).
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	out := p[:0]
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
			out = append(out, c)
		}
	}
	return len(out), err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// matches reports whether a message passes the filter.
func (f outboxFilter) matches(it *outboxItem) bool {
	if f.Cadence != "" && it.Cadence != f.Cadence {
		return false
	}
	if f.Touch != "" && it.Touch != f.Touch {
		return false
	}
	if f.Prospect != "" && !strings.EqualFold(it.Prospect, f.Prospect) && !strings.EqualFold(it.To, f.Prospect) {
		return false
	}
	return true
}

type outboxData struct {
	page
	Filter   outboxFilter
	Cadences []string
	Touches  []string
	Messages []outboxItem
	// Matching counts the kept messages that pass the filter, Kept all
	// kept ones; Keep is how many the outbox keeps, Dir where it writes
	// every message ("" for nowhere).
	Matching, Kept, Keep int
	Full                 bool
	Oldest               time.Time
	Dir                  string
}

// Count writes a number for people: 5,312.
func (outboxData) Count(n int) string { return formatCount(n) }

// outbox shows the newest messages the development outbox holds.
func (d *Dashboard) outbox(w http.ResponseWriter, r *http.Request, s *Session) {
	ob := d.cfg.Outbox
	if ob == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	f := outboxFilter{Cadence: strings.TrimSpace(q.Get("cadence")), Touch: strings.TrimSpace(q.Get("touch")), Prospect: strings.TrimSpace(q.Get("prospect"))}
	msgs := ob.Messages()
	data := outboxData{Filter: f, Kept: len(msgs), Keep: ob.Keep, Full: len(msgs) >= ob.Keep, Dir: ob.Dir}
	if len(msgs) > 0 {
		data.Oldest = msgs[0].At
	}
	data.page = d.page(r, s, "Outbox")
	data.Nav = "outbox"
	touches := map[string]bool{}
	for id, c := range d.e.Cadences() {
		data.Cadences = append(data.Cadences, id)
		for _, st := range c.Stages {
			for _, t := range st.Touches {
				if f.Cadence == "" || f.Cadence == id {
					touches[t.ID] = true
				}
			}
		}
	}
	sort.Strings(data.Cadences)
	for t := range touches {
		data.Touches = append(data.Touches, t)
	}
	sort.Strings(data.Touches)
	for i := len(msgs) - 1; i >= 0; i-- {
		it := d.readOutbox(r.Context(), msgs[i], false)
		if !f.matches(&it) {
			continue
		}
		data.Matching++
		if len(data.Messages) < outboxShown {
			data.Messages = append(data.Messages, d.readOutbox(r.Context(), msgs[i], true))
		}
	}
	w.Header().Set("Content-Security-Policy", pageCSP)
	d.render(w, r, http.StatusOK, "outbox", data)
}

// outboxDocument is the frame's document of a kept email: its HTML part,
// untracked.
func (d *Dashboard) outboxDocument(w http.ResponseWriter, r *http.Request, s *Session) {
	if d.cfg.Outbox == nil {
		http.NotFound(w, r)
		return
	}
	key := r.URL.Query().Get("key")
	msgs := d.cfg.Outbox.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Key != key || msgs[i].Channel != "email" {
			continue
		}
		msg, err := mail.ReadMessage(strings.NewReader(msgs[i].Body))
		if err != nil {
			serveDocument(w, http.StatusOK, noteDocument("The message does not parse: "+err.Error()+"."), true)
			return
		}
		_, html, err := bodies(msg)
		switch {
		case err != nil:
			serveDocument(w, http.StatusOK, noteDocument("The body does not decode: "+err.Error()+"."), true)
		case html == "":
			serveDocument(w, http.StatusOK, noteDocument("This message has no HTML part."), true)
		default:
			serveDocument(w, http.StatusOK, d.e.Untrack(html), true)
		}
		return
	}
	serveDocument(w, http.StatusNotFound, noteDocument("The outbox no longer holds this message (it keeps the newest "+formatCount(d.cfg.Outbox.Keep)+")."), true)
}

// formatCount writes n with thousands separators: 5,312.
func formatCount(n int) string {
	if n < 0 {
		return "-" + formatCount(-n)
	}
	s := strconv.Itoa(n)
	var b bytes.Buffer
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// apiClient talks to a running `nurture serve`.
type apiClient struct {
	base, token string
	http        *http.Client
}

func newAPIClient(env func(string) string) (*apiClient, error) {
	base := env("NURTURE_API_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	tok := env("NURTURE_API_TOKEN")
	if tok == "" {
		return nil, errors.New("NURTURE_API_TOKEN is not set (a token from the server's NURTURE_API_TOKENS)")
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: tok, http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// apiErr is an error answer of the API.
type apiErr struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *apiErr) Error() string {
	s := fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
	if e.Field != "" {
		s += " [field " + e.Field + "]"
	}
	return s
}

func (c *apiClient) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("nurture server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
			return &apiErr{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Field: e.Error.Field}
		}
		return &apiErr{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(b))}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *apiClient) jsonDo(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	return c.do(ctx, method, path, "application/json", body, out)
}

type enrollmentOut struct {
	ID        string     `json:"id"`
	Cadence   string     `json:"cadence"`
	State     string     `json:"state"`
	Stage     string     `json:"stage"`
	NextTouch string     `json:"next_touch"`
	DueAt     *time.Time `json:"due_at"`
	Until     *time.Time `json:"until"`
	Reason    string     `json:"reason"`
	Timeline  []struct {
		At   time.Time `json:"at"`
		Text string    `json:"text"`
	} `json:"timeline"`
}

func printEnrollment(w io.Writer, e *enrollmentOut) {
	fmt.Fprintf(w, "%s: %s at stage %s", e.ID, e.State, e.Stage)
	if e.NextTouch != "" && e.DueAt != nil {
		fmt.Fprintf(w, ", next %s at %s", e.NextTouch, e.DueAt.UTC().Format(time.RFC3339))
	}
	if e.Until != nil {
		fmt.Fprintf(w, " until %s", e.Until.UTC().Format(time.RFC3339))
	}
	if e.Reason != "" {
		fmt.Fprintf(w, " (%s)", e.Reason)
	}
	fmt.Fprintln(w)
}

// enrollmentsOf resolves --email/--phone (and optionally --cadence) to
// enrollment ids.
func enrollmentsOf(ctx context.Context, c *apiClient, email, phone, cad string) ([]string, error) {
	q := url.Values{}
	switch {
	case email != "":
		q.Set("email", email)
	case phone != "":
		q.Set("phone", phone)
	default:
		return nil, errors.New("give --email or --phone")
	}
	var out struct {
		Enrollments []string `json:"enrollments"`
	}
	if err := c.jsonDo(ctx, "GET", "/v1/prospects?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range out.Enrollments {
		if cad == "" || strings.HasSuffix(id, "~"+cad) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no enrollment found for %s%s", email+phone, map[bool]string{true: " in cadence " + cad, false: ""}[cad != ""])
	}
	return ids, nil
}

func cmdEnroll(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("enroll")
	cad := fl.String("cadence", "", "cadence id (required)")
	var p struct {
		ID        string `json:"id"`
		Email     string `json:"email,omitempty"`
		Phone     string `json:"phone,omitempty"`
		FirstName string `json:"first_name,omitempty"`
		LastName  string `json:"last_name,omitempty"`
		Company   string `json:"company,omitempty"`
		TimeZone  string `json:"timezone,omitempty"`
		Owner     string `json:"owner,omitempty"`
	}
	fl.StringVar(&p.ID, "id", "", "prospect id (default: the email address)")
	fl.StringVar(&p.Email, "email", "", "email address")
	fl.StringVar(&p.Phone, "phone", "", "phone number")
	fl.StringVar(&p.FirstName, "first-name", "", "first name")
	fl.StringVar(&p.LastName, "last-name", "", "last name")
	fl.StringVar(&p.Company, "company", "", "company")
	fl.StringVar(&p.TimeZone, "timezone", "", "IANA time zone")
	fl.StringVar(&p.Owner, "owner", "", "owning sales rep")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	if *cad == "" {
		return fl.usageErr(stderr, "--cadence is required")
	}
	if p.ID == "" {
		p.ID = strings.ToLower(p.Email)
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	var out enrollmentOut
	if err := c.jsonDo(ctx, "POST", "/v1/enrollments", map[string]any{"cadence": *cad, "prospect": p}, &out); err != nil {
		return err
	}
	printEnrollment(stdout, &out)
	return nil
}

// cmdImport streams a CSV file to the bulk endpoint in chunks, with a
// progress bar and a summary of rejected rows (with file line numbers).
func cmdImport(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("import")
	cad := fl.String("cadence", "", "cadence id (required)")
	chunk := fl.Int("chunk", 1000, "rows per request")
	parallel := fl.Int("parallel", 2, "requests in flight")
	files, quit, err := fl.parse(args, true, stdout, stderr)
	if quit {
		return err
	}
	if *cad == "" || len(files) != 1 || *chunk < 1 || *parallel < 1 {
		return fl.usageErr(stderr, "want one CSV file, --cadence, and --chunk and --parallel of at least 1")
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	f, err := os.Open(files[0])
	if err != nil {
		return err
	}
	defer f.Close()
	total, err := countLines(files[0])
	if err != nil {
		return err
	}
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: reading the header row: %w", files[0], err)
	}
	type rejectedRow struct {
		Row   int    `json:"row"`
		Field string `json:"field"`
		Error string `json:"error"`
	}
	var rejected []rejectedRow
	enrolled, done, line := 0, 0, 1
	start := time.Now()
	// A reader fills chunks while --parallel requests are in flight, so
	// reading the file, the network and the server overlap.
	type chunkJob struct {
		body     bytes.Buffer
		lines    []int
		fileLine map[int]int   // line in body where a record starts -> its line in the file
		bad      []rejectedRow // rows the CSV reader could not read
		enrolled int
		rejected []rejectedRow
		unlisted int // rejections the server counted but did not list
		err      error
	}
	unlisted := 0
	jobs, results := make(chan *chunkJob, *parallel), make(chan *chunkJob, *parallel)
	sendCtx, stop := context.WithCancel(ctx) // the first failure stops the rest
	defer stop()
	go func() {
		defer close(jobs)
		for {
			j := &chunkJob{fileLine: map[int]int{}}
			w := csv.NewWriter(&j.body)
			w.Write(header)
			w.Flush()
			bodyLine := 2 // the server numbers a record by the body line it starts on
			for len(j.lines) < *chunk {
				rec, err := r.Read()
				if err == io.EOF {
					break
				}
				// A quoted field may span lines: report the line the record
				// starts on, as an editor shows it.
				if l, _ := r.FieldPos(0); l > 0 {
					line = l
				} else {
					line++
				}
				if err != nil {
					j.bad = append(j.bad, rejectedRow{Row: line, Error: err.Error()})
					continue
				}
				before := j.body.Len()
				w.Write(rec)
				w.Flush()
				j.fileLine[bodyLine] = line
				bodyLine += bytes.Count(j.body.Bytes()[before:], []byte{'\n'})
				j.lines = append(j.lines, line)
			}
			w.Flush()
			if len(j.lines) == 0 && len(j.bad) == 0 {
				return
			}
			select {
			case jobs <- j:
			case <-sendCtx.Done():
				return
			}
		}
	}()
	var senders sync.WaitGroup
	for range *parallel {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for j := range jobs {
				if err := sendCtx.Err(); err != nil {
					j.err = err
				} else if len(j.lines) > 0 {
					var out struct {
						Enrolled      int           `json:"enrolled"`
						Rejected      []rejectedRow `json:"rejected"`
						RejectedTotal int           `json:"rejected_total"`
					}
					j.err = c.do(sendCtx, "POST", "/v1/enrollments/bulk?cadence="+url.QueryEscape(*cad), "text/csv", &j.body, &out)
					j.enrolled = out.Enrolled
					for _, rj := range out.Rejected {
						// The server numbers rows by their line in the chunk's body.
						if l, ok := j.fileLine[rj.Row]; ok {
							rj.Row = l
						}
						j.rejected = append(j.rejected, rj)
					}
					j.unlisted = max(0, out.RejectedTotal-len(out.Rejected))
				}
				results <- j
			}
		}()
	}
	go func() { senders.Wait(); close(results) }()
	var firstErr error
	for j := range results {
		if j.err != nil {
			if firstErr == nil {
				firstErr = j.err
				stop()
			}
			continue
		}
		enrolled += j.enrolled
		rejected = append(rejected, j.bad...)
		rejected = append(rejected, j.rejected...)
		unlisted += j.unlisted
		done += len(j.lines) + len(j.bad)
		progress(stderr, done, total-1, time.Since(start))
	}
	if firstErr != nil {
		fmt.Fprintln(stderr)
		return fmt.Errorf("after %d rows confirmed: %w (rows already enrolled stay enrolled; re-running skips them as duplicates)", done, firstErr)
	}
	sort.Slice(rejected, func(i, k int) bool { return rejected[i].Row < rejected[k].Row })
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "%s: %d rows, %d enrolled in %s, %d rejected (%.0f rows/s)\n", files[0], done, enrolled, *cad, len(rejected)+unlisted, float64(done)/time.Since(start).Seconds())
	for i, rj := range rejected {
		if i == 20 {
			fmt.Fprintf(stdout, "  ... and %d more\n", len(rejected)+unlisted-20)
			break
		}
		field := ""
		if rj.Field != "" {
			field = " " + rj.Field + ":"
		}
		fmt.Fprintf(stdout, "  %s:%d:%s %s\n", files[0], rj.Row, field, rj.Error)
	}
	if len(rejected)+unlisted > 0 {
		return exitCode(1)
	}
	return nil
}

func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte{'\n'}) + map[bool]int{true: 1, false: 0}[len(b) > 0 && b[len(b)-1] != '\n'], nil
}

func progress(w io.Writer, done, total int, elapsed time.Duration) {
	if total <= 0 {
		total = done
	}
	const width = 30
	filled := min(width, done*width/max(total, 1))
	fmt.Fprintf(w, "\r[%s%s] %d/%d rows %.0f/s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, float64(done)/max(elapsed.Seconds(), 0.001))
}

// cmdControl is pause, resume, snooze and stop by --email/--phone or --id.
func cmdControl(action string) func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
		fl := newCLI(action)
		email := fl.String("email", "", "prospect email")
		phone := fl.String("phone", "", "prospect phone")
		id := fl.String("id", "", "enrollment id (instead of --email/--phone)")
		cad := fl.String("cadence", "", "only this cadence's enrollment")
		reason := fl.String("reason", "", "why (shown on the timeline)")
		until := fl.String("until", "", "RFC 3339 time or a duration such as 3d or 48h (pause: optional; snooze: required)")
		if pos, done, err := fl.parse(args, false, stdout, stderr); done {
			return err
		} else if len(pos) > 0 {
			return fl.usageErr(stderr, "unexpected argument %q", pos[0])
		}
		c, err := newAPIClient(env)
		if err != nil {
			return err
		}
		body := map[string]any{}
		if *reason != "" {
			body["reason"] = *reason
		}
		if *until != "" {
			t, err := parseUntil(*until)
			if err != nil {
				return err
			}
			body["until"] = t
		}
		ids := []string{*id}
		if *id == "" {
			if ids, err = enrollmentsOf(ctx, c, *email, *phone, *cad); err != nil {
				return err
			}
		}
		failed := 0
		for _, eid := range ids {
			var out enrollmentOut
			if err := c.jsonDo(ctx, "POST", "/v1/enrollments/"+url.PathEscape(eid)+"/"+action, body, &out); err != nil {
				fmt.Fprintf(stdout, "%s: %v\n", eid, err)
				failed++
				continue
			}
			printEnrollment(stdout, &out)
		}
		if failed > 0 {
			return exitCode(1)
		}
		return nil
	}
}

func parseUntil(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if n, unit, ok := strings.Cut(strings.TrimSpace(s), "d"); ok && unit == "" {
		var days int
		if _, err := fmt.Sscan(n, &days); err == nil && days > 0 {
			return time.Now().Add(time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--until %q: expected an RFC 3339 time (2026-03-10T09:00:00Z) or a duration (3d, 48h)", s)
}

func cmdTimeline(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("timeline")
	email := fl.String("email", "", "prospect email")
	phone := fl.String("phone", "", "prospect phone")
	cad := fl.String("cadence", "", "only this cadence's enrollment")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	ids, err := enrollmentsOf(ctx, c, *email, *phone, *cad)
	if err != nil {
		return err
	}
	for _, eid := range ids {
		var out enrollmentOut
		if err := c.jsonDo(ctx, "GET", "/v1/enrollments/"+url.PathEscape(eid), nil, &out); err != nil {
			return err
		}
		printEnrollment(stdout, &out)
		for _, en := range out.Timeline {
			fmt.Fprintf(stdout, "  %s  %s\n", en.At.UTC().Format("2006-01-02 15:04:05"), en.Text)
		}
	}
	return nil
}

func cmdWarm(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("warm")
	owner := fl.String("owner", "", "only this rep's leads")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	var out struct {
		Warm []struct {
			Enrollment string    `json:"enrollment"`
			Since      time.Time `json:"since"`
			Reply      string    `json:"reply"`
			Prospect   struct {
				Email, Phone, Owner string
				FirstName           string `json:"first_name"`
			} `json:"prospect"`
		} `json:"warm"`
	}
	if err := c.jsonDo(ctx, "GET", "/v1/warm?owner="+url.QueryEscape(*owner), nil, &out); err != nil {
		return err
	}
	if len(out.Warm) == 0 {
		fmt.Fprintln(stdout, "no warm leads")
		return nil
	}
	for _, l := range out.Warm {
		who := l.Prospect.Email
		if who == "" {
			who = l.Prospect.Phone
		}
		fmt.Fprintf(stdout, "%s  %-30s %-10s %s: %q\n", l.Since.UTC().Format("2006-01-02 15:04"), who, l.Prospect.Owner, l.Enrollment, l.Reply)
	}
	return nil
}

// cmdUncertain lists touches whose send was interrupted at the provider:
// they may or may not have been delivered and were not resent.
func cmdUncertain(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("uncertain")
	cad := fl.String("cadence", "", "cadence id (required)")
	since := fl.Duration("since", 7*24*time.Hour, "how far back to look")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	if *cad == "" || *since <= 0 {
		return fl.usageErr(stderr, "--cadence is required and --since must be positive")
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	var out struct {
		Uncertain []struct {
			Enrollment string    `json:"enrollment"`
			Touch      string    `json:"touch"`
			Channel    string    `json:"channel"`
			MessageID  string    `json:"message_id"`
			At         time.Time `json:"at"`
		} `json:"uncertain"`
	}
	from := time.Now().Add(-*since).UTC().Format(time.RFC3339)
	if err := c.jsonDo(ctx, "GET", "/v1/cadences/"+url.PathEscape(*cad)+"/uncertain?since="+url.QueryEscape(from), nil, &out); err != nil {
		return err
	}
	if len(out.Uncertain) == 0 {
		fmt.Fprintf(stdout, "no uncertain touches in %s since %s\n", *cad, from)
		return nil
	}
	for _, u := range out.Uncertain {
		fmt.Fprintf(stdout, "%s  %-32s %-12s %-5s %s\n", u.At.UTC().Format("2006-01-02 15:04"), u.Enrollment, u.Touch, u.Channel, u.MessageID)
	}
	fmt.Fprintf(stdout, "%d touch(es) may or may not have reached the recipient and were not resent; search the provider's logs for these Message-IDs.\n", len(out.Uncertain))
	return nil
}

// cmdMailboxes lists the sender mailboxes' day and the brakes, or lifts
// a brake (resume ID / resume --cadence ID).
func cmdMailboxes(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("mailboxes")
	cad := fl.String("cadence", "", "with resume: lift the brake of this cadence instead of a mailbox's")
	pos, done, err := fl.parse(args, true, stdout, stderr)
	if done {
		return err
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		if pos[0] != "resume" || len(pos) > 2 || (len(pos) == 2) == (*cad != "") {
			return fl.usageErr(stderr, "want: mailboxes, mailboxes resume MAILBOX, or mailboxes resume --cadence ID")
		}
		path := "/v1/cadences/" + url.PathEscape(*cad) + "/resume-sending"
		if *cad == "" {
			path = "/v1/mailboxes/" + url.PathEscape(pos[1]) + "/resume"
		}
		var out struct {
			Resumed string `json:"resumed"`
		}
		if err := c.jsonDo(ctx, "POST", path, nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: sending resumes; held touches go at their next check (within an hour)\n", out.Resumed)
		return nil
	}
	var out struct {
		Configured bool `json:"configured"`
		Mailboxes  []struct {
			ID, From string
			Owners   []string
			Today    int    `json:"sent_today"`
			Cap      int    `json:"limit_today"`
			Slow     int    `json:"slow_down_factor"`
			Brake    string `json:"brake"`
		} `json:"mailboxes"`
		Brakes []struct {
			Kind, ID, Reason string
			Since            time.Time `json:"since"`
		} `json:"brakes"`
	}
	if err := c.jsonDo(ctx, "GET", "/v1/mailboxes", nil, &out); err != nil {
		return err
	}
	if !out.Configured {
		fmt.Fprintln(stdout, "no sender mailboxes configured: every email goes from its cadence's from.email (set NURTURE_MAILBOXES, see docs/sending.md)")
	}
	for _, m := range out.Mailboxes {
		limit := "no daily limit"
		if m.Cap > 0 {
			limit = fmt.Sprintf("limit %d today", m.Cap)
		}
		state := "sending"
		switch {
		case m.Brake != "":
			state = "STOPPED: " + m.Brake
		case m.Slow > 1:
			state = fmt.Sprintf("slowed down %d× after the provider asked", m.Slow)
		}
		fmt.Fprintf(stdout, "%-12s %-36s %-12s sent %d today, %s; %s\n", m.ID, m.From, strings.Join(m.Owners, ","), m.Today, limit, state)
	}
	for _, b := range out.Brakes {
		fmt.Fprintf(stdout, "brake on %s %s since %s: %s (lift it: nurture mailboxes resume %s)\n", b.Kind, b.ID, b.Since.UTC().Format("2006-01-02 15:04"), b.Reason,
			map[bool]string{true: b.ID, false: "--cadence " + b.ID}[b.Kind == "mailbox"])
	}
	return nil
}

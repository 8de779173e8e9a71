package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func cmdCadences(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return newCLI("cadences").usageErr(stderr, "")
	}
	switch args[0] {
	case "-h", "--help", "help":
		newCLI("cadences").printHelp(stdout)
		return nil
	case "publish":
		return cadencesPublish(ctx, args[1:], env, stdout, stderr)
	case "versions":
		return cadencesVersions(ctx, args[1:], env, stdout, stderr)
	case "diff":
		return cadencesDiff(ctx, args[1:], env, stdout, stderr)
	case "rollback":
		return cadencesRollback(ctx, args[1:], env, stdout, stderr)
	}
	newCLI("cadences").printHelp(stderr)
	return fmt.Errorf("unknown cadences command %q (publish, versions, diff, rollback)", args[0])
}

// subcommand is a catalog command's flags and help, and how many
// positional arguments it takes.
type subcommand struct {
	fl               *cli
	minArgs, maxArgs int
}

func newSubcommand(name string, minArgs, maxArgs int) *subcommand {
	return &subcommand{fl: newCLI("cadences " + name), minArgs: minArgs, maxArgs: maxArgs}
}

// parse reads flags placed before, between or after the arguments. -h
// prints the help on stdout (done is true, err nil: exit 0); a mistake
// prints it on stderr (exit 2).
func (s *subcommand) parse(args []string, stdout, stderr io.Writer) (pos []string, done bool, err error) {
	pos, done, err = s.fl.parse(args, true, stdout, stderr)
	if done {
		return nil, done, err
	}
	if len(pos) < s.minArgs || len(pos) > s.maxArgs {
		return nil, true, s.fl.usageErr(stderr, "wrong number of arguments")
	}
	return pos, false, nil
}

// request sends a request and returns the status and body of any answer
// (the caller decides what an error status means).
func (c *apiClient) request(ctx context.Context, method, path, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("nurture server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// answerErr turns an error answer into the same error the other client
// commands give.
func answerErr(status int, b []byte) error {
	var e struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		return &apiErr{Status: status, Code: e.Error.Code, Message: e.Error.Message, Field: e.Error.Field}
	}
	return &apiErr{Status: status, Code: "http", Message: strings.TrimSpace(string(b))}
}

// problemsAnswer is the 422 of the validate and publish endpoints.
type problemsAnswer struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Problems []struct {
		Text    string `json:"text"`
		Snippet string `json:"snippet"`
	} `json:"problems"`
}

// printProblems writes problems as `nurture validate` does: the problem,
// then its source line and caret indented.
func printProblems(w io.Writer, a problemsAnswer) {
	for _, p := range a.Problems {
		fmt.Fprintln(w, p.Text)
		if p.Snippet != "" {
			for _, l := range strings.Split(p.Snippet, "\n") {
				fmt.Fprintln(w, "    "+l)
			}
		}
	}
}

type publishOut struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Previous string `json:"previous"`
	Changed  bool   `json:"changed"`
	Stored   bool   `json:"stored"`
}

type impactOut struct {
	Cadence          string `json:"cadence"`
	Version          string `json:"version"`
	Head             string `json:"head"`
	Changed          bool   `json:"changed"`
	Diff             string `json:"diff"`
	EnrollmentsTotal int64  `json:"enrollments_total"`
	Sampled          int    `json:"sampled"`
	Scaled           bool   `json:"scaled"`
	Exited           int64  `json:"exited"`
	Moved            int64  `json:"moved"`
	Skipped          int64  `json:"skipped"`
	Added            int64  `json:"added"`
	NewDelay         int64  `json:"new_delay"`
	Unchanged        int64  `json:"unchanged"`
	Finished         int64  `json:"finished"`
	Note             string `json:"note"`
	Examples         []struct {
		Enrollment, Effect, Text string
	} `json:"examples"`
}

func printPublished(w io.Writer, r publishOut) {
	switch {
	case !r.Changed:
		fmt.Fprintf(w, "%s: %s is already the head; nothing changed\n", r.ID, r.Version)
	case r.Previous == "":
		fmt.Fprintf(w, "%s: published %s (a new cadence)\n", r.ID, r.Version)
	case r.Stored:
		fmt.Fprintf(w, "%s: published %s (was %s)\n", r.ID, r.Version, r.Previous)
	default:
		fmt.Fprintf(w, "%s: head moved back to %s, published before (was %s)\n", r.ID, r.Version, r.Previous)
	}
}

func printImpact(w io.Writer, im impactOut) {
	switch {
	case !im.Changed:
		fmt.Fprintf(w, "%s: %s is already the head; publishing it changes nothing\n", im.Cadence, im.Version)
	case im.Head == "":
		fmt.Fprintf(w, "%s: %s would be its first version\n", im.Cadence, im.Version)
	default:
		fmt.Fprintf(w, "%s: %s would replace %s\n", im.Cadence, im.Version, im.Head)
	}
	fmt.Fprint(w, im.Diff)
	if im.Scaled {
		fmt.Fprintf(w, "enrollments: %d (a random sample of %d read; counts scaled to the total)\n", im.EnrollmentsTotal, im.Sampled)
	} else {
		fmt.Fprintf(w, "enrollments: %d (all read)\n", im.EnrollmentsTotal)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range []struct {
		what string
		n    int64
	}{
		{"exit (their stage is removed)", im.Exited}, {"move to another touch", im.Moved}, {"skip a touch", im.Skipped},
		{"get an added touch", im.Added}, {"get a new delay ahead", im.NewDelay}, {"unchanged", im.Unchanged}, {"finished already", im.Finished},
	} {
		fmt.Fprintf(tw, "  %s\t%d\n", row.what, row.n)
	}
	tw.Flush()
	if len(im.Examples) > 0 {
		fmt.Fprintln(w, "examples:")
		for _, e := range im.Examples {
			fmt.Fprintf(w, "  %s (%s): %s\n", e.Enrollment, e.Effect, e.Text)
		}
	}
	fmt.Fprintf(w, "(%s; nothing was changed)\n", im.Note)
}

func cadencesPublish(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	sc := newSubcommand("publish", 1, 1<<20)
	message := sc.fl.String("message", "", "why (shown in nurture cadences versions)")
	dry := sc.fl.Bool("dry-run", false, "preview the diff and the impact on enrollments; publish nothing")
	pos, done, err := sc.parse(args, stdout, stderr)
	if done {
		return err
	}
	files, err := cadenceFiles(pos)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no cadence files in %s", strings.Join(pos, " "))
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	sources := make([][]byte, len(files))
	ids := map[string]string{}
	bad := 0
	for i, f := range files {
		if sources[i], err = os.ReadFile(f); err != nil {
			return err
		}
		status, b, err := c.request(ctx, "POST", "/v1/cadences/validate?"+url.Values{"file": {f}}.Encode(), "application/yaml", sources[i])
		if err != nil {
			return err
		}
		var a problemsAnswer
		switch {
		case status == http.StatusUnprocessableEntity && json.Unmarshal(b, &a) == nil && len(a.Problems) > 0:
			bad++
			printProblems(stdout, a)
		case status == http.StatusOK && json.Unmarshal(b, &a) == nil:
			if prev, dup := ids[a.ID]; dup {
				bad++
				fmt.Fprintf(stdout, "%s: id: cadence id %q is also used by %s\n", f, a.ID, prev)
			}
			ids[a.ID] = f
		default:
			return answerErr(status, b)
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "%d of %d files have problems; nothing was published\n", bad, len(files))
		return exitCode(1)
	}
	for i, f := range files {
		q := url.Values{"file": {f}}
		if *message != "" {
			q.Set("message", *message)
		}
		if *dry {
			q.Set("dry_run", "1")
		}
		status, b, err := c.request(ctx, "POST", "/v1/cadences?"+q.Encode(), "application/yaml", sources[i])
		if err != nil {
			return err
		}
		if status/100 != 2 {
			return fmt.Errorf("%s: %w", f, answerErr(status, b))
		}
		if *dry {
			var im impactOut
			if err := json.Unmarshal(b, &im); err != nil {
				return err
			}
			printImpact(stdout, im)
			continue
		}
		var r publishOut
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		printPublished(stdout, r)
	}
	return nil
}

func cadencesVersions(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	sc := newSubcommand("versions", 1, 1)
	pos, done, err := sc.parse(args, stdout, stderr)
	if done {
		return err
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	var out struct {
		Head     string `json:"head"`
		Versions []struct {
			Version string    `json:"version"`
			At      time.Time `json:"at"`
			By      string    `json:"by"`
			Message string    `json:"message"`
		} `json:"versions"`
	}
	if err := c.jsonDo(ctx, "GET", "/v1/cadences/"+url.PathEscape(pos[0])+"/versions", nil, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tPUBLISHED\tBY\tMESSAGE")
	for i, v := range out.Versions {
		mark := " "
		if i == 0 {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", mark, v.Version, v.At.UTC().Format(time.RFC3339), v.By, v.Message)
	}
	return tw.Flush()
}

func cadencesDiff(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	sc := newSubcommand("diff", 1, 3)
	pos, done, err := sc.parse(args, stdout, stderr)
	if done {
		return err
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	q := url.Values{}
	if len(pos) > 1 {
		q.Set("from", pos[1])
	}
	if len(pos) > 2 {
		q.Set("to", pos[2])
	}
	status, b, err := c.request(ctx, "GET", "/v1/cadences/"+url.PathEscape(pos[0])+"/diff?"+q.Encode(), "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return answerErr(status, b)
	}
	if len(b) == 0 {
		fmt.Fprintln(stderr, "no differences")
		return nil
	}
	_, err = stdout.Write(b)
	return err
}

func cadencesRollback(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	sc := newSubcommand("rollback", 2, 2)
	message := sc.fl.String("message", "", "why (added to the rollback note)")
	dry := sc.fl.Bool("dry-run", false, "preview the diff and the impact on enrollments; change nothing")
	pos, done, err := sc.parse(args, stdout, stderr)
	if done {
		return err
	}
	c, err := newAPIClient(env)
	if err != nil {
		return err
	}
	q := url.Values{"to": {pos[1]}}
	if *message != "" {
		q.Set("message", *message)
	}
	if *dry {
		q.Set("dry_run", "1")
	}
	status, b, err := c.request(ctx, "POST", "/v1/cadences/"+url.PathEscape(pos[0])+"/rollback?"+q.Encode(), "", nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return answerErr(status, b)
	}
	if *dry {
		var im impactOut
		if err := json.Unmarshal(b, &im); err != nil {
			return err
		}
		printImpact(stdout, im)
		return nil
	}
	var r publishOut
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	if r.Changed {
		fmt.Fprintf(stdout, "%s: head moved back to %s (was %s)\n", r.ID, r.Version, r.Previous)
	} else {
		fmt.Fprintf(stdout, "%s: %s is already the head; nothing changed\n", r.ID, r.Version)
	}
	return nil
}

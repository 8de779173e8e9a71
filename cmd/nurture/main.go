// Command nurture is Nurture's single binary: it validates and simulates
// cadences, runs the server and the workers, and talks to a running server.
// main only wires the process to run; everything else is a package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var ec exitCode
	switch {
	case errors.As(err, &ec):
		os.Exit(int(ec))
	case err != nil:
		fmt.Fprintln(os.Stderr, "nurture:", err)
		os.Exit(1)
	}
}

// exitCode ends the process with a status after the command printed its
// own report.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "run everything on an embedded in-memory Redis with sample prospects and the dashboard", cmdDemo},
		{"validate", "check cadence files; every problem with file:line:column", cmdValidate},
		{"simulate", "dry-run a cadence over a synthetic population on a virtual clock", cmdSimulate},
		{"schema", "print the JSON Schema of the cadence format", cmdSchema},
		{"worker", "run the dispatcher and send workers against REDIS_URL", cmdWorker},
		{"serve", "serve the API, tracking and webhooks (and, by default, the workers)", cmdServe},
		{"health", "probe a health URL and exit 0 when it answers 200 (container health checks)", cmdHealth},
		{"enroll", "enroll one prospect (API client: NURTURE_API_URL, NURTURE_API_TOKEN)", cmdEnroll},
		{"import", "bulk-enroll prospects from a CSV file, with progress and rejected rows", cmdImport},
		{"pause", "pause a prospect's cadence (--email/--phone/--id, --reason, --until)", cmdControl("pause")},
		{"resume", "resume a paused, snoozed or warm enrollment", cmdControl("resume")},
		{"snooze", "snooze an enrollment --until a time or for a duration (3d)", cmdControl("snooze")},
		{"stop", "stop (exit) an enrollment", cmdControl("stop")},
		{"timeline", "show why a prospect is where it is", cmdTimeline},
		{"warm", "list warm leads waiting for sales (--owner)", cmdWarm},
		{"mailboxes", "sender mailboxes' sends today against their limits, slow-downs and brakes; resume MAILBOX (or --cadence ID) lifts a brake", cmdMailboxes},
		{"uncertain", "list touches a crash left uncertain, with Message-IDs to check at the provider (--cadence, --since)", cmdUncertain},
		{"cadences", "publish, preview (--dry-run), list, diff and roll back cadence versions in the catalog (API client)", cmdCadences},
		{"reindex", "build the prospect search index from the prospects stored before it existed (REDIS_URL)", cmdReindex},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: nurture <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'nurture <command> -h' or 'nurture help <command>' for a command's flags, environment and an example.\n")
}

func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitCode(2)
		}
		return nil
	}
	if args[0] == "help" {
		handled, rerun, err := helpCommand(args[1:], stdout, stderr)
		if handled {
			return err
		}
		args = rerun
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], env, stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

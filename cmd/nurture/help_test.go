package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelpEveryCommand runs `CMD -h` and `CMD --help` for every command
// and cadences subcommand: exit 0, the help on stdout, and in it the
// usage line, the example, every flag the command defines and every
// variable it declares; `help CMD` prints exactly the same.
func TestHelpEveryCommand(t *testing.T) {
	defer func() { testHookFlagSet = nil }()
	for _, name := range helpTopics() {
		h := helps[name]
		if h == nil {
			t.Fatalf("%s: no help", name)
		}
		if h.usage == "" || h.summary == "" || h.example == "" {
			t.Errorf("%s: help lacks a usage line, summary or example: %+v", name, h)
		}
		var sets []*flag.FlagSet
		testHookFlagSet = func(fl *flag.FlagSet) { sets = append(sets, fl) }
		var out, errOut bytes.Buffer
		args := append(strings.Fields(name), "-h")
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); err != nil {
			t.Errorf("%v: %v\n%s", args, err, errOut.String())
			continue
		}
		testHookFlagSet = nil
		got := out.String()
		if errOut.Len() > 0 {
			t.Errorf("%v wrote to stderr: %s", args, errOut.String())
		}
		for _, want := range []string{"Usage: " + h.usage + "\n", h.summary, "Example:\n  " + h.example + "\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, got)
			}
		}
		if len(sets) != 1 {
			t.Errorf("%v: built %d FlagSets, want 1", args, len(sets))
		} else {
			sets[0].VisitAll(func(f *flag.Flag) {
				if !strings.Contains(got, "  -"+f.Name+" ") && !strings.Contains(got, "  -"+f.Name+"\t") && !strings.Contains(got, "  -"+f.Name+"\n") {
					t.Errorf("%v: flag -%s not listed:\n%s", args, f.Name, got)
				}
				if !strings.Contains(got, f.Usage) {
					t.Errorf("%v: flag -%s's description %q missing", args, f.Name, f.Usage)
				}
			})
		}
		for _, v := range h.env {
			if !strings.Contains(got, "  "+v+" ") {
				t.Errorf("%v: variable %s not listed:\n%s", args, v, got)
			}
			if envRow(v)[2] == "" {
				t.Errorf("%s: variable %s has no description", name, v)
			}
		}

		var long bytes.Buffer
		if err := run(context.Background(), append(strings.Fields(name), "--help"), func(string) string { return "" }, &long, &errOut); err != nil || long.String() != got {
			t.Errorf("%s --help: %v, output differs from -h:\n%s", name, err, long.String())
		}
		var viaHelp bytes.Buffer
		if err := run(context.Background(), append([]string{"help"}, strings.Fields(name)...), func(string) string { return "" }, &viaHelp, &errOut); err != nil {
			t.Errorf("help %s: %v", name, err)
		} else if viaHelp.String() != got {
			t.Errorf("help %s differs from %s -h:\n%s\n---\n%s", name, name, viaHelp.String(), got)
		}
	}
}

// TestHelpEnvironment checks who declares which variables: the client
// commands the API variables, worker the non-serve rows of envTable,
// serve all of them.
func TestHelpEnvironment(t *testing.T) {
	client := []string{"enroll", "import", "pause", "resume", "snooze", "stop", "timeline", "warm", "mailboxes", "uncertain", "cadences", "cadences publish", "cadences versions", "cadences diff", "cadences rollback"}
	for _, name := range client {
		if strings.Join(helps[name].env, ",") != "NURTURE_API_URL,NURTURE_API_TOKEN" {
			t.Errorf("%s declares %v", name, helps[name].env)
		}
	}
	worker, serve := strings.Join(helps["worker"].env, ","), helps["serve"].env
	if len(serve) != len(envTable) {
		t.Errorf("serve declares %d of %d variables", len(serve), len(envTable))
	}
	for _, row := range envTable {
		inWorker := strings.Contains(","+worker+",", ","+row[0]+",")
		if isServe := strings.HasPrefix(row[2], "serve:"); inWorker == isServe {
			t.Errorf("worker help and %s (serve-only %v) disagree", row[0], isServe)
		}
	}
	out, _, err := runCmd(t, "worker", "-h")
	if err != nil || strings.Contains(out, "NURTURE_IMAP_ADDR") || !strings.Contains(out, "REDIS_URL") {
		t.Errorf("worker -h: %v\n%s", err, out)
	}
}

// TestHelpImportColumns: import -h says which CSV columns map to which
// field, what happens to the others, the id default and the chunking.
func TestHelpImportColumns(t *testing.T) {
	out, _, err := runCmd(t, "import", "-h")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"id, email, phone, first_name, last_name, company, title, city, state, country, timezone, owner",
		"becomes an attribute", "attr.", "[A-Za-z_][A-Za-z0-9_]*",
		"lowercased email, else the phone", "chunks of --chunk rows", "-chunk", "-parallel", "-cadence",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import -h lacks %q:\n%s", want, out)
		}
	}
}

// TestHelpUnknownAndMistakes: `help` alone lists the commands (exit 0),
// `help NOPE` says so on stderr with the list (exit 2), and a bad flag
// prints the command's help on stderr with exit 2.
func TestHelpUnknownAndMistakes(t *testing.T) {
	out, _, err := runCmd(t, "help")
	if err != nil || !strings.Contains(out, "  enroll ") || !strings.Contains(out, "  cadences ") {
		t.Errorf("help: %v\n%s", err, out)
	}
	var ec exitCode
	out, errOut, err := runCmd(t, "help", "frobnicate")
	if !errors.As(err, &ec) || ec != 2 || out != "" || !strings.Contains(errOut, `unknown command "frobnicate"`) || !strings.Contains(errOut, "  timeline ") {
		t.Errorf("help frobnicate: %v\nstdout %q\nstderr %s", err, out, errOut)
	}
	if _, errOut, err := runCmd(t, "help", "cadences", "frobnicate"); !errors.As(err, &ec) || ec != 2 || !strings.Contains(errOut, `unknown command "cadences frobnicate"`) {
		t.Errorf("help cadences frobnicate: %v %s", err, errOut)
	}
	out, errOut, err = runCmd(t, "enroll", "--bogus")
	if !errors.As(err, &ec) || ec != 2 || out != "" || !strings.Contains(errOut, "flag provided but not defined: -bogus") || !strings.Contains(errOut, "Usage: nurture enroll") {
		t.Errorf("enroll --bogus: %v\nstdout %q\nstderr %s", err, out, errOut)
	}
	out, errOut, err = runCmd(t, "import", "--cadence", "x")
	if !errors.As(err, &ec) || ec != 2 || out != "" || !strings.Contains(errOut, "Usage: nurture import") {
		t.Errorf("import without a file: %v\nstdout %q\nstderr %s", err, out, errOut)
	}
}

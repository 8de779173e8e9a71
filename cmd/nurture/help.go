package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// cmdHelp is what `nurture CMD -h` and `nurture help CMD` print.
type cmdHelp struct {
	usage   string   // "nurture enroll --cadence ID ..." (without "Usage: ")
	summary string   // one sentence
	details string   // optional paragraphs after the summary
	env     []string // names of the environment variables the command reads
	example string
}

// clientEnv is what every API client command reads.
var clientEnv = []string{"NURTURE_API_URL", "NURTURE_API_TOKEN"}

var clientEnvTable = [][3]string{
	{"NURTURE_API_URL", "http://127.0.0.1:8080", "the server to talk to"},
	{"NURTURE_API_TOKEN", "", "a token from the server's NURTURE_API_TOKENS (required)"},
}

// engineEnv lists envTable's variables: all of them for serve, those not
// marked "serve:" for worker.
func engineEnv(serve bool) []string {
	var out []string
	for _, row := range envTable {
		if serve || !strings.HasPrefix(row[2], "serve:") {
			out = append(out, row[0])
		}
	}
	return out
}

func envRow(name string) [3]string {
	for _, t := range [][][3]string{clientEnvTable, envTable} {
		for _, row := range t {
			if row[0] == name {
				return row
			}
		}
	}
	return [3]string{name, "", ""}
}

func (h *cmdHelp) print(w io.Writer, fl *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", h.usage, h.summary)
	if h.details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(h.details, "\n"))
	}
	n := 0
	if fl != nil {
		fl.VisitAll(func(*flag.Flag) { n++ })
	}
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		out := fl.Output()
		fl.SetOutput(w)
		fl.PrintDefaults()
		fl.SetOutput(out)
	}
	if len(h.env) > 0 {
		fmt.Fprint(w, "\nEnvironment:\n")
		for _, name := range h.env {
			row := envRow(name)
			def := ""
			if row[1] != "" {
				def = fmt.Sprintf(" (default %q)", row[1])
			}
			fmt.Fprintf(w, "  %-32s %s%s\n", row[0], row[2], def)
		}
	}
	fmt.Fprintf(w, "\nExample:\n  %s\n", h.example)
}

// testHookFlagSet, when set (by tests), sees every command's FlagSet as
// it is created, so a test can visit the flags the command defines.
var testHookFlagSet func(*flag.FlagSet)

// cli is a command's flags and help. Parse errors and -h are handled by
// parse; fl.Usage is never used.
type cli struct {
	*flag.FlagSet
	help *cmdHelp
}

// newCLI builds the FlagSet of the command (or "cadences SUB") name,
// whose help is helps[name].
func newCLI(name string) *cli {
	h, ok := helps[name]
	if !ok {
		panic("no help for command " + name)
	}
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.Usage = func() {}
	if testHookFlagSet != nil {
		testHookFlagSet(fl)
	}
	return &cli{FlagSet: fl, help: h}
}

func (c *cli) printHelp(w io.Writer) { c.help.print(w, c.FlagSet) }

// usageErr prints the help on stderr and ends with exit status 2.
func (c *cli) usageErr(stderr io.Writer, format string, a ...any) error {
	if format != "" {
		fmt.Fprintf(stderr, "nurture %s: %s\n\n", c.Name(), fmt.Sprintf(format, a...))
	}
	c.printHelp(stderr)
	return exitCode(2)
}

// parse reads the flags; with interspersed, flags may also come between
// and after the positional arguments. -h/--help prints the help on stdout
// (done, err nil: exit 0); a mistake prints it on stderr (done, exit 2).
func (c *cli) parse(args []string, interspersed bool, stdout, stderr io.Writer) (pos []string, done bool, err error) {
	rest := args
	for {
		if err := c.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printHelp(stdout)
				return nil, true, nil
			}
			return nil, true, c.usageErr(stderr, "%v", err)
		}
		if !interspersed {
			return c.Args(), false, nil
		}
		if c.NArg() == 0 {
			return pos, false, nil
		}
		pos = append(pos, c.Arg(0))
		rest = c.Args()[1:]
	}
}

// helpTopics is every name `nurture help` accepts, in commands() order
// with the cadences subcommands after cadences.
func helpTopics() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
		if c.name == "cadences" {
			out = append(out, "cadences publish", "cadences versions", "cadences diff", "cadences rollback")
		}
	}
	return out
}

// helpCommand is `nurture help [CMD [SUB]]`.
func helpCommand(args []string, stdout, stderr io.Writer) (handled bool, rerun []string, err error) {
	if len(args) == 0 {
		usage(stdout)
		return true, nil, nil
	}
	name := strings.Join(args, " ")
	if _, ok := helps[name]; !ok {
		fmt.Fprintf(stderr, "nurture help: unknown command %q\n\n", name)
		usage(stderr)
		return true, nil, exitCode(2)
	}
	return false, append(append([]string{}, args...), "-h"), nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/senders"
)

// cadenceFiles expands arguments into cadence files: directories are
// searched for *.yaml and *.yml.
func cadenceFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func cmdValidate(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("validate")
	pos, done, err := fl.parse(args, false, stdout, stderr)
	if done {
		return err
	}
	if len(pos) == 0 {
		return fl.usageErr(stderr, "no files")
	}
	files, err := cadenceFiles(pos)
	if err != nil {
		return err
	}
	bad := 0
	ids := map[string]string{}
	for _, f := range files {
		c, err := cadence.LoadFile(f)
		var ve *cadence.ValidationError
		switch {
		case errors.As(err, &ve):
			bad++
			fmt.Fprint(stdout, ve.Render(nil))
			continue
		case err != nil:
			bad++
			fmt.Fprintf(stdout, "%s: %v\n", f, err)
			continue
		}
		if prev, dup := ids[c.ID]; dup {
			bad++
			fmt.Fprintf(stdout, "%s: id: cadence id %q is also used by %s\n", f, c.ID, prev)
			continue
		}
		ids[c.ID] = f
		touches := 0
		for _, s := range c.Stages {
			touches += len(s.Touches)
		}
		fmt.Fprintf(stdout, "ok %s: %s %s, %d stages, %d touches, %d templates\n", f, c.ID, c.Version, len(c.Stages), touches, len(c.Templates))
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "%d of %d files have problems\n", bad, len(files))
		return exitCode(1)
	}
	return nil
}

func cmdSchema(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("schema")
	pos, done, err := fl.parse(args, false, stdout, stderr)
	if done {
		return err
	}
	if len(pos) > 0 {
		return fl.usageErr(stderr, "schema takes no arguments")
	}
	_, err = stdout.Write(cadence.JSONSchema())
	return err
}

func cmdSimulate(_ context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("simulate")
	var cfg cadence.SimConfig
	def := cadence.SimConfig{}.WithDefaults()
	fl.IntVar(&cfg.Prospects, "prospects", def.Prospects, "synthetic prospects to enroll")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the same seed gives the same report")
	fl.IntVar(&cfg.Days, "days", def.Days, "days of virtual time to run")
	start := fl.String("start", def.Start.Format("2006-01-02"), "enrollment date (UTC)")
	fl.Float64Var(&cfg.OpenRate, "open-rate", def.OpenRate, "human opens per delivered email")
	fl.Float64Var(&cfg.ClickRate, "click-rate", def.ClickRate, "clicks per human open")
	fl.Float64Var(&cfg.ReplyRate, "reply-rate", def.ReplyRate, "replies per delivered message")
	fl.Float64Var(&cfg.BounceRate, "bounce-rate", def.BounceRate, "hard bounces per email")
	fl.Float64Var(&cfg.MachineOpenRate, "machine-open-rate", def.MachineOpenRate, "proxy (Apple MPP) opens per delivered email")
	fl.Float64Var(&cfg.GoalRate, "goal-rate", def.GoalRate, "goal events per click")
	fl.Float64Var(&cfg.PhoneShare, "phone-share", def.PhoneShare, "share of prospects with a mobile number")
	mailboxes := fl.String("mailboxes", "", "sender mailboxes file (as NURTURE_MAILBOXES): replay the emails through their limits and print when each mailbox reaches them and how far sends slip")
	// Accept flags after the file too: simulate x.yaml --prospects 10.
	files, done, err := fl.parse(args, true, stdout, stderr)
	if done {
		return err
	}
	if len(files) != 1 {
		return fl.usageErr(stderr, "want one cadence file, got %d", len(files))
	}
	t, err := time.Parse("2006-01-02", *start)
	if err != nil {
		return fmt.Errorf("--start %q: expected YYYY-MM-DD", *start)
	}
	cfg.Start = t
	c, err := cadence.LoadFile(files[0])
	if err != nil {
		var ve *cadence.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprint(stderr, ve.Render(nil))
			return exitCode(1)
		}
		return err
	}
	var mbs *senders.Config
	if *mailboxes != "" {
		if mbs, err = senders.LoadFile(*mailboxes, env); err != nil {
			var ve *cadence.ValidationError
			if errors.As(err, &ve) {
				fmt.Fprint(stderr, ve.Render(nil))
				return exitCode(1)
			}
			return err
		}
		cfg.RecordEmails = true
	}
	rep, err := cadence.Simulate(c, cfg)
	if err != nil {
		return err
	}
	rep.WriteText(stdout, c)
	if mbs != nil {
		plan, err := senders.Plan(mbs, c, rep.Emails, cfg.Start.Add(time.Duration(rep.Config.Days)*24*time.Hour))
		if err != nil {
			return fmt.Errorf("--mailboxes: %w", err)
		}
		plan.WriteText(stdout, cfg.Start)
	}
	return nil
}

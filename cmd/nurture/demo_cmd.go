package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/nurture-dev/nurture/demo"
)

func cmdDemo(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("demo")
	o := demo.Options{Out: stdout}
	fl.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "listen address of the dashboard and API")
	fl.IntVar(&o.Prospects, "prospects", 300, "sample prospects to enroll")
	fl.Float64Var(&o.DaySeconds, "day", 4, "real seconds per cadence day")
	fl.Uint64Var(&o.Seed, "seed", 1, "random seed of the sample data and engagement")
	verbose := fl.Bool("v", false, "log what the engine does")
	pos, done, err := fl.parse(args, false, stdout, stderr)
	if done {
		return err
	}
	if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	return demo.Run(ctx, o)
}

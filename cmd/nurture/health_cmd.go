package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// cmdHealth probes a health endpoint and exits 0 only when it answers
// 200: container health checks run it, as the image has no shell or curl.
func cmdHealth(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("health", flag.ContinueOnError)
	fl.SetOutput(stderr)
	timeout := fl.Duration("timeout", 3*time.Second, "give up after this long")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: nurture health [--timeout 3s] URL\n\nExits 0 when URL answers 200 (e.g. http://127.0.0.1:8080/readyz), 1 otherwise.\n\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return exitCode(2)
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return exitCode(2)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fl.Arg(0), nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", fl.Arg(0), resp.Status, body)
	}
	fmt.Fprintf(stdout, "%s: %s", fl.Arg(0), body)
	return nil
}

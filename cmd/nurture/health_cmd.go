package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// cmdHealth probes a health endpoint and exits 0 only when it answers
// 200: container health checks run it, as the image has no shell or curl.
func cmdHealth(ctx context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("health")
	timeout := fl.Duration("timeout", 3*time.Second, "give up after this long")
	pos, done, err := fl.parse(args, false, stdout, stderr)
	if done {
		return err
	}
	if len(pos) != 1 {
		return fl.usageErr(stderr, "want one URL")
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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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
		// "Get \"URL\": dial tcp …" names the URL twice; say what failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("health: %s did not answer within %s", fl.Arg(0), *timeout)
		}
		return fmt.Errorf("health: %s is not answering: %w", fl.Arg(0), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", fl.Arg(0), resp.Status, text)
	}
	fmt.Fprintf(stdout, "%s: %s\n", fl.Arg(0), text)
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/worker"
)

// parseAPITokens reads NURTURE_API_TOKENS: "name:role:secret" entries
// separated by commas.
func parseAPITokens(s string) ([]server.Token, error) {
	var out []server.Token
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("NURTURE_API_TOKENS entry %q: expected name:role:secret", strings.SplitN(item, ":", 2)[0])
		}
		out = append(out, server.Token{Name: parts[0], Role: server.Role(parts[1]), Secret: parts[2]})
	}
	return out, nil
}

func cmdServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	addr := fl.String("addr", "127.0.0.1:8080", "listen address")
	noWorker := fl.Bool("no-worker", false, "serve HTTP only; run workers separately with nurture worker")
	concurrency := fl.Int("concurrency", 8, "send tasks processed at once by the in-process worker")
	if err := fl.Parse(args); err != nil {
		return exitCode(2)
	}
	cfg, err := readEngineConfig(env)
	if err != nil {
		return err
	}
	tokens, err := parseAPITokens(env("NURTURE_API_TOKENS"))
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return errors.New("NURTURE_API_TOKENS must name at least one token, e.g. ops:admin:<secret>")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	p, err := startEngine(ctx, "serve", cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	e, conn := p.engine, p.conn
	srv, err := server.New(server.Config{Engine: e, Tokens: tokens, PublicURL: cfg.PublicURL, TwilioAuthToken: env("TWILIO_AUTH_TOKEN"),
		Brand: env("NURTURE_BRAND"), HelpContact: env("NURTURE_HELP_CONTACT"), Logger: log,
		Reload: func() (map[string]*cadence.Cadence, error) { return loadCadences(cfg.CadenceDir) }})
	if err != nil {
		return err
	}
	if imapAddr := env("NURTURE_IMAP_ADDR"); imapAddr != "" {
		get := func(k, def string) string {
			if v := env(k); v != "" {
				return v
			}
			return def
		}
		poller, err := srv.NewIMAPPoller(server.IMAPConfig{Addr: imapAddr, Username: env("NURTURE_IMAP_USER"), Password: env("NURTURE_IMAP_PASSWORD"),
			Mailbox: get("NURTURE_IMAP_MAILBOX", "INBOX"), TLS: get("NURTURE_IMAP_TLS", "tls")})
		if err != nil {
			return err
		}
		go poller.Run(ctx)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ui, err := dashboard.New(dashboard.Config{Engine: e, Tokens: tokens, Outbox: p.outbox, Logger: log, Secure: strings.HasPrefix(cfg.PublicURL, "https://")})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	monitor := asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: conn})
	site := server.Site(srv, server.SiteConfig{UI: ui, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Monitor: ui.RequireAdmin(monitor)})
	hs := &http.Server{Handler: site, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	fmt.Fprintf(stdout, "nurture: serving on http://%s (public URL %s)\n", ln.Addr(), cfg.PublicURL)
	// The workers stop with runCtx; serve returns only once they have
	// finished their in-flight sends.
	runCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	workersDone := make(chan error, 1)
	if *noWorker {
		close(workersDone)
	} else {
		go func() { workersDone <- e.Run(runCtx, conn, worker.RunOptions{Concurrency: *concurrency}) }()
	}
	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			result = err
		}
	case err := <-workersDone:
		result = err
		workersDone = nil
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && result == nil {
		result = err
	}
	stopWorkers()
	if workersDone != nil {
		if err := <-workersDone; err != nil && result == nil {
			result = err
		}
	}
	return result
}

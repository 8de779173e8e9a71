package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/catalog"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/tokens"
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
	fl := newCLI("serve")
	addr := fl.String("addr", "127.0.0.1:8080", "listen address")
	noWorker := fl.Bool("no-worker", false, "serve HTTP only; run workers separately with nurture worker")
	concurrency := fl.Int("concurrency", 8, "send tasks processed at once by the in-process worker")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	cfg, err := readEngineConfig(env)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := resolveTokenKey(&cfg, cfg.embeddedMode(), log); err != nil {
		return err
	}
	apiTokens, err := parseAPITokens(env("NURTURE_API_TOKENS"))
	if err != nil {
		return err
	}
	if len(apiTokens) == 0 && cfg.embeddedMode() {
		apiTokens = []server.Token{{Name: "admin", Role: server.RoleAdmin, Secret: tokens.RandomHex(16)}}
		fmt.Fprintf(stdout, "nurture: NURTURE_API_TOKENS is not set; admin token %s for this embedded run\n", apiTokens[0].Secret)
	}
	if err := checkAPITokens(apiTokens); err != nil {
		return err
	}
	if *noWorker && cfg.embeddedMode() {
		log.Warn("--no-worker on the embedded Redis: no worker process can reach it, so nothing will be sent; set REDIS_URL to run workers separately")
	}
	trustProxy, err := boolEnv(env, "NURTURE_TRUST_PROXY")
	if err != nil {
		return err
	}
	metricsAddr := env("NURTURE_METRICS_ADDR")
	if metricsAddr == "" {
		metricsAddr = defaultOf("NURTURE_METRICS_ADDR")
	}
	p, err := startEngine(ctx, "serve", cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	e, conn := p.engine, p.conn
	spoolDir := env("NURTURE_SPOOL_DIR")
	if spoolDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("NURTURE_SPOOL_DIR is not set and there is no user cache directory (%v); set it to a persistent directory", err)
		}
		spoolDir = filepath.Join(cache, "nurture", "spool")
	}
	spool, err := server.OpenSpool(spoolDir)
	if err != nil {
		return fmt.Errorf("NURTURE_SPOOL_DIR: %w", err)
	}
	trustReports, err := boolEnv(env, "NURTURE_TRUST_UNVERIFIED_REPORTS")
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Spool: spool, TrustUnverifiedReports: trustReports, Engine: e, Tokens: apiTokens, PublicURL: cfg.PublicURL, TwilioAuthToken: env("TWILIO_AUTH_TOKEN"),
		Brand: env("NURTURE_BRAND"), HelpContact: env("NURTURE_HELP_CONTACT"), Logger: log,
		Reload: func() (map[string]*cadence.Cadence, error) { return reloadCadences(ctx, cfg.CadenceDir, p) }})
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
	ui, err := dashboard.New(dashboard.Config{Engine: e, Tokens: apiTokens, Outbox: p.outbox, Logger: log, Secure: strings.HasPrefix(cfg.PublicURL, "https://"),
		SessionKey: dashboard.SessionKey([]byte(cfg.TokenKey)), TrustProxy: trustProxy})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	monitor := asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: conn})
	// /metrics on the public listener needs an admin token; the metrics
	// listener (loopback by default) serves it to a local scraper as is.
	site := server.Site(srv, server.SiteConfig{UI: ui, Metrics: srv.RequireAdmin(metricsHandler), Monitor: ui.RequireAdmin(monitor)})
	listeners := []*listener{{name: "http", ln: ln, srv: server.NewHTTPServer(site, server.DefaultTimeouts, log)}}
	if metricsAddr != "off" {
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("NURTURE_METRICS_ADDR=%q: %w (set another address, or off)", metricsAddr, err)
		}
		listeners = append(listeners, &listener{name: "metrics", ln: mln, srv: server.NewHTTPServer(opsMux(metricsHandler, p), server.DefaultTimeouts, log)})
		fmt.Fprintf(stdout, "nurture: metrics on http://%s/metrics\n", mln.Addr())
	}
	fmt.Fprintf(stdout, "nurture: serving on http://%s (public URL %s)\n", ln.Addr(), cfg.PublicURL)
	runCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	go srv.RunSpool(runCtx, 5*time.Second)
	var workers func(context.Context) error
	if !*noWorker {
		workers = func(ctx context.Context) error {
			return p.engine.Run(ctx, conn, worker.RunOptions{Concurrency: *concurrency})
		}
	}
	return serveUntilDone(runCtx, stopWorkers, listeners, workers)
}

// reloadCadences is POST /v1/cadences/reload: it publishes the files in
// dir to the catalog (a file holding an earlier version moves its head
// back: an operator asked for these files), so every process moves to
// them, applies the heads here at once and returns them. On any problem
// nothing is published.
func reloadCadences(ctx context.Context, dir string, p *parts) (map[string]*cadence.Cadence, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	files, err := catalog.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no cadence files in %s", dir)
	}
	if _, err := p.catalog.PublishFiles(ctx, files, catalog.Reload); err != nil {
		return nil, err
	}
	if _, err := p.catalog.Sync(ctx, p.engine); err != nil {
		return nil, err
	}
	return p.engine.Cadences(), nil
}

// listener is one HTTP listener of a process.
type listener struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// serveUntilDone serves every listener, and runs workers when it is not
// nil, until ctx ends or one of them fails; then it drains the listeners
// and waits for the workers' in-flight sends.
func serveUntilDone(ctx context.Context, stopWorkers func(), listeners []*listener, workers func(context.Context) error) error {
	failed := make(chan error, len(listeners)+1)
	for _, l := range listeners {
		go func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("%s listener %s: %w", l.name, l.ln.Addr(), err)
			}
		}()
	}
	workersDone := make(chan error, 1)
	if workers != nil {
		go func() {
			err := workers(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("workers stopped unexpectedly")
			}
			workersDone <- err
		}()
	}
	var result error
	select {
	case <-ctx.Done():
	case result = <-failed:
	case result = <-workersDone:
		workers = nil
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, l := range listeners {
		if err := l.srv.Shutdown(shutdown); err != nil && result == nil {
			result = err
		}
	}
	stopWorkers()
	if workers != nil {
		if err := <-workersDone; err != nil && result == nil {
			result = err
		}
	}
	return result
}

// opsMux serves what an operator's tooling polls on a private address:
// /metrics, /healthz (the process answers) and /readyz (Redis answers).
func opsMux(metrics http.Handler, p *parts) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := p.engine.Store().Redis().Ping(r.Context()).Err(); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

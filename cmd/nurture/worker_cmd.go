package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/catalog"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/demo"
	"github.com/nurture-dev/nurture/examples"
	"github.com/nurture-dev/nurture/metrics"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// engineConfig is the typed configuration read from the environment.
type engineConfig struct {
	// onEmbedded is set by startEngine when it started the in-memory Redis.
	onEmbedded  bool
	Redis       redisSettings
	Prefix      string
	CadenceDir  string
	PublicURL   string
	TokenKey    string
	MsgIDDomain string
	OutboxDir   string
	SMTP        channels.SMTPConfig
	Twilio      channels.TwilioConfig
	Lease       time.Duration
	TaskBatch   int
	Journal     string
	WarmURL     string
	WarmSecret  string
	// Mailboxes is NURTURE_MAILBOXES loaded (nil when unset).
	Mailboxes             *senders.Config
	OperatorURL, OpSecret string
	// Clock is the engine's clock: nil is the wall clock; NURTURE_CLOCK
	// (tests) runs an accelerated one.
	Clock func() time.Time
}

// envTable documents every variable; the README's table is this one.
var envTable = [][3]string{
	{"REDIS_URL", "", "Redis to use, e.g. redis://127.0.0.1:6379/0 (required for worker unless REDIS_CLUSTER_ADDRS is set)"},
	{"REDIS_CLUSTER_ADDRS", "", "Redis Cluster seed nodes, host:port comma separated (instead of REDIS_URL)"},
	{"REDIS_SENTINEL_ADDRS", "", "Redis Sentinels, host:port comma separated (instead of REDIS_URL): the engine, asynq and the dashboard follow the master they name through failovers"},
	{"REDIS_SENTINEL_MASTER", "", "the master name the Sentinels monitor (required with REDIS_SENTINEL_ADDRS)"},
	{"REDIS_SENTINEL_PASSWORD", "", "password of the Sentinels themselves (never logged)"},
	{"REDIS_USERNAME", "", "ACL user for REDIS_CLUSTER_ADDRS / REDIS_SENTINEL_ADDRS nodes (a REDIS_URL carries its own)"},
	{"REDIS_PASSWORD", "", "password for REDIS_CLUSTER_ADDRS / REDIS_SENTINEL_ADDRS nodes (never logged)"},
	{"REDIS_TLS", "false", "true: TLS to REDIS_CLUSTER_ADDRS / REDIS_SENTINEL_ADDRS nodes (a REDIS_URL says rediss://)"},
	{"REDIS_TLS_CA_FILE", "", "PEM file of the CA that signed the Redis server certificates (added to the system roots)"},
	{"REDIS_TLS_CERT_FILE", "", "client certificate (PEM) for Redis servers that require one, with REDIS_TLS_KEY_FILE"},
	{"REDIS_TLS_KEY_FILE", "", "the client certificate's private key (PEM)"},
	{"NURTURE_PREFIX", "nurture", "key prefix in Redis"},
	{"NURTURE_CADENCES", "examples", "directory of cadence files published to the cadence catalog at start (new versions only); missing or empty: run what is published (serve on the embedded Redis: the built-in examples)"},
	{"NURTURE_PUBLIC_URL", "http://localhost:8080", "base URL of tracking and unsubscribe links"},
	{"NURTURE_TOKEN_KEY", "", "secret of at least 32 bytes that signs link tokens (required)"},
	{"NURTURE_MESSAGE_ID_DOMAIN", "nurture.local", "right-hand side of Message-IDs"},
	{"NURTURE_OUTBOX_DIR", "", "dev outbox directory, used when SMTP_HOST / TWILIO_ACCOUNT_SID are unset"},
	{"NURTURE_LEASE", "2m", "how long a claim and an in-flight send are owned before another worker may take over"},
	{"NURTURE_TASK_BATCH", "250", "touches per send task (one Redis round trip per step per task)"},
	{"NURTURE_JOURNAL_REPLICAS", "auto", "replicas each send's journal entry must reach (WAIT) before the provider sees the message: auto waits for 1 when the master has replicas, 0 never waits (a failover may then repeat a touch), N requires N (a touch is deferred, not sent, when fewer confirm in time); not on Redis Cluster"},
	{"NURTURE_JOURNAL_WAIT", "200ms", "how long a send waits for its journal entry's replicas"},
	{"NURTURE_JOURNAL", "message", "message: each send is recorded just before its provider call, so a killed worker leaves at most one touch per SMTP connection / SMS call uncertain; batch: one record per task, cheaper, but a killed worker leaves its running tasks' unsent touches uncertain"},
	{"SMTP_HOST", "", "SMTP relay host"},
	{"SMTP_PORT", "587", "SMTP port"},
	{"SMTP_TLS", "starttls", "starttls, mandatory, tls or none"},
	{"SMTP_USERNAME", "", "SMTP user"},
	{"SMTP_PASSWORD", "", "SMTP password (never logged)"},
	{"SMTP_CONNECTIONS", "4", "pooled SMTP connections"},
	{"SMTP_PIPELINING", "on", "on: when the relay offers PIPELINING, send MAIL, RCPT and DATA in one write (two round trips per message instead of five); off: one command per round trip"},
	{"SMTP_HELO", "", "HELO/EHLO name this process announces (default: go-mail's)"},
	{"TWILIO_ACCOUNT_SID", "", "Twilio account SID"},
	{"TWILIO_AUTH_TOKEN", "", "Twilio auth token (never logged); also verifies Twilio webhooks"},
	{"NURTURE_WARM_WEBHOOK_URL", "", "receives a signed POST (X-Nurture-Signature) when a lead turns warm"},
	{"NURTURE_WARM_WEBHOOK_SECRET", "", "HMAC secret of the warm-lead webhook"},
	{"NURTURE_MAILBOXES", "", "sender mailboxes file (docs/sending.md#sender-mailboxes): mailboxes with owners, pools, relays, per-minute/hour/day limits and warm-up, recipient- and sending-domain limits, bounce brakes; SMTP secrets by environment variable name"},
	{"NURTURE_OPERATOR_WEBHOOK_URL", "", "receives a signed POST (X-Nurture-Signature) when a brake stops a mailbox or a cadence"},
	{"NURTURE_OPERATOR_WEBHOOK_SECRET", "", "HMAC secret of the operator webhook"},
	{"NURTURE_CLOCK", "", "testing only: START,SPEED,ANCHOR_MS runs the engine on an accelerated clock (START RFC 3339 at wall-clock ANCHOR_MS, SPEED times real time) so several processes share one simulated day"},
	{"NURTURE_IMAP_ADDR", "", "serve: poll this IMAP mailbox (host:port) for replies, auto-replies and bounces"},
	{"NURTURE_IMAP_USER", "", "serve: IMAP user"},
	{"NURTURE_IMAP_PASSWORD", "", "serve: IMAP password (never logged)"},
	{"NURTURE_IMAP_MAILBOX", "INBOX", "serve: mailbox to read"},
	{"NURTURE_IMAP_TLS", "tls", "serve: tls, starttls or none"},
	{"NURTURE_API_TOKENS", "", "serve: API tokens as name:role:secret, comma separated; roles admin, sales and inbound (the email relay: POST /webhooks/email only)"},
	{"NURTURE_TRUST_UNVERIFIED_REPORTS", "false", "serve: true applies bounce and complaint reports that name none of our Message-IDs by address (anyone who can mail the bounce mailbox could then suppress anyone)"},
	{"NURTURE_METRICS_ADDR", "127.0.0.1:9464", "serve: private listener for /metrics, /healthz and /readyz without credentials (off disables it; /metrics on the public address needs an admin token)"},
	{"NURTURE_SPOOL_DIR", "", "serve: directory where one-click unsubscribes and SMS STOPs that arrive while Redis is unreachable wait to be applied (default: nurture/spool in the user cache directory)"},
	{"NURTURE_TRUST_PROXY", "false", "serve: true behind a reverse proxy that appends the client address to X-Forwarded-For (login rate limits count that address)"},
	{"NURTURE_BRAND", "Nurture", "serve: brand name in SMS HELP and STOP replies"},
	{"NURTURE_HELP_CONTACT", "", "serve: contact given in SMS HELP replies (a phone number, email or URL)"},
}

// boolEnv reads a true/false variable (default from envTable).
func boolEnv(env func(string) string, name string) (bool, error) {
	v := env(name)
	if v == "" {
		v = defaultOf(name)
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: expected true or false", name, v)
	}
	return b, nil
}

// redactURL hides the userinfo of a URL-like string (it may not parse).
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return "(not shown: no scheme)"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// defaultOf is a variable's default from envTable.
func defaultOf(name string) string {
	for _, row := range envTable {
		if row[0] == name {
			return row[1]
		}
	}
	return ""
}

func readEngineConfig(env func(string) string) (engineConfig, error) {
	get := func(k string) string {
		if v := env(k); v != "" {
			return v
		}
		return defaultOf(k)
	}
	c := engineConfig{Prefix: get("NURTURE_PREFIX"), CadenceDir: get("NURTURE_CADENCES"),
		PublicURL: get("NURTURE_PUBLIC_URL"), TokenKey: get("NURTURE_TOKEN_KEY"), MsgIDDomain: get("NURTURE_MESSAGE_ID_DOMAIN"),
		OutboxDir: get("NURTURE_OUTBOX_DIR"), WarmURL: get("NURTURE_WARM_WEBHOOK_URL"), WarmSecret: get("NURTURE_WARM_WEBHOOK_SECRET")}
	if c.WarmURL != "" && len(c.WarmSecret) < 16 {
		return c, errors.New("NURTURE_WARM_WEBHOOK_SECRET must be at least 16 characters when NURTURE_WARM_WEBHOOK_URL is set")
	}
	c.OperatorURL, c.OpSecret = get("NURTURE_OPERATOR_WEBHOOK_URL"), get("NURTURE_OPERATOR_WEBHOOK_SECRET")
	if c.OperatorURL != "" && len(c.OpSecret) < 16 {
		return c, errors.New("NURTURE_OPERATOR_WEBHOOK_SECRET must be at least 16 characters when NURTURE_OPERATOR_WEBHOOK_URL is set")
	}
	if f := get("NURTURE_MAILBOXES"); f != "" {
		m, err := senders.LoadFile(f, env)
		if err != nil {
			var ve *cadence.ValidationError
			if errors.As(err, &ve) {
				return c, fmt.Errorf("NURTURE_MAILBOXES:\n%s", strings.TrimRight(ve.Render(nil), "\n"))
			}
			return c, fmt.Errorf("NURTURE_MAILBOXES: %w", err)
		}
		c.Mailboxes = m
	}
	if v := get("NURTURE_CLOCK"); v != "" {
		clock, err := parseTestClock(v)
		if err != nil {
			return c, fmt.Errorf("NURTURE_CLOCK=%q: %w", v, err)
		}
		c.Clock = clock
	}
	port, err := strconv.Atoi(get("SMTP_PORT"))
	if err != nil {
		return c, fmt.Errorf("SMTP_PORT=%q: expected a number", get("SMTP_PORT"))
	}
	conns, err := strconv.Atoi(get("SMTP_CONNECTIONS"))
	if err != nil {
		return c, fmt.Errorf("SMTP_CONNECTIONS=%q: expected a number", get("SMTP_CONNECTIONS"))
	}
	if c.Lease, err = time.ParseDuration(get("NURTURE_LEASE")); err != nil || c.Lease < time.Second {
		return c, fmt.Errorf("NURTURE_LEASE=%q: expected a duration of at least 1s, e.g. 2m", get("NURTURE_LEASE"))
	}
	if c.TaskBatch, err = strconv.Atoi(get("NURTURE_TASK_BATCH")); err != nil || c.TaskBatch < 1 {
		return c, fmt.Errorf("NURTURE_TASK_BATCH=%q: expected a positive number", get("NURTURE_TASK_BATCH"))
	}
	if c.Journal = get("NURTURE_JOURNAL"); c.Journal != worker.JournalMessage && c.Journal != worker.JournalBatch {
		return c, fmt.Errorf("NURTURE_JOURNAL=%q: expected message or batch", c.Journal)
	}
	pipelining := get("SMTP_PIPELINING")
	if pipelining != "on" && pipelining != "off" {
		return c, fmt.Errorf("SMTP_PIPELINING=%q: expected on or off", pipelining)
	}
	c.SMTP = channels.SMTPConfig{Host: get("SMTP_HOST"), Port: port, TLS: get("SMTP_TLS"), Username: get("SMTP_USERNAME"), Password: get("SMTP_PASSWORD"), Connections: conns, HELO: get("SMTP_HELO"), NoPipelining: pipelining == "off"}
	c.Twilio = channels.TwilioConfig{AccountSID: get("TWILIO_ACCOUNT_SID"), AuthToken: get("TWILIO_AUTH_TOKEN")}
	var err2 error
	if c.Redis, err2 = readRedisSettings(get); err2 != nil {
		return c, err2
	}
	return c, nil
}

// loadCadences loads every cadence in a directory; any problem is fatal.
func loadCadences(dir string) (map[string]*cadence.Cadence, error) {
	files, err := cadenceFiles([]string{dir})
	if err != nil {
		return nil, err
	}
	out := map[string]*cadence.Cadence{}
	for _, f := range files {
		c, err := cadence.LoadFile(f)
		if err != nil {
			return nil, err
		}
		if prev, dup := out[c.ID]; dup {
			return nil, fmt.Errorf("%s: cadence id %q is also used by %s", f, c.ID, prev.File)
		}
		out[c.ID] = c
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cadence files in %s", dir)
	}
	return out, nil
}

// buildEngine builds the engine on the cadence catalog: the files in
// NURTURE_CADENCES are published first (new versions only, see
// catalog.Bootstrap), then the engine runs every published head.
func buildEngine(ctx context.Context, cfg engineConfig, rdb redis.UniversalClient, log *slog.Logger, obs worker.Observer) (*worker.Engine, *channels.Outbox, *catalog.Catalog, error) {
	st := store.New(rdb, cfg.Prefix)
	if err := st.SetReplicaWait(cfg.Redis.Replicas, cfg.Redis.Wait); err != nil {
		return nil, nil, nil, fmt.Errorf("NURTURE_JOURNAL_REPLICAS: %w", err)
	}
	if n, wait := st.ReplicaWait(ctx); n > 0 {
		log.Info("send journal waits for Redis replicas before each send", "replicas", n, "timeout", wait)
	}
	cat := catalog.New(st, catalog.Options{Logger: log})
	if cfg.onEmbedded {
		if err := publishExamplesIfNone(ctx, cat, cfg.CadenceDir, log); err != nil {
			return nil, nil, nil, err
		}
	}
	cads, err := cat.Bootstrap(ctx, cfg.CadenceDir)
	if err != nil {
		return nil, nil, nil, err
	}
	go indexProspectsOnce(context.WithoutCancel(ctx), st, log)
	e, outbox, err := newEngine(cfg, st, cads, rdb, log, obs)
	if err == nil {
		e.SetBatchCheck(cat.Freshen(e))
	}
	return e, outbox, cat, err
}

func newEngine(cfg engineConfig, st *store.Store, cads map[string]*cadence.Cadence, rdb redis.UniversalClient, log *slog.Logger, obs worker.Observer) (*worker.Engine, *channels.Outbox, error) {
	signer, err := tokens.NewSigner([]byte(cfg.TokenKey))
	if err != nil {
		return nil, nil, err
	}
	var outbox *channels.Outbox
	if cfg.SMTP.Host == "" || cfg.Twilio.AccountSID == "" {
		if outbox, err = channels.NewOutbox(cfg.OutboxDir, 1000, time.Now); err != nil {
			return nil, nil, err
		}
	}
	var email channels.EmailSender = outbox
	var sms channels.SMSSender = outbox
	if cfg.SMTP.Host != "" {
		s, err := channels.NewSMTP(cfg.SMTP)
		if err != nil {
			return nil, nil, err
		}
		email = s
	} else {
		log.Warn("SMTP_HOST is not set: email goes to the dev outbox", "dir", cfg.OutboxDir)
	}
	if cfg.Twilio.AccountSID != "" {
		t, err := channels.NewTwilio(cfg.Twilio)
		if err != nil {
			return nil, nil, err
		}
		sms = t
	} else {
		log.Warn("TWILIO_ACCOUNT_SID is not set: SMS go to the dev outbox", "dir", cfg.OutboxDir)
	}
	if !strings.HasPrefix(cfg.PublicURL, "https://") {
		log.Warn("NURTURE_PUBLIC_URL is not https: emails carry List-Unsubscribe without RFC 8058 one-click", "url", cfg.PublicURL)
	}
	relays := map[string]channels.EmailSender{}
	if cfg.Mailboxes != nil {
		for id, r := range cfg.Mailboxes.Relays {
			s, err := channels.NewSMTP(r.SMTPFor(cfg.SMTP.WithDefaults()))
			if err != nil {
				return nil, nil, fmt.Errorf("NURTURE_MAILBOXES relay %s: %w", id, err)
			}
			relays[id] = s
		}
		log.Info("sender mailboxes loaded", "file", cfg.Mailboxes.File, "mailboxes", len(cfg.Mailboxes.Mailboxes), "relays", len(relays))
	}
	e, err := worker.New(worker.Config{Store: st, Cadences: cads, Email: email, SMS: sms, Tokens: signer, Clock: cfg.Clock,
		Logger: log, PublicURL: cfg.PublicURL, MessageIDDomain: cfg.MsgIDDomain, Lease: cfg.Lease, TaskBatch: cfg.TaskBatch, Journal: cfg.Journal,
		WarmWebhookURL: cfg.WarmURL, WarmWebhookSecret: cfg.WarmSecret, Notify: asynq.NewClientFromRedisClient(rdb), Observer: obs,
		Senders: cfg.Mailboxes, Relays: relays, OperatorWebhookURL: cfg.OperatorURL, OperatorWebhookSecret: cfg.OpSecret})
	return e, outbox, err
}

// workerGCPercent is a worker's GOGC unless the environment sets one.
const workerGCPercent = 300

func cmdWorker(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("worker")
	concurrency := fl.Int("concurrency", 8, "send tasks processed at once")
	tick := fl.Duration("tick", 250*time.Millisecond, "how often the dispatcher claims due touches")
	noDispatch := fl.Bool("no-dispatcher", false, "run only the send handlers")
	opsAddr := fl.String("ops-addr", "", "serve /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9464; off when empty)")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	cfg, err := readEngineConfig(env)
	if err != nil {
		return err
	}
	if err := checkTokenKey(cfg.TokenKey); err != nil {
		return err
	}
	if env("GOGC") == "" {
		// A worker's live heap is a few tens of MB and most of what it
		// allocates dies within one message: collecting at 4× the live
		// heap instead of Go's 2× spends less CPU on the collector for
		// a few more MB.
		debug.SetGCPercent(workerGCPercent)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	p, err := startEngine(ctx, "worker", cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	var listeners []*listener
	if *opsAddr != "" {
		ln, err := net.Listen("tcp", *opsAddr)
		if err != nil {
			return fmt.Errorf("--ops-addr %s: %w", *opsAddr, err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(p.metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		listeners = append(listeners, &listener{name: "ops", ln: ln, srv: server.NewHTTPServer(opsMux(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), p), server.DefaultTimeouts, log)})
	}
	log.Info("worker started", "concurrency", *concurrency, "ops_addr", *opsAddr)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	return serveUntilDone(runCtx, stop, listeners, func(ctx context.Context) error {
		return p.engine.Run(ctx, p.conn, worker.RunOptions{Concurrency: *concurrency, Tick: *tick, NoDispatcher: *noDispatch})
	})
}

// parts is a running engine with what surrounds it.
type parts struct {
	engine  *worker.Engine
	outbox  *channels.Outbox
	metrics *metrics.Metrics
	// catalog holds the published cadences; a watch keeps engine on its
	// heads until close.
	catalog *catalog.Catalog
	conn    asynq.RedisConnOpt
	close   func()
}

// watchCatalog keeps e on the catalog's heads (a publish reaches this
// process within a second) until the returned stop is called.
func watchCatalog(ctx context.Context, cat *catalog.Catalog, e *worker.Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		cat.Watch(ctx, e)
	}()
	return func() {
		cancel()
		<-done
	}
}

// startEngine connects to REDIS_URL (serve alone may fall back to an
// embedded in-memory Redis) and builds the engine with metrics; asynq
// shares the same Redis.
func startEngine(ctx context.Context, command string, cfg engineConfig, log *slog.Logger) (*parts, error) {
	var embedded func()
	if !cfg.Redis.configured() {
		if command != "serve" {
			return nil, fmt.Errorf("REDIS_URL (or REDIS_CLUSTER_ADDRS, or REDIS_SENTINEL_ADDRS) is required for nurture %s", command)
		}
		m, err := demo.EmbeddedRedis()
		if err != nil {
			return nil, err
		}
		log.Warn("REDIS_URL is not set: using an EMBEDDED IN-MEMORY Redis; all state is lost when the process stops. Set REDIS_URL=redis://host:6379/0 for production.")
		cfg.Redis.URL, embedded, cfg.onEmbedded = "redis://"+m.Addr()+"/0", m.Close, true
	}
	rc, err := dialRedis(ctx, cfg.Redis)
	if err != nil {
		if embedded != nil {
			embedded()
		}
		return nil, err
	}
	closeAll := func() {
		rc.rdb.Close()
		if embedded != nil {
			embedded()
		}
	}
	m := metrics.New(asynq.NewInspector(rc.asynq))
	e, outbox, cat, err := buildEngine(ctx, cfg, rc.rdb, log, m)
	if err != nil {
		closeAll()
		return nil, err
	}
	m.Attach(e)
	stopWatch := watchCatalog(ctx, cat, e)
	return &parts{engine: e, outbox: outbox, metrics: m, catalog: cat, conn: rc.asynq, close: func() { stopWatch(); closeAll() }}, nil
}

// publishExamplesIfNone gives a try-it-out serve on the embedded Redis the
// built-in example cadences when dir holds no cadence files (the binary
// started outside the repository, where the default "examples" is not).
func publishExamplesIfNone(ctx context.Context, cat *catalog.Catalog, dir string, log *slog.Logger) error {
	files, err := catalog.LoadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(files) > 0 {
		return nil
	}
	cads, srcs, err := examples.LoadWithSources()
	if err != nil {
		return err
	}
	for id, c := range cads {
		if _, err := cat.PublishParsed(ctx, c, srcs[id], "nurture serve", "built-in example"); err != nil {
			return fmt.Errorf("publish example %s: %w", id, err)
		}
	}
	log.Warn("no cadence files in NURTURE_CADENCES: running the built-in example cadences on the embedded Redis", "NURTURE_CADENCES", dir, "cadences", len(cads))
	return nil
}

// indexProspectsOnce builds the prospect search index from the prospects
// stored before it existed, the first time a process starts on a Redis
// that lacks it (a fresh Redis takes no time). Every prospect written
// since is indexed as it is written; several processes doing this at once
// only add the same entries.
func indexProspectsOnce(ctx context.Context, st *store.Store, log *slog.Logger) {
	ready, err := st.IndexReady(ctx)
	if err != nil || ready {
		return
	}
	start := time.Now()
	n, err := st.ReindexProspects(ctx, nil)
	if err != nil {
		log.Warn("prospect search index: building it from the stored prospects failed; run nurture reindex", "err", err)
		return
	}
	log.Info("prospect search index built from the stored prospects", "prospects", n, "took", time.Since(start).Round(time.Millisecond))
}

// parseTestClock reads NURTURE_CLOCK: START,SPEED,ANCHOR_MS. Every process
// given the same value computes the same simulated time.
func parseTestClock(v string) (func() time.Time, error) {
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return nil, errors.New("expected START,SPEED,ANCHOR_MS (RFC 3339 time, a number, Unix milliseconds)")
	}
	start, err := time.Parse(time.RFC3339, parts[0])
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	speed, err := strconv.ParseFloat(parts[1], 64)
	if err != nil || speed <= 0 {
		return nil, fmt.Errorf("speed %q: expected a positive number", parts[1])
	}
	anchorMS, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("anchor %q: expected Unix milliseconds", parts[2])
	}
	anchor := time.UnixMilli(anchorMS)
	return func() time.Time {
		return start.Add(time.Duration(float64(time.Since(anchor)) * speed)).UTC()
	}, nil
}

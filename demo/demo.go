// Package demo runs Nurture end to end on one machine with nothing
// installed: an embedded in-memory Redis (miniredis), the example
// cadences, a few hundred sample prospects across time zones and a steady
// trickle of new ones for as long as it runs, the real dispatcher and
// workers on an accelerated clock, simulated opens, clicks and replies,
// the dev outbox, the dashboard, and a progress line every few seconds.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/catalog"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/dashboard"
	"github.com/nurture-dev/nurture/examples"
	"github.com/nurture-dev/nurture/metrics"
	"github.com/nurture-dev/nurture/senders"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// Options configures the demo.
type Options struct {
	Addr      string
	Prospects int
	// DaySeconds is how many real seconds one cadence day lasts.
	DaySeconds float64
	Seed       uint64
	// Trickle is how many new sample prospects are enrolled per cadence
	// day after the first Prospects, so the funnel keeps moving: 0 is
	// Prospects/30 (at least 1), negative is none.
	Trickle float64
	// Out gets the banner and, every Progress (0 is 5 s; negative is
	// never), a line of what happened so far.
	Out      io.Writer
	Progress time.Duration
	Logger   *slog.Logger
	// Ready is called once the dashboard answers (tests use it).
	Ready func(Info)
	// Start is the cadence clock's first instant; zero is now. Tests that
	// time touches pick a stretch without the sample cadence's holidays.
	Start time.Time
}

// Info is what the demo prints: where to go and how to log in.
type Info struct {
	URL, AdminToken, SalesToken string
	Engine                      *worker.Engine
	Clock                       func() time.Time
}

// demoMailboxes are the sample reps' sender mailboxes (the saas-trial
// cadence sends from the prospect's owner's); kim's is new and warming up
// from the demo's first day. The limits are above what the sample
// population asks for, so the Mailboxes page has numbers to show without
// the demo's timing changing. No recipient-domain limit: every sample
// address is @example.com, so one would throttle the whole demo (it did:
// a touch deferred day after day behind the domain's hourly limit).
const demoMailboxes = `mailboxes:
  sam: {address: sam@acme.example, name: Sam Rivera, owners: [sam], pools: [sales], limits: {per_hour: 120, per_day: 300}}
  kim:
    address: kim@acme.example
    name: Kim Lee
    owners: [kim]
    pools: [sales]
    limits: {per_hour: 120, per_day: 300}
    warmup: {start: 150, growth: 10%%, since: %s}
  lee: {address: lee@acme.example, name: Lee Park, owners: [lee], pools: [sales], limits: {per_hour: 120, per_day: 300}}
`

// EmbeddedRedis starts an in-memory Redis. It is for demos and trying
// things out: nothing survives the process.
func EmbeddedRedis() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	// Without ClockTTL, miniredis expires keys only when told to; Nurture's
	// ledgers, dedupe keys and domain pauses rely on real expiry.
	m.ClockTTL(true)
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	return m, nil
}

// Run runs the demo until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.Prospects == 0 {
		o.Prospects = 300
	}
	if o.DaySeconds <= 0 {
		o.DaySeconds = 4
	}
	if o.Trickle == 0 {
		o.Trickle = max(1, float64(o.Prospects)/30)
	}
	if o.Progress == 0 {
		o.Progress = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := EmbeddedRedis()
	if err != nil {
		return err
	}
	defer m.Close()
	// In-process: a slow answer is a busy machine (tests under -race), not
	// a lost server, so wait longer than go-redis's 3 s default.
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	defer rdb.Close()
	cads, srcs, err := examples.LoadWithSources()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()

	// One cadence day lasts DaySeconds of real time.
	speed := 86400 / o.DaySeconds
	realStart, virtualStart := time.Now(), time.Now().UTC()
	if !o.Start.IsZero() {
		virtualStart = o.Start.UTC()
	}
	clock := func() time.Time {
		return virtualStart.Add(time.Duration(float64(time.Since(realStart)) * speed))
	}
	outbox, _ := channels.NewOutbox("", 2000, clock)
	tokenKey := []byte(tokens.RandomHex(32))
	signer, _ := tokens.NewSigner(tokenKey)
	queue := asynq.NewClientFromRedisClient(rdb)
	obs := metrics.New(asynq.NewInspector(asynq.RedisClientOpt{Addr: m.Addr()}))
	mailboxes, err := senders.Parse("demo mailboxes", []byte(fmt.Sprintf(demoMailboxes, virtualStart.Format(time.DateOnly))), nil)
	if err != nil {
		return err
	}
	e, err := worker.New(worker.Config{Observer: obs, Store: store.New(rdb, "nurture"), Cadences: cads, Email: outbox, SMS: outbox, Tokens: signer,
		Clock: clock, Logger: o.Logger, PublicURL: url, MessageIDDomain: "demo.nurture.local", Senders: mailboxes,
		// Leases are in engine (virtual) time: keep them two real minutes.
		Lease: time.Duration(float64(2*time.Minute) * speed), Notify: queue})
	if err != nil {
		return err
	}
	// A fresh Redis: the prospect search index has nothing to catch up on.
	if _, err := e.Store().ReindexProspects(ctx, nil); err != nil {
		return err
	}
	// The sample cadences are published, as a team would, so their
	// versions page has a history.
	cat := catalog.New(e.Store(), catalog.Options{Logger: o.Logger, Clock: clock})
	for id, c := range cads {
		if _, err := cat.PublishParsed(ctx, c, srcs[id], "demo", "sample cadence"); err != nil {
			return fmt.Errorf("publish %s: %w", id, err)
		}
	}
	admin, sales := tokens.RandomHex(12), tokens.RandomHex(12)
	creds := []server.Token{{Name: "demo-admin", Role: server.RoleAdmin, Secret: admin}, {Name: "sam", Role: server.RoleSales, Secret: sales}}
	api, err := server.New(server.Config{Engine: e, Tokens: creds, PublicURL: url, Brand: "Acme (demo)", Logger: o.Logger})
	if err != nil {
		return err
	}
	banner := "Demo: all state is IN MEMORY (embedded Redis) and is lost when it stops; set REDIS_URL and run `nurture serve` for a real Redis. One cadence day lasts " + fmt.Sprint(o.DaySeconds) + " s."
	ui, err := dashboard.New(dashboard.Config{Engine: e, Tokens: creds, Outbox: outbox, Banner: banner, Logger: o.Logger,
		SessionKey: dashboard.SessionKey(tokenKey)})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(o.Seed, 7))
	if err := enrollSamples(ctx, e, r, 0, o.Prospects); err != nil {
		return err
	}
	obs.Attach(e)
	reg := prometheus.NewRegistry()
	reg.MustRegister(obs)
	monitor := asynqmon.New(asynqmon.Options{RootPath: "/monitor", RedisConnOpt: asynq.RedisClientOpt{Addr: m.Addr()}})
	site := server.Site(api, server.SiteConfig{UI: ui, Metrics: api.RequireAdmin(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})), Monitor: ui.RequireAdmin(monitor)})
	hs := server.NewHTTPServer(site, server.DefaultTimeouts, o.Logger)
	go hs.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		if err := e.Run(runCtx, asynq.RedisClientOpt{Addr: m.Addr()}, worker.RunOptions{Concurrency: 4, Tick: 100 * time.Millisecond}); err != nil {
			o.Logger.Error("demo workers", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		engage(runCtx, e, outbox, clock, o.Seed)
	}()
	go func() {
		defer wg.Done()
		trickle(runCtx, e, r, o, clock)
	}()
	if o.Out != nil {
		more := "no more are added"
		if o.Trickle > 0 {
			more = fmt.Sprintf("about %.0f more join every cadence day", o.Trickle)
		}
		fmt.Fprintf(o.Out, "\nNurture demo\n  %s\n\n  dashboard:  %s/\n  log in with the admin token %s (or the sales token %s for rep \"sam\")\n  API:        curl -H 'Authorization: Bearer %s' %s/v1/cadences\n\n  %d sample prospects enrolled in %d example cadences; %s. Ctrl-C stops.\n\n",
			banner, url, admin, sales, admin, url, o.Prospects, len(cads), more)
	}
	go func() {
		defer wg.Done()
		progress(runCtx, e, o, virtualStart, clock)
	}()
	if o.Ready != nil {
		o.Ready(Info{URL: url, AdminToken: admin, SalesToken: sales, Engine: e, Clock: clock})
	}
	<-ctx.Done()
	stop()
	wg.Wait()
	return nil
}

// samplePlaces spreads prospects over time zones (with matching numbers).
var samplePlaces = []struct{ zone, phone string }{
	{"America/New_York", "+1212555"}, {"America/Chicago", "+1312555"}, {"America/Denver", "+1303555"},
	{"America/Phoenix", "+1602555"}, {"America/Los_Angeles", "+1415555"}, {"America/New_York", "+1305555"},
	{"Europe/London", "+4479111"}, {"Europe/Berlin", "+4915123"}, {"Asia/Tokyo", "+8190123"}, {"Australia/Sydney", "+6141234"},
}

var firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Frances", "Donald", "Radia", "Guido",
	"Katherine", "Dennis", "Hedy", "Tim", "Shafi", "John", "Sophie", "Niklaus"}
var lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds", "Allen", "Knuth",
	"Perlman", "van Rossum", "Johnson", "Ritchie", "Lamarr", "Berners-Lee", "Goldwasser", "Backus", "Wilson", "Wirth", "Okafor", "Tanaka", "García", "Novak"}
var companies = []string{"Analytical Engines", "Northwind", "Initech", "Globex", "Umbrella", "Hooli", "Vandelay Industries", "Stark Labs", "Acme Retail", ""}
var titles = []string{"Head of Data", "CTO", "Analytics Lead", "Founder", "VP Engineering", "Operations Manager", ""}
var owners = []string{"sam", "kim", "lee"}

// sampleProspect makes the i-th sample prospect. Prospects demo-NNNN are
// numbered from 0; seven in ten go to saas-trial, the rest to
// shop-winback.
func sampleProspect(r *rand.Rand, i int) (*store.Prospect, string) {
	place := samplePlaces[r.IntN(len(samplePlaces))]
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	company := companies[r.IntN(len(companies))]
	p := &store.Prospect{ID: fmt.Sprintf("demo-%04d", i), Email: fmt.Sprintf("%s.%s.%04d@example.com", emailPart(first), emailPart(last), i),
		FirstName: first, LastName: last, Company: company, TimeZone: place.zone, Owner: owners[r.IntN(len(owners))],
		Attr: map[string]string{"plan": []string{"team", "solo"}[r.IntN(2)]}}
	if company != "" {
		p.Title = titles[r.IntN(len(titles))]
	}
	if r.Float64() < 0.6 && strings.HasPrefix(place.phone, "+1") {
		p.Phone = fmt.Sprintf("%s%04d", place.phone, 100+i%9000)
	}
	if i%10 < 7 {
		return p, "saas-trial"
	}
	return p, "shop-winback"
}

// emailPart is a name as the local part of an address: "van Rossum" is
// "vanrossum", "García" is "garcia".
func emailPart(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c)
		case c == 'á' || c == 'à':
			b.WriteByte('a')
		case c == 'é' || c == 'è':
			b.WriteByte('e')
		case c == 'í':
			b.WriteByte('i')
		case c == 'ó':
			b.WriteByte('o')
		case c == 'ú':
			b.WriteByte('u')
		}
	}
	return b.String()
}

// enrollSamples enrolls sample prospects from to to (exclusive).
func enrollSamples(ctx context.Context, e *worker.Engine, r *rand.Rand, from, to int) error {
	batches := map[string][]*store.Prospect{}
	for i := from; i < to; i++ {
		p, cid := sampleProspect(r, i)
		batches[cid] = append(batches[cid], p)
	}
	for _, id := range []string{"saas-trial", "shop-winback"} {
		for _, res := range e.EnrollBatch(ctx, batches[id], id) {
			if res.Err != nil && !errors.Is(res.Err, store.ErrAlreadyEnrolled) {
				return fmt.Errorf("demo enroll: %w", res.Err)
			}
		}
	}
	return nil
}

// trickleBatch is the most prospects the trickle enrolls at once.
const trickleBatch = 20

// trickle enrolls o.Trickle new sample prospects per cadence day, spread
// over the day, until ctx ends.
func trickle(ctx context.Context, e *worker.Engine, r *rand.Rand, o Options, clock func() time.Time) {
	if o.Trickle <= 0 {
		return
	}
	start, next := clock(), o.Prospects
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		days := clock().Sub(start).Hours() / 24
		want := o.Prospects + int(days*o.Trickle)
		if want <= next {
			continue
		}
		// A machine too busy to keep up gets fewer new prospects, not a
		// growing backlog of them.
		n := min(want-next, trickleBatch)
		if err := enrollSamples(ctx, e, r, next, next+n); err != nil && ctx.Err() == nil {
			o.Logger.Error("demo trickle", "err", err)
		}
		next = want
	}
}

// progress prints a line of totals every o.Progress: the cadence day, and
// how many prospects were enrolled, sent a touch, opened one, replied and
// wait for sales now.
func progress(ctx context.Context, e *worker.Engine, o Options, start time.Time, clock func() time.Time) {
	if o.Out == nil || o.Progress < 0 {
		return
	}
	t := time.NewTicker(o.Progress)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var enrolled, sent, opened, replied, warm int64
		failed := false
		for id := range e.Cadences() {
			st, err := e.Stats(ctx, id)
			if err != nil {
				failed = true
				break
			}
			enrolled += st["enrolled"]
			warm += st["state:"+string(cadence.Warm)]
			for k, v := range st {
				switch {
				case !strings.HasPrefix(k, "t:"):
				case strings.HasSuffix(k, ":sent"):
					sent += v
				case strings.HasSuffix(k, ":opened"):
					opened += v
				case strings.HasSuffix(k, ":replied"):
					replied += v
				}
			}
		}
		if failed {
			continue // stopping, or Redis busy: the next tick tries again
		}
		now := clock()
		fmt.Fprintf(o.Out, "%s  cadence day %d (%s): %d enrolled · %d sent · %d opened · %d replied · %d warm, waiting for sales\n",
			time.Now().Format("15:04:05"), int(now.Sub(start).Hours()/24)+1, now.Format("Mon 2 Jan"), enrolled, sent, opened, replied, warm)
	}
}

var replies = []string{"Sounds interesting - can we talk on Tuesday?", "Please call me, we are evaluating options.", "Who is the right person to talk to about pricing?", "Yes, send me a quote for 20 seats."}

// engage plays recipients: it watches the outbox and opens, clicks,
// replies, unsubscribes and converts at plausible rates, through the same
// engine calls the tracking and webhook endpoints make.
func engage(ctx context.Context, e *worker.Engine, outbox *channels.Outbox, clock func() time.Time, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	seen := 0
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		msgs := outbox.Messages()
		if seen > len(msgs) {
			seen = 0 // the outbox dropped old messages
		}
		for _, m := range msgs[seen:] {
			if m.Channel != "email" {
				continue
			}
			// Parsed, not matched: a long Message-ID header is folded.
			parsed, err := mail.ReadMessage(strings.NewReader(m.Body))
			if err != nil {
				continue
			}
			eid, touch, err := e.MessageOwner(ctx, parsed.Header.Get("Message-ID"))
			if err != nil {
				continue // not committed yet; a later pass sees it
			}
			now := clock()
			apply := func(ev cadence.Event) {
				ev.At, ev.Touch, ev.Channel = now, touch, cadence.Email
				e.Apply(ctx, eid, ev)
			}
			if r.Float64() < 0.3 {
				apply(cadence.Event{Kind: cadence.EvOpened, Machine: true, By: "pixel", Reason: "Apple Mail Privacy Protection"})
			}
			if r.Float64() < 0.4 {
				apply(cadence.Event{Kind: cadence.EvOpened, By: "pixel"})
				if r.Float64() < 0.3 {
					apply(cadence.Event{Kind: cadence.EvClicked, By: "link"})
					if r.Float64() < 0.25 {
						apply(cadence.Event{Kind: cadence.EvGoal, Goal: "converted", By: "crm"})
					}
				}
			}
			switch x := r.Float64(); {
			case x < 0.04:
				apply(cadence.Event{Kind: cadence.EvReplied, By: "email", Reason: replies[r.IntN(len(replies))]})
			case x < 0.05:
				apply(cadence.Event{Kind: cadence.EvAutoReplied, By: "email", Reason: "Out of office"})
			case x < 0.055:
				apply(cadence.Event{Kind: cadence.EvUnsubscribed, By: "one-click"})
			}
		}
		seen = len(msgs)
	}
}

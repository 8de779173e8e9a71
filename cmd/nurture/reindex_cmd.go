package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/store"
)

// reindexEnv is what `nurture reindex` reads: where Redis is and the key
// prefix.
var reindexEnv = []string{"REDIS_URL", "REDIS_CLUSTER_ADDRS", "REDIS_PASSWORD", "NURTURE_PREFIX"}

// cmdReindex builds the prospect search index from every stored prospect
// (store.ReindexProspects): once after upgrading a deployment that has
// prospects from before the index; running it again is harmless.
func cmdReindex(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fl := newCLI("reindex")
	every := fl.Duration("progress", 2*time.Second, "how often to print the count so far (0: only at the end)")
	if pos, done, err := fl.parse(args, false, stdout, stderr); done {
		return err
	} else if len(pos) > 0 {
		return fl.usageErr(stderr, "unexpected argument %q", pos[0])
	}
	cfg, err := readEngineConfig(env)
	if err != nil {
		return err
	}
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st := store.New(rdb, cfg.Prefix)
	start, last := time.Now(), time.Now()
	n, err := st.ReindexProspects(ctx, func(done int) {
		if *every > 0 && time.Since(last) >= *every {
			last = time.Now()
			fmt.Fprintf(stdout, "indexed %d prospects (%.0f/s)\n", done, float64(done)/time.Since(start).Seconds())
		}
	})
	if err != nil {
		return fmt.Errorf("after %d prospects: %w", n, err)
	}
	fmt.Fprintf(stdout, "indexed %d prospects under %q in %s; the prospect search index is ready\n", n, cfg.Prefix, time.Since(start).Round(10*time.Millisecond))
	return nil
}

// connectRedis opens the configured Redis (REDIS_URL, a cluster or a
// Sentinel-managed master) and checks it answers.
func connectRedis(ctx context.Context, cfg engineConfig) (redis.UniversalClient, error) {
	if !cfg.Redis.configured() {
		return nil, fmt.Errorf("REDIS_URL (or REDIS_CLUSTER_ADDRS, or REDIS_SENTINEL_ADDRS) is required for nurture reindex")
	}
	rc, err := dialRedis(ctx, cfg.Redis)
	if err != nil {
		return nil, err
	}
	return rc.rdb, nil
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/store"
)

// redisSettings are the REDIS_* variables: one of a URL, a Redis Cluster
// or a Sentinel-managed master, with optional TLS and an ACL user.
type redisSettings struct {
	URL            string
	ClusterAddrs   []string
	SentinelAddrs  []string
	SentinelMaster string
	SentinelPass   string
	Username       string
	Password       string
	// TLS for cluster and Sentinel connections (a URL says rediss://).
	TLS                       bool
	CAFile, CertFile, KeyFile string
	// Replicas and Wait: journal writes that begin a send wait for this
	// many replicas (store.ReplicasAuto, 0, n) for at most Wait.
	Replicas int
	Wait     time.Duration
}

// readRedisSettings reads and checks the REDIS_* and journal durability
// variables.
func readRedisSettings(get func(string) string) (redisSettings, error) {
	r := redisSettings{URL: get("REDIS_URL"), Username: get("REDIS_USERNAME"), Password: get("REDIS_PASSWORD"),
		SentinelMaster: get("REDIS_SENTINEL_MASTER"), SentinelPass: get("REDIS_SENTINEL_PASSWORD"),
		CAFile: get("REDIS_TLS_CA_FILE"), CertFile: get("REDIS_TLS_CERT_FILE"), KeyFile: get("REDIS_TLS_KEY_FILE")}
	addrs := func(name string) ([]string, error) {
		v := get(name)
		if v == "" {
			return nil, nil
		}
		var out []string
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("%s entry %q: expected host:port", name, a)
			}
			out = append(out, a)
		}
		return out, nil
	}
	var err error
	if r.ClusterAddrs, err = addrs("REDIS_CLUSTER_ADDRS"); err != nil {
		return r, err
	}
	if r.SentinelAddrs, err = addrs("REDIS_SENTINEL_ADDRS"); err != nil {
		return r, err
	}
	set := 0
	for _, b := range []bool{r.URL != "", r.ClusterAddrs != nil, r.SentinelAddrs != nil} {
		if b {
			set++
		}
	}
	if set > 1 {
		return r, errors.New("set one of REDIS_URL, REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS")
	}
	if r.SentinelAddrs != nil && r.SentinelMaster == "" {
		return r, errors.New("REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS: the master name the Sentinels monitor")
	}
	if r.TLS, err = boolVar(get, "REDIS_TLS"); err != nil {
		return r, err
	}
	if (r.CertFile == "") != (r.KeyFile == "") {
		return r, errors.New("REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together (a client certificate and its key)")
	}
	switch v := get("NURTURE_JOURNAL_REPLICAS"); v {
	case "auto":
		r.Replicas = store.ReplicasAuto
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r, fmt.Errorf("NURTURE_JOURNAL_REPLICAS=%q: expected auto or a number of replicas (0 turns the wait off)", v)
		}
		r.Replicas = n
	}
	if r.Wait, err = time.ParseDuration(get("NURTURE_JOURNAL_WAIT")); err != nil || r.Wait <= 0 {
		return r, fmt.Errorf("NURTURE_JOURNAL_WAIT=%q: expected a positive duration, e.g. 200ms", get("NURTURE_JOURNAL_WAIT"))
	}
	return r, nil
}

func boolVar(get func(string) string, name string) (bool, error) {
	b, err := strconv.ParseBool(get(name))
	if err != nil {
		return false, fmt.Errorf("%s=%q: expected true or false", name, get(name))
	}
	return b, nil
}

// configured reports whether any Redis was named (else serve may embed one).
func (r redisSettings) configured() bool {
	return r.URL != "" || r.ClusterAddrs != nil || r.SentinelAddrs != nil
}

// tlsConfig builds the TLS settings: the system roots plus REDIS_TLS_CA_FILE,
// and a client certificate when given; nil when TLS is off.
func (r redisSettings) tlsConfig(base *tls.Config) (*tls.Config, error) {
	if base == nil && !r.TLS && r.CAFile == "" && r.CertFile == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		c = base.Clone()
	}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE %s: no PEM certificate in it", r.CAFile)
		}
		c.RootCAs = pool
	}
	if r.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// redisConn is an open Redis: the go-redis client the engine uses and the
// options asynq opens its own connections with, to the same place.
type redisConn struct {
	rdb   redis.UniversalClient
	asynq asynq.RedisConnOpt
	// where names it in messages, without credentials.
	where string
}

// dialRedis opens what the settings name and checks it answers.
func dialRedis(ctx context.Context, r redisSettings) (*redisConn, error) {
	var c redisConn
	switch {
	case r.ClusterAddrs != nil:
		tc, err := r.tlsConfig(nil)
		if err != nil {
			return nil, err
		}
		// Every key carries a hash tag and every script one slot, so the
		// engine runs unchanged on a ClusterClient.
		c.rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: r.ClusterAddrs, Username: r.Username, Password: r.Password, TLSConfig: tc})
		c.asynq = asynq.RedisClusterClientOpt{Addrs: r.ClusterAddrs, Username: r.Username, Password: r.Password, TLSConfig: tc}
		c.where = fmt.Sprintf("redis cluster %v", r.ClusterAddrs)
	case r.SentinelAddrs != nil:
		tc, err := r.tlsConfig(nil)
		if err != nil {
			return nil, err
		}
		// The failover client asks the Sentinels for the master and
		// follows a failover: connections to the old master are closed on
		// +switch-master, so no write goes to a demoted node.
		c.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: r.SentinelMaster, SentinelAddrs: r.SentinelAddrs,
			SentinelPassword: r.SentinelPass, Username: r.Username, Password: r.Password, TLSConfig: tc})
		c.asynq = asynq.RedisFailoverClientOpt{MasterName: r.SentinelMaster, SentinelAddrs: r.SentinelAddrs, SentinelPassword: r.SentinelPass,
			Username: r.Username, Password: r.Password, TLSConfig: tc}
		c.where = fmt.Sprintf("redis master %q via sentinels %v", r.SentinelMaster, r.SentinelAddrs)
	default:
		opt, err := redis.ParseURL(r.URL)
		if err != nil {
			// The parser's error quotes the whole URL, password included.
			return nil, fmt.Errorf("REDIS_URL=%q is not a valid URL: expected redis[s]://[user:password@]host:port/db, with special characters in the password %%-escaped", redactURL(r.URL))
		}
		if opt.TLSConfig, err = r.tlsConfig(opt.TLSConfig); err != nil {
			return nil, err
		}
		c.rdb = redis.NewClient(opt)
		c.asynq = asynq.RedisClientOpt{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: opt.DB, TLSConfig: opt.TLSConfig}
		c.where = "redis " + opt.Addr
	}
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		c.rdb.Close()
		return nil, fmt.Errorf("%s: %w", c.where, err)
	}
	return &c, nil
}

// Package redistest gives tests a real Redis: a Redis Cluster when
// REDIS_CLUSTER_ADDRS is set (comma-separated seed addresses), else
// REDIS_URL if set, else a throwaway redis-server started from PATH on a
// free loopback port. Each caller gets its own key prefix, so tests never
// see each other's data. Under CI (CI=true, 1, yes…; see internal/ci) a
// missing redis-server fails the test instead of skipping.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/internal/ci"
)

var (
	once    sync.Once
	addr    string
	startEr error
	seq     atomic.Int64
)

// Addr returns the address of the shared test server, starting it once.
func Addr(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("REDIS_URL: %v", err)
		}
		return opt.Addr
	}
	once.Do(func() { addr, startEr = start() })
	if startEr != nil {
		if ci.Enabled() {
			t.Fatalf("redis-server is required under CI: %v", startEr)
		}
		t.Skipf("no redis-server on PATH (%v); install redis-server or set REDIS_URL", startEr)
	}
	return addr
}

func start() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "nurture-redis-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	// The server must not outlive the test binary. Pdeathsig fires when
	// the OS thread that started the child exits, so start it from a
	// goroutine that keeps its thread locked for the life of the process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		started <- cmd.Start()
		select {}
	}()
	if err := <-started; err != nil {
		return "", err
	}
	a := fmt.Sprintf("127.0.0.1:%d", port)
	c := redis.NewClient(&redis.Options{Addr: a})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c.Ping(context.Background()).Err() == nil {
			return a, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return "", fmt.Errorf("redis-server on %s did not answer", a)
}

// ClusterAddrs returns the cluster seed addresses, or nil when the tests
// run against a single Redis.
func ClusterAddrs() []string {
	v := os.Getenv("REDIS_CLUSTER_ADDRS")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// Asynq returns asynq's connection to the same Redis the tests use.
func Asynq(t testing.TB) asynq.RedisConnOpt {
	if addrs := ClusterAddrs(); addrs != nil {
		return asynq.RedisClusterClientOpt{Addrs: addrs}
	}
	return asynq.RedisClientOpt{Addr: Addr(t)}
}

// Env returns the settings that point a nurture process at the same Redis.
func Env(t testing.TB) map[string]string {
	if addrs := ClusterAddrs(); addrs != nil {
		return map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(addrs, ",")}
	}
	return map[string]string{"REDIS_URL": "redis://" + Addr(t) + "/0"}
}

// Client returns a client on the test Redis (a cluster client when
// REDIS_CLUSTER_ADDRS is set) and a unique key prefix; keys under the
// prefix are deleted when the test ends.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	return ClientPrefix(t, fmt.Sprintf("t%d-%d-%s", os.Getpid(), seq.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())))
}

// ClientPrefix is Client with a chosen prefix, for measurements that depend
// on key length (production uses "nurture"). It must be unique on the server.
func ClientPrefix(t testing.TB, prefix string) (redis.UniversalClient, string) {
	t.Helper()
	var c redis.UniversalClient
	if addrs := ClusterAddrs(); addrs != nil {
		c = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, PoolSize: 32})
	} else {
		c = redis.NewClient(&redis.Options{Addr: Addr(t), PoolSize: 32})
	}
	t.Cleanup(func() {
		ctx := context.Background()
		clean := func(ctx context.Context, node *redis.Client) error {
			var batch []string
			flush := func() {
				if len(batch) == 0 {
					return
				}
				p := node.Pipeline()
				for _, k := range batch {
					p.Unlink(ctx, k) // one key per command: keys of a batch may sit in different slots
				}
				p.Exec(ctx)
				batch = batch[:0]
			}
			iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				if batch = append(batch, iter.Val()); len(batch) == 1000 {
					flush()
				}
			}
			flush()
			return iter.Err()
		}
		if cc, ok := c.(*redis.ClusterClient); ok {
			cc.ForEachMaster(ctx, clean)
		} else {
			clean(ctx, c.(*redis.Client))
		}
		c.Close()
	})
	return c, prefix
}

// Server is a redis-server the test owns and may restart (durability
// tests). It persists to its own directory.
type Server struct {
	Addr string
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// StartServer starts a redis-server with extra arguments (e.g. AOF) on a
// free loopback port; it is stopped when the test ends.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if ci.Enabled() {
			t.Fatalf("redis-server is required under CI: %v", err)
		}
		t.Skipf("no redis-server on PATH: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir(), args: args}
	l.Close()
	s.Addr = fmt.Sprintf("127.0.0.1:%d", s.port)
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			s.cmd.Wait()
		}
	})
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--dir", s.dir}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		started <- s.cmd.Start()
		select {}
	}()
	if err := <-started; err != nil {
		s.t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	for i := 0; i < 200; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("redis-server on %s did not start", s.Addr)
}

// Restart shuts the server down cleanly (SHUTDOWN, which flushes the AOF)
// and starts it again on the same port and directory after downtime.
func (s *Server) Restart(downtime time.Duration) {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	c.Shutdown(context.Background())
	c.Close()
	s.cmd.Wait()
	time.Sleep(downtime)
	s.start()
}

// Kill SIGKILLs the server (no AOF flush beyond what its fsync policy has
// already done) and starts it again on the same port and directory after
// downtime.
func (s *Server) Kill(downtime time.Duration) {
	s.t.Helper()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	time.Sleep(downtime)
	s.start()
}

// Cluster returns a client on a Redis Cluster and a unique key prefix: the
// one in REDIS_CLUSTER_ADDRS, else three masters started for this test with
// scripts/redis-cluster.sh (stopped when it ends). Under CI (internal/ci)
// missing redis-server or redis-cli fails the test.
func Cluster(t testing.TB) (*redis.ClusterClient, string) {
	t.Helper()
	if ClusterAddrs() != nil {
		c, prefix := Client(t)
		return c.(*redis.ClusterClient), prefix
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if ci.Enabled() {
				t.Fatalf("%s is required under CI: %v", bin, err)
			}
			t.Skipf("no %s on PATH", bin)
		}
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "redis-cluster.sh")
	base := freePortRun(t)
	out, err := exec.Command(script, "start", fmt.Sprint(base)).CombinedOutput()
	if err != nil {
		t.Fatalf("starting a cluster: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(script, "stop", fmt.Sprint(base)).Run() })
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(strings.TrimSpace(string(out)), ",")})
	t.Cleanup(func() { c.Close() })
	return c, fmt.Sprintf("t%d-cluster", os.Getpid())
}

// freePortRun finds a base port whose next two ports and their cluster bus
// ports (+10000) are free.
func freePortRun(t testing.TB) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if base+10002 > 65535 {
			continue
		}
		ok := true
		for _, p := range []int{base, base + 1, base + 2, base + 10000, base + 10001, base + 10002} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no run of free ports for a cluster")
	return 0
}

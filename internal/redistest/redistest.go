// Package redistest gives tests a real Redis: REDIS_URL if set, else a
// throwaway redis-server started from PATH on a free loopback port. Each
// caller gets its own key prefix, so tests never see each other's data.
// Under CI=true a missing redis-server fails the test instead of skipping.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
		if os.Getenv("CI") == "true" {
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

// Client returns a client on the test server and a unique key prefix; keys
// under the prefix are deleted when the test ends.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	return ClientPrefix(t, fmt.Sprintf("t%d-%d-%s", os.Getpid(), seq.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())))
}

// ClientPrefix is Client with a chosen prefix, for measurements that depend
// on key length (production uses "nurture"). It must be unique on the server.
func ClientPrefix(t testing.TB, prefix string) (*redis.Client, string) {
	t.Helper()
	a := Addr(t)
	c := redis.NewClient(&redis.Options{Addr: a, PoolSize: 32})
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

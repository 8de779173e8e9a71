package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
func testPKI(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nurture test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(k)
		return der, kb
	}
	sDER, sKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cDER, cKey := leaf(3, "nurture", x509.ExtKeyUsageClientAuth)
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", sDER), write("server.key", "EC PRIVATE KEY", sKey),
		write("client.pem", "CERTIFICATE", cDER), write("client.key", "EC PRIVATE KEY", cKey)
}

// TestRedisOverTLS: rediss:// with REDIS_TLS_CA_FILE reaches a redis-server
// that speaks only TLS; without the CA the certificate is refused; a server
// that requires client certificates takes REDIS_TLS_CERT_FILE/KEY_FILE.
func TestRedisOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server; skipped with -short")
	}
	requireRedisServer(t)
	ctx := context.Background()
	ca, cert, key, ccert, ckey := testPKI(t, t.TempDir())
	for _, mutual := range []bool{false, true} {
		auth := "no"
		if mutual {
			auth = "yes"
		}
		p := startRedisProcTLS(t, "--port", "0", "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca, "--tls-auth-clients", auth)
		url := fmt.Sprintf("rediss://%s/0", p.addr())
		// Without the CA: the server's certificate is unknown.
		if _, err := dialRedis(ctx, redisSettings{URL: url}); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("mutual=%v, no CA file: %v", mutual, err)
		}
		s := redisSettings{URL: url, CAFile: ca}
		rc, err := dialRedis(ctx, s)
		if mutual {
			if err == nil {
				rc.rdb.Close()
				t.Fatal("a server requiring client certificates took a connection without one")
			}
			s.CertFile, s.KeyFile = ccert, ckey
			rc, err = dialRedis(ctx, s)
		}
		if err != nil {
			t.Fatalf("mutual=%v: %v", mutual, err)
		}
		sendThrough(t, rc.rdb, "tls")
		rc.rdb.Close()
	}
	if _, err := readRedisSettings(func(k string) string {
		return map[string]string{"REDIS_TLS_CERT_FILE": "c.pem", "NURTURE_JOURNAL_REPLICAS": "auto", "NURTURE_JOURNAL_WAIT": "200ms", "REDIS_TLS": "false"}[k]
	}); err == nil || !strings.Contains(err.Error(), "REDIS_TLS_KEY_FILE") {
		t.Fatalf("a certificate without its key: %v", err)
	}
}

// startRedisProcTLS starts redis-server listening on TLS only (its
// arguments give --port 0); the returned proc's port is the TLS port.
func startRedisProcTLS(t *testing.T, args ...string) *redisProc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command("redis-server", append([]string{"--tls-port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", t.TempDir()}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &redisProc{t: t, port: port, cmd: cmd}
	t.Cleanup(p.kill)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", p.addr()); err == nil {
			c.Close()
			return p
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("redis-server (TLS) on %s did not start", p.addr())
	return nil
}

// sendThrough enrolls a prospect and sends its touch through rdb, as the
// worker does, and checks it went out once.
func sendThrough(t *testing.T, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	ctx := context.Background()
	c, err := cadence.Parse("t.yaml", []byte(enginetest.EmailCadence("t", "0")))
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := channels.NewOutbox("", 10, time.Now)
	signer, _ := tokens.NewSigner([]byte(testTokenKey))
	e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Enroll(ctx, &store.Prospect{ID: "ada", Email: "ada@example.com"}, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DispatchOnce(ctx, enginetest.SyncQueue{E: e}); err != nil {
		t.Fatal(err)
	}
	if n := len(ob.Messages()); n != 1 {
		t.Fatalf("sent %d through %s", n, prefix)
	}
}

// redisACL is the ACL line docs/operations.md gives: every command except
// the dangerous ones (FLUSHALL, FLUSHDB, CONFIG, DEBUG, SHUTDOWN, KEYS,
// MONITOR, REPLICAOF, ...), plus the few of that category Nurture uses:
// INFO (metrics, replica count), WAIT is not dangerous.
const redisACL = "on >nurture-acl-secret-0123 ~* &* +@all -@dangerous +info"

// TestRedisACLUser: a Redis whose default user is off and whose nurture
// user has only redisACL runs a worker process end to end (asynq, the
// dispatcher, the journal, the catalog's pub/sub), and that user cannot
// FLUSHALL or CONFIG SET.
func TestRedisACLUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and a worker; skipped with -short")
	}
	requireRedisServer(t)
	ctx := context.Background()
	p := startRedisProc(t)
	admin := redis.NewClient(&redis.Options{Addr: p.addr()})
	defer admin.Close()
	acl := []any{"ACL", "SETUSER", "nurture"}
	for _, rule := range strings.Fields(redisACL) {
		acl = append(acl, rule)
	}
	if err := admin.Do(ctx, acl...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "off").Err(); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("redis://nurture:nurture-acl-secret-0123@%s/0", p.addr())
	rc, err := dialRedis(ctx, redisSettings{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.rdb.Close()
	for _, cmd := range [][]any{{"FLUSHALL"}, {"CONFIG", "SET", "maxmemory", "1"}} {
		if err := rc.rdb.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("%v as the nurture user: %v, want NOPERM", cmd, err)
		}
	}
	if anon := redis.NewClient(&redis.Options{Addr: p.addr()}); anon.Ping(ctx).Err() == nil {
		t.Fatal("the default user still answers")
	} else {
		anon.Close()
	}
	// Enroll through the ACL user, then a real worker process sends.
	bin := buildNurture(t)
	dir, outbox := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acl.yaml"), []byte(enginetest.EmailCadence("acl", "0", "1s")), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := cadence.LoadFile(filepath.Join(dir, "acl.yaml"))
	ob, _ := channels.NewOutbox("", 1, time.Now)
	signer, _ := tokens.NewSigner([]byte(testTokenKey))
	e, err := worker.New(worker.Config{Store: store.New(rc.rdb, "acl"), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
	if err != nil {
		t.Fatal(err)
	}
	var ps []*store.Prospect
	for i := 0; i < 20; i++ {
		ps = append(ps, &store.Prospect{ID: fmt.Sprintf("a%02d", i), Email: fmt.Sprintf("a%02d@example.com", i)})
	}
	for _, r := range e.EnrollBatch(ctx, ps, c.ID) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	cmd := exec.Command(bin, "worker", "--tick", "50ms", "--ops-addr", "127.0.0.1:0")
	cmd.Env = childEnv("REDIS_URL="+url, "NURTURE_PREFIX=acl", "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+testTokenKey,
		"NURTURE_PUBLIC_URL=https://n.example", "NURTURE_OUTBOX_DIR="+outbox)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		files, _ := os.ReadDir(outbox)
		if len(files) >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker under the ACL user sent %d of 40\n%s", len(files), tail(logs.String(), 3000))
		}
	}
	if strings.Contains(logs.String(), "NOPERM") {
		t.Fatalf("the worker hit a command its ACL does not allow:\n%s", tail(logs.String(), 3000))
	}
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/internal/smtptest"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// secretForms returns the ways a secret could show up in a log: as is,
// URL-escaped (query, path and userinfo), hex-encoded, and base64 in both alphabets
// at each of the three byte alignments it could have inside a larger
// encoded blob (for each alignment, the part of the encoding that depends
// on the secret's bytes alone).
func secretForms(s string) map[string]string {
	forms := map[string]string{
		"raw":          s,
		"query-escape": url.QueryEscape(s),
		"path-escape":  url.PathEscape(s),
		// as the password of a URL's userinfo (redis://:PASSWORD@host)
		"userinfo-escape": strings.TrimPrefix(url.UserPassword("", s).String(), ":"),
		"hex":             hex.EncodeToString([]byte(s)),
	}
	for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
		for off := 0; off < 3; off++ {
			b := enc.EncodeToString(append(make([]byte, off), s...))
			if off > 0 {
				b = b[4:] // the first group mixes the padding bytes in
			}
			b = b[:len(b)-4] // the last group may mix in what follows
			forms[fmt.Sprintf("%s@%d", name, off)] = b
		}
	}
	return forms
}

// relayTLS makes a self-signed certificate for 127.0.0.1 and writes it
// as PEM to a file: child processes given SSL_CERT_FILE=that file trust
// it, so they can STARTTLS to the test relay with verification on (go-mail
// offers AUTH PLAIN only over TLS).
func relayTLS(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "relay.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, file
}

// startRefusingIMAP starts an IMAP server that knows user but with another
// password, so every login nurture attempts is refused.
func startRefusingIMAP(t *testing.T, user, password string) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// twilioSignature is X-Twilio-Signature for a form POSTed to u.
func twilioSignature(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := u
	for _, k := range keys {
		s += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func do(t *testing.T, method, u, token, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// secretsCadence: two emails a second apart with a tracked link, and a
// third a month away, so enrollments are still active after two sends.
const secretsCadence = `id: sec
name: Secrets
timezone: UTC
from: {email: "Acme <hello@acme.example>"}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - {id: one, channel: email, template: mail}
      - {id: two, channel: email, delay: 1s, template: mail}
      - {id: three, channel: email, delay: 30d, template: mail}
templates:
  mail:
    subject: "Hi {{ .FirstName | default \"there\" }}"
    text: "Hello"
    html: "<html><body><p>Hello</p><a href=\"https://acme.example/pricing\">Pricing</a></body></html>"
`

// secretsMailboxCadence sends from the prospect's owner's mailbox, so
// through the NURTURE_MAILBOXES relay and its password_env password.
const secretsMailboxCadence = `id: secmb
name: Secrets through a mailbox
timezone: UTC
from: {mailbox: owner}
postal_address: "1 Main St, Springfield"
send_window: {start: "00:00", end: "24:00"}
stages:
  - id: only
    touches:
      - {id: one, channel: email, template: mail}
templates:
  mail: {subject: "Hi from Sam", text: "Hello"}
`

// secretsMailboxes is a NURTURE_MAILBOXES file: sam's mailbox sends
// through a relay whose password is read from the environment variable
// it names, and one hard bounce in a 10-send window puts on a brake (so
// the operator webhook fires). Placeholders: PORT.
const secretsMailboxes = `relays:
  acme:
    host: 127.0.0.1
    port: PORT
    tls: mandatory
    username: mailbox-relay
    password_env: ACME_RELAY_PASSWORD
mailboxes:
  sam:
    address: sam@acme.example
    name: Sam Rivera
    owners: [sam]
    relay: acme
brakes: {window: 10, bounce_rate: 5%}
`

var (
	secretsClickRe = regexp.MustCompile(`/c/[A-Za-z0-9_-]+`)
	secretsPixelRe = regexp.MustCompile(`/o/[A-Za-z0-9_-]+`)
)

// TestSecretsNeverLogged runs `nurture serve --no-worker` and `nurture
// worker` (the built binary) with every secret set to a distinctive random
// value — the link-signing key, the admin and sales API tokens, the SMTP
// password (against a relay that requires STARTTLS and AUTH), the Twilio
// auth token, the warm-lead and operator webhook secrets, the IMAP
// password (against a server that refuses the login), the Redis password
// (a redis-server with requirepass, in REDIS_URL) and the password of a
// NURTURE_MAILBOXES relay (named by password_env; the relay requires
// STARTTLS and AUTH) — makes them work (enrollments through the API,
// touches through SMTP, an open and a click, a reply that turns a lead
// warm and fires the signed webhook, a signed Twilio STOP and a forged
// one, failed and good dashboard logins, bad API tokens that contain a
// real one, /metrics, a touch through the mailbox's relay and a hard
// bounce there that puts on a brake and fires the signed operator
// webhook), then SIGTERMs them; also starts a worker
// whose REDIS_URL carries the password but a typo in the port, and one
// with the wrong password. No secret, in any of secretForms' encodings,
// may appear in anything any of them printed.
func TestSecretsNeverLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes; skipped with -short")
	}
	bin := buildNurture(t)
	sec := map[string]string{
		"NURTURE_TOKEN_KEY":           tokens.RandomHex(32),
		"admin API token":             "adm" + tokens.RandomHex(16),
		"sales API token":             "sal" + tokens.RandomHex(16),
		"SMTP_PASSWORD":               "smtp+" + tokens.RandomHex(12) + "/=%",
		"TWILIO_AUTH_TOKEN":           tokens.RandomHex(16),
		"NURTURE_WARM_WEBHOOK_SECRET": "whk_" + tokens.RandomHex(16),
		"NURTURE_IMAP_PASSWORD":       "imap&" + tokens.RandomHex(12) + "#?",
		"Redis password":              "rds+" + tokens.RandomHex(12) + "/@:",
		// NURTURE_OPERATOR_WEBHOOK_SECRET (cmd/nurture/worker_cmd.go)
		"NURTURE_OPERATOR_WEBHOOK_SECRET": "opw_" + tokens.RandomHex(16),
		// the mailboxes file's relay password, through password_env
		"ACME_RELAY_PASSWORD": "mbx%" + tokens.RandomHex(12) + "+/=",
	}
	const smtpUser, imapUser, mbUser = "nurture-relay", "sales-inbox", "mailbox-relay"

	// redistest.StartServer pings without a password to see the server
	// up, so it cannot start one with --requirepass: set it once it runs.
	rs := redistest.StartServer(t)
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	if err := rc.ConfigSet(context.Background(), "requirepass", sec["Redis password"]).Err(); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	anon := redis.NewClient(&redis.Options{Addr: rs.Addr})
	err := anon.Ping(context.Background()).Err()
	anon.Close()
	if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("redis-server answers without its password: %v", err)
	}
	tlsConf, caFile := relayTLS(t)
	sink := smtptest.StartWith(t, smtptest.Options{TLS: tlsConf, Username: smtpUser, Password: sec["SMTP_PASSWORD"]})
	mbSink := smtptest.StartWith(t, smtptest.Options{TLS: tlsConf, Username: mbUser, Password: sec["ACME_RELAY_PASSWORD"]})
	mbSink.Fail("b0@example.com", smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"})
	imapAddr := startRefusingIMAP(t, imapUser, sec["NURTURE_IMAP_PASSWORD"]+"-not-this-one")
	var hooks, badHooks, opHooks, badOpHooks atomic.Int64
	var opBodies syncBuffer
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ts int64
		fmt.Sscan(r.Header.Get("X-Nurture-Timestamp"), &ts)
		secret, good, bad := sec["NURTURE_WARM_WEBHOOK_SECRET"], &hooks, &badHooks
		if r.URL.Path == "/operator" {
			secret, good, bad = sec["NURTURE_OPERATOR_WEBHOOK_SECRET"], &opHooks, &badOpHooks
			opBodies.Write(append(body, '\n'))
		}
		if r.Header.Get("X-Nurture-Signature") != worker.SignWebhook(secret, ts, body) {
			bad.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		good.Add(1)
	}))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sec.yaml"), []byte(secretsCadence), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secmb.yaml"), []byte(secretsMailboxCadence), 0o644); err != nil {
		t.Fatal(err)
	}
	mailboxes := filepath.Join(t.TempDir(), "mailboxes.yaml")
	if err := os.WriteFile(mailboxes, []byte(strings.Replace(secretsMailboxes, "PORT", fmt.Sprint(mbSink.Port), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	apiAddr, metricsAddr, opsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	public := "http://" + apiAddr
	redisURL := (&url.URL{Scheme: "redis", User: url.UserPassword("", sec["Redis password"]), Host: rs.Addr, Path: "/0"}).String()
	env := append(os.Environ(), "REDIS_URL="+redisURL, "NURTURE_CADENCES="+dir, "NURTURE_TOKEN_KEY="+sec["NURTURE_TOKEN_KEY"],
		"NURTURE_PUBLIC_URL="+public, "NURTURE_METRICS_ADDR="+metricsAddr, "NURTURE_SPOOL_DIR="+t.TempDir(),
		"NURTURE_API_TOKENS=ops:admin:"+sec["admin API token"]+",sam:sales:"+sec["sales API token"],
		"SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", sink.Port), "SMTP_TLS=mandatory", "SMTP_CONNECTIONS=2", "SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+t.TempDir(),
		"SMTP_USERNAME="+smtpUser, "SMTP_PASSWORD="+sec["SMTP_PASSWORD"],
		"TWILIO_ACCOUNT_SID=AC"+tokens.RandomHex(16), "TWILIO_AUTH_TOKEN="+sec["TWILIO_AUTH_TOKEN"],
		"NURTURE_WARM_WEBHOOK_URL="+hook.URL+"/warm", "NURTURE_WARM_WEBHOOK_SECRET="+sec["NURTURE_WARM_WEBHOOK_SECRET"],
		"NURTURE_IMAP_ADDR="+imapAddr, "NURTURE_IMAP_USER="+imapUser, "NURTURE_IMAP_PASSWORD="+sec["NURTURE_IMAP_PASSWORD"], "NURTURE_IMAP_TLS=none",
		"NURTURE_OPERATOR_WEBHOOK_URL="+hook.URL+"/operator", "NURTURE_OPERATOR_WEBHOOK_SECRET="+sec["NURTURE_OPERATOR_WEBHOOK_SECRET"],
		"NURTURE_MAILBOXES="+mailboxes, "ACME_RELAY_PASSWORD="+sec["ACME_RELAY_PASSWORD"])
	for _, k := range []string{"REDIS_CLUSTER_ADDRS", "REDIS_PASSWORD", "NURTURE_PREFIX", "NURTURE_JOURNAL", "NURTURE_OUTBOX_DIR"} {
		env = append(env, k+"=")
	}
	t.Run("serve and worker at work", func(t *testing.T) {
		serve := startProcess(t, bin, "serve", env, "serve", "--addr", apiAddr, "--no-worker")
		waitHTTP(t, serve, public+"/readyz")
		wk := startProcess(t, bin, "worker", env, "worker", "--tick", "100ms", "--ops-addr", opsAddr)
		waitHTTP(t, wk, "http://"+opsAddr+"/readyz")
		admin, sales := sec["admin API token"], sec["sales API token"]

		// Enroll three prospects through the API; each gets two touches
		// through the authenticated relay (the third is a month away, so the
		// enrollments are still active for the reply below).
		for i, phone := range []string{"+13125550140", "+13125550141", ""} {
			body := fmt.Sprintf(`{"cadence":"sec","prospect":{"id":"s%d","email":"s%d@example.com","first_name":"S%d","phone":%q,"owner":"sam"}}`, i, i, i, phone)
			if code, out := do(t, "POST", public+"/v1/enrollments", admin, "application/json", body); code != http.StatusCreated {
				t.Fatalf("enroll s%d: %d %s", i, code, out)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for sink.Count() < 6 {
			if time.Now().After(deadline) {
				t.Fatalf("the relay received %d of 6 messages in 30 s\nserve:\n%s\nworker:\n%s", sink.Count(), serve.out.String(), wk.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}

		// An open and a click on s0's first email, through the signed links.
		var first smtptest.Message
		for _, m := range sink.Messages() {
			if m.To == "s0@example.com" && (first.MessageID == "" || m.At.Before(first.At)) {
				first = m
			}
		}
		raw := strings.NewReplacer("=\r\n", "", "=3D", "=").Replace(string(first.Data)) // undo quoted-printable soft breaks
		pixel, click := secretsPixelRe.FindString(raw), secretsClickRe.FindString(raw)
		if pixel == "" || click == "" {
			t.Fatalf("s0's first email has no open pixel or tracked link:\n%s", raw)
		}
		if code, _ := do(t, "GET", public+pixel, "", "", ""); code != http.StatusOK {
			t.Errorf("open pixel: %d", code)
		}
		if code, _ := do(t, "GET", public+click, "", "", ""); code != http.StatusFound {
			t.Errorf("click: %d, want 302", code)
		}

		// s0 replies to that email: warm, and the worker delivers the signed
		// warm-lead webhook.
		reply := "From: s0@example.com\r\nTo: hello@acme.example\r\nSubject: Re: Hi\r\nMessage-ID: <r1@mail.example>\r\nIn-Reply-To: <" +
			strings.Trim(first.MessageID, "<>") + ">\r\n\r\nYes, call me on Tuesday.\r\n"
		if code, out := do(t, "POST", public+"/webhooks/email", admin, "message/rfc822", reply); code != http.StatusOK || !strings.Contains(out, `"matched": true`) {
			t.Fatalf("reply: %d %s", code, out)
		}
		for hooks.Load() == 0 {
			if time.Now().After(deadline.Add(30 * time.Second)) {
				t.Fatalf("no correctly signed warm-lead webhook (%d badly signed)\nserve:\n%s\nworker:\n%s", badHooks.Load(), serve.out.String(), wk.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := badHooks.Load(); n != 0 {
			t.Errorf("%d warm-lead webhooks with a bad signature", n)
		}

		// Twilio: a STOP signed with the auth token, then a forged one.
		stop := url.Values{"MessageSid": {"SM1"}, "From": {"+13125550141"}, "To": {"+15005550006"}, "Body": {"STOP"}, "AccountSid": {"AC1"}}
		req, _ := http.NewRequest("POST", public+"/webhooks/twilio/sms", strings.NewReader(stop.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSignature(sec["TWILIO_AUTH_TOKEN"], public+"/webhooks/twilio/sms", stop))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "<Message>") {
			t.Errorf("signed STOP: %d %s", resp.StatusCode, b)
		}
		stop.Set("MessageSid", "SM2")
		req, _ = http.NewRequest("POST", public+"/webhooks/twilio/sms", strings.NewReader(stop.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSignature(sec["TWILIO_AUTH_TOKEN"]+"x", public+"/webhooks/twilio/sms", stop))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("forged Twilio signature accepted")
		}

		// Dashboard: failed logins with a mistyped token (the real one with a
		// character more, and one less), then a good one.
		for _, tok := range []string{sales + "x", admin + "0", admin[:len(admin)-1]} {
			if code, _ := do(t, "POST", public+"/login", "", "application/x-www-form-urlencoded", url.Values{"token": {tok}}.Encode()); code != http.StatusUnauthorized {
				t.Errorf("login with a mistyped token: %d, want 401", code)
			}
		}
		if code, _ := do(t, "POST", public+"/login", "", "application/x-www-form-urlencoded", url.Values{"token": {sales}}.Encode()); code != http.StatusOK && code != http.StatusSeeOther {
			t.Errorf("login with the sales token: %d", code)
		}
		// API: mistyped bearer tokens, a sales token where admin is needed,
		// then good calls.
		for _, tok := range []string{admin + "x", sales[1:], "Basic " + admin} {
			if code, _ := do(t, "GET", public+"/v1/cadences", tok, "", ""); code != http.StatusUnauthorized {
				t.Errorf("GET /v1/cadences with a bad token: %d, want 401", code)
			}
		}
		if code, _ := do(t, "POST", public+"/v1/enrollments", sales, "application/json", `{"cadence":"sec","prospect":{"id":"s9","email":"s9@example.com"}}`); code != http.StatusForbidden {
			t.Errorf("sales enrolling: %d, want 403", code)
		}
		if code, _ := do(t, "GET", public+"/v1/enrollments/s0~sec", sales, "", ""); code != http.StatusOK {
			t.Errorf("GET enrollment: %d", code)
		}
		if code, body := do(t, "GET", public+"/metrics", admin, "", ""); code != http.StatusOK || !strings.Contains(body, "nurture_due_backlog") {
			t.Errorf("/metrics with the admin token: %d", code)
		}
		if code, _ := do(t, "GET", "http://"+opsAddr+"/metrics", "", "", ""); code != http.StatusOK {
			t.Errorf("worker /metrics: %d", code)
		}

		// The IMAP poller tried to log in (at start) and was refused; serve
		// kept running.
		for !strings.Contains(serve.out.String(), "imap poll failed") {
			if time.Now().After(deadline.Add(30 * time.Second)) {
				t.Fatalf("serve never reported the refused IMAP login:\n%s", serve.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err, ok := serve.exited(); ok {
			t.Fatalf("serve exited (%v):\n%s", err, serve.out.String())
		}

		// A touch from sam's mailbox goes through the mailboxes file's
		// relay, which takes only its password_env password; then a hard
		// bounce there puts on the brakes and the worker posts the
		// operator webhook, signed with its secret.
		if code, out := do(t, "POST", public+"/v1/enrollments", admin, "application/json", `{"cadence":"secmb","prospect":{"id":"m0","email":"m0@example.com","owner":"sam"}}`); code != http.StatusCreated {
			t.Fatalf("enroll m0: %d %s", code, out)
		}
		mbDeadline := time.Now().Add(30 * time.Second)
		for mbSink.Count() < 1 {
			if time.Now().After(mbDeadline) {
				t.Fatalf("the mailbox relay received nothing in 30 s\nworker:\n%s", wk.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if m := mbSink.Messages()[0]; m.To != "m0@example.com" || !strings.Contains(m.Header.Get("From"), "sam@acme.example") {
			t.Fatalf("the mailbox relay received %s from %q, want m0@example.com from sam@acme.example", m.To, m.Header.Get("From"))
		}
		if code, out := do(t, "POST", public+"/v1/enrollments", admin, "application/json", `{"cadence":"secmb","prospect":{"id":"b0","email":"b0@example.com","owner":"sam"}}`); code != http.StatusCreated {
			t.Fatalf("enroll b0: %d %s", code, out)
		}
		for opHooks.Load() == 0 {
			if time.Now().After(mbDeadline.Add(30 * time.Second)) {
				t.Fatalf("no correctly signed operator webhook (%d badly signed; bodies %q)\nworker:\n%s", badOpHooks.Load(), opBodies.String(), wk.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := badOpHooks.Load(); n != 0 || !strings.Contains(opBodies.String(), `"event":"brake.on"`) {
			t.Errorf("operator webhooks: %d with a bad signature; bodies %q, want a brake.on", n, opBodies.String())
		}

		for _, p := range []*process{serve, wk} {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range []*process{serve, wk} {
			select {
			case err := <-p.done:
				p.done <- err
				if err != nil {
					t.Errorf("%s after SIGTERM: %v\n%s", p.name, err, p.out.String())
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30 s of SIGTERM", p.name)
			}
		}
		noSecrets(t, sec, map[string]string{"serve": serve.out.String(), "worker": wk.out.String()})
	})

	// Misconfigured Redis: the password right but a typo in the port, and
	// the password wrong by a suffix. Each worker must exit naming the
	// problem, without printing the password.
	for _, c := range []struct{ name, url string }{
		{"worker with a typo in REDIS_URL's port", "redis://" + url.UserPassword("", sec["Redis password"]).String() + "@" + strings.Replace(rs.Addr, ":", ":x", 1) + "/0"},
		{"worker with the wrong Redis password", (&url.URL{Scheme: "redis", User: url.UserPassword("", sec["Redis password"]+"-old"), Host: rs.Addr, Path: "/0"}).String()},
	} {
		name, u := c.name, c.url
		t.Run(name, func(t *testing.T) {
			p := startProcess(t, bin, name, append(env, "REDIS_URL="+u), "worker")
			select {
			case err := <-p.done:
				p.done <- err
				if err == nil {
					t.Errorf("%s exited cleanly", name)
				}
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Kill()
				t.Errorf("%s did not exit", name)
			}
			if !strings.Contains(strings.ToLower(p.out.String()), "redis") {
				t.Errorf("%s: the error does not name Redis:\n%s", name, p.out.String())
			}
			noSecrets(t, sec, map[string]string{name: p.out.String()})
		})
	}
}

// noSecrets fails t for every secret, in any of secretForms' encodings,
// found in what a process printed.
func noSecrets(t *testing.T, sec map[string]string, outputs map[string]string) {
	t.Helper()
	for proc, out := range outputs {
		if out == "" {
			t.Errorf("%s printed nothing: the search below would prove nothing", proc)
		}
		for what, s := range sec {
			for form, v := range secretForms(s) {
				if i := strings.Index(out, v); i >= 0 {
					line := out[strings.LastIndexByte(out[:i], '\n')+1:]
					if j := strings.IndexByte(line, '\n'); j >= 0 {
						line = line[:j]
					}
					t.Errorf("%s printed the %s (%s form):\n%s", proc, what, form, line)
				}
			}
		}
	}
	if t.Failed() {
		for proc, out := range outputs {
			t.Logf("--- %s:\n%s", proc, out)
		}
	}
}

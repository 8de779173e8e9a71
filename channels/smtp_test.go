package channels_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/smtptest"
)

func newSMTP(t *testing.T, sink *smtptest.Server, conns int, d channels.DKIMConfig) *channels.SMTP {
	t.Helper()
	s, err := channels.NewSMTP(channels.SMTPConfig{Host: "127.0.0.1", Port: sink.Port, TLS: "none", Connections: conns, Timeout: 5 * time.Second, DKIM: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func email(to string, n int) *channels.Email {
	return &channels.Email{MessageID: fmt.Sprintf("<m%d@n.example>", n), From: "Acme <hello@acme.example>", To: to,
		Subject: "Hello", Text: "Hi", HTML: "<p>Hi</p>", Unsubscribe: "https://n.example/u/tok"}
}

func TestSMTPClassifiesReplies(t *testing.T) {
	sink := smtptest.Start(t)
	cases := map[string]struct {
		fault smtptest.Fault
		class channels.Class
	}{
		"nouser@example.com":   {smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 1}, Msg: "no such user"}, channels.HardBounce},
		"baddom@example.com":   {smtptest.Fault{Code: 550, Enhanced: smtp.EnhancedCode{5, 1, 2}, Msg: "bad domain"}, channels.HardBounce},
		"policy@example.com":   {smtptest.Fault{Code: 554, Enhanced: smtp.EnhancedCode{5, 7, 1}, Msg: "blocked"}, channels.SenderPolicy},
		"full@example.com":     {smtptest.Fault{Code: 552, Enhanced: smtp.EnhancedCode{5, 2, 2}, Msg: "over quota"}, channels.Permanent},
		"greylist@example.com": {smtptest.Fault{Code: 451, Enhanced: smtp.EnhancedCode{4, 7, 1}, Msg: "greylisted"}, channels.Retry},
	}
	var msgs []*channels.Email
	var want []channels.Class
	i := 0
	for addr, tc := range cases {
		sink.Fail(addr, tc.fault)
		msgs = append(msgs, email(addr, i))
		want = append(want, tc.class)
		i++
	}
	msgs = append(msgs, email("fine@example.com", 99))
	want = append(want, "")
	errs := newSMTP(t, sink, 1, channels.DKIMConfig{}).SendEmails(context.Background(), msgs, nil)
	for i, err := range errs {
		if got := channels.ClassOf(err); got != want[i] {
			t.Errorf("%s: class %q (%v), want %q", msgs[i].To, got, err, want[i])
		}
	}
	if got := sink.Messages(); len(got) != 1 || got[0].To != "fine@example.com" {
		t.Fatalf("a failure affected the next message on the connection: %+v", got)
	}
}

func TestSMTPRedialsADroppedConnection(t *testing.T) {
	sink := smtptest.Start(t)
	sink.Fail("drop@example.com", smtptest.Fault{DropConn: true, Times: 1})
	errs := newSMTP(t, sink, 1, channels.DKIMConfig{}).SendEmails(context.Background(), []*channels.Email{email("drop@example.com", 1), email("next@example.com", 2)}, nil)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	if n := len(sink.Messages()); n != 2 {
		t.Fatalf("delivered %d", n)
	}
}

func TestSMTPReusesPooledConnections(t *testing.T) {
	sink := smtptest.Start(t)
	s := newSMTP(t, sink, 2, channels.DKIMConfig{})
	for round := 0; round < 5; round++ {
		var batch []*channels.Email
		for i := 0; i < 20; i++ {
			batch = append(batch, email(fmt.Sprintf("r%d-%d@example.com", round, i), round*100+i))
		}
		for _, err := range s.SendEmails(context.Background(), batch, nil) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(sink.Messages()); n != 100 {
		t.Fatalf("delivered %d", n)
	}
	if n := sink.Sessions(); n > 2 {
		t.Fatalf("opened %d SMTP sessions for 100 messages; the pool holds 2", n)
	}
}

func TestBuildMsgHeaders(t *testing.T) {
	e := email("a@example.com", 7)
	e.InReplyTo = "m6@n.example"
	e.ReplyTo = "sales@acme.example"
	m, err := channels.BuildMsg(e)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	raw := b.String()
	for _, want := range []string{"Message-ID: <m7@n.example>", "In-Reply-To: <m6@n.example>", "References: <m6@n.example>",
		"List-Unsubscribe: <https://n.example/u/tok>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Reply-To: <sales@acme.example>"} {
		if !strings.Contains(raw, want) {
			t.Errorf("missing %q in\n%s", want, raw)
		}
	}
	if _, err := channels.BuildMsg(&channels.Email{From: "not an address", To: "a@example.com"}); err == nil {
		t.Error("a bad From was accepted")
	}
}

func TestDKIMSignatureVerifies(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sink := smtptest.Start(t)
	s := newSMTP(t, sink, 1, channels.DKIMConfig{Domain: "acme.example", Selector: "nurture", KeyPEM: keyPEM})
	if errs := s.SendEmails(context.Background(), []*channels.Email{email("a@example.com", 1)}, nil); errs[0] != nil {
		t.Fatal(errs[0])
	}
	raw := sink.Messages()[0].Data
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "nurture._domainkey.acme.example" {
				return nil, fmt.Errorf("unexpected lookup %s", domain)
			}
			return []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
		},
	})
	if err != nil || len(verifications) != 1 {
		t.Fatalf("verify: %v %v", verifications, err)
	}
	v := verifications[0]
	if v.Err != nil {
		t.Fatalf("signature does not verify: %v\n%s", v.Err, raw)
	}
	signed := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
	for _, h := range []string{"from", "list-unsubscribe", "list-unsubscribe-post"} {
		if !strings.Contains(signed, h) {
			t.Errorf("%s is not signed (signed: %s)", h, signed)
		}
	}
}

// selfSigned makes a TLS certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	sink := smtptest.StartWith(t, smtptest.Options{TLS: selfSigned(t), Username: "nurture", Password: "s3cret"})
	send := func(cfg channels.SMTPConfig) error {
		cfg.Host, cfg.Port, cfg.Connections, cfg.Timeout = "127.0.0.1", sink.Port, 1, 5*time.Second
		s, err := channels.NewSMTP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.SendEmails(context.Background(), []*channels.Email{email("a@example.com", 1)}, nil)[0]
	}
	if err := send(channels.SMTPConfig{TLS: "mandatory", Username: "nurture", Password: "s3cret", InsecureSkipVerify: true}); err != nil {
		t.Fatalf("STARTTLS + AUTH: %v", err)
	}
	if err := send(channels.SMTPConfig{TLS: "mandatory", Username: "nurture", Password: "wrong", InsecureSkipVerify: true}); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if err := send(channels.SMTPConfig{TLS: "mandatory", Username: "nurture", Password: "s3cret"}); err == nil {
		t.Fatal("an unverifiable certificate was accepted without InsecureSkipVerify")
	}
	if n := sink.Count(); n != 1 {
		t.Fatalf("delivered %d", n)
	}
}

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/nurture-dev/nurture/tokens"
)

// TestDockerComposeMatchesTheBinary loads docker-compose.yml with the
// Compose reference loader (no Docker engine here) and checks that it
// wires what the binary expects.
func TestDockerComposeMatchesTheBinary(t *testing.T) {
	dir, _ := filepath.Abs("../..")
	load := func(env types.Mapping) (*types.Project, error) {
		return loader.LoadWithContext(context.Background(), types.ConfigDetails{
			WorkingDir:  dir,
			ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
			Environment: env,
		}, func(o *loader.Options) { o.SetProjectName("nurture", true) })
	}
	// Without a .env compose must refuse to start, naming what is missing.
	if _, err := load(types.Mapping{}); err == nil || !strings.Contains(err.Error(), "NURTURE_") {
		t.Fatalf("docker-compose.yml loads without secrets (err %v): it must use ${VAR:?...} for them", err)
	}
	secrets := types.Mapping{"NURTURE_TOKEN_KEY": tokens.RandomHex(32), "NURTURE_API_TOKENS": "ops:admin:" + tokens.RandomHex(24) + ",sam:sales:" + tokens.RandomHex(24)}
	p, err := load(secrets)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with its secrets set: %v", err)
	}
	svc := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		svc[name] = s
	}
	for _, name := range []string{"redis", "mailpit", "nurture", "worker"} {
		if _, ok := svc[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	redisCmd := strings.Join(svc["redis"].Command, " ")
	for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction", "--appendfsync everysec"} {
		if !strings.Contains(redisCmd, want) {
			t.Errorf("redis command %q lacks %s", redisCmd, want)
		}
	}
	if len(svc["redis"].Volumes) == 0 || svc["redis"].Volumes[0].Target != "/data" {
		t.Error("redis data is not on a volume")
	}
	known := map[string]bool{}
	for _, row := range envTable {
		known[row[0]] = true
	}
	mailpitPorts := map[string]bool{}
	for _, port := range svc["mailpit"].Ports {
		mailpitPorts[port.Published] = true
	}
	for _, name := range []string{"nurture", "worker"} {
		s := svc[name]
		if s.Build == nil || s.Build.Context != dir {
			t.Errorf("%s is not built from the repository", name)
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			if v == nil {
				t.Errorf("%s: %s has no value", name, k)
				continue
			}
			env[k] = *v
			if !known[k] {
				t.Errorf("%s: %s is not a setting nurture reads (see nurture worker -h)", name, k)
			}
		}
		if env["REDIS_URL"] != "redis://redis:6379/0" {
			t.Errorf("%s: REDIS_URL %q does not point at the redis service", name, env["REDIS_URL"])
		}
		if env["SMTP_HOST"] != "mailpit" || !mailpitPorts[env["SMTP_PORT"]] {
			t.Errorf("%s: SMTP %s:%s is not mailpit's SMTP port", name, env["SMTP_HOST"], env["SMTP_PORT"])
		}
		if env["NURTURE_TOKEN_KEY"] != secrets["NURTURE_TOKEN_KEY"] {
			t.Errorf("%s: NURTURE_TOKEN_KEY is %q, not the one from .env", name, env["NURTURE_TOKEN_KEY"])
		}
		cfg, err := readEngineConfig(func(k string) string { return env[k] })
		if err == nil {
			err = checkTokenKey(cfg.TokenKey)
		}
		if err != nil {
			t.Errorf("%s: the binary rejects this environment: %v", name, err)
		}
		if cfg.CadenceDir != "/etc/nurture/cadences" {
			t.Errorf("%s: cadences from %q", name, cfg.CadenceDir)
		}
		if _, ok := s.DependsOn["redis"]; !ok {
			t.Errorf("%s does not wait for redis", name)
		}
	}
	if got := strings.Join(svc["nurture"].Command, " "); !strings.HasPrefix(got, "serve") || !strings.Contains(got, "--no-worker") {
		t.Errorf("nurture service runs %q", got)
	}
	if toks, err := parseAPITokens(*svc["nurture"].Environment["NURTURE_API_TOKENS"]); err != nil || checkAPITokens(toks) != nil {
		t.Errorf("NURTURE_API_TOKENS: %v %v", err, checkAPITokens(toks))
	}
	checkComposeOperations(t, svc)
	if got := strings.Join(svc["worker"].Command, " "); !strings.HasPrefix(got, "worker") {
		t.Errorf("worker service runs %q", got)
	}
	if svc["worker"].Deploy == nil || svc["worker"].Deploy.Replicas == nil || *svc["worker"].Deploy.Replicas < 2 {
		t.Error("run at least two workers")
	}
	published := false
	for _, port := range svc["nurture"].Ports {
		published = published || (port.Target == 8080 && port.Published == "8080")
	}
	if !published {
		t.Error("the API/dashboard port 8080 is not published")
	}
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COPY examples/*.yaml /etc/nurture/cadences/", "./cmd/nurture", "-tags timetzdata", `ENTRYPOINT ["/usr/local/bin/nurture"]`, "AS build"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// checkComposeOperations checks what keeps the stack up: a restart policy
// everywhere, and health checks on /readyz that probe the address each
// nurture process actually listens on.
func checkComposeOperations(t *testing.T, svc map[string]types.ServiceConfig) {
	t.Helper()
	for name, s := range svc {
		if s.Restart != "unless-stopped" && s.Restart != "always" {
			t.Errorf("%s: restart policy %q; want unless-stopped", name, s.Restart)
		}
	}
	for name, port := range map[string]string{"nurture": "8080", "worker": "9464"} {
		s := svc[name]
		if s.HealthCheck == nil {
			t.Errorf("%s has no health check", name)
			continue
		}
		test := strings.Join(s.HealthCheck.Test, " ")
		want := "CMD /usr/local/bin/nurture health http://127.0.0.1:" + port + "/readyz"
		if test != want {
			t.Errorf("%s health check %q, want %q", name, test, want)
		}
		if cmd := strings.Join(s.Command, " "); !strings.Contains(cmd, ":"+port) {
			t.Errorf("%s runs %q, which does not listen on the port its health check probes (%s)", name, cmd, port)
		}
	}
	if s := svc["nurture"]; s.DependsOn["redis"].Condition != "service_healthy" {
		t.Error("nurture does not wait for a healthy redis")
	}
}

// TestComposeSecretsAreRequired reads docker-compose.yml as text: every
// secret is ${VAR:?message} (no published fallback), optional provider
// credentials may only default to empty, and .env.example documents each
// required variable.
func TestComposeSecretsAreRequired(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatalf(".env.example: %v", err)
	}
	ref := regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}`)
	required := map[string]bool{}
	for _, m := range ref.FindAllStringSubmatch(string(raw), -1) {
		name, op, value := m[1], m[2], m[3]
		secret := strings.Contains(name, "KEY") || strings.Contains(name, "TOKEN") || strings.Contains(name, "PASSWORD") || strings.Contains(name, "SECRET")
		switch {
		case op == ":?":
			required[name] = true
			if !strings.Contains(value, ".env") {
				t.Errorf("${%s:?...}: the message %q should say where to set it", name, value)
			}
		case secret && value != "":
			t.Errorf("${%s%s%s}: a secret with a published default", name, op, value)
		}
	}
	for _, name := range []string{"NURTURE_TOKEN_KEY", "NURTURE_API_TOKENS"} {
		if !required[name] {
			t.Errorf("%s is not required with ${%s:?...}", name, name)
		}
	}
	for name := range required {
		if !regexp.MustCompile(`(?m)^` + name + `=`).Match(example) {
			t.Errorf(".env.example does not document %s", name)
		}
	}
}

// TestPlaceholderSecretsAreRefused: the binary will not run production
// mode on an example or guessable secret, and says which and why.
func TestPlaceholderSecretsAreRefused(t *testing.T) {
	for key, want := range map[string]string{
		"": "NURTURE_TOKEN_KEY is not set",
		"change-me-to-a-long-random-secret-0123456789": `contains "change-me"`,
		"0123456789abcdef":      "16 bytes, at least 32",
		strings.Repeat("s", 40): "only 1 distinct characters",
		// 32 characters but no randomness: counted characters let these in.
		"0123456789abcdef0123456789abcdef":          "repeats a 16-byte pattern",
		"password1234password1234password1234":      "repeats a 12-byte pattern",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab":          "uses only 2 distinct characters over 32 bytes",
		"abcdefghijklmnopqrstuvwxyz012345":          "evenly stepped runs",
		"00112233445566778899aabbccddeeff":          "evenly stepped runs",
		"11111111111111111111111111111111222222222": "uses only 2 distinct characters over 41 bytes",
		tokens.RandomHex(32):                        "",
		tokens.RandomHex(16):                        "", // 32 bytes as given: the key is not hex-decoded
		testTokenKey:                                "",
	} {
		err := checkTokenKey(key)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("NURTURE_TOKEN_KEY=%q: %v, want %q", key, err, want)
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "NURTURE_TOKEN_KEY ") || key != "" && strings.Contains(err.Error(), key)) {
			t.Errorf("NURTURE_TOKEN_KEY=%q: %q should name the variable and never the value", key, err)
		}
	}
	for spec, want := range map[string]string{
		"ops:admin:change-me-admin-token-0123":                                     `token "ops" contains "change-me"`,
		"ops:admin:aaaaaaaaaaaaaaaaaaaa":                                           `token "ops" uses only 1 distinct`,
		"ops:admin:" + tokens.RandomHex(24):                                        "",
		"ops:admin:" + tokens.RandomHex(24) + ",sam:sales:CHANGEME-please-0000000": `token "sam" contains "changeme"`,
		"ops:admin:short-secret":                                                   `token "ops" is 12 characters, at least 16`,
		"ops:admin:0123456789abcdef":                                               `token "ops" is mostly evenly stepped runs`,
		"ops:admin:" + tokens.RandomHex(12) + ",sam:sales:Tr0ub4dor&3Tr0ub4dor&3":  `token "sam" repeats a 11-byte pattern`,
		"ops:admin:aaaaaaaaaaaaaaaab":                                              `token "ops" uses only 2 distinct characters over 17 bytes`,
		"ops:admin:" + tokens.RandomHex(8) + ",sam:sales:sam-secret-0123456789":    "",
	} {
		toks, err := parseAPITokens(spec)
		if err == nil {
			err = checkAPITokens(toks)
		}
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("NURTURE_API_TOKENS=%q: %v, want %q", spec, err, want)
		}
		for _, tok := range toks {
			if err != nil && strings.Contains(err.Error(), tok.Secret) {
				t.Errorf("NURTURE_API_TOKENS=%q: %q echoes a secret", spec, err)
			}
		}
	}
	// The worker refuses before it connects anywhere.
	err := run(context.Background(), []string{"worker"}, func(k string) string {
		return map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "NURTURE_TOKEN_KEY": "change-me-to-a-long-random-secret-0123456789"}[k]
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "NURTURE_TOKEN_KEY") {
		t.Errorf("worker with a placeholder key: %v", err)
	}
}

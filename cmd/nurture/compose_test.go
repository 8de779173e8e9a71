package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestDockerComposeMatchesTheBinary loads docker-compose.yml with the
// Compose reference loader (no Docker engine here) and checks that it
// wires what the binary expects.
func TestDockerComposeMatchesTheBinary(t *testing.T) {
	dir, _ := filepath.Abs("../..")
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("nurture", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
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
		if len(env["NURTURE_TOKEN_KEY"]) < 32 {
			t.Errorf("%s: NURTURE_TOKEN_KEY default is shorter than the 32 bytes the binary requires", name)
		}
		cfg, err := readEngineConfig(func(k string) string { return env[k] })
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
	if _, err := parseAPITokens(*svc["nurture"].Environment["NURTURE_API_TOKENS"]); err != nil {
		t.Errorf("NURTURE_API_TOKENS: %v", err)
	}
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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nurture-dev/nurture/cadence"
	"github.com/nurture-dev/nurture/channels"
	"github.com/nurture-dev/nurture/internal/enginetest"
	"github.com/nurture-dev/nurture/internal/redistest"
	"github.com/nurture-dev/nurture/server"
	"github.com/nurture-dev/nurture/store"
	"github.com/nurture-dev/nurture/tokens"
	"github.com/nurture-dev/nurture/worker"
)

// BenchmarkImport measures enrollment ingest through the two bulk paths
// a user has: one CSV POSTed to /v1/enrollments/bulk, and `nurture import`
// (the CLI reads the file and sends it in chunks). Both run against a real
// HTTP server and Redis; N = 100,000 (NURTURE_BENCH_N overrides, -short
// uses 5,000).
func BenchmarkImport(b *testing.B) {
	def := 100000
	if testing.Short() {
		def = 5000
	}
	n := envInt(b, "NURTURE_BENCH_N", def)
	for i := 0; i < b.N; i++ {
		rdb, prefix := redistest.Client(b)
		c, err := cadence.Parse("import.yaml", []byte(enginetest.EmailCadence("import", "3d", "3d", "3d")))
		if err != nil {
			b.Fatal(err)
		}
		ob, _ := channels.NewOutbox("", 1, time.Now)
		signer, _ := tokens.NewSigner([]byte(testTokenKey))
		e, err := worker.New(worker.Config{Store: store.New(rdb, prefix), Cadences: map[string]*cadence.Cadence{c.ID: c}, Email: ob, SMS: ob, Tokens: signer, PublicURL: "https://n.example"})
		if err != nil {
			b.Fatal(err)
		}
		const token = "import-admin-token-0123456789"
		srv, err := server.New(server.Config{Engine: e, PublicURL: "https://n.example", Tokens: []server.Token{{Name: "ops", Role: server.RoleAdmin, Secret: token}}})
		if err != nil {
			b.Fatal(err)
		}
		ts := httptest.NewServer(srv)

		csvFile := func(tag string, phoneBase int) []byte {
			var buf bytes.Buffer
			buf.WriteString("email,first_name,company,phone,plan,region\n")
			for j := 0; j < n; j++ {
				fmt.Fprintf(&buf, "%s%d@example.com,Ada,Analytical %d,+1312%07d,pro,emea\n", tag, j, j%97, phoneBase+j)
			}
			return buf.Bytes()
		}

		// The bulk API: one request with the whole file.
		body := csvFile("api", 2000000)
		t0 := time.Now()
		req, _ := http.NewRequest("POST", ts.URL+"/v1/enrollments/bulk?cadence="+c.ID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		apiWall := time.Since(t0)
		var res struct {
			Enrolled int `json:"enrolled"`
		}
		if err := json.Unmarshal(out, &res); err != nil || resp.StatusCode != 200 || res.Enrolled != n {
			b.Fatalf("bulk API: %d %s", resp.StatusCode, out)
		}

		// The CLI, on a file of other prospects.
		path := filepath.Join(b.TempDir(), "prospects.csv")
		if err := os.WriteFile(path, csvFile("cli", 5000000), 0o644); err != nil {
			b.Fatal(err)
		}
		env := map[string]string{"NURTURE_API_URL": ts.URL, "NURTURE_API_TOKEN": token}
		var stdout, stderr bytes.Buffer
		t0 = time.Now()
		if err := run(context.Background(), []string{"import", path, "--cadence", c.ID}, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
			b.Fatalf("import: %v\n%s\n%.2000s", err, stderr.String(), stdout.String())
		}
		cliWall := time.Since(t0)
		ts.Close()
		stats, _ := e.Stats(context.Background(), c.ID)
		if stats["state:active"] != int64(2*n) {
			b.Fatalf("%d active enrollments, want %d", stats["state:active"], 2*n)
		}
		api, cli := float64(n)/apiWall.Seconds(), float64(n)/cliWall.Seconds()
		b.ReportMetric(api, "bulk-api-enrollments/s")
		b.ReportMetric(cli, "cli-import-enrollments/s")
		b.Logf("N=%d: bulk API %.0f enrollments/s (%v, %.1f MB CSV); nurture import %.0f enrollments/s (%v)", n, api, apiWall.Round(time.Millisecond), float64(len(body))/1e6, cli, cliWall.Round(time.Millisecond))
	}
}

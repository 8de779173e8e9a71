package cadence_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/nurture-dev/nurture/cadence"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSimulateGolden(t *testing.T) {
	c, err := cadence.LoadFile("../examples/saas-trial.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 2000, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	rep.WriteText(&got, c)
	path := filepath.Join("testdata", "simulate-saas-trial.golden")
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cadence -run Golden -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("simulation output differs from %s; run with -update if intended:\n%s", path, got.String())
	}
}

func TestSimulateIsDeterministicWhateverTheParallelism(t *testing.T) {
	c, err := cadence.LoadFile("testdata/ten-touch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, par := range []int{1, 3, 8} {
		rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 3000, Seed: 42, Parallel: par})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		rep.WriteText(&b, c)
		outs = append(outs, b.String())
	}
	if outs[0] != outs[1] || outs[1] != outs[2] {
		t.Fatal("reports differ with parallelism")
	}
	rep, _ := cadence.Simulate(c, cadence.SimConfig{Prospects: 3000, Seed: 43})
	var b bytes.Buffer
	rep.WriteText(&b, c)
	if b.String() == outs[0] {
		t.Fatal("a different seed gave the same report")
	}
}

func TestSimulateRespectsTheRules(t *testing.T) {
	c, err := cadence.LoadFile("testdata/ten-touch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: 5000, Seed: 1, PhoneShare: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sends[cadence.Email] == 0 || rep.Sends[cadence.SMS] == 0 {
		t.Fatalf("no sends: %+v", rep.Sends)
	}
	if rep.Deferred["outside send window Mon,Tue,Wed,Thu,Fri 09:00-18:00"] == 0 {
		t.Errorf("expected window deferrals, got %v", rep.Deferred)
	}
	total := 0
	for _, n := range rep.Final {
		total += n
	}
	if total != 5000 {
		t.Errorf("final states account for %d of 5000 prospects: %v", total, rep.Final)
	}
	if rep.Events["machine opens"] == 0 || rep.Entered["decision"] == 0 {
		t.Errorf("engagement not simulated: %v %v", rep.Events, rep.Entered)
	}
	for _, bad := range []cadence.SimConfig{{Prospects: 10, OpenRate: 2}, {Prospects: 10, Days: -1}} {
		if _, err := cadence.Simulate(c, bad); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}

// BenchmarkSimulate1M measures the target: one million prospects
// through a ten-touch cadence. It reports prospects/s and sends/s.
func BenchmarkSimulate1M(b *testing.B) {
	c, err := cadence.LoadFile("testdata/ten-touch.yaml")
	if err != nil {
		b.Fatal(err)
	}
	n := 1_000_000
	if testing.Short() {
		n = 50_000
	}
	b.ResetTimer()
	var sends int
	for i := 0; i < b.N; i++ {
		rep, err := cadence.Simulate(c, cadence.SimConfig{Prospects: n, Seed: uint64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		sends = rep.Sends[cadence.Email] + rep.Sends[cadence.SMS]
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "prospects/s")
	b.ReportMetric(float64(sends)*float64(b.N)/b.Elapsed().Seconds(), "sends/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
}

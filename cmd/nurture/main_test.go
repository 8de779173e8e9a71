package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestValidateExamples(t *testing.T) {
	out, _, err := runCmd(t, "validate", "../../examples")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Count(out, "ok ") < 2 {
		t.Fatalf("expected every example ok:\n%s", out)
	}
}

func TestValidateReportsPositionsAndFails(t *testing.T) {
	out, errOut, err := runCmd(t, "validate", "../../cadence/testdata/bad.yaml", "../../examples/saas-trial.yaml")
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(out, "bad.yaml:3:11: timezone: unknown time zone") || !strings.Contains(out, "ok ../../examples/saas-trial.yaml") {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.Contains(errOut, "1 of 2 files have problems") {
		t.Fatalf("stderr: %s", errOut)
	}
}

func TestSimulateCommand(t *testing.T) {
	out, _, err := runCmd(t, "simulate", "../../examples/saas-trial.yaml", "--prospects", "500", "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Simulated 500 prospects through saas-trial", "Stage funnel", "awareness", "Sends per day", "Deferred"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	again, _, _ := runCmd(t, "simulate", "--prospects", "500", "--seed", "3", "../../examples/saas-trial.yaml")
	if again != out {
		t.Error("same seed, different output")
	}
	if _, _, err := runCmd(t, "simulate", "../../examples/saas-trial.yaml", "--open-rate", "3"); err == nil {
		t.Error("an open rate of 3 was accepted")
	}
}

func TestSchemaAndUsage(t *testing.T) {
	out, _, err := runCmd(t, "schema")
	if err != nil || !strings.Contains(out, `"$schema"`) {
		t.Fatalf("schema: %v %s", err, out[:min(len(out), 200)])
	}
	if _, _, err := runCmd(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v", err)
	}
}

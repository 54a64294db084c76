package labkit_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// fakeTB records what a test would print instead of failing the real test.
type fakeTB struct {
	testing.TB // nil: calling anything not overridden panics
	name       string
	logs       []string
	failed     bool
	fatal      bool
}

func (f *fakeTB) Helper()         {}
func (f *fakeTB) Name() string    { return f.name }
func (f *fakeTB) Log(args ...any) { f.logs = append(f.logs, fmt.Sprintln(args...)) }
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Errorf(format string, args ...any) { f.Logf(format, args...); f.failed = true }
func (f *fakeTB) Fatal(args ...any)                 { f.Log(args...); f.failed, f.fatal = true, true }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Logf(format, args...)
	f.failed, f.fatal = true, true
}
func (f *fakeTB) output() string { return strings.Join(f.logs, "\n") }

func TestFailureReportSaysWhatHowAndHowToRerun(t *testing.T) {
	sim := labkit.NewSim(12345)
	net := labkit.NewNet(sim)
	net.AddNode("n1", newInbox)
	net.AddNode("n2", newInbox)
	net.SetLink("n1", "n2", labkit.Link{Loss: 0.25})
	sim.RunFor(time.Second)
	net.Partition([]string{"n1"}, []string{"n2"})
	net.Env("n1").Send("n2", "vote")
	sim.RunFor(time.Second)
	net.Crash("n2")

	tb := &fakeTB{name: "TestElection/seed=12345"}
	sim.Require(tb, nil)
	if tb.failed {
		t.Fatal("Require(nil) failed the test")
	}
	sim.Require(tb, fmt.Errorf("round 3: %w", labkit.Violationf("at most one leader per term", "n1 and n2 both lead term 4")))
	out := tb.output()
	if !tb.fatal {
		t.Fatal("Require did not stop the test")
	}
	for _, want := range []string{
		"PROPERTY BROKEN: at most one leader per term",
		"n1 and n2 both lead term 4",
		"Seed: 12345",
		"Reproduce: LABKIT_SEED=12345 go test -count=1 -run '^TestElection$/^seed=12345$' ./...",
		"link n1 -> n2: latency fixed 1ms, loss 25%",
		"at 1.000000s: partition {n1} | {n2}",
		"at 2.000000s: crash n2",
		"n1 -> n2  #1 partitioned",
		"Last 5 of 5 trace events",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	tb = &fakeTB{name: "TestPlain"}
	labkit.NewSim(9).Check(tb, false, "tokens never go negative", "balance is %d", -1)
	out = tb.output()
	for _, want := range []string{"PROPERTY BROKEN: tokens never go negative", "balance is -1", "Faults injected: none", "LABKIT_SEED=9 ", "Trace: empty"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	tb = &fakeTB{name: "TestPlain"}
	labkit.NewSim(9).Require(tb, fmt.Errorf("dial: refused"))
	if !strings.Contains(tb.output(), "dial: refused") {
		t.Errorf("plain error not reported: %s", tb.output())
	}
}

func TestSeeds(t *testing.T) {
	t.Setenv(labkit.SeedEnv, "")
	a := labkit.Seed(t)
	if a != labkit.Seed(t) || a < 0 {
		t.Fatalf("default seed not stable: %d", a)
	}
	seeds := labkit.Seeds(t, 5)
	if len(seeds) != 5 || seeds[0] == seeds[1] {
		t.Fatalf("Seeds = %v", seeds)
	}
	t.Setenv(labkit.SeedEnv, "777")
	if labkit.Seed(t) != 777 || fmt.Sprint(labkit.Seeds(t, 5)) != "[777]" {
		t.Fatal("LABKIT_SEED not honoured")
	}
	var ran []string
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) { ran = append(ran, t.Name()) })
	if fmt.Sprint(ran) != "[TestSeeds/seed=777]" {
		t.Fatalf("RunSeeds ran %v", ran)
	}
	t.Setenv(labkit.SeedEnv, "12x")
	tb := &fakeTB{name: "TestX"}
	labkit.Seed(tb)
	if !tb.fatal || !strings.Contains(tb.output(), `LABKIT_SEED="12x"`) {
		t.Fatalf("bad seed not reported: %q", tb.output())
	}
}

func TestReproCommandQuotes(t *testing.T) {
	got := labkit.ReproCommand("TestKV/it's_a+b", -3)
	want := `LABKIT_SEED=-3 go test -count=1 -run '^TestKV$/^it'\''s_a\+b$' ./...`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

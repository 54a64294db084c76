package labkit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// traceTB is a testing.TB that records what a failing run logs.
type traceTB struct {
	testing.TB
	name string
	logs []string
}

func (f *traceTB) Helper()                           {}
func (f *traceTB) Name() string                      { return f.name }
func (f *traceTB) Log(args ...any)                   { f.logs = append(f.logs, fmt.Sprint(args...)) }
func (f *traceTB) Fatal(args ...any)                 { f.Log(args...) }
func (f *traceTB) Logf(format string, args ...any)   { f.Log(fmt.Sprintf(format, args...)) }
func (f *traceTB) Fatalf(format string, args ...any) { f.Logf(format, args...) }

type traceDoc struct {
	V        int
	Test     string
	Seed     int64
	Property string
	Detail   string
	At       int64
	Total    int
	Nodes    []string
	Events   [][]any
}

// traceOf returns the trace attachment a run logged, if any.
func traceOf(t *testing.T, tb *traceTB) (traceDoc, bool) {
	t.Helper()
	out := strings.Join(tb.logs, "\n")
	_, rest, ok := strings.Cut(out, traceBegin+"trace.json\n")
	if !ok {
		return traceDoc{}, false
	}
	body, _, ok := strings.Cut(rest, "\n"+svgEnd)
	if !ok || strings.Contains(body, "\n") {
		t.Fatalf("trace block not one line ended by the end marker:\n%.300s", rest)
	}
	if len(body) > MaxTraceBytes {
		t.Errorf("trace is %d bytes, over %d", len(body), MaxTraceBytes)
	}
	var d traceDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("trace is not JSON: %v\n%.300s", err, body)
	}
	return d, true
}

type echo struct{ env *Env }

func (e *echo) Handle(from string, msg any) {
	if msg == "ping" {
		e.env.Send(from, "pong")
	}
}

func reset() {
	traced.Lock()
	traced.n, traced.tests = 0, nil
	traced.Unlock()
}

// A failing run graded with LABKIT_TRACE attaches its recorded events, the
// last ones that fit, in the order they happened, with its nodes; one per
// top-level test, a few per test binary, none without the variable.
func TestFailingRunAttachesItsTrace(t *testing.T) {
	reset()
	t.Cleanup(reset)
	run := func(name string, pings int) (*Sim, *traceTB) {
		sim := NewSim(7)
		net := NewNet(sim)
		net.AddNode("n1", func(env *Env) Node { return &echo{env} })
		net.AddNode("n2", func(env *Env) Node { return &echo{env} })
		c := net.AddClient("c1", func(string, any) {})
		for i := 0; i < pings; i++ {
			sim.AfterFunc(time.Duration(i)*time.Millisecond, func() { c.Send("n1", "ping") })
		}
		sim.AfterFunc(time.Duration(pings)*time.Millisecond, func() { net.Partition([]string{"n1"}, []string{"n2", "c1"}) })
		sim.AfterFunc(time.Duration(pings+1)*time.Millisecond, func() { c.Send("n1", "ping"); net.Crash("n2") })
		sim.RunFor(time.Duration(pings+5) * time.Millisecond)
		tb := &traceTB{name: name}
		sim.Failf(tb, "every ping gets its pong", "the last ping got none")
		return sim, tb
	}

	if _, tb := run("TestQuiet/seed=7", 3); func() bool { _, ok := traceOf(t, tb); return ok }() {
		t.Fatal("a trace without " + TraceEnv)
	}
	t.Setenv(TraceEnv, "1")
	sim, tb := run("TestPing/seed=7", 3)
	d, ok := traceOf(t, tb)
	if !ok {
		t.Fatalf("no trace attached:\n%s", strings.Join(tb.logs, "\n"))
	}
	if d.Test != "TestPing/seed=7" || d.Seed != 7 || d.Property != "every ping gets its pong" || d.Detail != "the last ping got none" ||
		d.At != sim.Elapsed().Microseconds() || d.Total != sim.Trace().Total() {
		t.Errorf("trace head %+v", d)
	}
	want := sim.Trace().Events()
	if len(d.Events) != len(want) {
		t.Fatalf("%d events attached, the run recorded %d", len(d.Events), len(want))
	}
	name := func(v any) string {
		if i := int(v.(float64)); i >= 0 {
			return d.Nodes[i]
		}
		return ""
	}
	kinds := map[string]int{}
	for i, e := range d.Events {
		w := want[i]
		if int64(e[0].(float64)) != w.At.Microseconds() || e[1] != w.Kind || name(e[2]) != w.Node || name(e[3]) != w.Peer {
			t.Errorf("event %d = %v, want %v", i, e, w)
		}
		if w.Kind == KindDeliver && e[4] != strings.Fields(w.Detail)[0] {
			t.Errorf("a delivery's detail %q, want its message number of %q", e[4], w.Detail)
		} else if w.Kind != KindDeliver && e[4] != w.Detail {
			t.Errorf("event %d detail %q, want %q", i, e[4], w.Detail)
		}
		kinds[w.Kind]++
	}
	for _, k := range []string{KindSend, KindDeliver, KindPartition, KindDrop, KindCrash} {
		if kinds[k] == 0 {
			t.Errorf("the run has no %s event to check: %v", k, kinds)
		}
	}
	if strings.Join(d.Nodes, ",") != "c1,n1,n2" {
		t.Errorf("nodes %q, want them in the order they appear", d.Nodes)
	}

	// The same top-level test fails again (another seed): no second trace.
	if _, tb := run("TestPing/seed=8", 3); func() bool { _, ok := traceOf(t, tb); return ok }() {
		t.Error("a second trace for the same test")
	}
	// A long run keeps its last events within the budget.
	sim, tb = run("TestLong", 4000)
	d, ok = traceOf(t, tb)
	if !ok || len(d.Events) == 0 || len(d.Events) >= sim.Trace().Total() {
		t.Fatalf("long run: attached %v with %d of %d events", ok, len(d.Events), sim.Trace().Total())
	}
	all := sim.Trace().Events()
	last := all[len(all)-1]
	if got := d.Events[len(d.Events)-1]; int64(got[0].(float64)) != last.At.Microseconds() || got[1] != last.Kind {
		t.Errorf("the long run's trace does not end where the run did: %v, want %v", got, last)
	}
	// At most a few traces per test binary.
	run("TestThird", 3)
	if _, tb := run("TestFourth", 3); func() bool { _, ok := traceOf(t, tb); return ok }() {
		t.Errorf("more than %d traces in one test binary", maxProcessTraces)
	}
}

package testjson

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs/labkit"
)

// failTB is a logTB whose test has a name and fails.
type failTB struct {
	logTB
	name string
}

func (f *failTB) Name() string      { return f.name }
func (f *failTB) Fatal(args ...any) { f.Log(args...) }

type pinger struct{ env *labkit.Env }

func (p *pinger) Handle(from string, msg any) {
	if msg == "ping" {
		p.env.Send(from, "pong")
	}
}

// TestTraceFromLabkit lifts the trace a real labkit run attaches when a
// property breaks: the run's events, nodes and failure come through; the
// block leaves the output, a short line saying so stays.
func TestTraceFromLabkit(t *testing.T) {
	t.Setenv(labkit.TraceEnv, "1")
	sim := labkit.NewSim(42)
	net := labkit.NewNet(sim)
	net.AddNode("n1", func(env *labkit.Env) labkit.Node { return &pinger{env} })
	c := net.AddClient("c1", func(string, any) {})
	sim.AfterFunc(0, func() { c.Send("n1", "ping") })
	sim.AfterFunc(time.Millisecond, func() { net.Crash("n1"); c.Send("n1", "ping") })
	sim.RunFor(10 * time.Millisecond)
	tb := &failTB{logTB: logTB{TB: t}, name: "TestPingTraced/seed=42"}
	sim.Failf(tb, "every ping gets its pong", "n1 crashed")

	out, found := lift(true, "=== RUN   TestPingTraced\n"+tb.out.String())
	if len(found) != 1 || found[0].Trace == nil || found[0].SVG != "" {
		t.Fatalf("found %+v, want one trace", found)
	}
	rt := found[0].Trace
	if rt.Test != "TestPingTraced/seed=42" || rt.Seed != 42 || rt.Property != "every ping gets its pong" || rt.Detail != "n1 crashed" ||
		rt.At != sim.Elapsed() || rt.Total != sim.Trace().Total() {
		t.Errorf("trace head %+v", rt)
	}
	want := sim.Trace().Events()
	if len(rt.Events) != len(want) {
		t.Fatalf("%d events lifted, the run recorded %d", len(rt.Events), len(want))
	}
	for i, e := range rt.Events {
		w := want[i]
		if e.At != w.At || e.Kind != w.Kind || e.Node != w.Node || e.Peer != w.Peer {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	if strings.Contains(out, "labkit:trace") || strings.Contains(out, `"events"`) {
		t.Errorf("the trace block is left in the output:\n%s", out)
	}
	if !strings.Contains(out, "[trace of TestPingTraced/seed=42: explore it with the result]") || !strings.Contains(out, "PROPERTY BROKEN") {
		t.Errorf("output:\n%s", out)
	}
}

// Bodies that are not a labkit trace are left out with a note, never kept;
// a test keeps one trace; a trace does not count among its pictures.
func TestTraceBlocksChecked(t *testing.T) {
	block := func(body string) string {
		return "--- labkit:trace name=trace.json\n" + body + "\n--- labkit:end\n"
	}
	good := `{"v":1,"test":"TestX/seed=1","seed":1,"property":"p","detail":"d","at":5,"total":2,"nodes":["a","b"],"events":[[1,"send",0,1,"#1 m"],[2,"deliver",0,1,"#1"]]}`
	for name, body := range map[string]string{
		"not JSON":            "{nope",
		"another version":     strings.Replace(good, `"v":1`, `"v":2`, 1),
		"a node out of range": strings.Replace(good, `[2,"deliver",0,1,"#1"]`, `[2,"deliver",0,7,"#1"]`, 1),
		"time going back":     strings.Replace(good, `[2,"deliver"`, `[0,"deliver"`, 1),
		"a kind of markup":    strings.Replace(good, `"send"`, `"<script>"`, 1),
		"fewer total":         strings.Replace(good, `"total":2`, `"total":1`, 1),
		"too large":           strings.Replace(good, `"d"`, `"`+strings.Repeat("x", faultline.MaxTraceBytes)+`"`, 1),
	} {
		out, found := lift(true, block(body))
		if len(found) != 0 || !strings.Contains(out, "left out") {
			t.Errorf("%s: found %v, output %q", name, found, out)
		}
	}
	out, found := lift(true, block(good)+block(strings.Replace(good, "TestX/seed=1", "TestX/seed=2", 1)))
	if len(found) != 1 || found[0].Trace.Test != "TestX/seed=1" || !strings.Contains(out, "a test keeps one") {
		t.Errorf("two traces: found %v, output %q", found, out)
	}
	if _, found := lift(false, block(good)); len(found) != 0 {
		t.Error("a trace kept where nothing is kept")
	}
	var text strings.Builder
	text.WriteString(block(good))
	for i := 0; i < faultline.MaxTestAttachments; i++ {
		text.WriteString(fmt.Sprintf("--- labkit:svg name=p%d.svg\n%s\n--- labkit:end\n", i, pic))
	}
	if _, found := lift(true, text.String()); len(found) != faultline.MaxTestAttachments+1 {
		t.Errorf("a trace and %d pictures: kept %d", faultline.MaxTestAttachments, len(found))
	}
}

// The traces of a whole result are capped: the last tests' go first, with
// a note; pictures are capped on their own.
func TestResultTracesCapped(t *testing.T) {
	big := &faultline.RunTrace{Test: "TestX/seed=1", Detail: strings.Repeat("x", faultline.MaxResultTraceBytes/3)}
	var tests []faultline.TestResult
	for i := 0; i < 5; i++ {
		tests = append(tests, faultline.TestResult{Name: fmt.Sprint("Test", i), Attachments: []faultline.Attachment{
			{Name: "trace.json", Trace: big}, {Name: "p.svg", SVG: pic},
		}})
	}
	capAttachments(tests)
	kept := 0
	for i, tr := range tests {
		has := len(tr.Attachments) == 2
		if has {
			kept++
		} else if len(tr.Attachments) != 1 || tr.Attachments[0].SVG != pic || !strings.Contains(tr.Output, "traces are capped") {
			t.Errorf("test %d after the cap: %+v, output %q", i, tr.Attachments, tr.Output)
		}
		if has && i > 0 && len(tests[i-1].Attachments) != 2 {
			t.Errorf("test %d kept its trace after an earlier test lost it", i)
		}
	}
	if kept == 0 || kept == 5 {
		t.Errorf("%d of 5 traces kept; want the first ones within %d KiB", kept, faultline.MaxResultTraceBytes>>10)
	}
}

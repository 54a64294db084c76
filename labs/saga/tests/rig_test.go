package saga

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// This file is a small version of the harness the graded tests use: your
// real node (orchestrator or participant) on labkit's simulated network,
// with fake peers whose messages the test reads and answers by hand.

const testOrch = "orchestrator"

var testRetry = 50 * time.Millisecond

type testEnv struct {
	e      *labkit.Env
	onSend func(to string, msg any)
}

func (a testEnv) Name() string { return a.e.Name() }
func (a testEnv) Disk() Disk   { return a.e.Disk() }
func (a testEnv) After(d time.Duration, fn func()) Timer {
	return a.e.After(d, "retry timer", fn)
}
func (a testEnv) Send(to string, msg any) {
	if a.onSend != nil && a.e.Alive() {
		a.onSend(to, msg)
	}
	a.e.Send(to, msg)
}

type nopTimer struct{}

func (nopTimer) Stop() bool { return false }

// readEnv lets the tests build an orchestrator on a copy of a disk just to
// read its log.
type readEnv struct{ d *labkit.Disk }

func (readEnv) Name() string                      { return testOrch }
func (readEnv) Send(string, any)                  {}
func (readEnv) After(time.Duration, func()) Timer { return nopTimer{} }
func (e readEnv) Disk() Disk                      { return e.d }

type testRig struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	inbox map[string][]any
	fakes []string
	svc   *countingService
	err   error
}

func newTestRig(t *testing.T, fakes ...string) *testRig {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	r := &testRig{t: t, sim: sim, net: net, inbox: map[string][]any{}, fakes: fakes}
	for _, f := range fakes {
		net.AddClient(f, func(from string, msg any) { r.inbox[f] = append(r.inbox[f], msg) })
	}
	return r
}

// addOrchestrator adds your orchestrator. Every command it sends is checked
// against its log: an orchestrator rebuilt from the disk at that moment
// must report the saga at that step.
func (r *testRig) addOrchestrator() *testRig {
	r.net.AddNode(testOrch, func(e *labkit.Env) labkit.Node {
		return NewOrchestrator(testEnv{e: e, onSend: func(to string, msg any) {
			var id string
			var want Status
			switch m := msg.(type) {
			case Do:
				id, want = m.Saga, Status{State: Running, Step: m.Step}
			case Undo:
				id, want = m.Saga, Status{State: Compensating, Step: m.Step}
			}
			snap := labkit.NewDisk()
			for _, k := range r.net.Disk(testOrch).Keys("") {
				v, _ := r.net.Disk(testOrch).Get(k)
				snap.Put(k, v)
			}
			if got := NewOrchestrator(readEnv{snap}, Config{RetryAfter: testRetry}).Status(id); got != want && r.err == nil {
				r.err = labkit.Violationf("the log is written before the command is sent",
					"sent %+v to %s, but the log on disk says %+v, not %+v", msg, to, got, want)
				r.sim.Stop()
			}
		}}, Config{RetryAfter: testRetry})
	})
	return r
}

// addParticipant adds your participant "p", whose service refuses the
// "saga/step" keys in refuse.
func (r *testRig) addParticipant(refuse ...string) *testRig {
	r.svc = &countingService{refuse: refuse}
	r.net.AddNode("p", func(e *labkit.Env) labkit.Node { return NewParticipant(testEnv{e: e}, r.svc) })
	return r
}

func (r *testRig) orchestrator() *Orchestrator { return r.net.Node(testOrch).(*Orchestrator) }

func (r *testRig) run(d time.Duration) {
	r.t.Helper()
	r.sim.RunFor(d)
	r.sim.Require(r.t, r.err)
}

// expect runs 5ms and checks that node received exactly want.
func (r *testRig) expect(node string, want any, property string) {
	r.t.Helper()
	r.run(5 * time.Millisecond)
	got := r.inbox[node]
	r.inbox[node] = nil
	r.sim.Check(r.t, len(got) == 1 && got[0] == want, property, "%s received %v; want %+v", node, got, want)
}

// quiet checks that no fake received anything since the last expect.
func (r *testRig) quiet(property string) {
	r.t.Helper()
	for _, f := range r.fakes {
		r.sim.Check(r.t, len(r.inbox[f]) == 0, property, "%s received %v; want nothing", f, r.inbox[f])
	}
}

func (r *testRig) status(id string, want Status, property string) {
	r.t.Helper()
	got := r.orchestrator().Status(id)
	if want.State != Running && want.State != Compensating {
		got.Step = want.Step // Step only counts while running or compensating
	}
	r.sim.Check(r.t, got == want, property, "Status(%q) = %+v, want %+v", id, got, want)
}

type countingService struct {
	refuse []string
	dos    []string
	undos  []string
}

func (s *countingService) Do(id string, step int) bool {
	k := fmt.Sprintf("%s/%d", id, step)
	s.dos = append(s.dos, k)
	return !slices.Contains(s.refuse, k)
}

func (s *countingService) Undo(id string, step int) {
	s.undos = append(s.undos, fmt.Sprintf("%s/%d", id, step))
}

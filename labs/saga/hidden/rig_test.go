package hidden

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/saga"
)

// rig is a scripted world: one real node (the learner's orchestrator or one
// participant) and fake peers whose messages the test reads and answers by
// hand, over 1ms links with no loss.
type rig struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	inbox map[string][]any
	fakes []string
	sagas map[string][]string
	svc   *recSvc
	err   error
}

func newRig(t *testing.T, fakes ...string) *rig {
	t.Helper()
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = describe
	r := &rig{t: t, sim: sim, net: net, inbox: map[string][]any{}, fakes: fakes, sagas: map[string][]string{}}
	for _, f := range fakes {
		net.AddClient(f, func(from string, msg any) { r.inbox[f] = append(r.inbox[f], msg) })
	}
	return r
}

// withOrchestrator adds the learner's orchestrator.
func (r *rig) withOrchestrator() *rig {
	r.net.AddNode(orch, func(e *labkit.Env) labkit.Node {
		return saga.NewOrchestrator(env{e: e, onSend: func(to string, msg any) {
			if err := writeAhead(r.net, func(id string) []string { return r.sagas[id] }, to, msg); err != nil {
				r.fail(err)
			}
		}}, saga.Config{RetryAfter: retryAfter})
	})
	return r
}

// withParticipant adds the learner's participant "p" on a recording service.
func (r *rig) withParticipant(refuse ...string) *rig {
	r.svc = &recSvc{refuse: map[string]bool{}}
	for _, k := range refuse {
		r.svc.refuse[k] = true
	}
	r.net.AddNode("p", func(e *labkit.Env) labkit.Node { return saga.NewParticipant(env{e: e}, r.svc) })
	return r
}

func (r *rig) fail(err error) {
	if r.err == nil {
		r.err = err
		r.sim.Stop()
	}
}

func (r *rig) o() *saga.Orchestrator {
	r.t.Helper()
	n := r.net.Node(orch)
	if n == nil {
		r.sim.Failf(r.t, "the test harness works", "the orchestrator is down")
	}
	return n.(*saga.Orchestrator)
}

func (r *rig) begin(id string, steps ...string) {
	r.t.Helper()
	r.sagas[id] = steps
	r.sim.Logf("test: Begin(%s, steps %v)", id, steps)
	r.o().Begin(saga.Saga{ID: id, Steps: slices.Clone(steps)})
	r.sim.Require(r.t, r.err)
}

func (r *rig) run(d time.Duration) {
	r.t.Helper()
	r.sim.RunFor(d)
	r.sim.Require(r.t, r.err)
}

func (r *rig) take(node string) []any {
	got := r.inbox[node]
	r.inbox[node] = nil
	return got
}

// reply sends msg from a fake node to the real one.
func (r *rig) reply(from, to string, msg any) { r.net.Send(from, to, msg) }

// expect runs 5ms and checks that node received want (one or more copies
// of it) and nothing else.
func (r *rig) expect(node string, want any, property string) {
	r.t.Helper()
	r.run(5 * time.Millisecond)
	got := r.take(node)
	ok := len(got) > 0
	for _, m := range got {
		ok = ok && m == want
	}
	r.sim.Check(r.t, ok, property, "%s received %s; want %s", node, describeAll(got), describe(want))
}

// quiet checks that no fake received anything since the last take.
func (r *rig) quiet(property string) {
	r.t.Helper()
	for _, f := range r.fakes {
		got := r.take(f)
		r.sim.Check(r.t, len(got) == 0, property, "%s received %s; want nothing", f, describeAll(got))
	}
}

func (r *rig) status(id string, want saga.Status, property string) {
	r.t.Helper()
	got := r.o().Status(id)
	r.sim.Check(r.t, sameStatus(got, want), property, "Status(%q) = %s, want %s", id, statusString(got), statusString(want))
}

func running(step int) saga.Status      { return saga.Status{State: saga.Running, Step: step} }
func compensating(step int) saga.Status { return saga.Status{State: saga.Compensating, Step: step} }

var (
	committed   = saga.Status{State: saga.Committed}
	compensated = saga.Status{State: saga.Compensated}
)

// recSvc is a participant's service for the hand-driven tests: it records
// every call and refuses the "saga/step" keys in refuse.
type recSvc struct {
	refuse map[string]bool
	dos    []string
	undos  []string
}

func (s *recSvc) Do(id string, step int) bool {
	k := fmt.Sprintf("%s/%d", id, step)
	s.dos = append(s.dos, k)
	return !s.refuse[k]
}

func (s *recSvc) Undo(id string, step int) {
	s.undos = append(s.undos, fmt.Sprintf("%s/%d", id, step))
}

// ask sends cmd from the fake orchestrator "o" to participant "p" and checks
// the one reply.
func (r *rig) ask(cmd, want any, property string) {
	r.t.Helper()
	r.reply("o", "p", cmd)
	r.run(5 * time.Millisecond)
	got := r.take("o")
	r.sim.Check(r.t, len(got) == 1 && got[0] == want, property,
		"the participant was sent %s and answered %s; want exactly %s", describe(cmd), describeAll(got), describe(want))
}

// calls checks the service calls the participant made so far.
func (r *rig) calls(dos, undos []string, property string) {
	r.t.Helper()
	r.sim.Check(r.t, slices.Equal(r.svc.dos, dos) && slices.Equal(r.svc.undos, undos), property,
		"the participant called Service.Do for %v and Service.Undo for %v; want Do for %v and Undo for %v",
		r.svc.dos, r.svc.undos, dos, undos)
}

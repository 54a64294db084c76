package hidden

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	tpc "faultline.dev/labs/twophasecommit"
)

// rig is a scripted world: one real node (the learner's coordinator or one
// participant) and fake peers whose messages the test reads and sends by
// hand, over 1ms links with no loss.
type rig struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	cfg   tpc.Config
	inbox map[string][]any
	fakes []string
	ds    *disks
	part  string  // the real participant's name
	svc   *recSvc // its service
	err   error

	// crashAt > 0 crashes the coordinator as it is about to send its
	// crashAt-th Decision (counted from the last arming), after its log
	// was written: that copy and every later one of the call are lost.
	crashAt   int
	decisions int
}

func newRig(t *testing.T, fakes ...string) *rig {
	t.Helper()
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = describe
	r := &rig{t: t, sim: sim, net: net, cfg: cfg, inbox: map[string][]any{}, fakes: fakes, ds: newDisks(net)}
	for _, f := range fakes {
		net.AddClient(f, func(from string, msg any) { r.inbox[f] = append(r.inbox[f], msg) })
	}
	return r
}

func (r *rig) withConfig(c tpc.Config) *rig { r.cfg = c; return r }

// withCoordinator adds the learner's coordinator. Every message it sends is
// checked against its log.
func (r *rig) withCoordinator() *rig {
	r.net.AddNode(coord, func(e *labkit.Env) labkit.Node {
		return tpc.NewCoordinator(env{e: e, ds: r.ds, onSend: func(to string, msg any) {
			if err := coordWriteAhead(r.ds, to, msg); err != nil {
				r.fail(err)
			}
			if _, ok := msg.(tpc.Decision); ok && r.crashAt > 0 {
				r.decisions++
				if r.decisions == r.crashAt {
					r.crashAt = 0
					r.sim.Logf("test: the coordinator crashes as it sends %s to %s", describe(msg), to)
					r.net.Crash(coord)
				}
			}
		}}, r.cfg)
	})
	return r
}

// withParticipant adds the learner's participant name on a recording
// service that refuses the transactions in refuse. Every message it sends is
// checked against its disk.
func (r *rig) withParticipant(name string, refuse ...string) *rig {
	r.part = name
	r.svc = &recSvc{refuse: map[string]bool{}}
	for _, id := range refuse {
		r.svc.refuse[id] = true
	}
	r.net.AddNode(name, func(e *labkit.Env) labkit.Node {
		return tpc.NewParticipant(env{e: e, ds: r.ds, onSend: func(to string, msg any) {
			if err := partWriteAhead(r.ds, name, to, msg); err != nil {
				r.fail(err)
			}
		}}, r.cfg, r.svc)
	})
	return r
}

func (r *rig) fail(err error) {
	if r.err == nil {
		r.err = err
		r.sim.Stop()
	}
}

func (r *rig) c() *tpc.Coordinator {
	r.t.Helper()
	n := r.net.Node(coord)
	if n == nil {
		r.sim.Failf(r.t, "the test harness works", "the coordinator is down")
	}
	return n.(*tpc.Coordinator)
}

func (r *rig) p() *tpc.Participant {
	r.t.Helper()
	n := r.net.Node(r.part)
	if n == nil {
		r.sim.Failf(r.t, "the test harness works", "%s is down", r.part)
	}
	return n.(*tpc.Participant)
}

func (r *rig) begin(id string, parts ...string) {
	r.t.Helper()
	r.sim.Logf("test: Begin(%s, participants %v)", id, parts)
	r.c().Begin(tpc.Tx{ID: id, Participants: slices.Clone(parts)})
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

// send sends msg from a fake node to the real one.
func (r *rig) send(from, to string, msg any) { r.net.Send(from, to, msg) }

// expect runs 5ms and checks that node received exactly one copy of want
// and nothing else.
func (r *rig) expect(node string, want any, property string) {
	r.t.Helper()
	r.run(5 * time.Millisecond)
	got := r.take(node)
	r.sim.Check(r.t, len(got) == 1 && same(got[0], want), property, "%s received %s; want exactly %s", node, describeAll(got), describe(want))
}

// expectAll runs 5ms and checks that every node in nodes received exactly
// one copy of want, and the other fakes nothing.
func (r *rig) expectAll(nodes []string, want any, property string) {
	r.t.Helper()
	r.run(5 * time.Millisecond)
	for _, f := range r.fakes {
		got := r.take(f)
		if slices.Contains(nodes, f) {
			r.sim.Check(r.t, len(got) == 1 && same(got[0], want), property, "%s received %s; want exactly %s", f, describeAll(got), describe(want))
		} else {
			r.sim.Check(r.t, len(got) == 0, property, "%s received %s; want nothing", f, describeAll(got))
		}
	}
}

// quiet checks that no fake received anything since the last take.
func (r *rig) quiet(property string) {
	r.t.Helper()
	for _, f := range r.fakes {
		got := r.take(f)
		r.sim.Check(r.t, len(got) == 0, property, "%s received %s; want nothing", f, describeAll(got))
	}
}

// ask sends msg from fake to the real participant, runs 5ms and checks
// that exactly want came back (nil: nothing).
func (r *rig) ask(from string, msg, want any, property string) {
	r.t.Helper()
	r.send(from, r.part, msg)
	r.run(5 * time.Millisecond)
	got := r.take(from)
	if want == nil {
		r.sim.Check(r.t, len(got) == 0, property, "%s sent %s to %s and got back %s; want nothing", from, describe(msg), r.part, describeAll(got))
		return
	}
	r.sim.Check(r.t, len(got) == 1 && same(got[0], want), property,
		"%s sent %s to %s and got back %s; want exactly %s", from, describe(msg), r.part, describeAll(got), describe(want))
}

func (r *rig) status(id string, want tpc.State, property string) {
	r.t.Helper()
	var got tpc.State
	who := coord
	if r.part != "" {
		got, who = r.p().Status(id), r.part
	} else {
		got = r.c().Status(id)
	}
	r.sim.Check(r.t, got == want, property, "%s: Status(%q) = %s, want %s", who, id, got, want)
}

// calls checks the service calls the participant made so far.
func (r *rig) calls(property string, want ...string) {
	r.t.Helper()
	r.sim.Check(r.t, slices.Equal(r.svc.calls, want), property,
		"the participant's service was called as [%s]; want [%s]", strings.Join(r.svc.calls, ", "), strings.Join(want, ", "))
}

// count returns how many copies of want are in msgs, and the other messages.
func count(msgs []any, want any) (n int, other []any) {
	for _, m := range msgs {
		if same(m, want) {
			n++
		} else {
			other = append(other, m)
		}
	}
	return n, other
}

// recSvc is a participant's service for the scripted tests: it records every
// call and refuses the transactions in refuse. Asked to prepare the same
// transaction again, it gives the other answer, so a vote that is not taken
// from the record changes.
type recSvc struct {
	refuse   map[string]bool
	prepared map[string]bool
	calls    []string
}

func (s *recSvc) Prepare(tx string) bool {
	s.calls = append(s.calls, "Prepare "+tx)
	if s.prepared == nil {
		s.prepared = map[string]bool{}
	}
	yes := !s.refuse[tx]
	if s.prepared[tx] {
		yes = !yes
	}
	s.prepared[tx] = true
	return yes
}

func (s *recSvc) Commit(tx string) { s.calls = append(s.calls, "Commit "+tx) }
func (s *recSvc) Abort(tx string)  { s.calls = append(s.calls, "Abort "+tx) }

func prepare(id string, parts ...string) tpc.Prepare {
	return tpc.Prepare{Tx: id, Participants: parts}
}
func yes(id string) tpc.Vote        { return tpc.Vote{Tx: id, Yes: true} }
func no(id string) tpc.Vote         { return tpc.Vote{Tx: id} }
func commit(id string) tpc.Decision { return tpc.Decision{Tx: id, Commit: true} }
func abort(id string) tpc.Decision  { return tpc.Decision{Tx: id} }
func query(id string) tpc.Query     { return tpc.Query{Tx: id} }
func ms(n int) time.Duration        { return time.Duration(n) * time.Millisecond }
func label(id, node string) string  { return fmt.Sprintf("%s@%s", id, node) }

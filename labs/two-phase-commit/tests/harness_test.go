package twophasecommit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// This file is a small version of the harness the graded tests use: your
// real nodes on labkit's simulated network, and fake peers whose messages
// the test reads and sends by hand.

const labCoord = "coordinator"

var labCfg = Config{VoteTimeout: 100 * time.Millisecond, RetryAfter: 50 * time.Millisecond}

// labEnv adapts labkit's node environment to Env. onSend sees every message
// before it leaves and may crash the node instead (then nothing the node
// does for the rest of that call reaches the network or the disk).
type labEnv struct {
	e      *labkit.Env
	onSend func(to string, msg any)
}

func (a labEnv) Name() string { return a.e.Name() }
func (a labEnv) Disk() Disk   { return labDisk{a.e} }
func (a labEnv) After(d time.Duration, fn func()) Timer {
	return a.e.After(d, "timer", fn)
}
func (a labEnv) Send(to string, msg any) {
	if !a.e.Alive() {
		return
	}
	if a.onSend != nil {
		a.onSend(to, msg)
	}
	a.e.Send(to, msg)
}

type labDisk struct{ e *labkit.Env }

func (d labDisk) Get(key string) ([]byte, bool) { return d.e.Disk().Get(key) }
func (d labDisk) Keys(prefix string) []string   { return d.e.Disk().Keys(prefix) }
func (d labDisk) Put(key string, value []byte) {
	if d.e.Alive() {
		d.e.Disk().Put(key, value)
	}
}
func (d labDisk) Delete(key string) {
	if d.e.Alive() {
		d.e.Disk().Delete(key)
	}
}

func labDescribe(msg any) string {
	switch m := msg.(type) {
	case Prepare:
		return fmt.Sprintf("Prepare{%s, %s}", m.Tx, strings.Join(m.Participants, " "))
	case Vote:
		return fmt.Sprintf("Vote{%s, yes=%v}", m.Tx, m.Yes)
	case Decision:
		return fmt.Sprintf("Decision{%s, commit=%v}", m.Tx, m.Commit)
	case Query:
		return fmt.Sprintf("Query{%s}", m.Tx)
	}
	return labkit.Describe(msg)
}

// labRig is one real node (coordinator or participant) and fake peers.
type labRig struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	inbox map[string][]any
	svc   *labService
}

func newLabRig(t *testing.T, fakes ...string) *labRig {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = labDescribe
	r := &labRig{t: t, sim: sim, net: net, inbox: map[string][]any{}}
	for _, f := range fakes {
		net.AddClient(f, func(from string, msg any) { r.inbox[f] = append(r.inbox[f], msg) })
	}
	return r
}

func (r *labRig) coordinator() *Coordinator { return r.net.Node(labCoord).(*Coordinator) }

// expect runs 5ms and checks that node received exactly want.
func (r *labRig) expect(node string, want any, property string) {
	r.t.Helper()
	r.sim.RunFor(5 * time.Millisecond)
	got := r.inbox[node]
	r.inbox[node] = nil
	ok := len(got) == 1 && labDescribe(got[0]) == labDescribe(want)
	var seen []string
	for _, m := range got {
		seen = append(seen, labDescribe(m))
	}
	r.sim.Check(r.t, ok, property, "%s received [%s]; want exactly %s", node, strings.Join(seen, ", "), labDescribe(want))
}

// labService records the calls a participant makes.
type labService struct {
	refuse []string
	calls  []string
}

func (s *labService) Prepare(tx string) bool {
	s.calls = append(s.calls, "Prepare "+tx)
	return !slices.Contains(s.refuse, tx)
}
func (s *labService) Commit(tx string) { s.calls = append(s.calls, "Commit "+tx) }
func (s *labService) Abort(tx string)  { s.calls = append(s.calls, "Abort "+tx) }

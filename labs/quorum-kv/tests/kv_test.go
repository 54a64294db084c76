package quorumkv

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// labEnv adapts labkit's *Env (the simulated network) to this package's Env.
type labEnv struct{ e *labkit.Env }

func (a labEnv) Name() string                     { return a.e.Name() }
func (a labEnv) Send(to string, msg any)          { a.e.Send(to, msg) }
func (a labEnv) After(d time.Duration, fn func()) { a.e.After(d, "op timeout", fn) }
func (a labEnv) Disk() Disk                       { return a.e.Disk() }

// newCluster starts replicas n1..n<count> on a simulated network whose links
// all take 2ms.
func newCluster(t *testing.T, count int) (*labkit.Sim, *labkit.Net, []string) {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.SetDefaultLink(labkit.Link{Latency: labkit.Fixed(2 * time.Millisecond)})
	var nodes []string
	for i := 1; i <= count; i++ {
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, name)
		net.AddNode(name, func(e *labkit.Env) labkit.Node { return NewReplica(labEnv{e}) })
	}
	return sim, net, nodes
}

// newClient adds a client endpoint running a Coordinator.
func newClient(net *labkit.Net, name string, cfg Config) *Coordinator {
	var co *Coordinator
	e := net.AddClient(name, func(from string, msg any) { co.Handle(from, msg) })
	co = NewCoordinator(labEnv{e}, cfg)
	return co
}

func syncPut(sim *labkit.Sim, co *Coordinator, key, value string, ctx VClock) error {
	err, done := error(nil), false
	co.Put(key, value, ctx, func(e error) { err, done = e, true })
	sim.RunUntil(func() bool { return done }, 10*time.Second)
	return err
}

func syncGet(sim *labkit.Sim, co *Coordinator, key string) ([]string, VClock, error) {
	var (
		values []string
		ctx    VClock
		err    error
		done   bool
	)
	co.Get(key, func(v []string, c VClock, e error) { values, ctx, err, done = v, c, e, true })
	sim.RunUntil(func() bool { return done }, 10*time.Second)
	return values, ctx, err
}

func TestClockBasics(t *testing.T) {
	a := VClock{"x": 2, "y": 1}
	b := VClock{"x": 1, "y": 1}
	if !a.Descends(b) || b.Descends(a) {
		t.Fatalf("%v should descend %v and not the other way round", a, b)
	}
	if !(VClock{"x": 1}).Concurrent(VClock{"y": 1}) {
		t.Fatalf("{x:1} and {y:1} are concurrent")
	}
	m := Merge(VClock{"x": 3}, VClock{"x": 1, "y": 2})
	if m["x"] != 3 || m["y"] != 2 {
		t.Fatalf("Merge({x:3}, {x:1 y:2}) = %v, want {x:3 y:2}", m)
	}
}

func TestPutThenGet(t *testing.T) {
	sim, net, nodes := newCluster(t, 5)
	co := newClient(net, "alice", Config{Nodes: nodes, N: 3, R: 2, W: 2, Timeout: 50 * time.Millisecond})
	if err := syncPut(sim, co, "cart", "milk", nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	values, ctx, err := syncGet(sim, co, "cart")
	sim.Check(t, err == nil && slices.Equal(values, []string{"milk"}), "a read returns the last write",
		"Get = %v, %v; want [milk]", values, err)
	if err := syncPut(sim, co, "cart", "milk+eggs", ctx); err != nil {
		t.Fatalf("Put: %v", err)
	}
	values, _, err = syncGet(sim, co, "cart")
	sim.Check(t, err == nil && slices.Equal(values, []string{"milk+eggs"}), "a write with the read's context supersedes it",
		"Get = %v, %v; want [milk+eggs]", values, err)
}

func TestConcurrentPutsAreSiblings(t *testing.T) {
	sim, net, nodes := newCluster(t, 3)
	cfg := Config{Nodes: nodes, N: 3, R: 2, W: 2, Timeout: 50 * time.Millisecond}
	alice := newClient(net, "alice", cfg)
	bob := newClient(net, "bob", cfg)
	if err := syncPut(sim, alice, "k", "a", nil); err != nil {
		t.Fatalf("alice Put: %v", err)
	}
	if err := syncPut(sim, bob, "k", "b", nil); err != nil { // bob never read "a"
		t.Fatalf("bob Put: %v", err)
	}
	values, _, err := syncGet(sim, alice, "k")
	sim.Check(t, err == nil && slices.Equal(values, []string{"a", "b"}), "concurrent writes both survive as siblings",
		"Get = %v, %v; want [a b]", values, err)
}

func TestPutFailsWhenCutOff(t *testing.T) {
	sim, net, nodes := newCluster(t, 3)
	co := newClient(net, "alice", Config{Nodes: nodes, N: 3, R: 2, W: 2, Timeout: 50 * time.Millisecond})
	net.Isolate("alice")
	err := syncPut(sim, co, "k", "v", nil)
	sim.Check(t, errors.Is(err, ErrQuorum), "a write that reaches fewer than W replicas reports ErrQuorum",
		"Put with every replica cut off returned %v", err)
}

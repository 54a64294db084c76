package hidden

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	kv "faultline.dev/labs/quorumkv"
)

// env adapts a labkit Env to the lab's Env interface.
type env struct{ e *labkit.Env }

func (a env) Name() string                     { return a.e.Name() }
func (a env) Send(to string, msg any)          { a.e.Send(to, msg) }
func (a env) After(d time.Duration, fn func()) { a.e.After(d, "op timeout", fn) }
func (a env) Disk() kv.Disk                    { return a.e.Disk() }

type cluster struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	nodes []string
}

func newCluster(t *testing.T, seed int64, n int, link labkit.Link) *cluster {
	t.Helper()
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.SetDefaultLink(link)
	c := &cluster{t: t, sim: sim, net: net}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, name)
		net.AddNode(name, func(e *labkit.Env) labkit.Node { return kv.NewReplica(env{e}) })
	}
	return c
}

func fixed(ms int) labkit.Link {
	return labkit.Link{Latency: labkit.Fixed(time.Duration(ms) * time.Millisecond)}
}

func (c *cluster) cfg(n, r, w int) kv.Config {
	return kv.Config{Nodes: slices.Clone(c.nodes), N: n, R: r, W: w, Timeout: 50 * time.Millisecond}
}

func (c *cluster) client(name string, cfg kv.Config) *kv.Coordinator {
	var co *kv.Coordinator
	e := c.net.AddClient(name, func(from string, msg any) { co.Handle(from, msg) })
	co = kv.NewCoordinator(env{e}, cfg)
	return co
}

func (c *cluster) replica(name string) *kv.Replica {
	n := c.net.Node(name)
	if n == nil {
		return nil
	}
	return n.(*kv.Replica)
}

// put runs a Put to completion in virtual time.
func (c *cluster) put(co *kv.Coordinator, key, value string, ctx kv.VClock) error {
	c.t.Helper()
	calls := 0
	var got error
	co.Put(key, value, ctx, func(err error) { calls++; got = err })
	c.sim.RunUntil(func() bool { return calls > 0 }, 10*time.Second)
	c.sim.RunFor(200 * time.Millisecond) // let a second (wrong) call surface
	c.sim.Check(c.t, calls == 1, "Put calls done exactly once",
		"Put(%q, %q) called done %d times", key, value, calls)
	return got
}

type getResult struct {
	values []string
	ctx    kv.VClock
	err    error
}

// get runs a Get to completion in virtual time.
func (c *cluster) get(co *kv.Coordinator, key string) getResult {
	c.t.Helper()
	calls := 0
	var res getResult
	co.Get(key, func(values []string, ctx kv.VClock, err error) {
		calls++
		res = getResult{slices.Clone(values), ctx.Copy(), err}
	})
	c.sim.RunUntil(func() bool { return calls > 0 }, 10*time.Second)
	c.sim.RunFor(200 * time.Millisecond)
	c.sim.Check(c.t, calls == 1, "Get calls done exactly once", "Get(%q) called done %d times", key, calls)
	return res
}

func (c *cluster) mustPut(co *kv.Coordinator, key, value string, ctx kv.VClock) {
	c.t.Helper()
	if err := c.put(co, key, value, ctx); err != nil {
		c.sim.Failf(c.t, "a write with W replicas reachable succeeds", "Put(%q, %q) = %v", key, value, err)
	}
}

func (c *cluster) mustGet(co *kv.Coordinator, key string) getResult {
	c.t.Helper()
	res := c.get(co, key)
	if res.err != nil {
		c.sim.Failf(c.t, "a read with R replicas reachable succeeds", "Get(%q) = %v", key, res.err)
	}
	return res
}

// cut blocks both directions between a and each of others.
func (c *cluster) cut(a string, others ...string) {
	for _, o := range others {
		c.net.Block(a, o)
		c.net.Block(o, a)
	}
}

func describe(vs []kv.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Value + "@" + v.Clock.String()
	}
	slices.Sort(out)
	return out
}

func valuesOf(vs []kv.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Value
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func show(s []string) string { return "[" + strings.Join(s, ", ") + "]" }

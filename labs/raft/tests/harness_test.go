package raft

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// The visible tests' harness: your nodes on labkit's simulated network,
// each with a small service on top that records what your node applies
// and snapshots when told to. After every event it checks that no term
// has two leaders and that no two nodes apply different commands at an
// index. Every helper's name starts with lab.

// labEnv adapts a labkit node environment to the lab's Env. Messages are
// copied on the way out, as a real network copies bytes.
type labEnv struct {
	c *labCluster
	e *labkit.Env
}

func (a labEnv) Name() string     { return a.e.Name() }
func (a labEnv) Peers() []string  { return a.e.Peers() }
func (a labEnv) Rand() *rand.Rand { return a.e.Rand() }
func (a labEnv) Disk() Disk       { return a.e.Disk() }
func (a labEnv) After(d time.Duration, fn func()) Timer {
	name := a.e.Name()
	return a.e.After(d, "timer", func() {
		fn()
		a.c.afterEvent(name)
	})
}

func (a labEnv) Send(to string, msg any) {
	switch m := msg.(type) {
	case AppendEntries:
		m.Entries = slices.Clone(m.Entries)
		msg = m
	case InstallSnapshot:
		m.Data = slices.Clone(m.Data)
		msg = m
	}
	a.e.Send(to, msg)
}

// labDescribe prints the lab's messages compactly in the trace.
func labDescribe(msg any) string {
	switch m := msg.(type) {
	case RequestVote:
		return fmt.Sprintf("RequestVote{term %d, last %d/%d}", m.Term, m.LastLogIndex, m.LastLogTerm)
	case Vote:
		if m.Granted {
			return fmt.Sprintf("Vote{term %d, granted}", m.Term)
		}
		return fmt.Sprintf("Vote{term %d, refused}", m.Term)
	case AppendEntries:
		var es []string
		for _, e := range m.Entries {
			es = append(es, fmt.Sprintf("%d:%q", e.Term, e.Command))
		}
		return fmt.Sprintf("AppendEntries{term %d, prev %d/%d, [%s], commit %d}", m.Term, m.PrevLogIndex, m.PrevLogTerm, strings.Join(es, " "), m.LeaderCommit)
	case AppendReply:
		if m.Success {
			return fmt.Sprintf("AppendReply{term %d, ok, index %d}", m.Term, m.Index)
		}
		return fmt.Sprintf("AppendReply{term %d, failed, index %d}", m.Term, m.Index)
	case InstallSnapshot:
		return fmt.Sprintf("InstallSnapshot{term %d, last %d/%d, %d bytes}", m.Term, m.LastIncludedIndex, m.LastIncludedTerm, len(m.Data))
	case SnapshotReply:
		return fmt.Sprintf("SnapshotReply{term %d, index %d}", m.Term, m.Index)
	}
	return labkit.Describe(msg)
}

type labNodeTerm struct {
	node string
	term int64
}

// labCluster is a simulated network of your nodes and, in scripted tests,
// fake peers the test drives by hand.
type labCluster struct {
	t        *testing.T
	sim      *labkit.Sim
	net      *labkit.Net
	cfg      Config
	nodes    map[string]*Node
	svcs     map[string]*labService
	real     []string
	leaders  *labkit.Leaders
	claimed  map[labNodeTerm]bool
	applied  map[int64]Entry
	broken   error
	snapEach int64 // when positive, each service snapshots every snapEach entries
}

func newLabCluster(t *testing.T, cfg Config, link labkit.Link) *labCluster {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = labDescribe
	net.SetDefaultLink(link)
	c := &labCluster{t: t, sim: sim, net: net, cfg: cfg, nodes: map[string]*Node{}, svcs: map[string]*labService{},
		leaders: labkit.NewLeaders(sim), claimed: map[labNodeTerm]bool{}, applied: map[int64]Entry{}}
	sim.Invariant(c.check)
	return c
}

func (c *labCluster) addNodes(names ...string) {
	for _, name := range names {
		c.real = append(c.real, name)
		c.net.AddNode(name, func(e *labkit.Env) labkit.Node {
			s := &labService{c: c, name: e.Name(), env: e}
			c.svcs[e.Name()] = s
			s.node = New(labEnv{c: c, e: e}, c.cfg, s.apply)
			c.nodes[e.Name()] = s.node
			return s
		})
	}
}

func labNames(k int) []string {
	var out []string
	for i := 1; i <= k; i++ {
		out = append(out, fmt.Sprintf("n%d", i))
	}
	return out
}

// up returns the running node, or nil.
func (c *labCluster) up(name string) *Node {
	if !c.net.Up(name) || c.net.Node(name) == nil {
		return nil
	}
	return c.nodes[name]
}

func (c *labCluster) check() error {
	if c.broken != nil {
		return c.broken
	}
	for _, name := range c.real {
		if n := c.up(name); n != nil {
			st := n.Status()
			if st.Role == Leader && !c.claimed[labNodeTerm{name, st.Term}] {
				c.claimed[labNodeTerm{name, st.Term}] = true
				c.leaders.Claim(name, st.Term)
			}
		}
	}
	return c.leaders.Check()
}

func (c *labCluster) afterEvent(name string) {
	s := c.svcs[name]
	if c.snapEach > 0 && s != nil && c.up(name) == s.node && s.env.Alive() && s.index-s.lastSnap >= c.snapEach {
		s.lastSnap = s.index
		b, _ := json.Marshal(s.cmds)
		s.node.Snapshot(s.index, b)
	}
}

// leader returns the running leader of the highest term.
func (c *labCluster) leader() (string, bool) {
	best, bestTerm := "", int64(-1)
	for _, name := range c.real {
		if n := c.up(name); n != nil {
			if st := n.Status(); st.Role == Leader && st.Term > bestTerm {
				best, bestTerm = name, st.Term
			}
		}
	}
	return best, best != ""
}

func (c *labCluster) run(d time.Duration) {
	c.t.Helper()
	c.sim.RunFor(d)
	c.sim.Require(c.t, c.sim.Err())
}

// waitLeader runs until some node leads, for at most limit.
func (c *labCluster) waitLeader(limit time.Duration) (string, bool) {
	c.t.Helper()
	c.sim.RunUntil(func() bool { _, ok := c.leader(); return ok }, limit)
	c.sim.Require(c.t, c.sim.Err())
	return c.leader()
}

// one submits cmd to the leader and waits until every running node
// applied it; it returns the index.
func (c *labCluster) one(cmd string, limit time.Duration) int64 {
	c.t.Helper()
	deadline := c.sim.Elapsed() + limit
	for c.sim.Elapsed() < deadline {
		if name, ok := c.leader(); ok {
			if idx, _, ok := c.nodes[name].Start(cmd); ok {
				done := c.sim.RunUntil(func() bool {
					for _, n := range c.real {
						if c.up(n) != nil && c.svcs[n].cmdAt(idx) != cmd {
							return false
						}
					}
					return true
				}, 500*time.Millisecond)
				c.sim.Require(c.t, c.sim.Err())
				if done {
					return idx
				}
				continue
			}
		}
		c.run(10 * time.Millisecond)
	}
	c.sim.Failf(c.t, "a command submitted to the leader is applied by every running node", "%q was not applied everywhere within %s", cmd, limit)
	return 0
}

// labService records what a node applies.
type labService struct {
	c        *labCluster
	name     string
	env      *labkit.Env
	node     *Node
	index    int64
	cmds     []string
	lastSnap int64
}

func (s *labService) Handle(from string, msg any) {
	s.node.Handle(from, msg)
	s.c.afterEvent(s.name)
}

func (s *labService) cmdAt(i int64) string {
	if i < 1 || i > int64(len(s.cmds)) {
		return ""
	}
	return s.cmds[i-1]
}

func (s *labService) apply(m ApplyMsg) {
	c := s.c
	if c.broken != nil {
		return
	}
	if m.Snapshot {
		var cmds []string
		if json.Unmarshal(m.Data, &cmds) != nil || int64(len(cmds)) != m.Index || m.Index <= s.index {
			c.broken = labkit.Violationf("snapshots reach the service as it made them, in index order",
				"%s was given a snapshot through %d after applying up to %d", s.name, m.Index, s.index)
			return
		}
		s.cmds, s.index, s.lastSnap = cmds, m.Index, m.Index
		return
	}
	if m.Index != s.index+1 {
		c.broken = labkit.Violationf("entries are applied in index order, each once", "%s applied index %d right after %d", s.name, m.Index, s.index)
		return
	}
	e := Entry{Term: m.Term, Command: m.Command}
	if prev, ok := c.applied[m.Index]; ok && prev != e {
		c.broken = labkit.Violationf("every node applies the same command at each index",
			"%s applied %q of term %d at index %d, but %q of term %d was applied there before", s.name, e.Command, e.Term, m.Index, prev.Command, prev.Term)
		return
	}
	c.applied[m.Index] = e
	s.index = m.Index
	s.cmds = append(s.cmds, m.Command)
}

// labFake is a peer the test scripts by hand: it records what it gets.
type labFake struct {
	c     *labCluster
	name  string
	inbox []any
}

func (c *labCluster) addFake(name string) *labFake {
	f := &labFake{c: c, name: name}
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) { f.inbox = append(f.inbox, msg) })
	})
	return f
}

// expect sends msg to node, runs 5ms and fails unless exactly want came back.
func (f *labFake) expect(node string, msg, want any, why string) {
	f.c.t.Helper()
	n := len(f.inbox)
	f.c.net.Send(f.name, node, msg)
	f.c.run(5 * time.Millisecond)
	got := f.inbox[n:]
	if len(got) != 1 || labDescribe(got[0]) != labDescribe(want) {
		var parts []string
		for _, m := range got {
			parts = append(parts, labDescribe(m))
		}
		f.c.sim.Failf(f.c.t, why, "%s sent %s to %s and got back [%s]; want exactly %s",
			f.name, labDescribe(msg), node, strings.Join(parts, ", "), labDescribe(want))
	}
}

package hidden

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	le "faultline.dev/labs/leaderelection"
)

// env adapts a labkit node environment to the lab's Env interface. Every
// message the node sends passes through onSend first.
type env struct {
	e      *labkit.Env
	onSend func(from, to string, msg any)
	rnd    *rand.Rand // if set, Rand returns it instead of the simulation's
}

func (a env) Name() string    { return a.e.Name() }
func (a env) Peers() []string { return a.e.Peers() }
func (a env) Now() time.Time  { return a.e.Now() }
func (a env) Rand() *rand.Rand {
	if a.rnd != nil {
		return a.rnd
	}
	return a.e.Rand()
}
func (a env) Disk() le.Disk { return a.e.Disk() }
func (a env) After(d time.Duration, fn func()) le.Timer {
	return a.e.After(d, "timer", fn)
}
func (a env) Send(to string, msg any) {
	if a.onSend != nil && a.e.Alive() {
		a.onSend(a.e.Name(), to, msg)
	}
	a.e.Send(to, msg)
}

// describe prints the lab's messages compactly in the trace.
func describe(msg any) string {
	switch m := msg.(type) {
	case le.RequestVote:
		return fmt.Sprintf("RequestVote{term %d}", m.Term)
	case le.Vote:
		if m.Granted {
			return fmt.Sprintf("Vote{term %d, granted}", m.Term)
		}
		return fmt.Sprintf("Vote{term %d, refused}", m.Term)
	case le.Heartbeat:
		return fmt.Sprintf("Heartbeat{term %d}", m.Term)
	case le.HeartbeatReply:
		return fmt.Sprintf("HeartbeatReply{term %d}", m.Term)
	}
	return labkit.Describe(msg)
}

type nodeTerm struct {
	node string
	term int64
}

// cluster is a simulated network of the learner's nodes (and, in scripted
// tests, fake peers the test drives by hand). After every simulation event it
// reads every running node's State() and checks the safety properties.
type cluster struct {
	t       *testing.T
	sim     *labkit.Sim
	net     *labkit.Net
	cfg     le.Config
	nodes   map[string]*le.Node
	real    []string
	leaders *labkit.Leaders
	claimed map[nodeTerm]bool
	changes map[string][]labkit.Change
	last    map[string]int64
	voted   map[nodeTerm]string // (voter, term) -> candidate it granted
	broken  error

	// rnd, if set, is the random source the learner's nodes get.
	rnd *rand.Rand
	// heartbeats counts the Heartbeat messages the learner's nodes sent.
	heartbeats int
}

func newCluster(t *testing.T, seed int64, cfg le.Config, link labkit.Link) *cluster {
	t.Helper()
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	net.SetDefaultLink(link)
	c := &cluster{
		t: t, sim: sim, net: net, cfg: cfg,
		nodes:   map[string]*le.Node{},
		leaders: labkit.NewLeaders(sim),
		claimed: map[nodeTerm]bool{},
		changes: map[string][]labkit.Change{},
		last:    map[string]int64{},
		voted:   map[nodeTerm]string{},
	}
	sim.Invariant(c.check)
	t.Cleanup(func() {
		if t.Failed() {
			labkit.Attach(t, "leaders.svg", c.timelineSVG())
		}
	})
	return c
}

// addNodes adds learner nodes named n1..nk (continuing the numbering).
func (c *cluster) addNodes(names ...string) {
	for _, name := range names {
		c.real = append(c.real, name)
		c.net.AddNode(name, func(e *labkit.Env) labkit.Node {
			n := le.New(env{e: e, onSend: c.sent, rnd: c.rnd}, c.cfg)
			c.nodes[e.Name()] = n
			return n
		})
	}
}

// got is a message a fake peer received.
type got struct {
	at   time.Duration
	from string
	msg  any
}

// fake is a peer the test scripts by hand. It records what it receives and,
// when told to, grants every vote request and acknowledges every heartbeat.
type fake struct {
	c     *cluster
	name  string
	inbox []got
	grant bool
	ack   bool
	// lastAck is when it last sent a HeartbeatReply on its own.
	lastAck time.Duration
}

func (c *cluster) addFake(name string) *fake {
	f := &fake{c: c, name: name}
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			f.inbox = append(f.inbox, got{c.sim.Elapsed(), from, msg})
			switch m := msg.(type) {
			case le.RequestVote:
				if f.grant {
					f.send(from, le.Vote{Term: m.Term, Granted: true})
				}
			case le.Heartbeat:
				if f.ack {
					f.lastAck = c.sim.Elapsed()
					f.send(from, le.HeartbeatReply{Term: m.Term})
				}
			}
		})
	})
	return f
}

func (f *fake) send(to string, msg any) { f.c.net.Send(f.name, to, msg) }

// constSource is a random source that always returns the same number:
// rand.New(constSource(1)) draws the smallest value of every range,
// rand.New(constSource(math.MaxUint64)) the largest.
type constSource uint64

func (s constSource) Uint64() uint64 { return uint64(s) }

// since returns the messages received at or after virtual time at.
func (f *fake) since(at time.Duration) []any {
	var out []any
	for _, g := range f.inbox {
		if g.at >= at {
			out = append(out, g.msg)
		}
	}
	return out
}

// ask sends msg to node, runs 10ms and returns what came back.
func (f *fake) ask(node string, msg any) []any {
	f.c.t.Helper()
	start := f.c.sim.Elapsed()
	f.send(node, msg)
	f.c.run(10 * time.Millisecond)
	return f.since(start)
}

// expect fails unless asking node with msg gets exactly want back.
func (f *fake) expect(node string, msg, want any, why string) {
	f.c.t.Helper()
	replies := f.ask(node, msg)
	if len(replies) != 1 || replies[0] != want {
		f.c.sim.Failf(f.c.t, why, "%s sent %s to %s and got back %s; want exactly %s",
			f.name, describe(msg), node, describeAll(replies), describe(want))
	}
}

func describeAll(msgs []any) string {
	if len(msgs) == 0 {
		return "nothing"
	}
	var parts []string
	for _, m := range msgs {
		parts = append(parts, describe(m))
	}
	return strings.Join(parts, ", ")
}

// checkState fails unless node is running with the given role and term.
func (c *cluster) checkState(node string, role le.Role, term int64, why string) {
	c.t.Helper()
	r, tm, up := c.state(node)
	c.sim.Check(c.t, up && r == role && tm == term, why,
		"%s reports State() = (%s, term %d); want (%s, term %d)", node, r, tm, role, term)
}

func names(k int) []string {
	var out []string
	for i := 1; i <= k; i++ {
		out = append(out, fmt.Sprintf("n%d", i))
	}
	return out
}

func (c *cluster) sent(from, to string, msg any) {
	if _, ok := msg.(le.Heartbeat); ok {
		c.heartbeats++
	}
	v, ok := msg.(le.Vote)
	if !ok || !v.Granted || c.broken != nil {
		return
	}
	k := nodeTerm{from, v.Term}
	if prev, ok := c.voted[k]; ok && prev != to {
		c.broken = labkit.Violationf("a node grants at most one vote per term (even across a crash)",
			"%s granted its vote in term %d to %s, and later to %s", from, v.Term, prev, to)
		return
	}
	c.voted[k] = to
}

// state returns a running node's role and term; ok is false while it is down.
func (c *cluster) state(name string) (role le.Role, term int64, ok bool) {
	if !c.net.Up(name) || c.net.Node(name) == nil {
		return 0, 0, false
	}
	role, term = c.nodes[name].State()
	return role, term, true
}

func (c *cluster) check() error {
	if c.broken != nil {
		return c.broken
	}
	now := c.sim.Elapsed()
	for _, name := range c.real {
		label := "crashed"
		role, term, up := c.state(name)
		if up {
			label = role.String()
			if prev, seen := c.last[name]; seen && term < prev {
				return labkit.Violationf("a node's term never decreases (it is kept on disk across crashes)",
					"%s was in term %d, and is now in term %d", name, prev, term)
			}
			c.last[name] = term
			if role == le.Leader && !c.claimed[nodeTerm{name, term}] {
				c.claimed[nodeTerm{name, term}] = true
				c.leaders.Claim(name, term)
				c.sim.Logf("%s is leader of term %d", name, term)
			}
		}
		ch := c.changes[name]
		if len(ch) == 0 || ch[len(ch)-1].State != label {
			c.changes[name] = append(ch, labkit.Change{At: now, State: label})
		}
	}
	return c.leaders.Check()
}

// leader returns the running leader with the highest term, if any.
func (c *cluster) leader() (string, int64, bool) {
	best, bestTerm, found := "", int64(-1), false
	for _, name := range c.real {
		role, term, up := c.state(name)
		if up && role == le.Leader && term > bestTerm {
			best, bestTerm, found = name, term, true
		}
	}
	return best, bestTerm, found
}

// waitLeader runs until a running node other than those in exclude leads a
// term above minTerm, for at most limit of virtual time.
func (c *cluster) waitLeader(limit time.Duration, minTerm int64, exclude ...string) (string, int64, bool) {
	var name string
	var term int64
	ok := c.sim.RunUntil(func() bool {
		for _, n := range c.real {
			if strings.Contains(" "+strings.Join(exclude, " ")+" ", " "+n+" ") {
				continue
			}
			role, t, up := c.state(n)
			if up && role == le.Leader && t > minTerm {
				name, term = n, t
				return true
			}
		}
		return false
	}, limit)
	c.require()
	return name, term, ok
}

// require fails the test if a safety property broke.
func (c *cluster) require() {
	c.t.Helper()
	c.sim.Require(c.t, c.sim.Err())
}

// run advances virtual time and checks safety.
func (c *cluster) run(d time.Duration) {
	c.t.Helper()
	c.sim.RunFor(d)
	c.require()
}

var roleColors = map[string]string{
	"leader": "#e15759", "candidate": "#f28e2b", "follower": "#4e79a7", "crashed": "#555555",
	labkit.StateUp: "#59a14f", labkit.StateCutOff: "#edc948",
}

// timelineSVG shows every node's role over time, then its network status.
func (c *cluster) timelineSVG() string {
	end := c.sim.Elapsed()
	var lanes []labkit.Lane
	for _, name := range c.real {
		lanes = append(lanes, labkit.Lane{Name: name, Spans: labkit.SpansFromChanges(c.changes[name], end)})
	}
	for _, l := range c.net.Timeline() {
		l.Name += " net"
		lanes = append(lanes, l)
	}
	return labkit.Timeline{Title: "roles (top) and network (bottom) over virtual time", Lanes: lanes, Colors: roleColors}.SVG()
}

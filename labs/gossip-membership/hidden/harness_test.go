package hidden

import (
	"fmt"
	"hash"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	g "faultline.dev/labs/gossip"
)

// P is the protocol period every hidden test uses.
const P = 100 * time.Millisecond

var testConfig = g.Config{
	Period:           P,
	AckTimeout:       30 * time.Millisecond,
	IndirectChecks:   3,
	SuspicionTimeout: 10 * P,
	SyncInterval:     10 * P,
	RetransmitMult:   3,
	MaxPiggyback:     6,
}

func link(loss float64) labkit.Link {
	return labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: loss}
}

// lateLink is link with a heavy tail: 5% of messages take longer than the
// AckTimeout (up to 3 periods), so some acks arrive after the probe moved
// on to PingReqs, or after its period ended.
func lateLink(loss float64) labkit.Link {
	l := link(loss)
	l.Latency = labkit.HeavyTail(l.Latency, 0.05, testConfig.AckTimeout)
	return l
}

// env adapts a labkit node environment to the lab's Env interface and counts
// every message the member sends.
type env struct {
	e *labkit.Env
	c *cluster
}

func (a env) Name() string     { return a.e.Name() }
func (a env) Now() time.Time   { return a.e.Now() }
func (a env) Rand() *rand.Rand { return a.e.Rand() }
func (a env) Disk() g.Disk     { return a.e.Disk() }
func (a env) After(d time.Duration, fn func()) g.Timer {
	return a.e.After(d, "timer", func() { fn(); a.c.dirty[a.e.Name()] = true })
}
func (a env) Every(d time.Duration, fn func()) g.Ticker {
	return a.e.Every(d, func() { fn(); a.c.dirty[a.e.Name()] = true })
}

// node wraps a member so the checks know whose view may have changed.
type node struct {
	m    *g.Member
	c    *cluster
	name string
}

func (n node) Handle(from string, msg any) {
	n.m.Handle(from, msg)
	n.c.dirty[n.name] = true
}
func (a env) Send(to string, msg any) {
	if a.e.Alive() {
		a.c.sent(a.e.Name(), to, msg)
	}
	a.e.Send(to, msg)
}

func describeUpdates(us []g.Update) string {
	if len(us) == 0 {
		return ""
	}
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%s %s@%d", u.Member, u.Status, u.Incarnation)
	}
	return " [" + strings.Join(parts, ", ") + "]"
}

// describe prints the lab's messages compactly in the trace.
func describe(msg any) string {
	switch m := msg.(type) {
	case g.Ping:
		return fmt.Sprintf("Ping{%d}%s", m.Seq, describeUpdates(m.Updates))
	case g.Ack:
		return fmt.Sprintf("Ack{%d}%s", m.Seq, describeUpdates(m.Updates))
	case g.PingReq:
		return fmt.Sprintf("PingReq{%d, %s}%s", m.Seq, m.Target, describeUpdates(m.Updates))
	case g.Sync:
		return fmt.Sprintf("Sync{reply %t, %d members}", m.Reply, len(m.Members))
	}
	return labkit.Describe(msg)
}

type pair struct{ obs, subj string }

type mark struct {
	at     time.Duration
	status g.Status
	inc    uint64
}

// cluster is a simulated network of the learner's members. After every
// simulation event it reads every running member's view and checks the
// precedence rules and (unless allowed) that no running member is dead in
// anyone's view.
type cluster struct {
	t         *testing.T
	sim       *labkit.Sim
	net       *labkit.Net
	cfg       g.Config
	members   map[string]*g.Member
	real      []string
	seen      map[string]*g.Member // the object whose view we last read
	views     map[pair]g.Update
	marks     map[pair][]mark // every status change obs recorded about subj
	mayDie    map[string]bool // subjects allowed to be declared dead
	noSusp    bool            // nobody may be suspected at all
	sends     map[int]int     // messages sent per period index
	sendCount int             // messages sent in all
	sendLog   hash.Hash64     // every message sent, in order, with its time, sender and receiver
	changes   map[string][]labkit.Change
	dirty     map[string]bool // members whose view may have changed since the last check
}

func newCluster(t *testing.T, seed int64, cfg g.Config, l labkit.Link) *cluster {
	t.Helper()
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	net.SetDefaultLink(l)
	c := &cluster{
		t: t, sim: sim, net: net, cfg: cfg,
		members: map[string]*g.Member{},
		seen:    map[string]*g.Member{},
		views:   map[pair]g.Update{},
		marks:   map[pair][]mark{},
		mayDie:  map[string]bool{},
		sends:   map[int]int{},
		changes: map[string][]labkit.Change{},
		dirty:   map[string]bool{},
		sendLog: fnv.New64a(),
	}
	sim.Invariant(c.check)
	t.Cleanup(func() {
		if t.Failed() {
			labkit.Attach(t, "membership.svg", c.timelineSVG())
		}
	})
	return c
}

func names(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("n%d", i))
	}
	return out
}

// add adds members; each joins through seeds.
func (c *cluster) add(seeds []string, ns ...string) {
	for _, name := range ns {
		c.real = append(c.real, name)
		c.net.AddNode(name, func(e *labkit.Env) labkit.Node {
			cfg := c.cfg
			cfg.Seeds = seeds
			m := g.New(env{e: e, c: c}, cfg)
			c.members[e.Name()] = m
			c.dirty[e.Name()] = true
			return node{m: m, c: c, name: e.Name()}
		})
	}
}

// start builds a cluster of n members n1..nn that join through n1.
func start(t *testing.T, seed int64, n int, l labkit.Link) *cluster {
	c := newCluster(t, seed, testConfig, l)
	c.add([]string{"n1"}, names(1, n)...)
	return c
}

func (c *cluster) sent(from, to string, msg any) {
	c.sends[int(c.sim.Elapsed()/c.cfg.Period)]++
	c.sendCount++
	fmt.Fprintf(c.sendLog, "%s %s->%s %s\n", c.sim.Elapsed(), from, to, describe(msg))
}

func (c *cluster) up(name string) bool { return c.net.Up(name) && c.net.Node(name) != nil }

// view returns what obs currently believes about subj.
func (c *cluster) view(obs, subj string) (g.Update, bool) {
	if !c.up(obs) {
		return g.Update{}, false
	}
	for _, u := range c.members[obs].Members() {
		if u.Member == subj {
			return u, true
		}
	}
	return g.Update{}, false
}

func (c *cluster) check() error {
	now := c.sim.Elapsed()
	changed := false
	for _, obs := range c.real {
		if !c.up(obs) {
			if c.seen[obs] != nil {
				c.seen[obs] = nil
				changed = true
			}
			continue
		}
		m := c.members[obs]
		if c.seen[obs] != m {
			// a restarted member starts with a fresh view
			c.seen[obs] = m
			for _, subj := range c.real {
				delete(c.views, pair{obs, subj})
			}
			c.dirty[obs], changed = true, true
		}
		if !c.dirty[obs] {
			continue
		}
		c.dirty[obs] = false
		view := m.Members()
		if !slices.IsSortedFunc(view, func(a, b g.Update) int { return strings.Compare(a.Member, b.Member) }) ||
			len(slices.CompactFunc(slices.Clone(view), func(a, b g.Update) bool { return a.Member == b.Member })) != len(view) {
			return labkit.Violationf("Members returns one update per member, sorted by Member",
				"%s's Members() returned%s", obs, describeUpdates(view))
		}
		for _, u := range view {
			if u.Member == obs {
				if u.Status == g.Left {
					c.note(obs, "left")
				}
				continue
			}
			k := pair{obs, u.Member}
			prev, ok := c.views[k]
			if ok && prev == u {
				continue
			}
			if ok && (u.Incarnation < prev.Incarnation || (u.Incarnation == prev.Incarnation && u.Status < prev.Status)) {
				return labkit.Violationf("an update overrides only a lower incarnation, or the same incarnation with a weaker status (alive < suspect < dead < left)",
					"%s held %s %s@%d and then replaced it with %s@%d", obs, u.Member, prev.Status, prev.Incarnation, u.Status, u.Incarnation)
			}
			c.views[k] = u
			changed = true
			c.marks[k] = append(c.marks[k], mark{now, u.Status, u.Incarnation})
			if u.Status != g.Alive {
				c.sim.Logf("%s now holds %s %s@%d", obs, u.Member, u.Status, u.Incarnation)
			}
			if u.Status == g.Dead && !c.mayDie[u.Member] {
				return labkit.Violationf("no live member is ever declared dead",
					"%s declared %s dead (incarnation %d), but %s was running and reachable the whole time", obs, u.Member, u.Incarnation, u.Member)
			}
			if u.Status == g.Suspect && c.noSusp {
				return labkit.Violationf("a member that answers through other members is never suspected (indirect probes)",
					"%s suspected %s (incarnation %d), but every other member could reach %s", obs, u.Member, u.Incarnation, u.Member)
			}
		}
	}
	if !changed {
		return nil
	}
	for _, subj := range c.real {
		if c.up(subj) {
			c.note(subj, c.worst(subj))
		} else {
			c.note(subj, "crashed")
		}
	}
	return nil
}

// worst is the most pessimistic status any running member holds about subj.
func (c *cluster) worst(subj string) string {
	w := g.Alive
	for _, obs := range c.real {
		if obs == subj || !c.up(obs) {
			continue
		}
		if u, ok := c.views[pair{obs, subj}]; ok && u.Status > w {
			w = u.Status
		}
	}
	if w == g.Alive {
		return "alive in every view"
	}
	return w.String() + " in a view"
}

func (c *cluster) note(name, state string) {
	ch := c.changes[name]
	if len(ch) == 0 || ch[len(ch)-1].State != state {
		c.changes[name] = append(ch, labkit.Change{At: c.sim.Elapsed(), State: state})
	}
}

var stateColors = map[string]string{
	"alive in every view": "#59a14f", "suspect in a view": "#edc948", "dead in a view": "#e15759",
	"left in a view": "#76b7b2", "crashed": "#555555", "left": "#4e79a7",
	labkit.StateUp: "#59a14f", labkit.StateCutOff: "#f28e2b",
}

// timelineSVG shows each member's fate and how others see it, then the network.
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
	return labkit.Timeline{Title: "members: worst status in any view (top), network (bottom)", Lanes: lanes, Colors: stateColors}.SVG()
}

// require fails the test if a property checked after every event broke.
func (c *cluster) require() {
	c.t.Helper()
	c.sim.Require(c.t, c.sim.Err())
}

// run advances virtual time and checks the invariants.
func (c *cluster) run(d time.Duration) {
	c.t.Helper()
	c.sim.RunFor(d)
	c.require()
}

// runUntil runs until cond holds or limit passes; it reports whether cond held.
func (c *cluster) runUntil(cond func() bool, limit time.Duration) bool {
	c.t.Helper()
	ok := c.sim.RunUntil(cond, limit)
	c.require()
	return ok
}

// live lists the running members other than except.
func (c *cluster) live(except ...string) []string {
	var out []string
	for _, n := range c.real {
		if c.up(n) && !strings.Contains(" "+strings.Join(except, " ")+" ", " "+n+" ") {
			out = append(out, n)
		}
	}
	return out
}

// holdAll reports whether every running member other than subj holds subj
// with a status in want (and, if minInc > 0, an incarnation of at least minInc).
func (c *cluster) holdAll(subj string, minInc uint64, want ...g.Status) bool {
	for _, obs := range c.live(subj) {
		u, ok := c.view(obs, subj)
		if !ok || u.Incarnation < minInc {
			return false
		}
		hit := false
		for _, s := range want {
			hit = hit || u.Status == s
		}
		if !hit {
			return false
		}
	}
	return true
}

// describeViews lists what each running member holds about subj.
func (c *cluster) describeViews(subj string) string {
	var parts []string
	for _, obs := range c.live(subj) {
		u, ok := c.view(obs, subj)
		if !ok {
			parts = append(parts, obs+": (unknown)")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s@%d", obs, u.Status, u.Incarnation))
	}
	return strings.Join(parts, ", ")
}

// statuses is a member's view reduced to name -> status, for Converged.
func (c *cluster) statuses(obs string) map[string]string {
	out := map[string]string{}
	for _, u := range c.members[obs].Members() {
		out[u.Member] = u.Status.String()
	}
	return out
}

// allAlive reports whether every running member holds every running member
// (itself included) alive.
func (c *cluster) allAlive() bool {
	live := c.live()
	for _, obs := range live {
		for _, subj := range live {
			u, ok := c.view(obs, subj)
			if !ok || u.Status != g.Alive {
				return false
			}
		}
	}
	return true
}

func (c *cluster) convergedErr() error {
	states := map[string]map[string]string{}
	for _, obs := range c.live() {
		states[obs] = c.statuses(obs)
	}
	return labkit.Converged(states)
}

// fake is a member the test drives by hand: it records what it receives.
type fake struct {
	c     *cluster
	name  string
	inbox []got
}

type got struct {
	at   time.Duration
	from string
	msg  any
}

func (c *cluster) addFake(name string) *fake {
	f := &fake{c: c, name: name}
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			f.inbox = append(f.inbox, got{c.sim.Elapsed(), from, msg})
		})
	})
	return f
}

func (f *fake) send(to string, msg any) { f.c.net.Send(f.name, to, msg) }

// updatesSince lists every update the fake received at or after at.
func (f *fake) updatesSince(at time.Duration) []g.Update {
	var out []g.Update
	for _, m := range f.inbox {
		if m.at < at {
			continue
		}
		switch v := m.msg.(type) {
		case g.Ping:
			out = append(out, v.Updates...)
		case g.Ack:
			out = append(out, v.Updates...)
		case g.PingReq:
			out = append(out, v.Updates...)
		case g.Sync:
			out = append(out, v.Members...)
		}
	}
	return out
}

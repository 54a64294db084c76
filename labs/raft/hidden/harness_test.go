package hidden

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/raft"
)

// env adapts a labkit node environment to the lab's Env. Every message the
// node sends is copied (a real network copies bytes: sender and receiver
// never share a slice) and shown to the cluster first.
type env struct {
	c *cluster
	e *labkit.Env
}

func (a env) Name() string    { return a.e.Name() }
func (a env) Peers() []string { return a.e.Peers() }
func (a env) Rand() *rand.Rand {
	if a.c.rnd != nil {
		return a.c.rnd
	}
	return a.e.Rand()
}
func (a env) Disk() raft.Disk { return a.e.Disk() }
func (a env) After(d time.Duration, fn func()) raft.Timer {
	name := a.e.Name()
	return a.e.After(d, "timer", func() {
		fn()
		a.c.afterEvent(name)
	})
}

func (a env) Send(to string, msg any) {
	if !a.e.Alive() {
		return
	}
	msg = copyMsg(msg)
	a.c.sent(a.e.Name(), to, msg)
	a.e.Send(to, msg)
}

// copyMsg returns msg with its slices copied.
func copyMsg(msg any) any {
	switch m := msg.(type) {
	case raft.AppendEntries:
		m.Entries = slices.Clone(m.Entries)
		return m
	case raft.InstallSnapshot:
		m.Data = slices.Clone(m.Data)
		return m
	}
	return msg
}

// describe prints the lab's messages compactly in the trace.
func describe(msg any) string {
	switch m := msg.(type) {
	case raft.RequestVote:
		return fmt.Sprintf("RequestVote{term %d, last %d/%d}", m.Term, m.LastLogIndex, m.LastLogTerm)
	case raft.Vote:
		if m.Granted {
			return fmt.Sprintf("Vote{term %d, granted}", m.Term)
		}
		return fmt.Sprintf("Vote{term %d, refused}", m.Term)
	case raft.AppendEntries:
		var es []string
		for _, e := range m.Entries {
			es = append(es, fmt.Sprintf("%d:%q", e.Term, e.Command))
		}
		return fmt.Sprintf("AppendEntries{term %d, prev %d/%d, [%s], commit %d}", m.Term, m.PrevLogIndex, m.PrevLogTerm, strings.Join(es, " "), m.LeaderCommit)
	case raft.AppendReply:
		if m.Success {
			return fmt.Sprintf("AppendReply{term %d, ok, index %d}", m.Term, m.Index)
		}
		return fmt.Sprintf("AppendReply{term %d, failed, index %d}", m.Term, m.Index)
	case raft.InstallSnapshot:
		return fmt.Sprintf("InstallSnapshot{term %d, last %d/%d, %d bytes}", m.Term, m.LastIncludedIndex, m.LastIncludedTerm, len(m.Data))
	case raft.SnapshotReply:
		return fmt.Sprintf("SnapshotReply{term %d, index %d}", m.Term, m.Index)
	case kvRequest:
		return fmt.Sprintf("%s#%d %s", m.Client, m.Seq, m.op())
	case kvReply:
		if !m.OK {
			return fmt.Sprintf("%s#%d not leader", m.Client, m.Seq)
		}
		return fmt.Sprintf("%s#%d ok %q", m.Client, m.Seq, m.Value)
	}
	return labkit.Describe(msg)
}

type nodeTerm struct {
	node string
	term int64
}

// applied is what the cluster saw applied at one index, first.
type applied struct {
	node  string
	entry raft.Entry
}

// cluster is a simulated network of the learner's nodes, each with a
// service on top that records what Raft applies (and, with kv, serves a
// key-value store), and in scripted tests fake peers the test drives by
// hand. After every event it checks the safety properties.
type cluster struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	cfg   raft.Config
	nodes map[string]*raft.Node
	svcs  map[string]*service
	real  []string

	leaders *labkit.Leaders
	claimed map[nodeTerm]bool
	changes map[string][]labkit.Change
	last    map[string]int64
	voted   map[nodeTerm]string // (voter, term) → candidate it granted
	applied map[int64]applied   // index → the first entry applied there
	maxApp  int64
	// commits records each node's commit index as it changes, for the
	// picture of a failing run.
	commits   map[string][]labkit.Point
	maxCommit int64
	broken    error

	// snapEvery, when positive, makes each service snapshot after every
	// snapEvery applied entries.
	snapEvery int64
	// ghosts checks, at every send and after Start, that the node's disk
	// holds its term, vote and log (a node rebuilt from it agrees).
	ghosts bool
	// kv makes the services serve key-value requests.
	kv bool
	// crashAfterStart is the probability that a leader crashes right after
	// Start accepts a client's command.
	crashAfterStart float64
	down            time.Duration
	// rnd, if set, is the random source the learner's nodes get.
	rnd *rand.Rand
	// appendsSent counts the AppendEntries the learner's nodes sent.
	appendsSent int
}

func newCluster(t *testing.T, seed int64, cfg raft.Config, link labkit.Link) *cluster {
	t.Helper()
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	net.SetDefaultLink(link)
	c := &cluster{
		t: t, sim: sim, net: net, cfg: cfg,
		nodes: map[string]*raft.Node{}, svcs: map[string]*service{},
		leaders: labkit.NewLeaders(sim),
		claimed: map[nodeTerm]bool{},
		changes: map[string][]labkit.Change{},
		last:    map[string]int64{},
		voted:   map[nodeTerm]string{},
		applied: map[int64]applied{},
		commits: map[string][]labkit.Point{},
	}
	sim.Invariant(c.check)
	t.Cleanup(func() {
		if t.Failed() {
			labkit.Attach(t, "raft.svg", c.timelineSVG())
			if c.maxCommit > 0 {
				labkit.Attach(t, "commit.svg", c.commitSVG())
			}
		}
	})
	return c
}

// addNodes adds learner nodes.
func (c *cluster) addNodes(names ...string) {
	for _, name := range names {
		c.real = append(c.real, name)
		c.net.AddNode(name, func(e *labkit.Env) labkit.Node {
			s := &service{c: c, name: e.Name(), env: e}
			c.svcs[e.Name()] = s
			s.node = raft.New(env{c: c, e: e}, c.cfg, s.apply)
			c.nodes[e.Name()] = s.node
			return s
		})
	}
}

// up returns the running node, or nil.
func (c *cluster) up(name string) *raft.Node {
	if !c.net.Up(name) || c.net.Node(name) == nil {
		return nil
	}
	return c.nodes[name]
}

// status returns a running node's status; ok is false while it is down.
func (c *cluster) status(name string) (raft.Status, bool) {
	n := c.up(name)
	if n == nil {
		return raft.Status{}, false
	}
	return n.Status(), true
}

// afterEvent runs after each of a node's handlers and timers: the service
// snapshots when it is due.
func (c *cluster) afterEvent(name string) {
	s := c.svcs[name]
	if c.snapEvery <= 0 || s == nil || c.up(name) != s.node || !s.env.Alive() {
		return
	}
	if s.appliedIndex-s.lastSnap >= c.snapEvery {
		s.lastSnap = s.appliedIndex
		s.node.Snapshot(s.appliedIndex, s.encode())
	}
}

// sent sees every message a learner's node sends.
func (c *cluster) sent(from, to string, msg any) {
	if c.broken != nil {
		return
	}
	if _, ok := msg.(raft.AppendEntries); ok {
		c.appendsSent++
	}
	if v, ok := msg.(raft.Vote); ok && v.Granted {
		k := nodeTerm{from, v.Term}
		if prev, ok := c.voted[k]; ok && prev != to {
			c.broken = labkit.Violationf("a node grants at most one vote per term (even across a crash)",
				"%s granted its vote in term %d to %s, and later to %s", from, v.Term, prev, to)
			return
		}
		c.voted[k] = to
	}
	if c.ghosts {
		c.checkDisk(from, "sending "+describe(msg)+" to "+to)
	}
}

// ghostEnv is the Env of a node rebuilt from a copy of a disk: it sends
// nothing and its timers never fire.
type ghostEnv struct {
	name  string
	peers []string
	disk  *labkit.Disk
}

type noTimer struct{}

func (noTimer) Stop() bool { return false }

func (g ghostEnv) Name() string                           { return g.name }
func (g ghostEnv) Peers() []string                        { return g.peers }
func (g ghostEnv) Send(string, any)                       {}
func (g ghostEnv) After(time.Duration, func()) raft.Timer { return noTimer{} }
func (g ghostEnv) Rand() *rand.Rand                       { return rand.New(rand.NewPCG(1, 2)) }
func (g ghostEnv) Disk() raft.Disk                        { return g.disk }
func (c *cluster) ghost(name string) (*raft.Node, []raft.ApplyMsg) {
	src := c.net.Disk(name)
	d := labkit.NewDisk()
	for _, k := range src.Keys("") {
		v, _ := src.Get(k)
		d.Put(k, v)
	}
	var got []raft.ApplyMsg
	n := raft.New(ghostEnv{name: name, peers: c.net.Env(name).Peers(), disk: d}, c.cfg, func(m raft.ApplyMsg) { got = append(got, m) })
	return n, got
}

// checkDisk checks that a node rebuilt from name's disk right now has the
// same term, vote, log and snapshot as the running node.
func (c *cluster) checkDisk(name, when string) {
	live := c.nodes[name]
	if live == nil || c.broken != nil {
		return
	}
	g, _ := c.ghost(name)
	ls, gs := live.Status(), g.Status()
	const prop = "the term, the vote, the log and the snapshot are on disk before the node sends anything or Start returns"
	switch {
	case ls.Term != gs.Term || ls.VotedFor != gs.VotedFor:
		c.broken = labkit.Violationf(prop, "%s, %s is in term %d having voted for %q, but a node restarted from its disk would be in term %d having voted for %q",
			when, name, ls.Term, ls.VotedFor, gs.Term, gs.VotedFor)
	case ls.LastIndex != gs.LastIndex || ls.SnapshotIndex != gs.SnapshotIndex:
		c.broken = labkit.Violationf(prop, "%s, %s holds entries up to %d (snapshot up to %d), but a node restarted from its disk would hold entries up to %d (snapshot up to %d)",
			when, name, ls.LastIndex, ls.SnapshotIndex, gs.LastIndex, gs.SnapshotIndex)
	default:
		for i := ls.SnapshotIndex + 1; i <= ls.LastIndex; i++ {
			le, _ := live.Entry(i)
			ge, ok := g.Entry(i)
			if !ok || le != ge {
				c.broken = labkit.Violationf(prop, "%s, %s has %s at index %d, but a node restarted from its disk would have %s",
					when, name, entryText(le, true), i, entryText(ge, ok))
				return
			}
		}
	}
}

func entryText(e raft.Entry, ok bool) string {
	if !ok {
		return "no entry"
	}
	return fmt.Sprintf("%q of term %d", e.Command, e.Term)
}

// noteApply checks an entry (or snapshot) a node applied against what
// others applied at the same index.
func (c *cluster) noteApply(node string, m raft.ApplyMsg) {
	if c.broken != nil {
		return
	}
	e := raft.Entry{Term: m.Term, Command: m.Command}
	if prev, ok := c.applied[m.Index]; ok {
		if prev.entry != e {
			c.broken = labkit.Violationf("every node applies the same command at each index",
				"%s applied %s at index %d, but %s had applied %s there", node, entryText(e, true), m.Index, prev.node, entryText(prev.entry, true))
		}
		return
	}
	c.applied[m.Index] = applied{node: node, entry: e}
	c.maxApp = max(c.maxApp, m.Index)
}

func (c *cluster) check() error {
	if c.broken != nil {
		return c.broken
	}
	now := c.sim.Elapsed()
	for _, name := range c.real {
		label := "crashed"
		st, up := c.status(name)
		if up {
			label = st.Role.String()
			if prev, seen := c.last[name]; seen && st.Term < prev {
				return labkit.Violationf("a node's term never decreases (it is kept on disk across crashes)",
					"%s was in term %d, and is now in term %d", name, prev, st.Term)
			}
			c.last[name] = st.Term
			if pts := c.commits[name]; len(pts) == 0 || pts[len(pts)-1].Y != float64(st.CommitIndex) {
				c.commits[name] = append(pts, labkit.Point{X: now.Seconds(), Y: float64(st.CommitIndex)})
				c.maxCommit = max(c.maxCommit, st.CommitIndex)
			}
			if st.CommitIndex > st.LastIndex || st.CommitIndex < st.SnapshotIndex {
				return labkit.Violationf("the commit index lies between the snapshot's last index and the log's last index",
					"%s reports commit index %d with entries up to %d and a snapshot up to %d", name, st.CommitIndex, st.LastIndex, st.SnapshotIndex)
			}
			if st.Role == raft.Leader && !c.claimed[nodeTerm{name, st.Term}] {
				c.claimed[nodeTerm{name, st.Term}] = true
				c.leaders.Claim(name, st.Term)
				c.sim.Logf("%s is leader of term %d", name, st.Term)
				if err := c.leaderComplete(name, st); err != nil {
					return err
				}
			}
		}
		ch := c.changes[name]
		if len(ch) == 0 || ch[len(ch)-1].State != label {
			c.changes[name] = append(ch, labkit.Change{At: now, State: label})
		}
	}
	return c.leaders.Check()
}

// leaderComplete checks that a new leader's log holds every entry anyone
// applied (Leader Completeness).
func (c *cluster) leaderComplete(name string, st raft.Status) error {
	const prop = "a new leader's log holds every committed entry"
	if st.LastIndex < c.maxApp {
		return labkit.Violationf(prop, "%s became leader of term %d with entries up to %d, but index %d was already applied (by %s)",
			name, st.Term, st.LastIndex, c.maxApp, c.applied[c.maxApp].node)
	}
	n := c.nodes[name]
	for i := st.SnapshotIndex + 1; i <= c.maxApp; i++ {
		a, ok := c.applied[i]
		if !ok {
			continue
		}
		if e, has := n.Entry(i); !has || e != a.entry {
			return labkit.Violationf(prop, "%s became leader of term %d with %s at index %d, but %s had applied %s there",
				name, st.Term, entryText(e, has), i, a.node, entryText(a.entry, true))
		}
	}
	return nil
}

// leader returns the running leader with the highest term, if any.
func (c *cluster) leader() (string, int64, bool) {
	best, bestTerm, found := "", int64(-1), false
	for _, name := range c.real {
		st, up := c.status(name)
		if up && st.Role == raft.Leader && st.Term > bestTerm {
			best, bestTerm, found = name, st.Term, true
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
			if slices.Contains(exclude, n) {
				continue
			}
			st, up := c.status(n)
			if up && st.Role == raft.Leader && st.Term > minTerm {
				name, term = n, st.Term
				return true
			}
		}
		return false
	}, limit)
	c.require()
	return name, term, ok
}

// mustLeader waits up to 10T for a leader and fails the test without one.
func (c *cluster) mustLeader(why string) (string, int64) {
	c.t.Helper()
	name, term, ok := c.waitLeader(10*c.timeout(), 0)
	c.sim.Check(c.t, ok, "a leader is elected within 10T while a majority is connected", "%s: no leader by %s", why, c.sim.Elapsed())
	return name, term
}

func (c *cluster) timeout() time.Duration {
	if c.cfg.ElectionTimeout > 0 {
		return c.cfg.ElectionTimeout
	}
	return 150 * time.Millisecond
}

// start calls Start on a running node; with ghosts on, it checks the disk
// right after.
func (c *cluster) start(name, cmd string) (int64, int64, bool) {
	n := c.up(name)
	if n == nil {
		return 0, 0, false
	}
	i, term, ok := n.Start(cmd)
	if ok && c.ghosts && c.net.Up(name) {
		c.checkDisk(name, fmt.Sprintf("when Start(%q) returned", cmd))
	}
	return i, term, ok
}

// one submits cmd to whichever node leads, retrying for up to limit, and
// waits until every node in want (all running nodes if nil) applied it.
// It returns the index it was applied at.
func (c *cluster) one(cmd string, limit time.Duration, want []string) int64 {
	c.t.Helper()
	deadline := c.sim.Elapsed() + limit
	for c.sim.Elapsed() < deadline {
		if name, _, ok := c.leader(); ok {
			if idx, _, ok := c.start(name, cmd); ok {
				c.require()
				done := c.sim.RunUntil(func() bool {
					for _, n := range c.real {
						if want != nil && !slices.Contains(want, n) || want == nil && c.up(n) == nil {
							continue
						}
						if s := c.svcs[n]; s.cmdAt(idx) != cmd {
							return false
						}
					}
					return true
				}, 4*c.timeout())
				c.require()
				if done {
					return idx
				}
				continue
			}
		}
		c.run(10 * time.Millisecond)
	}
	who := "every running node"
	if want != nil {
		who = strings.Join(want, ", ")
	}
	c.sim.Failf(c.t, "a command submitted to the leader is committed and applied by every connected node",
		"%q was not applied by %s within %s", cmd, who, limit)
	return 0
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

// crash crashes a node; restart brings it back.
func (c *cluster) crash(name string)   { c.net.Crash(name) }
func (c *cluster) restart(name string) { c.net.Restart(name) }

// names returns n1..nk.
func names(k int) []string {
	var out []string
	for i := 1; i <= k; i++ {
		out = append(out, fmt.Sprintf("n%d", i))
	}
	return out
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

// commitSVG draws every node's commit index over time (a crash restarts
// it at the snapshot's last index).
func (c *cluster) commitSVG() string {
	var series []labkit.Series
	for _, name := range c.real {
		pts := append(slices.Clone(c.commits[name]), labkit.Point{X: c.sim.Elapsed().Seconds()})
		if n := len(pts); n > 1 {
			pts[n-1].Y = pts[n-2].Y
		}
		series = append(series, labkit.Series{Name: name, Points: pts})
	}
	return labkit.LineChart{Title: "commit index per node over virtual time", XLabel: "virtual time (s)", YLabel: "commit index",
		Series: series, Steps: true}.SVG()
}

// service is what runs on top of a node's Raft: it records what Raft
// applies (and checks it arrives in order), snapshots when told to, and
// with the cluster's kv serves a key-value store.
type service struct {
	c    *cluster
	name string
	env  *labkit.Env
	node *raft.Node

	appliedIndex int64
	cmds         []string // cmds[i-1] is the command applied at index i
	lastSnap     int64
	snapshots    int // snapshots applied

	kv      map[string]string
	seen    map[string]int64 // client → last put/append seq applied
	pending map[int64]pendingOp
}

type pendingOp struct {
	from   string
	client string
	seq    int64
}

// Handle passes Raft's messages to the node and serves clients.
func (s *service) Handle(from string, msg any) {
	if m, ok := msg.(kvRequest); ok {
		s.request(from, m)
	} else {
		s.node.Handle(from, msg)
	}
	s.c.afterEvent(s.name)
}

func (s *service) cmdAt(i int64) string {
	if i < 1 || i > int64(len(s.cmds)) {
		return ""
	}
	return s.cmds[i-1]
}

// snapshotData is what a service snapshot holds.
type snapshotData struct {
	Cmds []string `json:"cmds"`
}

func (s *service) encode() []byte {
	b, _ := json.Marshal(snapshotData{Cmds: s.cmds})
	return b
}

// apply is the callback the service gives Raft.
func (s *service) apply(m raft.ApplyMsg) {
	c := s.c
	if c.broken != nil {
		return
	}
	if m.Snapshot {
		var d snapshotData
		if err := json.Unmarshal(m.Data, &d); err != nil || int64(len(d.Cmds)) != m.Index {
			c.broken = labkit.Violationf("a snapshot is handed to the service as the service made it",
				"%s was given a snapshot through index %d whose data is not one the service wrote for that index", s.name, m.Index)
			return
		}
		if m.Index <= s.appliedIndex {
			c.broken = labkit.Violationf("entries and snapshots are applied in index order, each once",
				"%s was given a snapshot through index %d after it had applied up to index %d", s.name, m.Index, s.appliedIndex)
			return
		}
		for i, cmd := range d.Cmds {
			if a, ok := c.applied[int64(i+1)]; ok && a.entry.Command != cmd {
				c.broken = labkit.Violationf("every node applies the same command at each index",
					"%s was given a snapshot with %q at index %d, but %s had applied %s there", s.name, cmd, i+1, a.node, entryText(a.entry, true))
				return
			}
		}
		s.cmds = d.Cmds
		s.appliedIndex = m.Index
		s.lastSnap = m.Index
		s.snapshots++
		s.rebuild()
		return
	}
	if m.Index != s.appliedIndex+1 {
		c.broken = labkit.Violationf("entries and snapshots are applied in index order, each once",
			"%s applied index %d right after index %d", s.name, m.Index, s.appliedIndex)
		return
	}
	c.noteApply(s.name, m)
	s.appliedIndex = m.Index
	s.cmds = append(s.cmds, m.Command)
	if c.kv {
		s.applyKV(m.Index, m.Command)
	}
}

// rebuild recomputes the key-value state from the commands.
func (s *service) rebuild() {
	if !s.c.kv {
		return
	}
	s.kv, s.seen = nil, nil
	for _, cmd := range s.cmds {
		s.exec(cmd)
	}
}

package hidden

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/raft"
)

// got is a message a fake peer received.
type got struct {
	at   time.Duration
	from string
	msg  any
}

// fake is a peer the test scripts by hand. It records what it receives and,
// when told to, grants every vote request, acknowledges every AppendEntries
// (as if its log now matched the leader's) and every snapshot.
type fake struct {
	c     *cluster
	name  string
	inbox []got
	grant bool
	ack   bool
}

func (c *cluster) addFake(name string) *fake {
	f := &fake{c: c, name: name}
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			f.inbox = append(f.inbox, got{c.sim.Elapsed(), from, msg})
			switch m := msg.(type) {
			case raft.RequestVote:
				if f.grant {
					f.send(from, raft.Vote{Term: m.Term, Granted: true})
				}
			case raft.AppendEntries:
				if f.ack {
					f.send(from, raft.AppendReply{Term: m.Term, Success: true, Index: m.PrevLogIndex + int64(len(m.Entries))})
				}
			case raft.InstallSnapshot:
				if f.ack {
					f.send(from, raft.SnapshotReply{Term: m.Term, Index: m.LastIncludedIndex})
				}
			}
		})
	})
	return f
}

func (f *fake) send(to string, msg any) { f.c.net.Send(f.name, to, msg) }

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

// ask sends msg to node, runs 5ms and returns what came back.
func (f *fake) ask(node string, msg any) []any {
	f.c.t.Helper()
	start := f.c.sim.Elapsed()
	f.send(node, msg)
	f.c.run(5 * time.Millisecond)
	return f.since(start)
}

// expect fails unless asking node with msg gets exactly want back.
func (f *fake) expect(node string, msg, want any, why string) {
	f.c.t.Helper()
	replies := f.ask(node, msg)
	if len(replies) != 1 || !same(replies[0], want) {
		f.c.sim.Failf(f.c.t, why, "%s sent %s to %s and got back %s; want exactly %s",
			f.name, describe(msg), node, describeAll(replies), describe(want))
	}
}

// same compares two messages (AppendEntries by their fields and entries).
func same(a, b any) bool {
	return describe(a) == describe(b)
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

// appends returns the AppendEntries among msgs.
func appends(msgs []any) []raft.AppendEntries {
	var out []raft.AppendEntries
	for _, m := range msgs {
		if a, ok := m.(raft.AppendEntries); ok {
			out = append(out, a)
		}
	}
	return out
}

func requestVotes(msgs []got) []got {
	var out []got
	for _, g := range msgs {
		if _, ok := g.msg.(raft.RequestVote); ok {
			out = append(out, g)
		}
	}
	return out
}

// scripted returns a cluster of the real node n1 and fake peers n2..nk+1.
func scripted(t *testing.T, cfg raft.Config, peers int) (*cluster, []*fake) {
	return scriptedRand(t, cfg, peers, nil)
}

// scriptedRand is scripted with n1 drawing its random numbers from rnd
// (the simulation's when nil).
func scriptedRand(t *testing.T, cfg raft.Config, peers int, rnd *rand.Rand) (*cluster, []*fake) {
	c := newCluster(t, labkit.Seed(t), cfg, oneMs)
	c.rnd = rnd
	c.addNodes("n1")
	var fakes []*fake
	for _, name := range names(peers + 1)[1:] {
		fakes = append(fakes, c.addFake(name))
	}
	return c, fakes
}

// checkStatus fails unless node is running with the given role and term.
func (c *cluster) checkStatus(node string, role raft.Role, term int64, why string) {
	c.t.Helper()
	st, up := c.status(node)
	c.sim.Check(c.t, up && st.Role == role && st.Term == term, why,
		"%s reports Status() role %s, term %d; want %s of term %d", node, st.Role, st.Term, role, term)
}

// checkLog fails unless node's log holds exactly want after its snapshot.
func (c *cluster) checkLog(node string, want []raft.Entry, why string) {
	c.t.Helper()
	n := c.up(node)
	st := n.Status()
	var have []raft.Entry
	for i := st.SnapshotIndex + 1; i <= st.LastIndex; i++ {
		e, _ := n.Entry(i)
		have = append(have, e)
	}
	if logText(have) != logText(want) {
		c.sim.Failf(c.t, why, "%s's log after index %d is %s; want %s (term:command)", node, st.SnapshotIndex, logText(have), logText(want))
	}
}

// logText prints entries as [1:"c1" 2:"c2"].
func logText(es []raft.Entry) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%d:%q", e.Term, e.Command))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// becomeLeader lets the fakes vote for n1 and acknowledge it, and waits
// until it leads.
func becomeLeader(c *cluster, fakes []*fake) int64 {
	c.t.Helper()
	for _, f := range fakes {
		f.grant, f.ack = true, true
	}
	_, term, ok := c.waitLeader(3*c.timeout(), 0)
	c.sim.Check(c.t, ok, "a candidate that gets a majority of votes becomes leader",
		"every peer granted n1's vote requests, but n1 was not leader within 3T")
	return term
}

// afterHeartbeat runs until f has just received an AppendEntries, then 1ms
// more: the leader's next ones are almost H away.
func (c *cluster) afterHeartbeat(f *fake) {
	c.t.Helper()
	n := len(appends(f.since(0)))
	c.sim.RunUntil(func() bool { return len(appends(f.since(0))) > n }, 2*c.cfg.Heartbeat+time.Millisecond)
	c.run(time.Millisecond)
}

// entries makes a log of the given terms, with commands c1, c2, ...
func entries(terms ...int64) []raft.Entry {
	var out []raft.Entry
	for i, t := range terms {
		out = append(out, raft.Entry{Term: t, Command: "c" + itoa(i+1)})
	}
	return out
}

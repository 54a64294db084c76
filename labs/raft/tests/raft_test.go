package raft

import (
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// Timings used by the tests: T = 100ms, H = 20ms.
var labConfig = Config{ElectionTimeout: 100 * time.Millisecond, Heartbeat: 20 * time.Millisecond}

// labQuiet never starts an election on its own during a test.
var labQuiet = Config{ElectionTimeout: time.Hour, Heartbeat: 20 * time.Millisecond}

var labLossy = labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: 0.05}

// Part A. Three nodes elect one leader within 10T and keep it while
// nothing fails.
func TestInitialElection(t *testing.T) {
	c := newLabCluster(t, labConfig, labLossy)
	c.addNodes(labNames(3)...)
	first, ok := c.waitLeader(time.Second)
	c.sim.Check(t, ok, "a leader is elected within 10T of the start", "no node became leader within 1s (T = 100ms)")
	term := c.nodes[first].Status().Term
	c.run(2 * time.Second)
	now, _ := c.leader()
	st := c.nodes[now].Status()
	c.sim.Check(t, now == first && st.Term == term, "a leader whose followers answer keeps leading",
		"%s led term %d; 2s later %s leads term %d", first, term, now, st.Term)
	for _, n := range c.real {
		c.sim.Check(t, c.nodes[n].Status().Term == term, "followers adopt the leader's term", "%s is in term %d", n, c.nodes[n].Status().Term)
	}
}

// Part A. One real node n1 and scripted peers: the voting rules with
// empty logs.
func TestVoteBasics(t *testing.T) {
	c := newLabCluster(t, labQuiet, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.addNodes("n1")
	n2, n3 := c.addFake("n2"), c.addFake("n3")
	n2.expect("n1", RequestVote{Term: 1}, Vote{Term: 1, Granted: true}, "a node grants its vote to the first candidate of a term")
	n3.expect("n1", RequestVote{Term: 1}, Vote{Term: 1}, "a node grants at most one vote per term")
	n2.expect("n1", RequestVote{Term: 1}, Vote{Term: 1, Granted: true}, "a repeated request from the candidate it voted for is granted again")
	n3.expect("n1", RequestVote{Term: 0}, Vote{Term: 1}, "a request for an older term is refused with the current term")
	n3.expect("n1", RequestVote{Term: 2}, Vote{Term: 2, Granted: true}, "a new term brings a new vote")
	st := c.nodes["n1"].Status()
	c.sim.Check(t, st.Role == Follower && st.Term == 2 && st.VotedFor == "n3", "Status reports the role, the term and the vote",
		"Status() = %+v", st)
}

// Part B. Commands started on the leader are applied by every node, in
// order, at consecutive indexes.
func TestAgreeBasic(t *testing.T) {
	c := newLabCluster(t, labConfig, labLossy)
	c.addNodes(labNames(3)...)
	_, ok := c.waitLeader(time.Second)
	c.sim.Check(t, ok, "a leader is elected within 10T of the start", "no leader within 1s")
	for k := 1; k <= 5; k++ {
		idx := c.one(fmt.Sprintf("cmd%d", k), time.Second)
		c.sim.Check(t, idx == int64(k), "entries get consecutive indexes from 1", "command %d was applied at index %d", k, idx)
	}
}

// Part B. Start on a follower refuses and changes nothing.
func TestStartOnFollower(t *testing.T) {
	c := newLabCluster(t, labConfig, labLossy)
	c.addNodes(labNames(3)...)
	lead, ok := c.waitLeader(time.Second)
	c.sim.Check(t, ok, "a leader is elected within 10T of the start", "no leader within 1s")
	for _, n := range c.real {
		if n == lead {
			continue
		}
		before := c.nodes[n].Status()
		i, term, ok := c.nodes[n].Start("nope")
		c.sim.Check(t, i == 0 && term == 0 && !ok && c.nodes[n].Status() == before,
			"Start on a node that is not the leader returns 0, 0, false and changes nothing",
			"Start on follower %s returned (%d, %d, %v)", n, i, term, ok)
	}
}

// Part C. Crash every node and restart it: the committed entries are still
// there and the cluster goes on.
func TestPersistBasic(t *testing.T) {
	c := newLabCluster(t, labConfig, labLossy)
	c.addNodes(labNames(3)...)
	c.waitLeader(time.Second)
	c.one("before", time.Second)
	for _, n := range c.real {
		c.net.Crash(n)
	}
	c.run(100 * time.Millisecond)
	for _, n := range c.real {
		c.net.Restart(n)
	}
	_, ok := c.waitLeader(time.Second)
	c.sim.Check(t, ok, "a leader is elected after a restart", "no leader within 1s after every node restarted")
	idx := c.one("after", 2*time.Second)
	c.sim.Check(t, idx == 2, "the log survives crashes", "after a restart of every node, the next command went to index %d; want 2", idx)
	for _, n := range c.real {
		c.sim.Check(t, c.svcs[n].cmdAt(1) == "before", "a restarted node applies its committed entries again",
			"%s applied %q at index 1", n, c.svcs[n].cmdAt(1))
	}
}

// Part D. The service snapshots every 5 entries: the logs stay short, and
// a restarted node starts from its snapshot.
func TestSnapshotBasic(t *testing.T) {
	c := newLabCluster(t, labConfig, labLossy)
	c.snapEach = 5
	c.addNodes(labNames(3)...)
	c.waitLeader(time.Second)
	for k := 1; k <= 23; k++ {
		c.one(fmt.Sprintf("s%d", k), time.Second)
	}
	for _, n := range c.real {
		st := c.nodes[n].Status()
		c.sim.Check(t, st.SnapshotIndex >= 15 && st.LastIndex-st.SnapshotIndex < 10, "Snapshot drops the entries it covers",
			"after 23 entries with a snapshot every 5, %s reports %+v", n, st)
		c.net.Crash(n)
		c.net.Restart(n)
		s := c.svcs[n]
		c.sim.Check(t, s.index == st.SnapshotIndex && s.cmdAt(1) == "s1", "a restarted node hands its snapshot to the service before New returns",
			"after a restart %s's service has applied up to %d; the snapshot covered up to %d", n, s.index, st.SnapshotIndex)
		c.run(300 * time.Millisecond)
	}
	c.one("end", 2*time.Second)
}

package leaderelection

import (
	"testing"
	"time"

	"faultline.dev/labkit"
)

// Timings used by the tests: T = 100ms, H = 20ms, L = 100ms.
var labConfig = Config{ElectionTimeout: 100 * time.Millisecond, Heartbeat: 20 * time.Millisecond, Lease: 100 * time.Millisecond}

// labQuiet never starts an election on its own during a test.
var labQuiet = Config{ElectionTimeout: time.Hour, Heartbeat: 20 * time.Millisecond, Lease: 100 * time.Millisecond}

var labOneMs = labkit.Link{Latency: labkit.Fixed(time.Millisecond)}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{Follower: "follower", Candidate: "candidate", Leader: "leader"} {
		if s := r.String(); s != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), s, want)
		}
	}
}

// One real node n1 and two scripted peers: the voting rules.
func TestVoteRules(t *testing.T) {
	c := newLabCluster(t, labkit.Seed(t), labQuiet, labOneMs)
	c.addNodes("n1")
	n2, n3 := c.addFake("n2"), c.addFake("n3")
	c.checkState("n1", Follower, 0, "a new node starts as a follower in term 0")

	n2.expect("n1", RequestVote{Term: 1}, Vote{Term: 1, Granted: true}, "a node grants its vote to the first candidate of a term")
	c.checkState("n1", Follower, 1, "a vote request for a higher term moves the node to that term")
	n3.expect("n1", RequestVote{Term: 1}, Vote{Term: 1, Granted: false}, "a node grants at most one vote per term")
	n2.expect("n1", RequestVote{Term: 1}, Vote{Term: 1, Granted: true}, "a repeated request from the candidate it voted for is granted again")
	n3.expect("n1", RequestVote{Term: 0}, Vote{Term: 1, Granted: false}, "a request for an older term is refused with the current term")
	n3.expect("n1", RequestVote{Term: 2}, Vote{Term: 2, Granted: true}, "a new term brings a new vote")
	c.checkState("n1", Follower, 2, "the node follows the highest term it has seen")
}

// Heartbeats of the current leader keep a follower from starting elections.
func TestHeartbeatKeepsFollower(t *testing.T) {
	c := newLabCluster(t, labkit.Seed(t), labConfig, labOneMs)
	c.addNodes("n1")
	n2, n3 := c.addFake("n2"), c.addFake("n3")
	n2.send("n1", Heartbeat{Term: 1})
	for range 50 { // one second, a heartbeat every 20ms
		c.run(20 * time.Millisecond)
		n2.send("n1", Heartbeat{Term: 1})
	}
	for _, m := range n3.since(0) {
		c.sim.Failf(t, "a follower that hears heartbeats does not start an election",
			"n1 was sent Heartbeat{term 1} every 20ms (T = 100ms) but sent n3 %s", labDescribe(m))
	}
	c.checkState("n1", Follower, 1, "a heartbeat of a higher term moves a follower to that term")
	replies := n2.since(0)
	if len(replies) == 0 || replies[0] != (HeartbeatReply{Term: 1}) {
		c.sim.Failf(t, "a follower answers every heartbeat with HeartbeatReply{its term}",
			"n2 labGot %s", labDescribeAll(replies))
	}
}

// Five real nodes elect a leader within 10T under delay and a little loss.
func TestElectsLeaderAtStart(t *testing.T) {
	c := newLabCluster(t, labkit.Seed(t), labConfig, labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: 0.05})
	c.addNodes(labNames(5)...)
	_, _, ok := c.waitLeader(10*labConfig.ElectionTimeout, 0)
	c.sim.Check(t, ok, "a leader is elected within 10T of the start",
		"no node became leader within %s (T = %s)", 10*labConfig.ElectionTimeout, labConfig.ElectionTimeout)
	c.run(2 * time.Second)
}

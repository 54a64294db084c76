package hidden

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/raft"
)

const (
	T = 100 * time.Millisecond
	H = 20 * time.Millisecond
)

var testConfig = raft.Config{ElectionTimeout: T, Heartbeat: H}

// quiet never starts an election on its own during a test.
var quiet = raft.Config{ElectionTimeout: time.Hour, Heartbeat: H}

var oneMs = labkit.Link{Latency: labkit.Fixed(time.Millisecond)}

var lossy = labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: 0.05}

func itoa(i int) string { return strconv.Itoa(i) }

// Part A: leader election.

func TestRoleAndStatus(t *testing.T) {
	for r, want := range map[raft.Role]string{raft.Follower: "follower", raft.Candidate: "candidate", raft.Leader: "leader"} {
		if s := r.String(); s != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), s, want)
		}
	}
	c, fakes := scripted(t, quiet, 2)
	st, _ := c.status("n1")
	c.sim.Check(t, st == raft.Status{}, "a new node reports a zero Status: a follower of term 0 with no vote, no entries, nothing committed",
		"Status() = %+v", st)
	fakes[0].expect("n1", raft.RequestVote{Term: 4}, raft.Vote{Term: 4, Granted: true}, "a node grants its vote to the first candidate of a term")
	st, _ = c.status("n1")
	c.sim.Check(t, st == raft.Status{Term: 4, VotedFor: "n2"}, "Status reports the term and the vote",
		"after voting for n2 in term 4, Status() = %+v", st)
}

func TestElectionTimeoutsRandomized(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, oneMs)
		c.addNodes("n1")
		f := c.addFake("n2")
		c.addFake("n3")
		c.run(30 * T)
		reqs := requestVotes(f.inbox)
		c.sim.Check(t, len(reqs) >= 10, "a node with no leader starts an election every [T, 2T]",
			"n1 heard nobody for 30T but sent only %d vote requests to n2", len(reqs))
		prev := time.Duration(0)
		var gaps []time.Duration
		for i, g := range reqs {
			sentAt := g.at - time.Millisecond
			gap := sentAt - prev
			c.sim.Check(t, gap >= T && gap <= 2*T, "election timeouts are drawn from [T, 2T]",
				"n1 sent its vote request #%d at %s, %s after the previous election (or the start); T = %s", i+1, sentAt, gap, T)
			c.sim.Check(t, same(g.msg, raft.RequestVote{Term: int64(i + 1)}), "each election starts a new term (term + 1) and names the candidate's last entry",
				"n1's vote request #%d is %s", i+1, describe(g.msg))
			gaps = append(gaps, gap)
			prev = sentAt
		}
		slices.Sort(gaps)
		c.sim.Check(t, gaps[0] != gaps[len(gaps)-1], "election timeouts are random (otherwise split votes repeat forever)",
			"all %d election timeouts of n1 were exactly %s", len(gaps), gaps[0])
	})
}

// The voting rules with a real n1 and scripted peers (logs empty).
func TestVoteRules(t *testing.T) {
	c, fakes := scripted(t, quiet, 4)
	n2, n3 := fakes[0], fakes[1]
	c.checkStatus("n1", raft.Follower, 0, "a new node starts as a follower in term 0")
	n2.expect("n1", raft.RequestVote{Term: 1}, raft.Vote{Term: 1, Granted: true}, "a node grants its vote to the first candidate of a term")
	n3.expect("n1", raft.RequestVote{Term: 1}, raft.Vote{Term: 1}, "a node grants at most one vote per term")
	n2.expect("n1", raft.RequestVote{Term: 1}, raft.Vote{Term: 1, Granted: true}, "a repeated request from the candidate it voted for is granted again")
	n3.expect("n1", raft.RequestVote{Term: 0}, raft.Vote{Term: 1}, "a request for an older term is refused with the current term")
	n3.expect("n1", raft.RequestVote{Term: 2}, raft.Vote{Term: 2, Granted: true}, "a new term brings a new vote")
	c.checkStatus("n1", raft.Follower, 2, "the node follows the highest term it has seen")
	// In term 5 with no vote yet, a candidate of term 4 is still refused.
	fakes[2].expect("n1", raft.AppendEntries{Term: 5}, raft.AppendReply{Term: 5, Success: true}, "AppendEntries of a higher term are accepted")
	n3.expect("n1", raft.RequestVote{Term: 4}, raft.Vote{Term: 5}, "a request for an older term is refused with the current term, even with no vote cast")
	n2.expect("n1", raft.RequestVote{Term: 5}, raft.Vote{Term: 5, Granted: true}, "a node grants its vote to the first candidate of a term")
}

func TestHigherTermStepsDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  func(term int64) any
	}{
		{"RequestVote", func(term int64) any { return raft.RequestVote{Term: term} }},
		{"Vote", func(term int64) any { return raft.Vote{Term: term} }},
		{"AppendEntries", func(term int64) any { return raft.AppendEntries{Term: term} }},
		{"AppendReply", func(term int64) any { return raft.AppendReply{Term: term} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fakes := scripted(t, testConfig, 4)
			term := becomeLeader(c, fakes)
			c.run(3 * H)
			for _, f := range fakes {
				f.ack = false
			}
			start := c.sim.Elapsed()
			fakes[1].send("n1", tc.msg(term+4))
			c.run(5 * time.Millisecond)
			c.checkStatus("n1", raft.Follower, term+4,
				fmt.Sprintf("a leader that sees a higher term in a %s adopts it and steps down", tc.name))
			st, _ := c.status("n1")
			c.sim.Check(t, st.VotedFor == "" || tc.name == "RequestVote", "a node that adopts a higher term has no vote in it",
				"after a %s of term %d, n1 reports a vote for %q", tc.name, term+4, st.VotedFor)
			c.run(3 * H)
			for _, m := range fakes[2].since(start + 2*time.Millisecond) {
				if a, ok := m.(raft.AppendEntries); ok {
					c.sim.Failf(t, "a leader that steps down stops sending AppendEntries", "n1 stepped down but n4 still got %s", describe(a))
				}
			}
		})
	}
}

func TestVotesCountOnce(t *testing.T) {
	c, fakes := scripted(t, testConfig, 4)
	n2 := fakes[0]
	c.sim.RunUntil(func() bool { return len(requestVotes(n2.inbox)) > 0 }, 3*T)
	c.require()
	for range 3 {
		n2.send("n1", raft.Vote{Term: 1, Granted: true})
	}
	c.run(5 * time.Millisecond)
	st, _ := c.status("n1")
	c.sim.Check(t, st.Role != raft.Leader, "a candidate counts each voter once",
		"n1 became leader of 5 nodes with its own vote and three copies of n2's vote")
	fakes[1].send("n1", raft.Vote{Term: 1})
	c.run(5 * time.Millisecond)
	st, _ = c.status("n1")
	c.sim.Check(t, st.Role == raft.Candidate, "a refused vote does not count", "n1 is %s after n3 refused its vote", st.Role)
	fakes[2].send("n1", raft.Vote{Term: 1, Granted: true})
	c.run(5 * time.Millisecond)
	c.checkStatus("n1", raft.Leader, 1, "a candidate with votes from a majority (itself, n2, n4) becomes leader")
	// An AppendEntries of the leader's own term cannot come from a correct
	// peer: the leader ignores it.
	n5 := fakes[3]
	at := c.sim.Elapsed()
	n5.send("n1", raft.AppendEntries{Term: 1})
	c.run(3 * time.Millisecond)
	for _, m := range n5.since(at) {
		if r, ok := m.(raft.AppendReply); ok {
			c.sim.Failf(t, "a leader ignores AppendEntries of its own term", "n1 answered n5's AppendEntries{term 1} with %s", describe(r))
		}
	}
	c.checkStatus("n1", raft.Leader, 1, "a leader ignores AppendEntries of its own term")
}

// A new leader sends AppendEntries at once and every H: with empty logs
// they carry no entries, prev 0/0 and commit 0.
func TestLeaderHeartbeats(t *testing.T) {
	c, fakes := scripted(t, testConfig, 4)
	term := becomeLeader(c, fakes)
	won := c.sim.Elapsed()
	c.run(50 * H)
	c.checkStatus("n1", raft.Leader, term, "a leader whose followers answer keeps leading")
	var times []time.Duration
	for _, g := range fakes[2].inbox {
		if a, ok := g.msg.(raft.AppendEntries); ok {
			c.sim.Check(t, same(a, raft.AppendEntries{Term: term}), "with empty logs a leader's AppendEntries carry prev 0/0, no entries and commit 0",
				"n4 got %s", describe(a))
			times = append(times, g.at)
		}
	}
	c.sim.Check(t, len(times) > 0 && times[0] <= won+time.Millisecond, "a new leader sends AppendEntries at once",
		"n1 became leader at %s; the first AppendEntries reached n4 at %v", won, times)
	for i := 1; i < len(times); i++ {
		c.sim.Check(t, times[i]-times[i-1] <= H, "a leader sends AppendEntries to every peer every H",
			"AppendEntries reached n4 at %s and then only at %s (H = %s)", times[i-1], times[i], H)
	}
	c.sim.Check(t, len(times) >= 45, "a leader sends AppendEntries to every peer every H", "n4 got %d in 50H", len(times))
}

// A follower or candidate that hears the leader of its term follows it and
// re-arms its timer; a stale leader is told the term and changes nothing.
func TestFollowerHeartbeatRules(t *testing.T) {
	c, fakes := scripted(t, testConfig, 4)
	n2, n3 := fakes[0], fakes[1]
	// Heartbeats of term 1 every 10ms for 5T: no election.
	for range 50 {
		n2.send("n1", raft.AppendEntries{Term: 1})
		c.run(10 * time.Millisecond)
	}
	c.sim.Check(t, len(requestVotes(n3.inbox)) == 0, "AppendEntries of the current term re-arm the election timer",
		"n1 got AppendEntries{term 1} every 10ms but started an election (T = %s)", T)
	c.checkStatus("n1", raft.Follower, 1, "AppendEntries of a higher term move a follower to that term")
	n2.expect("n1", raft.AppendEntries{Term: 1}, raft.AppendReply{Term: 1, Success: true}, "a follower answers the leader's AppendEntries")
	n3.expect("n1", raft.AppendEntries{Term: 0}, raft.AppendReply{Term: 1}, "AppendEntries of an older term are refused with the current term")
	// Stale heartbeats must not hold off an election.
	start := c.sim.Elapsed()
	for range 30 {
		n3.send("n1", raft.AppendEntries{Term: 0})
		c.run(10 * time.Millisecond)
	}
	var elected bool
	for _, g := range requestVotes(n3.inbox) {
		elected = elected || g.at > start
	}
	c.sim.Check(t, elected, "AppendEntries of an older term do not re-arm the election timer",
		"after %s n1 got only stale AppendEntries{term 0} every 10ms for 3T and never started an election", start)
	// A candidate of term k that hears a leader of term k follows it.
	st, _ := c.status("n1")
	c.sim.Check(t, st.Role == raft.Candidate, "a node whose election timer fires becomes a candidate", "n1 is %s", st.Role)
	n2.expect("n1", raft.AppendEntries{Term: st.Term}, raft.AppendReply{Term: st.Term, Success: true}, "a candidate that hears the leader of its term answers it")
	c.checkStatus("n1", raft.Follower, st.Term, "a candidate that hears the leader of its term becomes its follower")
}

func TestReElection(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		all := names(3)
		c.addNodes(all...)
		old, term := c.mustLeader("at the start")
		c.run(5 * T)
		c.net.Isolate(old)
		next, nextTerm, ok := c.waitLeader(10*T, term, old)
		c.sim.Check(t, ok, "when the leader is cut off, the others elect a new leader within 10T",
			"%s (leader of term %d) was isolated; no other node led a later term by %s", old, term, c.sim.Elapsed())
		c.net.Heal()
		c.run(10 * T)
		_, _, ok = c.leader()
		c.sim.Check(t, ok, "a leader stays elected after the old leader rejoins", "no leader 10T after healing")
		// No majority, no leader.
		var rest []string
		for _, n := range all {
			if n != next {
				rest = append(rest, n)
			}
		}
		c.net.Partition([]string{next}, []string{rest[0]}, []string{rest[1]})
		c.run(10 * T)
		cur, curTerm, _ := c.leader()
		_, _, elected := c.waitLeader(6*T, max(curTerm, nextTerm))
		c.sim.Check(t, !elected, "no node becomes leader without a majority",
			"with every node cut off from the others, a node became leader of a new term (%s led term %d before)", cur, curTerm)
		c.net.Heal()
		c.mustLeader("after every partition healed")
	})
}

func TestElectionUnderLateVotes(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		// 10% of messages arrive after the election timeout: votes that
		// reach a candidate that moved on, heartbeats of old terms.
		c := newCluster(t, seed, testConfig, labkit.Link{
			Latency: labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), 0.1, T), Loss: 0.05,
			Dup: 0.05, DupDelay: labkit.Uniform(T, 3*T)})
		c.addNodes(names(5)...)
		c.mustLeader("at the start, with late and duplicated messages")
		c.run(5 * time.Second)
		c.mustLeader("after 5s of late and duplicated messages")
	})
}

// TestConfigDefaults: zero Config fields take T = 150ms and H = 30ms.
func TestConfigDefaults(t *testing.T) {
	const dT, dH = 150 * time.Millisecond, 30 * time.Millisecond
	c, fakes := scripted(t, raft.Config{}, 4)
	c.run(20 * dT)
	reqs := requestVotes(fakes[0].inbox)
	c.sim.Check(t, len(reqs) >= 6, "a zero ElectionTimeout means 150ms", "n1 heard nobody for 3s but sent %d vote requests", len(reqs))
	prev := time.Duration(0)
	for i, g := range reqs {
		sentAt := g.at - time.Millisecond
		gap := sentAt - prev
		c.sim.Check(t, gap >= dT && gap <= 2*dT, "a zero ElectionTimeout means 150ms: elections every [150ms, 300ms]",
			"with a zero Config n1 sent vote request #%d %s after the previous election (or the start)", i+1, gap)
		prev = sentAt
	}
	term := becomeLeader(c, fakes)
	won := c.sim.Elapsed()
	c.run(20 * dH)
	var times []time.Duration
	for _, g := range fakes[2].inbox {
		if a, ok := g.msg.(raft.AppendEntries); ok && a.Term == term && g.at >= won {
			times = append(times, g.at)
		}
	}
	for i := 1; i < len(times); i++ {
		gap := times[i] - times[i-1]
		c.sim.Check(t, gap == dH, "a zero Heartbeat means 30ms",
			"with a zero Config the leader's AppendEntries reached n4 at %s and %s, %s apart; want every 30ms", times[i-1], times[i], gap)
	}
	c.sim.Check(t, len(times) >= 15, "a zero Heartbeat means 30ms", "n4 got %d AppendEntries in 600ms", len(times))
}

// constSource is a random source that always returns the same number:
// rand.New(constSource(1)) draws the smallest value of every range.
type constSource uint64

func (s constSource) Uint64() uint64 { return uint64(s) }

// With env.Rand() always drawing its smallest number every election timeout
// is exactly T, so the tests can tell which events re-armed the timer.
func TestTimerRearming(t *testing.T) {
	type step struct {
		at  time.Duration
		msg any
	}
	for _, tc := range []struct {
		name  string
		steps []step
		fire  time.Duration // when n1 must send its first RequestVote
		why   string
	}{
		{"granted vote", []step{{90 * time.Millisecond, raft.RequestVote{Term: 1}}}, 190 * time.Millisecond,
			"granting a vote re-arms the election timer"},
		{"refused vote", []step{{30 * time.Millisecond, raft.RequestVote{Term: 1}}, {90 * time.Millisecond, raft.RequestVote{Term: 1}}}, 130 * time.Millisecond,
			"a refused vote request does not re-arm the election timer"},
		{"stale AppendEntries", []step{{30 * time.Millisecond, raft.AppendEntries{Term: 2}}, {90 * time.Millisecond, raft.AppendEntries{Term: 1}}}, 130 * time.Millisecond,
			"AppendEntries of an older term do not re-arm the election timer"},
		{"higher-term Vote", []step{{90 * time.Millisecond, raft.Vote{Term: 5}}}, 100 * time.Millisecond,
			"a reply that moves a follower to a higher term does not re-arm the election timer"},
		{"higher-term AppendReply", []step{{90 * time.Millisecond, raft.AppendReply{Term: 5}}}, 100 * time.Millisecond,
			"a reply that moves a follower to a higher term does not re-arm the election timer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, labkit.Seed(t), testConfig, oneMs)
			c.rnd = rand.New(constSource(1))
			c.addNodes("n1")
			n2, n3 := c.addFake("n2"), c.addFake("n3")
			for i, s := range tc.steps {
				from := n2
				if i > 0 {
					from = n3
				}
				c.run(s.at - time.Millisecond - c.sim.Elapsed())
				from.send("n1", s.msg)
			}
			c.sim.RunUntil(func() bool { return len(requestVotes(n3.inbox)) > 0 }, 3*T)
			c.require()
			reqs := requestVotes(n3.inbox)
			c.sim.Check(t, len(reqs) > 0 && reqs[0].at-time.Millisecond == tc.fire, tc.why,
				"with every timeout exactly T = %s, n1 started its first election at %v; want %s", T, reqs, tc.fire)
		})
	}
	// With the largest draws the timeout is at most 2T.
	cl := newCluster(t, labkit.Seed(t), testConfig, oneMs)
	cl.rnd = rand.New(constSource(math.MaxUint64))
	cl.addNodes("n1")
	f := cl.addFake("n2")
	cl.sim.RunUntil(func() bool { return len(requestVotes(f.inbox)) > 0 }, 3*T)
	cl.require()
	if reqs := requestVotes(f.inbox); len(reqs) == 0 || reqs[0].at-time.Millisecond > 2*T || reqs[0].at-time.Millisecond < 2*T-time.Millisecond {
		cl.sim.Failf(t, "election timeouts are drawn from [T, 2T]", "with env.Rand() always drawing its largest number, n1's first election came at %v; want (just under) 2T = %s", reqs, 2*T)
	}
	// A leader that steps down arms a timer: it starts an election T later.
	c, fakes := scripted(t, testConfig, 2)
	c.rnd = rand.New(constSource(1))
	term := becomeLeader(c, fakes)
	for _, f := range fakes {
		f.grant, f.ack = false, false
	}
	c.run(2 * H)
	fakes[0].send("n1", raft.AppendReply{Term: term + 1})
	down := c.sim.Elapsed() + time.Millisecond
	c.run(2 * time.Millisecond)
	n := len(requestVotes(fakes[1].inbox))
	c.run(T + 2*time.Millisecond)
	reqs := requestVotes(fakes[1].inbox)[n:]
	c.sim.Check(t, len(reqs) == 1 && reqs[0].at-time.Millisecond == down+T, "a leader that steps down arms an election timer",
		"n1 stepped down at %s; with every timeout exactly T it should start an election at %s, but sent %d vote requests after", down, down+T, len(reqs))
}

// Any positive Config value is used as given, even 1ns; a zero
// ElectionTimeout with the smallest draws times out at exactly 150ms.
func TestTinyConfig(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), raft.Config{ElectionTimeout: 1, Heartbeat: H}, oneMs)
	c.addNodes("n1")
	c.run(3)
	c.checkStatus("n1", raft.Leader, 1, "a 1ns ElectionTimeout is used as given: a node alone leads within 2ns")
	// A 1ns Heartbeat: a leader sends AppendEntries every 1ns.
	c2, fakes := scripted(t, raft.Config{ElectionTimeout: T, Heartbeat: 1}, 2)
	becomeLeader(c2, fakes)
	sent := c2.appendsSent
	c2.run(10)
	c2.sim.Check(t, c2.appendsSent-sent >= 20, "a 1ns Heartbeat is used as given", "in 10ns the leader sent %d AppendEntries to its 2 peers", c2.appendsSent-sent)
	c3, f3 := scriptedRand(t, raft.Config{}, 2, rand.New(constSource(1)))
	c3.sim.RunUntil(func() bool { return len(requestVotes(f3[0].inbox)) > 0 }, time.Second)
	c3.require()
	reqs := requestVotes(f3[0].inbox)
	c3.sim.Check(t, len(reqs) > 0 && reqs[0].at == 151*time.Millisecond, "a zero ElectionTimeout means 150ms",
		"with env.Rand() always drawing its smallest number, a zero Config's first election reached n2 at %v; want 151ms (150ms + 1ms latency)", reqs)
}

// In a cluster of four a majority is three: two votes do not make a
// leader, and an entry on two nodes is not committed.
func TestMajorityOfFour(t *testing.T) {
	c, fakes := scripted(t, testConfig, 3)
	fakes[0].grant, fakes[0].ack = true, true
	_, _, ok := c.waitLeader(5*T, 0)
	c.sim.Check(t, !ok, "a majority of four is three", "n1 became leader of four nodes with its own vote and n2's")
	fakes[1].grant, fakes[1].ack = true, true
	term := becomeLeader(c, fakes[:2])
	fakes[1].ack = false
	c.run(3 * H)
	c.start("n1", "x")
	c.run(5 * H)
	st, _ := c.status("n1")
	c.sim.Check(t, st.CommitIndex == 0, "a majority of four is three", "n1, leader of term %d, committed an entry only n2 acknowledged", term)
	fakes[1].ack = true
	c.run(2 * H)
	st, _ = c.status("n1")
	c.sim.Check(t, st.CommitIndex == 1, "an entry on three of four nodes is committed", "n1 reports commit index %d", st.CommitIndex)
}

// A cluster of one elects itself at its first timeout.
func TestClusterOfOne(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, oneMs)
	c.addNodes("n1")
	_, _, ok := c.waitLeader(2*T+time.Millisecond, 0)
	c.sim.Check(t, ok, "a node alone is a majority: it leads at its first election", "n1 alone was not leader within 2T")
}

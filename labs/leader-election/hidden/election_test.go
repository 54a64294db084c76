package hidden

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
	le "faultline.dev/labs/leaderelection"
)

const (
	T = 100 * time.Millisecond
	H = 20 * time.Millisecond
	L = 100 * time.Millisecond
)

var testConfig = le.Config{ElectionTimeout: T, Heartbeat: H, Lease: L}

// quiet never starts an election on its own during a test.
var quiet = le.Config{ElectionTimeout: time.Hour, Heartbeat: H, Lease: L}

var oneMs = labkit.Link{Latency: labkit.Fixed(time.Millisecond)}

var lossy = labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: 0.05}

// scripted returns a cluster of the real node n1 and four fake peers n2..n5.
func scripted(t *testing.T, cfg le.Config) (*cluster, []*fake) {
	c := newCluster(t, labkit.Seed(t), cfg, oneMs)
	c.addNodes("n1")
	var fakes []*fake
	for _, name := range []string{"n2", "n3", "n4", "n5"} {
		fakes = append(fakes, c.addFake(name))
	}
	return c, fakes
}

// becomeLeader lets the fakes vote for n1 and waits until it leads.
func becomeLeader(c *cluster, fakes []*fake) int64 {
	c.t.Helper()
	for _, f := range fakes {
		f.grant, f.ack = true, true
	}
	_, term, ok := c.waitLeader(3*T, 0)
	c.sim.Check(c.t, ok, "a candidate that gets a majority of votes becomes leader",
		"every peer granted n1's vote requests, but n1 was not leader within 3T")
	return term
}

func requestVotes(msgs []got) []got {
	var out []got
	for _, g := range msgs {
		if _, ok := g.msg.(le.RequestVote); ok {
			out = append(out, g)
		}
	}
	return out
}

func TestElectionTimeoutsRandomized(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c, fakes := scripted(t, testConfig)
		c.run(30 * T)
		reqs := requestVotes(fakes[0].inbox)
		c.sim.Check(t, len(reqs) >= 10, "a node with no leader starts an election every [T, 2T]",
			"n1 heard nobody for 30T but sent only %d vote requests to n2", len(reqs))
		prev := time.Duration(0)
		var gaps []time.Duration
		for i, g := range reqs {
			sentAt := g.at - time.Millisecond // links delay by exactly 1ms
			gap := sentAt - prev
			c.sim.Check(t, gap >= T && gap <= 2*T, "election timeouts are drawn from [T, 2T]",
				"n1 sent its vote request #%d at %s, %s after the previous election (or the start); T = %s", i+1, sentAt, gap, T)
			c.sim.Check(t, g.msg == le.RequestVote{Term: int64(i + 1)}, "each election starts a new term (term + 1)",
				"n1's vote request #%d is %s", i+1, describe(g.msg))
			gaps = append(gaps, gap)
			prev = sentAt
		}
		slices.Sort(gaps)
		c.sim.Check(t, gaps[0] != gaps[len(gaps)-1], "election timeouts are random (otherwise split votes repeat forever)",
			"all %d election timeouts of n1 were exactly %s", len(gaps), gaps[0])
	})
}

func TestVoteSurvivesCrash(t *testing.T) {
	c, fakes := scripted(t, quiet)
	n2, n3 := fakes[0], fakes[1]
	n2.expect("n1", le.RequestVote{Term: 3}, le.Vote{Term: 3, Granted: true}, "a node grants its vote to the first candidate of a term")
	c.net.Crash("n1")
	c.run(10 * time.Millisecond)
	c.net.Restart("n1")
	c.run(time.Millisecond)
	c.checkState("n1", le.Follower, 3, "a restarted node comes back as a follower in the term it had (kept on disk)")
	n3.expect("n1", le.RequestVote{Term: 3}, le.Vote{Term: 3, Granted: false}, "a vote granted before a crash is remembered (votedFor on disk)")
	n2.expect("n1", le.RequestVote{Term: 3}, le.Vote{Term: 3, Granted: true}, "after a restart the node still grants the candidate it voted for")
}

func TestTermSurvivesCrash(t *testing.T) {
	c, fakes := scripted(t, quiet)
	n2 := fakes[0]
	n2.send("n1", le.Heartbeat{Term: 7})
	c.run(5 * time.Millisecond)
	c.checkState("n1", le.Follower, 7, "a heartbeat of a higher term moves a follower to that term")
	for range 3 {
		c.net.Crash("n1")
		c.run(5 * time.Millisecond)
		c.net.Restart("n1")
		c.run(5 * time.Millisecond)
		c.checkState("n1", le.Follower, 7, "a restarted node comes back as a follower in the term it had (kept on disk)")
	}
	n2.expect("n1", le.RequestVote{Term: 6}, le.Vote{Term: 7, Granted: false}, "a request for an older term is refused with the current term")
}

func TestStaleHeartbeatRejected(t *testing.T) {
	c, fakes := scripted(t, testConfig)
	n2, n3 := fakes[0], fakes[1]
	n2.expect("n1", le.RequestVote{Term: 5}, le.Vote{Term: 5, Granted: true}, "a node grants its vote to the first candidate of a term")
	n3.expect("n1", le.Heartbeat{Term: 3}, le.HeartbeatReply{Term: 5}, "a heartbeat of an older term is answered with the current term")
	c.checkState("n1", le.Follower, 5, "a stale heartbeat changes nothing")
	start := c.sim.Elapsed()
	// A deposed leader of term 3 keeps sending heartbeats: they must not
	// count, so n1 still times out and starts an election for term 6.
	elected := false
	for i := 0; i < int(3*T/(10*time.Millisecond)) && !elected; i++ {
		n3.send("n1", le.Heartbeat{Term: 3})
		c.run(10 * time.Millisecond)
		for _, g := range requestVotes(n2.inbox) {
			elected = elected || g.msg == le.RequestVote{Term: 6}
		}
	}
	c.sim.Check(t, elected, "heartbeats of an older term do not reset the election timer",
		"n1 voted in term 5 at %s, then got Heartbeat{term 3} every 10ms and had not started an election for term 6 by %s (T = %s)",
		start, c.sim.Elapsed(), T)
}

func TestHigherTermStepsLeaderDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  func(term int64) any
	}{
		{"RequestVote", func(term int64) any { return le.RequestVote{Term: term} }},
		{"Heartbeat", func(term int64) any { return le.Heartbeat{Term: term} }},
		{"HeartbeatReply", func(term int64) any { return le.HeartbeatReply{Term: term} }},
		{"Vote", func(term int64) any { return le.Vote{Term: term} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fakes := scripted(t, testConfig)
			term := becomeLeader(c, fakes)
			c.run(3 * H)
			fakes[1].send("n1", tc.msg(term+4))
			c.run(5 * time.Millisecond)
			c.checkState("n1", le.Follower, term+4,
				fmt.Sprintf("a leader that sees a higher term in a %s adopts it and steps down", tc.name))
		})
	}
}

func TestLeaderSendsHeartbeats(t *testing.T) {
	c, fakes := scripted(t, testConfig)
	term := becomeLeader(c, fakes)
	won := c.sim.Elapsed()
	c.run(50 * H)
	c.checkState("n1", le.Leader, term, "a leader whose followers answer keeps leading")
	var times []time.Duration
	for _, g := range fakes[2].inbox {
		if g.msg == (le.Heartbeat{Term: term}) {
			times = append(times, g.at)
		}
	}
	c.sim.Check(t, len(times) > 0 && times[0] <= won+time.Millisecond, "a new leader sends heartbeats at once",
		"n1 became leader at %s; the first heartbeat reached n4 at %v", won, times)
	for i := 1; i < len(times); i++ {
		c.sim.Check(t, times[i]-times[i-1] <= H, "a leader sends heartbeats every H",
			"heartbeats reached n4 at %s and then only at %s (H = %s)", times[i-1], times[i], H)
	}
	c.sim.Check(t, len(times) >= 45, "a leader sends heartbeats every H", "n4 got %d heartbeats in 50H", len(times))
}

func TestDuplicateVotesCountOnce(t *testing.T) {
	c, fakes := scripted(t, testConfig)
	n2 := fakes[0]
	// n1's first election: n2 grants twice, the others stay silent.
	c.sim.RunUntil(func() bool { return len(requestVotes(n2.inbox)) > 0 }, 3*T)
	c.require()
	n2.send("n1", le.Vote{Term: 1, Granted: true})
	n2.send("n1", le.Vote{Term: 1, Granted: true})
	n2.send("n1", le.Vote{Term: 1, Granted: true})
	c.run(5 * time.Millisecond)
	r, _, _ := c.state("n1")
	c.sim.Check(t, r != le.Leader, "a candidate counts each voter once",
		"n1 became leader of 5 nodes with its own vote and three copies of n2's vote")
	fakes[1].send("n1", le.Vote{Term: 1, Granted: true})
	c.run(5 * time.Millisecond)
	c.checkState("n1", le.Leader, 1, "a candidate with votes from a majority (itself, n2, n3) becomes leader")
}

func TestLeaseStepDown(t *testing.T) {
	c, fakes := scripted(t, testConfig)
	term := becomeLeader(c, fakes)
	c.run(20 * L)
	c.checkState("n1", le.Leader, term, "a leader whose followers answer keeps leading")
	// Only n2 keeps answering: n1 and n2 are 2 of 5, not a majority.
	for _, f := range fakes[1:] {
		f.ack = false
	}
	cut := c.sim.Elapsed()
	c.run(L + H + time.Millisecond)
	r, tm, _ := c.state("n1")
	c.sim.Check(t, r != le.Leader, "a leader that hears from no majority for L steps down",
		"since %s only n2 of 4 followers answers n1's heartbeats, but at %s n1 is still %s of term %d (L = %s, H = %s)",
		cut, c.sim.Elapsed(), r, tm, L, H)
	c.checkState("n1", le.Follower, term, "a leader whose lease ran out becomes a follower in the same term")
}

func TestElectionUnderLoss(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		c.addNodes(names(5)...)
		_, _, ok := c.waitLeader(10*T, 0)
		c.sim.Check(t, ok, "a leader is elected within 10T of the start",
			"no node became leader within %s (T = %s)", 10*T, T)
		c.run(5 * time.Second)
		_, _, ok = c.leader()
		c.sim.Check(t, ok, "a leader stays elected while the network only loses a few messages", "no leader after 5s")
	})
}

func TestNewLeaderAfterCrash(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		c.addNodes(names(5)...)
		old, term, ok := c.waitLeader(10*T, 0)
		c.sim.Check(t, ok, "a leader is elected within 10T of the start", "no node became leader within %s", 10*T)
		for round := 0; round < 2; round++ {
			c.run(5 * T)
			c.net.Crash(old)
			crashed := c.sim.Elapsed()
			next, nextTerm, ok := c.waitLeader(10*T, term, old)
			c.sim.Check(t, ok, "a new leader is elected within 10T after the leader crashes",
				"%s (leader of term %d) crashed at %s; no other node led a later term by %s", old, term, crashed, c.sim.Elapsed())
			c.run(3 * T)
			c.net.Restart(old)
			c.run(5 * T)
			old, term = next, nextTerm
			if name, tm, ok := c.leader(); ok {
				old, term = name, tm
			}
		}
		_, _, ok = c.waitLeader(10*T, 0)
		c.sim.Check(t, ok, "a leader is elected within 10T while a majority is connected", "no leader at the end")
	})
}

func TestMinorityLeaderStepsDown(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		all := names(5)
		c.addNodes(all...)
		old, term, ok := c.waitLeader(10*T, 0)
		c.sim.Check(t, ok, "a leader is elected within 10T of the start", "no node became leader within %s", 10*T)
		c.run(5 * T)
		var buddy string
		var majority []string
		for _, n := range all {
			switch {
			case n == old:
			case buddy == "":
				buddy = n
			default:
				majority = append(majority, n)
			}
		}
		c.net.Partition([]string{old, buddy}, majority)
		cut := c.sim.Elapsed()
		c.run(L + H + 10*time.Millisecond)
		r, tm, _ := c.state(old)
		c.sim.Check(t, r != le.Leader, "a leader cut off from the majority steps down within L",
			"%s led term %d; at %s it was partitioned with only %s; at %s it is still %s of term %d (L = %s, H = %s)",
			old, term, cut, buddy, c.sim.Elapsed(), r, tm, L, H)
		_, _, ok = c.waitLeader(10*T, term, old, buddy)
		c.sim.Check(t, ok, "the majority side elects a new leader within 10T",
			"partitioned at %s; no node of %v led a later term by %s", cut, majority, c.sim.Elapsed())
		// While cut off, the minority never leads.
		for range 20 {
			c.run(T / 2)
			for _, n := range []string{old, buddy} {
				r, tm, _ := c.state(n)
				c.sim.Check(t, r != le.Leader, "a node without a majority never stays leader",
					"%s is leader of term %d while partitioned with only one other node", n, tm)
			}
		}
		c.net.Heal()
		_, _, ok = c.waitLeader(10*T, 0)
		c.sim.Check(t, ok, "a leader is elected within 10T after the partition heals", "no leader by %s", c.sim.Elapsed())
		c.run(2 * time.Second)
	})
}

func TestOneWayPartitions(t *testing.T) {
	for _, dir := range []string{"leader-cannot-send", "leader-cannot-hear"} {
		t.Run(dir, func(t *testing.T) {
			labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
				c := newCluster(t, seed, testConfig, lossy)
				all := names(5)
				c.addNodes(all...)
				old, term, ok := c.waitLeader(10*T, 0)
				c.sim.Check(t, ok, "a leader is elected within 10T of the start", "no node became leader within %s", 10*T)
				c.run(5 * T)
				for _, n := range all {
					if n == old {
						continue
					}
					if dir == "leader-cannot-send" {
						c.net.Block(old, n)
					} else {
						c.net.Block(n, old)
					}
				}
				cut := c.sim.Elapsed()
				if dir == "leader-cannot-hear" {
					c.run(L + H + 10*time.Millisecond)
					r, tm, _ := c.state(old)
					c.sim.Check(t, r != le.Leader, "a leader that hears from no majority for L steps down",
						"%s led term %d; from %s no peer's messages reach it; at %s it is still %s of term %d",
						old, term, cut, c.sim.Elapsed(), r, tm)
				}
				_, _, ok = c.waitLeader(10*T, term, old)
				c.sim.Check(t, ok, "the connected majority elects a new leader within 10T",
					"one-way partition at %s; no other node led a later term by %s", cut, c.sim.Elapsed())
				c.run(L + H + 10*time.Millisecond)
				r, tm, _ := c.state(old)
				c.sim.Check(t, r != le.Leader || tm > term, "a deposed leader does not keep leading its old term",
					"%s still leads term %d at %s although a later term has a leader", old, tm, c.sim.Elapsed())
				c.net.Heal()
				c.run(2 * time.Second)
			})
		})
	}
}

// TestSafetyUnderNemesis runs 20s of random partitions, one-way cuts and
// crashes, with loss, duplicates that arrive up to 3T after the first copy,
// and late messages: 5% of votes, vote requests and heartbeats take longer
// than the election timeout (a heavy tail), so they reach candidates that
// have moved on to later terms. On top of that, targeted crashes: a node
// that just became leader (or candidate) is crashed right away now and
// then, and nodes crash in the middle of a handler just before a disk write
// (after what they sent before it, before what they would send after it).
func TestSafetyUnderNemesis(t *testing.T) {
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, labkit.Link{
			Latency:  labkit.HeavyTail(labkit.Uniform(time.Millisecond, 20*time.Millisecond), 0.05, T),
			Loss:     0.1,
			Dup:      0.05,
			DupDelay: labkit.Uniform(T, 3*T),
		})
		c.addNodes(names(5)...)
		nm := &labkit.Nemesis{Net: c.net, Interval: 4 * T, Partitions: true, OneWay: true, Crashes: true}
		nm.Start()
		tg := &labkit.Targeted{Net: c.net, P: 0.3, Writes: 0.03, Down: 2 * T,
			State: func(name string, n labkit.Node) string {
				r, term := n.(*le.Node).State()
				if r == le.Follower {
					return "follower"
				}
				return fmt.Sprintf("%s of term %d", r, term)
			}}
		tg.Start()
		c.run(20 * time.Second)
		tg.Stop()
		nm.Stop()
		_, _, ok := c.waitLeader(10*T, 0)
		c.sim.Check(t, ok, "a leader is elected within 10T once every fault is repaired", "no leader by %s", c.sim.Elapsed())
		c.run(time.Second)
	})
}

// TestConfigDefaults: zero Config fields take T = 150ms, H = 30ms and
// L = 150ms.
func TestConfigDefaults(t *testing.T) {
	const dT, dH, dL = 150 * time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond
	c, fakes := scripted(t, le.Config{})
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
		if g.msg == (le.Heartbeat{Term: term}) && g.at >= won {
			times = append(times, g.at)
		}
	}
	for i := 1; i < len(times); i++ {
		gap := times[i] - times[i-1]
		c.sim.Check(t, gap == dH, "a zero Heartbeat means 30ms",
			"with a zero Config the leader's heartbeats reached n4 at %s and %s, %s apart; want every 30ms", times[i-1], times[i], gap)
	}
	c.sim.Check(t, len(times) >= 15, "a zero Heartbeat means 30ms", "n4 got %d heartbeats in 600ms", len(times))
	// Only n2 keeps answering: the lease (150ms) runs out, checked at a
	// heartbeat tick, so the leader steps down after L and within L + H.
	for _, f := range fakes[1:] {
		f.ack = false
	}
	cut := c.sim.Elapsed()
	c.run(dL - 2*time.Millisecond)
	c.checkState("n1", le.Leader, term, "a zero Lease means 150ms: a leader keeps leading until then")
	c.run(dH + 3*time.Millisecond)
	r, tm, _ := c.state("n1")
	c.sim.Check(t, r == le.Follower && tm == term, "a zero Lease means 150ms",
		"since %s only n2 answers; at %s n1 is %s of term %d, want a follower of term %d (L = 150ms, H = 30ms)", cut, c.sim.Elapsed(), r, tm, term)
}

// withFakes returns a cluster of the real node n1 and the given fake peers,
// whose nodes draw their random numbers from rnd (or the simulation's, if
// rnd is nil).
func withFakes(t *testing.T, cfg le.Config, rnd *rand.Rand, peers ...string) (*cluster, []*fake) {
	c := newCluster(t, labkit.Seed(t), cfg, oneMs)
	c.rnd = rnd
	c.addNodes("n1")
	var fakes []*fake
	for _, name := range peers {
		fakes = append(fakes, c.addFake(name))
	}
	return c, fakes
}

// firstElections returns when n1 sent its first two vote requests to f.
func firstElections(c *cluster, f *fake, within time.Duration) []time.Duration {
	c.t.Helper()
	c.sim.RunUntil(func() bool { return len(requestVotes(f.inbox)) >= 2 }, within)
	c.require()
	var out []time.Duration
	for _, g := range requestVotes(f.inbox) {
		out = append(out, g.at-time.Millisecond) // links delay by exactly 1ms
	}
	return out
}

// TestElectionTimeoutExtremes: a random source that always gives the
// smallest (or largest) number still yields timeouts in [T, 2T], for the
// configured T and for the default of 150ms; the smallest draw is T.
func TestElectionTimeoutExtremes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  le.Config
		t    time.Duration
	}{{"T=100ms", testConfig, T}, {"default", le.Config{}, 150 * time.Millisecond}} {
		for _, src := range []struct {
			name string
			v    uint64
		}{{"smallest", 1}, {"largest", math.MaxUint64}} {
			t.Run(tc.name+"/"+src.name, func(t *testing.T) {
				c, fakes := withFakes(t, tc.cfg, rand.New(constSource(src.v)), "n2", "n3", "n4", "n5")
				sent := firstElections(c, fakes[0], 5*tc.t)
				c.sim.Check(t, len(sent) >= 2, "a node with no leader starts an election every [T, 2T]",
					"n1 heard nobody for %s but sent n2 only %d vote requests", 5*tc.t, len(sent))
				prev := time.Duration(0)
				for i, at := range sent[:2] {
					gap := at - prev
					c.sim.Check(t, gap >= tc.t && gap <= 2*tc.t, "election timeouts are drawn from [T, 2T]",
						"with env.Rand() always giving its %s number, n1 sent vote request #%d %s after the previous election (or the start); T = %s",
						src.name, i+1, gap, tc.t)
					if src.v == 1 {
						c.sim.Check(t, gap < tc.t+time.Millisecond, "election timeouts are drawn from [T, 2T] with env.Rand()",
							"with env.Rand() always giving its smallest number, n1 sent vote request #%d %s after the previous election (or the start); want T = %s",
							i+1, gap, tc.t)
					}
					prev = at
				}
			})
		}
	}
}

// TestTinyConfig: only zero Config fields take the defaults; 1ns is a valid
// (if silly) setting.
func TestTinyConfig(t *testing.T) {
	t.Run("ElectionTimeout=1ns", func(t *testing.T) {
		c, _ := withFakes(t, le.Config{ElectionTimeout: 1, Heartbeat: H, Lease: L}, nil, "n2", "n3", "n4", "n5")
		c.run(10)
		r, tm, _ := c.state("n1")
		c.sim.Check(t, r == le.Candidate && tm >= 3, "only a zero ElectionTimeout means 150ms",
			"with T = 1ns n1 is %s of term %d after 10ns; want a candidate of term 3 or more", r, tm)
	})
	t.Run("Heartbeat=1ns", func(t *testing.T) {
		c, fakes := withFakes(t, le.Config{ElectionTimeout: T, Heartbeat: 1, Lease: time.Hour}, nil, "n2", "n3", "n4", "n5")
		becomeLeader(c, fakes)
		before := c.heartbeats
		c.run(10)
		c.sim.Check(t, c.heartbeats-before >= 4*10, "only a zero Heartbeat means 30ms",
			"with H = 1ns the leader sent %d heartbeats to its 4 peers in 10ns", c.heartbeats-before)
	})
	t.Run("Lease=1ns", func(t *testing.T) {
		c, fakes := withFakes(t, le.Config{ElectionTimeout: T, Heartbeat: H, Lease: 1}, nil, "n2", "n3", "n4", "n5")
		term := becomeLeader(c, fakes)
		c.run(H)
		c.checkState("n1", le.Follower, term,
			"only a zero Lease means 150ms: with L = 1ns replies 2ms old are too old at the next heartbeat, H later")
	})
}

// TestMajorityOfFour: in a cluster of four a majority is three.
func TestMajorityOfFour(t *testing.T) {
	c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4")
	c.sim.RunUntil(func() bool { return len(requestVotes(fakes[0].inbox)) > 0 }, 3*T)
	c.require()
	fakes[0].send("n1", le.Vote{Term: 1, Granted: true})
	c.run(5 * time.Millisecond)
	r, _, _ := c.state("n1")
	c.sim.Check(t, r != le.Leader, "a majority is more than half of the cluster",
		"n1 became leader of a 4-node cluster with its own vote and n2's (2 of 4)")
	fakes[1].send("n1", le.Vote{Term: 1, Granted: true})
	c.run(5 * time.Millisecond)
	c.checkState("n1", le.Leader, 1, "a candidate with 3 of 4 votes becomes leader")
}

// TestClusterOfOne: a lone node's own vote is a majority.
func TestClusterOfOne(t *testing.T) {
	c, _ := withFakes(t, testConfig, nil)
	c.run(2 * T)
	c.checkState("n1", le.Leader, 1, "a node alone is its own majority: it leads as soon as its first election starts (within 2T)")
	c.run(10 * L)
	c.checkState("n1", le.Leader, 1, "a node alone keeps its lease (itself is a majority)")
}

// TestVotesSavedAcrossCrash: a candidate's vote for itself, and a vote
// forgotten on a higher term, are on disk before the node moves on.
func TestVotesSavedAcrossCrash(t *testing.T) {
	t.Run("own vote", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4", "n5")
		c.sim.RunUntil(func() bool { return len(requestVotes(fakes[0].inbox)) > 0 }, 3*T)
		c.require()
		c.net.Crash("n1")
		c.run(time.Millisecond)
		c.net.Restart("n1")
		c.run(time.Millisecond)
		c.checkState("n1", le.Follower, 1, "a restarted node comes back as a follower in the term it had")
		fakes[1].expect("n1", le.RequestVote{Term: 1}, le.Vote{Term: 1, Granted: false},
			"a candidate's vote for itself is saved before it asks for votes: after a crash it refuses another candidate of that term")
	})
	t.Run("forgotten vote", func(t *testing.T) {
		c, fakes := withFakes(t, quiet, nil, "n2", "n3", "n4", "n5")
		fakes[0].expect("n1", le.RequestVote{Term: 3}, le.Vote{Term: 3, Granted: true}, "a node grants its vote to the first candidate of a term")
		fakes[1].send("n1", le.Heartbeat{Term: 5})
		c.run(5 * time.Millisecond)
		c.net.Crash("n1")
		c.run(time.Millisecond)
		c.net.Restart("n1")
		c.run(time.Millisecond)
		c.checkState("n1", le.Follower, 5, "a restarted node comes back as a follower in the term it had")
		fakes[2].expect("n1", le.RequestVote{Term: 5}, le.Vote{Term: 5, Granted: true},
			"a node that adopts a higher term saves that it has not voted in it: after a crash it grants the first candidate of that term")
	})
}

// TestElectionTimerResets: granting a vote re-arms the election timer; a
// follower that only learns a higher term from a Vote or HeartbeatReply
// does not.
func TestElectionTimerResets(t *testing.T) {
	t.Run("granted vote", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, rand.New(constSource(math.MaxUint64)), "n2", "n3", "n4", "n5")
		c.run(3 * T / 2)
		fakes[0].expect("n1", le.RequestVote{Term: 1}, le.Vote{Term: 1, Granted: true}, "a node grants its vote to the first candidate of a term")
		granted := c.sim.Elapsed() - 9*time.Millisecond // the reply left 1ms after the request did
		c.sim.RunUntil(func() bool { return len(requestVotes(fakes[1].inbox)) > 0 }, 3*T)
		c.require()
		reqs := requestVotes(fakes[1].inbox)
		c.sim.Check(t, len(reqs) > 0 && reqs[0].at-time.Millisecond >= granted+T, "granting a vote re-arms the election timer",
			"n1 granted a vote at %s, then started an election at %s (T = %s)", granted, describeTimes(reqs), T)
	})
	t.Run("higher term in replies", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4", "n5")
		elected := false
		for i := 1; i <= int(3*T/(10*time.Millisecond)) && !elected; i++ {
			if i%2 == 0 {
				fakes[0].send("n1", le.Vote{Term: int64(100 + i)})
			} else {
				fakes[0].send("n1", le.HeartbeatReply{Term: int64(100 + i)})
			}
			c.run(10 * time.Millisecond)
			elected = len(requestVotes(fakes[1].inbox)) > 0
		}
		c.sim.Check(t, elected, "a follower that adopts a higher term from a Vote or HeartbeatReply keeps its election timer",
			"n1 got a Vote or HeartbeatReply of a higher term every 10ms and started no election in %s (T = %s)", 3*T, T)
	})
}

func describeTimes(gs []got) string {
	if len(gs) == 0 {
		return "never"
	}
	return gs[0].at.String() + " (arrival at n3)"
}

// TestHeartbeatRoles: a candidate that gets a heartbeat of its own term
// follows it; a leader answers a stale heartbeat and ignores one of its own
// term.
func TestHeartbeatRoles(t *testing.T) {
	replies := func(msgs []any) []any {
		var out []any
		for _, m := range msgs {
			if _, ok := m.(le.HeartbeatReply); ok {
				out = append(out, m)
			}
		}
		return out
	}
	t.Run("candidate", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4", "n5")
		c.sim.RunUntil(func() bool { return len(requestVotes(fakes[0].inbox)) > 0 }, 3*T)
		c.require()
		c.checkState("n1", le.Candidate, 1, "a node that starts an election is a candidate of the next term")
		got := replies(fakes[1].ask("n1", le.Heartbeat{Term: 1}))
		c.sim.Check(t, len(got) == 1 && got[0] == le.HeartbeatReply{Term: 1}, "a heartbeat of the current term is answered with HeartbeatReply{term}",
			"n3 sent Heartbeat{term 1} to candidate n1 and got back %s", describeAll(got))
		c.checkState("n1", le.Follower, 1, "a candidate that gets a heartbeat of its own term becomes a follower (someone won that term)")
	})
	t.Run("leader", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4", "n5")
		term := becomeLeader(c, fakes)
		c.run(2 * H)
		got := replies(fakes[0].ask("n1", le.Heartbeat{Term: term - 1}))
		c.sim.Check(t, len(got) == 1 && got[0] == le.HeartbeatReply{Term: term}, "a heartbeat of an older term is answered with the current term, by a leader too",
			"n2 sent Heartbeat{term %d} to the leader of term %d and got back %s", term-1, term, describeAll(got))
		got = replies(fakes[0].ask("n1", le.Heartbeat{Term: term}))
		c.sim.Check(t, len(got) == 0, "a leader ignores a heartbeat of its own term",
			"n2 sent Heartbeat{term %d} to the leader of that term and got back %s", term, describeAll(got))
		c.checkState("n1", le.Leader, term, "a leader ignores a heartbeat of its own term")
	})
}

// TestLeaseEdges: the lease check at its exact edges.
func TestLeaseEdges(t *testing.T) {
	t.Run("two of four answer", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4", "n5")
		term := becomeLeader(c, fakes)
		fakes[2].ack, fakes[3].ack = false, false
		c.run(10 * L)
		c.checkState("n1", le.Leader, term, "a leader counts itself: with 2 of 4 followers answering it has 3 of 5 and keeps leading")
	})
	t.Run("nobody answers", func(t *testing.T) {
		c, fakes := withFakes(t, testConfig, nil, "n2", "n3", "n4", "n5")
		for _, f := range fakes {
			f.grant = true
		}
		_, term, ok := c.waitLeader(3*T, 0)
		c.sim.Check(t, ok, "a candidate that gets a majority of votes becomes leader", "every peer granted n1's vote requests, but n1 was not leader within 3T")
		won := c.sim.Elapsed()
		for _, f := range fakes {
			f.grant = false
		}
		c.run(L - time.Nanosecond)
		c.checkState("n1", le.Leader, term, "a leader keeps its lease for L")
		c.run(time.Nanosecond)
		c.checkState("n1", le.Follower, term,
			"a leader that has led for L (checked at every heartbeat; L is a multiple of H here) with no replies steps down at that heartbeat")
		down := c.sim.Elapsed()
		c.run(5 * time.Millisecond)
		for _, g := range fakes[0].inbox {
			c.sim.Check(t, g.msg != le.Heartbeat{Term: term} || g.at <= down, "a leader that steps down sends nothing at that heartbeat",
				"n1 won at %s and stepped down at %s, but a heartbeat reached n2 at %s", won, down, g.at)
		}
		c.sim.RunUntil(func() bool { return len(requestVotes(fakes[0].inbox)) > 1 }, 3*T)
		c.require()
		reqs := requestVotes(fakes[0].inbox)
		c.sim.Check(t, len(reqs) > 1 && reqs[1].msg == le.RequestVote{Term: term + 1}, "a leader that steps down arms an election timer",
			"n1 stepped down at %s, and by %s it had started no election for term %d", down, c.sim.Elapsed(), term+1)
	})
	t.Run("reply exactly L old", func(t *testing.T) {
		// H = 1ms and the default L = 150ms: with 1ms links, replies arrive
		// on heartbeat ticks, so one tick sees a reply exactly L old.
		const dL = 150 * time.Millisecond
		c, fakes := withFakes(t, le.Config{ElectionTimeout: T, Heartbeat: time.Millisecond}, nil, "n2", "n3", "n4", "n5")
		term := becomeLeader(c, fakes)
		c.run(2 * dL)
		for _, f := range fakes[1:] {
			f.ack = false
		}
		last := fakes[1].lastAck + time.Millisecond // when n1 got the last reply of n3, n4, n5
		c.run(last + dL - c.sim.Elapsed())
		c.checkState("n1", le.Leader, term, "a reply counts for the lease while now - arrival <= L (the default L is 150ms)")
		c.run(time.Millisecond)
		c.checkState("n1", le.Follower, term, "a reply counts for the lease only while now - arrival <= L (the default L is 150ms)")
	})
}

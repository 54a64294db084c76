package hidden

import (
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/raft"
)

// Part C: persistence across crashes.

func TestVoteSurvivesCrash(t *testing.T) {
	c, fakes := scripted(t, quiet, 4)
	n2, n3 := fakes[0], fakes[1]
	n2.expect("n1", raft.RequestVote{Term: 3}, raft.Vote{Term: 3, Granted: true}, "a node grants its vote to the first candidate of a term")
	c.crash("n1")
	c.run(10 * time.Millisecond)
	c.restart("n1")
	c.run(time.Millisecond)
	c.checkStatus("n1", raft.Follower, 3, "a restarted node comes back as a follower in the term it had (kept on disk)")
	n3.expect("n1", raft.RequestVote{Term: 3}, raft.Vote{Term: 3}, "a vote granted before a crash is remembered (votedFor on disk)")
	n2.expect("n1", raft.RequestVote{Term: 3}, raft.Vote{Term: 3, Granted: true}, "after a restart the node still grants the candidate it voted for")
	// A vote forgotten on a higher term stays forgotten.
	n3.expect("n1", raft.AppendEntries{Term: 5}, raft.AppendReply{Term: 5, Success: true}, "AppendEntries of a higher term are accepted")
	c.crash("n1")
	c.restart("n1")
	c.run(time.Millisecond)
	st, _ := c.status("n1")
	c.sim.Check(t, st.Term == 5 && st.VotedFor == "", "adopting a higher term forgets the vote, on disk too",
		"after a restart n1 reports term %d and a vote for %q; want term 5 and no vote", st.Term, st.VotedFor)
}

func TestTermSurvivesCrash(t *testing.T) {
	c, fakes := scripted(t, quiet, 2)
	n2 := fakes[0]
	n2.send("n1", raft.AppendEntries{Term: 7})
	c.run(5 * time.Millisecond)
	for range 3 {
		c.crash("n1")
		c.run(5 * time.Millisecond)
		c.restart("n1")
		c.run(5 * time.Millisecond)
		c.checkStatus("n1", raft.Follower, 7, "a restarted node comes back as a follower in the term it had (kept on disk)")
	}
	// A candidate's own vote is on disk too.
	c2, fakes2 := scripted(t, testConfig, 2)
	c2.run(3 * T)
	st, _ := c2.status("n1")
	c2.crash("n1")
	c2.restart("n1")
	c2.run(time.Millisecond)
	fakes2[1].expect("n1", raft.RequestVote{Term: st.Term}, raft.Vote{Term: st.Term},
		"a candidate's vote for itself is on disk: after a restart it refuses other candidates of that term")
}

// A follower's log, acknowledged to the leader, survives a crash; the
// commit index does not (it is learned again) and entries are applied
// again from the start after a restart.
func TestLogSurvivesCrash(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 2, 1, 2, 2)
	n2 := fakes[0]
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 3, PrevLogTerm: 2, LeaderCommit: 2},
		raft.AppendReply{Term: 2, Success: true, Index: 3}, "AppendEntries whose PrevLogIndex matches succeed")
	c.crash("n1")
	c.restart("n1")
	c.run(time.Millisecond)
	c.checkLog("n1", entries(1, 2, 2), "a node's log survives a crash (kept on disk)")
	st, _ := c.status("n1")
	s := c.svcs["n1"]
	c.sim.Check(t, st.CommitIndex == 0 && len(s.cmds) == 0, "a restarted node starts with commit index 0 (or its snapshot's last index) and applies nothing until it learns the commit index",
		"after a restart n1 reports commit index %d and applied %d entries", st.CommitIndex, len(s.cmds))
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 3, PrevLogTerm: 2, LeaderCommit: 3},
		raft.AppendReply{Term: 2, Success: true, Index: 3}, "AppendEntries whose PrevLogIndex matches succeed")
	c.sim.Check(t, len(s.cmds) == 3 && s.cmdAt(1) == "c1", "a restarted node applies its committed entries again from the first",
		"after learning commit index 3, n1 applied %v", s.cmds)
}

// Every change to the term, the vote and the log is on disk before the
// node sends a message or Start returns: checked at every send, while
// nodes elect, replicate, crash and restart.
func TestPersistBeforeSend(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		c.ghosts = true
		all := names(3)
		c.addNodes(all...)
		c.mustLeader("at the start")
		for k := range 20 {
			c.one(fmt.Sprintf("a%d", k), 10*T, nil)
			if k%5 == 4 {
				lead, _, _ := c.leader()
				c.crash(lead)
				c.mustLeader("after the leader crashed")
				c.restart(lead)
			}
		}
		for _, n := range all {
			c.crash(n)
		}
		for _, n := range all {
			c.restart(n)
		}
		c.one("end", 20*T, nil)
	})
}

// Crash everyone, restart everyone: what was committed stays, and the
// cluster goes on.
func TestRestartAll(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		all := names(5)
		c.addNodes(all...)
		c.mustLeader("at the start")
		for k := range 5 {
			c.one(fmt.Sprintf("a%d", k), 10*T, nil)
		}
		for round := range 3 {
			for _, n := range all {
				c.crash(n)
			}
			c.run(T)
			for _, n := range all {
				c.restart(n)
			}
			c.one(fmt.Sprintf("b%d", round), 20*T, nil)
			for _, n := range all {
				c.sim.Check(t, c.svcs[n].cmdAt(1) == "a0", "committed entries survive the crash of every node",
					"after every node crashed and restarted, %s applied %q at index 1", n, c.svcs[n].cmdAt(1))
			}
		}
	})
}

// 6.5840's Figure 8 (unreliable): leaders crash soon after taking commands,
// with loss, reordering and late messages, and commands never stop; at the
// end one command must reach every node, and no two nodes ever apply
// different commands at an index.
func TestFigure8Unreliable(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, labkit.Link{
			Latency: labkit.HeavyTail(labkit.Uniform(time.Millisecond, 15*time.Millisecond), 0.05, T),
			Loss:    0.1, Dup: 0.05, DupDelay: labkit.Uniform(T, 3*T)})
		all := names(5)
		c.addNodes(all...)
		r := c.sim.Rand()
		downs := 0
		for k := range 150 {
			for _, n := range all {
				if st, up := c.status(n); up && st.Role == raft.Leader {
					c.start(n, fmt.Sprintf("f%d", k))
				}
			}
			if r.IntN(10) < 3 {
				c.run(time.Duration(r.IntN(int(T/2))) + time.Millisecond)
			} else {
				c.run(time.Duration(r.IntN(int(2 * H))))
			}
			if lead, _, ok := c.leader(); ok && downs < 2 && r.IntN(2) == 0 {
				c.crash(lead)
				downs++
			}
			if downs > 0 && r.IntN(4) == 0 {
				for _, n := range all {
					if !c.net.Up(n) {
						c.restart(n)
						downs--
						break
					}
				}
			}
		}
		for _, n := range all {
			c.restart(n)
		}
		c.one("final", 30*T, nil)
	})
}

// The key-value service stays linearizable while nodes crash: at random,
// right after one becomes leader or candidate, in the middle of a handler
// just before a disk write, and right after the leader took a command.
func TestKVWithCrashes(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, labkit.Link{
			Latency:  labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), 0.05, 4*T),
			Loss:     0.05,
			Dup:      0.05,
			DupDelay: labkit.Uniform(T, 4*T),
		})
		c.kv = true
		c.crashAfterStart, c.down = 0.03, 2*T
		c.addNodes(names(5)...)
		nm := &labkit.Nemesis{Net: c.net, Interval: 6 * T, Partitions: true, Crashes: true}
		nm.Start()
		tg := &labkit.Targeted{Net: c.net, P: 0.3, Writes: 0.02, Down: 2 * T, MaxDown: 2,
			State: func(name string, n labkit.Node) string {
				st := n.(*service).node.Status()
				if st.Role == raft.Follower {
					return "follower"
				}
				return fmt.Sprintf("%s of term %d", st.Role, st.Term)
			}}
		tg.Start()
		kvRun(c, 4, 6*time.Second, func() {
			tg.Stop()
			nm.Stop()
			c.crashAfterStart = 0
			for _, n := range c.real {
				c.restart(n)
			}
		})
	})
}

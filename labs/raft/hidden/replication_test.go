package hidden

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/raft"
)

// Part B: log replication and the commit rule.

// follower returns a scripted cluster whose n1 follows fake n2 as leader of
// term, with a log of the given terms (commands c1, c2, …) and nothing
// committed.
func follower(t *testing.T, cfg raft.Config, peers int, term int64, terms ...int64) (*cluster, []*fake) {
	c, fakes := scripted(t, cfg, peers)
	fakes[0].expect("n1", raft.AppendEntries{Term: term, Entries: entries(terms...)},
		raft.AppendReply{Term: term, Success: true, Index: int64(len(terms))}, "a follower appends the leader's entries and answers with the last index they match")
	return c, fakes
}

func TestStartReturns(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, oneMs)
	c.addNodes(names(3)...)
	lead, term := c.mustLeader("at the start")
	for _, n := range c.real {
		if n == lead {
			continue
		}
		before, _ := c.status(n)
		i, tm, ok := c.start(n, "nope")
		after, _ := c.status(n)
		c.sim.Check(t, i == 0 && tm == 0 && !ok, "Start on a node that is not the leader returns 0, 0, false",
			"Start(\"nope\") on follower %s returned (%d, %d, %v)", n, i, tm, ok)
		c.sim.Check(t, before == after, "Start on a node that is not the leader changes nothing",
			"Status() of %s was %+v before Start and %+v after", n, before, after)
	}
	for k := int64(1); k <= 3; k++ {
		i, tm, ok := c.start(lead, "x"+fmt.Sprint(k))
		c.sim.Check(t, i == k && tm == term && ok, "Start on the leader returns the new entry's index, the current term and true",
			"Start #%d on leader %s of term %d returned (%d, %d, %v)", k, lead, term, i, tm, ok)
		e, has := c.up(lead).Entry(k)
		c.sim.Check(t, has && e == raft.Entry{Term: term, Command: "x" + fmt.Sprint(k)}, "Start appends the command to the leader's log with the current term",
			"after Start, %s's entry %d is %s", lead, k, entryText(e, has))
	}
	c.run(5 * T)
	for _, n := range c.real {
		c.sim.Check(t, c.svcs[n].cmdAt(3) == "x3", "entries a majority holds are committed and applied by every node", "%s applied %d entries", n, len(c.svcs[n].cmds))
	}
}

// A leader alone commits and applies in Start.
func TestSingleNodeCommits(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, oneMs)
	c.addNodes("n1")
	c.mustLeader("alone")
	for k := int64(1); k <= 3; k++ {
		i, _, ok := c.start("n1", "solo"+fmt.Sprint(k))
		c.sim.Check(t, ok && i == k && c.svcs["n1"].cmdAt(k) == "solo"+fmt.Sprint(k), "a leader alone is a majority: it commits and applies an entry before Start returns",
			"Start #%d returned (%d, %v); n1 has applied %d entries", k, i, ok, len(c.svcs["n1"].cmds))
	}
}

func TestBasicAgreement(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, lossy)
	c.addNodes(names(5)...)
	c.mustLeader("at the start")
	for k := 1; k <= 10; k++ {
		idx := c.one(fmt.Sprintf("cmd%d", k), 10*T, nil)
		c.sim.Check(t, idx == int64(k), "entries get consecutive indexes from 1", "command %d was applied at index %d", k, idx)
	}
}

// The leader sends a new entry at once, then the commit index once a
// majority holds it; entries go out again until acknowledged.
func TestLeaderSendsEntries(t *testing.T) {
	c, fakes := scripted(t, testConfig, 4)
	term := becomeLeader(c, fakes)
	c.run(2 * H)
	fakes[3].ack = false
	c.afterHeartbeat(fakes[3])
	at := c.sim.Elapsed()
	c.start("n1", "x")
	c.run(time.Millisecond)
	for _, f := range fakes {
		got := appends(f.since(at))
		c.sim.Check(t, len(got) == 1 && same(got[0], raft.AppendEntries{Term: term, Entries: []raft.Entry{{Term: term, Command: "x"}}}),
			"Start sends AppendEntries with the new entry to every peer at once",
			"in the 1ms after Start(\"x\") %s got %s", f.name, describeAll(f.since(at)))
	}
	c.run(time.Millisecond)
	c.sim.Check(t, c.svcs["n1"].cmdAt(1) == "x", "an entry of the current term a majority holds is committed and applied", "n1 applied nothing after 3 of 4 peers acknowledged x")
	c.run(H)
	for i, f := range fakes {
		want := raft.AppendEntries{Term: term, PrevLogIndex: 1, PrevLogTerm: term, LeaderCommit: 1}
		if i == 3 {
			want = raft.AppendEntries{Term: term, Entries: []raft.Entry{{Term: term, Command: "x"}}, LeaderCommit: 1}
		}
		got := appends(f.since(at + 3*time.Millisecond))
		c.sim.Check(t, len(got) > 0 && same(got[0], want), "every H a leader sends each peer the entries from its next index on, and its commit index",
			"after x was committed, the next AppendEntries %s got was %s; want %s", f.name, describeAll(f.since(at+3*time.Millisecond)), describe(want))
	}
}

// A failed AppendEntries moves the peer's next index to the reply's Index
// (never to or below what the peer already matches) and is retried at
// once.
func TestNextIndexBackoff(t *testing.T) {
	c, fakes := follower(t, testConfig, 4, 1, 1, 1, 1)
	n5 := fakes[3]
	for _, f := range fakes {
		f.grant, f.ack = true, f != n5
	}
	_, term, ok := c.waitLeader(3*T, 1)
	c.sim.Check(t, ok, "a candidate that gets a majority of votes becomes leader", "n1 did not lead within 3T")
	step := func(reply raft.AppendReply, want raft.AppendEntries, why string) {
		t.Helper()
		c.afterHeartbeat(n5)
		at := c.sim.Elapsed()
		n5.send("n1", reply)
		c.run(2 * time.Millisecond)
		got := appends(n5.since(at))
		c.sim.Check(t, len(got) == 1 && same(got[0], want), why, "after n5 sent %s, it got %s; want %s at once",
			describe(reply), describeAll(n5.since(at)), describe(want))
	}
	step(raft.AppendReply{Term: term, Index: 2}, raft.AppendEntries{Term: term, PrevLogIndex: 1, PrevLogTerm: 1, Entries: entries(1, 1, 1)[1:]},
		"a failed AppendEntries moves the peer's next index to the reply's Index and is retried at once")
	step(raft.AppendReply{Term: term, Index: 1}, raft.AppendEntries{Term: term, Entries: entries(1, 1, 1)},
		"a failed AppendEntries moves the peer's next index to the reply's Index and is retried at once")
	c.afterHeartbeat(n5)
	at := c.sim.Elapsed()
	n5.send("n1", raft.AppendReply{Term: term, Success: true, Index: 2})
	c.run(H + 2*time.Millisecond)
	got := appends(n5.since(at))
	want := raft.AppendEntries{Term: term, PrevLogIndex: 2, PrevLogTerm: 1, Entries: entries(1, 1, 1)[2:]}
	c.sim.Check(t, len(got) > 0 && same(got[0], want), "a successful AppendReply sets the peer's next index to Index + 1",
		"after n5 acknowledged index 2, its next AppendEntries was %s; want %s", describeAll(n5.since(at)), describe(want))
	step(raft.AppendReply{Term: term, Index: 1}, raft.AppendEntries{Term: term, PrevLogIndex: 2, PrevLogTerm: 1, Entries: entries(1, 1, 1)[2:]},
		"a failed reply never moves the next index to or below what the peer is known to match")
	c.afterHeartbeat(n5)
	at = c.sim.Elapsed()
	n5.send("n1", raft.AppendReply{Term: term - 1, Index: 1})
	n5.send("n1", raft.AppendReply{Term: term, Success: true, Index: 1})
	c.run(time.Millisecond)
	c.sim.Check(t, len(appends(n5.since(at))) == 0, "replies of an older term, and successes that tell nothing new, change nothing and are not answered",
		"n5 got %s", describeAll(n5.since(at)))
}

// The follower's consistency check and its replies.
func TestConsistencyCheck(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 1, 1, 1)
	n2 := fakes[0]
	n2.expect("n1", raft.AppendEntries{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1},
		raft.AppendReply{Term: 1, Index: 3}, "a follower missing the entry at PrevLogIndex fails with Index = its last index + 1")
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 2, PrevLogTerm: 1, Entries: entries(1, 1, 2)[2:]},
		raft.AppendReply{Term: 2, Success: true, Index: 3}, "a follower whose entry at PrevLogIndex matches appends the entries")
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 3, PrevLogTerm: 1},
		raft.AppendReply{Term: 2, Index: 3}, "on a term mismatch at PrevLogIndex a follower fails with Index = the first index of its conflicting term")
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 3, PrevLogTerm: 2, Entries: entries(1, 1, 2, 2)[3:]},
		raft.AppendReply{Term: 2, Success: true, Index: 4}, "a follower whose entry at PrevLogIndex matches appends the entries")
	c.checkLog("n1", entries(1, 1, 2, 2), "a follower appends entries after the matching one")
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 4, PrevLogTerm: 3},
		raft.AppendReply{Term: 3, Index: 3}, "on a term mismatch at PrevLogIndex a follower fails with Index = the first index of its conflicting term")
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 2, PrevLogTerm: 3},
		raft.AppendReply{Term: 3, Index: 1}, "on a term mismatch at PrevLogIndex a follower fails with Index = the first index of its conflicting term")
	c.checkLog("n1", entries(1, 1, 2, 2), "a failed AppendEntries changes no entry")
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 4, PrevLogTerm: 2},
		raft.AppendReply{Term: 3, Success: true, Index: 4}, "AppendEntries without entries whose PrevLogIndex matches succeed with Index = PrevLogIndex")
}

// A conflicting entry and everything after it are deleted; entries that
// match are kept, however stale the message that brings them.
func TestConflictTruncates(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 2, 1, 1, 2, 2)
	n2 := fakes[0]
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 2, PrevLogTerm: 1, Entries: []raft.Entry{{Term: 3, Command: "x"}}},
		raft.AppendReply{Term: 3, Success: true, Index: 3}, "a follower appends after the matching entry")
	c.checkLog("n1", []raft.Entry{{Term: 1, Command: "c1"}, {Term: 1, Command: "c2"}, {Term: 3, Command: "x"}},
		"an entry that conflicts with a new one is deleted with every entry after it")
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 3, PrevLogTerm: 3, Entries: []raft.Entry{{Term: 3, Command: "y"}, {Term: 3, Command: "z"}}},
		raft.AppendReply{Term: 3, Success: true, Index: 5}, "a follower appends after the matching entry")
	// A stale copy that holds fewer entries: nothing is deleted.
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 2, PrevLogTerm: 1, Entries: []raft.Entry{{Term: 3, Command: "x"}}},
		raft.AppendReply{Term: 3, Success: true, Index: 3}, "a delayed AppendEntries whose entries all match succeeds with Index = PrevLogIndex + len(Entries)")
	n2.expect("n1", raft.AppendEntries{Term: 3, Entries: entries(1)},
		raft.AppendReply{Term: 3, Success: true, Index: 1}, "a delayed AppendEntries whose entries all match succeeds with Index = PrevLogIndex + len(Entries)")
	c.checkLog("n1", []raft.Entry{{Term: 1, Command: "c1"}, {Term: 1, Command: "c2"}, {Term: 3, Command: "x"}, {Term: 3, Command: "y"}, {Term: 3, Command: "z"}},
		"entries that match are kept: only a conflict deletes entries")
}

// A follower commits min(LeaderCommit, index of the last new entry) and
// applies in order; its commit index never goes back.
func TestFollowerCommit(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 1, 1, 1, 1, 1)
	n2 := fakes[0]
	s := c.svcs["n1"]
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 1, PrevLogTerm: 1, LeaderCommit: 4},
		raft.AppendReply{Term: 2, Success: true, Index: 1}, "AppendEntries whose PrevLogIndex matches succeed")
	c.sim.Check(t, len(s.cmds) == 1, "a follower commits only up to the last entry the leader's message vouches for: min(LeaderCommit, PrevLogIndex + len(Entries))",
		"n1 holds entries 1 to 4 of term 1; the leader of term 2 said commit 4 about prev 1/1 without entries; n1 applied %d entries", len(s.cmds))
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 3, PrevLogTerm: 1, LeaderCommit: 2},
		raft.AppendReply{Term: 2, Success: true, Index: 3}, "AppendEntries whose PrevLogIndex matches succeed")
	c.sim.Check(t, len(s.cmds) == 2 && s.cmdAt(2) == "c2", "a follower commits up to LeaderCommit when the message vouches for more",
		"after commit 2 about prev 3/1, n1 applied %d entries", len(s.cmds))
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 4, PrevLogTerm: 1, LeaderCommit: 1},
		raft.AppendReply{Term: 2, Success: true, Index: 4}, "AppendEntries whose PrevLogIndex matches succeed")
	st, _ := c.status("n1")
	c.sim.Check(t, st.CommitIndex == 2 && len(s.cmds) == 2, "the commit index never goes back",
		"after a delayed AppendEntries with commit 1, n1 reports commit index %d and applied %d entries", st.CommitIndex, len(s.cmds))
	n2.send("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 4, PrevLogTerm: 1, LeaderCommit: 4})
	c.run(2 * time.Millisecond)
	c.sim.Check(t, len(s.cmds) == 4, "a follower applies every newly committed entry at once, in order", "n1 applied %d of 4 committed entries", len(s.cmds))
}

// Figure 8 of the Raft paper: a leader must not commit an entry of an
// earlier term by counting the replicas that hold it, only by committing
// an entry of its own term after it.
func TestCommitRuleFigure8(t *testing.T) {
	c, fakes := follower(t, testConfig, 4, 2, 1, 2)
	// n1 has [1:c1, 2:c2]; the old leader committed c1 only.
	fakes[0].expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 2, PrevLogTerm: 2, LeaderCommit: 1},
		raft.AppendReply{Term: 2, Success: true, Index: 2}, "AppendEntries whose PrevLogIndex matches succeed")
	term := becomeLeader(c, fakes)
	c.run(10 * H)
	s := c.svcs["n1"]
	st, _ := c.status("n1")
	c.sim.Check(t, len(s.cmds) == 1 && st.CommitIndex == 1, "a leader never commits an entry of an earlier term by counting replicas (Figure 8)",
		"n1 leads term %d; every peer holds c2 of term 2 at index 2, but no entry of term %d exists; n1 reports commit index %d and applied %d entries",
		term, term, st.CommitIndex, len(s.cmds))
	for _, f := range fakes {
		for _, a := range appends(f.since(0)) {
			c.sim.Check(t, a.Term != term || a.LeaderCommit <= 1, "a leader never commits an entry of an earlier term by counting replicas (Figure 8)",
				"n1 told %s %s", f.name, describe(a))
		}
	}
	c.start("n1", "mine")
	c.run(3 * time.Millisecond)
	c.sim.Check(t, len(s.cmds) == 3 && s.cmdAt(3) == "mine", "once an entry of its own term is on a majority, the leader commits it and every entry before it",
		"after the peers acknowledged index 3 of term %d, n1 applied %d entries", term, len(s.cmds))
}

// A leader commits only with a majority.
func TestNoCommitWithoutMajority(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		all := names(5)
		c.addNodes(all...)
		c.mustLeader("at the start")
		c.one("before", 10*T, nil)
		lead, _, _ := c.leader()
		var others []string
		for _, n := range all {
			if n != lead {
				others = append(others, n)
			}
		}
		// The leader keeps one follower: 2 of 5.
		c.net.Partition([]string{lead, others[0]}, others[1:])
		idx, _, ok := c.start(lead, "minority")
		c.sim.Check(t, ok, "Start on the leader returns true", "Start on %s returned false", lead)
		c.run(10 * T)
		for _, n := range []string{lead, others[0]} {
			st, _ := c.status(n)
			c.sim.Check(t, st.CommitIndex < idx, "an entry is committed only once a majority holds it",
				"%s reports commit index %d although only 2 of 5 nodes hold entry %d", n, st.CommitIndex, idx)
		}
		c.net.Heal()
		c.run(10 * T)
		c.one("after", 10*T, nil)
	})
}

// A leader cut off with a minority piles up entries that never commit;
// the majority moves on; when the old leader returns its entries are
// replaced (6.5840's backup test, with every follower far behind).
func TestDivergentLogsRepaired(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		all := names(5)
		c.addNodes(all...)
		c.mustLeader("at the start")
		c.one("first", 10*T, nil)
		old, oldTerm, _ := c.leader()
		var others []string
		for _, n := range all {
			if n != old {
				others = append(others, n)
			}
		}
		minority, majority := []string{old, others[0]}, others[1:]
		c.net.Partition(minority, majority)
		for k := range 30 {
			c.start(old, fmt.Sprintf("lost%d", k))
		}
		_, _, ok := c.waitLeader(10*T, oldTerm, old, others[0])
		c.sim.Check(t, ok, "the majority side elects a new leader within 10T", "no leader among %v", majority)
		for k := range 30 {
			c.one(fmt.Sprintf("kept%d", k), 10*T, majority)
		}
		// Now the minority comes back and a different minority leaves.
		c.net.Heal()
		c.net.Partition(append(minority, majority[0]), majority[1:])
		c.run(10 * T)
		c.net.Heal()
		c.one("last", 20*T, nil)
		for _, n := range all {
			s := c.svcs[n]
			for i, cmd := range s.cmds {
				c.sim.Check(t, !strings.HasPrefix(cmd, "lost"), "entries a leader could not get onto a majority are never applied once another leader replaced them",
					"%s applied %q at index %d", n, cmd, i+1)
			}
		}
	})
}

// A candidate's RequestVote names its last entry; a voter refuses a
// candidate whose log is less up to date than its own.
func TestElectionRestriction(t *testing.T) {
	_, fakes := follower(t, quiet, 4, 2, 1, 2)
	n3 := fakes[1]
	n3.expect("n1", raft.RequestVote{Term: 3, LastLogIndex: 1, LastLogTerm: 2}, raft.Vote{Term: 3},
		"a voter refuses a candidate whose last entry has the same term but a lower index")
	n3.expect("n1", raft.RequestVote{Term: 3, LastLogIndex: 9, LastLogTerm: 1}, raft.Vote{Term: 3},
		"a voter refuses a candidate whose last entry has a lower term, however long its log")
	n3.expect("n1", raft.RequestVote{Term: 3, LastLogIndex: 2, LastLogTerm: 2}, raft.Vote{Term: 3, Granted: true},
		"a voter grants a candidate whose log is as up to date as its own")
	fakes[2].expect("n1", raft.RequestVote{Term: 4, LastLogIndex: 1, LastLogTerm: 3}, raft.Vote{Term: 4, Granted: true},
		"a voter grants a candidate whose last entry has a higher term, however short its log")
	// n1's own requests name its last entry.
	c2, fakes2 := follower(t, testConfig, 2, 2, 1, 2, 2)
	c2.run(3 * T)
	reqs := requestVotes(fakes2[1].inbox)
	c2.sim.Check(t, len(reqs) > 0 && same(reqs[0].msg, raft.RequestVote{Term: 3, LastLogIndex: 3, LastLogTerm: 2}),
		"a candidate's RequestVote carries the index and term of its last entry",
		"n1 with entries of terms [1 2 2] sent %s", describeAll(fakes2[1].since(0)))
}

// The key-value service stays linearizable under partitions, one-way
// cuts, loss, reordering, duplicates and late replies (no crashes).
func TestKVUnderPartitions(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, labkit.Link{
			Latency:  labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), 0.05, 4*T),
			Loss:     0.05,
			Dup:      0.05,
			DupDelay: labkit.Uniform(T, 4*T),
		})
		c.kv = true
		c.addNodes(names(5)...)
		nm := &labkit.Nemesis{Net: c.net, Interval: 6 * T, Partitions: true, OneWay: true}
		nm.Start()
		kvRun(c, 4, 6*time.Second, nm.Stop)
	})
}

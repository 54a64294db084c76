package hidden

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/raft"
)

// Part D: snapshots and log compaction.

// snap is the service's snapshot data for the commands c1..ck.
func snap(k int) []byte {
	var d snapshotData
	for i := 1; i <= k; i++ {
		d.Cmds = append(d.Cmds, "c"+itoa(i))
	}
	b, _ := json.Marshal(d)
	return b
}

// Snapshot drops the entries it covers and keeps the rest; it is ignored
// for an index it already covers or one not yet applied.
func TestSnapshotTrimsLog(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 1, 1, 1, 1, 1, 1)
	fakes[0].expect("n1", raft.AppendEntries{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, LeaderCommit: 4},
		raft.AppendReply{Term: 1, Success: true, Index: 5}, "AppendEntries whose PrevLogIndex matches succeed")
	// A snapshot of index 1 comes back after a restart too.
	c.up("n1").Snapshot(1, snap(1))
	c.crash("n1")
	c.restart("n1")
	c.run(time.Millisecond)
	if s := c.svcs["n1"]; s.snapshots != 1 || s.appliedIndex != 1 {
		c.sim.Failf(t, "a restarted node hands its snapshot to the service before New returns",
			"after Snapshot(1) and a restart, the service got %d snapshots and has applied up to %d", s.snapshots, s.appliedIndex)
	}
	fakes[0].expect("n1", raft.AppendEntries{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, LeaderCommit: 4},
		raft.AppendReply{Term: 1, Success: true, Index: 5}, "AppendEntries whose PrevLogIndex matches succeed")
	n := c.up("n1")
	n.Snapshot(3, snap(3))
	// A second snapshot of the same index is ignored: the first one stays.
	n.Snapshot(3, []byte("not the service's data"))
	for _, tc := range []struct {
		i  int64
		ok bool
	}{{0, false}, {3, false}, {4, true}, {5, true}, {6, false}} {
		if _, ok := n.Entry(tc.i); ok != tc.ok {
			c.sim.Failf(t, "Entry(i) reports an entry only for SnapshotIndex < i <= LastIndex",
				"with a snapshot up to 3 and entries up to 5, Entry(%d) returned %v", tc.i, ok)
		}
	}
	st := n.Status()
	c.sim.Check(t, st.SnapshotIndex == 3 && st.LastIndex == 5 && st.CommitIndex == 4, "Snapshot(i) makes the snapshot cover entries up to i",
		"after Snapshot(3), Status() = %+v", st)
	c.checkLog("n1", entries(1, 1, 1, 1, 1)[3:], "Snapshot(i) drops the entries up to i and keeps those after it")
	n.Snapshot(2, snap(2))
	n.Snapshot(5, snap(5))
	st = n.Status()
	c.sim.Check(t, st.SnapshotIndex == 3 && st.LastIndex == 5, "Snapshot of an index the snapshot covers, or of one not yet applied, is ignored",
		"after Snapshot(2) and Snapshot(5) with 4 entries applied, Status() = %+v", st)
	c.crash("n1")
	c.restart("n1")
	c.run(time.Millisecond)
	fakes[0].expect("n1", raft.AppendEntries{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, LeaderCommit: 4},
		raft.AppendReply{Term: 1, Success: true, Index: 5}, "AppendEntries whose PrevLogIndex matches succeed")
	n = c.up("n1")
	n.Snapshot(4, snap(4))
	c.checkLog("n1", entries(1, 1, 1, 1, 1)[4:], "Snapshot(i) drops the entries up to i and keeps those after it")
	// The snapshot and what follows it are on disk.
	c.crash("n1")
	c.restart("n1")
	c.run(time.Millisecond)
	s := c.svcs["n1"]
	st, _ = c.status("n1")
	c.sim.Check(t, s.snapshots == 1 && s.appliedIndex == 4 && st.SnapshotIndex == 4 && st.CommitIndex == 4 && st.LastIndex == 5,
		"a restarted node hands its snapshot to the service before New returns and starts with commit index = the snapshot's last index",
		"after a restart the service got %d snapshots and has applied up to %d; Status() = %+v", s.snapshots, s.appliedIndex, st)
	c.checkLog("n1", entries(1, 1, 1, 1, 1)[4:], "the entries after the snapshot survive a crash")
	fakes[0].expect("n1", raft.AppendEntries{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, LeaderCommit: 5},
		raft.AppendReply{Term: 1, Success: true, Index: 5}, "AppendEntries whose PrevLogIndex matches succeed")
	c.sim.Check(t, s.appliedIndex == 5 && s.cmdAt(5) == "c5", "after its snapshot, a restarted node applies the entries that follow it",
		"the service has applied up to %d", s.appliedIndex)
}

// The follower's side of InstallSnapshot.
func TestInstallSnapshotRules(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 1, 1, 1, 1, 1, 1)
	n2 := fakes[0]
	n2.expect("n1", raft.AppendEntries{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, LeaderCommit: 2},
		raft.AppendReply{Term: 1, Success: true, Index: 5}, "AppendEntries whose PrevLogIndex matches succeed")
	s := c.svcs["n1"]
	n2.expect("n1", raft.InstallSnapshot{Term: 1, LastIncludedIndex: 3, LastIncludedTerm: 1, Data: snap(3)},
		raft.SnapshotReply{Term: 1, Index: 3}, "a follower answers InstallSnapshot with the snapshot's last index")
	st, _ := c.status("n1")
	c.sim.Check(t, st.SnapshotIndex == 3 && st.CommitIndex == 3 && s.snapshots == 1 && s.appliedIndex == 3,
		"a follower installs a snapshot that goes past its commit index and hands it to the service",
		"after InstallSnapshot through 3, Status() = %+v; the service got %d snapshots and has applied up to %d", st, s.snapshots, s.appliedIndex)
	c.checkLog("n1", entries(1, 1, 1, 1, 1)[3:], "a follower whose entry at the snapshot's last index has the snapshot's term keeps the entries after it")
	n2.expect("n1", raft.InstallSnapshot{Term: 1, LastIncludedIndex: 2, LastIncludedTerm: 1, Data: snap(2)},
		raft.SnapshotReply{Term: 1, Index: 2}, "a follower answers InstallSnapshot with the snapshot's last index")
	st, _ = c.status("n1")
	c.sim.Check(t, st.SnapshotIndex == 3 && s.snapshots == 1, "a snapshot that does not go past the commit index changes nothing",
		"after InstallSnapshot through 2, Status() = %+v; the service got %d snapshots", st, s.snapshots)
	n2.expect("n1", raft.InstallSnapshot{Term: 2, LastIncludedIndex: 8, LastIncludedTerm: 2, Data: snap(8)},
		raft.SnapshotReply{Term: 2, Index: 8}, "a follower answers InstallSnapshot with the snapshot's last index")
	st, _ = c.status("n1")
	c.sim.Check(t, st.SnapshotIndex == 8 && st.LastIndex == 8 && st.CommitIndex == 8 && s.appliedIndex == 8,
		"a follower without the snapshot's last entry drops its whole log",
		"after InstallSnapshot through 8, Status() = %+v; the service has applied up to %d", st, s.appliedIndex)
	n2.expect("n1", raft.InstallSnapshot{Term: 1, LastIncludedIndex: 9, LastIncludedTerm: 1, Data: snap(9)},
		raft.SnapshotReply{Term: 2}, "InstallSnapshot of an older term is refused with the current term and index 0")
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 3, PrevLogTerm: 1, Entries: entries(1, 1, 1, 1, 1, 2, 2, 2, 2)[3:], LeaderCommit: 9},
		raft.AppendReply{Term: 2, Success: true, Index: 9}, "entries up to the snapshot's last index count as matching: the follower skips them and appends the rest")
	c.checkLog("n1", entries(1, 1, 1, 1, 1, 2, 2, 2, 2)[8:], "entries up to the snapshot's last index count as matching: the follower skips them and appends the rest")
	c.sim.Check(t, s.appliedIndex == 9 && s.cmdAt(9) == "c9", "a follower applies what the leader commits after a snapshot", "applied up to %d", s.appliedIndex)
}

// The leader sends its snapshot to a peer whose next index it covers, and
// goes on from its last index once the peer has it.
func TestLeaderSendsSnapshot(t *testing.T) {
	c, fakes := scripted(t, testConfig, 4)
	n5 := fakes[3]
	for _, f := range fakes {
		f.grant, f.ack = true, f != n5
	}
	_, term, ok := c.waitLeader(3*T, 0)
	c.sim.Check(t, ok, "a candidate that gets a majority of votes becomes leader", "n1 did not lead within 3T")
	for k := 1; k <= 6; k++ {
		c.start("n1", "c"+itoa(k))
	}
	c.run(5 * time.Millisecond)
	n := c.up("n1")
	n.Snapshot(4, snapOf(c.svcs["n1"].cmds[:4]))
	c.afterHeartbeat(n5)
	at := c.sim.Elapsed()
	n5.send("n1", raft.AppendReply{Term: term, Index: 1})
	c.run(2 * time.Millisecond)
	want := raft.InstallSnapshot{Term: term, LastIncludedIndex: 4, LastIncludedTerm: term, Data: snapOf(c.svcs["n1"].cmds[:4])}
	got := n5.since(at)
	c.sim.Check(t, len(got) == 1 && same(got[0], want) && string(got[0].(raft.InstallSnapshot).Data) == string(want.Data),
		"a leader sends InstallSnapshot to a peer whose next index its snapshot covers", "after n5 failed with index 1 it got %s; want %s",
		describeAll(got), describe(want))
	c.afterHeartbeat(n5)
	at = c.sim.Elapsed()
	n5.send("n1", raft.SnapshotReply{Term: term, Index: 4})
	c.run(H + 2*time.Millisecond)
	as := appends(n5.since(at))
	wantAE := raft.AppendEntries{Term: term, PrevLogIndex: 4, PrevLogTerm: term, Entries: []raft.Entry{{Term: term, Command: "c5"}, {Term: term, Command: "c6"}}, LeaderCommit: 6}
	c.sim.Check(t, len(as) > 0 && same(as[0], wantAE), "after a SnapshotReply the peer's next index is the snapshot's last index + 1",
		"after n5 acknowledged the snapshot it got %s; want %s", describeAll(n5.since(at)), describe(wantAE))
	fakes[1].expect("n1", raft.InstallSnapshot{Term: term - 1, LastIncludedIndex: 6, LastIncludedTerm: term - 1, Data: snapOf(c.svcs["n1"].cmds[:6])},
		raft.SnapshotReply{Term: term}, "InstallSnapshot of an older term is refused with the current term and index 0, by a leader too")
	// An InstallSnapshot of the leader's own term is ignored.
	at = c.sim.Elapsed()
	fakes[1].send("n1", raft.InstallSnapshot{Term: term, LastIncludedIndex: 6, LastIncludedTerm: term, Data: snapOf(c.svcs["n1"].cmds[:6])})
	c.run(3 * time.Millisecond)
	st, _ := c.status("n1")
	for _, m := range fakes[1].since(at) {
		if r, ok := m.(raft.SnapshotReply); ok {
			c.sim.Failf(t, "a leader ignores InstallSnapshot of its own term", "n1 answered with %s", describe(r))
		}
	}
	c.sim.Check(t, st.Role == raft.Leader && st.SnapshotIndex == 4, "a leader ignores InstallSnapshot of its own term", "after it, n1 reports %+v", st)
	// Higher terms in the snapshot messages depose a leader too.
	fakes[0].send("n1", raft.SnapshotReply{Term: term + 3})
	c.run(2 * time.Millisecond)
	c.checkStatus("n1", raft.Follower, term+3, "a leader that sees a higher term in a SnapshotReply adopts it and steps down")
	fakes[0].expect("n1", raft.InstallSnapshot{Term: term + 5, LastIncludedIndex: 2, LastIncludedTerm: term, Data: snapOf(c.svcs["n1"].cmds[:2])},
		raft.SnapshotReply{Term: term + 5, Index: 2}, "a node that gets InstallSnapshot of a higher term adopts the term and answers")
	c.checkStatus("n1", raft.Follower, term+5, "InstallSnapshot of a higher term moves a node to that term")
}

func snapOf(cmds []string) []byte {
	b, _ := json.Marshal(snapshotData{Cmds: cmds})
	return b
}

// The service snapshots every 10 entries: logs stay short, a follower
// that was away catches up through InstallSnapshot, and restarts come back
// from the snapshot.
func TestSnapshotCompaction(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, lossy)
		c.snapEvery = 10
		c.ghosts = true
		all := names(3)
		c.addNodes(all...)
		c.mustLeader("at the start")
		lead, _, _ := c.leader()
		away := all[0]
		if away == lead {
			away = all[1]
		}
		var rest []string
		for _, n := range all {
			if n != away {
				rest = append(rest, n)
			}
		}
		c.net.Isolate(away)
		for k := range 60 {
			c.one(fmt.Sprintf("s%d", k), 10*T, rest)
		}
		for _, n := range rest {
			st, _ := c.status(n)
			c.sim.Check(t, st.SnapshotIndex >= 50 && st.LastIndex-st.SnapshotIndex <= 20, "Snapshot compacts the log",
				"after 60 entries with a snapshot every 10, %s reports %+v", n, st)
		}
		c.net.Heal()
		c.one("back", 20*T, nil)
		c.sim.Check(t, c.svcs[away].snapshots > 0, "a peer whose next entries are compacted away gets the leader's snapshot",
			"%s was away for 60 entries, snapshotted every 10, and caught up without a snapshot", away)
		for _, n := range all {
			c.crash(n)
			c.restart(n)
		}
		c.one("again", 20*T, nil)
		for _, n := range all {
			s := c.svcs[n]
			c.sim.Check(t, s.snapshots >= 1 && s.cmdAt(1) == "s0", "a restarted node starts from its snapshot",
				"after a restart %s's service got %d snapshots and has %q at index 1", n, s.snapshots, s.cmdAt(1))
		}
	})
}

// The key-value service with snapshots every 5 entries stays linearizable
// under partitions, crashes (also targeted) and late messages.
func TestKVSnapshotsUnderFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := newCluster(t, seed, testConfig, labkit.Link{
			Latency:  labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), 0.05, 4*T),
			Loss:     0.05,
			Dup:      0.05,
			DupDelay: labkit.Uniform(T, 4*T),
		})
		c.kv = true
		c.snapEvery = 5
		c.crashAfterStart, c.down = 0.03, 2*T
		c.addNodes(names(5)...)
		nm := &labkit.Nemesis{Net: c.net, Interval: 6 * T, Partitions: true, OneWay: true, Crashes: true}
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

// Edges at the snapshot's boundary: a conflict run that reaches the
// snapshot, AppendEntries that lie wholly inside it, and a snapshot that
// ends exactly at the commit index.
func TestSnapshotBoundaries(t *testing.T) {
	c, fakes := follower(t, quiet, 2, 2, 1, 1, 2, 2, 2, 2)
	n2 := fakes[0]
	n2.expect("n1", raft.AppendEntries{Term: 2, PrevLogIndex: 6, PrevLogTerm: 2, LeaderCommit: 4},
		raft.AppendReply{Term: 2, Success: true, Index: 6}, "AppendEntries whose PrevLogIndex matches succeed")
	c.up("n1").Snapshot(3, snap(3))
	// Entries 4 to 6 have term 2, like the snapshot's last entry.
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 6, PrevLogTerm: 3},
		raft.AppendReply{Term: 3, Index: 4}, "the first index of the conflicting run is never below the snapshot's last index + 1")
	n2.expect("n1", raft.AppendEntries{Term: 3, PrevLogIndex: 1, PrevLogTerm: 1, Entries: entries(1, 1)[1:], LeaderCommit: 4},
		raft.AppendReply{Term: 3, Success: true, Index: 2}, "AppendEntries wholly inside the snapshot succeed with Index = PrevLogIndex + len(Entries) and change nothing")
	c.checkLog("n1", entries(1, 1, 2, 2, 2, 2)[3:], "AppendEntries wholly inside the snapshot change nothing")
	s := c.svcs["n1"]
	n2.expect("n1", raft.InstallSnapshot{Term: 3, LastIncludedIndex: 4, LastIncludedTerm: 2, Data: snap(4)},
		raft.SnapshotReply{Term: 3, Index: 4}, "a follower answers InstallSnapshot with the snapshot's last index")
	st, _ := c.status("n1")
	c.sim.Check(t, st.SnapshotIndex == 3 && s.snapshots == 0 && st.LastIndex == 6, "a snapshot that ends at the commit index changes nothing",
		"after InstallSnapshot through 4 with commit index 4, Status() = %+v and the service got %d snapshots", st, s.snapshots)
}

// A candidate that gets InstallSnapshot of its term follows the sender and
// re-arms its timer; a follower that crashes before its snapshot is on
// disk has not answered.
func TestInstallSnapshotOrder(t *testing.T) {
	c, fakes := scriptedRand(t, testConfig, 2, rand.New(constSource(1)))
	n2 := fakes[0]
	c.run(T + time.Millisecond)
	c.checkStatus("n1", raft.Candidate, 1, "a node whose election timer fires becomes a candidate")
	c.run(49 * time.Millisecond)
	n2.expect("n1", raft.InstallSnapshot{Term: 1, Data: snap(0)}, raft.SnapshotReply{Term: 1},
		"a follower answers InstallSnapshot with the snapshot's last index")
	c.checkStatus("n1", raft.Follower, 1, "a candidate that gets InstallSnapshot of its term follows the sender")
	n := len(requestVotes(fakes[1].inbox))
	c.run(T + 2*time.Millisecond)
	reqs := requestVotes(fakes[1].inbox)[n:]
	c.sim.Check(t, len(reqs) == 1 && reqs[0].at-time.Millisecond == 251*time.Millisecond,
		"InstallSnapshot of the current term re-arms the election timer",
		"with every timeout exactly T, n1 got InstallSnapshot at 151ms and should start its next election at 251ms; its vote requests reached n3 at %v", reqs)
	// Crash n1 at its first disk write from here: the snapshot's.
	n2.expect("n1", raft.AppendEntries{Term: 2, Entries: entries(2, 2)}, raft.AppendReply{Term: 2, Success: true, Index: 2},
		"a follower appends the leader's entries and answers with the last index they match")
	tg := &labkit.Targeted{Net: c.net, Writes: 1, Max: 1, Down: time.Hour}
	tg.Start()
	at := c.sim.Elapsed()
	n2.send("n1", raft.InstallSnapshot{Term: 2, LastIncludedIndex: 5, LastIncludedTerm: 2, Data: snap(5)})
	c.run(5 * time.Millisecond)
	tg.Stop()
	c.sim.Check(t, tg.Crashes() == 1 && len(n2.since(at)) == 0, "a follower answers InstallSnapshot only once the snapshot is on disk",
		"n1 crashed at its first disk write after InstallSnapshot (%d crashes), yet n2 got %s", tg.Crashes(), describeAll(n2.since(at)))
}

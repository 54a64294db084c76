package hidden

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	rl "faultline.dev/labs/replicatedlog"
)

func TestLeaderAppendsAtConsecutiveOffsets(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(3, "b1", "b1")
	for seq := int64(1); seq <= 3; seq++ {
		s.expect(s.ask(produce("a", seq), 5*time.Millisecond), "a leader alone in its ISR acknowledges a record as soon as it is appended",
			"the client produced a#"+itoa(seq)+" to b1, leader of p0 in epoch 3 with ISR [b1]", ack("a", seq, seq-1))
	}
	s.expectRecords(s.broker("b1").Log(0), "offsets start at 0 and every record carries the epoch of the leader that appended it",
		"b1's log of p0 after three produces", data(0, 3, "a", 1), data(1, 3, "a", 2), data(2, 3, "a", 3))
	st := s.status()
	s.sim.Check(t, st.Role == rl.Leader && st.Epoch == 3 && st.Leader == "b1" && st.LEO == 3 && st.HWM == 3 && slices.Equal(st.ISR, []string{"b1"}),
		"Status reports the role, epoch, leader, log end, high-water mark and ISR",
		"b1's Status(0) is %+v; want {Role:leader Epoch:3 Leader:b1 LEO:3 HWM:3 ISR:[b1]}", st)
	s.expect(s.ask(rl.Produce{Partition: 4, Producer: "a", Seq: 9, Value: "x"}, 5*time.Millisecond), "a broker that does not lead a partition refuses produces with NOT_LEADER",
		"the client produced to p4, which b1 has never heard of", rl.ProduceReply{Partition: 4, Producer: "a", Seq: 9, Err: rl.NotLeader})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAckWaitsForEveryISRMember(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(2, "b1", "b1", "f2", "f3")
	s.expect(s.ask(produce("a", 1), 20*time.Millisecond), "a record is acknowledged only when every ISR member has it",
		"the client produced a#1 to b1 (ISR [b1 f2 f3]) and neither follower fetched")
	s.expect(s.fetchFrom(s.f2, 2, 0, 0), "a leader answers a consistent ReplicaFetch with its records from the offset asked and its HWM",
		"f2 fetched p0 from offset 0 in epoch 2",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 2, Offset: 0, Records: []rl.Record{data(0, 2, "a", 1)}, HWM: 0})
	s.expect(s.fetchFrom(s.f2, 2, 1, 2), "the HWM is the smallest log end among the ISR",
		"f2 fetched again from offset 1; f3 has not fetched yet",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 2, Offset: 1, LastEpoch: 2, HWM: 0})
	s.sim.Check(t, len(s.cl.since(0)) == 0, "a record is acknowledged only when every ISR member has it",
		"b1 answered the client (%s) before f3 fetched a#1", describeAll(s.cl.since(0)))
	start := s.sim.Elapsed()
	s.expect(s.fetchFrom(s.f3, 2, 1, 2), "the HWM is the smallest log end among the ISR",
		"f3 fetched from offset 1 after f2 did",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 2, Offset: 1, LastEpoch: 2, HWM: 1})
	s.expect(s.cl.since(start), "a record is acknowledged as soon as it is below the HWM",
		"after f3's fetch took the HWM to 1", ack("a", 1, 0))
	for _, e := range []int64{1, 3} {
		s.expect(s.fetchFrom(s.f2, e, 1, 2), "a leader ignores a ReplicaFetch of another epoch",
			"f2 fetched in epoch "+itoa(e)+"; b1 leads epoch 2")
	}
	s.f3.send("b1", rl.ReplicaFetch{Partition: 5, Epoch: 2})
	s.run(5 * time.Millisecond)
	s.expect(s.fetchFrom(s.f2, 2, 1, 2), "the HWM is the smallest log end among the ISR",
		"f2 fetched from offset 1 again",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 2, Offset: 1, LastEpoch: 2, HWM: 1})
}

// divergentLeader makes b1 take three records of epoch 1 as a follower of
// f2, then lead epoch 3 with ISR [b1 f2 f3] and append two records: its log
// holds epochs [1 1 1 3 3].
func divergentLeader(s *script) {
	s.announce(1, "f2", "b1", "f2", "f3")
	s.feed(s.f2, 1, []rl.Record{data(0, 1, "a", 1), data(1, 1, "a", 2), data(2, 1, "a", 3)}, 0)
	s.announce(3, "b1", "b1", "f2", "f3")
	s.cl.send("b1", produce("b", 1))
	s.cl.send("b1", produce("b", 2))
	s.run(2 * time.Millisecond)
	s.expectRecords(s.broker("b1").Log(0), "a leader appends after the records it took as a follower",
		"b1's log", data(0, 1, "a", 1), data(1, 1, "a", 2), data(2, 1, "a", 3), data(3, 3, "b", 1), data(4, 3, "b", 2))
}

func TestDivergingFetchGetsTruncationPoint(t *testing.T) {
	s := scripted(t, scriptCfg)
	divergentLeader(s)
	diverging := func(offset, last, to int64) rl.ReplicaFetchReply {
		return rl.ReplicaFetchReply{Partition: 0, Epoch: 3, Offset: offset, LastEpoch: last, Diverging: true, TruncateTo: to}
	}
	const prop = "a ReplicaFetch whose last record does not match the leader's log gets Diverging with TruncateTo = min(Offset-1, the leader's records of epoch <= LastEpoch)"
	s.expect(s.fetchFrom(s.f3, 3, 5, 2), prop, "f3 fetched from 5 with last epoch 2 (b1 has epoch 3 at offset 4)", diverging(5, 2, 3))
	s.expect(s.fetchFrom(s.f3, 3, 3, 2), prop, "f3 fetched from 3 with last epoch 2 (b1 has epoch 1 at offset 2)", diverging(3, 2, 2))
	s.expect(s.fetchFrom(s.f3, 3, 6, 3), prop, "f3 fetched from 6, beyond b1's log end 5", diverging(6, 3, 5))
	s.expect(s.fetchFrom(s.f3, 3, 9, 1), prop, "f3 fetched from 9 with last epoch 1", diverging(9, 1, 3))
	s.expect(s.fetchFrom(s.f2, 3, 2, 0), prop, "f2 fetched from 2 with last epoch 0", diverging(2, 0, 0))
	s.expect(s.fetchFrom(s.f2, 3, 1, 2), prop, "f2 fetched from 1 with last epoch 2 (b1 has epoch 1 at offset 0)", diverging(1, 2, 0))
	st := s.status()
	s.sim.Check(t, st.HWM == 0, "a diverging fetch does not count as the follower's log end",
		"after only diverging fetches from f2 and f3, b1's HWM is %d; want 0", st.HWM)
	s.expect(s.fetchFrom(s.f3, 3, 2, 1), "a consistent fetch gets the records from its offset to the log end",
		"f3 fetched from 2 with last epoch 1",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 3, Offset: 2, LastEpoch: 1, Records: []rl.Record{data(2, 1, "a", 3), data(3, 3, "b", 1), data(4, 3, "b", 2)}})
	s.expect(s.fetchFrom(s.f2, 3, 0, 0), "a fetch from offset 0 is always consistent",
		"f2 fetched from 0",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 3, Offset: 0, Records: []rl.Record{data(0, 1, "a", 1), data(1, 1, "a", 2), data(2, 1, "a", 3), data(3, 3, "b", 1), data(4, 3, "b", 2)}})
	s.expect(s.fetchFrom(s.f2, 3, 5, 3), "the HWM is the smallest log end among the ISR",
		"f2 fetched from 5 (its log end matching b1's), f3's last consistent fetch was from 2",
		rl.ReplicaFetchReply{Partition: 0, Epoch: 3, Offset: 5, LastEpoch: 3, HWM: 2})
	d := diverging(5, 2, 3)
	d.HWM = 2
	s.expect(s.fetchFrom(s.f3, 3, 5, 2), "a diverging reply carries the leader's HWM too", "f3 fetched from 5 with last epoch 2 again, with HWM 2", d)
}

func TestFollowerAppliesOnlyMatchingReplies(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "f2", "f2", "b1")
	start := s.sim.Elapsed()
	s.run(12 * time.Millisecond)
	s.expect(msgsOf(s.f2.fetches(start)), "a follower sends ReplicaFetch{epoch, log end, last epoch} to its leader on every tick",
		"b1, follower of f2 in epoch 1 with an empty log, at its first tick", rl.ReplicaFetch{Partition: 0, Epoch: 1})
	reply := func(offset, last int64, recs []rl.Record, hwm int64) rl.ReplicaFetchReply {
		return rl.ReplicaFetchReply{Partition: 0, Epoch: 1, Offset: offset, LastEpoch: last, Records: recs, HWM: hwm}
	}
	r0, r1, r2 := data(0, 1, "a", 1), data(1, 1, "a", 2), data(2, 1, "a", 3)
	s.f2.send("b1", reply(0, 0, []rl.Record{r0, r1}, 1))
	s.run(time.Millisecond)
	s.expectRecords(s.broker("b1").Log(0), "a follower appends the records of a matching reply", "b1's log", r0, r1)
	s.sim.Check(t, s.status().HWM == 1, "a follower's HWM is the reply's HWM, at most its log end", "b1's HWM is %d; want 1", s.status().HWM)
	// Replies that do not answer the log as it is now change nothing.
	for _, m := range []rl.ReplicaFetchReply{
		reply(0, 0, []rl.Record{r0}, 2), // answers an older fetch
		reply(2, 0, []rl.Record{r2}, 2), // wrong last epoch
		{Partition: 0, Epoch: 2, Offset: 2, LastEpoch: 1, Records: []rl.Record{r2}, HWM: 2}, // another epoch
		{Partition: 0, Epoch: 1, Offset: 0, Diverging: true, TruncateTo: 0, HWM: 2},         // an older diverging reply
		{Partition: 3, Epoch: 1, Offset: 2, LastEpoch: 1, Records: []rl.Record{r2}, HWM: 2}, // another partition
	} {
		s.f2.send("b1", m)
		s.run(time.Millisecond)
		s.expectRecords(s.broker("b1").Log(0), "a follower ignores a reply unless its epoch, offset and last epoch match its log now",
			"b1's log after "+describe(m), r0, r1)
		s.sim.Check(t, s.status().HWM == 1, "a follower ignores a reply unless its epoch, offset and last epoch match its log now",
			"b1's HWM is %d after %s; want 1", s.status().HWM, describe(m))
	}
	s.f2.send("b1", reply(2, 1, []rl.Record{r2}, 9))
	s.run(time.Millisecond)
	s.expectRecords(s.broker("b1").Log(0), "a follower appends the records of a matching reply", "b1's log", r0, r1, r2)
	s.sim.Check(t, s.status().HWM == 3, "a follower's HWM is the reply's HWM, at most its log end", "b1's HWM is %d after a reply with HWM 9 and 3 records; want 3", s.status().HWM)
	s.f2.send("b1", rl.ReplicaFetchReply{Partition: 0, Epoch: 1, Offset: 3, LastEpoch: 1, Diverging: true, TruncateTo: 1, HWM: 2})
	s.run(time.Millisecond)
	s.expectRecords(s.broker("b1").Log(0), "a follower truncates its log to TruncateTo on a matching diverging reply", "b1's log", r0)
	s.sim.Check(t, s.status().HWM == 1, "a follower's HWM is the reply's HWM, at most its log end", "b1's HWM is %d after truncating to 1; want 1", s.status().HWM)
	s.f2.send("b1", rl.ReplicaFetchReply{Partition: 0, Epoch: 1, Offset: 3, LastEpoch: 1, Diverging: true, TruncateTo: 0})
	s.run(time.Millisecond)
	s.expectRecords(s.broker("b1").Log(0), "a follower ignores a reply unless its epoch, offset and last epoch match its log now", "b1's log after a second copy of the diverging reply", r0)
	// The log and the role survive a crash; the HWM does not.
	s.net.Crash("b1")
	s.net.Restart("b1")
	s.expectRecords(s.broker("b1").Log(0), "a broker's log survives a crash", "b1's log after a restart", r0)
	st := s.status()
	s.sim.Check(t, st.Role == rl.Follower && st.Epoch == 1 && st.Leader == "f2" && st.HWM == 0,
		"a follower that restarts follows the leader it had, with HWM 0",
		"b1's Status(0) after a restart is %+v; want follower of f2 in epoch 1 with HWM 0", st)
	start = s.sim.Elapsed()
	s.run(12 * time.Millisecond)
	s.expect(msgsOf(s.f2.fetches(start)), "a follower that restarts follows the leader it had",
		"b1's first tick after a restart", rl.ReplicaFetch{Partition: 0, Epoch: 1, Offset: 1, LastEpoch: 1})
}

func msgsOf(gs []got) []any {
	var out []any
	for _, g := range gs {
		out = append(out, g.msg)
	}
	return out
}

func TestLeaderAndISREpochs(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(2, "f2", "f2", "b1")
	check := func(role rl.Role, epoch int64, leader string, why string) {
		t.Helper()
		st := s.status()
		s.sim.Check(t, st.Role == role && st.Epoch == epoch && st.Leader == leader, why,
			"b1's Status(0) is %+v; want %s in epoch %d with leader %s", st, role, epoch, leader)
	}
	check(rl.Follower, 2, "f2", "a LeaderAndISR naming another leader makes the broker its follower")
	s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: 1, Leader: "b1", ISR: []string{"b1"}})
	s.run(2 * time.Millisecond)
	check(rl.Follower, 2, "f2", "a LeaderAndISR of a lower epoch is ignored")
	s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: 2, Leader: "b1", ISR: []string{"b1"}})
	s.run(2 * time.Millisecond)
	check(rl.Follower, 2, "f2", "a LeaderAndISR of the epoch the broker already has is ignored")
	s.announce(4, "b1", "b1", "f2")
	check(rl.Leader, 4, "b1", "a LeaderAndISR of a higher epoch naming the broker makes it leader")
	start := s.sim.Elapsed()
	s.cl.send("b1", produce("a", 1))
	s.cl.send("b1", rl.Commit{Partition: 0, Group: "g", Offset: 0})
	s.run(5 * time.Millisecond)
	s.expect(s.cl.since(start), "a record is acknowledged only when every ISR member has it", "a produce and a commit to b1 before f2 fetched")
	mark := len(s.actions["b1"])
	s.announce(5, "f3", "f3", "b1")
	s.run(2 * time.Millisecond)
	s.expect(s.cl.since(start), "a broker that stops leading answers every waiting produce and commit with NOT_LEADER",
		"b1 was told f3 leads epoch 5", rl.ProduceReply{Partition: 0, Producer: "a", Seq: 1, Err: rl.NotLeader},
		rl.CommitReply{Partition: 0, Group: "g", Err: rl.NotLeader})
	acts := s.actions["b1"][mark:]
	s.sim.Check(t, len(acts) > 0 && strings.HasPrefix(acts[0], "write "), "a broker writes a new epoch to disk before it acts on it",
		"b1's first actions on LeaderAndISR{epoch 5}: %s", strings.Join(acts[:min(len(acts), 3)], "; "))
	check(rl.Follower, 5, "f3", "a LeaderAndISR of a higher epoch naming another broker makes the broker its follower")
	s.net.Crash("b1")
	s.net.Restart("b1")
	check(rl.Follower, 5, "f3", "the epoch and its leader are kept on disk")
	s.expectRecords(s.broker("b1").Log(0), "a broker's log survives a crash, epochs included", "b1's log after a restart",
		data(0, 4, "a", 1), rl.Record{Offset: 1, Epoch: 4, Group: "g"})
	s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: 4, Leader: "b1", ISR: []string{"b1"}})
	s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: 5, Leader: "b1", ISR: []string{"b1"}})
	s.run(2 * time.Millisecond)
	check(rl.Follower, 5, "f3", "after a restart, a LeaderAndISR of a lower or the same epoch is still ignored")
	// A leader that restarts does not lead until the controller says so
	// again, in a higher epoch.
	s.announce(6, "b1", "b1")
	s.expect(s.ask(produce("a", 1), 5*time.Millisecond), "a leader alone in its ISR acknowledges a record as soon as it is appended",
		"the client produced a#1 to b1, leader of epoch 6 with ISR [b1]", ack("a", 1, 0))
	s.net.Crash("b1")
	s.net.Restart("b1")
	check(rl.NoRole, 6, "b1", "a leader that restarts has no role until a LeaderAndISR of a higher epoch")
	s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: 6, Leader: "b1", ISR: []string{"b1"}})
	s.run(2 * time.Millisecond)
	check(rl.NoRole, 6, "b1", "a leader that restarts has no role until a LeaderAndISR of a higher epoch")
	s.expect(s.ask(produce("a", 2), 5*time.Millisecond), "a broker that does not lead a partition refuses produces with NOT_LEADER",
		"the client produced a#2 to b1 after it restarted as leader of epoch 6", rl.ProduceReply{Partition: 0, Producer: "a", Seq: 2, Err: rl.NotLeader})
	s.expect(s.ask(rl.Fetch{Partition: 0, Offset: 0}, 5*time.Millisecond), "a broker that does not lead a partition refuses fetches with NOT_LEADER",
		"a consumer fetched from b1 after it restarted as leader of epoch 6", rl.FetchReply{Partition: 0, Err: rl.NotLeader})
	start = s.sim.Elapsed()
	s.run(25 * time.Millisecond)
	s.sim.Check(t, len(s.f2.fetches(start))+len(s.f3.fetches(start)) == 0, "a leader that restarts has no role until a LeaderAndISR of a higher epoch",
		"b1 restarted as leader of epoch 6 and sent ReplicaFetch as if it followed someone")
	s.announce(7, "b1", "b1")
	check(rl.Leader, 7, "b1", "a LeaderAndISR of a higher epoch naming the broker makes it leader")
	st := s.status()
	s.sim.Check(t, st.LEO == 2 && st.HWM == 2, "a new leader alone in its ISR commits its whole log",
		"b1 leads epoch 7 with ISR [b1] and Status(0) is %+v; want LEO 2 (a#1 and g's commit) and HWM 2", st)
}

func TestConsumerFetchRules(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "b1", "b1", "f2")
	for seq := int64(1); seq <= 4; seq++ {
		s.cl.send("b1", produce("a", seq))
	}
	s.run(2 * time.Millisecond)
	s.fetchFrom(s.f2, 1, 0, 0)
	s.fetchFrom(s.f2, 1, 2, 1) // HWM 2, log end 4
	fetch := func(offset int64) []any { return s.ask(rl.Fetch{Partition: 0, Offset: offset}, 5*time.Millisecond) }
	r0, r1 := data(0, 1, "a", 1), data(1, 1, "a", 2)
	const prop = "a consumer fetch returns the records from its offset up to the HWM, never beyond"
	s.expect(fetch(0), prop, "Fetch{from 0} with HWM 2 and log end 4", rl.FetchReply{Partition: 0, Offset: 0, Records: []rl.Record{r0, r1}, HWM: 2})
	s.expect(fetch(1), prop, "Fetch{from 1}", rl.FetchReply{Partition: 0, Offset: 1, Records: []rl.Record{r1}, HWM: 2})
	s.expect(fetch(2), "a fetch from the HWM up to the log end returns no records and no error", "Fetch{from 2}", rl.FetchReply{Partition: 0, Offset: 2, HWM: 2})
	s.expect(fetch(4), "a fetch from the HWM up to the log end returns no records and no error", "Fetch{from 4}, the log end", rl.FetchReply{Partition: 0, Offset: 4, HWM: 2})
	s.expect(fetch(5), "a fetch beyond the log end, or below 0, gets OFFSET_OUT_OF_RANGE", "Fetch{from 5}, beyond the log end 4",
		rl.FetchReply{Partition: 0, Offset: 5, HWM: 2, Err: rl.OffsetOutOfRange})
	s.expect(fetch(-1), "a fetch beyond the log end, or below 0, gets OFFSET_OUT_OF_RANGE", "Fetch{from -1}",
		rl.FetchReply{Partition: 0, Offset: -1, HWM: 2, Err: rl.OffsetOutOfRange})
	s.expect(s.ask(rl.Fetch{Partition: 2}, 5*time.Millisecond), "a broker that does not lead a partition refuses fetches with NOT_LEADER",
		"Fetch on p2, which b1 does not know", rl.FetchReply{Partition: 2, Err: rl.NotLeader})
	s.announce(2, "f2", "f2", "b1")
	s.run(2 * time.Millisecond) // the waiting produces are refused
	s.expect(fetch(0), "a broker that does not lead a partition refuses fetches with NOT_LEADER",
		"Fetch{from 0} after b1 became a follower", rl.FetchReply{Partition: 0, Err: rl.NotLeader})
}

func TestCommitsAndCommittedOffsets(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "b1", "b1", "f2")
	s.cl.send("b1", produce("a", 1))
	s.cl.send("b1", produce("a", 2))
	s.run(2 * time.Millisecond)
	s.fetchFrom(s.f2, 1, 0, 0)
	s.fetchFrom(s.f2, 1, 2, 1) // HWM 2
	offsetOf := func(group string) []any {
		return s.ask(rl.OffsetFetch{Partition: 0, Group: group}, 5*time.Millisecond)
	}
	committed := func(group string, offset int64) rl.OffsetReply {
		return rl.OffsetReply{Partition: 0, Group: group, Offset: offset}
	}
	s.expect(offsetOf("g"), "a group without a committed commit has committed offset -1", "OffsetFetch{g} before any commit", committed("g", -1))
	for _, bad := range []int64{3, -1} {
		s.expect(s.ask(rl.Commit{Partition: 0, Group: "g", Offset: bad}, 5*time.Millisecond),
			"a commit of an offset above the HWM, or below 0, gets OFFSET_OUT_OF_RANGE and appends nothing",
			"Commit{g, "+itoa(bad)+"} with HWM 2", rl.CommitReply{Partition: 0, Group: "g", Offset: bad, Err: rl.OffsetOutOfRange})
		s.sim.Check(t, s.status().LEO == 2, "a commit of an offset above the HWM, or below 0, gets OFFSET_OUT_OF_RANGE and appends nothing",
			"after Commit{g, %d} with HWM 2, b1's log has %d records; want 2", bad, s.status().LEO)
	}
	start := s.sim.Elapsed()
	s.cl.send("b1", rl.Commit{Partition: 0, Group: "g", Offset: 2})
	s.run(5 * time.Millisecond)
	s.expectRecords(s.broker("b1").Log(0)[2:], "a commit appends a commit record", "b1's log after Commit{g, 2}",
		rl.Record{Offset: 2, Epoch: 1, Group: "g", Commit: 2})
	s.expect(s.cl.since(start), "a commit is acknowledged only when every ISR member has it", "Commit{g, 2} before f2 fetched it")
	s.expect(offsetOf("g"), "the committed offset counts only commit records below the HWM", "OffsetFetch{g} while the commit record is above the HWM", committed("g", -1))
	start = s.sim.Elapsed()
	s.fetchFrom(s.f2, 1, 3, 1)
	s.expect(s.cl.since(start), "a commit is acknowledged as soon as it is below the HWM", "after f2 fetched the commit record",
		rl.CommitReply{Partition: 0, Group: "g", Offset: 2})
	s.expect(offsetOf("g"), "the committed offset is the largest offset of the group's commit records below the HWM", "OffsetFetch{g}", committed("g", 2))
	s.cl.send("b1", rl.Commit{Partition: 0, Group: "g", Offset: 1})
	s.cl.send("b1", rl.Commit{Partition: 0, Group: "h", Offset: 0})
	s.run(2 * time.Millisecond)
	s.fetchFrom(s.f2, 1, 5, 1)
	s.expect(offsetOf("g"), "the committed offset is the largest offset of the group's commit records below the HWM", "OffsetFetch{g} after a commit of 1", committed("g", 2))
	s.expect(offsetOf("h"), "the committed offset is the largest offset of the group's commit records below the HWM", "OffsetFetch{h}", committed("h", 0))
	s.expect(s.ask(rl.Commit{Partition: 0, Group: "g", Offset: 5}, 5*time.Millisecond),
		"a commit of the HWM itself is accepted", "Commit{g, 5} with HWM 5 and ISR [b1 f2]")
	s.sim.Check(t, s.status().LEO == 6, "a commit of the HWM itself is accepted",
		"after Commit{g, 5} with HWM 5, b1's log has %d records; want 6", s.status().LEO)
	s.expect(s.ask(rl.OffsetFetch{Partition: 1, Group: "g"}, 5*time.Millisecond), "a broker that does not lead a partition refuses offset fetches and commits with NOT_LEADER",
		"OffsetFetch on p1, which b1 does not know", rl.OffsetReply{Partition: 1, Group: "g", Offset: -1, Err: rl.NotLeader})
	s.expect(s.ask(rl.Commit{Partition: 1, Group: "g", Offset: 0}, 5*time.Millisecond), "a broker that does not lead a partition refuses offset fetches and commits with NOT_LEADER",
		"Commit on p1", rl.CommitReply{Partition: 1, Group: "g", Err: rl.NotLeader})
}

func TestDuplicateProducesAppendOnce(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "b1", "b1")
	const prop = "a produce whose producer and sequence number are already in the log appends nothing and is answered with that record's offset"
	s.expect(s.ask(produce("a", 1), 5*time.Millisecond), prop, "a#1", ack("a", 1, 0))
	s.expect(s.ask(produce("a", 1), 5*time.Millisecond), prop, "a#1 again", ack("a", 1, 0))
	s.expect(s.ask(produce("a", 2), 5*time.Millisecond), prop, "a#2", ack("a", 2, 1))
	s.expect(s.ask(produce("a", 1), 5*time.Millisecond), prop, "a#1 a third time", ack("a", 1, 0))
	s.expect(s.ask(produce("b", 1), 5*time.Millisecond), prop, "b#1 (another producer, same seq)", ack("b", 1, 2))
	s.expect(s.ask(produce("a", 3), 5*time.Millisecond), prop, "a#3", ack("a", 3, 3))
	s.expectRecords(s.broker("b1").Log(0), prop, "b1's log", data(0, 1, "a", 1), data(1, 1, "a", 2), data(2, 1, "b", 1), data(3, 1, "a", 3))
}

func TestDuplicateWaitsForCommit(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "b1", "b1", "f2")
	start := s.sim.Elapsed()
	s.cl.send("b1", produce("a", 1))
	s.run(3 * time.Millisecond)
	s.cl.send("b1", produce("a", 1))
	s.run(3 * time.Millisecond)
	s.expect(s.cl.since(start), "a record is acknowledged only when every ISR member has it", "a#1 twice, before f2 fetched")
	s.fetchFrom(s.f2, 1, 0, 0)
	s.fetchFrom(s.f2, 1, 1, 1)
	s.expect(s.cl.since(start), "a produce whose producer and sequence number are already in the log appends nothing and is answered with that record's offset",
		"after f2 fetched a#1", ack("a", 1, 0), ack("a", 1, 0))
	s.sim.Check(t, s.status().LEO == 1, "a produce whose producer and sequence number are already in the log appends nothing",
		"b1 has %d records after a#1 was produced twice; want 1", s.status().LEO)
}

func TestTruncatedRecordIsAppendedAgain(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "f2", "f2", "b1")
	s.feed(s.f2, 1, []rl.Record{data(0, 1, "a", 1), data(1, 1, "x", 1)}, 1)
	// A new leader f3 of epoch 2 never had x#1: b1 truncates it and takes
	// f3's record at offset 1 instead.
	s.announce(2, "f3", "f3", "b1")
	start := s.sim.Elapsed()
	s.runUntil(func() bool { return len(s.f3.fetches(start)) > 0 }, 50*time.Millisecond)
	s.f3.send("b1", rl.ReplicaFetchReply{Partition: 0, Epoch: 2, Offset: 2, LastEpoch: 1, Diverging: true, TruncateTo: 1, HWM: 1})
	s.run(time.Millisecond)
	s.feed(s.f3, 2, []rl.Record{data(1, 2, "y", 1)}, 2)
	s.expectRecords(s.broker("b1").Log(0), "a follower truncates its log to TruncateTo on a matching diverging reply",
		"b1's log", data(0, 1, "a", 1), data(1, 2, "y", 1))
	s.announce(3, "b1", "b1")
	s.expect(s.ask(produce("a", 1), 5*time.Millisecond),
		"a produce whose producer and sequence number are already in the log appends nothing and is answered with that record's offset",
		"a#1, which b1 fetched from f2 as a follower, produced again to b1, now leader alone in its ISR", ack("a", 1, 0))
	s.expect(s.ask(produce("x", 1), 5*time.Millisecond),
		"a produce is a duplicate only if its record is in the log now (a truncated record is gone)",
		"x#1, truncated from b1's log, produced again to b1, now leader alone in its ISR", ack("x", 1, 2))
}

func TestNewLeaderStartsFromItsHWM(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "f2", "f2", "b1", "f3")
	recs := []rl.Record{data(0, 1, "a", 1), data(1, 1, "a", 2), data(2, 1, "a", 3), data(3, 1, "a", 4)}
	s.feed(s.f2, 1, recs, 2)
	s.announce(2, "b1", "b1", "f2", "f3")
	st := s.status()
	s.sim.Check(t, st.HWM == 2, "a new leader keeps the HWM it had as a follower until its ISR has fetched",
		"b1 learnt HWM 2 from f2, has 4 records, became leader with ISR [b1 f2 f3]; its HWM is %d; want 2", st.HWM)
	s.expect(s.ask(rl.Fetch{Partition: 0, Offset: 0}, 5*time.Millisecond), "a consumer fetch returns the records from its offset up to the HWM, never beyond",
		"Fetch{from 0} to the new leader b1", rl.FetchReply{Partition: 0, Offset: 0, Records: recs[:2], HWM: 2})
	s.fetchFrom(s.f2, 2, 4, 1)
	s.sim.Check(t, s.status().HWM == 2, "a follower that has not fetched in this epoch counts as log end 0",
		"f2 fetched from 4 but f3 has not fetched from the new leader; b1's HWM is %d; want 2", s.status().HWM)
	s.fetchFrom(s.f3, 2, 3, 1)
	s.sim.Check(t, s.status().HWM == 3, "the HWM is the smallest log end among the ISR",
		"f2 fetched from 4 and f3 from 3; b1's HWM is %d; want 3", s.status().HWM)
	s.fetchFrom(s.f2, 2, 1, 1)
	s.sim.Check(t, s.status().HWM == 3, "a leader's HWM never goes down",
		"f2 fetched from 1 again (an old fetch arriving late); b1's HWM is %d; want 3", s.status().HWM)
}

func TestISRShrinksAfterReplicaLag(t *testing.T) {
	s := scripted(t, scriptCfg) // ticks every 10ms, ReplicaLag 80ms
	s.announce(1, "b1", "b1", "f2", "f3")
	// f2 catches up at exactly 20ms and then stops; f3 keeps fetching.
	s.sim.RunFor(19*time.Millisecond - s.sim.Elapsed())
	s.f2.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 1})
	keep := s.sim.Every(10*time.Millisecond, func() {
		s.f3.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 1, Offset: s.status().LEO, LastEpoch: lastEpochOf(s.broker("b1").Log(0))})
	})
	defer keep.Stop()
	s.run(5 * time.Millisecond)
	s.cl.send("b1", produce("a", 1))
	s.run(95*time.Millisecond - s.sim.Elapsed())
	s.sim.Check(t, len(s.ctl.calls) == 0, "a follower stays in the ISR until it has not caught up for more than ReplicaLag",
		"f2 caught up at 20ms (ReplicaLag 80ms, ticks every 10ms) and b1 called UpdateISR at %s", fmtTime(firstCall(s)))
	start := s.sim.Elapsed()
	s.run(100*time.Millisecond - s.sim.Elapsed())
	s.sim.Check(t, len(s.ctl.calls) == 0, "a follower stays in the ISR until it has not caught up for more than ReplicaLag (exactly ReplicaLag is not more)",
		"f2 caught up at 20ms and b1 removed it at the tick of %s (ReplicaLag 80ms)", fmtTime(firstCall(s)))
	s.ctl.force = rl.ErrControllerUnavailable
	s.run(110*time.Millisecond - s.sim.Elapsed())
	s.sim.Check(t, len(s.ctl.calls) == 1 && s.ctl.calls[0].at == 110*time.Millisecond && slices.Equal(s.ctl.calls[0].isr, []string{"b1", "f3"}),
		"on the first tick more than ReplicaLag after a follower last caught up, the leader asks the controller to remove it",
		"f2 caught up at 20ms; b1's UpdateISR calls: %s; want one at 0.110000s with [b1 f3]", callsText(s))
	st := s.status()
	s.sim.Check(t, slices.Equal(sortedCopy(st.ISR), []string{"b1", "f2", "f3"}) && st.HWM == 0, "when UpdateISR fails, the ISR does not change",
		"UpdateISR failed and b1's Status(0) is %+v; want ISR [b1 f2 f3] and HWM 0", st)
	s.expect(s.cl.since(start), "a record is acknowledged only when every ISR member has it", "while UpdateISR fails")
	s.ctl.force = nil
	s.run(120*time.Millisecond - s.sim.Elapsed())
	s.sim.Check(t, len(s.ctl.calls) == 2 && s.ctl.calls[1].at == 120*time.Millisecond && slices.Equal(s.ctl.calls[1].isr, []string{"b1", "f3"}),
		"a failed ISR change is tried again at the next tick",
		"b1's UpdateISR calls: %s; want a second one at 0.120000s with [b1 f3]", callsText(s))
	st = s.status()
	s.sim.Check(t, slices.Equal(sortedCopy(st.ISR), []string{"b1", "f3"}) && st.HWM == 1, "after the ISR shrinks, the HWM is recomputed at once",
		"b1's Status(0) after the ISR shrank is %+v; want ISR [b1 f3] and HWM 1", st)
	s.run(2 * time.Millisecond)
	s.expect(s.cl.since(start), "a record is acknowledged as soon as it is below the HWM", "after f2 left the ISR", ack("a", 1, 0))
}

func lastEpochOf(log []rl.Record) int64 {
	if len(log) == 0 {
		return 0
	}
	return log[len(log)-1].Epoch
}

func firstCall(s *script) time.Duration {
	if len(s.ctl.calls) == 0 {
		return 0
	}
	return s.ctl.calls[0].at
}

func callsText(s *script) string {
	if len(s.ctl.calls) == 0 {
		return "none"
	}
	var out string
	for _, c := range s.ctl.calls {
		res := "ok"
		if c.err != nil {
			res = c.err.Error()
		}
		out += "[" + fmtTime(c.at) + " p" + itoa(int64(c.partition)) + " epoch " + itoa(c.epoch) + " " + joinNames(c.isr) + ": " + res + "] "
	}
	return out
}

func joinNames(s []string) string {
	out := "["
	for i, n := range s {
		if i > 0 {
			out += " "
		}
		out += n
	}
	return out + "]"
}

func TestCaughtUpMeansReachingThePreviousLogEnd(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "b1", "b1", "f2", "f3")
	// A producer appends a record every 10ms. f2 fetches every 10ms from
	// the log end of b1's previous answer to it: never the current end, but
	// always caught up. f3 stays one answer further behind.
	var f2End, f3End, f3Prev int64
	prod := s.sim.Every(10*time.Millisecond, func() {
		seq := s.status().LEO + 1
		s.cl.send("b1", produce("a", seq))
	})
	defer prod.Stop()
	s.run(3 * time.Millisecond)
	fol := s.sim.Every(10*time.Millisecond, func() {
		log := s.broker("b1").Log(0)
		s.f2.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 1, Offset: f2End, LastEpoch: lastEpochOf(log[:f2End])})
		s.f3.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 1, Offset: f3Prev, LastEpoch: lastEpochOf(log[:f3Prev])})
		f2End = int64(len(log))
		f3Prev, f3End = f3End, int64(len(log))
	})
	defer fol.Stop()
	s.run(400 * time.Millisecond)
	st := s.status()
	s.sim.Check(t, slices.Equal(sortedCopy(st.ISR), []string{"b1", "f2"}),
		"a follower is caught up when it fetches from at least the log end of the leader's answer to its previous fetch",
		"f2 always fetched from the log end of b1's previous answer to it, f3 from the one before; after 400ms b1's ISR is %v; want [b1 f2]", st.ISR)
}

func TestFollowerRejoinsISR(t *testing.T) {
	s := scripted(t, scriptCfg) // ticks every 10ms, ReplicaLag 80ms
	s.announce(1, "b1", "b1", "f3")
	for seq := int64(1); seq <= 3; seq++ {
		s.cl.send("b1", produce("a", seq))
	}
	s.run(2 * time.Millisecond)
	s.fetchFrom(s.f3, 1, 0, 0) // caught up at 4ms
	s.fetchFrom(s.f3, 1, 1, 1) // HWM 1
	s.fetchFrom(s.f2, 1, 0, 0)
	s.sim.Check(t, len(s.ctl.calls) == 0, "a follower rejoins the ISR when it fetches from at least the HWM",
		"f2 fetched from 0 with HWM 1, and b1 called UpdateISR: %s", callsText(s))
	s.ctl.force = rl.ErrFenced
	s.fetchFrom(s.f2, 1, 1, 1)
	s.sim.Check(t, len(s.ctl.calls) == 1 && slices.Equal(sortedCopy(s.ctl.calls[0].isr), []string{"b1", "f2", "f3"}),
		"a follower rejoins the ISR when it fetches from at least the HWM",
		"f2 fetched from 1 (the HWM); b1's UpdateISR calls: %s; want one with [b1 f2 f3]", callsText(s))
	s.sim.Check(t, slices.Equal(sortedCopy(s.status().ISR), []string{"b1", "f3"}), "when UpdateISR fails, the ISR does not change",
		"UpdateISR was fenced and b1's ISR is %v; want [b1 f3]", s.status().ISR)
	s.ctl.force = nil
	s.fetchFrom(s.f2, 1, 1, 1) // rejoins at 24ms, though not at b1's previous log end
	joined := s.sim.Elapsed()
	s.sim.Check(t, len(s.ctl.calls) == 2 && slices.Equal(sortedCopy(s.status().ISR), []string{"b1", "f2", "f3"}),
		"a follower rejoins the ISR when it fetches from at least the HWM",
		"f2 fetched from 1 again; b1's UpdateISR calls: %s, its ISR %v; want [b1 f2 f3]", callsText(s), s.status().ISR)
	// f3 last caught up at 4ms and leaves at the tick of 90ms; f2 joined
	// at 24ms and counts as caught up then, so it stays until 110ms.
	s.run(105*time.Millisecond - s.sim.Elapsed())
	var after []isrCall
	for _, c := range s.ctl.calls {
		if c.at > joined {
			after = append(after, c)
		}
	}
	s.sim.Check(t, len(after) == 1 && after[0].at == 90*time.Millisecond && slices.Equal(sortedCopy(after[0].isr), []string{"b1", "f2"}),
		"a follower that rejoins the ISR counts as caught up at that moment",
		"f2 rejoined at 24ms and f3 last caught up at 4ms (ReplicaLag 80ms); b1's UpdateISR calls: %s; want one more, at 0.090000s with [b1 f2]",
		callsText(s))
	start := s.sim.Elapsed()
	s.cl.send("b1", produce("a", 4))
	s.run(3 * time.Millisecond)
	s.expect(s.cl.since(start), "a record is acknowledged only when every ISR member has it", "a#4 after f2 rejoined, before it fetched it")
	s.fetchFrom(s.f2, 1, 4, 1)
	s.expect(s.cl.since(start), "a record is acknowledged as soon as it is below the HWM", "after f2 fetched a#4 (f3 had left the ISR)",
		ack("a", 2, 1), ack("a", 3, 2), ack("a", 4, 3))
}

func TestFencedLeaderCannotShrinkISR(t *testing.T) {
	s := scripted(t, scriptCfg)
	s.announce(1, "b1", "b1", "f2")
	// The controller moved on to epoch 2 without b1 hearing of it.
	s.ctl.part(0).epoch, s.ctl.part(0).leader = 2, "f2"
	start := s.sim.Elapsed()
	s.cl.send("b1", produce("a", 1))
	s.run(300 * time.Millisecond)
	s.sim.Check(t, len(s.ctl.calls) > 0 && s.ctl.calls[0].err == rl.ErrFenced, "a leader asks the controller to remove a follower that lags",
		"f2 never fetched in 300ms (ReplicaLag 80ms); b1's UpdateISR calls: %s", callsText(s))
	s.expect(s.cl.since(start), "a leader whose ISR change is fenced keeps its ISR, so it cannot acknowledge alone", "a#1 to b1, fenced for 300ms")
	s.sim.Check(t, slices.Equal(sortedCopy(s.status().ISR), []string{"b1", "f2"}), "when UpdateISR fails, the ISR does not change",
		"b1's ISR is %v; want [b1 f2]", s.status().ISR)
}

func TestDefaultTiming(t *testing.T) {
	s := scripted(t, rl.Config{})
	s.announce(1, "f2", "f2", "b1")
	s.run(100*time.Millisecond - s.sim.Elapsed())
	fs := s.f2.fetches(0)
	ok := len(fs) == 9
	for i := 0; ok && i < len(fs); i++ {
		ok = fs[i].at == time.Duration(i+1)*10*time.Millisecond+time.Millisecond
	}
	if !ok {
		var at []string
		for _, g := range fs {
			at = append(at, fmtTime(g.at))
		}
		s.sim.Failf(t, "a zero FetchInterval means 10ms: a follower fetches every 10ms from the start",
			"f2 received b1's fetches at %v; want at 11ms, 21ms, ... 91ms (links take 1ms)", at)
	}
	// Lead with f2 and f3 in the ISR; f2 catches up at exactly 110ms, f3
	// at 109.5ms; neither fetches again. With ReplicaLag 100ms, f3 leaves
	// at the tick of 210ms, f2 at 220ms.
	s.announce(2, "b1", "b1", "f2", "f3")
	s.sim.RunFor(108500*time.Microsecond - s.sim.Elapsed())
	s.f3.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 2})
	s.sim.RunFor(109*time.Millisecond - s.sim.Elapsed())
	s.f2.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 2})
	s.run(300*time.Millisecond - s.sim.Elapsed())
	ok = len(s.ctl.calls) == 2 && s.ctl.calls[0].at == 210*time.Millisecond && slices.Equal(s.ctl.calls[0].isr, []string{"b1", "f2"}) &&
		s.ctl.calls[1].at == 220*time.Millisecond && slices.Equal(s.ctl.calls[1].isr, []string{"b1"})
	s.sim.Check(t, ok, "a zero ReplicaLag means 100ms",
		"f3 caught up at 109.5ms, f2 at 110ms; b1's UpdateISR calls: %s; want [b1 f2] at 0.210000s and [b1] at 0.220000s", callsText(s))
}

func TestTinyConfigIsUsedAsGiven(t *testing.T) {
	t.Run("lag 7ms", func(t *testing.T) {
		s := scripted(t, rl.Config{FetchInterval: 3 * time.Millisecond, ReplicaLag: 7 * time.Millisecond})
		s.announce(1, "b1", "b1", "f2")
		s.run(20*time.Millisecond - s.sim.Elapsed())
		s.sim.Check(t, len(s.ctl.calls) == 1 && s.ctl.calls[0].at == 9*time.Millisecond,
			"FetchInterval and ReplicaLag are used as given",
			"with FetchInterval 3ms and ReplicaLag 7ms, f2 silent since b1 led at 1ms; b1's UpdateISR calls: %s; want one at 0.009000s", callsText(s))
	})
	t.Run("lag 1ns", func(t *testing.T) {
		s := scripted(t, rl.Config{FetchInterval: 3 * time.Millisecond, ReplicaLag: time.Nanosecond})
		s.announce(1, "b1", "b1", "f2")
		s.run(5 * time.Millisecond)
		s.sim.Check(t, len(s.ctl.calls) == 1 && s.ctl.calls[0].at == 3*time.Millisecond,
			"FetchInterval and ReplicaLag are used as given, even 1ns",
			"with ReplicaLag 1ns, f2 silent since b1 led at 1ms; b1's UpdateISR calls: %s; want one at the first tick, 0.003000s", callsText(s))
	})
	t.Run("fetch every 1ns", func(t *testing.T) {
		s := scripted(t, rl.Config{FetchInterval: time.Nanosecond, ReplicaLag: time.Hour})
		s.net.SetLink(ctlName, "b1", labkit.Link{Latency: labkit.Fixed(0)})
		s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: 1, Leader: "f2", ISR: []string{"f2", "b1"}})
		s.sim.RunFor(time.Microsecond)
		fetches := 0
		for _, a := range s.actions["b1"] {
			if strings.HasPrefix(a, "send ReplicaFetch{") {
				fetches++
			}
		}
		s.sim.Check(t, fetches >= 999 && fetches <= 1000, "FetchInterval and ReplicaLag are used as given, even 1ns",
			"with FetchInterval 1ns, b1 (a follower from the start) sent %d ReplicaFetch in 1µs; want one per ns", fetches)
	})
}

func TestTickVisitsPartitionsInOrder(t *testing.T) {
	s := scripted(t, scriptCfg)
	for _, p := range []int{3, 1, 0, 2} {
		s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: p, Epoch: 1, Leader: "f2", ISR: []string{"f2", "b1"}})
	}
	s.run(99 * time.Millisecond)
	var order []int
	for _, g := range s.f2.fetches(0) {
		order = append(order, g.msg.(rl.ReplicaFetch).Partition)
	}
	want := slices.Repeat([]int{0, 1, 2, 3}, 9)
	s.sim.Check(t, slices.Equal(order, want), "on each tick a broker visits its partitions in increasing order",
		"b1 follows f2 in partitions 3, 1, 0 and 2 (told in that order); over 9 ticks f2 got fetches for partitions %v; want 0 1 2 3 each tick", order)
}

func TestDivergingFetchIsNoCatchUp(t *testing.T) {
	s := scripted(t, scriptCfg) // ReplicaLag 80ms
	s.announce(1, "b1", "b1", "f2")
	s.cl.send("b1", produce("a", 1))
	s.run(2 * time.Millisecond)
	// f2 fetches every 10ms, always from beyond b1's log end: diverging.
	tk := s.sim.Every(10*time.Millisecond, func() {
		s.f2.send("b1", rl.ReplicaFetch{Partition: 0, Epoch: 1, Offset: 5, LastEpoch: 1})
	})
	defer tk.Stop()
	s.run(100 * time.Millisecond)
	s.sim.Check(t, len(s.ctl.calls) == 1 && s.ctl.calls[0].at == 90*time.Millisecond && slices.Equal(s.ctl.calls[0].isr, []string{"b1"}),
		"a diverging fetch does not make the follower caught up",
		"f2 only sent diverging fetches after b1 led at 1ms (ReplicaLag 80ms); b1's UpdateISR calls: %s; want [b1] at 0.090000s", callsText(s))
}

package replicatedlog

import (
	"reflect"
	"testing"
	"time"
)

func TestProduceAndFetchAlone(t *testing.T) {
	c := newLabCluster(t, 1)
	cl := c.client("cl")
	c.sim.RunFor(5 * time.Millisecond)
	for seq := int64(1); seq <= 3; seq++ {
		got := cl.ask("b1", Produce{Partition: 0, Producer: "a", Seq: seq, Value: "v"}, 10*time.Millisecond)
		want := ProduceReply{Partition: 0, Producer: "a", Seq: seq, Offset: seq - 1}
		c.sim.Check(t, len(got) == 1 && got[0] == want, "a leader alone in its ISR acknowledges at once, at offsets from 0",
			"Produce a#%d got %v; want %v", seq, got, want)
	}
	got := cl.ask("b1", Fetch{Partition: 0, Offset: 1}, 10*time.Millisecond)
	want := FetchReply{Partition: 0, Offset: 1, HWM: 3, Records: []Record{
		{Offset: 1, Epoch: 1, Producer: "a", Seq: 2, Value: "v"},
		{Offset: 2, Epoch: 1, Producer: "a", Seq: 3, Value: "v"},
	}}
	c.sim.Check(t, len(got) == 1 && reflect.DeepEqual(got[0], want), "a fetch returns the records from its offset up to the HWM",
		"Fetch{from 1} got %v; want %v", got, want)
	got = cl.ask("b1", Fetch{Partition: 0, Offset: 4}, 10*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && reflect.DeepEqual(got[0], FetchReply{Partition: 0, Offset: 4, HWM: 3, Err: OffsetOutOfRange}),
		"a fetch beyond the log end gets OFFSET_OUT_OF_RANGE", "Fetch{from 4} with 3 records got %v", got)
	st := c.broker("b1").Status(0)
	c.sim.Check(t, st.Role == Leader && st.Epoch == 1 && st.Leader == "b1" && st.LEO == 3 && st.HWM == 3,
		"Status reports the role, epoch, leader, log end and HWM", "Status(0) = %+v", st)
}

func TestAckAfterISR(t *testing.T) {
	c := newLabCluster(t, 3)
	cl := c.client("cl")
	c.sim.RunFor(5 * time.Millisecond)
	cl.c.net.Send("cl", "b1", Produce{Partition: 0, Producer: "a", Seq: 1, Value: "v"})
	acked := c.sim.RunUntil(func() bool { return len(cl.got) > 0 }, time.Second)
	c.sim.Check(t, acked && cl.got[0] == ProduceReply{Partition: 0, Producer: "a", Seq: 1, Offset: 0},
		"a record is acknowledged once every ISR member has it", "the client got %v", cl.got)
	for _, b := range []string{"b2", "b3"} {
		log := c.broker(b).Log(0)
		c.sim.Check(t, len(log) == 1 && log[0] == Record{Offset: 0, Epoch: 1, Producer: "a", Seq: 1, Value: "v"},
			"a record is acknowledged only when every ISR member has it",
			"when a#1 was acknowledged, %s's log was %s", b, labLogText(log))
	}
	c.sim.RunFor(50 * time.Millisecond)
	for _, b := range []string{"b2", "b3"} {
		st := c.broker(b).Status(0)
		c.sim.Check(t, st.Role == Follower && st.HWM == 1, "followers learn the HWM from the leader's answers",
			"%s's Status(0) is %+v; want a follower with HWM 1", b, st)
	}
}

func TestCommitThenOffsetFetch(t *testing.T) {
	c := newLabCluster(t, 1)
	cl := c.client("cl")
	c.sim.RunFor(5 * time.Millisecond)
	cl.ask("b1", Produce{Partition: 0, Producer: "a", Seq: 1, Value: "v"}, 10*time.Millisecond)
	got := cl.ask("b1", OffsetFetch{Partition: 0, Group: "g"}, 10*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && got[0] == OffsetReply{Partition: 0, Group: "g", Offset: -1},
		"a group that never committed has committed offset -1", "OffsetFetch got %v", got)
	got = cl.ask("b1", Commit{Partition: 0, Group: "g", Offset: 2}, 10*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && got[0] == CommitReply{Partition: 0, Group: "g", Offset: 2, Err: OffsetOutOfRange},
		"a commit beyond the HWM is refused", "Commit{g, 2} with HWM 1 got %v", got)
	got = cl.ask("b1", Commit{Partition: 0, Group: "g", Offset: 1}, 10*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && got[0] == CommitReply{Partition: 0, Group: "g", Offset: 1},
		"a commit up to the HWM is acknowledged once committed", "Commit{g, 1} got %v", got)
	got = cl.ask("b1", OffsetFetch{Partition: 0, Group: "g"}, 10*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && got[0] == OffsetReply{Partition: 0, Group: "g", Offset: 1},
		"OffsetFetch answers the group's committed offset", "OffsetFetch got %v", got)
}

func TestFailoverKeepsAckedRecords(t *testing.T) {
	c := newLabCluster(t, 3)
	p := c.producer("p")
	p.on = true
	p.send()
	c.sim.RunFor(300 * time.Millisecond)
	c.sim.Check(t, len(p.acked) > 3, "records are acknowledged", "only %d acknowledged in 300ms", len(p.acked))
	c.net.Crash("b1")
	c.sim.RunFor(300 * time.Millisecond)
	leader := c.parts[0].leader
	st := c.broker(leader).Status(0)
	c.sim.Check(t, leader != "b1" && st.Role == Leader && st.Epoch == 2, "a broker named leader of a higher epoch leads",
		"the controller elected %s in epoch 2; its Status(0) is %+v", leader, st)
	labCheckAcked(c, p, leader)
	c.net.Restart("b1")
	c.sim.RunFor(300 * time.Millisecond)
	p.on = false
	c.sim.RunFor(200 * time.Millisecond)
	want := c.broker(leader).Log(0)
	for _, b := range c.brokers {
		diff := labDiff(c.broker(b).Log(0), want)
		c.sim.Check(t, diff == "", "followers end up with the leader's log",
			"%s's log differs from the leader %s's: %s", b, leader, diff)
	}
}

package hidden

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	rl "faultline.dev/labs/replicatedlog"
)

// The cluster tests run three of the learner's brokers, b1, b2 and b3, with
// FetchInterval 10ms and ReplicaLag 80ms, and the test's controller, which
// announces every partition's leader, epoch and ISR every 20ms and elects a
// new leader from the ISR when the leader crashes, restarts, or stays out of
// its reach for 100ms.

var clusterCfg = rl.Config{FetchInterval: 10 * time.Millisecond, ReplicaLag: 80 * time.Millisecond}

// logCluster returns b1..b3 with partitions 0..nparts-1 on all three, the
// leader of partition i being b(i+1) in epoch 1.
func logCluster(t *testing.T, seed int64, link labkit.Link, nparts int) *cluster {
	c := newCluster(t, seed, clusterCfg, link)
	c.addBrokers("b1", "b2", "b3")
	for i := 0; i < nparts; i++ {
		replicas := slices.Clone(c.brokers)
		for range i {
			replicas = append(replicas[1:], replicas[0])
		}
		c.addPartition(i, replicas...)
	}
	return c
}

var calm = labkit.Link{Latency: labkit.Uniform(time.Millisecond, 3*time.Millisecond)}

// settle stops the clients, repairs every fault, lets the messages still in
// flight arrive, and waits until every partition has a leader of the controller's epoch with every replica in
// its ISR, everything committed and every replica's log equal to the
// leader's. It fails the test if that takes more than 5s.
func (c *cluster) settle(producers []*producer, consumers []*consumer) {
	c.t.Helper()
	for _, p := range producers {
		p.running = false
	}
	for _, co := range consumers {
		co.running = false
	}
	c.net.Heal()
	for _, b := range c.brokers {
		c.net.Restart(b)
	}
	c.net.SetDefaultLink(labkit.Link{Latency: labkit.Fixed(2 * time.Millisecond)})
	c.ctl.auto = true
	// Late messages and second copies still in flight arrive within a
	// second (ten times the 100ms timeout at most); a client's late Commit
	// appends a record, so wait for them before looking.
	c.run(1100 * time.Millisecond)
	if !c.runUntil(c.settled, 5*time.Second) {
		c.sim.Failf(c.t, "after every fault is repaired, each partition has a leader with every replica in sync and every replica holds the leader's log",
			"5s after the faults stopped: %s", c.unsettled())
	}
}

func (c *cluster) settled() bool { return c.unsettled() == "" }

// unsettled says what is not settled yet, or "".
func (c *cluster) unsettled() string {
	for _, p := range c.parts {
		cp := c.ctl.part(p)
		if !c.leaderReady(p) {
			return fmt.Sprintf("%s, the controller's leader of p%d in epoch %d, does not act as its leader", cp.leader, p, cp.epoch)
		}
		if !c.inSync(p) {
			return fmt.Sprintf("the ISR of p%d is [%s]; its replicas are [%s]", p, strings.Join(cp.isr, " "), strings.Join(sortedCopy(cp.replicas), " "))
		}
		lst, _ := c.status(cp.leader, p)
		if lst.HWM != lst.LEO {
			return fmt.Sprintf("%s, leader of p%d, has %d records and HWM %d", cp.leader, p, lst.LEO, lst.HWM)
		}
		want := logText(c.broker(cp.leader).Log(p))
		for _, r := range cp.replicas {
			if got := logText(c.broker(r).Log(p)); !slices.Equal(got, want) {
				return fmt.Sprintf("%s's log of p%d differs from the leader %s's: %s", r, p, cp.leader, diffText(got, want))
			}
		}
	}
	return ""
}

func logText(log []rl.Record) []string {
	out := make([]string, len(log))
	for i, r := range log {
		out[i] = fmt.Sprintf("%s(epoch %d)", recText(r), r.Epoch)
	}
	return out
}

func diffText(got, want []string) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			return fmt.Sprintf("at offset %d it has %s, the leader %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("it has %d records, the leader %d", len(got), len(want))
}

// finalCheck checks, once settled, that the leader of every partition holds
// every record clients were told about at its offset, that no producer's
// record is in a log twice, and that every replica holds the same log.
func (c *cluster) finalCheck() {
	c.t.Helper()
	for _, p := range c.parts {
		leader := c.leaderOf(p)
		log := c.broker(leader).Log(p)
		c.sim.Require(c.t, c.hist.checkLog(p, log, fmt.Sprintf("%s, the leader of p%d after every fault was repaired,", leader, p)))
		seen := map[string]int64{}
		for _, r := range log {
			if r.Producer == "" {
				continue
			}
			k := fmt.Sprintf("%s#%d", r.Producer, r.Seq)
			if o, ok := seen[k]; ok {
				c.sim.Failf(c.t, "an idempotent producer's record is in the log once, however often it was sent",
					"%s's log of p%d holds %s at offsets %d and %d", leader, p, k, o, r.Offset)
			}
			seen[k] = r.Offset
		}
		c.checkCommits(p, leader)
		states := map[string][]string{}
		for _, r := range c.ctl.part(p).replicas {
			states[r] = logText(c.broker(r).Log(p))
		}
		if err := labkit.Converged(states); err != nil {
			c.sim.Require(c.t, withContext(err, "the logs of p%d", p))
		}
	}
}

// checkCommits asks the leader of p for the committed offset of every group
// that got a commit acknowledged: it must be at least the highest one.
func (c *cluster) checkCommits(p int, leader string) {
	c.t.Helper()
	groups := make([]string, 0, len(c.hist.commits[p]))
	for g := range c.hist.commits[p] {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	if len(groups) == 0 {
		return
	}
	if c.checker == nil {
		c.checker = c.addClient("checker")
	}
	for _, g := range groups {
		want := c.hist.commits[p][g]
		got := c.checker.ask(leader, rl.OffsetFetch{Partition: p, Group: g}, 10*time.Millisecond)
		ok := len(got) == 1
		if ok {
			r, isReply := got[0].(rl.OffsetReply)
			ok = isReply && r.Err == rl.OK && r.Offset >= want
		}
		c.sim.Check(c.t, ok, "an acknowledged commit is never lost",
			"group %s's commit of offset %d on p%d was acknowledged; after every fault was repaired, OffsetFetch to the leader %s got %s",
			g, want, p, leader, describeAll(got))
	}
}

func TestFailoverTruncatesDivergentSuffix(t *testing.T) {
	c := logCluster(t, labkit.Seed(t), calm, 1)
	pa, pb := c.addProducer("pa", 0), c.addProducer("pb", 0)
	co := c.addConsumer("ca", "g", 0)
	c.start(true)
	pa.start()
	pb.start()
	co.start()
	c.run(200 * time.Millisecond)
	// b1 keeps its producers but loses its followers: what it appends now
	// reaches nobody. It crashes before ReplicaLag could shrink its ISR.
	for _, f := range []string{"b2", "b3"} {
		c.net.Block("b1", f)
		c.net.Block(f, "b1")
	}
	c.run(50 * time.Millisecond)
	before := c.broker("b1").Log(0)
	hwm := c.broker("b1").Status(0).HWM
	c.net.Crash("b1")
	c.net.Heal()
	c.run(300 * time.Millisecond)
	c.net.Restart("b1")
	c.run(500 * time.Millisecond)
	c.settle([]*producer{pa, pb}, []*consumer{co})
	c.finalCheck()
	after := c.broker(c.leaderOf(0)).Log(0)
	c.sim.Check(t, int64(len(before)) > hwm, "the scenario works: b1 appended records its followers never got",
		"b1 had %d records and HWM %d when it crashed", len(before), hwm)
	divergent := false
	for _, r := range before[hwm:] {
		divergent = divergent || r.Offset >= int64(len(after)) || after[r.Offset] != r
	}
	c.sim.Check(t, divergent, "the scenario works: the new leader wrote other records where b1 had its uncommitted ones",
		"b1's records above its HWM %d are all in the final log", hwm)
	c.sim.Check(t, pa.acks+pb.acks > 40, "producers keep getting acknowledgements across a failover",
		"only %d records were acknowledged in 1s", pa.acks+pb.acks)
}

// zombieProducer sends only to b1, whatever the controller says.
func TestIsolatedLeaderCannotAcknowledge(t *testing.T) {
	c := logCluster(t, labkit.Seed(t), calm, 1)
	pa := c.addProducer("pa", 0)
	z := c.addClient("z")
	zAcks := 0
	var zSeq int64
	z.on = func(from string, msg any) {
		if m, ok := msg.(rl.ProduceReply); ok && m.Err == rl.OK {
			c.hist.learn(0, rl.Record{Offset: m.Offset, Producer: "z", Seq: m.Seq, Value: fmt.Sprintf("z-%d", m.Seq)}, "acknowledged by "+from+" to z")
			zAcks++
		}
	}
	c.start(true)
	pa.start()
	c.run(200 * time.Millisecond)
	// b1 is cut off from its followers and from the controller, but not
	// from z, which keeps producing to it. The controller elects another
	// leader after 100ms; b1 cannot shrink its ISR, so it must never
	// acknowledge what z sends.
	for _, o := range []string{"b2", "b3", ctlName} {
		c.net.Block("b1", o)
		c.net.Block(o, "b1")
	}
	zombie := c.sim.Every(15*time.Millisecond, func() {
		zSeq++
		z.send("b1", rl.Produce{Partition: 0, Producer: "z", Seq: zSeq, Value: fmt.Sprintf("z-%d", zSeq)})
	})
	c.run(400 * time.Millisecond)
	zombie.Stop()
	c.sim.Check(t, c.leaderOf(0) != "b1" && c.ctl.part(0).epoch > 1, "the scenario works: the controller replaced the leader it could not reach",
		"the controller's leader of p0 is %s in epoch %d", c.leaderOf(0), c.ctl.part(0).epoch)
	st := c.broker("b1").Status(0)
	c.sim.Check(t, zAcks == 0, "a leader cut off from its ISR and the controller acknowledges nothing",
		"b1, cut off from b2, b3 and the controller for 400ms, acknowledged %d of z's records (its Status(0): %+v)", zAcks, st)
	c.sim.Check(t, st.LEO > st.HWM, "the scenario works: b1 appended z's records",
		"b1's Status(0) is %+v", st)
	c.net.Heal()
	c.run(300 * time.Millisecond)
	c.settle([]*producer{pa}, nil)
	c.finalCheck()
}

func TestFollowerLeavesAndRejoinsISR(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  func(c *cluster)
		back func(c *cluster)
	}{
		{"crashed", func(c *cluster) { c.net.Crash("b3") }, func(c *cluster) { c.net.Restart("b3") }},
		{"cut off", func(c *cluster) { c.net.Isolate("b3") }, func(c *cluster) { c.net.Heal() }},
		{"crashed as it falls out", func(c *cluster) {
			// b3 cannot reach the leader; the moment the controller drops
			// it from the ISR, it crashes (and comes back 100ms later).
			c.net.Block("b3", "b1")
			tg := &labkit.Targeted{Net: c.net, P: 1, Max: 1, Down: 100 * time.Millisecond, State: func(name string, _ labkit.Node) string {
				if slices.Contains(c.ctl.part(0).isr, name) {
					return "in the ISR of p0"
				}
				return "out of the ISR of p0"
			}}
			tg.Start()
		}, func(c *cluster) { c.net.Heal() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := logCluster(t, labkit.Seed(t), calm, 1)
			pa := c.addProducer("pa", 0)
			c.start(true)
			pa.start()
			c.run(200 * time.Millisecond)
			tc.out(c)
			out := c.runUntil(func() bool { return !slices.Contains(c.ctl.part(0).isr, "b3") }, 150*time.Millisecond)
			c.sim.Check(t, out, "a leader removes a follower that has not caught up for ReplicaLag from the ISR",
				"b3 stopped fetching at 0.2s (ReplicaLag 80ms, ticks every 10ms) and is still in the ISR [%s] at %s",
				strings.Join(c.ctl.part(0).isr, " "), fmtTime(c.sim.Elapsed()))
			c.run(50 * time.Millisecond)
			acks := pa.acks
			c.run(300 * time.Millisecond)
			c.sim.Check(t, pa.acks-acks > 5, "writes go on once a lagging follower has left the ISR",
				"only %d records were acknowledged in the 300ms after b3 left the ISR", pa.acks-acks)
			tc.back(c)
			in := c.runUntil(func() bool { return c.inSync(0) }, 300*time.Millisecond)
			c.sim.Check(t, in, "a follower that catches up rejoins the ISR",
				"b3 came back at %s and 300ms later the ISR is [%s]", fmtTime(c.sim.Elapsed()-300*time.Millisecond), strings.Join(c.ctl.part(0).isr, " "))
			c.settle([]*producer{pa}, nil)
			c.finalCheck()
		})
	}
}

func TestCommittedOffsetSurvivesFailover(t *testing.T) {
	c := logCluster(t, labkit.Seed(t), calm, 1)
	pa := c.addProducer("pa", 0)
	cl := c.addClient("cl")
	c.start(true)
	pa.start()
	c.runUntil(func() bool { return pa.acks >= 20 }, time.Second)
	pa.running = false
	c.run(200 * time.Millisecond)
	leader := c.leaderOf(0)
	got := cl.ask(leader, rl.Fetch{Partition: 0, Offset: 0}, 10*time.Millisecond)
	var hwm int64
	for _, m := range got {
		if r, ok := m.(rl.FetchReply); ok && r.Err == rl.OK {
			hwm = r.HWM
		}
	}
	c.sim.Check(t, hwm >= 20, "a consumer reads every acknowledged record", "a fetch from %s returned %s", leader, describeAll(got))
	got = cl.ask(leader, rl.Commit{Partition: 0, Group: "g", Offset: hwm}, 50*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && got[0] == rl.CommitReply{Partition: 0, Group: "g", Offset: hwm},
		"a commit of an offset up to the HWM is acknowledged once committed", "Commit{g, %d} to %s got %s", hwm, leader, describeAll(got))
	c.net.Crash(leader)
	c.runUntil(func() bool { return c.leaderReady(0) && c.leaderOf(0) != leader }, time.Second)
	got = cl.ask(c.leaderOf(0), rl.OffsetFetch{Partition: 0, Group: "g"}, 10*time.Millisecond)
	c.sim.Check(t, len(got) == 1 && got[0] == rl.OffsetReply{Partition: 0, Group: "g", Offset: hwm},
		"an acknowledged commit is never lost", "group g committed %d on %s, which crashed; the new leader %s answers %s",
		hwm, leader, c.leaderOf(0), describeAll(got))
}

// leaderState is what Targeted watches to crash a leader right after it
// appends, before any follower can fetch what it appended.
func leaderState(c *cluster) func(name string, n labkit.Node) string {
	return func(name string, n labkit.Node) string {
		b, ok := n.(*rl.Broker)
		if !ok {
			return ""
		}
		var parts []string
		for _, p := range c.parts {
			if st := b.Status(p); st.Role == rl.Leader {
				parts = append(parts, fmt.Sprintf("leader of p%d in epoch %d with %d records", p, st.Epoch, st.LEO))
			}
		}
		return strings.Join(parts, "; ")
	}
}

func TestLeaderCrashesRightAfterAppending(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := logCluster(t, seed, labkit.Link{Latency: labkit.Uniform(time.Millisecond, 5*time.Millisecond)}, 2)
		var prods []*producer
		var cons []*consumer
		for _, p := range c.parts {
			prods = append(prods, c.addProducer(fmt.Sprintf("pa%d", p), p), c.addProducer(fmt.Sprintf("pb%d", p), p))
			cons = append(cons, c.addConsumer(fmt.Sprintf("c%d", p), "g", p))
		}
		c.start(true)
		for _, p := range prods {
			p.start()
		}
		for _, co := range cons {
			co.start()
		}
		tg := &labkit.Targeted{Net: c.net, State: leaderState(c), P: 0.2, Max: 6, Down: 80 * time.Millisecond}
		tg.Start()
		c.run(2 * time.Second)
		tg.Stop()
		c.sim.Check(t, tg.Crashes() > 0, "the scenario works: leaders crashed right after appending", "Targeted crashed nothing")
		c.settle(prods, cons)
		c.finalCheck()
	})
}

// chaos runs two partitions on b1..b3 for 3s with two producers and a
// consumer group per partition, under loss, duplication (second copies up
// to 300ms late), random delays with a heavy tail past the producers' 100ms
// timeout and the 80ms ReplicaLag, a nemesis (partitions, one-way cuts,
// crashes of one broker), cuts between brokers and the controller (so it
// elects new leaders while old ones still run), and targeted crashes:
// leaders right after appending, followers as they fall out of the ISR,
// and brokers just before a disk write. Then it settles.
func chaos(t *testing.T, seed int64) (*cluster, []*producer, []*consumer) {
	c := logCluster(t, seed, labkit.Link{
		Latency:  labkit.HeavyTail(labkit.Uniform(time.Millisecond, 8*time.Millisecond), 0.03, 100*time.Millisecond),
		Loss:     0.03,
		Dup:      0.02,
		DupDelay: labkit.Uniform(50*time.Millisecond, 300*time.Millisecond),
	}, 2)
	var prods []*producer
	var cons []*consumer
	for _, p := range c.parts {
		prods = append(prods, c.addProducer(fmt.Sprintf("pa%d", p), p), c.addProducer(fmt.Sprintf("pb%d", p), p))
		cons = append(cons, c.addConsumer(fmt.Sprintf("c%d", p), "g", p))
	}
	c.start(true)
	for _, p := range prods {
		p.start()
	}
	for _, co := range cons {
		co.start()
	}
	nm := &labkit.Nemesis{Net: c.net, Interval: 400 * time.Millisecond, Partitions: true, OneWay: true, Crashes: true}
	nm.Start()
	lead := leaderState(c)
	tg := &labkit.Targeted{Net: c.net, P: 0.03, Writes: 0.005, Max: 8, Down: 60 * time.Millisecond,
		State: func(name string, n labkit.Node) string {
			var isr []string
			for _, p := range c.parts {
				if !slices.Contains(c.ctl.part(p).isr, name) {
					isr = append(isr, fmt.Sprintf("out of the ISR of p%d", p))
				}
			}
			return strings.Join(append(isr, lead(name, n)), "; ")
		}}
	tg.Start()
	var cut string
	ctlCuts := c.sim.Every(300*time.Millisecond, func() {
		if cut != "" {
			c.net.Unblock(cut, ctlName)
			c.net.Unblock(ctlName, cut)
			cut = ""
		}
		if c.sim.Rand().IntN(3) == 0 {
			cut = c.brokers[c.sim.Rand().IntN(len(c.brokers))]
			c.net.Block(cut, ctlName)
			c.net.Block(ctlName, cut)
		}
	})
	c.run(3 * time.Second)
	ctlCuts.Stop()
	nm.Stop()
	tg.Stop()
	c.settle(prods, cons)
	return c, prods, cons
}

func TestNoAcknowledgedRecordLostUnderFaults(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		c, prods, cons := chaos(t, seed)
		acks, reads, commits := 0, 0, 0
		for _, p := range prods {
			acks += p.acks
		}
		for _, co := range cons {
			reads += co.reads
			commits += co.commits
		}
		t.Logf("%d records acknowledged, %d read, %d commits acknowledged, %d leader elections", acks, reads, commits, c.ctl.part(0).epoch+c.ctl.part(1).epoch-2)
		c.sim.Check(t, acks > 60, "writes succeed while the faults come and go",
			"only %d records were acknowledged in 3s", acks)
		c.sim.Check(t, reads > 30 && commits > 3, "consumers read and commit while the faults come and go",
			"consumers read %d records and got %d commits acknowledged in 3s", reads, commits)
		c.finalCheck()
	})
}

func TestReplicasConvergeAfterFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c, _, _ := chaos(t, seed)
		c.finalCheck()
		for _, p := range c.parts {
			for _, r := range c.ctl.part(p).replicas {
				st, _ := c.status(r, p)
				if r == c.leaderOf(p) {
					continue
				}
				c.sim.Check(t, st.Role == rl.Follower && st.Epoch == c.ctl.part(p).epoch && st.Leader == c.leaderOf(p),
					"after the faults, every replica follows the current leader",
					"%s's Status(%d) is %+v; the controller's leader is %s in epoch %d", r, p, st, c.leaderOf(p), c.ctl.part(p).epoch)
			}
		}
	})
}

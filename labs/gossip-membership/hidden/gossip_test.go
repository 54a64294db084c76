package hidden

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
	g "faultline.dev/labs/gossip"
)

// quiet never probes or syncs on its own during a scripted test.
var quiet = g.Config{
	Period: time.Hour, AckTimeout: 30 * time.Minute, IndirectChecks: 3,
	SuspicionTimeout: 10 * time.Hour, SyncInterval: 100 * time.Hour, RetransmitMult: 3, MaxPiggyback: 6,
}

// scripted is one real member n1 (quiet) and a fake f the test drives.
func scripted(t *testing.T) (*cluster, *fake) {
	c := newCluster(t, labkit.Seed(t), quiet, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.add(nil, "n1")
	for _, n := range []string{"x", "y", "z"} {
		c.mayDie[n] = true
	}
	f := c.addFake("f")
	c.run(time.Millisecond)
	return c, f
}

// tell sends n1 a Ping carrying us and checks it answers with an Ack of the same Seq.
func tell(c *cluster, f *fake, seq uint64, us ...g.Update) {
	c.t.Helper()
	start := c.sim.Elapsed()
	f.send("n1", g.Ping{Seq: seq, Updates: us})
	c.run(10 * time.Millisecond)
	acked := false
	for _, m := range f.inbox {
		if a, ok := m.msg.(g.Ack); ok && m.at >= start && a.Seq == seq {
			acked = true
		}
	}
	c.sim.Check(c.t, acked, "a Ping is answered by an Ack with the same Seq",
		"f sent n1 Ping{Seq %d}; no Ack{Seq %d} came back within 10ms", seq, seq)
}

func expectView(c *cluster, subj string, want g.Update, why string) {
	c.t.Helper()
	u, ok := c.view("n1", subj)
	c.sim.Check(c.t, ok && u == want, why, "n1 holds %s as %s@%d (known: %t); want %s@%d",
		subj, u.Status, u.Incarnation, ok, want.Status, want.Incarnation)
}

func TestPrecedenceRules(t *testing.T) {
	c, f := scripted(t)
	steps := []struct {
		send g.Update
		want g.Update
		why  string
	}{
		{upd("x", g.Alive, 2), upd("x", g.Alive, 2), "news of an unknown member is accepted"},
		{upd("x", g.Alive, 1), upd("x", g.Alive, 2), "an older incarnation never overrides a newer one"},
		{upd("x", g.Suspect, 2), upd("x", g.Suspect, 2), "suspect overrides alive of the same incarnation"},
		{upd("x", g.Alive, 2), upd("x", g.Suspect, 2), "alive does not override suspect of the same incarnation (only a refutation with a higher incarnation does)"},
		{upd("x", g.Alive, 3), upd("x", g.Alive, 3), "alive with a higher incarnation overrides suspect"},
		{upd("x", g.Suspect, 2), upd("x", g.Alive, 3), "an old suspicion does not override a refutation"},
		{upd("x", g.Dead, 3), upd("x", g.Dead, 3), "dead overrides alive of the same incarnation"},
		{upd("x", g.Alive, 3), upd("x", g.Dead, 3), "alive does not override dead of the same incarnation"},
		{upd("x", g.Suspect, 3), upd("x", g.Dead, 3), "suspect does not override dead of the same incarnation"},
		{upd("x", g.Alive, 2), upd("x", g.Dead, 3), "an old alive does not resurrect a dead member"},
		{upd("x", g.Alive, 4), upd("x", g.Alive, 4), "a rejoin with a higher incarnation overrides dead"},
		{upd("y", g.Suspect, 5), upd("y", g.Suspect, 5), "news of an unknown member is accepted, whatever its status"},
		{upd("y", g.Dead, 5), upd("y", g.Dead, 5), "dead overrides suspect of the same incarnation"},
		{upd("y", g.Left, 5), upd("y", g.Left, 5), "left overrides dead of the same incarnation"},
		{upd("y", g.Dead, 5), upd("y", g.Left, 5), "dead does not override left of the same incarnation"},
	}
	for i, s := range steps {
		tell(c, f, uint64(i+1), s.send)
		expectView(c, s.send.Member, s.want, s.why)
	}
	// A whole Sync is merged entry by entry with the same rules.
	f.send("n1", g.Sync{Members: []g.Update{upd("x", g.Suspect, 4), upd("y", g.Alive, 5), upd("z", g.Alive, 1)}})
	c.run(10 * time.Millisecond)
	expectView(c, "x", upd("x", g.Suspect, 4), "a Sync is merged with the precedence rules")
	expectView(c, "y", upd("y", g.Left, 5), "a Sync is merged with the precedence rules")
	expectView(c, "z", upd("z", g.Alive, 1), "a Sync is merged with the precedence rules")
	var reply *g.Sync
	for _, m := range f.inbox {
		if s, ok := m.msg.(g.Sync); ok && s.Reply {
			reply = &s
		}
	}
	c.sim.Check(t, reply != nil, "a Sync with Reply false is answered by a Sync with Reply true",
		"f sent n1 a Sync and got no Sync{Reply: true} back")
	want := []g.Update{upd("n1", g.Alive, 1), upd("x", g.Suspect, 4), upd("y", g.Left, 5), upd("z", g.Alive, 1)}
	got := slices.Clone(reply.Members)
	slices.SortFunc(got, func(a, b g.Update) int {
		if a.Member < b.Member {
			return -1
		}
		if a.Member > b.Member {
			return 1
		}
		return 0
	})
	c.sim.Check(t, slices.Equal(got, want), "a Sync reply carries the whole membership list after merging, the sender included",
		"n1 replied with%s; want%s", describeUpdates(got), describeUpdates(want))
}

func TestRefutesWithHigherIncarnation(t *testing.T) {
	c, f := scripted(t)
	expectView(c, "n1", upd("n1", g.Alive, 1), "a member's first incarnation is 1")
	steps := []struct {
		send g.Update
		inc  uint64
		why  string
	}{
		{upd("n1", g.Suspect, 1), 2, "a suspected member refutes with incarnation + 1"},
		{upd("n1", g.Suspect, 1), 2, "a suspicion of an older incarnation needs no refutation"},
		{upd("n1", g.Alive, 2), 2, "news that you are alive at your own incarnation changes nothing"},
		{upd("n1", g.Dead, 2), 3, "a member declared dead refutes with incarnation + 1"},
		{upd("n1", g.Suspect, 7), 8, "a member refutes with the suspected incarnation + 1"},
	}
	for i, s := range steps {
		start := c.sim.Elapsed()
		tell(c, f, uint64(i+1), s.send)
		expectView(c, "n1", upd("n1", g.Alive, s.inc), s.why)
		if i == 0 || i == 3 || i == 4 {
			// the refutation must go out on n1's next messages
			c.sim.Check(t, slices.Contains(f.updatesSince(start), upd("n1", g.Alive, s.inc)),
				"the refutation is piggybacked on the member's next messages",
				"after f told n1 %s@%d, n1's Ack did not carry n1 alive@%d; it carried%s",
				s.send.Status, s.send.Incarnation, s.inc, describeUpdates(f.updatesSince(start)))
		}
	}
}

func TestPiggybacksNews(t *testing.T) {
	c, f := scripted(t)
	tell(c, f, 1, upd("x", g.Alive, 1), upd("y", g.Suspect, 2))
	start := c.sim.Elapsed()
	tell(c, f, 2)
	us := f.updatesSince(start)
	c.sim.Check(t, slices.Contains(us, upd("x", g.Alive, 1)) && slices.Contains(us, upd("y", g.Suspect, 2)),
		"news a member learns is piggybacked on its next messages",
		"n1 learned x alive@1 and y suspect@2; its next Ack carried%s", describeUpdates(us))
	// Each update goes out at most RetransmitMult * ceil(log2(n+1)) times.
	for i := range 40 {
		tell(c, f, uint64(10+i))
	}
	n := 0
	for _, u := range f.updatesSince(0) {
		if u == (upd("x", g.Alive, 1)) {
			n++
		}
	}
	// n1 knows n1, x and y: 3 * ceil(log2(4)) = 6
	c.sim.Check(t, n <= 6 && n >= 2, "each update is piggybacked RetransmitMult * ceil(log2(n+1)) times, then dropped",
		"n1 knows 3 members and RetransmitMult is 3, so x alive@1 should go out at most 6 times; it went out %d times in 42 Acks", n)
}

func TestIndirectProbes(t *testing.T) {
	c := start(t, labkit.Seed(t), 6, link(0))
	c.noSusp = true
	c.run(2 * time.Second)
	c.net.Block("n1", "n2")
	c.net.Block("n2", "n1")
	c.run(10 * time.Second)
	c.sim.Check(t, c.allAlive(), "a member that answers through other members stays alive",
		"n1 and n2 cannot talk directly; views of n2: %s", c.describeViews("n2"))
}

func TestSuspicionBeforeDeath(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := start(t, seed, 6, link(0))
		c.run(2 * time.Second)
		c.mayDie["n3"] = true
		crashAt := c.sim.Elapsed()
		c.net.Crash("n3")
		ok := c.runUntil(func() bool { return c.holdAll("n3", 0, g.Dead) }, 40*P)
		c.sim.Check(t, ok, "a crashed member is declared dead by every live member",
			"40 periods after n3 crashed: %s", c.describeViews("n3"))
		firstSusp, firstDead := time.Duration(-1), time.Duration(-1)
		for _, obs := range c.live() {
			for _, m := range c.marks[pair{obs, "n3"}] {
				if m.at < crashAt {
					continue
				}
				if m.status == g.Suspect && (firstSusp < 0 || m.at < firstSusp) {
					firstSusp = m.at
				}
				if m.status == g.Dead && (firstDead < 0 || m.at < firstDead) {
					firstDead = m.at
				}
			}
		}
		c.sim.Check(t, firstSusp >= 0, "a member that fails a probe is suspected before it is declared dead",
			"n3 crashed at %s and nobody ever held it as suspect", crashAt)
		c.sim.Check(t, firstDead-firstSusp >= testConfig.SuspicionTimeout,
			"a suspect is declared dead only after SuspicionTimeout without a refutation",
			"n3 was first suspected at %s and first declared dead at %s; SuspicionTimeout is %s", firstSusp, firstDead, testConfig.SuspicionTimeout)
	})
}

// crashBound is the detection bound the README promises for n = 8 members:
// every live member holds a crashed member dead within 30 periods.
const crashBound = 30 * P

func TestCrashDetectedWithinBound(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := start(t, seed, 8, lateLink(0.1))
		c.run(3 * time.Second)
		victims := []string{"n5", "n2"}
		for _, v := range victims {
			c.mayDie[v] = true
			c.net.Crash(v)
			ok := c.runUntil(func() bool { return c.holdAll(v, 0, g.Dead) }, crashBound)
			c.sim.Check(t, ok, "a crashed member is declared dead by every live member within 30 periods (n = 8)",
				"%s crashed; 30 periods later: %s", v, c.describeViews(v))
			c.run(2 * time.Second)
		}
	})
}

func TestNoFalseDeathsUnderLoss(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := start(t, seed, 8, link(0.15))
		c.run(40 * time.Second)
		ok := c.runUntil(c.allAlive, 20*P)
		c.sim.Check(t, ok, "suspicions of live members are refuted under 15% loss",
			"after 40s, some member still held a live member suspect for 20 periods:\n%v", c.convergedErr())
	})
}

func TestJoinSpreadsQuickly(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := start(t, seed, 16, link(0))
		ok := c.runUntil(c.allAlive, 10*time.Second)
		c.sim.Check(t, ok, "16 members that join through n1 all know each other", "%v", c.convergedErr())
		c.run(time.Second)
		c.add([]string{"n1"}, "n17")
		ok = c.runUntil(func() bool { return c.holdAll("n17", 1, g.Alive) }, 10*P)
		c.sim.Check(t, ok, "news of a join reaches all 16 members within 10 periods (piggybacked gossip)",
			"n17 joined through n1; 10 periods later: %s", c.describeViews("n17"))
	})
}

func TestPartitionHeals(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := start(t, seed, 8, link(0.05))
		for _, n := range c.real {
			c.mayDie[n] = true
		}
		c.run(3 * time.Second)
		c.net.Partition(names(1, 4), names(5, 8))
		c.run(5 * time.Second)
		for _, side := range [][]string{{"n1", "n5", "n6", "n7", "n8"}, {"n8", "n1", "n2", "n3", "n4"}} {
			for _, n := range side[1:] {
				u, _ := c.view(side[0], n)
				c.sim.Check(t, u.Status == g.Dead, "members cut off by a partition are declared dead",
					"after 5s of partition %s holds %s as %s", side[0], n, u.Status)
			}
		}
		c.net.Heal()
		ok := c.runUntil(c.allAlive, 60*P)
		c.sim.Check(t, ok, "membership converges (everyone alive) within 60 periods after a partition heals",
			"60 periods after healing:\n%v", c.convergedErr())
	})
}

func TestRestartRejoinsWithHigherIncarnation(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := start(t, seed, 6, link(0.05))
		c.run(2 * time.Second)
		c.mayDie["n4"] = true
		before, _ := c.view("n4", "n4")
		c.net.Crash("n4")
		ok := c.runUntil(func() bool { return c.holdAll("n4", 0, g.Dead) }, 40*P)
		c.sim.Check(t, ok, "a crashed member is declared dead", "%s", c.describeViews("n4"))
		deadInc := uint64(0)
		for _, obs := range c.live() {
			u, _ := c.view(obs, "n4")
			deadInc = max(deadInc, u.Incarnation)
		}
		c.run(time.Second)
		c.net.Restart("n4")
		ok = c.runUntil(func() bool { return c.holdAll("n4", deadInc+1, g.Alive) }, 20*P)
		c.sim.Check(t, ok, "a restarted member rejoins with a higher incarnation and every member holds it alive within 20 periods",
			"n4 was dead at incarnation %d (it had %d before the crash); 20 periods after restarting: %s",
			deadInc, before.Incarnation, c.describeViews("n4"))
		ok = c.runUntil(c.allAlive, 20*P)
		c.sim.Check(t, ok, "after a rejoin everyone holds everyone alive", "%v", c.convergedErr())
	})
}

func TestGracefulLeave(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := start(t, seed, 6, link(0.05))
		c.run(2 * time.Second)
		c.members["n4"].Leave()
		u, _ := c.view("n4", "n4")
		c.sim.Check(t, u.Status == g.Left, "a member that leaves holds itself left", "n4 holds itself %s", u.Status)
		c.run(10 * P)
		c.net.Crash("n4") // it shuts down after leaving
		ok := c.runUntil(func() bool { return c.holdAll("n4", 0, g.Left) }, 20*P)
		c.sim.Check(t, ok, "a graceful leave reaches every member (within 20 periods after it stops)",
			"n4 left and stopped 10 periods later; views of n4: %s", c.describeViews("n4"))
		c.run(3 * time.Second)
		c.sim.Check(t, c.holdAll("n4", 0, g.Left), "a member that left stays left (it is never probed or declared dead)",
			"views of n4: %s", c.describeViews("n4"))
	})
}

func TestMessageLoadBounded(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		c := start(t, seed, 12, link(0.1))
		for _, n := range c.real {
			c.mayDie[n] = true
		}
		c.run(2 * time.Second)
		c.net.Crash("n3")
		c.run(2 * time.Second)
		c.net.Crash("n7")
		c.mayDie["n13"] = true
		c.add([]string{"n1", "n2"}, "n13")
		c.run(2 * time.Second)
		c.net.Restart("n3")
		c.net.Partition(names(1, 6), append(names(7, 12), "n13"))
		c.run(2 * time.Second)
		c.net.Heal()
		c.run(4 * time.Second)
		// k = 3: per running member and period, one Ping, k PingReqs,
		// Acks and relayed Pings for others' probes, and Syncs.
		limit := 3*testConfig.IndirectChecks + 6
		for p := 1; p < int(c.sim.Elapsed()/P); p++ {
			sent := c.sends[p]
			c.sim.Check(t, sent <= limit*13, "each period the group sends at most 15 messages per member (k = 3): no broadcast storms",
				"in period %d (%s..%s) the members sent %d messages", p, time.Duration(p)*P, time.Duration(p+1)*P, sent)
		}
		ok := c.runUntil(c.allAlive, 60*P)
		c.sim.Check(t, ok, "after the churn, the running members converge on everyone alive within 60 periods",
			"%v", c.convergedErr())
	})
}

func upd(member string, s g.Status, inc uint64) g.Update {
	return g.Update{Member: member, Status: s, Incarnation: inc}
}

// TestFirstSuspectorCrashes crashes, right away and for good, the first
// member that starts suspecting a crashed member: the one whose state
// matters most at that moment. Every member that learns of a suspicion runs
// its own timer, so the others still declare the crashed member dead within
// the bound.
func TestFirstSuspectorCrashes(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := start(t, seed, 8, link(0.05))
		for _, n := range c.real {
			c.mayDie[n] = true // the suspector is crashed and declared dead too
		}
		c.run(3 * time.Second)
		victim := "n6"
		tg := &labkit.Targeted{Net: c.net, P: 1, Max: 1, Down: time.Hour,
			State: func(name string, n labkit.Node) string {
				for _, u := range n.(node).m.Members() {
					if u.Member == victim {
						return fmt.Sprintf("holds %s %s", victim, u.Status)
					}
				}
				return ""
			}}
		c.net.Crash(victim)
		tg.Start()
		ok := c.runUntil(func() bool { return tg.Crashes() == 1 }, crashBound)
		c.sim.Check(t, ok, "a crashed member is suspected", "nobody suspected %s within 30 periods: %s", victim, c.describeViews(victim))
		ok = c.runUntil(func() bool { return c.holdAll(victim, 0, g.Dead) }, crashBound)
		c.sim.Check(t, ok, "every member that learns of a suspicion runs its own timer, so a crashed member is declared dead even when its first suspector crashes",
			"%s crashed, and the first member to suspect it was crashed right away; 30 periods later: %s", victim, c.describeViews(victim))
	})
}

// TestRejoinWhenAlone starts a member whose seed cannot be reached: its
// join Sync is lost. A member that knows nobody but itself sends the join
// Sync again every period, so it joins once the seed is reachable.
func TestRejoinWhenAlone(t *testing.T) {
	c := start(t, labkit.Seed(t), 4, link(0))
	c.run(2 * time.Second)
	c.mayDie["n5"] = true
	c.net.Block("n5", "n1")
	c.add([]string{"n1"}, "n5")
	c.run(2 * time.Second)
	c.net.Unblock("n5", "n1")
	ok := c.runUntil(func() bool { return c.holdAll("n5", 1, g.Alive) && c.allAlive() }, 20*P)
	c.sim.Check(t, ok, "a member that knows nobody but itself sends its join Sync again",
		"n5 could not reach its seed n1 for 2s; 20 periods after the link came back: %s", c.describeViews("n5"))
}

// lateAcker adds a peer that answers every Ping with an Ack after delay.
func lateAcker(c *cluster, name string, delay time.Duration) {
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			if p, ok := msg.(g.Ping); ok {
				c.sim.Schedule(delay, func() { c.net.Send(name, from, g.Ack{Seq: p.Seq}) })
			}
		})
	})
}

// TestLateAckStillCounts: a probe is acknowledged by its Ack until the next
// period starts, even after AckTimeout (once the PingReqs would be out);
// an Ack that comes after the next period started acknowledges nothing.
func TestLateAckStillCounts(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.noSusp = true
	c.add(nil, "n1")
	lateAcker(c, "slow", 50*time.Millisecond) // after the 30ms AckTimeout, within the 100ms period
	c.net.Send("slow", "n1", g.Sync{Members: []g.Update{upd("slow", g.Alive, 1)}})
	c.run(30 * P)
	u, _ := c.view("n1", "slow")
	c.sim.Check(t, u.Status == g.Alive, "an Ack that arrives after AckTimeout but within the period acknowledges the probe",
		"slow answers every Ping 50ms later (AckTimeout 30ms, period 100ms); after 30 periods n1 holds it %s", u.Status)

	c2 := newCluster(t, labkit.Seed(t)+1, testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c2.mayDie["slower"] = true
	c2.add(nil, "n1")
	lateAcker(c2, "slower", 120*time.Millisecond) // after the next period started
	c2.net.Send("slower", "n1", g.Sync{Members: []g.Update{upd("slower", g.Alive, 1)}})
	ok := c2.runUntil(func() bool { u, _ := c2.view("n1", "slower"); return u.Status != g.Alive }, 5*P)
	c2.sim.Check(t, ok, "an Ack that arrives after the next period started acknowledges nothing",
		"slower answers every Ping 120ms later (period 100ms); after 5 periods n1 still holds it alive")
}

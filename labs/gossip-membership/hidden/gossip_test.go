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

// ackMsgs lists the Acks f received at or after at, in arrival order.
func (f *fake) acks(at time.Duration) []g.Ack {
	var out []g.Ack
	for _, m := range f.inbox {
		if a, ok := m.msg.(g.Ack); ok && m.at >= at {
			out = append(out, a)
		}
	}
	return out
}

// sameUpdates reports whether a and b hold the same updates, in any order.
func sameUpdates(a, b []g.Update) bool {
	if len(a) != len(b) {
		return false
	}
	for _, u := range a {
		if !slices.Contains(b, u) {
			return false
		}
	}
	return true
}

// TestPiggybackOrderAndLimit: a message carries at most MaxPiggyback
// updates, those sent the fewest times first (among equals, the one queued
// first), and an update still queued about a member is replaced by newer
// news about it.
func TestPiggybackOrderAndLimit(t *testing.T) {
	c, f := scripted(t)
	news := []g.Update{upd("a", g.Alive, 1), upd("b", g.Alive, 1), upd("c", g.Alive, 1), upd("d", g.Alive, 1),
		upd("e", g.Alive, 1), upd("g", g.Alive, 1), upd("h", g.Alive, 1), upd("i", g.Alive, 1)}
	// n1's queue: its own alive@1 (queued at start), then a..i, none sent yet.
	steps := []struct {
		send []g.Update
		want []g.Update
		why  string
	}{
		{news, append([]g.Update{upd("n1", g.Alive, 1)}, news[:5]...),
			"a message carries at most MaxPiggyback (6) updates, those queued first among the never sent"},
		{nil, append(slices.Clone(news[5:]), upd("n1", g.Alive, 1), news[0], news[1]),
			"updates sent the fewest times go first; among equals, the one queued first"},
	}
	for i, s := range steps {
		start := c.sim.Elapsed()
		tell(c, f, uint64(i+1), s.send...)
		got := f.updatesSince(start)
		c.sim.Check(t, sameUpdates(got, s.want), s.why,
			"Ack %d of n1 carried%s; want%s", i+1, describeUpdates(got), describeUpdates(s.want))
	}
	// news about a member replaces its update still queued, however often that went out
	c2, f2 := scripted(t)
	tell(c2, f2, 1, upd("x", g.Alive, 1))
	at := c2.sim.Elapsed()
	tell(c2, f2, 2, upd("x", g.Suspect, 1))
	c2.sim.Check(t, !slices.Contains(f2.updatesSince(at), upd("x", g.Alive, 1)),
		"news about a member replaces the update about it still in the queue",
		"n1 had x alive@1 queued (sent once) and learned x suspect@1; its next Ack carried%s", describeUpdates(f2.updatesSince(at)))
	// MaxPiggyback 1: exactly one update per message
	one := quiet
	one.MaxPiggyback = 1
	c1 := newCluster(t, labkit.Seed(t), one, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c1.add(nil, "n1")
	f1 := c1.addFake("f")
	c1.run(time.Millisecond)
	tell(c1, f1, 1, upd("a", g.Alive, 1))
	c1.sim.Check(t, len(f1.updatesSince(0)) == 1, "a message carries at most MaxPiggyback updates (and as many as it can)",
		"MaxPiggyback is 1 and n1 had 2 updates queued; its Ack carried%s", describeUpdates(f1.updatesSince(0)))
	// ties among equals go to the one queued first, whatever went out before:
	// n1 alive@1, a, b go out one per Ack, and the fourth Ack carries n1 again
	tell(c1, f1, 2, upd("b", g.Alive, 1))
	var order []g.Update
	for seq := uint64(3); seq <= 4; seq++ {
		at := c1.sim.Elapsed()
		tell(c1, f1, seq)
		order = append(order, f1.updatesSince(at)...)
	}
	want := []g.Update{upd("b", g.Alive, 1), upd("n1", g.Alive, 1)}
	c1.sim.Check(t, slices.Equal(order, want), "updates sent the fewest times go first; among equals, the one queued first",
		"MaxPiggyback 1; n1 queued itself, then a, then b; after its Acks carried n1 and a, the next two carried%s; want%s",
		describeUpdates(order), describeUpdates(want))
	// MaxPiggyback 0 or below: no updates at all
	none := quiet
	none.MaxPiggyback = -1
	c0 := newCluster(t, labkit.Seed(t), none, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c0.add(nil, "n1")
	f0 := c0.addFake("f")
	c0.run(time.Millisecond)
	tell(c0, f0, 1, upd("a", g.Alive, 1))
	c0.sim.Check(t, len(f0.updatesSince(0)) == 0, "a MaxPiggyback of 0 or below means messages carry no updates",
		"MaxPiggyback is -1; n1's Ack carried%s", describeUpdates(f0.updatesSince(0)))
	// a suspect@1 is the freshest news n1 has; a alive@1 (sent twice) must be gone
	start := c.sim.Elapsed()
	tell(c, f, 3, upd("a", g.Suspect, 1))
	got := f.updatesSince(start)
	c.sim.Check(t, len(got) <= 6 && slices.Contains(got, upd("a", g.Suspect, 1)) && !slices.Contains(got, upd("a", g.Alive, 1)),
		"news about a member replaces the update about it still in the queue",
		"n1 had a alive@1 queued and learned a suspect@1; its next Ack carried%s", describeUpdates(got))
}

// TestIndirectProbeHelpers: AckTimeout after an unanswered Ping, the prober
// sends PingReq{the probe's Seq, Target} to IndirectChecks members it holds
// alive (never itself, the target, or a member it holds suspect, dead or
// left), and to fewer if it knows fewer.
func TestIndirectProbeHelpers(t *testing.T) {
	for _, tc := range []struct{ alive []string }{{[]string{"f1", "f2", "f3", "f4", "f5"}}, {[]string{"f1", "f2"}}} {
		c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
		c.add(nil, "n1")
		fakes := map[string]*fake{}
		var list []g.Update
		for _, n := range tc.alive {
			fakes[n] = c.addFake(n)
			list = append(list, upd(n, g.Alive, 1))
			c.mayDie[n] = true
		}
		for _, n := range []string{"s1", "d1", "l1"} {
			fakes[n] = c.addFake(n)
			c.mayDie[n] = true
		}
		list = append(list, upd("s1", g.Suspect, 1), upd("d1", g.Dead, 1), upd("l1", g.Left, 1))
		fakes[tc.alive[0]].send("n1", g.Sync{Members: list, Reply: true})
		c.run(P + 50*time.Millisecond) // the first probe and its AckTimeout
		var ping g.Ping
		target := ""
		reqs := map[string]g.PingReq{}
		for name, f := range fakes {
			for _, m := range f.inbox {
				switch v := m.msg.(type) {
				case g.Ping:
					ping, target = v, name
				case g.PingReq:
					reqs[name] = v
				}
			}
		}
		c.sim.Check(t, target != "", "each period the member probes one member it holds alive or suspect",
			"n1 knew%s and sent no Ping in its first period", describeUpdates(list))
		want := len(tc.alive)
		if slices.Contains(tc.alive, target) {
			want--
		}
		want = min(want, testConfig.IndirectChecks)
		var bad []string
		for name, r := range reqs {
			if name == target || !slices.Contains(tc.alive, name) || r.Seq != ping.Seq || r.Target != target {
				bad = append(bad, fmt.Sprintf("%s got PingReq{%d, %s}", name, r.Seq, r.Target))
			}
		}
		c.sim.Check(t, len(bad) == 0 && len(reqs) == want,
			"an unanswered probe is followed by PingReq{the probe's Seq, Target} to IndirectChecks members held alive (fewer if there are fewer)",
			"n1 knew%s and probed %s with Ping{%d}, which got no Ack; it sent %d PingReqs (want %d, to members it holds alive other than the target) %v",
			describeUpdates(list), target, ping.Seq, len(reqs), want, bad)
	}
	// a probe acknowledged within AckTimeout is not followed by PingReqs
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.add(nil, "n1")
	acking := map[string]*fake{}
	var list []g.Update
	for _, n := range []string{"f1", "f2", "f3", "f4"} {
		acking[n] = c.ackingFake(n, time.Millisecond)
		list = append(list, upd(n, g.Alive, 1))
	}
	acking["f1"].send("n1", g.Sync{Members: list, Reply: true})
	c.run(5*P + P/2)
	pings, reqs := 0, 0
	for _, f := range acking {
		for _, m := range f.inbox {
			switch m.msg.(type) {
			case g.Ping:
				pings++
			case g.PingReq:
				reqs++
			}
		}
	}
	c.sim.Check(t, pings >= 5 && reqs == 0, "a probe acknowledged within AckTimeout is not followed by PingReqs",
		"n1 probed %d times and every Ping was acknowledged within 3ms (AckTimeout %s), yet it sent %d PingReqs",
		pings, testConfig.AckTimeout, reqs)
}

// TestIndirectHelpersAtRandom: the members asked for indirect probes are
// picked at random among those held alive, so over many probes every one of
// them is asked.
func TestIndirectHelpersAtRandom(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.add(nil, "n1")
	peers := []string{"f1", "f2", "f3", "f4", "f5", "f6"}
	asked := map[string]int{}
	var list []g.Update
	for _, n := range peers {
		// never answers a Ping from n1, always "reaches" the target of a PingReq
		c.net.AddNode(n, func(*labkit.Env) labkit.Node {
			return labkit.HandlerFunc(func(from string, msg any) {
				if r, ok := msg.(g.PingReq); ok {
					asked[n]++
					c.net.Send(n, from, g.Ack{Seq: r.Seq})
				}
			})
		})
		list = append(list, upd(n, g.Alive, 1))
	}
	c.net.Send("f1", "n1", g.Sync{Members: list, Reply: true})
	c.run(20*P + P/2)
	for _, n := range peers {
		c.sim.Check(t, asked[n] > 0, "the members asked for indirect probes are picked at random among those held alive",
			"n1 holds%s; in 20 probes that needed PingReqs it never asked %s (PingReqs per member: %v)", describeUpdates(list), n, asked)
	}
}

// TestRelayWindow: a member asked by PingReq pings the target with its own
// Seq and relays the target's Ack, with the requester's Seq, only if it
// arrives within one Period. A member it hears from is not added to its list
// (only an update about it does that).
func TestRelayWindow(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.add(nil, "n1")
	r := c.addFake("r")
	lateAcker(c, "t", 50*time.Millisecond)
	lateAcker(c, "u", 150*time.Millisecond)
	c.net.AddNode("w", func(*labkit.Env) labkit.Node { // w answers every Ping twice
		return labkit.HandlerFunc(func(from string, msg any) {
			if p, ok := msg.(g.Ping); ok {
				c.net.Send("w", from, g.Ack{Seq: p.Seq})
				c.sim.Schedule(10*time.Millisecond, func() { c.net.Send("w", from, g.Ack{Seq: p.Seq}) })
			}
		})
	})
	c.run(time.Millisecond)
	start := c.sim.Elapsed()
	r.send("n1", g.PingReq{Seq: 77, Target: "t"})
	r.send("n1", g.PingReq{Seq: 78, Target: "u"})
	r.send("n1", g.PingReq{Seq: 80, Target: "w"})
	c.run(5 * P)
	var seqs []uint64
	for _, a := range r.acks(start) {
		seqs = append(seqs, a.Seq)
	}
	slices.Sort(seqs)
	c.sim.Check(t, slices.Equal(seqs, []uint64{77, 80}),
		"a relayed Ack carries the requester's Seq; only an Ack that arrives within one Period is relayed, and only once",
		"r asked n1 to probe t (answers 50ms late, Seq 77), u (answers 150ms late, Seq 78) and w (answers twice, Seq 80); r got Acks with Seqs %v, want [77 80]", seqs)
	view := c.members["n1"].Members()
	c.sim.Check(t, len(view) == 1 && view[0] == upd("n1", g.Alive, 1),
		"a member is added only by an update about it, never because it sent a message",
		"r, t, u and w talked to n1 without any update about themselves; n1 holds%s", describeUpdates(view))
	c.sim.Check(t, c.sendCount == 5, "a member that knows nobody probes nobody; it pings targets for PingReqs and relays Acks",
		"n1 knows only itself and has no seeds; asked for three indirect probes it sent %d messages, want 5 (three Pings, two relayed Acks)", c.sendCount)
	// the updates a PingReq carries are merged
	r.send("n1", g.PingReq{Seq: 79, Target: "t", Updates: []g.Update{upd("x", g.Alive, 4)}})
	c.run(10 * time.Millisecond)
	u, ok := c.view("n1", "x")
	c.sim.Check(t, ok && u == upd("x", g.Alive, 4), "the updates a PingReq carries are merged",
		"r sent n1 PingReq{79, t} carrying x alive@4; n1 holds x as %s@%d (known: %t)", u.Status, u.Incarnation, ok)
}

// TestRestartIncarnation: a member reads its incarnation from disk, adds 1
// and writes it back when it starts, and writes every refutation to disk, so
// each restart comes back above every incarnation it had.
func TestRestartIncarnation(t *testing.T) {
	c, f := scripted(t)
	tell(c, f, 1, upd("n1", g.Suspect, 1))
	expectView(c, "n1", upd("n1", g.Alive, 2), "a suspected member refutes with incarnation + 1")
	for _, want := range []uint64{3, 4} {
		c.net.Crash("n1")
		c.run(time.Millisecond)
		c.net.Restart("n1")
		c.run(time.Millisecond)
		expectView(c, "n1", upd("n1", g.Alive, want),
			"a restarted member reads its incarnation from disk and adds 1 (refutations are written to disk too)")
	}
}

// TestLeaveIsPiggybacked: Leave queues the member's Left update, which rides
// on its next messages; calling Leave again changes nothing.
func TestLeaveIsPiggybacked(t *testing.T) {
	c, f := scripted(t)
	c.members["n1"].Leave()
	start := c.sim.Elapsed()
	tell(c, f, 1)
	c.sim.Check(t, slices.Contains(f.updatesSince(start), upd("n1", g.Left, 1)), "a member that leaves queues its Left update for piggybacking",
		"n1 called Leave; its next Ack carried%s", describeUpdates(f.updatesSince(start)))
	for i := range 10 { // n1 knows 1 member: each update goes out 3 * ceil(log2(2)) = 3 times
		tell(c, f, uint64(2+i))
	}
	c.members["n1"].Leave()
	start = c.sim.Elapsed()
	tell(c, f, 20)
	c.sim.Check(t, len(f.updatesSince(start)) == 0, "calling Leave again changes nothing",
		"n1 left, its Left update went out its 3 times, and it called Leave again; its next Ack carried%s", describeUpdates(f.updatesSince(start)))
}

// ackingFake is a fake that answers every Ping with its Ack after delay.
func (c *cluster) ackingFake(name string, delay time.Duration) *fake {
	f := &fake{c: c, name: name}
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			f.inbox = append(f.inbox, got{c.sim.Elapsed(), from, msg})
			if p, ok := msg.(g.Ping); ok {
				c.sim.Schedule(delay, func() { c.net.Send(name, from, g.Ack{Seq: p.Seq}) })
			}
		})
	})
	return f
}

// TestRoundRobinProbes: one Ping per period, walking a random permutation of
// the members held alive or suspect, so each round of n-1 periods probes
// each of them once, and each round walks a fresh permutation.
func TestRoundRobinProbes(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.add(nil, "n1")
	peers := []string{"f1", "f2", "f3", "f4"}
	fakes := map[string]*fake{}
	var list []g.Update
	for _, n := range peers {
		fakes[n] = c.ackingFake(n, time.Millisecond)
		list = append(list, upd(n, g.Alive, 1))
	}
	c.net.Send("f1", "n1", g.Sync{Members: list, Reply: true})
	const rounds = 10
	c.run(time.Duration(rounds*len(peers))*P + P/2)
	probed := map[int][]string{} // period -> members n1 pinged in it
	for name, f := range fakes {
		for _, m := range f.inbox {
			if _, ok := m.msg.(g.Ping); ok {
				p := int(m.at / P)
				probed[p] = append(probed[p], name)
			}
		}
	}
	var orders []string
	for r := range rounds {
		var order []string
		for p := r*len(peers) + 1; p <= (r+1)*len(peers); p++ {
			c.sim.Check(t, len(probed[p]) == 1, "a member sends one Ping per period",
				"n1 knows 4 members that all answer; in period %d it pinged %v", p, probed[p])
			order = append(order, probed[p]...)
		}
		sorted := slices.Sorted(slices.Values(order))
		c.sim.Check(t, slices.Equal(sorted, peers), "round-robin probing: each round of n-1 periods probes every member once",
			"n1 knows %v; in periods %d..%d it probed %v", peers, r*len(peers)+1, (r+1)*len(peers), order)
		orders = append(orders, fmt.Sprint(order))
	}
	// a member learned mid-round is inserted among those not yet probed in
	// this round (rounds of 4 so far: periods 1..40; round 11 starts at 41)
	for _, tr := range []struct {
		name     string
		from, to int // the periods it must be probed in
	}{{"f5", 42, 45}, {"f6", 47, 51}} {
		c.run(P)
		fakes[tr.name] = c.ackingFake(tr.name, time.Millisecond)
		c.net.Send("f1", "n1", g.Sync{Members: []g.Update{upd(tr.name, g.Alive, 1)}, Reply: true})
		c.run(time.Duration(tr.to-tr.from+1) * P)
		hit := false
		for _, m := range fakes[tr.name].inbox {
			if _, ok := m.msg.(g.Ping); ok && int(m.at/P) >= tr.from && int(m.at/P) <= tr.to {
				hit = true
			}
		}
		c.sim.Check(t, hit, "a member learned mid-round is inserted among the members not yet probed in this round",
			"n1 learned of %s in period %d, one probe into a round; it did not probe %s in that round (periods %d..%d)",
			tr.name, tr.from-1, tr.name, tr.from, tr.to)
	}
	// every Ping carries a fresh Seq, relayed ones too
	c.net.Send("f1", "n1", g.PingReq{Seq: 999, Target: "f2"})
	c.run(2 * P)
	seqs := map[uint64]int{}
	for _, f := range fakes {
		for _, m := range f.inbox {
			if p, ok := m.msg.(g.Ping); ok {
				seqs[p.Seq]++
			}
		}
	}
	for seq, n := range seqs {
		c.sim.Check(t, n == 1, "every Ping a member sends carries a fresh Seq (its probes and the Pings it sends for PingReqs)",
			"n1 sent %d Pings with Seq %d", n, seq)
	}
	// round 1 walks the order built as the members were learned; rounds
	// 2..10 each walk a permutation built when the previous one ran out
	rebuilt := slices.Clone(orders[1:])
	slices.Sort(rebuilt)
	c.sim.Check(t, len(slices.Compact(rebuilt)) > 1, "each round walks a fresh random permutation",
		"n1 probed its 4 members in the same order in rounds 2 to %d: %s", rounds, rebuilt[0])
}

// TestJoinSyncAtStart: a new member sends Sync{its list, Reply: false} to
// every seed other than itself as it starts, not a period later.
func TestJoinSyncAtStart(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	s := c.addFake("s")
	c.add([]string{"s", "n2"}, "n2")
	c.run(10 * time.Millisecond)
	var syncs []g.Sync
	for _, m := range s.inbox {
		if v, ok := m.msg.(g.Sync); ok {
			syncs = append(syncs, v)
		}
	}
	c.sim.Check(t, len(syncs) == 1 && !syncs[0].Reply && slices.Equal(syncs[0].Members, []g.Update{upd("n2", g.Alive, 1)}) && c.sendCount == 1,
		"a new member sends Sync{its list, Reply: false} to every seed other than itself at once",
		"n2 started with seeds [s n2]; in its first 10ms s got %d Syncs %v and n2 sent %d messages in all; want one Sync{[n2 alive@1], Reply: false} and nothing else", len(syncs), syncs, c.sendCount)
}

// TestSyncEvery: every SyncInterval / Period periods (at least every period)
// a member sends Sync{its list, Reply: false} to one member it holds alive,
// suspect or dead, never to one it holds left.
func TestSyncEvery(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		every    int // periods between Syncs
		peers    []string
	}{
		{3 * P, 3, []string{"f1", "f2", "d1"}},
		{time.Nanosecond, 1, []string{"f1"}}, // shorter than a period: every period
		{0, 0, []string{"f1", "f2"}},         // 0: no periodic Syncs at all
	} {
		cfg := testConfig
		cfg.SyncInterval = tc.interval
		c := newCluster(t, labkit.Seed(t), cfg, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
		c.add(nil, "n1")
		fakes := map[string]*fake{}
		list := []g.Update{upd("l1", g.Left, 1)}
		fakes["l1"] = c.ackingFake("l1", time.Millisecond)
		for _, n := range tc.peers {
			fakes[n] = c.ackingFake(n, time.Millisecond)
			st := g.Alive
			if n == "d1" {
				st = g.Dead
				c.mayDie[n] = true
			}
			list = append(list, upd(n, st, 1))
		}
		c.net.Send("f1", "n1", g.Sync{Members: list, Reply: true})
		const periods = 30
		c.run(periods*P + P/2)
		synced := map[int][]string{} // period -> who got a Sync{Reply: false}
		for name, f := range fakes {
			for _, m := range f.inbox {
				if s, ok := m.msg.(g.Sync); ok && !s.Reply {
					p := int(m.at / P)
					synced[p] = append(synced[p], name)
				}
			}
		}
		var at []int
		got := map[string]int{}
		for p := 1; p <= periods; p++ {
			if len(synced[p]) > 0 {
				at = append(at, p)
			}
			c.sim.Check(t, len(synced[p]) <= 1, "a member syncs with one member at a time",
				"in period %d n1 sent Sync to %v", p, synced[p])
			for _, n := range synced[p] {
				got[n]++
			}
		}
		if tc.every == 0 {
			c.sim.Check(t, len(at) == 0, "a SyncInterval of 0 turns the periodic Syncs off",
				"SyncInterval 0: n1 sent Syncs in periods %v of the first %d", at, periods)
			continue
		}
		regular := len(at) == periods/tc.every
		for i := 1; i < len(at); i++ {
			regular = regular && at[i]-at[i-1] == tc.every
		}
		c.sim.Check(t, regular, "a member syncs every SyncInterval / Period periods (at least every period)",
			"SyncInterval %s, Period %s: n1 sent its Syncs in periods %v of the first %d", tc.interval, P, at, periods)
		c.sim.Check(t, got["l1"] == 0, "a member never syncs with a member it holds left",
			"n1 holds l1 left and sent it %d Syncs", got["l1"])
		for _, n := range tc.peers {
			c.sim.Check(t, got[n] > 0, "a member syncs with members it holds alive, suspect or dead, picked at random",
				"n1 holds%s; in %d Syncs it never picked %s (Syncs per member: %v)", describeUpdates(list), len(at), n, got)
		}
	}
}

// TestSeedReplays: a seed replays the same run. A member that takes every
// random choice from env.Rand(), in an order that does not depend on Go's
// map iteration (names sorted before they are shuffled or picked from),
// sends the same messages at the same instants when the run is repeated.
func TestSeedReplays(t *testing.T) {
	seed := labkit.Seed(t)
	var sums [2]uint64
	for i := range sums {
		c := start(t, seed, 6, link(0.1))
		c.run(2 * time.Second)
		c.mayDie["n3"] = true
		c.net.Crash("n3")
		c.run(3 * time.Second)
		sums[i] = c.sendLog.Sum64()
	}
	if sums[0] != sums[1] {
		t.Fatalf("two runs with seed %d sent different messages: some choice does not come from env.Rand() in a fixed order (sort names before shuffling or picking from them; Go randomizes map iteration)", seed)
	}
}

// TestOnlyTheLastProbeCounts: a member is suspected for not answering the
// probe of the previous period only. Here n1 probes f in period 1 (no
// answer), f leaves before period 2 (so period 2 has nobody to probe), then
// rejoins at a higher incarnation: at period 3 there is no unanswered probe
// of the previous period, so f must not be suspected.
func TestOnlyTheLastProbeCounts(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), testConfig, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	c.add(nil, "n1")
	f := c.addFake("f")
	c.mayDie["f"] = true
	f.send("n1", g.Sync{Members: []g.Update{upd("f", g.Alive, 1)}, Reply: true})
	c.run(P + 50*time.Millisecond) // period 1: n1 pings f, which never answers
	tell(c, f, 1, upd("f", g.Left, 1))
	c.run(P - 10*time.Millisecond) // period 2: nobody to probe
	tell(c, f, 2, upd("f", g.Alive, 2))
	c.run(P - 10*time.Millisecond) // period 3 started: n1 pings f again
	expectView(c, "f", upd("f", g.Alive, 2),
		"only the probe of the previous period can raise a suspicion (in period 2 n1 probed nobody)")
}

// TestEverySuspicionRunsItsTimer: a suspicion of a higher incarnation starts
// its own timer, so a member suspected again after a refutation is declared
// dead SuspicionTimeout later.
func TestEverySuspicionRunsItsTimer(t *testing.T) {
	c, f := scripted(t)
	tell(c, f, 1, upd("x", g.Suspect, 1))
	tell(c, f, 2, upd("x", g.Suspect, 2))
	c.run(quiet.SuspicionTimeout + time.Second)
	expectView(c, "x", upd("x", g.Dead, 2), "a suspect not refuted for SuspicionTimeout is declared dead, whatever suspicions came before")
}

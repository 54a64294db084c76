package hidden

import (
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/crdt"
)

func link(min, max time.Duration) labkit.Link {
	return labkit.Link{Latency: labkit.Uniform(min, max)}
}

// workload runs op at a random running replica every 10 to 40ms for d,
// starting now.
func (c *cluster[S]) workload(d time.Duration, op func(name string)) {
	end := c.sim.Elapsed() + d
	r := c.sim.Rand()
	var next func()
	next = func() {
		if c.sim.Elapsed() >= end {
			return
		}
		if live := c.live(); len(live) > 0 {
			op(live[r.IntN(len(live))])
		}
		c.sim.AfterFunc(time.Duration(10+r.IntN(31))*ms, next)
	}
	c.sim.AfterFunc(time.Duration(10+r.IntN(31))*ms, next)
}

func randomInc(c *cluster[G]) func(string) {
	return func(name string) { incG(c, name, uint64(1+c.sim.Rand().IntN(3))) }
}

func randomAdd(c *cluster[PN]) func(string) {
	return func(name string) { addPN(c, name, int64(c.sim.Rand().IntN(9)-4)) }
}

var setElems = []string{"apple", "book", "cup", "desk", "egg", "fig"}

func randomSetOp(c *cluster[OR]) func(string) {
	return func(name string) {
		r := c.sim.Rand()
		e := setElems[r.IntN(len(setElems))]
		if r.IntN(5) < 3 {
			addOR(c, name, e)
		} else {
			removeOR(c, name, e)
		}
	}
}

// checkTotal checks that every running replica reads the sum of every
// update made.
func checkTotal[S crdt.Lattice[S]](c *cluster[S], read func(S) int64) {
	c.t.Helper()
	for _, n := range c.live() {
		got := read(c.state(n))
		c.sim.Check(c.t, got == c.o.total, "a counter reads the sum of every update made, once they all arrived",
			"%s reads %d; the updates made add up to %d (state %s)", n, got, c.o.total, norm(any(c.state(n))))
	}
}

func readG(s G) int64   { return int64(s.Value()) }
func readPN(s PN) int64 { return s.Value() }

// checkSetOracle checks the set every replica converged to: an element
// added after its last remove anywhere is in it (no remove can have seen
// that add), and an element never added is not.
func checkSetOracle(c *cluster[OR]) {
	c.t.Helper()
	for _, n := range c.live() {
		s := c.state(n)
		for _, e := range setElems {
			at, added := c.o.lastAdd[e]
			rm, removed := c.o.lastRemove[e]
			switch {
			case added && (!removed || at > rm):
				c.sim.Check(c.t, s.Contains(e), "an add that no remove saw survives (add wins)",
					"%s was last added at %s, after its last remove (at %s), so no remove saw that add; but %s holds %s",
					e, at, rm, n, norm(s))
			case !added:
				c.sim.Check(c.t, !s.Contains(e), "only added elements are in the set",
					"%s was never added, but %s holds %s", e, n, norm(s))
			}
		}
	}
}

func TestReadsDuringPartition(t *testing.T) {
	c := start[PN](t, labkit.Seed(t), 4, crdt.Config{Interval: I, Fanout: 3}, link(ms, 10*ms))
	for _, n := range c.names {
		addPN(c, n, 1)
	}
	c.requireConverged(20*I, "with no faults, 20 rounds after every replica added 1")
	checkTotal(c, readPN)
	c.net.Partition([]string{"r1", "r2"}, []string{"r3", "r4"})
	side := map[string]int64{"r1": 4, "r2": 4, "r3": 4, "r4": 4}
	r := c.sim.Rand()
	c.workload(2*time.Second, func(name string) {
		n := int64(r.IntN(9) - 4)
		earlier := c.state(name)
		was := norm(earlier)
		before := earlier.Value()
		addPN(c, name, n)
		after := c.state(name).Value()
		c.sim.Check(t, after == before+n, "a replica reads its own update as soon as Update returns",
			"%s read %d, added %d, and then read %d", name, before, n, after)
		c.sim.Check(t, norm(earlier) == was, "a state State() returned never changes afterwards",
			"%s's State() was %s; after an Update the value returned earlier reads %s", name, was, norm(earlier))
		for _, m := range c.names {
			if (m <= "r2") == (name <= "r2") {
				side[m] += n
			}
		}
	})
	c.run(3 * time.Second)
	for _, n := range c.names {
		got := c.state(n).Value()
		c.sim.Check(t, got == side[n], "during a partition a replica reads everything its side added",
			"1s after the last update of a 2 / 2 partition, %s reads %d; the updates made on its side (and everything before) add up to %d",
			n, got, side[n])
	}
	c.net.Heal()
	c.requireConverged(20*I, "20 rounds after the partition healed")
	checkTotal(c, readPN)
}

func TestForwardsThroughOthers(t *testing.T) {
	c := start[G](t, labkit.Seed(t), 3, crdt.Config{Interval: I, Fanout: 2}, link(ms, 5*ms))
	c.net.Block("r1", "r3")
	c.net.Block("r3", "r1")
	incG(c, "r1", 5)
	incG(c, "r3", 2)
	c.requireConverged(10*I, "r1 and r3 cannot talk to each other but both talk to r2; 10 rounds after they each updated")
	checkTotal(c, readG)
}

func TestOwnUpdatesSurviveCrash(t *testing.T) {
	c := start[G](t, labkit.Seed(t), 3, crdt.Config{Interval: I, Fanout: 2}, link(ms, 5*ms))
	c.sim.AfterFunc(50*ms, func() {
		incG(c, "r1", 1)
		incG(c, "r1", 2)
		c.net.Crash("r1")
		c.net.Restart("r1")
	})
	c.run(60 * ms)
	got := c.state("r1").Counts["r1"]
	c.sim.Check(t, got == 3, "a replica keeps its own updates",
		"r1 added 1 and 2, crashed before its first round and restarted; its own entry is %d; want 3", got)
	c.requireConverged(10*I, "10 rounds after r1 restarted")
	checkTotal(c, readG)
	incG(c, "r1", 4)
	c.requireConverged(10*I, "10 rounds after r1's next update")
	checkTotal(c, readG)
}

func TestReAddAfterRestart(t *testing.T) {
	c := start[OR](t, labkit.Seed(t), 3, crdt.Config{Interval: I, Fanout: 2}, link(ms, 5*ms))
	addOR(c, "r1", "x")
	c.requireConverged(10*I, "10 rounds after r1 added x")
	removeOR(c, "r2", "x")
	c.requireConverged(10*I, "10 rounds after r2 removed x")
	c.sim.Check(t, !c.state("r1").Contains("x"), "a remove that saw every add removes the element everywhere",
		"r1 holds %s after r2 removed x", norm(c.state("r1")))
	c.net.Crash("r1")
	c.net.Restart("r1")
	c.sim.AfterFunc(ms, func() { addOR(c, "r1", "x") })
	c.run(2 * ms)
	c.requireConverged(10*I, "10 rounds after r1 restarted and added x again")
	for _, n := range c.names {
		c.sim.Check(t, c.state(n).Contains("x"), "an element re-added after a restart is not lost",
			"r1 added x, r2 removed it, r1 crashed, restarted and added x again (with a fresh dot, r1/2): %s holds %s",
			n, norm(c.state(n)))
	}
}

func TestUnsavedUpdatesShipAfterRestart(t *testing.T) {
	c := start[G](t, labkit.Seed(t), 3, crdt.Config{Interval: I, Fanout: 2}, link(ms, 5*ms))
	c.net.Isolate("r1")
	incG(c, "r1", 2)
	c.run(3 * I)
	c.net.Crash("r1")
	c.net.Restart("r1")
	c.net.Heal()
	c.requireConverged(20*I, "r1 updated while cut off, crashed and restarted, and the network healed; 20 rounds later")
	checkTotal(c, readG)
}

func TestDuplicatesCountOnce(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		l := link(ms, 20*ms)
		l.Dup, l.DupDelay = 0.5, labkit.Uniform(0, 2*time.Second)
		c := start[G](t, seed, 4, crdt.Config{Interval: I, Fanout: 2}, l)
		c.workload(3*time.Second, randomInc(c))
		c.run(3 * time.Second)
		c.requireConverged(30*I, "30 rounds after the last update")
		checkTotal(c, readG)
	})
}

// chaos runs 8s of updates under every fault, stops the faults and checks
// that the replicas converge.
func chaos[S crdt.Lattice[S]](t *testing.T, seed int64, ops func(*cluster[S]) func(string)) *cluster[S] {
	l := labkit.Link{
		Latency: labkit.HeavyTail(labkit.Uniform(ms, 20*ms), 0.05, I),
		Loss:    0.1, Dup: 0.05, DupDelay: labkit.Uniform(0, time.Second),
	}
	c := start[S](t, seed, 5, crdt.Config{Interval: I, Fanout: 2}, l)
	nm := &labkit.Nemesis{Net: c.net, Interval: 700 * ms, Partitions: true, OneWay: true, Crashes: true}
	tg := &labkit.Targeted{Net: c.net, Writes: 0.02, Down: 150 * ms}
	nm.Start()
	tg.Start()
	c.workload(8*time.Second, ops(c))
	c.run(8 * time.Second)
	nm.Stop()
	tg.Stop()
	c.net.Heal()
	c.net.SetDefaultLink(link(ms, 20*ms))
	c.sim.NoteFault("all faults stop")
	c.requireConverged(30*I, "30 rounds after every fault stopped")
	return c
}

func TestGCounterConvergesUnderFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := chaos(t, seed, randomInc)
		checkTotal(c, readG)
	})
}

func TestPNCounterConvergesUnderFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := chaos(t, seed, randomAdd)
		checkTotal(c, readPN)
	})
}

func TestORSetConvergesUnderFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c := chaos(t, seed, randomSetOp)
		checkSetOracle(c)
	})
}

func TestQuietWhenDone(t *testing.T) {
	c := start[OR](t, labkit.Seed(t), 4, crdt.Config{Interval: I, Fanout: 3}, link(ms, 10*ms))
	c.workload(time.Second, randomSetOp(c))
	c.run(time.Second)
	c.requireConverged(20*I, "20 rounds after the last update")
	c.run(10 * I)
	before := c.sends
	c.run(10 * I)
	c.sim.Check(t, c.sends == before, "a replica whose peers acknowledged everything sends nothing",
		"every replica held the same state for 10 rounds, and then the replicas still sent %d messages in the next 10 rounds",
		c.sends-before)
}

package hidden

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/crdt"
)

const ms = time.Millisecond

// scripted is one real replica "r" and fake peers f1..fn the test drives;
// links take exactly 1ms.
func scripted[S crdt.Lattice[S]](t *testing.T, cfg crdt.Config, fakes int) (*cluster[S], []*fake) {
	c := newCluster[S](t, labkit.Seed(t), cfg, labkit.Link{Latency: labkit.Fixed(ms)})
	c.scripted = true
	c.add("r")
	var fs []*fake
	for i := 1; i <= fakes; i++ {
		fs = append(fs, c.addFake(fmt.Sprintf("f%d", i)))
	}
	return c, fs
}

// at runs the simulation up to virtual time d.
func (c *cluster[S]) at(d time.Duration) {
	c.t.Helper()
	if now := c.sim.Elapsed(); d > now {
		c.run(d - now)
	}
}

func addAt(c *cluster[OR], elem string) {
	c.update("r", func(s OR, id string) OR { return s.Add(id, elem) })
}

// expectDeltas checks that f received exactly one Delta since since, with
// the given state and Seq.
func expectDeltas[S crdt.Lattice[S]](c *cluster[S], f *fake, since time.Duration, want S, seq uint64, why string) {
	c.t.Helper()
	ds := deltas[S](f, since)
	ok := len(ds) == 1 && ds[0].Seq == seq && norm(any(ds[0].State)) == norm(any(want))
	c.sim.Check(c.t, ok, why, "between %s and %s, %s got %s; want Delta{seq %d, %s}",
		since, c.sim.Elapsed(), f.name, describeDeltas(ds), seq, norm(any(want)))
}

func expectBuffered[S crdt.Lattice[S]](c *cluster[S], want int, why string) {
	c.t.Helper()
	got := c.reps["r"].Buffered()
	c.sim.Check(c.t, got == want, "a replica drops the deltas every peer has acknowledged, and only those",
		"%s: Buffered() = %d; want %d", why, got, want)
}

func TestShipsUnackedDeltas(t *testing.T) {
	c, f := scripted[OR](t, crdt.Config{Interval: I, Fanout: 2}, 2)
	f1, f2 := f[0], f[1]
	const what = "each peer gets the join of the deltas it has not acknowledged, with Seq c"
	addAt(c, "a")
	expectBuffered(c, 1, "after one Update")
	c.at(150 * ms)
	expectDeltas(c, f1, 0, orset([]string{"a:r/1"}), 1, what)
	expectDeltas(c, f2, 0, orset([]string{"a:r/1"}), 1, what)
	c.send("f1", "r", crdt.Ack{Seq: 1})
	c.at(155 * ms)
	expectBuffered(c, 1, "after f1 (but not f2) acknowledged Seq 1")
	c.send("f2", "r", crdt.Ack{Seq: 1})
	c.at(160 * ms)
	expectBuffered(c, 0, "after both peers acknowledged Seq 1")

	addAt(c, "b")
	c.at(250 * ms)
	expectDeltas(c, f1, 160*ms, orset([]string{"b:r/2"}), 2, what+" (not the whole state)")
	expectDeltas(c, f2, 160*ms, orset([]string{"b:r/2"}), 2, what+" (not the whole state)")
	c.send("f1", "r", crdt.Ack{Seq: 2})
	c.at(260 * ms)
	expectBuffered(c, 1, "after f1 acknowledged Seq 2 and f2 only Seq 1")

	addAt(c, "c")
	expectBuffered(c, 2, "after another Update, with f2 behind")
	c.at(350 * ms)
	expectDeltas(c, f1, 260*ms, orset([]string{"c:r/3"}), 3, what)
	expectDeltas(c, f2, 260*ms, orset([]string{"b:r/2", "c:r/3"}), 3, what)
	// Nobody acknowledges: the next round sends the same again.
	c.at(450 * ms)
	expectDeltas(c, f1, 350*ms, orset([]string{"c:r/3"}), 3, "a Delta is sent again every round the peer is picked, until it is acknowledged")
	expectDeltas(c, f2, 350*ms, orset([]string{"b:r/2", "c:r/3"}), 3, "a Delta is sent again every round the peer is picked, until it is acknowledged")
	c.send("f1", "r", crdt.Ack{Seq: 3})
	c.send("f2", "r", crdt.Ack{Seq: 3})
	c.at(460 * ms)
	expectBuffered(c, 0, "after both peers acknowledged Seq 3")
	c.at(800 * ms)
	got := len(deltas[OR](f1, 460*ms)) + len(deltas[OR](f2, 460*ms))
	c.sim.Check(t, got == 0, "a peer that acknowledged everything gets nothing",
		"both peers acknowledged Seq 3 at 450ms; in the 3 rounds after, they got %d Deltas", got)
}

func TestLateAckNeverLowers(t *testing.T) {
	c, f := scripted[OR](t, crdt.Config{Interval: I, Fanout: 2}, 2)
	f1, f2 := f[0], f[1]
	addAt(c, "a")
	c.at(150 * ms)
	c.send("f1", "r", crdt.Ack{Seq: 1})
	c.send("f2", "r", crdt.Ack{Seq: 1})
	c.at(160 * ms)
	addAt(c, "b")
	c.at(250 * ms)
	c.send("f1", "r", crdt.Ack{Seq: 2})
	c.send("f2", "r", crdt.Ack{Seq: 2})
	c.at(255 * ms)
	// A late copy of f2's first ack arrives after its second.
	c.send("f2", "r", crdt.Ack{Seq: 1})
	c.at(260 * ms)
	addAt(c, "c")
	c.at(350 * ms)
	const why = "an ack that arrives after a later one never lowers A(j)"
	expectDeltas(c, f1, 260*ms, orset([]string{"c:r/3"}), 3, why)
	expectDeltas(c, f2, 260*ms, orset([]string{"c:r/3"}), 3, why+" (f2's late Ack{1} came after its Ack{2})")
	expectBuffered(c, 1, "after a late ack and one more Update")
}

func TestFullStateAfterRestart(t *testing.T) {
	c, f := scripted[OR](t, crdt.Config{Interval: I, Fanout: 2}, 2)
	f1, f2 := f[0], f[1]
	addAt(c, "a")
	addAt(c, "b")
	c.at(150 * ms)
	c.send("f1", "r", crdt.Ack{Seq: 2})
	c.send("f2", "r", crdt.Ack{Seq: 2})
	c.at(160 * ms)
	before := norm(c.state("r"))
	c.net.Crash("r")
	c.net.Restart("r")
	c.sim.Check(t, norm(c.state("r")) == before, "a replica's state survives a crash",
		"before the crash r held %s; after the restart %s", before, norm(c.state("r")))
	expectBuffered(c, 0, "right after a restart (the buffer lives in memory)")
	// The round 100ms after the restart sends the whole state: the buffer is
	// empty and every A(j) is 0.
	c.at(300 * ms)
	full := orset([]string{"a:r/1", "b:r/2"})
	expectDeltas(c, f1, 160*ms, full, 2, "after a restart the replica sends the whole state, with the c it saved")
	expectDeltas(c, f2, 160*ms, full, 2, "after a restart the replica sends the whole state, with the c it saved")
	c.send("f1", "r", crdt.Ack{Seq: 2})
	c.send("f2", "r", crdt.Ack{Seq: 2})
	c.at(310 * ms)

	// Crash again, update at once: the peers get the whole state, then
	// only what is new.
	c.net.Crash("r")
	c.net.Restart("r")
	addAt(c, "c")
	expectBuffered(c, 1, "after a restart and one Update")
	c.at(450 * ms)
	full = orset([]string{"a:r/1", "b:r/2", "c:r/3"})
	expectDeltas(c, f1, 310*ms, full, 3, "when the buffer does not hold D[A(j)], the peer gets the whole state")
	expectDeltas(c, f2, 310*ms, full, 3, "when the buffer does not hold D[A(j)], the peer gets the whole state")
	c.send("f1", "r", crdt.Ack{Seq: 3})
	c.send("f2", "r", crdt.Ack{Seq: 3})
	c.at(460 * ms)
	expectBuffered(c, 0, "after both peers acknowledged Seq 3")
	addAt(c, "d")
	c.at(560 * ms)
	expectDeltas(c, f1, 460*ms, orset([]string{"d:r/4"}), 4, "once the peers acknowledged, deltas again")
	expectDeltas(c, f2, 460*ms, orset([]string{"d:r/4"}), 4, "once the peers acknowledged, deltas again")
}

func TestAcksEveryDelta(t *testing.T) {
	c, f := scripted[OR](t, crdt.Config{Interval: I, Fanout: 2}, 2)
	f1, f2 := f[0], f[1]
	d := orset([]string{"x:f1/1"})
	c.at(10 * ms)
	c.send("f1", "r", crdt.Delta[OR]{State: d, Seq: 7})
	c.at(20 * ms)
	c.sim.Check(t, slices.Equal(acks(f1, 0), []uint64{7}), "every Delta is acknowledged with its Seq, to its sender",
		"f1 sent Delta{seq 7}; f1 got Acks %v; want [7]", acks(f1, 0))
	c.sim.Check(t, c.state("r").Contains("x"), "a received Delta is merged", "r holds %s after f1's Delta", norm(c.state("r")))
	expectBuffered(c, 1, "after a new Delta from a peer")
	// The same Delta again (a duplicate), and one that brings nothing new.
	c.send("f1", "r", crdt.Delta[OR]{State: d, Seq: 7})
	c.send("f1", "r", crdt.Delta[OR]{State: OR{}, Seq: 3})
	c.at(30 * ms)
	c.sim.Check(t, slices.Equal(acks(f1, 20*ms), []uint64{7, 3}), "a Delta is acknowledged whether it was new or not",
		"f1 sent Delta{seq 7} again and then Delta{seq 3} with nothing new; f1 got Acks %v; want [7 3]", acks(f1, 20*ms))
	c.sim.Check(t, len(acks(f2, 0)) == 0, "every Delta is acknowledged with its Seq, to its sender",
		"f2 sent nothing but got Acks %v", acks(f2, 0))
	expectBuffered(c, 1, "after a Delta that brought nothing new")
	// What r received goes into its buffer and on to its peers.
	c.at(150 * ms)
	expectDeltas(c, f2, 30*ms, d, 1, "a new Delta from a peer is buffered and passed on, under the receiver's own c")
}

func TestNothingNewIsNotBuffered(t *testing.T) {
	c, f := scripted[OR](t, crdt.Config{Interval: I, Fanout: 2}, 2)
	f1 := f[0]
	calls := 0
	c.update("r", func(s OR, id string) OR { calls++; return s.Remove("absent") })
	c.sim.Check(t, calls == 1, "Update calls op once", "op was called %d times", calls)
	expectBuffered(c, 0, "after an Update whose delta is empty")
	addAt(c, "a")
	c.update("r", func(s OR, _ string) OR { return s }) // the whole state: nothing new
	c.update("r", func(s OR, id string) OR { return orset([]string{"a:r/1"}) })
	expectBuffered(c, 1, "after one new Update and two that add nothing")
	c.at(150 * ms)
	expectDeltas(c, f1, 0, orset([]string{"a:r/1"}), 1, "an Update that adds nothing takes no sequence number")
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		cfg   crdt.Config
		first time.Duration // when the first round's Deltas arrive
		per   int           // peers per round (of 4)
	}{
		{crdt.Config{}, I + ms, 1},
		{crdt.Config{Interval: -time.Second, Fanout: -2}, I + ms, 1},
		{crdt.Config{Interval: 50 * ms, Fanout: 4}, 51 * ms, 4},
		{crdt.Config{Interval: 30 * ms, Fanout: 9}, 31 * ms, 4},
		{crdt.Config{Interval: 70 * ms, Fanout: 3}, 71 * ms, 3},
	} {
		c, fs := scripted[G](t, tc.cfg, 4)
		c.update("r", func(s G, id string) G { return s.Inc(id, 1) })
		interval := tc.first - ms
		c.at(interval - ms)
		n := 0
		for _, f := range fs {
			n += len(deltas[G](f, 0))
		}
		c.sim.Check(t, n == 0, "the first round is Interval after New (0 or below means 100ms)",
			"with %+v, %d Deltas arrived before %s", tc.cfg, n, interval)
		for round := range 5 {
			end := tc.first + time.Duration(round)*interval
			c.at(end)
			n := 0
			for _, f := range fs {
				for _, m := range f.inbox {
					if _, ok := m.msg.(crdt.Delta[G]); ok && m.at == end {
						n++
					}
				}
			}
			c.sim.Check(t, n == tc.per, "each round picks Fanout peers (0 or below means 1; at or above the number of peers, all)",
				"with %+v and 4 peers that need something, the round at %s sent to %d peers; want %d", tc.cfg, end-ms, n, tc.per)
		}
	}
}

// TestTinyInterval: any positive Interval is used as given, even 1ns.
func TestTinyInterval(t *testing.T) {
	c, _ := scripted[G](t, crdt.Config{Interval: time.Nanosecond, Fanout: 4}, 4)
	c.update("r", func(s G, id string) G { return s.Inc(id, 1) })
	c.at(10 * time.Nanosecond)
	c.sim.Check(t, c.sends >= 36, "a positive Interval is used as given, even 1ns",
		"with Interval 1ns, Fanout 4 and 4 peers that need something, the replica sent %d Deltas in its first 10ns; want 4 per round", c.sends)
}

func TestPeersPickedAtRandom(t *testing.T) {
	c, fs := scripted[G](t, crdt.Config{Interval: I, Fanout: 2}, 4)
	picked := map[string]int{}
	for round := 1; round <= 100; round++ {
		c.update("r", func(s G, id string) G { return s.Inc(id, 1) })
		end := time.Duration(round)*I + ms
		c.at(end)
		var to []string
		for _, f := range fs {
			for _, m := range f.inbox {
				if _, ok := m.msg.(crdt.Delta[G]); ok && m.at == end {
					to = append(to, f.name)
				}
			}
		}
		distinct := slices.Compact(slices.Sorted(slices.Values(to)))
		c.sim.Check(t, len(to) == 2 && len(distinct) == 2, "each round sends to Fanout distinct peers",
			"with Fanout 2 and 4 peers that all need something, round %d sent to %v", round, to)
		for _, n := range to {
			picked[n]++
		}
	}
	for _, f := range fs {
		n := picked[f.name]
		c.sim.Check(t, n >= 25 && n <= 75, "peers are picked at random each round",
			"in 100 rounds with Fanout 2 of 4 peers, each should be picked about 50 times; counts %v", picked)
	}
}

func TestAckOnlyAfterSave(t *testing.T) {
	c, f := scripted[OR](t, crdt.Config{Interval: I, Fanout: 1}, 2)
	f1 := f[0]
	tg := &labkit.Targeted{Net: c.net, Writes: 1, Max: 1, Down: 50 * ms}
	tg.Start()
	d := orset([]string{"x:f1/1"})
	c.at(10 * ms)
	c.send("f1", "r", crdt.Delta[OR]{State: d, Seq: 5})
	c.at(40 * ms)
	c.sim.Check(t, tg.Crashes() == 1, "a new Delta is saved to disk (test setup: r should have crashed at its disk write)",
		"r handled a new Delta from f1 without writing to disk")
	c.sim.Check(t, len(acks(f1, 0)) == 0, "a replica acknowledges a Delta only after saving it",
		"r crashed in the middle of handling f1's new Delta, just before its disk write, and had already sent f1 Ack %v: f1 may now drop what r never saved",
		acks(f1, 0))
	c.at(100 * ms)
	c.send("f1", "r", crdt.Delta[OR]{State: d, Seq: 5})
	c.at(110 * ms)
	c.sim.Check(t, slices.Equal(acks(f1, 0), []uint64{5}) && c.state("r").Contains("x"),
		"a replica acknowledges a Delta only after saving it",
		"after r restarted, f1 sent its Delta again: f1 got Acks %v, r holds %s", acks(f1, 0), norm(c.state("r")))
	c.net.Crash("r")
	c.net.Restart("r")
	c.sim.Check(t, c.state("r").Contains("x"), "a replica acknowledges a Delta only after saving it",
		"r acknowledged f1's Delta, crashed and restarted, and holds %s", norm(c.state("r")))
}

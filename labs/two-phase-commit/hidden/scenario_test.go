package hidden

import (
	"testing"
	"time"

	"faultline.dev/labkit"
	tpc "faultline.dev/labs/twophasecommit"
)

var calm = labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond)}

// TestBlocking: every participant voted yes and the coordinator crashes
// after logging the commit, before anyone heard of it. Nobody the
// participants can ask knows the outcome: they must wait, uncertain, until
// the coordinator is back.
func TestBlocking(t *testing.T) {
	pictured := 0
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		w := newWorld(t, seed, cfg)
		w.partLanes, w.pictured = true, &pictured
		w.net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 5*time.Millisecond)})
		parts := []string{"stock", "payment", "shipping"}
		w.add("order-1", parts)
		crashed := false
		w.crashOn = func(to string, msg any) bool {
			if msg.(tpc.Decision).Commit && !crashed {
				crashed = true
				return true
			}
			return false
		}
		w.begin("order-1")
		w.sim.RunUntil(func() bool { return crashed || w.err != nil }, time.Second)
		w.require(w.err)
		if !crashed {
			w.require(labkit.Violationf("a transaction every participant votes yes on commits when nothing fails",
				"a second after Begin, the coordinator has sent no commit for order-1; it reports it %s", w.c().Status("order-1")))
		}
		w.sim.RunFor(3 * time.Second)
		w.require(w.err)
		for _, name := range parts {
			if st := w.p(name).Status("order-1"); st != tpc.Uncertain || w.applied[key{"order-1", name}] != "" {
				w.require(labkit.Violationf("a participant that voted yes waits for the outcome, however long that takes",
					"3s after the coordinator crashed with the commit logged but not sent, %s reports order-1 as %s and its service was told to %q; nobody it can reach knows the outcome, so it must stay uncertain",
					name, st, w.applied[key{"order-1", name}]))
			}
		}
		if w.queries < 100 {
			w.require(labkit.Violationf("uncertain participants ask each other (cooperative termination)",
				"in the 3s the coordinator was down, the participants sent each other %d queries; want one to each other participant every RetryAfter", w.queries))
		}
		w.sim.Logf("test: the coordinator comes back")
		w.net.Restart(coord)
		w.sim.RunFor(6 * time.Millisecond)
		w.require(w.err)
		for _, name := range parts {
			if st := w.p(name).Status("order-1"); st != tpc.Committed || w.applied[key{"order-1", name}] != "commit" {
				w.require(labkit.Violationf("a restarted coordinator sends its logged decision at once",
					"6ms after the coordinator restarted, %s reports order-1 as %s and its service was told to %q; want committed",
					name, st, w.applied[key{"order-1", name}]))
			}
		}
		w.sim.RunFor(500 * time.Millisecond) // for the picture: the commit, after the wait
		w.require(w.err)
		w.picture(false) // the blocking case, as it should look
	})
}

// TestCooperativeTermination: participants learn the outcome from another
// participant while the coordinator is down.
func TestCooperativeTermination(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		// The commit reached the first participant only.
		w := newWorld(t, seed, cfg)
		w.net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 5*time.Millisecond)})
		parts := []string{"stock", "payment", "shipping"}
		w.add("order-1", parts)
		sent := 0
		w.crashOn = func(to string, msg any) bool { sent++; return sent == 2 }
		w.begin("order-1")
		w.sim.RunFor(200 * time.Millisecond)
		w.require(w.err)
		if w.net.Up(coord) || w.applied[key{"order-1", "stock"}] != "commit" {
			w.require(labkit.Violationf("a transaction every participant votes yes on commits when nothing fails",
				"200ms after Begin, stock's service was told to %q (want commit: the coordinator sends its decision to the participants in order)", w.applied[key{"order-1", "stock"}]))
		}
		for _, name := range parts[1:] {
			if st := w.p(name).Status("order-1"); st != tpc.Committed {
				w.require(labkit.Violationf("an uncertain participant learns the outcome from a participant that knows it (cooperative termination)",
					"the commit of order-1 reached stock only, and the coordinator crashed; 200ms later %s reports it %s, not committed", name, st))
			}
		}

		// The coordinator aborted on a no vote and crashed before it sent
		// the abort: the no voter knows.
		w = newWorld(t, seed+1, cfg)
		w.net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 5*time.Millisecond)})
		w.add("order-2", parts, "shipping")
		w.crashOn = func(string, any) bool { return true }
		w.begin("order-2")
		w.sim.RunFor(200 * time.Millisecond)
		w.require(w.err)
		for _, name := range parts[:2] {
			if st := w.p(name).Status("order-2"); st != tpc.Aborted || w.applied[key{"order-2", name}] != "abort" {
				w.require(labkit.Violationf("an uncertain participant learns the outcome from a participant that knows it (cooperative termination)",
					"shipping voted no on order-2 and the coordinator crashed before it sent the abort; 200ms later %s reports order-2 as %s and its service was told to %q, not aborted",
					name, st, w.applied[key{"order-2", name}]))
			}
		}
		w.crashOn = nil
		w.net.Restart(coord)
		w.sim.RunFor(time.Second)
		w.require(w.err)
		w.checkOutcomes("after the coordinator came back")
	})
}

func TestManyTransactions(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		newWorld(t, seed, cfg).run(scenario{Txs: 32, Link: calm, FaultsFor: time.Second, RefuseRate: 0.25, AllCommit: true})
	})
}

func TestLossDelayDuplication(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		// A tenth of the messages arrive after VoteTimeout (a heavy tail):
		// votes that reach the coordinator after it aborted. Duplicates
		// arrive up to half a second after the first copy.
		newWorld(t, seed, cfg).run(scenario{Txs: 32, FaultsFor: 2 * time.Second, RefuseRate: 0.25,
			Link: labkit.Link{Latency: labkit.HeavyTail(labkit.Uniform(time.Millisecond, 20*time.Millisecond), 0.1, voteTimeout),
				Loss: 0.05, Dup: 0.1, DupDelay: labkit.Uniform(0, 500*time.Millisecond)}})
	})
}

func TestCoordinatorCrashes(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		newWorld(t, seed, cfg).run(scenario{Txs: 32, FaultsFor: 2 * time.Second, RefuseRate: 0.25,
			Link:       labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: 0.05},
			CoordCrash: true, SendCrash: 0.2, TargetCoord: true})
	})
}

func TestParticipantCrashes(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		newWorld(t, seed, cfg).run(scenario{Txs: 32, FaultsFor: 2 * time.Second, RefuseRate: 0.25,
			Link:      labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond), Loss: 0.05},
			PartCrash: true, TargetParts: true, Writes: 0.05})
	})
}

func TestNemesis(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		newWorld(t, seed, cfg).run(scenario{Txs: 32, FaultsFor: 3 * time.Second, RefuseRate: 0.25,
			Link: labkit.Link{Latency: labkit.HeavyTail(labkit.Uniform(time.Millisecond, 20*time.Millisecond), 0.05, voteTimeout),
				Loss: 0.05, Dup: 0.05, DupDelay: labkit.Uniform(0, 300*time.Millisecond)},
			Nemesis: true, SendCrash: 0.1, TargetCoord: true, TargetParts: true, Writes: 0.03})
	})
}

package hidden

import (
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
	ps "faultline.dev/labs/pubsubidempotent"
)

// memDisk is a plain disk for the hand-driven tests.
func memDisk() *labkit.Disk { return labkit.NewDisk() }

// recorder collects acks in order.
type recorder struct{ ids []string }

func (r *recorder) ack(id string) { r.ids = append(r.ids, id) }

func ev(key string, seq int, amount int64) ps.Event {
	return ps.Event{ID: fmt.Sprintf("%s/%d", key, seq), Key: key, Seq: seq, Amount: amount}
}

func mustAccount(t *testing.T, c *ps.Consumer, key string, want ps.Account, when string) {
	t.Helper()
	if got := c.Account(key); got != want {
		t.Fatalf("%s: Account(%q) = %+v, want %+v", when, key, got, want)
	}
}

func TestDeclinedWithdrawalStillCounts(t *testing.T) {
	r := &recorder{}
	c := ps.NewConsumer(memDisk(), r.ack)
	c.Handle(ev("a", 1, 30))
	c.Handle(ev("a", 2, -50)) // would overdraw: declined
	mustAccount(t, c, "a", ps.Account{Balance: 30, Seq: 2}, "after +30 and a declined -50")
	c.Handle(ev("a", 3, -30))
	mustAccount(t, c, "a", ps.Account{Balance: 0, Seq: 3}, "after -30 (down to exactly zero)")
	if len(r.ids) != 3 {
		t.Fatalf("acks %q, want all three events acked (a declined withdrawal is still processed)", r.ids)
	}
	mustAccount(t, c, "never-seen", ps.Account{}, "a key with no events")
}

func TestNoFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Keys: 4, PerKey: 25, Window: 4, AckTimeout: 200 * time.Millisecond}).run(time.Minute)
	})
}

func TestDuplicatesApplyOnce(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Keys: 3, PerKey: 30, Window: 4, AckTimeout: 100 * time.Millisecond, Dup: 0.4}).run(time.Minute)
	})
}

func TestLostDeliveriesAndAcks(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Keys: 3, PerKey: 30, Window: 5, AckTimeout: 50 * time.Millisecond,
			Loss: 0.25, Dup: 0.2, AckLoss: 0.3, Late: 0.1}).run(time.Minute)
	})
}

// TestAckOnlyWhenDurable drives the consumer by hand: an event that arrives
// ahead of a gap must not be acked until it is applied, and then it must be.
func TestAckOnlyWhenDurable(t *testing.T) {
	disk := memDisk()
	r := &recorder{}
	c := ps.NewConsumer(disk, r.ack)
	c.Handle(ev("k", 3, 5))
	c.Handle(ev("k", 2, 7))
	if len(r.ids) != 0 {
		t.Fatalf("events 3 and 2 arrived before event 1 and cannot be applied yet, but the consumer acked %q: "+
			"the broker will never redeliver them, so a crash now loses them", r.ids)
	}
	mustAccount(t, c, "k", ps.Account{}, "after events 3 and 2 arrived ahead of 1")
	// The process dies with 2 and 3 in memory; a new one on the same disk
	// sees them again only because they were not acked.
	r2 := &recorder{}
	c2 := ps.NewConsumer(disk, r2.ack)
	mustAccount(t, c2, "k", ps.Account{}, "after a restart")
	c2.Handle(ev("k", 1, 1))
	c2.Handle(ev("k", 3, 5))
	c2.Handle(ev("k", 2, 7))
	mustAccount(t, c2, "k", ps.Account{Balance: 13, Seq: 3}, "after 1, 3, 2 on the restarted consumer")
	if fmt.Sprint(r2.ids) != "[k/1 k/2 k/3]" {
		t.Fatalf("acks %q, want [k/1 k/2 k/3]: each event acked once it is applied", r2.ids)
	}
	// And under crashes and lost acks, every ack is checked against the disk.
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Keys: 3, PerKey: 20, Window: 6, AckTimeout: 40 * time.Millisecond,
			Loss: 0.3, Crashes: true}).run(time.Minute)
	})
}

// TestKeysAreIndependent checks that a gap on one key holds back only that key.
func TestKeysAreIndependent(t *testing.T) {
	r := &recorder{}
	c := ps.NewConsumer(memDisk(), r.ack)
	c.Handle(ev("x", 2, 4))
	c.Handle(ev("y", 1, 10))
	c.Handle(ev("y", 2, 20))
	mustAccount(t, c, "y", ps.Account{Balance: 30, Seq: 2}, "y's events are in order even though x has a gap")
	mustAccount(t, c, "x", ps.Account{}, "x waits for its event 1")
	c.Handle(ev("x", 1, 1))
	mustAccount(t, c, "x", ps.Account{Balance: 5, Seq: 2}, "x after its gap filled")
	if fmt.Sprint(r.ids) != "[y/1 y/2 x/1 x/2]" {
		t.Fatalf("acks %q, want [y/1 y/2 x/1 x/2]", r.ids)
	}
}

// TestBufferedEventsWaitThroughSeveralGaps: an event kept in memory for a
// gap stays there while an earlier gap fills, and is applied (and acked)
// as soon as every event before it is, without waiting for a redelivery.
func TestBufferedEventsWaitThroughSeveralGaps(t *testing.T) {
	r := &recorder{}
	c := ps.NewConsumer(memDisk(), r.ack)
	c.Handle(ev("a", 1, 1))
	c.Handle(ev("a", 3, 4))  // waits for 2
	c.Handle(ev("a", 5, 16)) // waits for 4
	c.Handle(ev("a", 2, 2))  // applies 2, then the waiting 3; 5 still waits
	mustAccount(t, c, "a", ps.Account{Balance: 7, Seq: 3}, "after events 1, 3, 5, 2 (5 waits for 4)")
	c.Handle(ev("a", 4, 8)) // applies 4, then the waiting 5
	mustAccount(t, c, "a", ps.Account{Balance: 31, Seq: 5},
		"after events 1, 3, 5, 2, 4 with no redelivery: event 5 was kept in memory while 2 filled the first gap, and applied once 4 came")
	if fmt.Sprint(r.ids) != "[a/1 a/2 a/3 a/4 a/5]" {
		t.Fatalf("acks %q, want [a/1 a/2 a/3 a/4 a/5]: each event acked once it is applied", r.ids)
	}
}

func TestCrashRestart(t *testing.T) {
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Keys: 3, PerKey: 30, Window: 5, AckTimeout: 60 * time.Millisecond,
			Loss: 0.1, Dup: 0.2, AckLoss: 0.2, Crashes: true, Late: 0.1}).run(2 * time.Minute)
	})
}

func TestCrashBetweenWrites(t *testing.T) {
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Keys: 3, PerKey: 30, Window: 4, AckTimeout: 60 * time.Millisecond,
			Dup: 0.2, AckLoss: 0.2, TornWrites: 0.15, Late: 0.1}).run(2 * time.Minute)
	})
}

// TestDedupStateBounded checks that what the consumer keeps on disk does not
// grow with the number of events: a per-key watermark, not a table of IDs.
func TestDedupStateBounded(t *testing.T) {
	seed := labkit.Seed(t)
	f := faults{Keys: 4, PerKey: 60, Window: 4, AckTimeout: 80 * time.Millisecond, Dup: 0.2}
	w := newWorld(t, seed, f)
	w.run(time.Minute)
	limit := f.Keys + 4
	w.sim.Check(t, w.disk.Len() <= limit, "dedup state stays bounded",
		"after %d events on %d keys the disk holds %d keys (%v...), want at most %d: keep one watermark per key, not one record per event",
		f.Keys*f.PerKey, f.Keys, w.disk.Len(), first(w.disk.Keys(""), 6), limit)
	size := 0
	for _, k := range w.disk.Keys("") {
		v, _ := w.disk.Get(k)
		size += len(k) + len(v)
	}
	maxSize := 256*f.Keys + 1024
	w.sim.Check(t, size <= maxSize, "dedup state stays bounded",
		"after %d events on %d keys the disk holds %d bytes (keys and values), want at most %d: keep a watermark per key, not a list of every event ID",
		f.Keys*f.PerKey, f.Keys, size, maxSize)
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

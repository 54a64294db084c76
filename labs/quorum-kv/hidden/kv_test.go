package hidden

import (
	"errors"
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
	kv "faultline.dev/labs/quorumkv"
)

func TestReadWithContextSupersedes(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 5, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	c.mustPut(co, "cart", "v1", nil)
	r := c.mustGet(co, "cart")
	// The coordinator's counter starts at 0 and each write adds exactly 1.
	c.sim.Check(t, r.ctx.Equal(kv.VClock{"alice": 1}), "a write's clock is its context with the writer's counter, max(counter, ctx[me]) + 1",
		"alice's first write, blind, then a Get: context %v, want {alice:1}", r.ctx)
	c.mustPut(co, "cart", "v2", r.ctx)
	r = c.mustGet(co, "cart")
	c.sim.Check(t, slices.Equal(r.values, []string{"v2"}), "a write with the context of a read supersedes what was read",
		"after Put(v1), Get, Put(v2, ctx), Get returned %s, want [v2]", show(r.values))
	c.sim.Check(t, r.ctx.Equal(kv.VClock{"alice": 2}), "a write's clock is its context with the writer's counter, max(counter, ctx[me]) + 1",
		"alice wrote v2 with context {alice:1}; the next Get's context is %v, want {alice:2}", r.ctx)
	// A second client overwrites with its context: still one value.
	bob := c.client("bob", c.cfg(3, 2, 2))
	r = c.mustGet(bob, "cart")
	c.mustPut(bob, "cart", "v3", r.ctx)
	r = c.mustGet(co, "cart")
	c.sim.Check(t, slices.Equal(r.values, []string{"v3"}), "a write with the context of a read supersedes what was read",
		"bob read [v2] and wrote v3 with that context; Get returned %s, want [v3]", show(r.values))
	c.sim.Check(t, r.ctx.Equal(kv.VClock{"alice": 2, "bob": 1}), "the context merges the clocks of the values read",
		"bob wrote v3 with context {alice:2} (his first write); the next Get's context is %v, want {alice:2 bob:1}", r.ctx)
}

// TestOverlappingOperations: one coordinator with several operations in
// flight at once gives each its own ID, so every answer reaches its own
// operation and every done is called once, with its own result.
func TestOverlappingOperations(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 5, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	keys := []string{"apple", "banana", "cherry"}
	putCalls := make([]int, len(keys))
	putErrs := make([]error, len(keys))
	for i, k := range keys {
		co.Put(k, "value-of-"+k, nil, func(err error) { putCalls[i]++; putErrs[i] = err })
	}
	c.sim.RunFor(time.Second)
	for i, k := range keys {
		c.sim.Check(t, putCalls[i] == 1 && putErrs[i] == nil, "each of several overlapping Puts of one coordinator completes once",
			"three Puts issued at once; Put(%q) called done %d times (last error %v), want once with nil", k, putCalls[i], putErrs[i])
	}
	getCalls := make([]int, len(keys))
	got := make([]getResult, len(keys))
	for i, k := range keys {
		co.Get(k, func(values []string, ctx kv.VClock, err error) {
			getCalls[i]++
			got[i] = getResult{slices.Clone(values), ctx.Copy(), err}
		})
	}
	c.sim.RunFor(time.Second)
	for i, k := range keys {
		want := []string{"value-of-" + k}
		c.sim.Check(t, getCalls[i] == 1 && got[i].err == nil && slices.Equal(got[i].values, want),
			"each of several overlapping Gets of one coordinator completes once, with its own key's values",
			"three Gets issued at once; Get(%q) called done %d times, last with %s, %v; want once with %s", k, getCalls[i], show(got[i].values), got[i].err, show(want))
	}
}

// TestAckOnlyWhatIsOnDisk: a replica that crashes just before writing a
// PutRequest to disk must not have acknowledged it.
func TestAckOnlyWhatIsOnDisk(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	c.cut("alice", "n3") // only n1 and n2 get the write
	// The first disk write of any replica crashes it instead.
	tg := &labkit.Targeted{Net: c.net, Writes: 1, Max: 1, Down: 10 * time.Millisecond}
	tg.Start()
	err := c.put(co, "k", "v", nil)
	tg.Stop()
	c.sim.Check(t, tg.Crashes() == 1, "the test crashes one replica before its disk write", "Targeted crashed %d replicas, want 1", tg.Crashes())
	holders := 0
	for _, n := range []string{"n1", "n2"} {
		if slices.Contains(valuesOf(c.replica(n).Versions("k")), "v") {
			holders++
		}
	}
	c.sim.Check(t, err != nil || holders >= 2, "a replica acknowledges a write only once it is on its disk",
		"W=2; n1 and n2 got the write and one of them crashed just before writing it to disk; Put returned nil, but only %d of them holds it", holders)
}

func TestConcurrentWritesBecomeSiblings(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 5, fixed(2))
	alice := c.client("alice", c.cfg(3, 2, 2))
	bob := c.client("bob", c.cfg(3, 2, 2))
	c.mustPut(alice, "cart", "base", nil)
	r := c.mustGet(alice, "cart")
	// Both read "base", then both write with that context at the same time.
	errs := []error{errors.New("pending"), errors.New("pending")}
	alice.Put("cart", "alice-adds-milk", r.ctx, func(err error) { errs[0] = err })
	bob.Put("cart", "bob-adds-eggs", r.ctx, func(err error) { errs[1] = err })
	c.sim.RunFor(time.Second)
	c.sim.Check(t, errs[0] == nil && errs[1] == nil, "concurrent writes succeed", "Put errors: %v, %v", errs[0], errs[1])
	got := c.mustGet(alice, "cart")
	want := []string{"alice-adds-milk", "bob-adds-eggs"}
	c.sim.Check(t, slices.Equal(sorted(got.values), want), "concurrent writes both survive as siblings",
		"two concurrent writes with the same context; Get returned %s, want both %s", show(got.values), show(want))
	// Resolving the siblings with the read's context leaves one value.
	c.mustPut(bob, "cart", "milk+eggs", got.ctx)
	got = c.mustGet(alice, "cart")
	c.sim.Check(t, slices.Equal(got.values, []string{"milk+eggs"}), "a write with the context of a read supersedes every sibling read",
		"Get returned %s, want [milk+eggs]", show(got.values))
}

func TestSiblingsFromPartitionedWriters(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	alice := c.client("alice", c.cfg(3, 1, 1))
	bob := c.client("bob", c.cfg(3, 1, 1))
	// alice only reaches n1, bob only reaches n2.
	c.cut("alice", "n2", "n3")
	c.cut("bob", "n1", "n3")
	c.mustPut(alice, "k", "from-alice", nil)
	c.mustPut(bob, "k", "from-bob", nil)
	c.net.Heal()
	reader := c.client("reader", c.cfg(3, 3, 1))
	got := c.mustGet(reader, "k")
	want := []string{"from-alice", "from-bob"}
	c.sim.Check(t, slices.Equal(sorted(got.values), want), "concurrent writes both survive as siblings",
		"writes on opposite sides of a partition; after healing, an R=3 Get returned %s, want %s", show(got.values), show(want))
}

func TestPutFailsWithoutWriteQuorum(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	c.cut("alice", "n2", "n3")
	err := c.put(co, "k", "v", nil)
	c.sim.Check(t, errors.Is(err, kv.ErrQuorum), "a write that reaches fewer than W replicas reports ErrQuorum",
		"only n1 of 3 replicas was reachable with W=2; Put returned %v", err)
	c.net.Heal()
	c.sim.Check(t, c.put(co, "k", "v2", nil) == nil, "a write with W replicas reachable succeeds", "Put after healing failed")
	// W=3 with one replica crashed must fail too.
	c.net.Crash("n3")
	all := c.client("carol", c.cfg(3, 1, 3))
	err = c.put(all, "k", "v3", nil)
	c.sim.Check(t, errors.Is(err, kv.ErrQuorum), "a write that reaches fewer than W replicas reports ErrQuorum",
		"n3 crashed, W=3; Put returned %v", err)
}

func TestGetFailsWithoutReadQuorum(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	c.mustPut(co, "k", "v", nil)
	c.net.Crash("n1")
	c.net.Crash("n2")
	r := c.get(co, "k")
	c.sim.Check(t, errors.Is(r.err, kv.ErrQuorum), "a read that hears from fewer than R replicas reports ErrQuorum",
		"n1 and n2 crashed, R=2; Get returned values %s, error %v", show(r.values), r.err)
	c.net.Restart("n1")
	r = c.mustGet(co, "k")
	c.sim.Check(t, slices.Equal(r.values, []string{"v"}), "an acknowledged write survives a crash (replicas keep it on disk)",
		"after restarting n1, Get returned %s, want [v]", show(r.values))
}

func TestDuplicateAcksDoNotMakeAQuorum(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, labkit.Link{Latency: labkit.Uniform(time.Millisecond, 5*time.Millisecond), Dup: 1})
	co := c.client("alice", c.cfg(3, 2, 2))
	c.cut("alice", "n2", "n3")
	err := c.put(co, "k", "v", nil)
	c.sim.Check(t, errors.Is(err, kv.ErrQuorum), "a quorum counts distinct replicas",
		"every message is duplicated and only n1 is reachable; with W=2 Put returned %v, want ErrQuorum", err)
	r := c.get(co, "k")
	c.sim.Check(t, errors.Is(r.err, kv.ErrQuorum), "a quorum counts distinct replicas",
		"every message is duplicated and only n1 is reachable; with R=2 Get returned %s, %v, want ErrQuorum", show(r.values), r.err)
}

func TestReadRepairUpdatesStaleReplica(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	// n3 misses v1 entirely.
	c.cut("alice", "n3")
	c.mustPut(co, "k", "v1", nil)
	c.net.Heal()
	// Read from n2 and n3 only: n3 is stale and must be repaired.
	c.cut("alice", "n1")
	r := c.mustGet(co, "k")
	c.sim.Check(t, slices.Equal(r.values, []string{"v1"}), "a read sees every acknowledged write",
		"Get returned %s, want [v1]", show(r.values))
	c.sim.RunFor(time.Second)
	got := valuesOf(c.replica("n3").Versions("k"))
	c.sim.Check(t, slices.Equal(got, []string{"v1"}), "read repair pushes the reconciled versions to stale replicas that replied",
		"n3 replied without v1; a second after the read it holds %s, want [v1]", show(got))
	c.net.Heal()
	// n3 and n1 now hold v1; write v2 on n1 and n2 only, then read n1+n3.
	c.cut("alice", "n3")
	r = c.mustGet(co, "k")
	c.mustPut(co, "k", "v2", r.ctx)
	c.net.Heal()
	c.cut("alice", "n2")
	r = c.mustGet(co, "k")
	c.sim.RunFor(time.Second)
	got = valuesOf(c.replica("n3").Versions("k"))
	c.sim.Check(t, slices.Equal(got, []string{"v2"}), "read repair replaces superseded versions on stale replicas",
		"n3 held v1 and replied; after repair it holds %s, want [v2] (v2 supersedes v1)", show(got))
}

func TestAckedWriteSurvivesCrash(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2))
	c.cut("alice", "n3")
	c.mustPut(co, "k", "precious", nil)
	c.net.Crash("n1")
	c.sim.RunFor(100 * time.Millisecond)
	c.net.Restart("n1")
	c.net.Heal()
	c.cut("alice", "n2") // the read quorum is n1 (restarted) and n3 (missed the write)
	r := c.mustGet(co, "k")
	c.sim.Check(t, slices.Equal(r.values, []string{"precious"}), "no acknowledged write is lost (replicas keep writes on disk across crashes)",
		"precious was acked by n1 and n2; n1 crashed and restarted; a read from n1 and n3 returned %s", show(r.values))
}

// TestLateAnswersAndDefaultTimeout: acks and replies that arrive after the
// operation timed out change nothing and never call done again; a Timeout
// of 0 means 100ms, to the nanosecond.
func TestLateAnswersAndDefaultTimeout(t *testing.T) {
	c := newCluster(t, labkit.Seed(t), 3, fixed(2))
	co := c.client("alice", c.cfg(3, 2, 2)) // 50ms timeout
	// n2's and n3's answers to alice take 80ms: past the timeout.
	for _, n := range []string{"n2", "n3"} {
		c.net.SetLink(n, "alice", labkit.Link{Latency: labkit.Fixed(80 * time.Millisecond)})
	}
	err := c.put(co, "k", "v", nil) // put checks done is called exactly once
	c.sim.Check(t, errors.Is(err, kv.ErrQuorum), "acks that arrive after the timeout do not count",
		"W=2, only n1's ack came before the 50ms timeout (n2's and n3's came at 82ms); Put returned %v, want ErrQuorum", err)
	r := c.get(co, "k")
	c.sim.Check(t, errors.Is(r.err, kv.ErrQuorum), "replies that arrive after the timeout do not count",
		"R=2, only n1's reply came before the 50ms timeout; Get returned %s, %v, want ErrQuorum", show(r.values), r.err)

	// Timeout 0 is DefaultTimeout: 100ms.
	cfg := c.cfg(3, 2, 2)
	cfg.Timeout = 0
	bob := c.client("bob", cfg)
	c.cut("bob", "n2", "n3")
	calls := 0
	var got error
	bob.Put("k2", "v", nil, func(err error) { calls++; got = err })
	c.sim.RunFor(100*time.Millisecond - time.Nanosecond)
	c.sim.Check(t, calls == 0, "a Timeout of 0 means DefaultTimeout (100ms)",
		"Put with Timeout 0 and one of W=2 replicas reachable finished %s after it started: %v", 100*time.Millisecond-time.Nanosecond, got)
	c.sim.RunFor(time.Nanosecond)
	c.sim.Check(t, calls == 1 && errors.Is(got, kv.ErrQuorum), "a Timeout of 0 means DefaultTimeout (100ms)",
		"Put with Timeout 0 and one of W=2 replicas reachable: %d done calls at 100ms (last error %v), want one ErrQuorum", calls, got)
	var gcalls int
	var gerr error
	bob.Get("k2", func(_ []string, _ kv.VClock, err error) { gcalls++; gerr = err })
	c.sim.RunFor(100*time.Millisecond - time.Nanosecond)
	c.sim.Check(t, gcalls == 0, "a Timeout of 0 means DefaultTimeout (100ms)", "Get with Timeout 0 finished before 100ms: %v", gerr)
	c.sim.RunFor(time.Nanosecond)
	c.sim.Check(t, gcalls == 1 && errors.Is(gerr, kv.ErrQuorum), "a Timeout of 0 means DefaultTimeout (100ms)",
		"Get with Timeout 0 and one of R=2 replicas reachable: %d done calls at 100ms (last error %v), want one ErrQuorum", gcalls, gerr)

	// Any other Timeout is used as it is, however short.
	cfg.Timeout = time.Nanosecond
	carol := c.client("carol", cfg)
	calls, got = 0, nil
	carol.Put("k3", "v", nil, func(err error) { calls++; got = err })
	c.sim.RunFor(time.Nanosecond)
	c.sim.Check(t, calls == 1 && errors.Is(got, kv.ErrQuorum), "an operation fails when its Timeout has passed",
		"Put with Timeout 1ns (no ack can come that soon): %d done calls after 1ns (last error %v), want one ErrQuorum", calls, got)
}

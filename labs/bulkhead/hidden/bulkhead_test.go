package hidden

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	bh "faultline.dev/labs/bulkhead"
)

func TestPassesResultAndContextThrough(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 2, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	a := mustRun(t, sim, b, "call A", nil)
	custom := fmt.Errorf("wrapped: %w", errors.New("dependency said no"))
	a.finish(custom)
	mustReturn(t, sim, a, custom, "Do returns the function's own error")
	sim.Check(t, a.sawCtx.Load(), "Do passes its context to the function", "the function got a different context")
	c := mustRun(t, sim, b, "call B", nil)
	c.finish(nil)
	mustReturn(t, sim, c, nil, "Do returns nil when the function succeeds")
}

func TestNeverMoreThanMaxConcurrent(t *testing.T) {
	sim := newSim(t)
	const max = 3
	b := bh.New(bh.Config{MaxConcurrent: max, MaxQueue: 20, QueueTimeout: time.Hour, Clock: sim})
	p := &probe{}
	var running, waiting []*call
	for i := 0; i < max; i++ {
		running = append(running, mustRun(t, sim, b, fmt.Sprintf("call %d", i), p))
	}
	for i := max; i < 12; i++ {
		waiting = append(waiting, mustQueue(t, sim, b, context.Background(), fmt.Sprintf("call %d", i), p))
	}
	sim.Check(t, p.max.Load() == max, "never more than MaxConcurrent calls run at once",
		"%d calls ran at once with MaxConcurrent = %d", p.max.Load(), max)
	// Finish calls one at a time, oldest first; each frees exactly one slot.
	for len(running) > 0 {
		r := running[0]
		running = running[1:]
		r.finish(nil)
		mustReturn(t, sim, r, nil, "a call that ran returns its function's result")
		if len(waiting) > 0 {
			next := nextEntered(t, sim, "a freed slot goes to a waiting call", waiting)
			for i, w := range waiting {
				if w == next {
					waiting = append(waiting[:i], waiting[i+1:]...)
					break
				}
			}
			running = append(running, next)
		}
		sim.Check(t, int(p.max.Load()) <= max, "never more than MaxConcurrent calls run at once",
			"%d calls ran at once with MaxConcurrent = %d", p.max.Load(), max)
		sim.Check(t, int(p.now.Load()) == len(running), "each finished call frees one slot and a waiting call takes it",
			"%d calls are running, want %d", p.now.Load(), len(running))
	}
	sim.Check(t, b.InFlight() == 0 && b.Queued() == 0, "an idle bulkhead reports nothing in flight or queued",
		"InFlight() = %d, Queued() = %d after every call finished", b.InFlight(), b.Queued())
}

func TestQueueBoundSheds(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 2, MaxQueue: 3, QueueTimeout: time.Minute, Clock: sim})
	a := mustRun(t, sim, b, "call A", nil)
	mustRun(t, sim, b, "call B", nil)
	var q []*call
	for i := 1; i <= 3; i++ {
		q = append(q, mustQueue(t, sim, b, context.Background(), fmt.Sprintf("queued %d", i), nil))
	}
	sim.Check(t, b.InFlight() == 2 && b.Queued() == 3, "InFlight and Queued count running and waiting calls",
		"InFlight() = %d, Queued() = %d, want 2 and 3", b.InFlight(), b.Queued())
	for i := 1; i <= 4; i++ {
		mustReject(t, sim, b, fmt.Sprintf("extra %d (2 running, 3 of MaxQueue=3 waiting)", i))
	}
	// One finishes: the oldest waiter runs, which makes room for exactly one more.
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
	nextEntered(t, sim, "a freed slot goes to a waiting call", q)
	mustQueue(t, sim, b, context.Background(), "late arrival", nil)
	mustReject(t, sim, b, "the arrival after it (queue full again)")
}

func TestZeroQueueShedsWhenBusy(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 0, QueueTimeout: time.Second, Clock: sim})
	a := mustRun(t, sim, b, "call A", nil)
	mustReject(t, sim, b, "call B (MaxQueue = 0, the only slot busy)")
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
	c := mustRun(t, sim, b, "call C (after A finished)", nil)
	c.finish(nil)
	mustReturn(t, sim, c, nil, "a call that ran returns its function's result")
}

func TestQueueTimeoutIsExact(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 2, QueueTimeout: time.Second, Clock: sim})
	a := mustRun(t, sim, b, "call A", nil)
	const prop = "a waiting call gives up exactly QueueTimeout after it joined the queue"
	w1 := mustQueue(t, sim, b, context.Background(), "waiter 1 (queued at 0s)", nil)
	sim.RunFor(400 * time.Millisecond)
	w2 := mustQueue(t, sim, b, context.Background(), "waiter 2 (queued at 0.4s)", nil)
	sim.RunFor(600*time.Millisecond - time.Nanosecond)
	stillWaiting(t, sim, prop+" (at 1s - 1ns)", w1, w2)
	sim.RunFor(time.Nanosecond)
	mustReturn(t, sim, w1, bh.ErrTimeout, prop+" (waiter 1 at 1s)")
	stillWaiting(t, sim, prop+" (waiter 2 at 1s)", w2)
	sim.RunFor(400*time.Millisecond - time.Nanosecond)
	stillWaiting(t, sim, prop+" (waiter 2 at 1.4s - 1ns)", w2)
	sim.RunFor(time.Nanosecond)
	mustReturn(t, sim, w2, bh.ErrTimeout, prop+" (waiter 2 at 1.4s)")
	sim.Check(t, !w1.ran.Load() && !w2.ran.Load(), "a call that timed out never runs its function", "a timed-out function ran")
	// A itself was admitted at once: no queue timeout applies to it.
	sim.RunFor(time.Hour)
	settle()
	sim.Check(t, !func() bool { _, done := a.result(); return done }(), "a running call is never timed out by the bulkhead", "%s", a.state())
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a running call is never timed out by the bulkhead")
}

func TestTimeoutDoesNotFreeASlot(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	p := &probe{}
	a := mustRun(t, sim, b, "call A", p)
	w := mustQueue(t, sim, b, context.Background(), "waiter", p)
	sim.RunFor(time.Second)
	mustReturn(t, sim, w, bh.ErrTimeout, "a waiting call gives up after QueueTimeout")
	// A still holds the only slot: the next caller must wait, not run.
	c := mustQueue(t, sim, b, context.Background(), "call C (A still running, the waiter timed out)", p)
	sim.Check(t, p.max.Load() == 1, "never more than MaxConcurrent calls run at once", "%d ran at once", p.max.Load())
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
	nextEntered(t, sim, "a freed slot goes to a waiting call", []*call{c})
}

func TestTimeoutCoversOnlyTheWait(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	a := mustRun(t, sim, b, "call A", nil)
	w := mustQueue(t, sim, b, context.Background(), "waiter", nil)
	sim.RunFor(500 * time.Millisecond)
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
	nextEntered(t, sim, "a freed slot goes to a waiting call", []*call{w})
	// The waiter is running now; its queue timeout (due at 1s) no longer applies.
	sim.RunFor(5 * time.Second)
	settle()
	sim.Check(t, func() bool { _, done := w.result(); return !done }(),
		"QueueTimeout limits only the wait in the queue, not the call", "%s at 5.5s while its function was still running", w.state())
	w.finish(nil)
	mustReturn(t, sim, w, nil, "QueueTimeout limits only the wait in the queue, not the call")
}

func TestFIFOAdmission(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 2, MaxQueue: 5, QueueTimeout: time.Minute, Clock: sim})
	running := []*call{mustRun(t, sim, b, "call A", nil), mustRun(t, sim, b, "call B", nil)}
	var waiting []*call
	for i := 1; i <= 5; i++ {
		waiting = append(waiting, mustQueue(t, sim, b, context.Background(), fmt.Sprintf("waiter %d", i), nil))
		sim.RunFor(time.Millisecond)
	}
	want := append([]*call(nil), waiting...)
	for i, expect := range want {
		// Finish the running calls alternately from the front and back.
		k := 0
		if i%2 == 1 {
			k = len(running) - 1
		}
		r := running[k]
		running = append(running[:k], running[k+1:]...)
		r.finish(nil)
		mustReturn(t, sim, r, nil, "a call that ran returns its function's result")
		got := nextEntered(t, sim, "a freed slot goes to a waiting call", waiting)
		sim.Check(t, got == expect, "waiting calls are admitted in arrival order (FIFO)",
			"slot %d went to %s, want %s (the oldest waiter)", i+1, got.name, expect.name)
		for j, w := range waiting {
			if w == got {
				waiting = append(waiting[:j], waiting[j+1:]...)
				break
			}
		}
		running = append(running, got)
	}
}

func TestCancelWhileQueuedFreesItsPlace(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Minute, Clock: sim})
	a := mustRun(t, sim, b, "call A", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := mustQueue(t, sim, b, ctx, "waiter with a context", nil)
	cancel()
	mustReturn(t, sim, w, context.Canceled, "a waiting call whose context ends returns ctx.Err() at once")
	sim.Check(t, !w.ran.Load(), "a cancelled call never runs its function", "the cancelled waiter's function ran")
	sim.Check(t, b.Queued() == 0, "a cancelled call leaves the queue", "Queued() = %d after the only waiter was cancelled", b.Queued())
	// Its place in the queue is free again, and the slot A frees goes to C.
	c := mustQueue(t, sim, b, context.Background(), "call C (after the waiter was cancelled)", nil)
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
	got := nextEntered(t, sim, "the slot freed after a cancellation goes to a live waiter", []*call{c})
	got.finish(nil)
	mustReturn(t, sim, got, nil, "a call that ran returns its function's result")
	// Nothing leaked: both slots' worth of capacity is back.
	d := mustRun(t, sim, b, "call D (everything finished)", nil)
	d.finish(nil)
	mustReturn(t, sim, d, nil, "a call that ran returns its function's result")
}

func TestCancelledContextBeforeDo(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := b.Do(ctx, func(context.Context) error { ran = true; return nil })
	sim.Check(t, errors.Is(err, context.Canceled) && !ran, "Do with an already-ended context returns ctx.Err() without running",
		"Do returned %s, function ran: %v", errString(err), ran)
	sim.Check(t, b.InFlight() == 0 && b.Queued() == 0, "Do with an already-ended context takes no slot",
		"InFlight() = %d, Queued() = %d", b.InFlight(), b.Queued())
}

func TestSlowDependencyDoesNotStarveHealthyOne(t *testing.T) {
	sim := newSim(t)
	r := bh.NewRegistry(bh.Config{MaxConcurrent: 2, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	slow, healthy := r.Get("slow-db"), r.Get("payments")
	sim.Check(t, slow == r.Get("slow-db"), "Get returns the same bulkhead for the same name", "two Get(\"slow-db\") calls gave different bulkheads")
	sim.Check(t, slow != healthy, "each dependency gets its own bulkhead", "Get(\"slow-db\") and Get(\"payments\") gave the same bulkhead")
	// The slow dependency is saturated: both slots stuck, its queue full.
	mustRun(t, sim, slow, "slow call 1", nil)
	mustRun(t, sim, slow, "slow call 2", nil)
	mustQueue(t, sim, slow, context.Background(), "slow call 3", nil)
	mustReject(t, sim, slow, "slow call 4")
	// The healthy one still has all of its capacity.
	p := &probe{}
	h1 := mustRun(t, sim, healthy, "payments call 1 (slow-db saturated)", p)
	h2 := mustRun(t, sim, healthy, "payments call 2 (slow-db saturated)", p)
	h3 := mustQueue(t, sim, healthy, context.Background(), "payments call 3", p)
	h1.finish(nil)
	mustReturn(t, sim, h1, nil, "a call that ran returns its function's result")
	nextEntered(t, sim, "a freed slot goes to a waiting call", []*call{h3})
	h2.finish(nil)
	h3.finish(nil)
	mustReturn(t, sim, h2, nil, "a call that ran returns its function's result")
	mustReturn(t, sim, h3, nil, "a call that ran returns its function's result")
	// Registry.Do goes through the named bulkhead.
	err := r.Do(context.Background(), "slow-db", func(context.Context) error { return nil })
	sim.Check(t, errors.Is(err, bh.ErrRejected), "Registry.Do uses the named dependency's bulkhead",
		"Registry.Do on the saturated slow-db returned %s, want ErrRejected", errString(err))
	err = r.Do(context.Background(), "payments", func(context.Context) error { return nil })
	sim.Check(t, err == nil, "Registry.Do uses the named dependency's bulkhead", "Registry.Do on idle payments returned %s", errString(err))
}

func TestRegistryConcurrentGet(t *testing.T) {
	sim := newSim(t)
	r := bh.NewRegistry(bh.Config{MaxConcurrent: 1, Clock: sim})
	const n = 32
	got := make([]*bh.Bulkhead, n)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = r.Get(fmt.Sprintf("dep-%d", i%2)) }()
	}
	wg.Wait()
	for i := range got {
		sim.Check(t, got[i] == got[i%2], "concurrent Get calls for one name share one bulkhead",
			"Get(\"dep-%d\") returned two different bulkheads", i%2)
	}
	sim.Check(t, got[0] != got[1], "each dependency gets its own bulkhead", "dep-0 and dep-1 share a bulkhead")
}

// TestConfigDefaults: MaxConcurrent below 1 means 1, a negative MaxQueue
// means 0 (every call that finds the slot busy is shed), a QueueTimeout of
// 0 or less means no limit (and no timer), and a nil Clock the real one.
func TestConfigDefaults(t *testing.T) {
	sim := newSim(t)
	b := bh.New(bh.Config{MaxConcurrent: -3, MaxQueue: -1, Clock: sim})
	a := mustRun(t, sim, b, "call A (MaxConcurrent -3 means 1)", nil)
	mustReject(t, sim, b, "call B (MaxQueue -1 means 0)")
	a.finish(nil)
	mustReturn(t, sim, a, nil, "a call that ran returns its function's result")

	b = bh.New(bh.Config{MaxConcurrent: 0, MaxQueue: 1, QueueTimeout: -time.Second, Clock: sim})
	a = mustRun(t, sim, b, "call A (MaxConcurrent 0 means 1)", nil)
	before := sim.Pending()
	w := start(t, b, context.Background(), "waiter (QueueTimeout -1s: no limit)", nil)
	if !poll(func() bool { return b.Queued() == 1 }) {
		sim.Failf(t, "a call that finds every slot busy and room in the queue waits", "%s; Queued() = %d", w.state(), b.Queued())
	}
	settle()
	sim.Check(t, sim.Pending() == before, "a QueueTimeout of 0 or less means no limit: no timer",
		"the waiter started a timer (%d pending, %d before)", sim.Pending(), before)
	sim.RunFor(24 * time.Hour)
	stillWaiting(t, sim, "a QueueTimeout of 0 or less means no limit", w)
	a.finish(nil)
	nextEntered(t, sim, "a freed slot goes to a waiting call", []*call{w})
	w.finish(nil)
	mustReturn(t, sim, w, nil, "a call that waited then ran returns its function's result")

	// A QueueTimeout of 0 means no limit either (no timer, no timeout);
	// one of 1ns is a timeout of 1ns.
	for _, qt := range []time.Duration{0, time.Nanosecond} {
		b = bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: qt, Clock: sim})
		a = mustRun(t, sim, b, fmt.Sprintf("call A (QueueTimeout %s)", qt), nil)
		if qt > 0 {
			w = mustQueue(t, sim, b, context.Background(), fmt.Sprintf("waiter (QueueTimeout %s)", qt), nil)
		} else {
			w = start(t, b, context.Background(), "waiter (QueueTimeout 0: no limit)", nil)
			if !poll(func() bool { return b.Queued() == 1 }) {
				sim.Failf(t, "a call that finds every slot busy and room in the queue waits", "%s; Queued() = %d", w.state(), b.Queued())
			}
		}
		sim.RunFor(time.Nanosecond)
		if qt == 0 {
			sim.RunFor(time.Hour)
			stillWaiting(t, sim, "a QueueTimeout of 0 means no limit", w)
		} else {
			mustReturn(t, sim, w, bh.ErrTimeout, "a QueueTimeout of 1ns times a waiter out 1ns after it joined the queue")
		}
		a.finish(nil)
		mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
		if qt == 0 {
			nextEntered(t, sim, "a freed slot goes to a waiting call", []*call{w})
			w.finish(nil)
			mustReturn(t, sim, w, nil, "a call that waited then ran returns its function's result")
		}
	}

	// A nil Clock is the real clock: a waiter times out in real time.
	rb := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Millisecond})
	if err := rb.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		sim.Failf(t, "a nil Clock means the real clock", "Do on a bulkhead made without a Clock returned %v", err)
	}
	ra := start(t, rb, context.Background(), "call A (real clock)", nil)
	if !poll(ra.hasEntered) {
		sim.Failf(t, "a call runs at once while a slot is free", "%s", ra.state())
	}
	rw := start(t, rb, context.Background(), "waiter (real clock, 1ms timeout)", nil)
	mustReturn(t, sim, rw, bh.ErrTimeout, "a nil Clock means the real clock: a waiter times out after QueueTimeout of real time")
	ra.finish(nil)
	mustReturn(t, sim, ra, nil, "a call that ran returns its function's result")
}

// TestHandOverRacesTimeout makes a waiter's timer fire and a slot be handed
// to it at the same moment, forty times. Exactly one may win: if the slot
// was handed over the call owns it (it runs fn, or hands the slot on), and
// either way no slot is lost or doubled: afterwards nothing is running or
// waiting, and a new call runs at once. The goroutines take turns
// (GOMAXPROCS 1) so that the waiter wakes with both its slot and its timer
// ready; Go's select then picks one at random, so forty rounds try both
// orders many times.
func TestHandOverRacesTimeout(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	sim := newSim(t)
	ran, timedOut := 0, 0
	for round := 0; round < 40; round++ {
		b := bh.New(bh.Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
		p := &probe{}
		a := mustRun(t, sim, b, fmt.Sprintf("round %d: call A", round), p)
		w := mustQueue(t, sim, b, context.Background(), fmt.Sprintf("round %d: waiter", round), p)
		sim.Logf("round %d: the waiter's timer fires and A finishes at the same moment", round)
		sim.RunFor(time.Second) // the timer fires: the waiter can run, but the test goroutine keeps the processor
		a.finish(nil)           // A's slot goes to the waiter before the waiter looks at its timer
		mustReturn(t, sim, a, nil, "a call that ran returns its function's result")
		if !poll(func() bool { _, done := w.result(); return done || w.hasEntered() }) {
			sim.Failf(t, "a waiter ends its wait when its slot comes or its time is up", "round %d: %s", round, w.state())
		}
		if w.hasEntered() {
			ran++
			w.finish(nil)
			mustReturn(t, sim, w, nil, "a waiter that was handed a slot runs its function")
		} else {
			timedOut++
			err, _ := w.result()
			sim.Check(t, errors.Is(err, bh.ErrTimeout), "a waiter whose time is up returns ErrTimeout", "round %d: %s", round, w.state())
		}
		settle()
		sim.Check(t, b.InFlight() == 0 && b.Queued() == 0,
			"a slot handed over just as the waiter timed out is neither lost nor doubled",
			"round %d: with nothing left running or waiting, InFlight() = %d and Queued() = %d, want 0 and 0 (the waiter %s)",
			round, b.InFlight(), b.Queued(), map[bool]string{true: "ran", false: "timed out"}[w.ran.Load()])
		c := mustRun(t, sim, b, fmt.Sprintf("round %d: call C after both", round), p)
		c.finish(nil)
		mustReturn(t, sim, c, nil, "a call that ran returns its function's result")
		sim.Check(t, p.max.Load() == 1, "never more than MaxConcurrent calls run at once", "round %d: %d ran at once", round, p.max.Load())
	}
	t.Logf("the waiter ran %d times and timed out %d times", ran, timedOut)
}

package hidden

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"faultline.dev/labkit"
	cb "faultline.dev/labs/circuitbreaker"
)

func TestPassesResultThrough(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 10})
	calls := 0
	custom := fmt.Errorf("wrapped: %w", errDown)
	err := r.call("custom error", func() error { calls++; return custom })
	r.check(err == custom, "Call returns the function's error unchanged",
		"Call returned %v, want the function's own error value", err)
	err = r.call("success", func() error { calls++; return nil })
	r.check(err == nil, "Call returns the function's error unchanged",
		"Call returned %v for a successful function, want nil", err)
	r.check(calls == 2, "an admitted call runs the function exactly once",
		"the function ran %d times for 2 calls, want 2", calls)
}

func TestCountsConsecutiveFailuresOnly(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 3, OpenTimeout: time.Minute})
	// Two failures, a success, two failures, a success, two failures: never
	// three in a row, so the breaker must stay closed.
	for round := 0; round < 3; round++ {
		r.call("fail", failing)
		r.call("fail", failing)
		r.mustState(cb.Closed, fmt.Sprintf("round %d, after 2 consecutive failures (a success came before them)", round))
		if round < 2 {
			r.call("ok", ok)
		}
		r.advance(time.Second)
	}
	r.call("fail", failing)
	r.mustState(cb.Open, "after the third consecutive failure")
}

func TestOpenFailsFast(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 2, OpenTimeout: 5 * time.Second})
	r.call("fail", failing)
	r.call("fail", failing)
	r.mustState(cb.Open, "after 2 failures")
	calls := 0
	for i := 0; i < 5; i++ {
		r.advance(time.Second - time.Millisecond)
		err := r.call("while open", func() error { calls++; return nil })
		r.check(errors.Is(err, cb.ErrOpen), "an open breaker rejects with ErrOpen",
			"call %d while open returned %v, want ErrOpen", i, err)
	}
	r.check(calls == 0, "an open breaker never runs the function", "an open breaker ran the function %d times", calls)
	// Rejected calls do not extend the open period: 5s after opening it admits.
	r.advance(5 * time.Millisecond)
	err := r.call("after the timeout", func() error { calls++; return nil })
	r.check(err == nil, "rejected calls do not extend the open period",
		"the first call %s after the breaker opened (OpenTimeout 5s) returned %v, want nil", 5*time.Second, err)
	r.check(calls == 1, "an admitted call runs the function exactly once", "the trial call ran the function %d times, want 1", calls)
}

func TestOpenTimeoutBoundary(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 1, OpenTimeout: 8 * time.Second})
	r.advance(3 * time.Second) // the breaker opens at a time other than zero
	r.call("fail", failing)
	r.advance(8*time.Second - time.Nanosecond)
	r.mustState(cb.Open, "1ns before the open timeout")
	err := r.call("1ns early", ok)
	r.check(errors.Is(err, cb.ErrOpen), "an open breaker rejects until OpenTimeout has passed",
		"Call 1ns before the open timeout returned %v, want ErrOpen", err)
	r.advance(time.Nanosecond)
	// State alone (no Call) must notice the timeout.
	r.mustState(cb.HalfOpen, "exactly at the open timeout (no call made since)")
}

func TestTrialFailureReopens(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 1, OpenTimeout: 10 * time.Second, SuccessThreshold: 2})
	r.call("fail", failing)
	r.advance(30 * time.Second) // well past the timeout
	r.mustState(cb.HalfOpen, "after the open timeout")
	err := r.call("failing trial", failing)
	r.check(err == errDown, "Call returns the function's error unchanged", "trial call returned %v, want the function's error", err)
	r.mustState(cb.Open, "after a failed trial")
	// The new open period starts at the failed trial, not at the first opening.
	r.advance(10*time.Second - time.Nanosecond)
	r.mustState(cb.Open, "1ns before the new open period ends")
	err = r.call("during the new open period", ok)
	r.check(errors.Is(err, cb.ErrOpen), "a failed trial starts a fresh open period",
		"Call during the new open period returned %v, want ErrOpen", err)
	r.advance(time.Nanosecond)
	r.mustState(cb.HalfOpen, "when the new open period ends")
	// A success then a failure: the failure reopens even after a success.
	r.call("ok trial", ok)
	r.mustState(cb.HalfOpen, "after 1 of 2 successful trials")
	r.call("failing trial", failing)
	r.mustState(cb.Open, "after a failed trial that followed a success")

	// With one success needed, a failed trial still opens the breaker (it
	// must not go on to count as a success and close it).
	r = newRigSeed(t, labkit.Seed(t)+1, cb.Settings{FailureThreshold: 1, OpenTimeout: time.Second, SuccessThreshold: 1})
	r.call("fail", failing)
	r.advance(time.Second)
	r.mustState(cb.HalfOpen, "after the open timeout (SuccessThreshold 1)")
	r.call("failing trial", failing)
	r.mustState(cb.Open, "after a failed trial with SuccessThreshold 1")
	r.advance(time.Second - time.Nanosecond)
	r.mustState(cb.Open, "1ns before the open period that the failed trial started ends (SuccessThreshold 1)")
}

func TestSuccessThresholdCloses(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 2, OpenTimeout: time.Second, SuccessThreshold: 3})
	r.call("fail", failing)
	r.call("fail", failing)
	r.advance(time.Second)
	for i := 1; i <= 2; i++ {
		err := r.call("ok trial", ok)
		r.check(err == nil, "a half-open breaker admits a trial", "trial %d returned %v, want nil", i, err)
		r.mustState(cb.HalfOpen, fmt.Sprintf("after %d of 3 successful trials", i))
	}
	r.call("ok trial", ok)
	r.mustState(cb.Closed, "after 3 successful trials")
	// Closing starts a fresh failure count.
	r.call("fail", failing)
	r.mustState(cb.Closed, "after 1 failure in the new closed period")
	r.call("fail", failing)
	r.mustState(cb.Open, "after 2 failures in the new closed period")
}

// waitFor polls cond (in real time) until it holds or patience runs out.
func waitFor(r *rig, property, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			r.fail(property, "gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHalfOpenLimitsConcurrentTrials lets 40 callers call at once while
// half-open, under several seeded interleavings (labkit's Interleaver: the
// callers take turns, switching wherever the breaker reads the clock), so a
// breaker that checks the trial count and takes a slot in two steps is
// caught on every run.
func TestHalfOpenLimitsConcurrentTrials(t *testing.T) {
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		halfOpenTrials(t, seed)
	})
}

func halfOpenTrials(t *testing.T, seed int64) {
	iv := labkit.NewInterleaver(seed)
	sim := labkit.NewSim(seed)
	r := &rig{t: t, sim: sim, b: cb.New(cb.Settings{FailureThreshold: 1, OpenTimeout: time.Second, HalfOpenMaxCalls: 3, SuccessThreshold: 3, Clock: iv.Clock(sim)})}
	r.note(&r.seen, cb.Closed)
	sim.Logf("New(FailureThreshold=1, OpenTimeout=1s, HalfOpenMaxCalls=3, SuccessThreshold=3), callers interleaved by seed %d", seed)
	r.call("fail", failing)
	r.advance(time.Second)

	const callers = 40
	var entered, rejected, other atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	wait := iv.Go(callers, func(int) {
		err := r.b.Call(func() error {
			entered.Add(1)
			<-release
			return nil
		})
		switch {
		case errors.Is(err, cb.ErrOpen):
			rejected.Add(1)
		case err != nil:
			other.Add(1)
		}
	})
	defer wait()
	defer once.Do(func() { close(release) })
	r.sim.Logf("%d callers call at once while half-open", callers)
	waitFor(r, "extra callers in half-open get ErrOpen at once", "every caller to be admitted or rejected", func() bool {
		return entered.Load()+rejected.Load()+other.Load() == callers
	})
	r.sim.Logf("%d trials running, %d rejected", entered.Load(), rejected.Load())
	r.check(entered.Load() == 3, "at most HalfOpenMaxCalls trials run at once",
		"%d trial calls ran at once in half-open, want exactly HalfOpenMaxCalls = 3", entered.Load())
	r.check(rejected.Load() == callers-3, "extra callers in half-open get ErrOpen",
		"%d callers got ErrOpen, want %d", rejected.Load(), callers-3)
	r.mustState(cb.HalfOpen, "while 3 trials are in flight")
	once.Do(func() { close(release) })
	wait()
	r.sim.Logf("the 3 trials succeeded")
	r.mustState(cb.Closed, "after 3 successful trials")
}

func TestClosedCallsRunConcurrently(t *testing.T) {
	r := newRig(t, cb.Settings{FailureThreshold: 5})
	const callers = 8
	var entered atomic.Int32
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.b.Call(func() error {
				entered.Add(1)
				<-release
				return errDown
			})
		}()
	}
	r.sim.Logf("%d callers call at once while closed", callers)
	// A breaker that holds its lock while the function runs lets only one in.
	waitFor(r, "calls in the closed state run concurrently", "all closed-state calls to run at the same time", func() bool {
		return entered.Load() == callers
	})
	once.Do(func() { close(release) })
	wg.Wait()
	r.sim.Logf("all %d calls failed", callers)
	r.mustState(cb.Open, "after 8 concurrent failures with threshold 5")
}

func TestStaleResultsIgnored(t *testing.T) {
	passed := t.Run("late success does not close", func(t *testing.T) {
		r := newRig(t, cb.Settings{FailureThreshold: 1, OpenTimeout: time.Second})
		slow := newGate()
		defer slow.open()
		late := r.async(slow.fn(nil)) // admitted while closed
		r.waitEntered(slow, "slow call while closed")
		r.sim.Logf("a slow call was admitted while closed")
		err := r.call("fail", failing)
		r.check(err == errDown, "Call returns the function's error unchanged", "failing call returned %v", err)
		r.mustState(cb.Open, "after the failure")
		r.advance(time.Second)
		r.mustState(cb.HalfOpen, "after the open timeout")
		slow.open()
		err = r.await("slow call", late)
		r.sim.Logf("the slow call (admitted while closed) returned %s", describe(err))
		r.check(err == nil, "Call returns the function's error unchanged", "slow call returned %v, want nil", err)
		r.mustState(cb.HalfOpen, "after a success from a call admitted while closed (a stale result)")
		// The stale result did not use up the half-open trial slot either.
		err = r.call("ok trial", ok)
		r.check(err == nil, "a stale result does not take a half-open trial slot",
			"the first real trial returned %v, want nil", err)
		r.mustState(cb.Closed, "after a real trial succeeded")
	})
	if !passed {
		return // the second case would only wait on the same bug again
	}
	t.Run("late failure does not reopen", func(t *testing.T) {
		r := newRig(t, cb.Settings{FailureThreshold: 1, OpenTimeout: time.Second})
		slow := newGate()
		defer slow.open()
		late := r.async(slow.fn(errDown)) // admitted while closed
		r.waitEntered(slow, "slow call while closed")
		r.sim.Logf("a slow call was admitted while closed")
		r.call("fail", failing)
		r.advance(time.Second)
		r.mustState(cb.HalfOpen, "after the open timeout")
		slow.open()
		err := r.await("slow call", late)
		r.sim.Logf("the slow call (admitted while closed) returned %s", describe(err))
		r.mustState(cb.HalfOpen, "after a failure from a call admitted while closed (a stale result)")
	})
}

func TestDefaults(t *testing.T) {
	r := newRig(t, cb.Settings{})
	for i := 1; i <= 4; i++ {
		r.call("fail", failing)
	}
	r.mustState(cb.Closed, "after 4 failures with the default threshold (5)")
	r.call("fail", failing)
	r.mustState(cb.Open, "after 5 failures with the default threshold (5)")
	r.advance(30*time.Second - time.Nanosecond)
	r.mustState(cb.Open, "1ns before the default 30s timeout")
	r.advance(time.Nanosecond)
	r.mustState(cb.HalfOpen, "at the default 30s timeout")

	trial := newGate()
	defer trial.open()
	first := r.async(trial.fn(nil))
	r.waitEntered(trial, "first trial")
	err := r.call("second trial", ok)
	r.check(errors.Is(err, cb.ErrOpen), "the default HalfOpenMaxCalls is 1",
		"a second trial while one is in flight returned %v, want ErrOpen", err)
	trial.open()
	r.await("first trial", first)
	r.mustState(cb.Closed, "after one successful trial (default SuccessThreshold is 1)")

	// Settings given are kept, however small: OpenTimeout 1ns means 1ns.
	r = newRigSeed(t, labkit.Seed(t)+1, cb.Settings{FailureThreshold: 1, OpenTimeout: time.Nanosecond})
	r.call("fail", failing)
	r.mustState(cb.Open, "right after the failure (OpenTimeout 1ns)")
	r.advance(time.Nanosecond)
	r.mustState(cb.HalfOpen, "1ns after opening with OpenTimeout 1ns (a positive setting is kept, not replaced by the default)")

	// A nil Clock means the real clock: the breaker works without one.
	b := cb.New(cb.Settings{FailureThreshold: 2})
	if err := b.Call(ok); err != nil {
		r.fail("a nil Clock means labkit.RealClock{}", "Call on a breaker made without a Clock returned %v, want nil", err)
	}
	b.Call(failing)
	b.Call(failing)
	if st := b.State(); st != cb.Open {
		r.fail("a nil Clock means labkit.RealClock{}", "a breaker made without a Clock is %s after 2 failures (threshold 2), want open", name(st))
	}
}

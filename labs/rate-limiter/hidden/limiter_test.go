package hidden

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"faultline.dev/labkit"
	rl "faultline.dev/labs/ratelimiter"
)

// TestExactAdmissionsOverTime sends traffic in random phases (floods, steady
// trickles, clumps of simultaneous requests, silences) and compares every
// single decision with the reference token bucket.
func TestExactAdmissionsOverTime(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		c := newClock(seed)
		sim := c.sim
		r := sim.Rand()
		every := []time.Duration{10 * time.Millisecond, 7 * time.Millisecond, 3 * time.Millisecond, 25 * time.Millisecond}[r.IntN(4)]
		burst := 1 + r.IntN(30)
		lim := rl.New(every, burst, c)
		ref := newModel(every, burst)

		var offered, admitted, expected []time.Duration
		var bad string
		request := func() {
			now := sim.Elapsed()
			got, want := lim.Allow(), ref.allow(now)
			offered = append(offered, now)
			sim.Logf("request #%d: Allow()=%v, expected %v", len(offered), got, want)
			if got {
				admitted = append(admitted, now)
			}
			if want {
				expected = append(expected, now)
			}
			if got != want && bad == "" {
				bad = fmt.Sprintf("request #%d at virtual time %s: Allow returned %v, but a bucket of burst %d that earns a token every %s holds %.4f tokens then (before this request), so Allow must return %v",
					len(offered), secs(now), got, burst, every, ref.tokens()+map[bool]float64{true: 1}[want], want)
				sim.Stop()
			}
		}
		// Phases of 0.5 to 2 seconds, 12 seconds in all.
		var at time.Duration
		var phases []string
		for at < 12*time.Second {
			length := time.Duration(500+r.IntN(1500)) * time.Millisecond
			start := at
			switch kind := r.IntN(4); kind {
			case 0: // flood: a request every millisecond
				phases = append(phases, fmt.Sprintf("%s flood", secs(start)))
				for d := time.Duration(0); d < length; d += time.Millisecond {
					sim.Schedule(start+d, request)
				}
			case 1: // trickle: random gaps around the refill interval
				phases = append(phases, fmt.Sprintf("%s trickle", secs(start)))
				for d := time.Duration(0); d < length; d += time.Duration(r.Int64N(int64(3 * every))) {
					sim.Schedule(start+d, request)
				}
			case 2: // clumps: many requests at one instant
				phases = append(phases, fmt.Sprintf("%s clumps", secs(start)))
				for d := time.Duration(0); d < length; d += 250 * time.Millisecond {
					for i := 0; i < 2*burst+5; i++ {
						sim.Schedule(start+d, request)
					}
				}
			case 3:
				phases = append(phases, fmt.Sprintf("%s silence", secs(start)))
			}
			at += length
		}
		sim.RunFor(at)
		labkit.Attach(t, "admitted.svg", labkit.LineChart{
			Title:  fmt.Sprintf("requests per second (burst %d, a token every %s)", burst, every),
			XLabel: "virtual time (s)", YLabel: "requests/s",
			Series: []labkit.Series{
				labkit.RateSeries("offered", offered, time.Second),
				labkit.RateSeries("expected", expected, time.Second),
				labkit.RateSeries("admitted", admitted, time.Second),
			},
		}.SVG())
		sim.Check(t, bad == "", "every request gets the token bucket's exact decision",
			"%s\ntraffic phases: %v", bad, phases)
	})
}

// TestBurstIsCapped checks that a long silence fills the bucket to burst and
// no further.
func TestBurstIsCapped(t *testing.T) {
	c := newClock(1)
	lim := rl.New(100*time.Millisecond, 10, c)
	c.sim.RunFor(time.Hour)
	if got := lim.Tokens(); got != 10 {
		t.Fatalf("after an hour idle Tokens() = %v, want 10 (the bucket holds at most burst tokens)", got)
	}
	n := 0
	for i := 0; i < 50; i++ {
		if lim.Allow() {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("after an hour idle, 50 simultaneous requests: %d admitted, want exactly burst = 10", n)
	}
	c.sim.RunFor(time.Hour)
	if lim.AllowN(11) {
		t.Fatalf("AllowN(11) with burst 10 returned true after an hour idle; more than burst can never be taken")
	}
	if !lim.AllowN(10) {
		t.Fatalf("AllowN(10) with burst 10 returned false after an hour idle")
	}
	if lim.Allow() {
		t.Fatalf("Allow returned true right after AllowN(10) emptied a bucket of burst 10")
	}
}

// TestRefillWithoutDrift polls an emptied bucket at a finer step than its
// refill interval for a long time: a token must appear exactly at every
// multiple of the interval, never a nanosecond early or late, however many
// polls came in between.
func TestRefillWithoutDrift(t *testing.T) {
	for _, tc := range []struct{ every, step time.Duration }{
		{3 * time.Millisecond, time.Millisecond},
		{7 * time.Millisecond, 5 * time.Millisecond},
		{time.Second / 3, time.Second / 7},
	} {
		t.Run(fmt.Sprintf("every=%s,poll=%s", tc.every, tc.step), func(t *testing.T) {
			c := newClock(2)
			lim := rl.New(tc.every, 1, c)
			if !lim.Allow() {
				t.Fatalf("a new bucket of burst 1 refused its first request")
			}
			ref := newModel(tc.every, 1)
			ref.allow(0)
			for i := 1; i <= 20000; i++ {
				c.sim.RunFor(tc.step)
				now := c.sim.Elapsed()
				got, want := lim.Allow(), ref.allow(now)
				if got != want {
					c.sim.Failf(t, "refills are exact and do not drift",
						"bucket of burst 1, a token every %s, polled every %s: poll %d at %s: Allow returned %v, want %v (a bucket of burst 1 is full again exactly %s after its token was taken; counting time in integer nanoseconds keeps that exact)",
						tc.every, tc.step, i, secs(now), got, want, tc.every)
				}
			}
			// And the exact boundary: 1ns before the next token, and at it.
			if ref.credit >= tc.every {
				lim.Allow()
				ref.allow(c.sim.Elapsed())
			}
			next := c.sim.Elapsed() + tc.every - ref.credit
			c.sim.RunFor(next - c.sim.Elapsed() - time.Nanosecond)
			if lim.Allow() {
				t.Fatalf("Allow returned true 1ns before the token was due at %s", secs(next))
			}
			c.sim.RunFor(time.Nanosecond)
			if !lim.Allow() {
				t.Fatalf("Allow returned false exactly when a token was due at %s", secs(next))
			}
		})
	}
}

// TestAllowNAllOrNothing checks AllowN's edge cases.
func TestAllowNAllOrNothing(t *testing.T) {
	c := newClock(3)
	lim := rl.New(time.Second, 5, c)
	if !lim.AllowN(0) || !lim.AllowN(-2) {
		t.Fatalf("AllowN(0) and AllowN(-2) must return true")
	}
	if got := lim.Tokens(); got != 5 {
		t.Fatalf("AllowN(0) and AllowN(-2) took tokens: Tokens() = %v, want 5", got)
	}
	if !lim.AllowN(3) {
		t.Fatalf("AllowN(3) on a full bucket of 5 returned false")
	}
	if lim.AllowN(3) {
		t.Fatalf("AllowN(3) with 2 tokens left returned true")
	}
	if got := lim.Tokens(); got != 2 {
		t.Fatalf("a refused AllowN(3) must take nothing: Tokens() = %v, want 2", got)
	}
	c.sim.RunFor(1500 * time.Millisecond)
	if got := lim.Tokens(); got != 3.5 {
		t.Fatalf("Tokens() 1.5s later = %v, want 3.5 (tokens accrue continuously)", got)
	}
	if !lim.AllowN(3) {
		t.Fatalf("AllowN(3) with 3.5 tokens returned false")
	}
	// n <= 0 is always allowed, even while reservations make the credit
	// negative.
	lim2 := rl.New(time.Second, 1, c)
	lim2.Allow()
	ch := waitAsync(lim2, context.Background())
	waitUntil(t, "a Wait on an empty bucket asking the clock to wait", func() bool { return len(c.waits()) == 1 })
	if tok := lim2.Tokens(); tok != -1 {
		t.Fatalf("with one Wait holding a reservation on an empty bucket, Tokens() = %v, want -1", tok)
	}
	if !lim2.AllowN(0) {
		t.Fatalf("AllowN(0) returned false while a reservation made the credit negative; n <= 0 is always allowed")
	}
	c.sim.RunFor(time.Second)
	if err := await(t, "the Wait whose token came", ch); err != nil {
		t.Fatalf("Wait returned %v", err)
	}
}

// TestConcurrentAllowNeverOverAdmits freezes the clock and lets many
// goroutines hammer the limiter: a bucket of burst B admits exactly B
// requests, however the calls interleave.
func TestConcurrentAllowNeverOverAdmits(t *testing.T) {
	const goroutines, calls, burst = 32, 40, 25
	for round := 0; round < 10; round++ {
		c := newClock(int64(round))
		c.iv = labkit.NewInterleaver(int64(round))
		lim := rl.New(time.Second, burst, c)
		var admitted atomic.Int64
		c.iv.Run(goroutines, func(g int) {
			for i := 0; i < calls; i++ {
				n := 1 + (g+i)%2 // AllowN(1) and AllowN(2) mixed
				if lim.AllowN(n) {
					admitted.Add(int64(n))
				}
			}
		})
		got := admitted.Load()
		if got > burst {
			t.Fatalf("round %d: %d goroutines called Allow/AllowN(2) %d times each with the clock frozen; %d tokens were handed out from a bucket of %d. Checking and taking tokens must happen under one lock.",
				round, goroutines, calls, got, burst)
		}
		if got < burst-1 {
			t.Fatalf("round %d: with the clock frozen, only %d of %d tokens were handed out although %d callers kept asking", round, got, burst, goroutines)
		}
		if tok := lim.Tokens(); tok != float64(burst)-float64(got) {
			t.Fatalf("round %d: %d tokens handed out but Tokens() = %v, want %d", round, got, tok, burst-int(got))
		}
	}
}

// TestWaitQueuesReservations starts five waiters on a bucket of two: two pass
// at once, the other three each reserve the next token and wait exactly
// until it is due.
func TestWaitQueuesReservations(t *testing.T) {
	c := newClock(4)
	lim := rl.New(time.Second, 2, c)
	var chans []chan error
	for i := 0; i < 5; i++ {
		chans = append(chans, waitAsync(lim, context.Background()))
	}
	waitUntil(t, "three of five waiters asking the clock to wait (After) on a bucket of 2", func() bool { return len(c.waits()) >= 3 })
	doneCount := func() int {
		n := 0
		for _, ch := range chans {
			if returned(ch) {
				n++
			}
		}
		return n
	}
	waitUntil(t, "two of five waiters returning at once from a full bucket of 2", func() bool { return doneCount() >= 2 })
	waits := c.waits()
	sort.Slice(waits, func(i, j int) bool { return waits[i] < waits[j] })
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("five Wait calls at once on a full bucket of 2, a token every 1s: the waits asked of the clock were %v, want %v (each waiter reserves the next token, so they queue one interval apart)", waits, want)
	}
	if n := doneCount(); n != 2 {
		t.Fatalf("%d waiters returned before any time passed, want 2", n)
	}
	for k := 1; k <= 3; k++ {
		c.sim.RunFor(time.Second)
		waitUntil(t, fmt.Sprintf("%d waiters done at %ds", 2+k, k), func() bool { return doneCount() >= 2+k })
		if n := doneCount(); n != 2+k {
			t.Fatalf("%d waiters returned by %ds, want %d", n, k, 2+k)
		}
	}
	for i, ch := range chans {
		if err := await(t, "collecting results", ch); err != nil {
			t.Fatalf("waiter %d returned %v, want nil", i, err)
		}
	}
	if tok := lim.Tokens(); tok != 0 {
		t.Fatalf("after five tokens taken from a bucket of 2 over 3s, Tokens() = %v, want 0", tok)
	}
}

// TestWaitRespectsDeadline checks that Wait judges the deadline by the
// injected clock and gives up at once when the token would come too late.
func TestWaitRespectsDeadline(t *testing.T) {
	c := newClock(5)
	// Wait brings the credit up to date first: 600ms after the bucket was
	// emptied, the token is 400ms away.
	lim0 := rl.New(time.Second, 1, c)
	lim0.Allow()
	c.sim.RunFor(600 * time.Millisecond)
	ch0 := waitAsync(lim0, context.Background())
	waitUntil(t, "Wait asking the clock to wait for a token due in 400ms", func() bool { return len(c.waits()) == 1 })
	if w := c.waits()[0]; w != 400*time.Millisecond {
		t.Fatalf("600ms after the bucket was emptied (a token every 1s), Wait asked the clock to wait %s, want 400ms: bring the credit up to date before working out the delay", w)
	}
	c.sim.RunFor(400 * time.Millisecond)
	if err := await(t, "the Wait for a token due in 400ms", ch0); err != nil {
		t.Fatalf("Wait returned %v", err)
	}
	c.afters = nil
	lim := rl.New(time.Second, 1, c)
	lim.Allow()
	ctx, cancel := context.WithDeadline(context.Background(), c.Now().Add(999*time.Millisecond))
	defer cancel()
	err := await(t, "the token is due 1ms after the deadline, so Wait must give up at once without waiting", waitAsync(lim, ctx))
	if !errors.Is(err, rl.ErrWouldExceedDeadline) {
		t.Fatalf("Wait with the token due after the deadline returned %v, want ErrWouldExceedDeadline", err)
	}
	if len(c.waits()) != 0 {
		t.Fatalf("Wait asked the clock to wait %v although it had to give up", c.waits())
	}
	if tok := lim.Tokens(); tok != 0 {
		t.Fatalf("a Wait that gave up must leave the bucket alone: Tokens() = %v, want 0", tok)
	}
	// Exactly at the deadline is in time.
	ctx2, cancel2 := context.WithDeadline(context.Background(), c.Now().Add(time.Second))
	defer cancel2()
	ch := waitAsync(lim, ctx2)
	waitUntil(t, "Wait asking the clock to wait for a token due exactly at the deadline", func() bool { return len(c.waits()) == 1 })
	if w := c.waits()[0]; w != time.Second {
		t.Fatalf("Wait asked the clock to wait %s, want 1s", w)
	}
	c.sim.RunFor(time.Second)
	if err := await(t, "the token due exactly at the deadline", ch); err != nil {
		t.Fatalf("Wait for a token due exactly at the deadline returned %v, want nil", err)
	}
	// A deadline already passed on the virtual clock, with a token ready
	// only later.
	ctx3, cancel3 := context.WithDeadline(context.Background(), c.Now().Add(-time.Millisecond))
	defer cancel3()
	if err := await(t, "a deadline already passed", waitAsync(lim, ctx3)); !errors.Is(err, rl.ErrWouldExceedDeadline) {
		t.Fatalf("Wait with a deadline already behind the clock returned %v, want ErrWouldExceedDeadline", err)
	}
}

// TestWaitCancelReturnsToken cancels a waiter halfway: it returns the
// context's error, and the token it had reserved goes back to the bucket.
func TestWaitCancelReturnsToken(t *testing.T) {
	c := newClock(6)
	lim := rl.New(time.Second, 1, c)
	lim.Allow()
	ctx, cancel := context.WithCancel(context.Background())
	ch := waitAsync(lim, ctx)
	waitUntil(t, "Wait asking the clock to wait for the next token", func() bool { return len(c.waits()) == 1 })
	c.sim.RunFor(500 * time.Millisecond)
	if returned(ch) {
		t.Fatalf("Wait returned before its token was due and before its context was cancelled")
	}
	cancel()
	if err := await(t, "Wait after its context was cancelled (it must stop waiting at once)", ch); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled Wait returned %v, want context.Canceled", err)
	}
	if tok := lim.Tokens(); math.Abs(tok-0.5) > 1e-9 {
		t.Fatalf("half a second after the bucket was emptied, a cancelled waiter gave its token back: Tokens() = %v, want 0.5", tok)
	}
	c.sim.RunFor(500 * time.Millisecond)
	if !lim.Allow() {
		t.Fatalf("Allow at 1s returned false: the cancelled waiter's token was never given back")
	}
}

// TestWaitAlreadyDone calls Wait with a context that is already cancelled.
func TestWaitAlreadyDone(t *testing.T) {
	c := newClock(7)
	lim := rl.New(time.Second, 3, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := await(t, "Wait with a cancelled context", waitAsync(lim, ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an already cancelled context returned %v, want context.Canceled", err)
	}
	if tok := lim.Tokens(); tok != 3 {
		t.Fatalf("Wait with a cancelled context took a token: Tokens() = %v, want 3", tok)
	}
	// The done check comes first: a cancelled context whose deadline has
	// also passed on the virtual clock, on an empty bucket, still gets the
	// context's own error, and nothing is reserved or waited for.
	lim.AllowN(3)
	ctx2, cancel2 := context.WithDeadline(context.Background(), c.Now().Add(-time.Second))
	cancel2()
	if err := await(t, "Wait with a cancelled context and a passed deadline", waitAsync(lim, ctx2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context (whose deadline had also passed) on an empty bucket returned %v, want context.Canceled: the done check comes before the deadline check", err)
	}
	if tok := lim.Tokens(); tok != 0 || len(c.waits()) != 0 {
		t.Fatalf("Wait with a cancelled context changed the bucket or waited: Tokens() = %v, waits %v", tok, c.waits())
	}
}

// TestNewPanicsOnBadArguments: every <= 0 or burst < 1 panics.
func TestNewPanicsOnBadArguments(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		burst int
	}{{0, 1}, {-time.Second, 1}, {time.Second, 0}, {time.Second, -3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("New(%s, %d, clock) returned; it must panic", tc.every, tc.burst)
				}
			}()
			rl.New(tc.every, tc.burst, newClock(8))
		}()
	}
	lim := rl.New(time.Nanosecond, 1, newClock(8))
	if !lim.Allow() {
		t.Fatalf("New(1ns, 1, clock) must be a working bucket holding 1 token")
	}
}

// TestClockGoingBackwards steps the clock back: nothing is added, and the
// limiter keeps the later time, so the interval is not credited twice when
// the clock comes forward again.
func TestClockGoingBackwards(t *testing.T) {
	c := newClock(9)
	lim := rl.New(time.Second, 4, c)
	c.sim.RunFor(10 * time.Second)
	if !lim.AllowN(4) {
		t.Fatalf("AllowN(4) on a full bucket of 4 failed")
	}
	c.setBack(3 * time.Second) // the clock now reads 3s earlier than before
	if tok := lim.Tokens(); tok != 0 {
		t.Fatalf("after the clock stepped back 3s, Tokens() = %v, want 0: a clock that moves backwards adds nothing", tok)
	}
	if lim.Allow() {
		t.Fatalf("Allow succeeded on an empty bucket after the clock stepped back")
	}
	c.sim.RunFor(3500 * time.Millisecond) // the clock reads 0.5s past the moment the bucket was emptied
	if tok := lim.Tokens(); tok != 0.5 {
		t.Fatalf("the clock stepped back 3s, then forward 3.5s (0.5s past where it was): Tokens() = %v, want 0.5; the 3s it went back must not be credited twice", tok)
	}
	c.setBack(0) // the clock jumps forward 3s again
	if tok := lim.Tokens(); tok != 3.5 {
		t.Fatalf("after the clock jumped forward 3s more, Tokens() = %v, want 3.5", tok)
	}
}

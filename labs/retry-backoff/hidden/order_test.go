package hidden

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"faultline.dev/labkit"
	retry "faultline.dev/labs/retrybackoff"
)

// TestSlowAttemptsStopAtDeadline runs attempts that themselves take time on
// the virtual clock, drawn from a heavy tail: most take a few milliseconds,
// a fifth take longer than the whole 1s deadline. Do must read the clock
// after each attempt: an attempt that returned after the deadline (a late
// reply) is never followed by a wait or another attempt.
func TestSlowAttemptsStopAtDeadline(t *testing.T) {
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		const deadline = time.Second
		p := retry.Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, MaxAttempts: 20}
		durations := labkit.HeavyTail(labkit.Uniform(time.Millisecond, 80*time.Millisecond), 0.2, deadline)
		durRng := rand.New(rand.NewPCG(uint64(seed), 99))
		var durs []time.Duration
		for i := 0; i < p.MaxAttempts; i++ {
			durs = append(durs, durations.Sample(durRng))
		}
		h := newHarness(t, seed)
		r := retry.New(p, h, newRand(uint64(seed)))
		ctx, cancel := context.WithDeadline(context.Background(), h.Now().Add(deadline))
		defer cancel()
		a := &attempts{h: h}
		k := 0
		err := h.DoOnce(r, ctx, func(context.Context) error {
			a.record()
			d := durs[k]
			k++
			h.sim.Logf("attempt %d takes %s", k, d)
			h.hold(d)
			return errDown
		})
		// The reference: replay the draws with the attempts' durations.
		ref := newRand(uint64(seed))
		var now time.Duration
		var wantWaits, wantAt []time.Duration
		stop := "MaxAttempts"
		for n := 1; ; n++ {
			wantAt = append(wantAt, now)
			now += durs[n-1]
			if n == p.MaxAttempts {
				break
			}
			d := time.Duration(ref.Int64N(int64(ceiling(p.BaseDelay, p.MaxDelay, n)) + 1))
			if now+d >= deadline {
				stop = fmt.Sprintf("deadline (attempt %d returned at %s, next delay %s)", n, secs(now), d)
				break
			}
			wantWaits = append(wantWaits, d)
			now += d
		}
		h.sim.Check(t, fmt.Sprint(h.waits()) == fmt.Sprint(wantWaits) && fmt.Sprint(a.times()) == fmt.Sprint(wantAt),
			"Do decides after each attempt with the time read when it returned",
			"attempts took %v; Do waited %v and started attempts at %v; want waits %v, attempts at %v, then a stop for the %s",
			durs[:len(a.times())], h.waits(), a.times(), wantWaits, wantAt, stop)
		if stop == "MaxAttempts" {
			h.sim.Check(t, err == errDown, "op's error comes back unchanged after the last attempt", "Do returned %v", err)
		} else {
			h.sim.Check(t, errors.Is(err, context.DeadlineExceeded) && errors.Is(err, errDown),
				"a stop for the deadline wraps context.DeadlineExceeded and op's error", "Do returned %v", err)
		}
	})
}

// TestChecksInOrder: the draw comes first and always happens, then the
// deadline, then the budget; and the ceilings of zero and negative
// settings.
func TestChecksInOrder(t *testing.T) {
	const seed = 11
	h := newHarness(t, seed)
	b := retry.NewBudget(1, 0)
	p := retry.Policy{BaseDelay: time.Second, MaxDelay: time.Second, MaxAttempts: 3, Budget: b}
	r := retry.New(p, h, newRand(seed))
	// A deadline right now: every retry would start at or after it.
	ctx, cancel := context.WithDeadline(context.Background(), h.Now())
	defer cancel()
	calls := 0
	err := h.DoOnce(r, ctx, func(context.Context) error { calls++; return errDown })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errDown) || errors.Is(err, retry.ErrBudgetExhausted) || calls != 1 {
		t.Fatalf("with the deadline at the start, Do made %d attempts and returned %v; want one attempt and an error wrapping context.DeadlineExceeded and op's error (not ErrBudgetExhausted)", calls, err)
	}
	if tok := b.Tokens(); tok != 1 {
		t.Fatalf("a retry stopped by the deadline spent budget: Tokens() = %v, want 1 (the deadline is checked before the budget)", tok)
	}
	if len(h.waits()) != 0 {
		t.Fatalf("Do waited %v although the deadline stopped it", h.waits())
	}
	// The stopped retry still used up one draw: the next Do's first wait is
	// the second value of the sequence.
	ref := newRand(seed)
	ref.Int64N(int64(time.Second) + 1)
	want := time.Duration(ref.Int64N(int64(time.Second) + 1))
	calls = 0
	err = h.DoOnce(r, context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return errDown
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("second Do: %d attempts, returned %v; want 2 and nil", calls, err)
	}
	if w := h.waits(); len(w) != 1 || w[0] != want {
		t.Fatalf("second Do waited %v; want [%s], the second draw of the sequence: the first Do's stopped retry drew one value (step 5 always happens)", w, want)
	}
	if tok := b.Tokens(); tok != 0 {
		t.Fatalf("after one retry the budget of 1 holds %v, want 0", tok)
	}
	// Now the budget is empty: the next retry is refused by the budget, at
	// once, before any wait.
	calls = 0
	waited := len(h.waits())
	err = h.DoOnce(r, context.Background(), func(context.Context) error { calls++; return errDown })
	if !errors.Is(err, retry.ErrBudgetExhausted) || !errors.Is(err, errDown) || calls != 1 {
		t.Fatalf("empty budget: %d attempts, returned %v; want 1 and ErrBudgetExhausted wrapping op's error", calls, err)
	}
	if w := h.waits()[waited:]; len(w) != 0 {
		t.Fatalf("a retry the budget refuses must stop at once, but Do waited %v first", w)
	}

	// The last attempt draws nothing: after a Do that used up MaxAttempts,
	// and one stopped by a permanent error, the next Do's first wait is
	// the next value of the sequence.
	h2 := newHarness(t, seed)
	r2 := retry.New(retry.Policy{BaseDelay: time.Second, MaxDelay: time.Second, MaxAttempts: 2}, h2, newRand(seed+1))
	ref2 := newRand(seed + 1)
	h2.DoOnce(r2, context.Background(), func(context.Context) error { return errDown }) // 2 attempts, 1 draw
	h2.DoOnce(r2, context.Background(), func(context.Context) error { return retry.Permanent(errDown) })
	calls = 0
	h2.DoOnce(r2, context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return errDown
		}
		return nil
	})
	var want2 []time.Duration
	for range 2 {
		want2 = append(want2, time.Duration(ref2.Int64N(int64(time.Second)+1)))
	}
	if w := h2.waits(); fmt.Sprint(w) != fmt.Sprint(want2) {
		t.Fatalf("Do (2 failed attempts), Do (a permanent error), Do (a failure then a success) waited %v; want %v: one draw per retry, none for the last attempt or a permanent error", w, want2)
	}

	// A success earns, also on the last attempt allowed.
	b3 := retry.NewBudget(2, 1)
	h3 := newHarness(t, seed)
	drain := retry.New(retry.Policy{MaxAttempts: 2, Budget: b3}, h3, newRand(seed))
	h3.DoOnce(drain, context.Background(), func(context.Context) error { return errDown }) // one retry spent
	if tok := b3.Tokens(); tok != 1 {
		t.Fatalf("after one retry a budget of 2 holds %v, want 1", tok)
	}
	once := retry.New(retry.Policy{MaxAttempts: 1, Budget: b3}, h3, newRand(seed))
	if err := h3.DoOnce(once, context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Do with a succeeding op returned %v", err)
	}
	if tok := b3.Tokens(); tok != 2 {
		t.Fatalf("a success on the only attempt allowed (MaxAttempts 1) earned nothing: Tokens() = %v, want 2", tok)
	}

	// Ceilings of zero and negative settings.
	for _, c := range []struct {
		p    retry.Policy
		want func(n int) time.Duration
	}{
		{retry.Policy{BaseDelay: 50 * time.Millisecond, MaxDelay: 0, MaxAttempts: 4}, func(int) time.Duration { return 0 }},
		{retry.Policy{BaseDelay: 0, MaxDelay: time.Second, MaxAttempts: 4}, func(int) time.Duration { return 0 }},
		{retry.Policy{BaseDelay: -time.Second, MaxDelay: time.Second, MaxAttempts: 4}, func(int) time.Duration { return 0 }},
		{retry.Policy{BaseDelay: time.Second, MaxDelay: -time.Second, MaxAttempts: 4}, func(int) time.Duration { return 0 }},
		{retry.Policy{BaseDelay: 3 * time.Second, MaxDelay: time.Second, MaxAttempts: 4}, func(int) time.Duration { return time.Second }},
	} {
		hz := newHarness(t, seed)
		rz := retry.New(c.p, hz, newRand(seed))
		for n := 1; n <= 100; n++ {
			if got := rz.Ceiling(n); got != c.want(n) {
				t.Fatalf("BaseDelay %s, MaxDelay %s: Ceiling(%d) = %s, want %s (MaxDelay is the cap as written, 0 included; negative settings count as 0)", c.p.BaseDelay, c.p.MaxDelay, n, got, c.want(n))
			}
		}
		if c.want(1) != 0 {
			continue
		}
		err := hz.DoOnce(rz, context.Background(), func(context.Context) error { return errDown })
		if w := hz.waits(); err != errDown || fmt.Sprint(w) != "[0s 0s 0s]" {
			t.Fatalf("BaseDelay %s, MaxDelay %s, 4 attempts: Do waited %v and returned %v; want three waits of 0 through clock.After and op's error", c.p.BaseDelay, c.p.MaxDelay, w, err)
		}
	}
}

// TestBudgetUnderConcurrency: 50 callers each need one retry from a budget
// of 10 tokens, under ten seeded interleavings (the callers take turns and
// switch wherever Do reads the clock). Exactly 10 retries may happen.
func TestBudgetUnderConcurrency(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		iv := labkit.NewInterleaver(seed)
		sim := labkit.NewSim(seed)
		b := retry.NewBudget(10, 0)
		r := retry.New(retry.Policy{MaxAttempts: 2, Budget: b}, iv.Clock(sim), newRand(uint64(seed)))
		// A deadline far away, so that Do reads the clock before spending.
		ctx, cancel := context.WithDeadline(context.Background(), sim.Now().Add(time.Hour))
		var retries, refused atomic.Int32
		wait := iv.Go(50, func(int) {
			n := 0
			err := r.Do(ctx, func(context.Context) error {
				n++
				if n == 2 {
					retries.Add(1)
					return nil
				}
				return errDown
			})
			if errors.Is(err, retry.ErrBudgetExhausted) {
				refused.Add(1)
			}
		})
		done := make(chan struct{})
		go func() { wait(); close(done) }()
		giveUp := time.Now().Add(patience)
	drive:
		for {
			select {
			case <-done:
				break drive
			default:
			}
			if !sim.Step() {
				runtime.Gosched()
			}
			if time.Now().After(giveUp) {
				cancel()
				t.Fatalf("seed %d: the callers did not finish within %s of real time", seed, patience)
			}
		}
		cancel()
		if retries.Load() != 10 || refused.Load() != 40 || b.Tokens() != 0 {
			t.Fatalf("interleaving %d: 50 callers each needing one retry from a budget of 10: %d retries ran and %d callers were refused, budget left %v; want exactly 10, 40 and 0. Check for a token and take it under one lock.",
				seed, retries.Load(), refused.Load(), b.Tokens())
		}
	}
}

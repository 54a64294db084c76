package hidden

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
	retry "faultline.dev/labs/retrybackoff"
)

// TestDelaysFollowFullJitter replays the jitter draws with the same seed:
// every delay must lie in [0, min(MaxDelay, BaseDelay×2^(n-1))] and be
// exactly the draw the README specifies.
func TestDelaysFollowFullJitter(t *testing.T) {
	cases := []retry.Policy{
		{BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second, MaxAttempts: 10},
		{BaseDelay: 7 * time.Millisecond, MaxDelay: 300 * time.Millisecond, MaxAttempts: 12},
		{BaseDelay: time.Millisecond, MaxDelay: time.Hour, MaxAttempts: 70}, // doubling must not overflow
	}
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		for ci, p := range cases {
			h := newHarness(t, seed)
			a := &attempts{h: h}
			r := retry.New(p, h, newRand(uint64(seed)))
			for n := 1; n <= 100; n++ {
				if got, want := r.Ceiling(n), ceiling(p.BaseDelay, p.MaxDelay, n); got != want {
					t.Fatalf("policy %+v: Ceiling(%d) = %s, want min(MaxDelay, BaseDelay×2^%d) = %s (double step by step and stop at MaxDelay; a shift overflows)", p, n, got, n-1, want)
				}
			}
			err := h.DoOnce(r, context.Background(), func(context.Context) error { a.record(); return errDown })
			if err != errDown {
				t.Fatalf("policy %d %+v: Do with an op that always fails transiently returned %v, want op's last error unchanged after MaxAttempts", ci, p, err)
			}
			waits := h.waits()
			if len(waits) != p.MaxAttempts-1 {
				t.Fatalf("policy %d: %d attempts allowed, so %d waits expected between them; Do waited %d times: %v", ci, p.MaxAttempts, p.MaxAttempts-1, len(waits), waits)
			}
			ref := newRand(uint64(seed))
			for i, w := range waits {
				n := i + 1
				c := ceiling(p.BaseDelay, p.MaxDelay, n)
				if w < 0 || w > c {
					h.sim.Failf(t, "each delay lies in [0, min(MaxDelay, BaseDelay×2^(n-1))]",
						"policy %+v: the delay before retry %d was %s, outside [0, %s]", p, n, w, c)
				}
				want := time.Duration(ref.Int64N(int64(c) + 1))
				if w != want {
					h.sim.Failf(t, "full jitter draws rng.Int64N(ceiling+1), once per retry",
						"policy %+v: the delay before retry %d was %s; replaying the same seed gives %s (ceiling %s). Draw exactly one value per retry, in order, as the README says.", p, n, w, want, c)
				}
			}
			// The attempts happen exactly when the waits end.
			at := a.times()
			var clock time.Duration
			for i := range at {
				if i > 0 {
					clock += waits[i-1]
				}
				if at[i] != clock {
					t.Fatalf("policy %d: attempt %d ran at %s, want %s (right after the wait of %s)", ci, i+1, secs(at[i]), secs(clock), waits[max(i-1, 0)])
				}
			}
		}
	})
}

// TestPermanentNotRetried checks that an error marked Permanent stops Do at
// once, even wrapped, and that successes and MaxAttempts < 1 behave.
func TestPermanentNotRetried(t *testing.T) {
	h := newHarness(t, 1)
	r := retry.New(retry.Policy{BaseDelay: time.Second, MaxDelay: time.Minute, MaxAttempts: 5}, h, newRand(1))
	calls := 0
	bad := errors.New("invalid request")
	perm := fmt.Errorf("handler: %w", retry.Permanent(bad))
	err := h.DoOnce(r, context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return errDown // transient first
		}
		return perm
	})
	if calls != 2 {
		t.Fatalf("op failed transiently, then permanently (wrapped with %%w): it ran %d times, want 2 (a permanent error is never retried)", calls)
	}
	if err != perm {
		t.Fatalf("Do returned %v, want op's permanent error unchanged", err)
	}
	if !errors.Is(err, bad) {
		t.Fatalf("the error Do returned does not wrap the original error")
	}
	if retry.Permanent(nil) != nil {
		t.Fatalf("Permanent(nil) must be nil")
	}
	if retry.IsPermanent(errDown) || !retry.IsPermanent(perm) {
		t.Fatalf("IsPermanent(plain) = %v, IsPermanent(wrapped permanent) = %v", retry.IsPermanent(errDown), retry.IsPermanent(perm))
	}
	// MaxAttempts < 1 means a single attempt.
	r1 := retry.New(retry.Policy{BaseDelay: time.Second, MaxDelay: time.Minute}, h, newRand(1))
	calls = 0
	if err := h.DoOnce(r1, context.Background(), func(context.Context) error { calls++; return errDown }); err != errDown || calls != 1 {
		t.Fatalf("MaxAttempts 0: op ran %d times and Do returned %v, want 1 attempt and op's error", calls, err)
	}
}

// TestStopsBeforeDeadline gives Do a deadline: it must never wait past it,
// and must stop as soon as the next delay would reach it, without waiting.
func TestStopsBeforeDeadline(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		h := newHarness(t, seed)
		p := retry.Policy{BaseDelay: 200 * time.Millisecond, MaxDelay: 10 * time.Second, MaxAttempts: 30}
		budget := 2 * time.Second
		r := retry.New(p, h, newRand(uint64(seed)))
		ctx, cancel := context.WithDeadline(context.Background(), h.Now().Add(budget))
		defer cancel()
		a := &attempts{h: h}
		err := h.DoOnce(r, ctx, func(context.Context) error { a.record(); return errDown })
		// Reference: replay the draws.
		ref := newRand(uint64(seed))
		var now time.Duration
		var want []time.Duration
		for n := 1; n < p.MaxAttempts; n++ {
			d := time.Duration(ref.Int64N(int64(ceiling(p.BaseDelay, p.MaxDelay, n)) + 1))
			if now+d >= budget {
				break
			}
			want = append(want, d)
			now += d
		}
		waits := h.waits()
		var slept time.Duration
		for _, w := range waits {
			slept += w
		}
		if slept >= budget {
			h.sim.Failf(t, "Do never waits past the context deadline",
				"deadline 2s after the start; Do waited %v, %s in all, and op ran last at %s", waits, secs(slept), secs(a.times()[len(a.times())-1]))
		}
		if fmt.Sprint(waits) != fmt.Sprint(want) {
			h.sim.Failf(t, "Do stops as soon as the next delay would reach the deadline",
				"deadline 2s after the start: Do waited %v; the draws for this seed give %v, and the next delay would reach the deadline. Stop without waiting then.", waits, want)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errDown) {
			t.Fatalf("Do stopped for the deadline and returned %v; want an error that wraps both context.DeadlineExceeded and op's last error", err)
		}
		if len(a.times()) != len(want)+1 {
			t.Fatalf("op ran %d times, want %d", len(a.times()), len(want)+1)
		}
	})
}

// TestCancelWhileWaiting cancels the context during a backoff wait: Do
// must return at once instead of finishing the wait.
func TestCancelWhileWaiting(t *testing.T) {
	h := newHarness(t, 2)
	r := retry.New(retry.Policy{BaseDelay: time.Minute, MaxDelay: time.Hour, MaxAttempts: 5}, h, newRand(9))
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan error, 1)
	go func() { done <- r.Do(ctx, func(context.Context) error { calls++; return errDown }) }()
	deadline := time.Now().Add(patience)
	for len(h.waits()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Do never waited on the clock after a transient failure")
		}
		time.Sleep(time.Millisecond)
	}
	cancel() // virtual time never moves: only the cancellation can end the wait
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errDown) {
			t.Fatalf("Do cancelled while waiting returned %v; want an error wrapping context.Canceled and op's last error", err)
		}
	case <-time.After(patience):
		t.Fatalf("Do did not return after its context was cancelled during a backoff wait; select on ctx.Done() while waiting")
	}
	if calls != 1 {
		t.Fatalf("op ran %d times, want 1", calls)
	}
	// A context cancelled before Do starts: op never runs.
	calls = 0
	if err := r.Do(ctx, func(context.Context) error { calls++; return nil }); !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("Do with a cancelled context returned %v after %d calls, want context.Canceled and no call", err, calls)
	}
}

// storm runs callers that start over the first second against a dependency
// whose answer fail(caller, attempt) decides, and returns every attempt
// time, split into first attempts and retries.
func storm(t *testing.T, seed int64, callers int, p retry.Policy, fail func(caller, attempt int) bool) (firsts, retries []time.Duration, errs []error, h *harness) {
	h = newHarness(t, seed)
	r := retry.New(p, h, newRand(uint64(seed)))
	errs = make([]error, callers)
	rng := h.sim.Rand()
	for c := 0; c < callers; c++ {
		c := c
		start := time.Duration(rng.Int64N(int64(time.Second)))
		h.sim.Schedule(start, func() {
			h.Go(func() {
				n := 0
				errs[c] = r.Do(context.Background(), func(context.Context) error {
					n++
					h.sim.Logf("caller %d: attempt %d (budget %.1f)", c, n, budgetTokens(p.Budget))
					if n == 1 {
						firsts = append(firsts, h.sim.Elapsed())
					} else {
						retries = append(retries, h.sim.Elapsed())
					}
					if fail(c, n) {
						return errDown
					}
					return nil
				})
			})
		})
	}
	h.Drive()
	return firsts, retries, errs, h
}

// TestRetryStormBoundedByBudget points 300 callers at a dependency that is
// down. Without a budget each makes MaxAttempts attempts; with a shared
// budget of 30 tokens, the whole fleet makes exactly 30 retries.
func TestRetryStormBoundedByBudget(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		const callers, maxTokens = 300, 30
		down := func(int, int) bool { return true }
		p := retry.Policy{BaseDelay: 50 * time.Millisecond, MaxDelay: 2 * time.Second, MaxAttempts: 5}
		nf, nr, _, _ := storm(t, seed, callers, p, down)
		b := retry.NewBudget(maxTokens, 0.1)
		p.Budget = b
		firsts, retries, errs, h := storm(t, seed, callers, p, down)
		all := append(append([]time.Duration(nil), firsts...), retries...)
		labkit.Attach(t, "attempts.svg", labkit.LineChart{
			Title:  fmt.Sprintf("%d callers, dependency down: attempts per second", callers),
			XLabel: "virtual time (s)", YLabel: "attempts/s",
			Series: []labkit.Series{
				labkit.RateSeries("no budget", append(nf, nr...), 250*time.Millisecond),
				labkit.RateSeries("with budget", all, 250*time.Millisecond),
				labkit.RateSeries("retries (budget)", retries, 250*time.Millisecond),
			},
		}.SVG())
		h.sim.Check(t, len(nf) == callers && len(nr) == callers*(p.MaxAttempts-1),
			"without a budget every caller makes MaxAttempts attempts",
			"no budget: %d first attempts and %d retries, want %d and %d", len(nf), len(nr), callers, callers*(p.MaxAttempts-1))
		h.sim.Check(t, len(retries) <= maxTokens,
			"a retry budget stops a retry storm: retries never exceed the tokens the budget holds",
			"%d callers against a dependency that is down, budget of %d tokens and no successes: the fleet made %d retries (load amplification %.2fx instead of at most %.2fx)",
			callers, maxTokens, len(retries), float64(len(all))/callers, float64(callers+maxTokens)/callers)
		h.sim.Check(t, len(retries) == maxTokens,
			"every budget token is used when callers need retries",
			"%d retries with a full budget of %d tokens and %d callers wanting retries", len(retries), maxTokens, callers)
		stopped := 0
		for _, err := range errs {
			if errors.Is(err, retry.ErrBudgetExhausted) {
				if !errors.Is(err, errDown) {
					t.Fatalf("Do stopped by the budget returned %v; it must also wrap op's last error", err)
				}
				stopped++
			}
		}
		// At most maxTokens callers got a retry; every other caller was refused
		// its first retry and must say so.
		h.sim.Check(t, stopped >= callers-maxTokens, "callers refused a retry report ErrBudgetExhausted",
			"only %d of %d callers returned an error wrapping ErrBudgetExhausted, want at least %d", stopped, callers, callers-maxTokens)
		if tok := b.Tokens(); tok >= 1 {
			t.Fatalf("after the storm the budget still holds %v tokens", tok)
		}
	})
}

// TestBudgetEarnedBySuccesses runs callers against a dependency that fails
// half the time: successes earn budget back, and at every moment the
// retries made so far never exceed max + perSuccess × successes so far.
func TestBudgetEarnedBySuccesses(t *testing.T) {
	labkit.RunSeeds(t, 2, func(t *testing.T, seed int64) {
		const maxTokens, per = 5, 0.5
		b := retry.NewBudget(maxTokens, per)
		p := retry.Policy{BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second, MaxAttempts: 4, Budget: b}
		h := newHarness(t, seed)
		r := retry.New(p, h, newRand(uint64(seed)))
		rng := h.sim.Rand()
		fails := make([]bool, 0, 4096)
		for i := 0; i < cap(fails); i++ {
			fails = append(fails, rng.IntN(100) < 60)
		}
		var successes, retriesN, k int
		var broken string
		for c := 0; c < 400; c++ {
			c := c
			start := time.Duration(rng.Int64N(int64(4 * time.Second)))
			h.sim.Schedule(start, func() {
				h.Go(func() {
					n := 0
					r.Do(context.Background(), func(context.Context) error {
						n++
						h.sim.Logf("caller %d: attempt %d (budget %.1f)", c, n, b.Tokens())
						if n > 1 {
							retriesN++
						}
						if float64(retriesN) > maxTokens+per*float64(successes) && broken == "" {
							broken = fmt.Sprintf("at %s: %d retries so far, but the budget allows at most %d + %.1f × %d successes = %.1f",
								secs(h.sim.Elapsed()), retriesN, maxTokens, per, successes, maxTokens+per*float64(successes))
						}
						fail := fails[k%len(fails)]
						k++
						if fail {
							return errDown
						}
						successes++
						return nil
					})
				})
			})
		}
		h.Drive()
		h.sim.Check(t, broken == "", "retries never exceed the budget's start plus what successes earned", "%s", broken)
		want := min(float64(maxTokens), maxTokens+per*float64(successes)-float64(retriesN))
		h.sim.Check(t, retriesN > maxTokens, "successes earn retries back",
			"only %d retries for %d successes with %.1f tokens earned per success", retriesN, successes, per)
		if got := b.Tokens(); got < 0 || got > maxTokens || got > want+1e-9 {
			t.Fatalf("budget holds %v tokens after the run; it must stay in [0, %d] and not exceed start + earned - spent = %v", got, maxTokens, want)
		}
	})
}

func budgetTokens(b *retry.Budget) float64 {
	if b == nil {
		return 0
	}
	return b.Tokens()
}

package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// The visible tests use labkit's virtual clock: a *labkit.Sim has Now and
// After, so it is a Clock. Do runs on its own goroutine and waits on After;
// the test moves virtual time with sim.RunFor once Do is waiting. Nothing
// here sleeps for real (except while polling for Do to reach its wait).

var errFlaky = errors.New("flaky")

// waitForWait polls until Do has asked the clock for a wait.
func waitForWait(t *testing.T, sim *labkit.Sim, done <-chan error) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); sim.Pending() < 1; time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Do returned %v before retrying; it should wait on clock.After and try again", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Do never waited on clock.After after a transient failure")
		}
	}
}

func TestSucceedsFirstTry(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	r := New(Policy{BaseDelay: time.Second, MaxDelay: time.Minute, MaxAttempts: 3}, sim, rand.New(rand.NewPCG(1, 2)))
	calls := 0
	if err := r.Do(context.Background(), func(context.Context) error { calls++; return nil }); err != nil {
		t.Fatalf("Do returned %v for an op that succeeds, want nil", err)
	}
	if calls != 1 {
		t.Fatalf("op ran %d times, want 1", calls)
	}
}

func TestRetriesUntilSuccess(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	r := New(Policy{BaseDelay: time.Second, MaxDelay: time.Minute, MaxAttempts: 3}, sim, rand.New(rand.NewPCG(1, 2)))
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- r.Do(context.Background(), func(context.Context) error {
			calls++
			if calls == 1 {
				return errFlaky
			}
			return nil
		})
	}()
	waitForWait(t, sim, done)
	sim.RunFor(time.Second) // the first retry waits at most BaseDelay
	select {
	case err := <-done:
		if err != nil || calls != 2 {
			t.Fatalf("Do returned %v after %d calls, want nil after 2", err, calls)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Do did not retry within BaseDelay (1s) of virtual time")
	}
}

func TestPermanentStopsAtOnce(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	r := New(Policy{BaseDelay: time.Second, MaxDelay: time.Minute, MaxAttempts: 3}, sim, rand.New(rand.NewPCG(1, 2)))
	calls := 0
	bad := errors.New("bad request")
	err := r.Do(context.Background(), func(context.Context) error { calls++; return Permanent(bad) })
	if calls != 1 || !errors.Is(err, bad) {
		t.Fatalf("a permanent error: op ran %d times and Do returned %v, want 1 call and the error", calls, err)
	}
}

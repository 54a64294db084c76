package bulkhead

import (
	"context"
	"errors"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// These visible tests check the basics. The grader runs more (hidden) tests:
// see the README for every property graded.

// blocked starts b.Do on a goroutine with a function that waits for release.
// It returns a channel that says when the function started and one with Do's
// result.
func blocked(b *Bulkhead, release <-chan struct{}) (started <-chan struct{}, result <-chan error) {
	s, r := make(chan struct{}), make(chan error, 1)
	go func() {
		r <- b.Do(context.Background(), func(context.Context) error {
			close(s)
			<-release
			return nil
		})
	}()
	return s, r
}

func wait[T any](t *testing.T, sim *labkit.Sim, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * time.Second):
		sim.Failf(t, what, "gave up waiting (2s of real time)")
		var zero T
		return zero
	}
}

func TestRunsWhenFree(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	b := New(Config{MaxConcurrent: 2, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	want := errors.New("boom")
	err := b.Do(context.Background(), func(context.Context) error { return want })
	sim.Check(t, err == want, "Do returns the function's error", "got %v", err)
}

func TestRejectsWhenQueueFull(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	b := New(Config{MaxConcurrent: 1, MaxQueue: 0, QueueTimeout: time.Second, Clock: sim})
	release := make(chan struct{})
	defer close(release)
	started, _ := blocked(b, release)
	wait(t, sim, started, "the first call runs at once")
	// Run Do on a goroutine: a bulkhead that queues this call instead of
	// rejecting it would block the test forever.
	ran := make(chan bool, 1)
	result := make(chan error, 1)
	go func() {
		result <- b.Do(context.Background(), func(context.Context) error { ran <- true; return nil })
	}()
	err := wait(t, sim, result, "a call that finds the queue full is rejected at once")
	sim.Check(t, errors.Is(err, ErrRejected) && len(ran) == 0, "a call that finds the queue full is rejected at once",
		"got %v (function ran: %v), want ErrRejected", err, len(ran) > 0)
}

func TestTimesOutInQueue(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	b := New(Config{MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: time.Second, Clock: sim})
	release := make(chan struct{})
	defer close(release)
	started, _ := blocked(b, release)
	wait(t, sim, started, "the first call runs at once")
	result := make(chan error, 1)
	go func() {
		result <- b.Do(context.Background(), func(context.Context) error { return nil })
	}()
	// The waiting call asks the clock for its timeout: one event is queued.
	sim.WaitPending(1)
	sim.RunFor(time.Second - time.Nanosecond)
	select {
	case err := <-result:
		sim.Failf(t, "a waiting call gives up exactly QueueTimeout after joining the queue", "it returned %v before 1s", err)
	default:
	}
	sim.RunFor(time.Nanosecond)
	err := wait(t, sim, result, "a waiting call gives up after QueueTimeout")
	sim.Check(t, errors.Is(err, ErrTimeout), "a waiting call gives up after QueueTimeout", "got %v, want ErrTimeout", err)
}

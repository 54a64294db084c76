package hidden

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	cb "faultline.dev/labs/circuitbreaker"
)

// clock is a hand-moved clock: no test here waits for real time to pass.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var errDown = errors.New("dependency down")

func failing() error { return errDown }
func ok() error      { return nil }

// patience bounds how long a test waits for goroutines that a correct breaker
// lets finish at once; it only matters when the breaker under test blocks.
const patience = time.Second

// waitFor polls cond until it holds or patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// async runs b.Call(fn) on its own goroutine and delivers its result.
func async(b *cb.Breaker, fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Call(fn) }()
	return ch
}

// await returns the result of an async call, failing the test if the call
// does not return (a breaker that blocks instead of deciding).
func await(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatalf("Call did not return: %s", what)
		return nil
	}
}

// gate is a function that blocks until released, then returns result.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *gate) fn(result error) func() error {
	return func() error {
		g.entered <- struct{}{}
		<-g.release
		return result
	}
}

func (g *gate) waitEntered(t *testing.T, what string) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(patience):
		t.Fatalf("the function was never called: %s", what)
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func mustState(t *testing.T, b *cb.Breaker, want cb.State, when string) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("%s: state is %s, want %s", when, name(got), name(want))
	}
}

// name spells a state without trusting the implementation's String method.
func name(s cb.State) string {
	switch s {
	case cb.Closed:
		return "Closed"
	case cb.Open:
		return "Open"
	case cb.HalfOpen:
		return "HalfOpen"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

package hidden

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"faultline.dev/labkit"
	bh "faultline.dev/labs/bulkhead"
)

// patience bounds how long a test waits (in real time) for goroutines that a
// correct bulkhead lets move at once; it only matters when something is wrong.
const patience = 2 * time.Second

// probe counts how many calls run inside fn at once.
type probe struct {
	now, max atomic.Int32
}

func (p *probe) enter() {
	n := p.now.Add(1)
	for {
		m := p.max.Load()
		if n <= m || p.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (p *probe) exit() { p.now.Add(-1) }

// call is one Do running on its own goroutine. Its function blocks until the
// test releases it with a result.
type call struct {
	name    string
	entered chan struct{}
	release chan error
	done    chan error
	once    sync.Once
	ran     atomic.Bool
	sawCtx  atomic.Bool
}

// start calls b.Do(ctx, ...) on a new goroutine. The test's cleanup releases
// the function so no goroutine is left blocked.
func start(t *testing.T, b *bh.Bulkhead, ctx context.Context, name string, p *probe) *call {
	c := &call{name: name, entered: make(chan struct{}), release: make(chan error, 1), done: make(chan error, 1)}
	t.Cleanup(func() { c.finish(nil) })
	type key struct{}
	ctx = context.WithValue(ctx, key{}, name)
	go func() {
		c.done <- b.Do(ctx, func(got context.Context) error {
			c.ran.Store(true)
			c.sawCtx.Store(got != nil && got.Value(key{}) == name)
			if p != nil {
				p.enter()
				defer p.exit()
			}
			close(c.entered)
			return <-c.release
		})
	}()
	return c
}

// finish lets the call's function return err.
func (c *call) finish(err error) { c.once.Do(func() { c.release <- err }) }

func (c *call) hasEntered() bool {
	select {
	case <-c.entered:
		return true
	default:
		return false
	}
}

// result returns Do's result if it has returned.
func (c *call) result() (error, bool) {
	select {
	case err := <-c.done:
		c.done <- err
		return err, true
	default:
		return nil, false
	}
}

// state says in words where the call is, for failure messages.
func (c *call) state() string {
	if err, ok := c.result(); ok {
		return fmt.Sprintf("%s returned %v", c.name, errString(err))
	}
	if c.hasEntered() {
		return c.name + " is running"
	}
	return c.name + " is waiting"
}

func errString(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, bh.ErrRejected):
		return "ErrRejected"
	case errors.Is(err, bh.ErrTimeout):
		return "ErrTimeout"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	}
	return fmt.Sprintf("%q", err.Error())
}

// poll waits (real time, bounded by patience) until cond holds.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	return true
}

// mustRun starts a call that must be admitted at once and waits until its
// function runs.
func mustRun(t *testing.T, sim *labkit.Sim, b *bh.Bulkhead, name string, p *probe) *call {
	t.Helper()
	c := start(t, b, context.Background(), name, p)
	if !poll(func() bool { _, done := c.result(); return c.hasEntered() || done }) {
		sim.Failf(t, "a call runs at once while a slot is free", "%s never ran and Do never returned", name)
	}
	if !c.hasEntered() {
		sim.Failf(t, "a call runs at once while a slot is free", "%s", c.state())
	}
	return c
}

// mustQueue starts a call that must wait in the queue and returns once it is
// waiting there (it has asked the clock for its queue timeout).
func mustQueue(t *testing.T, sim *labkit.Sim, b *bh.Bulkhead, ctx context.Context, name string, p *probe) *call {
	t.Helper()
	before := sim.Pending()
	c := start(t, b, ctx, name, p)
	settled := poll(func() bool {
		_, done := c.result()
		return done || c.hasEntered() || sim.Pending() > before
	})
	if !settled {
		sim.Failf(t, "a call that finds every slot busy and room in the queue waits",
			"%s neither returned, ran, nor started its queue timer (Clock.After) within %s of real time", name, patience)
	}
	if _, done := c.result(); done || c.hasEntered() {
		sim.Failf(t, "a call that finds every slot busy and room in the queue waits", "%s instead of waiting in the queue", c.state())
	}
	return c
}

// mustReturn waits for Do to return and checks the error.
func mustReturn(t *testing.T, sim *labkit.Sim, c *call, want error, property string) {
	t.Helper()
	if !poll(func() bool { _, done := c.result(); return done }) {
		sim.Failf(t, property, "%s: Do did not return within %s of real time (want %s)", c.state(), patience, errString(want))
	}
	got, _ := c.result()
	if !errors.Is(got, want) && got != want {
		sim.Failf(t, property, "%s, want %s", c.state(), errString(want))
	}
}

// mustReject starts a call that must be shed at once.
func mustReject(t *testing.T, sim *labkit.Sim, b *bh.Bulkhead, name string) {
	t.Helper()
	before := sim.Pending()
	c := start(t, b, context.Background(), name, nil)
	ok := poll(func() bool {
		_, done := c.result()
		return done || c.hasEntered() || sim.Pending() > before
	})
	if !ok {
		sim.Failf(t, "a call that finds the queue full is rejected at once", "%s did not return within %s of real time", name, patience)
	}
	if err, done := c.result(); !done || !errors.Is(err, bh.ErrRejected) {
		c.finish(nil)
		sim.Failf(t, "a call that finds the queue full is rejected at once", "%s, want ErrRejected at once", c.state())
	}
	if c.ran.Load() {
		sim.Failf(t, "a rejected call never runs its function", "%s ran its function", name)
	}
}

// settle yields the processor many times so goroutines woken by the last
// virtual-time step (a timer that fired) get to run before the test looks.
func settle() {
	for i := 0; i < 2000; i++ {
		runtime.Gosched()
	}
}

// stillWaiting checks that none of the calls has run or returned.
func stillWaiting(t *testing.T, sim *labkit.Sim, property string, calls ...*call) {
	t.Helper()
	settle()
	for _, c := range calls {
		if c.hasEntered() || c.ran.Load() {
			sim.Failf(t, property, "%s but should still be waiting in the queue", c.state())
		}
		if _, done := c.result(); done {
			sim.Failf(t, property, "%s but should still be waiting in the queue", c.state())
		}
	}
}

// nextEntered waits until exactly one of the waiting calls has entered its
// function and returns it.
func nextEntered(t *testing.T, sim *labkit.Sim, property string, waiting []*call) *call {
	t.Helper()
	var got *call
	poll(func() bool {
		for _, c := range waiting {
			if c.hasEntered() {
				got = c
				return true
			}
		}
		return false
	})
	if got == nil {
		sim.Failf(t, property, "a slot was freed but none of the %d waiting calls was admitted", len(waiting))
	}
	return got
}

func newSim(t *testing.T) *labkit.Sim { return labkit.NewSim(labkit.Seed(t)) }

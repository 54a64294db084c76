package hidden

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"faultline.dev/labkit"
	rl "faultline.dev/labs/ratelimiter"
)

// clock is the labkit virtual clock the limiter reads, plus a record of every
// wait the limiter asked for through After. With iv set, Now is also a
// scheduling point of that Interleaver: concurrent callers switch there in
// a seed-chosen order, which makes races between them show up on every run
// instead of once in a while.
type clock struct {
	sim *labkit.Sim
	iv  *labkit.Interleaver

	mu     sync.Mutex
	afters []time.Duration
	back   time.Duration // Now reads this much earlier than the simulation
}

func newClock(seed int64) *clock { return &clock{sim: labkit.NewSim(seed)} }

func (c *clock) Now() time.Time {
	if c.iv != nil {
		c.iv.Point()
	}
	c.mu.Lock()
	back := c.back
	c.mu.Unlock()
	return c.sim.Now().Add(-back)
}

// setBack makes Now read d earlier than the simulation's time from now on
// (0 puts it back in step): a clock that steps backwards, then forwards.
func (c *clock) setBack(d time.Duration) {
	c.mu.Lock()
	c.back = d
	c.mu.Unlock()
	c.sim.Logf("the clock now reads %s behind virtual time", d)
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.afters = append(c.afters, d)
	c.mu.Unlock()
	return c.sim.After(d)
}

// waits returns the durations passed to After so far.
func (c *clock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.afters...)
}

var _ rl.Clock = (*clock)(nil)

// patience bounds how long a test waits (in real time) for goroutines that a
// correct limiter lets go at once; it only runs out when the limiter blocks.
const patience = 2 * time.Second

// waitUntil polls cond until it holds or patience runs out.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitAsync runs l.Wait(ctx) on its own goroutine and delivers the result.
func waitAsync(l *rl.Limiter, ctx context.Context) chan error {
	ch := make(chan error, 1)
	go func() { ch <- l.Wait(ctx) }()
	return ch
}

// await returns the result of one async Wait, failing the test if none
// arrives in time.
func await(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatalf("Wait did not return: %s", what)
		return nil
	}
}

// returned reports whether an async Wait has already returned, without
// blocking.
func returned(ch chan error) bool {
	select {
	case err := <-ch:
		// Put it back for a later await.
		ch <- err
		return true
	default:
		return false
	}
}

// model is the reference token bucket the tests compare against, in integer
// nanoseconds of credit like the README describes.
type model struct {
	every  time.Duration
	burst  int
	last   time.Duration
	credit time.Duration
}

func newModel(every time.Duration, burst int) *model {
	return &model{every: every, burst: burst, credit: time.Duration(burst) * every}
}

func (m *model) allow(now time.Duration) bool {
	if now > m.last {
		m.credit = min(m.credit+now-m.last, time.Duration(m.burst)*m.every)
		m.last = now
	}
	if m.credit < m.every {
		return false
	}
	m.credit -= m.every
	return true
}

func (m *model) tokens() float64 { return float64(m.credit) / float64(m.every) }

func secs(d time.Duration) string { return fmt.Sprintf("%.6fs", d.Seconds()) }

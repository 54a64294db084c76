package hidden

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"faultline.dev/labkit"
	retry "faultline.dev/labs/retrybackoff"
)

// harness is the labkit virtual clock Do reads and waits on, run in lock
// step with the callers: every caller is a goroutine, and the harness only
// moves time when all of them are either finished or waiting on After. So
// each run is the same on every machine, down to the order of attempts.
type harness struct {
	t   *testing.T
	sim *labkit.Sim

	mu      sync.Mutex
	running int             // callers that are neither finished nor waiting on After
	afters  []time.Duration // every wait Do asked for, in order
}

func newHarness(t *testing.T, seed int64) *harness {
	return &harness{t: t, sim: labkit.NewSim(seed)}
}

func (h *harness) Now() time.Time { return h.sim.Now() }

func (h *harness) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	h.sim.Schedule(d, func() {
		h.mu.Lock()
		h.running++
		h.mu.Unlock()
		ch <- h.sim.Now()
	})
	// Only now that the wake-up is queued does the caller count as waiting.
	h.mu.Lock()
	h.afters = append(h.afters, d)
	h.running--
	h.mu.Unlock()
	return ch
}

var _ retry.Clock = (*harness)(nil)

// hold blocks the calling caller for d of virtual time without recording a
// wait: an attempt that takes time.
func (h *harness) hold(d time.Duration) {
	ch := make(chan struct{})
	h.sim.Schedule(d, func() {
		h.mu.Lock()
		h.running++
		h.mu.Unlock()
		close(ch)
	})
	h.mu.Lock()
	h.running--
	h.mu.Unlock()
	<-ch
}

func (h *harness) waits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.afters...)
}

// Go starts a caller now.
func (h *harness) Go(fn func()) {
	h.mu.Lock()
	h.running++
	h.mu.Unlock()
	go func() {
		defer func() {
			h.mu.Lock()
			h.running--
			h.mu.Unlock()
		}()
		fn()
	}()
}

// patience bounds how long (in real time) the harness waits for a caller to
// finish or to wait on the clock; a correct Do needs microseconds.
const patience = 3 * time.Second

// quiesce waits until no caller is running.
func (h *harness) quiesce() {
	h.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		h.mu.Lock()
		n := h.running
		h.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("a caller neither returned nor waited on the clock's After for %s of real time; Do must wait only through Clock.After (virtual time %s)", patience, secs(h.sim.Elapsed()))
		}
		runtime.Gosched()
	}
}

// Drive runs the simulation in lock step until nothing is left to do.
func (h *harness) Drive() {
	h.t.Helper()
	for {
		h.quiesce()
		if !h.sim.Step() {
			return
		}
	}
}

// DoOnce runs one Do call to completion and returns its error.
func (h *harness) DoOnce(r *retry.Retryer, ctx context.Context, op func(context.Context) error) error {
	h.t.Helper()
	var err error
	h.Go(func() { err = r.Do(ctx, op) })
	h.Drive()
	return err
}

var errDown = errors.New("dependency unavailable")

// attempts records when op ran.
type attempts struct {
	h  *harness
	mu sync.Mutex
	at []time.Duration
}

func (a *attempts) record() {
	a.mu.Lock()
	a.at = append(a.at, a.h.sim.Elapsed())
	a.mu.Unlock()
}

func (a *attempts) times() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.at...)
}

// newRand is the jitter source tests hand to New, and the reference they
// replay: the same seed gives the same draws.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

// ceiling is the reference min(max, base × 2^(n-1)).
func ceiling(base, maxDelay time.Duration, n int) time.Duration {
	c := base
	for i := 1; i < n && c < maxDelay; i++ {
		c *= 2
	}
	return min(c, maxDelay)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.6fs", d.Seconds()) }

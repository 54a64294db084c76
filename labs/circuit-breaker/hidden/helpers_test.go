package hidden

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"faultline.dev/labkit"
	cb "faultline.dev/labs/circuitbreaker"
)

var errDown = errors.New("dependency down")

func failing() error { return errDown }
func ok() error      { return nil }

// patience bounds how long (in real time) a test waits for goroutines that a
// correct breaker lets finish at once; it only runs out when the breaker
// under test blocks instead of deciding. It is a hang guard, not a speed test.
const patience = 2 * time.Second

// stateColors colours the breaker states in the attached timeline.
var stateColors = map[string]string{"closed": "#59a14f", "open": "#e15759", "half-open": "#edc948"}

// rig is one breaker on a labkit virtual clock. Every call, every move of
// the clock and every state seen goes into the simulation's trace, and the
// states seen are kept for a timeline picture. A broken property fails the
// test with a labkit report (property, seed, repro command, trace) and
// attaches the breaker's state over time as breaker.svg.
//
// The rig's own methods run on the test goroutine only.
type rig struct {
	t   *testing.T
	sim *labkit.Sim
	b   *cb.Breaker

	seen     []labkit.Change // states observed through State, in time order
	expected []labkit.Change // states a correct breaker is in (randomized test)
}

// newRig builds a breaker with settings s on a fresh simulation seeded from
// the test (LABKIT_SEED reproduces a run).
func newRig(t *testing.T, s cb.Settings) *rig {
	t.Helper()
	return newRigSeed(t, labkit.Seed(t), s)
}

func newRigSeed(t *testing.T, seed int64, s cb.Settings) *rig {
	sim := labkit.NewSim(seed)
	s.Clock = sim
	sim.Logf("New(FailureThreshold=%d, OpenTimeout=%s, HalfOpenMaxCalls=%d, SuccessThreshold=%d)",
		s.FailureThreshold, s.OpenTimeout, s.HalfOpenMaxCalls, s.SuccessThreshold)
	r := &rig{t: t, sim: sim, b: cb.New(s)}
	r.note(&r.seen, cb.Closed)
	return r
}

// note appends a state change to a lane if the state differs from its last.
func (r *rig) note(lane *[]labkit.Change, s cb.State) {
	n := name(s)
	if k := len(*lane); k > 0 && (*lane)[k-1].State == n {
		return
	}
	*lane = append(*lane, labkit.Change{At: r.sim.Elapsed(), State: n})
}

// state reads the breaker's state and records it; a change goes into the
// trace too.
func (r *rig) state() cb.State {
	s := r.b.State()
	if k := len(r.seen); k == 0 || r.seen[k-1].State != name(s) {
		r.sim.Logf("State() = %s", name(s))
	}
	r.note(&r.seen, s)
	return s
}

// advance moves virtual time forward by d.
func (r *rig) advance(d time.Duration) {
	r.sim.RunFor(d)
	r.sim.Logf("clock moved %s", d)
}

// call runs b.Call(fn) on its own goroutine, logs the outcome and returns
// it; a Call that does not return within patience fails the test.
func (r *rig) call(label string, fn func() error) error {
	r.t.Helper()
	err := r.await(label, r.async(fn))
	r.sim.Logf("Call(%s) returned %s", label, describe(err))
	return err
}

// async runs b.Call(fn) on its own goroutine and delivers its result.
func (r *rig) async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- r.b.Call(fn) }()
	return ch
}

// await returns the result of an async call, failing the test if the call
// does not return (a breaker that blocks instead of deciding).
func (r *rig) await(what string, ch <-chan error) error {
	r.t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		r.fail("Call decides at once and never waits for another call",
			"Call(%s) did not return; a breaker must not hold a lock while a function runs, and it rejects instead of waiting", what)
		return nil
	}
}

// mustState fails the test with a report unless the breaker is in want.
func (r *rig) mustState(want cb.State, when string) {
	r.t.Helper()
	if got := r.state(); got != want {
		r.fail("the breaker is in the state the README specifies",
			"%s: State() = %s, want %s", when, name(got), name(want))
	}
}

// check fails the test with a report unless ok holds.
func (r *rig) check(ok bool, property, format string, args ...any) {
	r.t.Helper()
	if !ok {
		r.fail(property, format, args...)
	}
}

// fail attaches the timeline and fails the test with the labkit report.
func (r *rig) fail(property, format string, args ...any) {
	r.t.Helper()
	r.attach()
	r.sim.Failf(r.t, property, format, args...)
}

// attach prints the breaker's state over time as an SVG.
func (r *rig) attach() {
	r.t.Helper()
	// Draw a little past the failure so that the states at that very
	// instant show too.
	end := r.sim.Elapsed() + r.sim.Elapsed()/25 + time.Millisecond
	lanes := []labkit.Lane{{Name: "breaker", Spans: labkit.SpansFromChanges(r.seen, end)}}
	if len(r.expected) > 0 {
		lanes = append(lanes, labkit.Lane{Name: "expected", Spans: labkit.SpansFromChanges(r.expected, end)})
	}
	labkit.Attach(r.t, "breaker.svg", labkit.Timeline{
		Title:  "circuit breaker state over virtual time",
		Lanes:  lanes,
		Colors: stateColors,
	}.SVG())
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

func (r *rig) waitEntered(g *gate, what string) {
	r.t.Helper()
	select {
	case <-g.entered:
	case <-time.After(patience):
		r.fail("an admitted call runs its function", "the function was never called: %s", what)
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// name spells a state without trusting the implementation's String method.
func name(s cb.State) string {
	switch s {
	case cb.Closed:
		return "closed"
	case cb.Open:
		return "open"
	case cb.HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

func describe(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, cb.ErrOpen):
		return "ErrOpen"
	case err == errDown:
		return "the function's error"
	}
	return fmt.Sprintf("%q", err.Error())
}

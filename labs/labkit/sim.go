package labkit

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Epoch is the wall-clock instant that virtual time 0 maps to. Sim.Now
// returns Epoch plus the virtual time elapsed since the simulation started.
var Epoch = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// DefaultMaxEvents bounds Run: a simulation that keeps scheduling work (a
// ticker nobody stops) would otherwise never return.
const DefaultMaxEvents = 5_000_000

// Clock is the time source that timing code takes instead of calling the time
// package, so tests can drive it with a Sim. *Sim implements it; RealClock is
// the production implementation.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Since returns the time elapsed since t.
	Since(t time.Time) time.Duration
	// AfterFunc calls f once, d from now, unless the timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
	// After returns a channel that receives the time once, d from now.
	After(d time.Duration) <-chan time.Time
	// Sleep returns after d has passed. On a Sim it runs the simulation
	// forward by d instead of blocking.
	Sleep(d time.Duration)
}

// Timer is a pending call scheduled with AfterFunc.
type Timer interface {
	// Stop cancels the timer. It reports whether the call was still pending.
	Stop() bool
	// Reset reschedules the call d from now, whether or not it already fired
	// or was stopped. It reports whether the call was still pending.
	Reset(d time.Duration) bool
}

type event struct {
	at    time.Duration
	tie   uint64 // orders events due at the same instant: drawn from the seed
	seq   uint64
	fn    func()
	label string
	index int // position in the heap, -1 when not queued
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].tie != h[j].tie {
		return h[i].tie < h[j].tie
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *eventHeap) Push(x any) {
	e := x.(*event)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}

// Sim is a discrete-event simulation: a virtual clock and a queue of events
// ordered by virtual time. Events due at the same instant run in an order
// drawn from the seed (not the order they were scheduled), so across seeds
// every ordering of simultaneous timers and deliveries is tried; set
// FIFOTies to run them in scheduling order instead. Nothing in a Sim reads
// the wall clock or depends on goroutine scheduling, so the same seed and
// the same code give the same run, trace included.
//
// Callbacks run one at a time on the goroutine that called Run, RunFor,
// RunUntil, Step or Sleep. The methods of Sim may be called from other
// goroutines (they are guarded by a mutex), but a run is only reproducible
// when its outcome does not depend on how those goroutines are scheduled.
type Sim struct {
	mu         sync.Mutex
	seed       int64
	now        time.Duration
	seq        uint64
	queue      eventHeap
	rng        *rand.Rand
	trace      *Trace
	faults     []FaultNote
	stopped    bool
	running    bool
	broken     error
	invariants []func() error
	observers  []func()
	ties       *rand.Rand // draws the order of simultaneous events
	// MaxEvents bounds how many events one call to Run may execute before it
	// panics; 0 means DefaultMaxEvents.
	MaxEvents int
	// FIFOTies runs events due at the same instant in the order they were
	// scheduled instead of a seed-chosen order. Set it before scheduling.
	FIFOTies bool
}

// NewSim returns a simulation at virtual time 0 whose random source is seeded
// with seed.
func NewSim(seed int64) *Sim {
	s := &Sim{
		seed: seed,
		rng:  rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		// A stream of its own, so the order of ties does not shift the
		// scenario's random choices.
		ties: rand.New(rand.NewPCG(uint64(seed)^0x51ed270b27a4c3d1, uint64(seed)+0x2545f4914f6cdd1d)),
	}
	s.trace = newTrace(s, DefaultTraceSize)
	return s
}

// Seed returns the seed the simulation was created with.
func (s *Sim) Seed() int64 { return s.seed }

// Rand returns the simulation's random source. Draw every random choice of
// a scenario from it so the seed reproduces the run. It is not safe for
// concurrent use.
func (s *Sim) Rand() *rand.Rand { return s.rng }

// Trace returns the simulation's bounded event trace.
func (s *Sim) Trace() *Trace { return s.trace }

// Now returns Epoch plus the virtual time elapsed.
func (s *Sim) Now() time.Time { return Epoch.Add(s.Elapsed()) }

// Elapsed returns the virtual time since the simulation started.
func (s *Sim) Elapsed() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Since returns the virtual time elapsed since t.
func (s *Sim) Since(t time.Time) time.Duration { return s.Now().Sub(t) }

func (s *Sim) schedule(d time.Duration, label string, fn func()) *event {
	return s.scheduleAfter(d, label, fn, nil)
}

// scheduleAfter schedules fn like schedule; when prev (an event already
// queued) falls due at the same instant, the new event runs right after it
// rather than in a seed-chosen place, which keeps a link's messages in
// order.
func (s *Sim) scheduleAfter(d time.Duration, label string, fn func(), prev *event) *event {
	if d < 0 {
		d = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e := &event{at: s.now + d, seq: s.seq, fn: fn, label: label}
	switch {
	case prev != nil && prev.index >= 0 && prev.at == e.at:
		e.tie = prev.tie
	case !s.FIFOTies:
		e.tie = s.ties.Uint64()
	}
	heap.Push(&s.queue, e)
	return e
}

func (s *Sim) cancel(e *event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.index < 0 {
		return false
	}
	heap.Remove(&s.queue, e.index)
	return true
}

// Schedule runs fn at virtual time now+d. A negative d counts as 0.
func (s *Sim) Schedule(d time.Duration, fn func()) { s.schedule(d, "", fn) }

// AfterFunc calls f at virtual time now+d unless the returned timer is
// stopped first.
func (s *Sim) AfterFunc(d time.Duration, f func()) Timer {
	t := &simTimer{s: s, fn: f}
	t.ev = s.schedule(d, "", t.fn)
	return t
}

// After returns a channel (buffered, capacity 1) that receives the virtual
// time when now+d is reached. Something must run the simulation for that to
// happen.
func (s *Sim) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	s.schedule(d, "", func() {
		select {
		case ch <- s.Now():
		default:
		}
	})
	return ch
}

// Sleep runs the simulation forward by d: every event due by now+d runs, then
// the clock reads now+d. Called from inside a callback it runs the events in
// between before returning, so prefer AfterFunc there.
func (s *Sim) Sleep(d time.Duration) { s.RunFor(d) }

type simTimer struct {
	s  *Sim
	ev *event
	fn func()
}

func (t *simTimer) Stop() bool { return t.s.cancel(t.ev) }

func (t *simTimer) Reset(d time.Duration) bool {
	was := t.s.cancel(t.ev)
	t.ev = t.s.schedule(d, "", t.fn)
	return was
}

// Ticker calls a function every period until stopped.
type Ticker struct {
	s       *Sim
	period  time.Duration
	fn      func()
	ev      *event
	stopped bool
	alive   func() bool
}

// Every calls fn every d of virtual time, first at now+d, until the ticker is
// stopped. d must be positive.
func (s *Sim) Every(d time.Duration, fn func()) *Ticker {
	return s.every(d, fn, nil)
}

func (s *Sim) every(d time.Duration, fn func(), alive func() bool) *Ticker {
	if d <= 0 {
		panic("labkit: Every needs a positive period")
	}
	t := &Ticker{s: s, period: d, fn: fn, alive: alive}
	t.arm()
	return t
}

func (t *Ticker) arm() {
	t.ev = t.s.schedule(t.period, "", func() {
		if t.stopped || (t.alive != nil && !t.alive()) {
			return
		}
		t.arm()
		t.fn()
	})
}

// Stop stops the ticker; no call is made after Stop returns.
func (t *Ticker) Stop() {
	t.stopped = true
	t.s.cancel(t.ev)
}

// Pending returns the number of queued events.
func (s *Sim) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Stop makes the current Run, RunFor or RunUntil return after the event that
// is running.
func (s *Sim) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// step runs the next event if it is due at or before limit.
func (s *Sim) step(limit time.Duration, bounded bool) bool {
	s.mu.Lock()
	if s.broken != nil || len(s.queue) == 0 || (bounded && s.queue[0].at > limit) {
		s.mu.Unlock()
		return false
	}
	e := heap.Pop(&s.queue).(*event)
	if e.at > s.now {
		s.now = e.at
	}
	s.mu.Unlock()
	s.call(e.fn)
	s.checkInvariants()
	return true
}

// call runs fn and turns a panic into one that carries the seed and the end
// of the trace, which is what someone debugging it needs first.
func (s *Sim) call(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			if p, ok := r.(*simPanic); ok {
				panic(p)
			}
			panic(&simPanic{fmt.Sprintf("labkit: panic at virtual time %s (seed %d): %v\n\n%s\nLast events before the panic:\n%s",
				fmtDur(s.Elapsed()), s.seed, r, debug.Stack(), s.trace.Tail(20))})
		}
	}()
	fn()
}

// simPanic is a panic already annotated by an inner call.
type simPanic struct{ msg string }

func (p *simPanic) Error() string { return p.msg }

// Step runs the next queued event, advancing the clock to it. It reports
// whether there was one.
func (s *Sim) Step() bool { return s.step(0, false) }

// Run runs events until the queue is empty or Stop is called. It panics after
// MaxEvents events, which usually means a ticker was never stopped: use
// RunFor or RunUntil with tickers.
func (s *Sim) Run() {
	max := s.maxEvents()
	defer s.end(s.begin())
	for n := 0; !s.isStopped(); n++ {
		if n >= max {
			panic(fmt.Sprintf("labkit: Run executed %d events without the queue emptying; is a ticker still running? Use RunFor or RunUntil", max))
		}
		if !s.step(0, false) {
			return
		}
	}
}

// RunFor runs every event due within d of virtual time, then sets the clock
// to now+d (unless Stop was called, which leaves the clock at the stopping
// event).
func (s *Sim) RunFor(d time.Duration) {
	if d < 0 {
		d = 0
	}
	target := s.Elapsed() + d
	s.runTo(target)
}

// RunUntil runs events until cond returns true, checking it before the first
// event and after each one. It gives up when the next event lies more than
// limit beyond the starting time, leaves the clock at start+limit and returns
// false. It also returns false if Stop is called.
func (s *Sim) RunUntil(cond func() bool, limit time.Duration) bool {
	target := s.Elapsed() + limit
	defer s.end(s.begin())
	for n := 0; ; n++ {
		s.guard(n)
		if cond() {
			return true
		}
		if s.isStopped() {
			return false
		}
		if !s.step(target, true) {
			if s.Err() != nil {
				return false
			}
			s.advanceTo(target)
			return cond()
		}
	}
}

func (s *Sim) runTo(target time.Duration) {
	defer s.end(s.begin())
	for n := 0; !s.isStopped(); n++ {
		s.guard(n)
		if !s.step(target, true) {
			if s.Err() == nil {
				s.advanceTo(target)
			}
			return
		}
	}
}

func (s *Sim) maxEvents() int {
	if s.MaxEvents <= 0 {
		return DefaultMaxEvents
	}
	return s.MaxEvents
}

// guard stops a run that executes too many events, which usually means code
// keeps scheduling work at the same virtual instant (a message storm or a
// zero-delay loop).
func (s *Sim) guard(n int) {
	if max := s.maxEvents(); n >= max {
		panic(&simPanic{fmt.Sprintf("labkit: one run executed %d events and virtual time is %s; something keeps scheduling work (a message storm or a zero-delay loop?)\nLast events:\n%s",
			max, fmtDur(s.Elapsed()), s.trace.Tail(20))})
	}
}

// WaitPending lets other goroutines catch up: it yields the processor until
// at least n events are queued (for example n workers blocked on After or
// AfterFunc), so the test can then advance time knowing they are all
// waiting. It panics if that never happens after many yields.
func (s *Sim) WaitPending(n int) {
	for i := 0; s.Pending() < n; i++ {
		if i > 10_000_000 {
			panic(fmt.Sprintf("labkit: WaitPending(%d): only %d events queued", n, s.Pending()))
		}
		runtime.Gosched()
	}
}

// Logf adds a free-text note to the trace.
func (s *Sim) Logf(format string, args ...any) { s.trace.Logf("", format, args...) }

func (s *Sim) advanceTo(t time.Duration) {
	s.mu.Lock()
	if t > s.now {
		s.now = t
	}
	s.mu.Unlock()
}

// begin and end clear the stop flag at the outermost run only, so a Sleep
// inside a callback does not swallow a Stop meant for the outer Run.
func (s *Sim) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	outer := !s.running
	if outer {
		s.running = true
		s.stopped = s.broken != nil
	}
	return outer
}

func (s *Sim) end(outer bool) {
	if outer {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}
}

func (s *Sim) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// FaultNote is one fault injected into a run, as shown in failure reports.
type FaultNote struct {
	At   time.Duration
	Text string
}

// NoteFault records a fault that the scenario injected (the network records
// its own: partitions, one-way blocks, link loss, crashes, restarts). Failure
// reports list them under "Faults injected".
func (s *Sim) NoteFault(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	at := s.Elapsed()
	s.mu.Lock()
	s.faults = append(s.faults, FaultNote{At: at, Text: text})
	s.mu.Unlock()
	s.trace.add(TraceEvent{At: at, Kind: KindFault, Detail: text})
}

// Faults returns the faults recorded so far, oldest first.
func (s *Sim) Faults() []FaultNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FaultNote(nil), s.faults...)
}

// RealClock is the Clock of the real world, for using lab code outside tests.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Since returns time.Since(t).
func (RealClock) Since(t time.Time) time.Duration { return time.Since(t) }

// AfterFunc wraps time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return realTimer{time.AfterFunc(d, f)} }

// After wraps time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Sleep wraps time.Sleep.
func (RealClock) Sleep(d time.Duration) { time.Sleep(d) }

type realTimer struct{ t *time.Timer }

func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

var (
	_ Clock = (*Sim)(nil)
	_ Clock = RealClock{}
)

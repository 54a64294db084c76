// Package circuitbreaker guards calls to a dependency that can fail. After
// enough consecutive failures the breaker opens and fails fast; after a pause
// it lets a few trial calls through and closes again if they succeed.
package circuitbreaker

import (
	"errors"
	"sync"
	"time"

	"faultline.dev/labkit"
)

// State is the position of a breaker.
type State int

const (
	Closed   State = iota // calls flow; consecutive failures are counted
	Open                  // calls fail fast with ErrOpen
	HalfOpen              // a limited number of trial calls are let through
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

// ErrOpen is returned by Call, without calling the function, when the breaker
// does not admit the call.
var ErrOpen = errors.New("circuit breaker is open")

// Settings configure a Breaker. Zero values take the defaults.
type Settings struct {
	FailureThreshold int           // consecutive failures that open the breaker (default 5)
	OpenTimeout      time.Duration // time spent open before trials start (default 30s)
	HalfOpenMaxCalls int           // trial calls in flight at once while half-open (default 1)
	SuccessThreshold int           // successful trials that close the breaker (default 1)
	// Clock is the only time source the breaker may read: a *labkit.Sim in
	// tests, labkit.RealClock{} in production (the default when nil).
	Clock labkit.Clock
}

// Breaker is a circuit breaker. It is safe for concurrent use.
type Breaker struct {
	s Settings

	mu        sync.Mutex
	state     State
	gen       uint64 // bumped on every state change; results of older generations are ignored
	failures  int    // consecutive failures while closed
	successes int    // successful trials while half-open
	inFlight  int    // trials running while half-open
	openedAt  time.Time
}

// New returns a closed breaker with settings s (defaults filled in).
func New(s Settings) *Breaker {
	if s.FailureThreshold <= 0 {
		s.FailureThreshold = 5
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = 30 * time.Second
	}
	if s.HalfOpenMaxCalls <= 0 {
		s.HalfOpenMaxCalls = 1
	}
	if s.SuccessThreshold <= 0 {
		s.SuccessThreshold = 1
	}
	if s.Clock == nil {
		s.Clock = labkit.RealClock{}
	}
	return &Breaker{s: s, state: Closed}
}

// State returns the breaker's current state. An open breaker whose timeout has
// passed reports HalfOpen.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refresh(b.s.Clock.Now())
	return b.state
}

// Call runs fn if the breaker admits it and returns fn's error unchanged. It
// returns ErrOpen without running fn when the breaker is open, or half-open
// with HalfOpenMaxCalls trials already in flight.
func (b *Breaker) Call(fn func() error) error {
	gen, err := b.admit()
	if err != nil {
		return err
	}
	err = fn()
	b.record(gen, err)
	return err
}

func (b *Breaker) admit() (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refresh(b.s.Clock.Now())
	switch b.state {
	case Open:
		return 0, ErrOpen
	case HalfOpen:
		if b.inFlight >= b.s.HalfOpenMaxCalls {
			return 0, ErrOpen
		}
		b.inFlight++
	}
	return b.gen, nil
}

func (b *Breaker) record(gen uint64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return // admitted before the last state change: stale
	}
	switch b.state {
	case Closed:
		if err == nil {
			b.failures = 0
			return
		}
		b.failures++
		if b.failures >= b.s.FailureThreshold {
			b.setState(Open, b.s.Clock.Now())
		}
	case HalfOpen:
		b.inFlight--
		if err != nil {
			b.setState(Open, b.s.Clock.Now())
			return
		}
		b.successes++
		if b.successes >= b.s.SuccessThreshold {
			b.setState(Closed, b.s.Clock.Now())
		}
	}
}

// refresh moves an open breaker to half-open once its timeout has passed.
func (b *Breaker) refresh(now time.Time) {
	if b.state == Open && !now.Before(b.openedAt.Add(b.s.OpenTimeout)) {
		b.setState(HalfOpen, now)
	}
}

func (b *Breaker) setState(s State, now time.Time) {
	b.state = s
	b.gen++
	b.failures = 0
	b.successes = 0
	b.inFlight = 0
	if s == Open && b.openedAt.IsZero() {
		b.openedAt = now
	}
}

// Package bulkhead isolates dependencies from one another by giving each one
// a fixed number of concurrent calls and a bounded waiting queue.
//
// Keep every exported name and signature as it is; fill in the TODOs.
package bulkhead

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrRejected is returned at once when every slot is busy and the queue is
// full: the call is shed without waiting.
var ErrRejected = errors.New("bulkhead: rejected, queue is full")

// ErrTimeout is returned when a call waited QueueTimeout in the queue without
// getting a slot.
var ErrTimeout = errors.New("bulkhead: timed out waiting in the queue")

// Clock gives the bulkhead its timers. The tests pass a *labkit.Sim (virtual
// time); nil means the real clock.
type Clock interface {
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config sizes one bulkhead.
type Config struct {
	MaxConcurrent int           // calls running at once; values below 1 mean 1
	MaxQueue      int           // calls waiting at once; negative values mean 0
	QueueTimeout  time.Duration // longest wait in the queue; 0 or less means no limit
	Clock         Clock         // nil means the real clock
}

// Bulkhead bounds the calls to one dependency.
type Bulkhead struct {
	cfg Config
	mu  sync.Mutex
	// TODO: how many calls run now, and the waiting calls in arrival order.
}

// New returns a bulkhead with the given limits.
func New(cfg Config) *Bulkhead {
	if cfg.MaxConcurrent < 1 {
		cfg.MaxConcurrent = 1
	}
	if cfg.MaxQueue < 0 {
		cfg.MaxQueue = 0
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return &Bulkhead{cfg: cfg}
}

// Do runs fn when a slot is free and returns its error. It returns
// ErrRejected at once when the queue is full, ErrTimeout after waiting
// QueueTimeout, or ctx.Err() when ctx ends first; in those cases fn never runs.
func (b *Bulkhead) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	// TODO:
	//  - ctx already ended: return ctx.Err().
	//  - a slot is free and nobody waits: take it and run fn.
	//  - the queue is full: return ErrRejected.
	//  - otherwise join the queue, then call b.cfg.Clock.After(QueueTimeout)
	//    once, and wait for a slot, the timer, or ctx.Done().
	// Free the slot when fn returns (hand it to the oldest waiter).
	return errors.New("bulkhead: Do is not implemented yet")
}

// InFlight returns the number of calls running now.
func (b *Bulkhead) InFlight() int {
	// TODO
	return 0
}

// Queued returns the number of calls waiting now.
func (b *Bulkhead) Queued() int {
	// TODO
	return 0
}

// Registry holds one bulkhead per dependency name.
type Registry struct {
	cfg Config
	// TODO: the bulkheads by name, safe for concurrent use.
}

// NewRegistry returns a registry whose bulkheads are all built with cfg.
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg}
}

// Get returns the bulkhead for name, creating it on first use. The same name
// always gives the same bulkhead.
func (r *Registry) Get(name string) *Bulkhead {
	// TODO
	return New(r.cfg)
}

// Do runs fn in the bulkhead for name.
func (r *Registry) Do(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	return r.Get(name).Do(ctx, fn)
}

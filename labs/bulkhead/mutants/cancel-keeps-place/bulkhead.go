// Package bulkhead isolates dependencies from one another by giving each one
// a fixed number of concurrent calls and a bounded waiting queue.
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

// Clock gives the bulkhead its timers. *labkit.Sim satisfies it; nil means
// the real clock.
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

// waiter is one call waiting in the queue. ready is closed when a finishing
// call hands it its slot.
type waiter struct {
	ready    chan struct{}
	admitted bool
}

// Bulkhead bounds the calls to one dependency.
type Bulkhead struct {
	cfg      Config
	mu       sync.Mutex
	inFlight int
	queue    []*waiter
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
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if b.inFlight < b.cfg.MaxConcurrent && len(b.queue) == 0 {
		b.inFlight++
		b.mu.Unlock()
		return b.run(ctx, fn)
	}
	if len(b.queue) >= b.cfg.MaxQueue {
		b.mu.Unlock()
		return ErrRejected
	}
	w := &waiter{ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.mu.Unlock()

	var timeout <-chan time.Time
	if b.cfg.QueueTimeout > 0 {
		timeout = b.cfg.Clock.After(b.cfg.QueueTimeout)
	}
	select {
	case <-w.ready:
		return b.run(ctx, fn)
	case <-timeout:
		if b.leave(w) {
			return ErrTimeout
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	// The slot was handed over just as the wait ended: the call owns it.
	return b.run(ctx, fn)
}

// leave takes w out of the queue and reports whether it was still waiting;
// false means it has already been given a slot.
func (b *Bulkhead) leave(w *waiter) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.admitted {
		return false
	}
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			break
		}
	}
	return true
}

// run calls fn in a slot the caller owns and frees the slot afterwards.
func (b *Bulkhead) run(ctx context.Context, fn func(ctx context.Context) error) error {
	defer b.release()
	return fn(ctx)
}

// release hands the slot to the oldest waiter, or frees it.
func (b *Bulkhead) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) > 0 {
		w := b.queue[0]
		b.queue = b.queue[1:]
		w.admitted = true
		close(w.ready)
		return
	}
	b.inFlight--
}

// InFlight returns the number of calls running now.
func (b *Bulkhead) InFlight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inFlight
}

// Queued returns the number of calls waiting now.
func (b *Bulkhead) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Registry holds one bulkhead per dependency name.
type Registry struct {
	cfg Config
	mu  sync.Mutex
	m   map[string]*Bulkhead
}

// NewRegistry returns a registry whose bulkheads are all built with cfg.
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg, m: map[string]*Bulkhead{}}
}

// Get returns the bulkhead for name, creating it on first use. The same name
// always gives the same bulkhead.
func (r *Registry) Get(name string) *Bulkhead {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.m[name]
	if !ok {
		b = New(r.cfg)
		r.m[name] = b
	}
	return b
}

// Do runs fn in the bulkhead for name.
func (r *Registry) Do(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	return r.Get(name).Do(ctx, fn)
}

// Package retry retries failing operations with capped exponential backoff,
// full jitter, deadlines and a retry budget.
//
// Read README.md for the full specification. The types and signatures below
// are graded as they are: keep them, and fill in the TODOs.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Clock is the time source Do reads and waits on. Tests pass a virtual
// clock; production code passes a clock backed by the time package.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives a value once d has passed.
	After(d time.Duration) <-chan time.Time
}

// ErrBudgetExhausted is joined to the last error when Do stops because the
// retry budget has no token left.
var ErrBudgetExhausted = errors.New("retry: retry budget exhausted")

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent marks err as an error that retrying cannot fix. Do returns it at
// once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Budget caps retries across every caller that shares it: it starts with max
// tokens, each successful attempt earns perSuccess tokens (never above max)
// and each retry spends one. It is safe for concurrent use.
type Budget struct {
	mu         sync.Mutex
	tokens     float64
	max        float64
	perSuccess float64
}

// NewBudget returns a full budget.
func NewBudget(max, perSuccess float64) *Budget {
	return &Budget{tokens: max, max: max, perSuccess: perSuccess}
}

// Tokens returns the tokens left.
func (b *Budget) Tokens() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens
}

func (b *Budget) earn() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.max, b.tokens+b.perSuccess)
}

func (b *Budget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Policy says how Do retries.
type Policy struct {
	BaseDelay   time.Duration // ceiling of the first retry's delay
	MaxDelay    time.Duration // no ceiling is larger than this
	MaxAttempts int           // attempts in all, the first included; < 1 means 1
	Budget      *Budget       // shared by all callers; nil means no budget
}

// Retryer runs operations under a Policy. It is safe for concurrent use.
type Retryer struct {
	p     Policy
	clock Clock
	mu    sync.Mutex // guards rng, which is not safe for concurrent use
	rng   *rand.Rand
}

// New returns a Retryer that reads time from clock and draws jitter from rng.
func New(p Policy, clock Clock, rng *rand.Rand) *Retryer {
	return &Retryer{p: p, clock: clock, rng: rng}
}

// Ceiling returns the largest delay allowed before retry n (n >= 1):
// min(MaxDelay, BaseDelay × 2^(n-1)), computed without overflow.
func (r *Retryer) Ceiling(n int) time.Duration {
	base, limit := max(r.p.BaseDelay, 0), max(r.p.MaxDelay, 0)
	c := base
	for i := 1; i < n && c < limit; i++ {
		c *= 2
	}
	return min(c, limit)
}

// delay draws the full-jitter delay before retry n.
func (r *Retryer) delay(n int) time.Duration {
	c := r.Ceiling(n)
	r.mu.Lock()
	defer r.mu.Unlock()
	return c
}

// Do calls op until it succeeds, fails permanently, or Do decides to stop.
// See README.md for the exact rules and return values.
func (r *Retryer) Do(ctx context.Context, op func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	attempts := max(r.p.MaxAttempts, 1)
	for n := 1; ; n++ {
		err := op(ctx)
		if err == nil {
			if r.p.Budget != nil {
				r.p.Budget.earn()
			}
			return nil
		}
		if IsPermanent(err) || n >= attempts {
			return err
		}
		d := r.delay(n)
		if dl, ok := ctx.Deadline(); ok && !r.clock.Now().Add(d).Before(dl) {
			return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		if r.p.Budget != nil && !r.p.Budget.spend() {
			return fmt.Errorf("%w: %w", ErrBudgetExhausted, err)
		}
		select {
		case <-r.clock.After(d):
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
}

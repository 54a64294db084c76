// Package ratelimit is a token-bucket rate limiter.
//
// Read README.md for the full specification. The types and signatures below
// are graded as they are: keep them, and fill in the TODOs.
package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Clock is the time source the limiter reads. Tests pass a virtual clock;
// production code passes a clock backed by the time package.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives a value once d has passed.
	After(d time.Duration) <-chan time.Time
}

// ErrWouldExceedDeadline is returned by Wait when the token would not be
// available before the context's deadline. Wait gives up at once instead of
// sleeping until a moment it already knows is too late.
var ErrWouldExceedDeadline = errors.New("ratelimit: the wait would pass the context deadline")

// Limiter is a token bucket: it holds up to burst tokens and earns one token
// every interval. It is safe for concurrent use.
type Limiter struct {
	mu    sync.Mutex
	every time.Duration
	burst int
	clock Clock
	last  time.Time // the instant credit was last brought up to date
	// credit is the bucket's content measured in time: tokens × every. It is
	// an integer number of nanoseconds, so refills are exact and never drift.
	// It goes negative while Wait callers hold reservations.
	credit time.Duration
}

// New returns a full bucket (burst tokens) that earns one token every
// interval. It panics if every <= 0 or burst < 1.
func New(every time.Duration, burst int, clock Clock) *Limiter {
	if every <= 0 || burst < 1 {
		panic("ratelimit: New needs every > 0 and burst >= 1")
	}
	return &Limiter{
		every:  every,
		burst:  burst,
		clock:  clock,
		last:   clock.Now(),
		credit: time.Duration(burst) * every,
	}
}

// capacity is a full bucket, in credit.
func (l *Limiter) capacity() time.Duration { return time.Duration(l.burst) * l.every }

// advance adds the credit earned since l.last, capped at a full bucket.
// The caller holds l.mu.
func (l *Limiter) advance(now time.Time) {
	if !now.After(l.last) {
		return // a clock that stands still (or steps back) earns nothing
	}
	earned := now.Sub(l.last) / l.every * l.every // whole tokens only
	l.credit = min(l.credit+earned, l.capacity())
	l.last = now
}

// Tokens returns the number of tokens in the bucket now (negative while
// Wait callers hold reservations).
func (l *Limiter) Tokens() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(l.clock.Now())
	return float64(l.credit) / float64(l.every)
}

// Allow is AllowN(1).
func (l *Limiter) Allow() bool { return l.AllowN(1) }

// AllowN takes n tokens if the bucket holds at least n and reports whether
// it did. It takes all n or none. n <= 0 is always allowed and takes
// nothing; n > burst is never allowed.
func (l *Limiter) AllowN(n int) bool {
	if n <= 0 {
		return true
	}
	if n > l.burst {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advance(l.clock.Now())
	need := time.Duration(n) * l.every
	if l.credit < need {
		return false
	}
	l.credit -= need
	return true
}

// Wait takes one token, waiting for it if the bucket is empty. It returns
// ctx.Err() at once if ctx is already done, ErrWouldExceedDeadline at once if
// the token would come after ctx's deadline, and ctx.Err() if ctx is done
// while it waits, in which case the token goes back into the bucket.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.clock.Now()
	l.advance(now)
	var delay time.Duration
	if l.credit < l.every {
		delay = l.every - l.credit
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(delay).After(dl) {
		l.mu.Unlock()
		return ErrWouldExceedDeadline
	}
	l.credit -= l.every // the token is ours now, even if it is not there yet
	l.mu.Unlock()
	if delay == 0 {
		return nil
	}
	select {
	case <-l.clock.After(delay):
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		l.advance(l.clock.Now())
		l.credit = min(l.credit+l.every, l.capacity())
		l.mu.Unlock()
		return ctx.Err()
	}
}

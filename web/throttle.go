package web

import (
	"sync"
	"time"
)

// throttle counts failures per key (email and client IP for logins) and
// blocks a key after max failures within window.
type throttle struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	m      map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

// maxThrottleKeys bounds the memory a flood of distinct keys can take.
const maxThrottleKeys = 100_000

func newThrottle(max int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{max: max, window: window, now: now, m: map[string]*failures{}}
}

// allowed reports whether key may try again.
func (t *throttle) allowed(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[key]
	if !ok {
		return true
	}
	if t.now().Sub(f.first) >= t.window {
		delete(t.m, key)
		return true
	}
	return f.n < t.max
}

// fail records a failure for key.
func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f, ok := t.m[key]
	if !ok || now.Sub(f.first) >= t.window {
		if len(t.m) >= maxThrottleKeys {
			t.sweep(now)
		}
		t.m[key] = &failures{n: 1, first: now}
		return
	}
	f.n++
}

// reset forgets key's failures (after a successful login).
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// sweep drops expired entries; if none expired, it drops everything rather
// than grow without bound. The caller holds mu.
func (t *throttle) sweep(now time.Time) {
	for k, f := range t.m {
		if now.Sub(f.first) >= t.window {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxThrottleKeys {
		clear(t.m)
	}
}

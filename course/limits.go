package course

import (
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// replaySlots bounds the replays running at once: slots in all, and one per
// user, so one learner never holds more than their share.
type replaySlots struct {
	mu     sync.Mutex
	slots  int
	inUse  int
	byUser map[int64]bool
}

func newReplaySlots(slots int) *replaySlots {
	return &replaySlots{slots: max(slots, 1), byUser: map[int64]bool{}}
}

// acquire takes a slot for userID, or returns ETOOMANY with a retry time
// when the user already runs a replay or every slot is taken.
func (r *replaySlots) acquire(userID int64) (release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byUser[userID] {
		return nil, faultline.RetryLater(10*time.Second, "Your other replay is still running; wait for it to finish.")
	}
	if r.inUse >= r.slots {
		return nil, faultline.RetryLater(10*time.Second, "Other replays are running; try again in a few seconds.")
	}
	r.inUse++
	r.byUser[userID] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.inUse--
			delete(r.byUser, userID)
		})
	}, nil
}

// throttle counts failures per key (email and client address for
// sign-ins) and blocks a key after max failures within window.
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

// reset forgets key's failures (after a successful sign-in).
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

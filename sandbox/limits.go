package sandbox

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// Defaults of the lifecycle limits in ManagerOptions.
const (
	// DefaultMaxLife is the hard cap on a sandbox's life, however active it
	// is: the reaper stops it then, and the learner starts it again with
	// the saved files.
	DefaultMaxLife = 12 * time.Hour
	// DefaultMaxStarts is how many cold sandbox starts may run at once.
	DefaultMaxStarts = 4

	// startHistory is how many recent start durations the estimate uses.
	startHistory = 16
	// startGuess is the expected start duration before any start finished.
	startGuess = 10 * time.Second
	// minRetry is the shortest wait a busy answer suggests.
	minRetry = 2 * time.Second
)

// BusyError is the error Start returns when too many sandboxes are starting
// at once. Its code is ETOOMANY (faultline.ErrorCode sees through it) and its
// message says when to retry; RetryAfter gives the same wait for a
// Retry-After header.
type BusyError struct {
	Err   *faultline.Error
	After time.Duration
}

func (e *BusyError) Error() string { return e.Err.Error() }

// Unwrap returns the *faultline.Error with the code and message.
func (e *BusyError) Unwrap() error { return e.Err }

// RetryAfter is the suggested wait before starting again, whole seconds.
func (e *BusyError) RetryAfter() time.Duration { return e.After }

// startGate caps the starts that run at once and estimates, from how long
// recent starts took, when a place frees up. It never blocks: a start that
// finds every place taken is refused at once, so a learner is told to come
// back instead of waiting behind a queue of unknown length.
type startGate struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	running map[uint64]time.Time // start times of the starts holding a place
	next    uint64
	recent  []time.Duration // durations of the last successful starts, oldest first
}

func newStartGate(max int, now func() time.Time) *startGate {
	return &startGate{max: max, now: now, running: map[uint64]time.Time{}}
}

// acquire takes a place for one start. It returns release, which the start
// calls once with whether it succeeded (only successful starts feed the
// estimate: a start that fails at once says nothing about how long one
// takes), or a *BusyError when every place is taken.
func (g *startGate) acquire() (release func(ok bool), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if len(g.running) >= g.max {
		wait := g.estimate(now)
		secs := int(math.Ceil(wait.Seconds()))
		return nil, &BusyError{
			Err:   faultline.Errorf(faultline.ETOOMANY, "Many labs are starting right now; retry in %d s.", secs),
			After: time.Duration(secs) * time.Second,
		}
	}
	g.next++
	id := g.next
	g.running[id] = now
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			began := g.running[id]
			delete(g.running, id)
			if ok {
				g.recent = append(g.recent, max(g.now().Sub(began), 0))
				if len(g.recent) > startHistory {
					g.recent = g.recent[len(g.recent)-startHistory:]
				}
			}
		})
	}, nil
}

// estimate returns how long until a place is likely free: the typical
// (median) recent start duration minus how long the oldest running start
// has been going, at least minRetry (a start running longer than usual
// should end soon, but "now" would be a guess). Callers hold g.mu.
func (g *startGate) estimate(now time.Time) time.Duration {
	typical := startGuess
	if len(g.recent) > 0 {
		s := slices.Clone(g.recent)
		slices.Sort(s)
		typical = s[len(s)/2]
	}
	var oldest time.Time
	for _, t := range g.running {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	wait := typical
	if !oldest.IsZero() {
		wait = typical - now.Sub(oldest)
	}
	return max(wait, minRetry)
}

// inFlight returns how many starts hold a place now.
func (g *startGate) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.running)
}

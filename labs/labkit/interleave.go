package labkit

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// Interleaver makes the interleavings of goroutines that share code under
// test follow a seed, so a check-then-act race shows up on every run of the
// same seed instead of once in a while.
//
// Go does not let a test schedule goroutines itself, but it can choose where
// they switch: Run runs the goroutines with GOMAXPROCS set to 1, so they take
// turns rather than run truly at once, and the clock the code under test
// reads (wrap it with Clock) yields the processor a seed-drawn number of
// times on every call. Code that checks shared state, reads the clock, then
// acts lets the other goroutines run right there, in an order the seed
// decides. Run several seeds (RunSeeds, or a loop over Seeds) so that
// several orders are tried; a race whose window holds a clock read is then
// caught on every grade.
type Interleaver struct {
	mu   sync.Mutex
	rng  *rand.Rand
	max  int
	hits int
}

// NewInterleaver returns an interleaver for seed. Each clock call yields 0
// to 3 times.
func NewInterleaver(seed int64) *Interleaver {
	return &Interleaver{rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x6a09e667f3bcc909)), max: 3}
}

// Point is a scheduling point: it yields the processor a seed-drawn number
// of times (possibly none). Call it where a goroutine may be preempted; the
// clocks returned by Clock call it on every method.
func (iv *Interleaver) Point() {
	iv.mu.Lock()
	n := iv.rng.IntN(iv.max + 1)
	iv.hits++
	iv.mu.Unlock()
	for range n {
		runtime.Gosched()
	}
}

// Points returns how many scheduling points were passed.
func (iv *Interleaver) Points() int {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return iv.hits
}

// Run starts n goroutines running fn(i), releases them together and waits
// for all of them, with GOMAXPROCS set to 1 meanwhile (restored after), so
// the only switches between them are where they block or pass a Point.
func (iv *Interleaver) Run(n int, fn func(i int)) { iv.Go(n, fn)() }

// Go is Run without the waiting: it starts the goroutines and returns a
// function that waits for them and restores GOMAXPROCS. Use it when the
// test must act while they run (release calls it left blocked, say); call
// the returned function before the test ends.
func (iv *Interleaver) Go(n int, fn func(i int)) (wait func()) {
	prev := runtime.GOMAXPROCS(1)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			iv.Point()
			fn(i)
		}()
	}
	close(start)
	var once sync.Once
	return func() {
		once.Do(func() {
			wg.Wait()
			runtime.GOMAXPROCS(prev)
		})
	}
}

// Clock wraps c so that every method passes a scheduling point first.
func (iv *Interleaver) Clock(c Clock) Clock { return yieldClock{c, iv} }

type yieldClock struct {
	c  Clock
	iv *Interleaver
}

func (y yieldClock) Now() time.Time {
	y.iv.Point()
	return y.c.Now()
}

func (y yieldClock) Since(t time.Time) time.Duration {
	y.iv.Point()
	return y.c.Since(t)
}

func (y yieldClock) AfterFunc(d time.Duration, f func()) Timer {
	y.iv.Point()
	return y.c.AfterFunc(d, f)
}

func (y yieldClock) After(d time.Duration) <-chan time.Time {
	y.iv.Point()
	return y.c.After(d)
}

func (y yieldClock) Sleep(d time.Duration) {
	y.iv.Point()
	y.c.Sleep(d)
}

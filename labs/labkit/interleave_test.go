package labkit_test

import (
	"sync"
	"testing"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// bucket hands out one token. take checks, reads the clock, then takes:
// with split set it releases the lock in between (a check-then-act race).
type bucket struct {
	mu     sync.Mutex
	tokens int
	clock  labkit.Clock
	split  bool
}

func (b *bucket) take() bool {
	b.mu.Lock()
	ok := b.tokens > 0
	if b.split {
		b.mu.Unlock()
	}
	b.clock.Now()
	if b.split {
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if ok {
		b.tokens--
	}
	return ok
}

func TestInterleaverCatchesCheckThenAct(t *testing.T) {
	for _, split := range []bool{false, true} {
		caught := 0
		for seed := int64(1); seed <= 10; seed++ {
			iv := labkit.NewInterleaver(seed)
			b := &bucket{tokens: 1, clock: iv.Clock(labkit.NewSim(seed)), split: split}
			var mu sync.Mutex
			taken := 0
			iv.Run(8, func(int) {
				if b.take() {
					mu.Lock()
					taken++
					mu.Unlock()
				}
			})
			if taken > 1 {
				caught++
			}
			if iv.Points() < 16 {
				t.Errorf("seed %d: %d scheduling points passed, want one per goroutine start and clock read", seed, iv.Points())
			}
		}
		switch {
		case !split && caught > 0:
			t.Errorf("a bucket that checks and takes under one lock handed out its one token twice in %d of 10 seeds", caught)
		case split && caught < 3:
			t.Errorf("the check-then-act race showed in only %d of 10 seeds", caught)
		}
	}
}

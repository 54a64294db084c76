package ratelimit

import (
	"context"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// The visible tests drive the limiter with labkit's virtual clock: a
// *labkit.Sim has Now and After, so it is a Clock. sim.RunFor(d) moves
// virtual time forward by d; nothing here sleeps.

func TestStartsFull(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	lim := New(time.Second, 3, sim)
	for i := 1; i <= 3; i++ {
		if !lim.Allow() {
			t.Fatalf("request %d of 3 on a new bucket of burst 3 was refused; a new bucket starts full", i)
		}
	}
	if lim.Allow() {
		t.Fatalf("a 4th request at the same instant was admitted by a bucket of burst 3")
	}
}

func TestRefillsOneTokenPerInterval(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	lim := New(100*time.Millisecond, 1, sim)
	lim.Allow() // empty the bucket
	sim.RunFor(100*time.Millisecond - time.Nanosecond)
	if lim.Allow() {
		t.Fatalf("a token appeared 1ns before the 100ms refill interval had passed")
	}
	sim.RunFor(time.Nanosecond)
	if !lim.Allow() {
		t.Fatalf("no token exactly 100ms after the bucket was emptied")
	}
	// Over ten seconds of one request per millisecond: 100 admitted.
	n := 0
	for i := 0; i < 10000; i++ {
		sim.RunFor(time.Millisecond)
		if lim.Allow() {
			n++
		}
	}
	if n != 100 {
		t.Fatalf("10s of one request per ms admitted %d, want exactly 100 (one every 100ms)", n)
	}
}

func TestWaitBlocksUntilToken(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	lim := New(time.Second, 1, sim)
	lim.Allow()
	done := make(chan error, 1)
	go func() { done <- lim.Wait(context.Background()) }()
	// Wait should now ask the clock to wake it (After), which queues one
	// event in the simulation. Give it up to two seconds of real time.
	for deadline := time.Now().Add(2 * time.Second); sim.Pending() < 1; time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Wait returned %v at once from an empty bucket; it must wait for the next token", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Wait on an empty bucket never called clock.After to wait for the next token")
		}
	}
	sim.RunFor(time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait returned %v, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("Wait did not return once its token was due")
	}
}

package circuitbreaker

import (
	"errors"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// The visible tests drive the breaker with labkit's virtual clock: a
// *labkit.Sim is a labkit.Clock, and sim.RunFor(d) moves its time forward by
// d. Nothing here sleeps, so a breaker that reads time.Now directly fails.

var errBoom = errors.New("boom")

func fail() error    { return errBoom }
func succeed() error { return nil }

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Closed: "closed", Open: "open", HalfOpen: "half-open"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestOpensAfterThreshold(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	b := New(Settings{FailureThreshold: 3, OpenTimeout: time.Minute, Clock: sim})
	for i := 1; i <= 2; i++ {
		if err := b.Call(fail); err != errBoom {
			t.Fatalf("failure %d: Call returned %v, want the function's error", i, err)
		}
		if s := b.State(); s != Closed {
			t.Fatalf("after %d failures state is %v, want closed", i, s)
		}
	}
	b.Call(fail)
	if s := b.State(); s != Open {
		t.Fatalf("after 3 failures state is %v, want open", s)
	}
	called := false
	err := b.Call(func() error { called = true; return nil })
	if !errors.Is(err, ErrOpen) {
		t.Errorf("Call on an open breaker returned %v, want ErrOpen", err)
	}
	if called {
		t.Errorf("an open breaker called the function")
	}
}

func TestClosesAfterTrialSuccess(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	b := New(Settings{FailureThreshold: 1, OpenTimeout: 10 * time.Second, Clock: sim})
	b.Call(fail)
	if s := b.State(); s != Open {
		t.Fatalf("state is %v, want open", s)
	}
	sim.RunFor(10 * time.Second)
	if s := b.State(); s != HalfOpen {
		t.Fatalf("after the open timeout (virtual time %s) state is %v, want half-open", sim.Elapsed(), s)
	}
	if err := b.Call(succeed); err != nil {
		t.Fatalf("trial call returned %v, want nil", err)
	}
	if s := b.State(); s != Closed {
		t.Fatalf("after a successful trial state is %v, want closed", s)
	}
}

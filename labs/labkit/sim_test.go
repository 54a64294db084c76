package labkit_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

func TestEventsRunInVirtualTimeOrder(t *testing.T) {
	sim := labkit.NewSim(1)
	sim.FIFOTies = true // ties in scheduling order (TestTiesRunInSeedChosenOrder covers the default)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, fmt.Sprintf("%s@%s", name, sim.Elapsed())) }
	}
	sim.Schedule(30*time.Millisecond, at("c"))
	sim.Schedule(10*time.Millisecond, at("a"))
	sim.Schedule(20*time.Millisecond, at("b1"))
	sim.Schedule(20*time.Millisecond, at("b2")) // same time: scheduling order (FIFOTies)
	sim.Schedule(-5*time.Millisecond, at("now"))
	sim.Run()
	want := []string{"now@0s", "a@10ms", "b1@20ms", "b2@20ms", "c@30ms"}
	if !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	if !sim.Now().Equal(labkit.Epoch.Add(30 * time.Millisecond)) {
		t.Fatalf("Now = %v", sim.Now())
	}
	sim.RunFor(time.Second)
	if sim.Elapsed() != 1030*time.Millisecond {
		t.Fatalf("after RunFor(1s) Elapsed = %v, want 1.03s", sim.Elapsed())
	}
}

func TestNestedSchedulingAndSleep(t *testing.T) {
	sim := labkit.NewSim(1)
	var got []time.Duration
	sim.Schedule(time.Second, func() {
		got = append(got, sim.Elapsed())
		sim.Schedule(0, func() { got = append(got, sim.Elapsed()) })
	})
	sim.Sleep(1500 * time.Millisecond)
	if !slices.Equal(got, []time.Duration{time.Second, time.Second}) || sim.Elapsed() != 1500*time.Millisecond {
		t.Fatalf("got %v at %v", got, sim.Elapsed())
	}
	ch := sim.After(time.Second)
	select {
	case <-ch:
		t.Fatal("After fired before time advanced")
	default:
	}
	sim.RunFor(time.Second)
	select {
	case now := <-ch:
		if !now.Equal(labkit.Epoch.Add(2500 * time.Millisecond)) {
			t.Fatalf("After delivered %v", now)
		}
	default:
		t.Fatal("After did not fire")
	}
}

func TestTimersStopAndReset(t *testing.T) {
	sim := labkit.NewSim(1)
	fired := map[string]time.Duration{}
	mark := func(n string) func() { return func() { fired[n] = sim.Elapsed() } }
	a := sim.AfterFunc(time.Second, mark("a"))
	b := sim.AfterFunc(time.Second, mark("b"))
	c := sim.AfterFunc(time.Second, mark("c"))
	if !a.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if a.Stop() {
		t.Fatal("second Stop returned true")
	}
	if !b.Reset(3 * time.Second) {
		t.Fatal("Reset of a pending timer returned false")
	}
	sim.RunFor(2 * time.Second)
	if c.Stop() {
		t.Fatal("Stop after firing returned true")
	}
	c.Reset(time.Second) // re-arm a fired timer
	sim.Run()
	if _, ok := fired["a"]; ok {
		t.Fatal("stopped timer fired")
	}
	if fired["b"] != 3*time.Second || fired["c"] != 3*time.Second {
		t.Fatalf("fired = %v", fired)
	}
}

func TestTickerTicksAndStops(t *testing.T) {
	sim := labkit.NewSim(1)
	var ticks []time.Duration
	var tk *labkit.Ticker
	tk = sim.Every(100*time.Millisecond, func() {
		ticks = append(ticks, sim.Elapsed())
		if len(ticks) == 5 {
			tk.Stop()
		}
	})
	sim.RunFor(time.Second)
	if len(ticks) != 5 || ticks[0] != 100*time.Millisecond || ticks[4] != 500*time.Millisecond {
		t.Fatalf("ticks = %v", ticks)
	}
	if sim.Pending() != 0 {
		t.Fatalf("%d events pending after the ticker stopped", sim.Pending())
	}
	n := 0
	tk2 := sim.Every(time.Second, func() { n++ })
	sim.RunFor(3 * time.Second)
	tk2.Stop()
	sim.RunFor(3 * time.Second)
	if n != 3 {
		t.Fatalf("ticker ticked %d times, want 3", n)
	}
}

func TestRunUntilAndStop(t *testing.T) {
	sim := labkit.NewSim(1)
	n := 0
	sim.Every(10*time.Millisecond, func() { n++ })
	if !sim.RunUntil(func() bool { return n == 7 }, time.Second) || sim.Elapsed() != 70*time.Millisecond {
		t.Fatalf("RunUntil: n=%d at %v", n, sim.Elapsed())
	}
	if sim.RunUntil(func() bool { return n < 0 }, 500*time.Millisecond) {
		t.Fatal("RunUntil reported an impossible condition as met")
	}
	if sim.Elapsed() != 570*time.Millisecond {
		t.Fatalf("RunUntil gave up at %v, want 570ms", sim.Elapsed())
	}
	sim.Schedule(5*time.Millisecond, sim.Stop)
	sim.RunFor(time.Second)
	if sim.Elapsed() != 575*time.Millisecond {
		t.Fatalf("Stop left the clock at %v, want 575ms", sim.Elapsed())
	}
}

func TestRunPanicsOnEndlessTicker(t *testing.T) {
	sim := labkit.NewSim(1)
	sim.MaxEvents = 100
	sim.Every(time.Millisecond, func() {})
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "ticker") {
			t.Fatalf("recover() = %v, want a panic about tickers", r)
		}
	}()
	sim.Run()
}

func TestPanicInCallbackCarriesSeedAndTrace(t *testing.T) {
	sim := labkit.NewSim(77)
	sim.Trace().Logf("n1", "about to fail")
	sim.Schedule(time.Second, func() { panic("boom") })
	defer func() {
		msg := fmt.Sprint(recover())
		for _, want := range []string{"boom", "seed 77", "about to fail", "1.000000s"} {
			if !strings.Contains(msg, want) {
				t.Errorf("panic message lacks %q:\n%s", want, msg)
			}
		}
	}()
	sim.Run()
}

func TestInvariantStopsAtTheBreakingEvent(t *testing.T) {
	sim := labkit.NewSim(1)
	n := 0
	sim.Every(time.Second, func() { n++ })
	sim.Invariant(func() error {
		if n > 3 {
			return labkit.Violationf("n stays at most 3", "n reached %d", n)
		}
		return nil
	})
	sim.RunFor(time.Minute)
	if sim.Elapsed() != 4*time.Second || n != 4 {
		t.Fatalf("stopped at %v with n=%d, want 4s and 4", sim.Elapsed(), n)
	}
	if sim.Err() == nil || !strings.Contains(sim.Err().Error(), "n reached 4") {
		t.Fatalf("Err = %v", sim.Err())
	}
	sim.RunFor(time.Minute)
	if n != 4 || sim.Elapsed() != 4*time.Second {
		t.Fatal("a broken simulation kept running")
	}
}

func TestRandIsSeeded(t *testing.T) {
	a, b, c := labkit.NewSim(5), labkit.NewSim(5), labkit.NewSim(6)
	x, y, z := a.Rand().Int64(), b.Rand().Int64(), c.Rand().Int64()
	if x != y || x == z {
		t.Fatalf("rand: seed5=%d seed5=%d seed6=%d", x, y, z)
	}
}

func TestWaitPendingWithWorkers(t *testing.T) {
	sim := labkit.NewSim(1)
	done := make(chan time.Time, 3)
	for i := range 3 {
		go func() { done <- <-sim.After(time.Duration(i+1) * time.Second) }()
	}
	sim.WaitPending(3)
	sim.RunFor(2 * time.Second)
	a, b := <-done, <-done
	if a.Sub(labkit.Epoch)+b.Sub(labkit.Epoch) != 3*time.Second {
		t.Fatalf("workers woke at %v and %v", a, b)
	}
	select {
	case v := <-done:
		t.Fatalf("third worker woke early at %v", v)
	default:
	}
	sim.RunFor(time.Second)
	<-done
}

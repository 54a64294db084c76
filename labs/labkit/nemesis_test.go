package labkit_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

func nemesisRun(seed int64) (string, *labkit.Net, int) {
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, n := range names {
		net.AddNode(n, newInbox)
	}
	maxDown := 0
	sim.Invariant(func() error {
		down := 0
		for _, n := range names {
			if !net.Up(n) {
				down++
			}
		}
		maxDown = max(maxDown, down)
		return nil
	})
	nm := &labkit.Nemesis{Net: net, Partitions: true, OneWay: true, Crashes: true, Interval: 200 * time.Millisecond}
	nm.Start()
	sim.Every(50*time.Millisecond, func() {}) // give the invariant events to run after
	sim.RunFor(20 * time.Second)
	nm.Stop()
	return fmt.Sprint(sim.Faults()), net, maxDown
}

func TestNemesis(t *testing.T) {
	a, net, maxDown := nemesisRun(3)
	b, _, _ := nemesisRun(3)
	if a != b {
		t.Fatal("same seed, different faults")
	}
	for _, want := range []string{"partition {", "one-way partition", "crash n", "restart n", "heal all"} {
		if !strings.Contains(a, want) {
			t.Errorf("20s of nemesis never did %q: %s", want, a)
		}
	}
	if maxDown == 0 || maxDown > 2 {
		t.Errorf("at most %d nodes were down at once, want 1 or 2 of 5", maxDown)
	}
	for _, n := range net.Nodes() {
		if !net.Up(n) {
			t.Errorf("%s still down after Stop", n)
		}
		for _, m := range net.Nodes() {
			if !net.Reachable(n, m) {
				t.Errorf("%s -> %s still cut after Stop", n, m)
			}
		}
	}
}

func TestRunGuardsAgainstStorms(t *testing.T) {
	sim := labkit.NewSim(1)
	sim.MaxEvents = 1000
	var loop func()
	loop = func() { sim.Schedule(0, loop) }
	sim.Schedule(0, loop)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "keeps scheduling work") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	sim.RunFor(time.Second)
}

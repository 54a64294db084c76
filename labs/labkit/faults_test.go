package labkit_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// TestHeavyTailIsLate: about p of the messages arrive after the timeout
// (never exactly at it), some much later; the rest follow the body; the
// trace marks the late ones.
func TestHeavyTailIsLate(t *testing.T) {
	const timeout = 100 * time.Millisecond
	lat := labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), 0.2, timeout)
	sim := labkit.NewSim(3)
	net := labkit.NewNet(sim)
	net.SetDefaultLink(labkit.Link{Latency: lat})
	var at []time.Duration
	net.AddNode("b", func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(string, any) { at = append(at, sim.Elapsed()) })
	})
	a := net.AddClient("a", func(string, any) {})
	for i := range 1000 {
		a.Send("b", i)
	}
	sim.Run()
	late, veryLate := 0, 0
	for _, d := range at {
		switch {
		case d > timeout:
			late++
			if d > 2*timeout {
				veryLate++
			}
		case d > 10*time.Millisecond:
			t.Fatalf("a message took %s: neither the body (1ms..10ms) nor late (past %s)", d, timeout)
		}
		if d > 10*timeout {
			t.Fatalf("a message took %s, past the cap of ten times the timeout", d)
		}
	}
	if len(at) != 1000 || late < 150 || late > 250 || veryLate == 0 {
		t.Fatalf("%d delivered, %d late, %d more than twice the timeout; want 1000, about 200, some", len(at), late, veryLate)
	}
	if !strings.Contains(lat.String(), "20% late (past 100ms") {
		t.Errorf("String() = %q", lat)
	}
	var marked int
	for _, e := range sim.Trace().Last(4096) {
		if e.Kind == labkit.KindLate {
			marked++
		}
	}
	if marked == 0 {
		t.Errorf("no late message marked in the trace")
	}
}

// TestDupDelayArrivesAfterTheFirst: the second copy of a duplicate comes
// DupDelay after the first.
func TestDupDelayArrivesAfterTheFirst(t *testing.T) {
	sim, net := twoNodes(1, labkit.Link{Latency: labkit.Fixed(time.Millisecond), Dup: 1, DupDelay: labkit.Fixed(time.Second)})
	net.Env("a").Send("b", "x")
	sim.RunFor(2 * time.Millisecond)
	if g := got(net, "b"); len(g) != 1 {
		t.Fatalf("after 2ms b got %v, want one copy", g)
	}
	sim.RunFor(time.Second)
	if g := got(net, "b"); len(g) != 2 {
		t.Fatalf("after 1.002s b got %v, want the second copy too", g)
	}
}

// TestTiesRunInSeedChosenOrder: events due at the same instant run in an
// order that depends on the seed (both orders occur across seeds), the same
// for the same seed; FIFOTies keeps scheduling order.
func TestTiesRunInSeedChosenOrder(t *testing.T) {
	run := func(seed int64, fifo bool) string {
		sim := labkit.NewSim(seed)
		sim.FIFOTies = fifo
		var order []string
		for _, name := range []string{"a", "b", "c"} {
			sim.Schedule(time.Second, func() { order = append(order, name) })
		}
		sim.Run()
		return strings.Join(order, "")
	}
	seen := map[string]bool{}
	for seed := int64(1); seed <= 40; seed++ {
		o := run(seed, false)
		if run(seed, false) != o {
			t.Fatalf("seed %d: two runs ordered ties differently", seed)
		}
		seen[o] = true
		if f := run(seed, true); f != "abc" {
			t.Fatalf("FIFOTies: order %s, want abc", f)
		}
	}
	if len(seen) != 6 {
		t.Errorf("40 seeds tried orders %v of three simultaneous events, want all 6", seen)
	}
}

// writer persists two keys in one handler; with Targeted crashing before
// writes, sometimes only the first write lands.
type writer struct{ env *labkit.Env }

func (w *writer) Handle(from string, msg any) {
	w.env.Disk().PutJSON("first", msg)
	w.env.Disk().PutJSON("second", msg)
	w.env.Send(from, "done")
}

// TestTargetedCrashesBetweenWrites: a crash just before a write keeps what
// the handler wrote before it, loses the rest (no reply either), and the
// node comes back after Down.
func TestTargetedCrashesBetweenWrites(t *testing.T) {
	torn := 0
	for seed := int64(1); seed <= 20; seed++ {
		sim := labkit.NewSim(seed)
		net := labkit.NewNet(sim)
		for _, n := range []string{"w", "x", "y"} {
			net.AddNode(n, func(env *labkit.Env) labkit.Node { return &writer{env: env} })
		}
		replies := 0
		c := net.AddClient("c", func(string, any) { replies++ })
		tg := &labkit.Targeted{Net: net, Writes: 0.3, Down: 50 * time.Millisecond}
		tg.Start()
		for i := range 10 {
			sim.Schedule(time.Duration(i)*100*time.Millisecond, func() { c.Send("w", i) })
		}
		sim.RunFor(2 * time.Second)
		tg.Stop()
		var first, second int
		net.Disk("w").GetJSON("first", &first)
		net.Disk("w").GetJSON("second", &second)
		if first != second {
			torn++
			if second > first {
				t.Fatalf("seed %d: second write %d landed without the first %d", seed, second, first)
			}
		}
		if tg.Crashes() > 0 && replies == 10 {
			t.Fatalf("seed %d: %d crashes before writes, yet every request was answered", seed, tg.Crashes())
		}
		if !net.Up("w") {
			t.Fatalf("seed %d: w is down after Stop", seed)
		}
		if tg.Crashes() > 0 && !slices.ContainsFunc(sim.Faults(), func(f labkit.FaultNote) bool {
			return strings.Contains(f.Text, "crash w in the middle of its work, before writing")
		}) {
			t.Fatalf("seed %d: crash not noted: %v", seed, sim.Faults())
		}
	}
	if torn == 0 {
		t.Errorf("in 20 seeds no crash fell between the two writes")
	}
}

// leader becomes "leader" on its first message and stays it.
type leader struct{ role string }

func (l *leader) Handle(string, any) { l.role = "leader" }

// TestTargetedCrashesAfterAChange: the node that just changed state is
// crashed right away (before anything else happens), at most MaxDown at once.
func TestTargetedCrashesAfterAChange(t *testing.T) {
	sim := labkit.NewSim(1)
	net := labkit.NewNet(sim)
	for _, n := range []string{"n1", "n2", "n3"} {
		net.AddNode(n, func(*labkit.Env) labkit.Node { return &leader{role: "follower"} })
	}
	c := net.AddClient("c", func(string, any) {})
	tg := &labkit.Targeted{Net: net, P: 1, Down: time.Second,
		State: func(name string, n labkit.Node) string { return n.(*leader).role }}
	tg.Start()
	var sawLeader []string
	sim.Observe(func() {
		for _, n := range net.Nodes() {
			if l, ok := net.Node(n).(*leader); ok && l.role == "leader" {
				sawLeader = append(sawLeader, n)
			}
		}
	})
	c.Send("n1", "x")
	c.Send("n2", "x")
	sim.RunFor(100 * time.Millisecond)
	if net.Up("n1") == net.Up("n2") {
		t.Fatalf("n1 up %v, n2 up %v: want exactly one crashed (MaxDown of 3 nodes is 1)", net.Up("n1"), net.Up("n2"))
	}
	if tg.Crashes() != 1 {
		t.Fatalf("%d crashes, want 1", tg.Crashes())
	}
	crashed := "n1"
	if net.Up("n1") {
		crashed = "n2"
	}
	if slices.Contains(sawLeader, crashed) {
		t.Fatalf("%s was seen leading after the event that made it leader; it must crash before anything else runs", crashed)
	}
	want := fmt.Sprintf("crash %s right after it changed: follower → leader (targeted)", crashed)
	if !slices.ContainsFunc(sim.Faults(), func(f labkit.FaultNote) bool { return f.Text == want }) {
		t.Fatalf("faults %v lack %q", sim.Faults(), want)
	}
	sim.RunFor(time.Second)
	if !net.Up(crashed) {
		t.Fatalf("%s not restarted after Down", crashed)
	}
}

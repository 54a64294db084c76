package labkit_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// inbox is a node that records what it receives.
type inbox struct {
	env *labkit.Env
	got []string
}

func (b *inbox) Handle(from string, msg any) { b.got = append(b.got, fmt.Sprintf("%s:%v", from, msg)) }

func newInbox(env *labkit.Env) labkit.Node { return &inbox{env: env} }

func got(net *labkit.Net, name string) []string {
	if n := net.Node(name); n != nil {
		return n.(*inbox).got
	}
	return nil
}

func twoNodes(seed int64, l labkit.Link) (*labkit.Sim, *labkit.Net) {
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.SetDefaultLink(l)
	net.AddNode("a", newInbox)
	net.AddNode("b", newInbox)
	return sim, net
}

func sendN(net *labkit.Net, from, to string, n int) {
	for i := range n {
		net.Env(from).Send(to, i)
	}
}

func TestDeliveryLatency(t *testing.T) {
	sim, net := twoNodes(1, labkit.Link{Latency: labkit.Fixed(40 * time.Millisecond)})
	net.Env("a").Send("b", "hi")
	sim.RunFor(39 * time.Millisecond)
	if len(got(net, "b")) != 0 {
		t.Fatal("delivered before the latency elapsed")
	}
	sim.RunFor(time.Millisecond)
	if !slices.Equal(got(net, "b"), []string{"a:hi"}) {
		t.Fatalf("b got %v", got(net, "b"))
	}
}

func TestLossAndDuplication(t *testing.T) {
	sim, net := twoNodes(1, labkit.Link{Loss: 1})
	sendN(net, "a", "b", 100)
	sim.Run()
	if n := len(got(net, "b")); n != 0 {
		t.Fatalf("loss 100%%: %d delivered", n)
	}

	sim, net = twoNodes(1, labkit.Link{Loss: 0.3})
	sendN(net, "a", "b", 1000)
	sim.Run()
	if n := len(got(net, "b")); n < 600 || n > 800 {
		t.Fatalf("loss 30%%: %d of 1000 delivered", n)
	}

	sim, net = twoNodes(1, labkit.Link{Dup: 1})
	sendN(net, "a", "b", 10)
	sim.Run()
	if n := len(got(net, "b")); n != 20 {
		t.Fatalf("dup 100%%: %d delivered, want 20", n)
	}

	// Loss on one direction only.
	sim, net = twoNodes(1, labkit.Link{})
	net.SetLink("a", "b", labkit.Link{Loss: 1})
	sendN(net, "a", "b", 5)
	sendN(net, "b", "a", 5)
	sim.Run()
	if len(got(net, "b")) != 0 || len(got(net, "a")) != 5 {
		t.Fatalf("per-link loss: a got %d, b got %d", len(got(net, "a")), len(got(net, "b")))
	}
}

func inOrder(s []string) bool {
	return slices.IsSortedFunc(s, func(x, y string) int {
		var i, j int
		fmt.Sscanf(x, "a:%d", &i)
		fmt.Sscanf(y, "a:%d", &j)
		return i - j
	})
}

func TestJitterReorders(t *testing.T) {
	sim, net := twoNodes(1, labkit.Link{Latency: labkit.Fixed(5 * time.Millisecond)})
	sendN(net, "a", "b", 50)
	sim.Run()
	if !inOrder(got(net, "b")) {
		t.Fatal("fixed latency reordered messages")
	}
	for _, lat := range []labkit.Latency{labkit.Uniform(time.Millisecond, 50*time.Millisecond), labkit.Exponential(time.Millisecond, 10*time.Millisecond)} {
		sim, net = twoNodes(1, labkit.Link{Latency: lat})
		sendN(net, "a", "b", 50)
		sim.Run()
		if len(got(net, "b")) != 50 || inOrder(got(net, "b")) {
			t.Fatalf("%s: got %v, want all 50 with some out of order", lat, got(net, "b"))
		}
	}
}

func TestPartitionAndHeal(t *testing.T) {
	sim := labkit.NewSim(1)
	net := labkit.NewNet(sim)
	for _, n := range []string{"a", "b", "c"} {
		net.AddNode(n, newInbox)
	}
	net.Env("a").Send("c", "in-flight")
	net.Partition([]string{"a"}, []string{"b", "c"})
	net.Env("a").Send("b", "x")
	net.Env("b").Send("a", "y")
	net.Env("b").Send("c", "same-side")
	sim.RunFor(time.Second)
	if len(got(net, "a")) != 0 || !slices.Equal(got(net, "b"), nil) || !slices.Equal(got(net, "c"), []string{"b:same-side"}) {
		t.Fatalf("during partition: a=%v b=%v c=%v", got(net, "a"), got(net, "b"), got(net, "c"))
	}
	if net.Reachable("a", "b") || net.Reachable("c", "a") || !net.Reachable("b", "c") {
		t.Fatal("Reachable disagrees with the partition")
	}
	net.Heal()
	net.Env("a").Send("b", "x")
	net.Env("b").Send("a", "y")
	sim.RunFor(time.Second)
	if !slices.Equal(got(net, "a"), []string{"b:y"}) || !slices.Equal(got(net, "b"), []string{"a:x"}) {
		t.Fatalf("after heal: a=%v b=%v", got(net, "a"), got(net, "b"))
	}
	if !strings.Contains(sim.Trace().String(), "partitioned in flight") {
		t.Fatal("the in-flight message was not dropped by the partition")
	}
}

func TestOneWayPartition(t *testing.T) {
	sim, net := twoNodes(1, labkit.Link{})
	net.Block("a", "b")
	net.Env("a").Send("b", "lost")
	net.Env("b").Send("a", "arrives")
	sim.RunFor(time.Second)
	if len(got(net, "b")) != 0 || !slices.Equal(got(net, "a"), []string{"b:arrives"}) {
		t.Fatalf("one-way: a=%v b=%v", got(net, "a"), got(net, "b"))
	}
	net.Unblock("a", "b")
	net.Env("a").Send("b", "back")
	sim.RunFor(time.Second)
	if !slices.Equal(got(net, "b"), []string{"a:back"}) {
		t.Fatalf("after unblock b=%v", got(net, "b"))
	}
}

// durable keeps a volatile counter in memory and a durable one on disk.
type durable struct {
	env      *labkit.Env
	volatile int
	ticks    int
}

func (d *durable) Handle(from string, msg any) {
	d.volatile++
	n := 0
	d.env.Disk().GetJSON("n", &n)
	d.env.Disk().PutJSON("n", n+1)
}

func TestCrashLosesMemoryKeepsDisk(t *testing.T) {
	sim := labkit.NewSim(1)
	net := labkit.NewNet(sim)
	builds := 0
	var first *durable
	net.AddNode("s", func(env *labkit.Env) labkit.Node {
		builds++
		d := &durable{env: env}
		env.Every(100*time.Millisecond, func() { d.ticks++ })
		if builds == 1 {
			env.After(time.Hour, "far", func() { t.Error("timer of a crashed incarnation fired") })
		}
		if first == nil {
			first = d
		}
		return d
	})
	cl := net.AddClient("c", func(string, any) {})
	if peers := net.Env("s").Peers(); len(peers) != 0 {
		t.Fatalf("clients listed as peers: %v", peers)
	}
	sendN(net, "c", "s", 3)
	sim.RunFor(time.Second)
	oldEnv := net.Env("s")
	net.Crash("s")
	if net.Up("s") || net.Node("s") != nil || oldEnv.Alive() {
		t.Fatal("crashed node still up")
	}
	ticksAtCrash := first.ticks
	cl.Send("s", "while down")
	sim.RunFor(time.Second)
	if first.ticks != ticksAtCrash {
		t.Fatal("a crashed node's ticker kept running")
	}
	oldEnv.Send("c", "from the dead") // must be ignored
	net.Restart("s")
	if builds != 2 {
		t.Fatalf("constructor ran %d times, want 2", builds)
	}
	d := net.Node("s").(*durable)
	if d.volatile != 0 {
		t.Fatal("memory survived the crash")
	}
	n := 0
	if ok, err := net.Disk("s").GetJSON("n", &n); !ok || err != nil || n != 3 {
		t.Fatalf("disk after restart: n=%d ok=%v err=%v, want 3", n, ok, err)
	}
	cl.Send("s", "after")
	sim.RunFor(2 * time.Hour)
	if d.volatile != 1 {
		t.Fatalf("restarted node got %d messages, want 1", d.volatile)
	}
	tr := sim.Trace().String()
	for _, want := range []string{"crash", "receiver down", "restart", "from disk (1 keys)"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if strings.Contains(tr, "from the dead") {
		t.Error("a dead incarnation's send went out")
	}
}

func TestDiskCopiesValues(t *testing.T) {
	d := labkit.NewDisk()
	v := []byte("abc")
	d.Put("k/1", v)
	v[0] = 'X'
	got, _ := d.Get("k/1")
	if string(got) != "abc" {
		t.Fatal("disk shares memory with the caller")
	}
	got[0] = 'Y'
	again, _ := d.Get("k/1")
	d.Put("j", nil)
	if string(again) != "abc" || !slices.Equal(d.Keys("k/"), []string{"k/1"}) || d.Len() != 2 {
		t.Fatal("disk changed through a returned slice, or Keys is wrong")
	}
}

// scenario runs a busy randomized network and returns its trace.
func scenario(seed int64) string {
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 30*time.Millisecond), Loss: 0.1, Dup: 0.05})
	names := []string{"n1", "n2", "n3", "n4"}
	for _, name := range names {
		net.AddNode(name, func(env *labkit.Env) labkit.Node {
			var h labkit.HandlerFunc = func(from string, msg any) {
				if n := msg.(int); n > 0 {
					peers := env.Peers()
					env.Send(peers[env.Rand().IntN(len(peers))], n-1)
				}
			}
			env.Every(50*time.Millisecond, func() { env.Broadcast(5) })
			return h
		})
	}
	sim.AfterFunc(200*time.Millisecond, func() { net.Partition([]string{"n1", "n2"}, []string{"n3", "n4"}) })
	sim.AfterFunc(300*time.Millisecond, func() { net.Crash("n3") })
	sim.AfterFunc(400*time.Millisecond, func() { net.Heal(); net.Restart("n3") })
	sim.RunFor(600 * time.Millisecond)
	sim.Trace().SetSize(1 << 20)
	return sim.Trace().String()
}

func TestSameSeedSameTrace(t *testing.T) {
	a, b, c := scenario(42), scenario(42), scenario(43)
	if a != b {
		t.Fatal("two runs with seed 42 produced different traces")
	}
	if a == c {
		t.Fatal("seeds 42 and 43 produced the same trace")
	}
	if len(a) < 1000 {
		t.Fatalf("trace suspiciously short: %q", a)
	}
}

func TestTraceIsBounded(t *testing.T) {
	sim := labkit.NewSim(1)
	sim.Trace().SetSize(10)
	for i := range 25 {
		sim.Trace().Logf("n", "event %d", i)
	}
	last := sim.Trace().Last(3)
	if sim.Trace().Total() != 25 || len(sim.Trace().Events()) != 10 || len(last) != 3 || last[2].Detail != "event 24" || sim.Trace().Events()[0].Detail != "event 15" {
		t.Fatalf("trace: total %d, kept %v", sim.Trace().Total(), sim.Trace().Events())
	}
}

func TestNetTimeline(t *testing.T) {
	sim, net := twoNodes(1, labkit.Link{})
	sim.RunFor(time.Second)
	net.Isolate("a")
	sim.RunFor(time.Second)
	net.Crash("b")
	sim.RunFor(time.Second)
	net.Heal()
	net.Restart("b")
	sim.RunFor(time.Second)
	lanes := net.Timeline()
	want := "a:[{0s 1s up} {1s 3s cut off} {3s 4s up}] b:[{0s 1s up} {1s 2s cut off} {2s 3s crashed} {3s 4s up}]"
	if s := fmt.Sprintf("%s:%v %s:%v", lanes[0].Name, lanes[0].Spans, lanes[1].Name, lanes[1].Spans); s != want {
		t.Fatalf("timeline\n got %s\nwant %s", s, want)
	}
}

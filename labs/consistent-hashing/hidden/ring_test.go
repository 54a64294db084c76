package hidden

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"

	"faultline.dev/labkit"
	ch "faultline.dev/labs/consistenthash"
)

func TestHashAndVnodeNames(t *testing.T) {
	for _, s := range []string{"", "a", "key-42", "node-3#17", "ünïcødé"} {
		if got, want := ch.Hash(s), refHash(s); got != want {
			t.Errorf("Hash(%q) = %#016x, want %#016x", s, got, want)
		}
	}
	for _, c := range []struct {
		node string
		i    int
		want string
	}{{"a", 0, "a#0"}, {"node-12", 7, "node-12#7"}, {"10.0.0.1:7000", 199, "10.0.0.1:7000#199"}} {
		if got := ch.VnodeName(c.node, c.i); got != c.want {
			t.Errorf("VnodeName(%q, %d) = %q, want %q", c.node, c.i, got, c.want)
		}
	}
}

func TestGetMatchesReference(t *testing.T) {
	nodes := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"}
	sim := labkit.NewSim(labkit.Seed(t))
	r := ch.New(50)
	r.Add(nodes...)
	sim.Logf("New(50), Add(%q)", nodes)
	model := newRef(50, nodes...)
	ks := keys("user", 3000)
	got := owners(t, r, ks)
	bad, first := 0, ""
	for _, k := range ks {
		if got[k] != model.owner(k) {
			bad++
			if first == "" {
				first = fmt.Sprintf("Get(%q) = %q, want %q", k, got[k], model.owner(k))
			}
		}
	}
	if bad > 0 {
		failRing(t, sim, model, got, "every key belongs to the first point at or after its hash",
			"%d of 3000 keys went to the wrong node; the first: %s", bad, first)
	}
}

func TestDefaultVnodes(t *testing.T) {
	nodes := nodeNames(4)
	for _, v := range []int{0, -3} {
		r := ch.New(v)
		r.Add(nodes...)
		model := newRef(ch.DefaultVnodes, nodes...)
		if ch.DefaultVnodes != 100 {
			t.Fatalf("DefaultVnodes = %d, want 100", ch.DefaultVnodes)
		}
		for _, k := range keys("d", 1000) {
			if got, want := mustGet(t, r, k), model.owner(k); got != want {
				t.Fatalf("New(%d): Get(%q) = %q, want %q (100 virtual nodes each)", v, k, got, want)
			}
		}
	}
	// A positive count is used as given, 1 included.
	r := ch.New(1)
	r.Add(nodes...)
	model := newRef(1, nodes...)
	for _, k := range keys("one", 1000) {
		if got, want := mustGet(t, r, k), model.owner(k); got != want {
			t.Fatalf("New(1): Get(%q) = %q, want %q (one point per node: a count of 1 is used as given)", k, got, want)
		}
	}
}

func TestKeyOnVnodePointBelongsToIt(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	nodes := nodeNames(5)
	r := ch.New(40)
	r.Add(nodes...)
	sim.Logf("New(40), Add(%q)", nodes)
	model := newRef(40, nodes...)
	var ks []string
	for _, n := range nodes {
		for i := 0; i < 40; i++ {
			// This key hashes exactly to the point of virtual node i of n.
			ks = append(ks, fmt.Sprintf("%s#%d", n, i))
		}
	}
	got := owners(t, r, ks)
	for _, key := range ks {
		if want := model.owner(key); got[key] != want {
			failRing(t, sim, model, got, "a key whose hash equals a point belongs to that point's node",
				"Get(%q) = %q; its hash is exactly the position of a point of %q", key, got[key], want)
		}
	}
}

func TestWrapAround(t *testing.T) {
	nodes := nodeNames(5)
	const vnodes = 10
	r := ch.New(vnodes)
	r.Add(nodes...)
	model := newRef(vnodes, nodes...)
	var last, first refPoint
	first.hash = ^uint64(0)
	for _, p := range model.points {
		if p.hash >= last.hash {
			last = p
		}
		if p.hash <= first.hash {
			first = p
		}
	}
	found := 0
	for i := 0; found < 5 && i < 100000; i++ {
		k := fmt.Sprintf("wrap-%d", i)
		if refHash(k) <= last.hash {
			continue
		}
		found++
		if got := mustGet(t, r, k); got != first.node {
			t.Fatalf("Get(%q) = %q; its hash is past the last point, so it wraps to the first point, owned by %q", k, got, first.node)
		}
		got, err := r.GetN(k, len(nodes))
		if err != nil || !reflect.DeepEqual(got, model.prefs(k)) {
			t.Fatalf("GetN(%q, %d) = %q, %v; want %q", k, len(nodes), got, err, model.prefs(k))
		}
	}
	if found < 5 {
		t.Fatalf("test bug: found only %d keys past the last point", found)
	}
}

func TestGetNPreferenceList(t *testing.T) {
	nodes := nodeNames(6)
	r := ch.New(30)
	r.Add(nodes...)
	model := newRef(30, nodes...)
	for _, k := range keys("obj", 500) {
		want := model.prefs(k)
		for _, n := range []int{1, 3, 6} {
			got, err := r.GetN(k, n)
			if err != nil {
				t.Fatalf("GetN(%q, %d) returned error %v", k, n, err)
			}
			if !reflect.DeepEqual(got, want[:n]) {
				t.Fatalf("GetN(%q, %d) = %q, want %q", k, n, got, want[:n])
			}
		}
		if g := mustGet(t, r, k); g != want[0] {
			t.Fatalf("Get(%q) = %q, but GetN(%q, 1) should agree: %q", k, g, k, want[0])
		}
	}
	// More replicas than nodes: every node once, in ring order.
	got, err := r.GetN("obj-7", 10)
	if err != nil || !reflect.DeepEqual(got, model.prefs("obj-7")) {
		t.Fatalf("GetN(\"obj-7\", 10) with 6 nodes = %q, %v; want all 6: %q", got, err, model.prefs("obj-7"))
	}
	for _, n := range []int{0, -1} {
		got, err := r.GetN("obj-7", n)
		if err != nil || len(got) != 0 {
			t.Fatalf("GetN(\"obj-7\", %d) = %q, %v; want an empty result and no error", n, got, err)
		}
	}
}

func TestEmptyRingErrors(t *testing.T) {
	r := ch.New(10)
	check := func(when string) {
		t.Helper()
		if _, err := r.Get("k"); !errors.Is(err, ch.ErrEmptyRing) {
			t.Fatalf("%s: Get returned error %v, want ErrEmptyRing", when, err)
		}
		for _, n := range []int{2, 1, 0, -1} {
			if _, err := r.GetN("k", n); !errors.Is(err, ch.ErrEmptyRing) {
				t.Fatalf("%s: GetN(k, %d) returned error %v, want ErrEmptyRing (whatever n is)", when, n, err)
			}
		}
		if n := r.Nodes(); len(n) != 0 {
			t.Fatalf("%s: Nodes() = %q, want none", when, n)
		}
	}
	check("new ring")
	r.Add("a", "b")
	r.Remove("a")
	r.Remove("b")
	check("after adding and removing every node")
}

func TestBalance(t *testing.T) {
	nodes := nodeNames(10)
	r := ch.New(200)
	r.Add(nodes...)
	count := map[string]int{}
	for _, k := range keys("key", 20000) {
		count[mustGet(t, r, k)]++
	}
	for _, n := range nodes {
		if c := count[n]; c < 1600 || c > 2400 {
			t.Errorf("node %s owns %d of 20000 keys; with 200 virtual nodes each, every node should own 1600..2400", n, c)
		}
	}
}

func TestAddMovesKeysOnlyToNewNode(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	ks := keys("item", 5000)
	r := ch.New(64)
	r.Add(nodeNames(5)...)
	sim.Logf("New(64), Add(%q), %d keys", nodeNames(5), len(ks))
	before := owners(t, r, ks)
	sim.NoteFault("node-new joins")
	r.Add("node-new")
	after := owners(t, r, ks)
	moved := 0
	for _, k := range ks {
		if after[k] == before[k] {
			continue
		}
		moved++
		if after[k] != "node-new" {
			failRing(t, sim, newRef(64, append(nodeNames(5), "node-new")...), after, "a joining node only takes keys; no other key moves",
				"adding node-new moved %q from %s to %s; keys may only move to the new node", k, before[k], after[k])
		}
	}
	if moved == 0 {
		t.Fatalf("adding a sixth node moved no keys to it")
	}
	if got, want := r.Nodes(), append(nodeNames(5), "node-new"); !reflect.DeepEqual(got, sorted(want)) {
		t.Fatalf("Nodes() = %q, want %q", got, sorted(want))
	}
	// Adding a node twice changes nothing.
	r.Add("node-new", "node-2")
	if again := owners(t, r, ks); !reflect.DeepEqual(again, after) {
		t.Fatalf("adding nodes that were already on the ring moved keys")
	}
	if got := r.Nodes(); len(got) != 6 {
		t.Fatalf("after adding existing nodes again, Nodes() = %q, want 6 nodes", got)
	}
}

func TestRemoveMovesOnlyItsKeys(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	ks := keys("item", 5000)
	nodes := nodeNames(6)
	r := ch.New(100)
	r.Add(nodes...)
	sim.Logf("New(100), Add(%q), %d keys", nodes, len(ks))
	before := owners(t, r, ks)
	sim.NoteFault("node-3 leaves")
	r.Remove("node-3")
	sim.Logf("Remove(\"no-such-node\"): not on the ring")
	r.Remove("no-such-node")
	after := owners(t, r, ks)
	model := newRef(100, "node-0", "node-1", "node-2", "node-4", "node-5")
	for _, k := range ks {
		switch {
		case after[k] == "node-3":
			failRing(t, sim, model, after, "a node that left owns nothing", "Get(%q) = node-3 after node-3 was removed", k)
		case before[k] != "node-3" && after[k] != before[k]:
			failRing(t, sim, model, after, "a leaving node only hands on its own keys; no other key moves",
				"removing node-3 moved %q from %s to %s; only node-3's keys may move", k, before[k], after[k])
		}
	}
	for _, k := range ks[:1000] {
		if got, want := after[k], model.owner(k); got != want {
			failRing(t, sim, model, after, "every key belongs to the first point at or after its hash",
				"after removing node-3, Get(%q) = %q, want %q", k, got, want)
		}
	}
	if got, want := r.Nodes(), []string{"node-0", "node-1", "node-2", "node-4", "node-5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Nodes() = %q, want %q", got, want)
	}
	// Putting it back restores the original placement exactly.
	r.Add("node-3")
	if back := owners(t, r, ks); !reflect.DeepEqual(back, before) {
		t.Fatalf("removing then re-adding node-3 did not restore the original placement")
	}
}

func TestInsertionOrderDoesNotMatter(t *testing.T) {
	nodes := nodeNames(8)
	a := ch.New(32)
	a.Add(nodes...)
	b := ch.New(32)
	for i := len(nodes) - 1; i >= 0; i-- {
		b.Add(nodes[i])
	}
	c := ch.New(32)
	c.Add("extra", nodes[0], nodes[5])
	c.Add(nodes[1:5]...)
	c.Remove("extra")
	c.Add(nodes[6], nodes[6], nodes[7], nodes[6]) // a node named twice in one call is added once
	if got := c.Nodes(); !reflect.DeepEqual(got, sorted(nodes)) {
		t.Fatalf("after Add(%q, %q, %q, %q), Nodes() = %q, want each node once: %q", nodes[6], nodes[6], nodes[7], nodes[6], got, sorted(nodes))
	}
	for _, k := range keys("det", 2000) {
		ga, gb, gc := mustGet(t, a, k), mustGet(t, b, k), mustGet(t, c, k)
		if ga != gb || ga != gc {
			t.Fatalf("Get(%q) = %q, %q, %q on three rings with the same nodes added in different orders", k, ga, gb, gc)
		}
	}
}

// TestConcurrentUse comes last: a ring without locking can crash the test
// program with a fatal "concurrent map writes".
func TestConcurrentUse(t *testing.T) {
	r := ch.New(20)
	r.Add("seed")
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				r.Add(fmt.Sprintf("w%d-%d", w, i))
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if _, err := r.Get(fmt.Sprintf("c-%d", i)); err != nil {
					t.Errorf("Get during concurrent Adds returned %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all := []string{"seed"}
	for w := 0; w < 4; w++ {
		for i := 0; i < 25; i++ {
			all = append(all, fmt.Sprintf("w%d-%d", w, i))
		}
	}
	if got := r.Nodes(); !reflect.DeepEqual(got, sorted(all)) {
		t.Fatalf("after concurrent Adds Nodes() has %d nodes, want %d", len(got), len(all))
	}
	model := newRef(20, all...)
	for _, k := range keys("c", 300) {
		if got, want := mustGet(t, r, k), model.owner(k); got != want {
			t.Fatalf("after concurrent Adds Get(%q) = %q, want %q", k, got, want)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

package hidden

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	"faultline.dev/labkit"
	ch "faultline.dev/labs/consistenthash"
)

// TestRandomChurn builds rings from labkit seeds: random node names, a random
// number of virtual nodes, random keys, then a random run of joins, leaves,
// repeated joins of nodes already there and leaves of nodes that are not.
// After every change it compares the owner of every key and a sample of
// preference lists with the reference ring, and checks that only the keys
// the change had to move have moved.
func TestRandomChurn(t *testing.T) {
	parent := t
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		if parent.Failed() {
			t.Skip("an earlier seed already failed; fix that one first")
		}
		sim := labkit.NewSim(seed)
		rnd := sim.Rand()
		vnodes := 4 + rnd.IntN(40)
		name := func() string {
			switch rnd.IntN(3) {
			case 0:
				return fmt.Sprintf("10.0.%d.%d:7000", rnd.IntN(256), rnd.IntN(256))
			case 1:
				return fmt.Sprintf("cache-%x", rnd.Uint32())
			}
			return fmt.Sprintf("node-%d", rnd.IntN(1000))
		}
		var ks []string
		for i, n := 0, 300+rnd.IntN(700); i < n; i++ {
			ks = append(ks, fmt.Sprintf("k%d-%03x", i, rnd.IntN(4096)))
		}
		r := ch.New(vnodes)
		on := map[string]bool{}
		var off []string // nodes that were on the ring once and left
		current := func() []string {
			var out []string
			for n := range on {
				out = append(out, n)
			}
			sort.Strings(out)
			return out
		}
		for len(on) < 2+rnd.IntN(4) {
			on[name()] = true
		}
		r.Add(current()...)
		sim.Logf("New(%d), Add(%q), %d keys", vnodes, current(), len(ks))

		before := map[string]string{}
		check := func(step int, change string, mover string, joined bool) {
			t.Helper()
			nodes := current()
			model := newRef(vnodes, nodes...)
			got := map[string]string{}
			for _, k := range ks {
				owner, err := r.Get(k)
				if err != nil {
					got[k] = "error: " + err.Error()
				} else {
					got[k] = owner
				}
			}
			if g := r.Nodes(); !reflect.DeepEqual(g, nodes) {
				failRing(t, sim, model, got, "Nodes returns the nodes on the ring, sorted, each once",
					"after %s: Nodes() = %q, want %q", change, g, nodes)
			}
			for _, k := range ks {
				want := model.owner(k)
				if got[k] != want {
					failRing(t, sim, model, got, "every key belongs to the first point at or after its hash",
						"after %s (step %d, %d nodes with %d virtual nodes each): Get(%q) = %q, want %q",
						change, step, len(nodes), vnodes, k, got[k], want)
				}
				if prev, ok := before[k]; ok && prev != got[k] {
					switch {
					case mover == "":
						failRing(t, sim, model, got, "a change that adds or removes nothing moves no key",
							"after %s: key %q moved from %s to %s", change, k, prev, got[k])
					case joined && got[k] != mover:
						failRing(t, sim, model, got, "a joining node only takes keys; no other key moves",
							"after %s: key %q moved from %s to %s, but only moves to %s are allowed", change, k, prev, got[k], mover)
					case !joined && prev != mover:
						failRing(t, sim, model, got, "a leaving node only hands on its own keys; no other key moves",
							"after %s: key %q moved from %s to %s, but only %s's keys may move", change, k, prev, got[k], mover)
					}
				}
			}
			for i := 0; i < 20; i++ {
				k := ks[rnd.IntN(len(ks))]
				n := rnd.IntN(len(nodes)+2) + 1
				want := model.prefs(k)
				want = want[:min(n, len(want))]
				list, err := r.GetN(k, n)
				if err != nil || !reflect.DeepEqual(list, want) {
					failRing(t, sim, model, got, "GetN walks clockwise from the owner and collects distinct nodes",
						"after %s: GetN(%q, %d) = %q, %v; want %q", change, k, n, list, err, want)
				}
			}
			before = got
		}
		check(0, "the first nodes joined", "", false)
		for step := 1; step <= 12; step++ {
			nodes := current()
			switch x := rnd.IntN(10); {
			case x < 4 || len(nodes) < 2:
				n := name()
				if len(off) > 0 && rnd.IntN(2) == 0 {
					n = off[rnd.IntN(len(off))]
				}
				if on[n] {
					sim.Logf("Add(%q) again: already on the ring", n)
					r.Add(n)
					check(step, fmt.Sprintf("adding %s, which was already on the ring", n), "", false)
					continue
				}
				on[n] = true
				sim.NoteFault("%s joins", n)
				r.Add(n)
				check(step, fmt.Sprintf("%s joined", n), n, true)
			case x < 8:
				n := nodes[rnd.IntN(len(nodes))]
				delete(on, n)
				off = append(off, n)
				sim.NoteFault("%s leaves", n)
				r.Remove(n)
				check(step, fmt.Sprintf("%s left", n), n, false)
			default:
				n := "gone-" + name()
				sim.Logf("Remove(%q): not on the ring", n)
				r.Remove(n)
				check(step, fmt.Sprintf("removing %s, which was not on the ring", n), "", false)
			}
		}
	})
}

package hidden

import (
	"hash/fnv"
	"slices"
	"testing"

	kv "faultline.dev/labs/quorumkv"
)

func TestDescendsSemantics(t *testing.T) {
	cases := []struct {
		a, b kv.VClock
		want bool
	}{
		{nil, nil, true},
		{kv.VClock{"a": 1}, nil, true},
		{nil, kv.VClock{"a": 1}, false},
		{kv.VClock{"a": 2, "b": 1}, kv.VClock{"a": 1, "b": 1}, true},
		{kv.VClock{"a": 1, "b": 1}, kv.VClock{"a": 2, "b": 1}, false},
		{kv.VClock{"a": 1, "b": 1}, kv.VClock{"a": 1, "b": 1}, true},
		{kv.VClock{"a": 1}, kv.VClock{"a": 1, "b": 0}, true},
		{kv.VClock{"a": 3}, kv.VClock{"a": 1, "b": 1}, false}, // bigger sum, but b is missing
		{kv.VClock{"a": 5, "b": 1}, kv.VClock{"a": 1, "b": 2}, false},
		{kv.VClock{"a": 1, "b": 2, "c": 7}, kv.VClock{"b": 2, "c": 7}, true},
	}
	for _, c := range cases {
		if got := c.a.Descends(c.b); got != c.want {
			t.Errorf("%v.Descends(%v) = %v, want %v (descends: every entry at least as large; missing entries are 0)", c.a, c.b, got, c.want)
		}
	}
}

func TestConcurrentSemantics(t *testing.T) {
	cases := []struct {
		a, b kv.VClock
		want bool
	}{
		{nil, nil, false},
		{kv.VClock{"a": 1}, kv.VClock{"b": 1}, true},
		{kv.VClock{"a": 1}, kv.VClock{"a": 2}, false},
		{kv.VClock{"a": 2, "b": 1}, kv.VClock{"a": 1, "b": 2}, true},
		{kv.VClock{"a": 3}, kv.VClock{"a": 1, "b": 1}, true},
		{kv.VClock{"a": 1, "b": 1}, kv.VClock{"a": 1, "b": 1}, false},
		{kv.VClock{"a": 1}, nil, false},
	}
	for _, c := range cases {
		if got := c.a.Concurrent(c.b); got != c.want {
			t.Errorf("%v.Concurrent(%v) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := c.b.Concurrent(c.a); got != c.want {
			t.Errorf("%v.Concurrent(%v) = %v, want %v (Concurrent is symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestMergeSemantics(t *testing.T) {
	a := kv.VClock{"a": 3, "b": 1}
	b := kv.VClock{"b": 4, "c": 2}
	m := kv.Merge(a, b)
	want := kv.VClock{"a": 3, "b": 4, "c": 2}
	if !m.Equal(want) || len(m) != 3 {
		t.Fatalf("Merge(%v, %v) = %v, want %v (the larger counter of every entry)", a, b, m, want)
	}
	if !a.Equal(kv.VClock{"a": 3, "b": 1}) || !b.Equal(kv.VClock{"b": 4, "c": 2}) {
		t.Fatalf("Merge modified its arguments: now %v and %v", a, b)
	}
	m["a"] = 99
	if a["a"] != 3 {
		t.Fatalf("the clock Merge returned shares memory with its first argument")
	}
	if got := kv.Merge(nil, nil); got == nil || len(got) != 0 {
		t.Fatalf("Merge(nil, nil) = %#v, want an empty, non-nil clock", got)
	}
	x := kv.Merge(nil, kv.VClock{"z": 1})
	x["y"] = 1 // must not panic
	if !x.Descends(kv.VClock{"z": 1}) {
		t.Fatalf("Merge(nil, {z:1}) = %v", x)
	}
	if !m.Descends(a) || !m.Descends(b) {
		t.Fatalf("a merged clock must descend both inputs")
	}
}

func TestReconcileKeepsSiblings(t *testing.T) {
	v := func(val string, c kv.VClock) kv.Version { return kv.Version{Value: val, Clock: c} }
	cases := []struct {
		in   []kv.Version
		want []string
	}{
		{nil, []string{}},
		{[]kv.Version{v("old", kv.VClock{"c1": 1}), v("new", kv.VClock{"c1": 2})}, []string{"new"}},
		{[]kv.Version{v("new", kv.VClock{"c1": 2}), v("old", kv.VClock{"c1": 1})}, []string{"new"}},
		{[]kv.Version{v("x", kv.VClock{"c1": 1}), v("y", kv.VClock{"c2": 1})}, []string{"x", "y"}},
		{[]kv.Version{v("x", kv.VClock{"c1": 3}), v("y", kv.VClock{"c1": 1, "c2": 1})}, []string{"x", "y"}},
		{[]kv.Version{v("x", kv.VClock{"c1": 1}), v("y", kv.VClock{"c2": 1}), v("z", kv.VClock{"c1": 1, "c2": 1, "c3": 1})}, []string{"z"}},
		{[]kv.Version{v("x", kv.VClock{"c1": 1}), v("x", kv.VClock{"c1": 1}), v("y", kv.VClock{"c2": 1})}, []string{"x", "y"}},
		{[]kv.Version{v("b", kv.VClock{"c2": 1}), v("a", kv.VClock{"c1": 1}), v("c", kv.VClock{"c3": 1})}, []string{"a", "b", "c"}},
	}
	for _, c := range cases {
		got := kv.Reconcile(c.in)
		vals := make([]string, len(got))
		for i, g := range got {
			vals[i] = g.Value
		}
		if show(vals) != show(c.want) {
			t.Errorf("Reconcile(%v) kept %s, want %s (drop only versions another one supersedes; keep concurrent siblings, sorted by value)", describe(c.in), show(vals), show(c.want))
		}
	}
}

// TestReconcileOrderAndClockString: String renders a clock with its entries
// sorted, and Reconcile sorts by value, then by that rendering.
func TestReconcileOrderAndClockString(t *testing.T) {
	for _, c := range []struct {
		clock kv.VClock
		want  string
	}{
		{nil, "{}"},
		{kv.VClock{"b": 2, "a": 1}, "{a:1 b:2}"},
		{kv.VClock{"c": 3, "a": 10, "b": 0}, "{a:10 b:0 c:3}"},
	} {
		if got := c.clock.String(); got != c.want {
			t.Errorf("VClock.String() = %q, want %q", got, c.want)
		}
	}
	v := func(val string, c kv.VClock) kv.Version { return kv.Version{Value: val, Clock: c} }
	in := []kv.Version{
		v("x", kv.VClock{"c": 1}),
		v("y", kv.VClock{"a": 1, "b": 1}),
		v("x", kv.VClock{"a": 2}),
		v("w", kv.VClock{"d": 3}),
		v("x", kv.VClock{"b": 2}),
	}
	got := kv.Reconcile(in)
	var order []string
	for _, g := range got {
		order = append(order, g.Value+"@"+g.Clock.String())
	}
	want := []string{"w@{d:3}", "x@{a:2}", "x@{b:2}", "x@{c:1}", "y@{a:1 b:1}"}
	if !slices.Equal(order, want) {
		t.Errorf("Reconcile of five concurrent versions = %v, want %v (sorted by value, ties by Clock.String())", order, want)
	}
}

// TestPreferenceListAsGiven: PreferenceList is given and must stay as it is:
// the node names sorted, rotated to start at fnv32a(key) mod len(nodes),
// the first n taken.
func TestPreferenceListAsGiven(t *testing.T) {
	nodes := []string{"n3", "n1", "n5", "n2", "n4"}
	sortedNodes := []string{"n1", "n2", "n3", "n4", "n5"}
	want := func(key string, n int) []string {
		h := fnv.New32a()
		h.Write([]byte(key))
		start := int(h.Sum32() % 5)
		var out []string
		for i := range min(n, 5) {
			out = append(out, sortedNodes[(start+i)%5])
		}
		return out
	}
	starts := map[string]bool{}
	for _, key := range []string{"apple", "banana", "cherry", "damson", "k", "cart", "elder", "fig"} {
		for _, n := range []int{1, 3, 5, 7} {
			got := kv.PreferenceList(key, nodes, n)
			if !slices.Equal(got, want(key, n)) {
				t.Errorf("PreferenceList(%q, %v, %d) = %v, want %v", key, nodes, n, got, want(key, n))
			}
		}
		starts[kv.PreferenceList(key, nodes, 1)[0]] = true
	}
	if len(starts) < 3 {
		t.Errorf("PreferenceList starts every key at one of only %d nodes; the start depends on the key's hash", len(starts))
	}
	if got := kv.PreferenceList("k", []string{"solo"}, 3); !slices.Equal(got, []string{"solo"}) {
		t.Errorf(`PreferenceList("k", [solo], 3) = %v, want [solo]`, got)
	}
	if got := kv.PreferenceList("k", nodes, 0); len(got) != 0 {
		t.Errorf(`PreferenceList("k", %v, 0) = %v, want no nodes`, nodes, got)
	}
	if got := kv.PreferenceList("k", nil, 3); len(got) != 0 {
		t.Errorf(`PreferenceList("k", no nodes, 3) = %v, want no nodes`, got)
	}
}

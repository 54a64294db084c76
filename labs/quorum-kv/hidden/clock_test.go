package hidden

import (
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

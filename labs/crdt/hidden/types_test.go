package hidden

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"faultline.dev/labkit"
	"faultline.dev/labs/crdt"
)

// same fails the test unless got and want have the same content.
func same(t *testing.T, sim *labkit.Sim, got, want any, property, what string) {
	t.Helper()
	g, w := norm(got), norm(want)
	sim.Check(t, g == w, property, "%s = %s; want %s", what, g, w)
}

func truth(t *testing.T, sim *labkit.Sim, got, want bool, property, what string) {
	t.Helper()
	sim.Check(t, got == want, property, "%s returned %t; want %t", what, got, want)
}

func TestGCounterExact(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := gc("a", 3, "b", 5)
	sim.Check(t, G{}.Value() == 0, "Value is the sum of all entries", "GCounter{}.Value() = %d; want 0", G{}.Value())
	sim.Check(t, s.Value() == 8, "Value is the sum of all entries", "{a:3 b:5}.Value() = %d; want 8", s.Value())
	same(t, sim, s.Inc("a", 2), gc("a", 5), "Inc returns a delta holding only the replica's new total",
		"{a:3 b:5}.Inc(a, 2)")
	same(t, sim, s.Inc("c", 1), gc("c", 1), "Inc returns a delta holding only the replica's new total",
		"{a:3 b:5}.Inc(c, 1)")
	same(t, sim, s.Inc("b", 0), G{}, "Inc(r, 0) returns the empty counter", "{a:3 b:5}.Inc(b, 0)")
	same(t, sim, s.Merge(gc("a", 4, "c", 1)), gc("a", 4, "b", 5, "c", 1), "Merge takes the larger of each entry",
		"{a:3 b:5}.Merge({a:4 c:1})")
	same(t, sim, gc("a", 4, "c", 1).Merge(s), gc("a", 4, "b", 5, "c", 1), "Merge takes the larger of each entry",
		"{a:4 c:1}.Merge({a:3 b:5})")
	after := s.Merge(s.Inc("a", 2))
	sim.Check(t, after.Value() == 10, "merging an Inc delta adds n to the value",
		"{a:3 b:5} merged with its Inc(a, 2) reads %d; want 10", after.Value())
	same(t, sim, after.Merge(s.Inc("a", 2)), gc("a", 5, "b", 5), "a delta merged twice counts once",
		"{a:5 b:5}.Merge({a:5}) (the same delta again)")
	for _, c := range []struct {
		a, b G
		want bool
	}{
		{gc("a", 3), gc("a", 3, "b", 1), true},
		{gc("a", 4), gc("a", 3, "b", 9), false},
		{G{}, gc("a", 1), true},
		{gc("a", 0), G{}, true},
		{gc("c", 1), gc("a", 3), false},
		{gc("a", 2, "b", 2), gc("a", 2, "b", 2), true},
	} {
		truth(t, sim, c.a.Leq(c.b), c.want, "a.Leq(b) holds when every entry of a is at most b's",
			fmt.Sprintf("%s.Leq(%s)", norm(c.a), norm(c.b)))
	}
}

func pn(p, n G) PN { return PN{P: p, N: n} }

func TestPNCounterExact(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	c := pn(gc("a", 5), gc("a", 2, "b", 4))
	sim.Check(t, PN{}.Value() == 0, "Value is P.Value() - N.Value()", "PNCounter{}.Value() = %d; want 0", PN{}.Value())
	sim.Check(t, c.Value() == -1, "Value is P.Value() - N.Value(), and may be negative",
		"P{a:5} N{a:2 b:4}.Value() = %d; want -1", c.Value())
	big := pn(gc("a", 1), gc("b", 1<<40))
	sim.Check(t, big.Value() == 1-(1<<40), "Value is P.Value() - N.Value(), and may be negative",
		"P{a:1} N{b:%d}.Value() = %d; want %d", 1<<40, big.Value(), 1-(1<<40))
	same(t, sim, c.Add("a", 3), pn(gc("a", 8), G{}), "Add(r, n > 0) returns {P: P.Inc(r, n)} with N empty",
		"P{a:5} N{a:2 b:4}.Add(a, 3)")
	same(t, sim, c.Add("b", -2), pn(G{}, gc("b", 6)), "Add(r, n < 0) returns {N: N.Inc(r, -n)} with P empty",
		"P{a:5} N{a:2 b:4}.Add(b, -2)")
	same(t, sim, c.Add("c", -1), pn(G{}, gc("c", 1)), "Add(r, n < 0) returns {N: N.Inc(r, -n)} with P empty",
		"P{a:5} N{a:2 b:4}.Add(c, -1)")
	same(t, sim, c.Add("a", 0), PN{}, "Add(r, 0) returns the empty counter", "P{a:5} N{a:2 b:4}.Add(a, 0)")
	other := pn(gc("a", 4, "b", 1), gc("a", 3))
	same(t, sim, c.Merge(other), pn(gc("a", 5, "b", 1), gc("a", 3, "b", 4)), "Merge merges P with P and N with N",
		"P{a:5} N{a:2 b:4}.Merge(P{a:4 b:1} N{a:3})")
	same(t, sim, other.Merge(c), pn(gc("a", 5, "b", 1), gc("a", 3, "b", 4)), "Merge merges P with P and N with N",
		"P{a:4 b:1} N{a:3}.Merge(P{a:5} N{a:2 b:4})")
	for _, k := range []struct {
		a, b PN
		want bool
	}{
		{pn(gc("a", 1), G{}), pn(gc("a", 1), gc("a", 1)), true},
		{pn(G{}, gc("a", 2)), pn(gc("a", 5), gc("a", 1)), false},
		{pn(gc("a", 2), G{}), pn(gc("a", 1), gc("a", 5)), false},
		{PN{}, c, true},
		{c, c, true},
	} {
		truth(t, sim, k.a.Leq(k.b), k.want, "a.Leq(b) holds when both halves are Leq",
			fmt.Sprintf("%s.Leq(%s)", norm(k.a), norm(k.b)))
	}
}

func TestPNCounterDecrementSurvivesMerge(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	var x PN
	x = x.Merge(x.Add("a", 5))
	old := x
	x = x.Merge(x.Add("a", -2))
	sim.Check(t, x.Value() == 3, "a decrement lowers the value", "5 then -2 at replica a reads %d; want 3", x.Value())
	for _, m := range []PN{x.Merge(old), old.Merge(x)} {
		sim.Check(t, m.Value() == 3, "a decrement survives a merge with an older copy (decrements are counted in N)",
			"replica a added 5 and then -2; merged with its copy from before the decrement it reads %d; want 3 (state %s)",
			m.Value(), norm(m))
	}
	// Two replicas, concurrently: a decrements what b also holds, b adds.
	b := old.Merge(old.Add("b", 2))
	a := old.Merge(old.Add("a", -1))
	a = a.Merge(a.Add("a", -1))
	for _, m := range []PN{a.Merge(b), b.Merge(a)} {
		sim.Check(t, m.Value() == 5, "concurrent increments and decrements all count",
			"a: +5, -1, -1; b (from a's +5): +2; merged they read %d; want 5 (state %s)", m.Value(), norm(m))
	}
}

func TestORSetExact(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	const fresh = "the next dot of r is r/(k+1), k the highest Seq of r's dots in the context"
	var zero OR
	sim.Check(t, len(zero.Elements()) == 0 && !zero.Contains("x"), "an empty set has no elements",
		"ORSet{}: Elements() = %q, Contains(x) = %t", zero.Elements(), zero.Contains("x"))
	same(t, sim, zero.Add("r1", "x"), orset([]string{"x:r1/1"}), fresh, "ORSet{}.Add(r1, x)")
	same(t, sim, zero.Remove("x"), OR{}, "removing an absent element returns the empty set", "ORSet{}.Remove(x)")

	// x has two live dots, y one; r1/2 and r2/4 were removed.
	s := orset([]string{"x:r1/1,r2/1", "y:r1/3"}, "r1/2", "r2/4")
	same(t, sim, s.Add("r1", "z"), orset([]string{"z:r1/4"}), fresh+" (removed dots count)", norm(s)+".Add(r1, z)")
	same(t, sim, s.Add("r2", "x"), orset([]string{"x:r2/5"}, "r1/1", "r2/1"),
		"Add's delta holds the fresh dot, and e's current dots in its context", norm(s)+".Add(r2, x)")
	same(t, sim, s.Add("r3", "y"), orset([]string{"y:r3/1"}, "r1/3"),
		"Add's delta holds the fresh dot, and e's current dots in its context", norm(s)+".Add(r3, y)")
	same(t, sim, s.Remove("x"), orset(nil, "r1/1", "r2/1"), "Remove's delta is e's current dots as context, no entries",
		norm(s)+".Remove(x)")
	same(t, sim, s.Remove("w"), OR{}, "removing an absent element returns the empty set", norm(s)+".Remove(w)")
	sim.Check(t, s.Contains("x") && s.Contains("y") && !s.Contains("z"), "Contains reports whether e has a live dot",
		"%s: Contains x %t, y %t, z %t", norm(s), s.Contains("x"), s.Contains("y"), s.Contains("z"))
	sim.Check(t, slices.Equal(s.Elements(), []string{"x", "y"}), "Elements lists each element once, sorted",
		"%s.Elements() = %q; want [x y]", norm(s), s.Elements())
	var many OR
	var want []string
	for _, i := range sim.Rand().Perm(20) {
		e := fmt.Sprintf("e%02d", i)
		many = many.Merge(many.Add("r1", e))
	}
	for i := range 20 {
		want = append(want, fmt.Sprintf("e%02d", i))
	}
	sim.Check(t, slices.Equal(many.Elements(), want), "Elements lists each element once, sorted",
		"20 elements added in random order: Elements() = %q", many.Elements())
	hollow := OR{Entries: map[string]map[crdt.Dot]struct{}{"q": {}, "b": dots("r1/2"), "a": dots("r1/1")}, Context: dots("r1/1", "r1/2")}
	sim.Check(t, slices.Equal(hollow.Elements(), []string{"a", "b"}) && !hollow.Contains("q"),
		"an element without dots is not in the set",
		"a state whose entry q has no dots: Elements() = %q, Contains(q) = %t; want [a b], false", hollow.Elements(), hollow.Contains("q"))

	for _, m := range []struct {
		a, b, want OR
		why        string
	}{
		{orset([]string{"x:r1/1"}), orset(nil, "r1/1"), orset(nil, "r1/1"),
			"a dot the other side has seen but no longer holds was removed"},
		{orset([]string{"x:r1/1"}), orset([]string{"x:r2/1"}), orset([]string{"x:r1/1,r2/1"}),
			"dots the other side has never seen stay live"},
		{orset([]string{"x:r1/1"}), orset([]string{"x:r1/1"}), orset([]string{"x:r1/1"}),
			"a dot live on both sides stays live"},
		{orset([]string{"x:r1/1,r2/1"}), orset([]string{"x:r2/1"}, "r1/1", "r3/1"), orset([]string{"x:r2/1"}, "r1/1", "r3/1"),
			"Merge keeps the dots live on both sides and drops those removed on one"},
		{orset([]string{"x:r1/1", "y:r1/2"}), orset([]string{"y:r1/2", "z:r2/1"}, "r1/1"), orset([]string{"y:r1/2", "z:r2/1"}, "r1/1"),
			"Merge works element by element, and the context is the union"},
	} {
		for _, order := range [][2]OR{{m.a, m.b}, {m.b, m.a}} {
			same(t, sim, order[0].Merge(order[1]), m.want, m.why, norm(order[0])+".Merge("+norm(order[1])+")")
		}
	}
}

func TestORSetAddWins(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	var base OR
	base = base.Merge(base.Add("r1", "x")) // r1 added x; r2 has a copy
	// Concurrently: r1 adds x again, r2 removes x.
	d1 := base.Add("r1", "x")
	x1 := base.Merge(d1)
	d2 := base.Remove("x")
	x2 := base.Merge(d2)
	sim.Check(t, !x2.Contains("x"), "a remove removes the element locally", "after r2's remove: %s", norm(x2))
	for _, c := range []struct {
		got OR
		how string
	}{
		{x1.Merge(x2), "r1's state merged with r2's"},
		{x2.Merge(x1), "r2's state merged with r1's"},
		{x2.Merge(d1), "r2's state merged with r1's add delta"},
		{x1.Merge(d2), "r1's state merged with r2's remove delta"},
	} {
		sim.Check(t, c.got.Contains("x"), "an add concurrent with a remove wins",
			"r1 re-added x while r2, which had seen only r1's first add, removed it: %s is %s, without x", c.how, norm(c.got))
	}
	// An add at another replica, concurrent with a remove, wins too.
	y2 := base.Merge(base.Add("r2", "x"))
	y1 := base.Merge(base.Remove("x"))
	sim.Check(t, y1.Merge(y2).Contains("x") && y2.Merge(y1).Contains("x"), "an add concurrent with a remove wins",
		"r2 added x while r1 removed it: merged, %s", norm(y1.Merge(y2)))

	// A remove that saw every add removes the element everywhere.
	var a, b OR
	a = a.Merge(a.Add("r1", "x"))
	b = b.Merge(b.Add("r2", "x"))
	both := a.Merge(b)
	c := both.Merge(both.Remove("x"))
	for _, m := range []OR{a.Merge(c), c.Merge(b), b.Merge(c).Merge(a), a.Merge(b).Merge(c)} {
		sim.Check(t, !m.Contains("x"), "a remove that saw every add removes the element",
			"r1 and r2 each added x; r3 saw both adds and removed x; merged: %s", norm(m))
	}
	// A remove that saw only r1's add leaves r2's.
	only := a.Merge(a.Remove("x"))
	m := only.Merge(b).Merge(a)
	sim.Check(t, m.Contains("x") && slices.Equal(sortedDotsOf(m, "x"), []crdt.Dot{dot("r2/1")}),
		"a remove cancels only the adds it saw",
		"r1 and r2 each added x; a replica that saw only r1's add removed x; merged: %s; want x with r2/1 only", norm(m))
}

func sortedDotsOf(s OR, e string) []crdt.Dot { return sortedDots(s.Entries[e]) }

func TestORSetReAddAfterRemove(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	var r1 OR
	r1 = r1.Merge(r1.Add("r1", "x"))
	copyOfAdd := r1
	r1 = r1.Merge(r1.Remove("x"))
	removed := r1
	d := r1.Add("r1", "x")
	same(t, sim, d, orset([]string{"x:r1/2"}), "a re-add gets a fresh dot (never one that was removed)",
		"after add x and remove x at r1 ("+norm(removed)+"), Add(r1, x)")
	r1 = r1.Merge(d)
	sim.Check(t, r1.Contains("x"), "an element added, removed and added again is in the set",
		"r1 added, removed and re-added x: %s", norm(r1))
	for _, c := range []struct {
		got OR
		how string
	}{
		{removed.Merge(d), "a replica that saw the add and the remove, merged with the re-add delta"},
		{removed.Merge(r1), "a replica that saw the add and the remove, merged with r1's state"},
		{copyOfAdd.Merge(removed).Merge(r1), "a replica that saw the first add, merged with both"},
	} {
		sim.Check(t, c.got.Contains("x"), "a re-add after a remove reaches every replica", "%s: %s", c.how, norm(c.got))
	}
	// The remove happened at r2; r1 learns of it and then adds again.
	var a OR
	a = a.Merge(a.Add("r1", "y"))
	b := a.Merge(a.Remove("y"))
	a = a.Merge(b)
	a = a.Merge(a.Add("r1", "y"))
	for _, m := range []OR{a.Merge(b), b.Merge(a)} {
		sim.Check(t, m.Contains("y"), "a re-add after a remove reaches every replica",
			"r1 added y, r2 removed it, r1 learned of the remove and added y again: merged %s", norm(m))
	}
}

func TestLeq(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	const prop = "a.Leq(b) reports whether a.Merge(b) equals b"
	for _, c := range []struct {
		a, b OR
		want bool
	}{
		{orset([]string{"x:r1/1"}), orset(nil, "r1/1"), true},
		{orset(nil, "r1/1"), orset([]string{"x:r1/1"}), false},
		{orset([]string{"x:r1/1"}), orset([]string{"x:r1/1", "y:r2/1"}), true},
		{orset([]string{"x:r1/2"}), orset([]string{"x:r1/1"}), false},
		{orset([]string{"x:r1/1"}), orset([]string{"x:r1/1"}, "r1/2"), true},
		{orset([]string{"x:r1/1", "y:r1/2"}), orset([]string{"y:r1/2"}, "r1/1", "r2/1"), true},
		{orset([]string{"y:r1/2"}, "r1/1"), orset([]string{"x:r1/1", "y:r1/2"}), false},
		{OR{}, orset([]string{"x:r1/1"}), true},
		{orset([]string{"x:r1/1"}), OR{}, false},
		{OR{}, OR{}, true},
	} {
		truth(t, sim, c.a.Leq(c.b), c.want, prop, fmt.Sprintf("%s.Leq(%s)", norm(c.a), norm(c.b)))
	}
	for _, c := range []struct {
		a, b G
		want bool
	}{
		{gc("a", 1), gc("a", 2), true},
		{gc("a", 2), gc("a", 1), false},
		{gc("b", 1), gc("a", 5), false},
		{G{}, G{}, true},
	} {
		truth(t, sim, c.a.Leq(c.b), c.want, prop, fmt.Sprintf("%s.Leq(%s)", norm(c.a), norm(c.b)))
	}
	truth(t, sim, pn(gc("a", 1), gc("a", 1)).Leq(pn(gc("a", 1), G{})), false, prop, "P{a:1} N{a:1}.Leq(P{a:1} N{})")
	truth(t, sim, pn(gc("a", 1), G{}).Leq(pn(gc("a", 1), gc("b", 1))), true, prop, "P{a:1} N{}.Leq(P{a:1} N{b:1})")
}

// ---- random states ----

var replicaNames = []string{"r1", "r2", "r3", "r4"}

func randomG(sim *labkit.Sim) G {
	r := sim.Rand()
	if r.IntN(8) == 0 {
		return G{}
	}
	m := map[string]uint64{}
	for _, n := range replicaNames {
		if r.IntN(5) < 3 {
			m[n] = uint64(r.IntN(10))
		}
	}
	return G{Counts: m}
}

func randomPN(sim *labkit.Sim) PN { return PN{P: randomG(sim), N: randomG(sim)} }

// orPool returns OR-set states reachable by random adds, removes and merges
// at four replicas (the zero state included).
func orPool(sim *labkit.Sim, steps int) []OR {
	r := sim.Rand()
	elems := []string{"a", "b", "c", "d", "e"}
	reps := make([]OR, len(replicaNames))
	pool := []OR{{}}
	for range steps {
		i := r.IntN(len(reps))
		switch k := r.IntN(20); {
		case k < 9:
			reps[i] = reps[i].Merge(reps[i].Add(replicaNames[i], elems[r.IntN(len(elems))]))
		case k < 14:
			reps[i] = reps[i].Merge(reps[i].Remove(elems[r.IntN(len(elems))]))
		default:
			reps[i] = reps[i].Merge(reps[r.IntN(len(reps))])
		}
		pool = append(pool, reps[i])
	}
	return pool
}

// checkLaws checks the join laws for one triple.
func checkLaws[S crdt.Lattice[S]](t *testing.T, sim *labkit.Sim, a, b, c S) {
	t.Helper()
	n := func(s S) string { return norm(any(s)) }
	ab := a.Merge(b)
	show := fmt.Sprintf("\nwith a = %s, b = %s, c = %s", n(a), n(b), n(c))
	sim.Check(t, n(a.Merge(a)) == n(a), "Merge is idempotent: a.Merge(a) equals a",
		"a.Merge(a) = %s%s", n(a.Merge(a)), show)
	sim.Check(t, n(ab) == n(b.Merge(a)), "Merge is commutative: a.Merge(b) equals b.Merge(a)",
		"a.Merge(b) = %s but b.Merge(a) = %s%s", n(ab), n(b.Merge(a)), show)
	l, r := ab.Merge(c), a.Merge(b.Merge(c))
	sim.Check(t, n(l) == n(r), "Merge is associative: a.Merge(b).Merge(c) equals a.Merge(b.Merge(c))",
		"a.Merge(b).Merge(c) = %s but a.Merge(b.Merge(c)) = %s%s", n(l), n(r), show)
	sim.Check(t, a.Leq(ab) && b.Leq(ab), "a and b are both Leq a.Merge(b)",
		"a.Leq(a.Merge(b)) = %t, b.Leq(a.Merge(b)) = %t, a.Merge(b) = %s%s", a.Leq(ab), b.Leq(ab), n(ab), show)
	sim.Check(t, a.Leq(a), "a.Leq(a) holds", "a.Leq(a) = false%s", show)
	sim.Check(t, a.Leq(b) == (n(ab) == n(b)), "a.Leq(b) reports whether a.Merge(b) equals b",
		"a.Leq(b) = %t, but a.Merge(b) = %s%s", a.Leq(b), n(ab), show)
}

func TestMergeLaws(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	for range 300 {
		checkLaws(t, sim, randomG(sim), randomG(sim), randomG(sim))
		checkLaws(t, sim, randomPN(sim), randomPN(sim), randomPN(sim))
	}
	pool := orPool(sim, 300)
	r := sim.Rand()
	for range 400 {
		checkLaws(t, sim, pool[r.IntN(len(pool))], pool[r.IntN(len(pool))], pool[r.IntN(len(pool))])
	}
}

func TestDeltasOnRandomStates(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	r := sim.Rand()
	for range 200 {
		g := randomG(sim)
		id := replicaNames[r.IntN(len(replicaNames))]
		n := uint64(1 + r.IntN(5))
		d := g.Inc(id, n)
		same(t, sim, d, gc(id, int(g.Counts[id]+n)), "Inc returns a delta holding only the replica's new total",
			fmt.Sprintf("%s.Inc(%s, %d)", norm(g), id, n))
		sim.Check(t, g.Merge(d).Value() == g.Value()+n, "merging an Inc delta adds n to the value",
			"%s merged with its Inc(%s, %d) reads %d; want %d", norm(g), id, n, g.Merge(d).Value(), g.Value()+n)
		p := randomPN(sim)
		k := int64(r.IntN(11) - 5)
		sim.Check(t, p.Merge(p.Add(id, k)).Value() == p.Value()+k, "merging an Add delta adds n to the value",
			"%s merged with its Add(%s, %d) reads %d; want %d", norm(p), id, k, p.Merge(p.Add(id, k)).Value(), p.Value()+k)
	}
	pool := orPool(sim, 200)
	for _, s := range pool {
		id := replicaNames[r.IntN(len(replicaNames))]
		e := []string{"a", "b", "c", "d", "e"}[r.IntN(5)]
		added, removed := s.Merge(s.Add(id, e)), s.Merge(s.Remove(e))
		sim.Check(t, added.Contains(e), "merging an Add delta puts the element in the set",
			"%s merged with its Add(%s, %s): %s", norm(s), id, e, norm(added))
		sim.Check(t, len(added.Entries[e]) == 1, "merging an Add delta leaves the element one dot (it retires the older ones)",
			"%s merged with its Add(%s, %s): %s", norm(s), id, e, norm(added))
		sim.Check(t, !removed.Contains(e), "merging a Remove delta takes the element out of the set",
			"%s merged with its Remove(%s): %s", norm(s), e, norm(removed))
		others := func(x OR) []string { return slices.DeleteFunc(x.Elements(), func(y string) bool { return y == e }) }
		sim.Check(t, slices.Equal(others(added), others(s)) && slices.Equal(others(removed), others(s)),
			"an Add or Remove delta touches only its element",
			"%s: after Add(%s, %s) the set is %q, after Remove(%s) %q", norm(s), id, e, added.Elements(), e, removed.Elements())
	}
}

// ---- values never change ----

func cloneCounts(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return nil
	}
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneDots(m map[crdt.Dot]struct{}) map[crdt.Dot]struct{} {
	if m == nil {
		return nil
	}
	out := make(map[crdt.Dot]struct{}, len(m))
	for k := range m {
		out[k] = struct{}{}
	}
	return out
}

func cloneOR(s OR) OR {
	out := OR{Context: cloneDots(s.Context)}
	if s.Entries != nil {
		out.Entries = make(map[string]map[crdt.Dot]struct{}, len(s.Entries))
		for e, ds := range s.Entries {
			out.Entries[e] = cloneDots(ds)
		}
	}
	return out
}

func clonePN(c PN) PN {
	return PN{P: G{Counts: cloneCounts(c.P.Counts)}, N: G{Counts: cloneCounts(c.N.Counts)}}
}

func TestValuesNeverChange(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	const prop = "no method changes its receiver or its arguments"
	unchanged := func(before, after any, call string) {
		t.Helper()
		sim.Check(t, reflect.DeepEqual(before, after), prop, "%s changed a value it was given: before %s, after %s",
			call, norm(before), norm(after))
	}
	r := sim.Rand()
	for range 100 {
		a, b := randomG(sim), randomG(sim)
		ca, cb := G{Counts: cloneCounts(a.Counts)}, G{Counts: cloneCounts(b.Counts)}
		_ = a.Value()
		_ = a.Inc("r1", 3)
		unchanged(ca, a, "GCounter.Inc")
		_ = a.Merge(b)
		unchanged(ca, a, "a.Merge(b) (a)")
		unchanged(cb, b, "a.Merge(b) (b)")
		_ = a.Leq(b)
		unchanged(ca, a, "GCounter.Leq")

		p, q := randomPN(sim), randomPN(sim)
		cp, cq := clonePN(p), clonePN(q)
		_ = p.Add("r2", 2)
		_ = p.Add("r2", -2)
		unchanged(cp, p, "PNCounter.Add")
		_ = p.Merge(q)
		unchanged(cp, p, "a.Merge(b) (a)")
		unchanged(cq, q, "a.Merge(b) (b)")
		_ = p.Leq(q)
		unchanged(cp, p, "PNCounter.Leq")
	}
	pool := orPool(sim, 150)
	for _, s := range pool {
		o := pool[r.IntN(len(pool))]
		cs, co := cloneOR(s), cloneOR(o)
		_ = s.Add("r1", "a")
		unchanged(cs, s, "ORSet.Add")
		_ = s.Remove("b")
		_ = s.Remove("a")
		unchanged(cs, s, "ORSet.Remove")
		_ = s.Merge(o)
		unchanged(cs, s, "a.Merge(b) (a)")
		unchanged(co, o, "a.Merge(b) (b)")
		_, _, _ = s.Leq(o), s.Contains("a"), s.Elements()
		unchanged(cs, s, "ORSet.Leq, Contains or Elements")
	}
	// A state built by merging deltas keeps its own maps: later deltas
	// merged into it leave the earlier value as it was.
	var x OR
	x = x.Merge(x.Add("r1", "a"))
	snap := cloneOR(x)
	y := x.Merge(x.Add("r1", "b"))
	y = y.Merge(y.Remove("a"))
	unchanged(snap, x, "merging deltas into a copy of a state")
}

func TestZeroValues(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	const prop = "the zero value of every type is its empty state"
	same(t, sim, G{}.Inc("a", 2), gc("a", 2), prop, "GCounter{}.Inc(a, 2)")
	same(t, sim, G{}.Merge(G{}), G{}, prop, "GCounter{}.Merge(GCounter{})")
	same(t, sim, G{}.Merge(gc("a", 1)), gc("a", 1), prop, "GCounter{}.Merge({a:1})")
	same(t, sim, gc("a", 1).Merge(G{}), gc("a", 1), prop, "{a:1}.Merge(GCounter{})")
	truth(t, sim, G{}.Leq(G{}), true, prop, "GCounter{}.Leq(GCounter{})")
	sim.Check(t, PN{}.Add("a", -3).Value() == -3, prop, "PNCounter{}.Add(a, -3).Value() = %d; want -3", PN{}.Add("a", -3).Value())
	same(t, sim, PN{}.Merge(PN{}), PN{}, prop, "PNCounter{}.Merge(PNCounter{})")
	same(t, sim, pn(G{}, gc("b", 1)).Merge(PN{}), pn(G{}, gc("b", 1)), prop, "P{} N{b:1}.Merge(PNCounter{})")
	truth(t, sim, PN{}.Leq(PN{}), true, prop, "PNCounter{}.Leq(PNCounter{})")
	same(t, sim, OR{}.Merge(OR{}), OR{}, prop, "ORSet{}.Merge(ORSet{})")
	one := orset([]string{"x:r1/1"})
	same(t, sim, OR{}.Merge(one), one, prop, "ORSet{}.Merge({x:[r1/1]})")
	same(t, sim, one.Merge(OR{}), one, prop, "{x:[r1/1]}.Merge(ORSet{})")
	truth(t, sim, OR{}.Leq(OR{}), true, prop, "ORSet{}.Leq(ORSet{})")
	onlyEntries := OR{Entries: map[string]map[crdt.Dot]struct{}{}}
	sim.Check(t, len(onlyEntries.Elements()) == 0 && len(OR{}.Elements()) == 0, "Elements of an empty set has length 0",
		"Elements() = %q and %q", OR{}.Elements(), onlyEntries.Elements())
}

func TestDotText(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	const prop = "a Dot is written as replica/seq and read back exactly (so states survive on disk)"
	for _, d := range []crdt.Dot{{Replica: "r1", Seq: 1}, {Replica: "r2", Seq: 10}, {Replica: "r3", Seq: 99},
		{Replica: "n/7", Seq: 1 << 40}, {Replica: "", Seq: 5}, {Replica: "x", Seq: math.MaxUint64}} {
		b, err := d.MarshalText()
		var back crdt.Dot
		if err == nil {
			err = back.UnmarshalText(b)
		}
		sim.Check(t, err == nil && back == d, prop, "Dot%+v was written as %q and read back as %+v (error %v)", d, b, back, err)
		sim.Check(t, d.String() == string(b), prop, "Dot%+v: String() = %q, MarshalText() = %q", d, d.String(), b)
	}
	for _, bad := range []string{"r1", "12", "r1/", "r1/x", "r1/-1", "r1/1.5"} {
		var d crdt.Dot
		err := d.UnmarshalText([]byte(bad))
		sim.Check(t, err != nil, prop, "UnmarshalText(%q) accepted it as %+v", bad, d)
	}
	st := orset([]string{"x:r1/12", "y:r2/3"}, "r1/9")
	b, err := json.Marshal(st)
	var back OR
	if err == nil {
		err = json.Unmarshal(b, &back)
	}
	sim.Check(t, err == nil && norm(back) == norm(st), prop, "an ORSet written as JSON %s read back as %s (error %v)", b, norm(back), err)
}

package crdt

import (
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
)

func TestGCounterBasics(t *testing.T) {
	var c GCounter
	c = c.Merge(c.Inc("a", 2))
	c = c.Merge(c.Inc("b", 3))
	if c.Value() != 5 {
		t.Fatalf("after Inc(a, 2) and Inc(b, 3): Value() = %d, state %s; want 5", c.Value(), labCounts(c))
	}
	d := c.Inc("a", 1)
	if got := labCounts(d); got != "{a:3}" {
		t.Fatalf("%s.Inc(a, 1) = %s; want the delta {a:3} (a's new total, nothing else)", labCounts(c), got)
	}
	twice := c.Merge(d).Merge(d)
	if twice.Value() != 6 {
		t.Fatalf("a delta merged twice must count once: %s merged twice with %s reads %d; want 6", labCounts(c), labCounts(d), twice.Value())
	}
	other := GCounter{Counts: map[string]uint64{"a": 1, "c": 4}}
	if got := labCounts(c.Merge(other)); got != "{a:2 b:3 c:4}" {
		t.Fatalf("%s.Merge(%s) = %s; want {a:2 b:3 c:4} (the larger of each entry)", labCounts(c), labCounts(other), got)
	}
	if !other.Leq(c.Merge(other)) || c.Leq(other) {
		t.Fatalf("Leq: %s.Leq(%s) = %t; want false", labCounts(c), labCounts(other), c.Leq(other))
	}
}

func TestORSetAddRemove(t *testing.T) {
	var s ORSet
	s = s.Merge(s.Add("r1", "book"))
	s = s.Merge(s.Add("r1", "lamp"))
	if got := s.Elements(); !slices.Equal(got, []string{"book", "lamp"}) {
		t.Fatalf("after adding book and lamp: Elements() = %q; want [book lamp]", got)
	}
	s = s.Merge(s.Remove("book"))
	if s.Contains("book") || !s.Contains("lamp") {
		t.Fatalf("after removing book: Contains(book) = %t, Contains(lamp) = %t; want false, true", s.Contains("book"), s.Contains("lamp"))
	}
	// r2 never saw book removed; it adds book concurrently.
	var other ORSet
	other = other.Merge(other.Add("r2", "book"))
	for _, m := range []ORSet{s.Merge(other), other.Merge(s)} {
		if !slices.Equal(m.Elements(), []string{"book", "lamp"}) {
			t.Fatalf("r1 added book, lamp and removed book; r2 added book concurrently: merged Elements() = %q; want [book lamp] (add wins)", m.Elements())
		}
	}
	// Re-adding a removed element works.
	s = s.Merge(s.Add("r1", "book"))
	if !s.Contains("book") {
		t.Fatalf("after adding book again: Contains(book) = false")
	}
	if d := s.Add("r1", "cup"); len(d.Entries["cup"]) != 1 {
		t.Fatalf("Add(r1, cup) returned entries %v; want cup with one dot", d.Entries)
	}
}

func TestTwoReplicasConverge(t *testing.T) {
	c := labStart(t, 3, labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond)})
	c.labInc("r1", 2)
	c.labInc("r2", 3)
	if got := c.reps["r1"].State().Value(); got != 2 {
		t.Fatalf("r1 reads %d right after adding 2; want 2 (reads are local)", got)
	}
	ok := c.sim.RunUntil(func() bool { return c.labAllRead(5) }, 20*labInterval)
	c.sim.Check(t, ok, "all replicas converge to the same state",
		"20 rounds after r1 added 2 and r2 added 3, the replicas hold %s", c.labStates())
}

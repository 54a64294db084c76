// Package crdt replicates three conflict-free data types, a grow-only
// counter, a counter that goes up and down and an add-wins set, with delta
// mutators, and a Replica that spreads their deltas by gossip.
package crdt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GCounter is a grow-only counter. Counts[r] is the total of the increments
// made at replica r; a missing entry is 0. The zero GCounter is the empty
// counter.
type GCounter struct {
	Counts map[string]uint64
}

// Value returns the sum of all entries.
func (c GCounter) Value() uint64 {
	var sum uint64
	for _, n := range c.Counts {
		sum += n
	}
	return sum
}

// Inc returns the delta of adding n at replica: a counter holding only
// replica's new total. Inc(replica, 0) returns the empty counter.
func (c GCounter) Inc(replica string, n uint64) GCounter {
	if n == 0 {
		return GCounter{}
	}
	return GCounter{Counts: map[string]uint64{replica: n}}
}

// Merge returns the entry-wise maximum of c and o.
func (c GCounter) Merge(o GCounter) GCounter {
	out := make(map[string]uint64, len(c.Counts)+len(o.Counts))
	for r, n := range c.Counts {
		out[r] = n
	}
	for r, n := range o.Counts {
		out[r] = max(out[r], n)
	}
	return GCounter{Counts: out}
}

// Leq reports whether every entry of c is at most o's.
func (c GCounter) Leq(o GCounter) bool {
	for r, n := range c.Counts {
		if n > o.Counts[r] {
			return false
		}
	}
	return true
}

// PNCounter is a counter that goes up and down: P counts the increments and
// N the decrements, each per replica. The zero PNCounter is 0.
type PNCounter struct {
	P GCounter
	N GCounter
}

// Value returns the increments minus the decrements.
func (c PNCounter) Value() int64 {
	return int64(c.P.Value() - c.N.Value())
}

// Add returns the delta of adding n (a negative n subtracts) at replica.
func (c PNCounter) Add(replica string, n int64) PNCounter {
	switch {
	case n > 0:
		return PNCounter{P: c.P.Inc(replica, uint64(n))}
	case n < 0:
		return PNCounter{N: c.N.Inc(replica, uint64(-n))}
	}
	return PNCounter{}
}

// Merge merges P with P and N with N.
func (c PNCounter) Merge(o PNCounter) PNCounter {
	return PNCounter{P: c.P.Merge(o.P), N: c.N.Merge(o.N)}
}

// Leq reports whether both halves of c are below o's.
func (c PNCounter) Leq(o PNCounter) bool {
	return c.P.Leq(o.P) && c.N.Leq(o.N)
}

// Dot names one add: the Seq-th add made at Replica.
type Dot struct {
	Replica string
	Seq     uint64
}

// String returns "replica/seq".
func (d Dot) String() string { return d.Replica + "/" + strconv.FormatUint(d.Seq, 10) }

// MarshalText encodes d as "replica/seq", so a Dot can be a map key in JSON.
func (d Dot) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes "replica/seq".
func (d *Dot) UnmarshalText(b []byte) error {
	s := string(b)
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return fmt.Errorf("crdt: dot %q: want replica/seq", s)
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return fmt.Errorf("crdt: dot %q: %w", s, err)
	}
	*d = Dot{Replica: s[:i], Seq: seq}
	return nil
}

// ORSet is an add-wins observed-remove set of strings. Entries maps each
// element to the dots of its adds that no remove has seen; Context holds
// every dot the state knows of, live or removed. The zero ORSet is empty.
type ORSet struct {
	Entries map[string]map[Dot]struct{}
	Context map[Dot]struct{}
}

// next returns the dot of replica's next add.
func (s ORSet) next(replica string) Dot {
	var seq uint64
	for d := range s.Context {
		if d.Replica == replica {
			seq = max(seq, d.Seq)
		}
	}
	return Dot{Replica: replica, Seq: seq + 1}
}

// Add returns the delta of adding elem at replica: elem with one new dot,
// and a context of that dot and elem's current dots.
func (s ORSet) Add(replica, elem string) ORSet {
	d := s.next(replica)
	ctx := map[Dot]struct{}{d: {}}
	for old := range s.Entries[elem] {
		ctx[old] = struct{}{}
	}
	return ORSet{Entries: map[string]map[Dot]struct{}{elem: {d: {}}}, Context: ctx}
}

// Remove returns the delta of removing elem: no entries, and elem's current
// dots as the context. Removing an absent element returns the empty set.
func (s ORSet) Remove(elem string) ORSet {
	ctx := make(map[Dot]struct{}, len(s.Entries[elem]))
	for d := range s.Entries[elem] {
		ctx[d] = struct{}{}
	}
	return ORSet{Context: ctx}
}

// Contains reports whether elem has a live dot.
func (s ORSet) Contains(elem string) bool { return len(s.Entries[elem]) > 0 }

// Elements returns the elements in the set, sorted.
func (s ORSet) Elements() []string {
	var out []string
	for e, dots := range s.Entries {
		if len(dots) > 0 {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// Merge returns the join of s and o: the union of the contexts, and for
// each element the dots both hold live, plus the dots one holds live that
// the other has never seen.
func (s ORSet) Merge(o ORSet) ORSet {
	ctx := make(map[Dot]struct{}, len(s.Context)+len(o.Context))
	for d := range s.Context {
		ctx[d] = struct{}{}
	}
	for d := range o.Context {
		ctx[d] = struct{}{}
	}
	entries := map[string]map[Dot]struct{}{}
	keep := func(e string, d Dot) {
		if entries[e] == nil {
			entries[e] = map[Dot]struct{}{}
		}
		entries[e][d] = struct{}{}
	}
	for e, dots := range s.Entries {
		for d := range dots {
			_, both := o.Entries[e][d]
			_, seen := o.Context[d]
			if both || !seen {
				keep(e, d)
			}
		}
	}
	for e, dots := range o.Entries {
		for d := range dots {
			if _, seen := s.Context[d]; !seen {
				keep(e, d)
			}
		}
	}
	return ORSet{Entries: entries, Context: ctx}
}

// Leq reports whether s.Merge(o) equals o: o has seen every dot s has seen,
// and every dot live in o that s has seen is live in s too.
func (s ORSet) Leq(o ORSet) bool {
	for d := range s.Context {
		if _, ok := o.Context[d]; !ok {
			return false
		}
	}
	for e, dots := range o.Entries {
		for d := range dots {
			_, seen := s.Context[d]
			_, live := s.Entries[e][d]
			if seen && !live {
				return false
			}
		}
	}
	return true
}

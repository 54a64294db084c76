// Package crdt replicates three conflict-free data types, a grow-only
// counter, a counter that goes up and down and an add-wins set, with delta
// mutators, and a Replica that spreads their deltas by gossip.
package crdt

import (
	"fmt"
	"strconv"
	"strings"
)

// GCounter is a grow-only counter. Counts[r] is the total of the increments
// made at replica r; a missing entry is 0. The zero GCounter is the empty
// counter. No method changes its receiver or its argument (R1).
type GCounter struct {
	Counts map[string]uint64
}

// Value returns the sum of all entries (R4).
func (c GCounter) Value() uint64 {
	// TODO
	return 0
}

// Inc returns the delta of adding n at replica: a counter holding only
// replica's new total, c.Counts[replica] + n. Inc(replica, 0) returns the
// empty counter (R5).
func (c GCounter) Inc(replica string, n uint64) GCounter {
	// TODO
	return GCounter{}
}

// Merge returns the entry-wise maximum of c and o (R6).
func (c GCounter) Merge(o GCounter) GCounter {
	// TODO
	return c
}

// Leq reports whether every entry of c is at most o's (R2, R6).
func (c GCounter) Leq(o GCounter) bool {
	// TODO
	return false
}

// PNCounter is a counter that goes up and down: P counts the increments and
// N the decrements, each per replica. The zero PNCounter is 0.
type PNCounter struct {
	P GCounter
	N GCounter
}

// Value returns the increments minus the decrements (R7).
func (c PNCounter) Value() int64 {
	// TODO
	return 0
}

// Add returns the delta of adding n (a negative n subtracts) at replica
// (R8).
func (c PNCounter) Add(replica string, n int64) PNCounter {
	// TODO
	return PNCounter{}
}

// Merge merges P with P and N with N (R9).
func (c PNCounter) Merge(o PNCounter) PNCounter {
	// TODO
	return c
}

// Leq reports whether both halves of c are below o's (R9).
func (c PNCounter) Leq(o PNCounter) bool {
	// TODO
	return false
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

// Add returns the delta of adding elem at replica: elem with one fresh dot
// (R10), and a context of that dot and elem's current dots (R11).
func (s ORSet) Add(replica, elem string) ORSet {
	// TODO
	return ORSet{}
}

// Remove returns the delta of removing elem: no entries, and elem's current
// dots as the context. Removing an absent element returns the empty set
// (R12).
func (s ORSet) Remove(elem string) ORSet {
	// TODO
	return ORSet{}
}

// Contains reports whether elem has a live dot (R14).
func (s ORSet) Contains(elem string) bool {
	// TODO
	return false
}

// Elements returns the elements in the set, each once, sorted (R14).
func (s ORSet) Elements() []string {
	// TODO
	return nil
}

// Merge returns the join of s and o (R13).
func (s ORSet) Merge(o ORSet) ORSet {
	// TODO
	return s
}

// Leq reports whether s.Merge(o) equals o (R2, R13).
func (s ORSet) Leq(o ORSet) bool {
	// TODO
	return false
}

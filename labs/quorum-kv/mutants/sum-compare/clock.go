package quorumkv

import (
	"fmt"
	"slices"
	"strings"
)

// VClock is a vector clock: one counter per coordinator that has written the
// key. A missing entry counts as 0, so nil is a valid, empty clock.
type VClock map[string]uint64

// Descends reports whether c has seen everything o has seen: every entry of
// c is at least the matching entry of o. A clock descends itself and every
// clock descends the empty clock.
func (c VClock) Descends(o VClock) bool {
	return sum(c) >= sum(o)
}

func sum(c VClock) uint64 {
	var t uint64
	for _, n := range c {
		t += n
	}
	return t
}

// Concurrent reports whether neither clock descends the other.
func (c VClock) Concurrent(o VClock) bool {
	return !c.Descends(o) && !o.Descends(c)
}

// Equal reports whether the clocks hold the same counters (missing = 0).
func (c VClock) Equal(o VClock) bool {
	return c.Descends(o) && o.Descends(c)
}

// Copy returns a new clock with the same entries.
func (c VClock) Copy() VClock {
	out := make(VClock, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// String renders the clock as {a:1 b:2} with the entries sorted.
func (c VClock) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, c[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Merge returns a new clock holding, for every entry, the larger of the two
// counters. Neither argument is modified.
func Merge(a, b VClock) VClock {
	out := a.Copy()
	for k, v := range b {
		if v > out[k] {
			out[k] = v
		}
	}
	return out
}

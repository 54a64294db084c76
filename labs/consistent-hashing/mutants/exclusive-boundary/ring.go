// Package consistenthash places keys on nodes with a consistent-hash ring.
// Each node owns many virtual nodes (points on the ring); a key belongs to the
// first point at or after its own hash, going clockwise.
package consistenthash

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sort"
	"strconv"
	"sync"
)

// ErrEmptyRing is returned by Get and GetN when the ring has no nodes.
var ErrEmptyRing = errors.New("consistenthash: ring is empty")

// DefaultVnodes is the number of virtual nodes per node when New gets n <= 0.
const DefaultVnodes = 100

// Hash returns the ring position of s: the first 8 bytes of SHA-256(s) read
// as a big-endian unsigned integer.
func Hash(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

// VnodeName returns the name hashed for virtual node i of node: "node#i".
func VnodeName(node string, i int) string {
	return node + "#" + strconv.Itoa(i)
}

type point struct {
	hash uint64
	node string
}

// Ring is a consistent-hash ring. It is safe for concurrent use.
type Ring struct {
	vnodes int

	mu     sync.RWMutex
	nodes  map[string]bool
	points []point // sorted by hash, then node
}

// New returns an empty ring that gives each node vnodes virtual nodes
// (DefaultVnodes if vnodes <= 0).
func New(vnodes int) *Ring {
	if vnodes <= 0 {
		vnodes = DefaultVnodes
	}
	return &Ring{vnodes: vnodes, nodes: map[string]bool{}}
}

// Add puts nodes on the ring. Adding a node that is already there does nothing.
func (r *Ring) Add(nodes ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range nodes {
		if r.nodes[n] {
			continue
		}
		r.nodes[n] = true
		for i := 0; i < r.vnodes; i++ {
			r.points = append(r.points, point{Hash(VnodeName(n, i)), n})
		}
	}
	sort.Slice(r.points, func(i, j int) bool {
		a, b := r.points[i], r.points[j]
		if a.hash != b.hash {
			return a.hash < b.hash
		}
		return a.node < b.node
	})
}

// Remove takes node and all its virtual nodes off the ring. Removing a node
// that is not there does nothing.
func (r *Ring) Remove(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.nodes[node] {
		return
	}
	delete(r.nodes, node)
	kept := r.points[:0]
	for _, p := range r.points {
		if p.node != node {
			kept = append(kept, p)
		}
	}
	r.points = kept
}

// Nodes returns the nodes on the ring, sorted.
func (r *Ring) Nodes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.nodes))
	for n := range r.nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Get returns the node that owns key. It returns ErrEmptyRing if the ring has
// no nodes.
func (r *Ring) Get(key string) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.points) == 0 {
		return "", ErrEmptyRing
	}
	return r.points[r.search(Hash(key))].node, nil
}

// GetN returns up to n distinct nodes for key: the owner first, then the next
// distinct nodes met going clockwise. It returns fewer than n when the ring
// has fewer nodes, an empty slice for n <= 0, and ErrEmptyRing if the ring has
// no nodes.
func (r *Ring) GetN(key string, n int) ([]string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.points) == 0 {
		return nil, ErrEmptyRing
	}
	if n > len(r.nodes) {
		n = len(r.nodes)
	}
	out := make([]string, 0, max(n, 0))
	seen := make(map[string]bool, n)
	for i, start := 0, r.search(Hash(key)); len(out) < n && i < len(r.points); i++ {
		p := r.points[(start+i)%len(r.points)]
		if !seen[p.node] {
			seen[p.node] = true
			out = append(out, p.node)
		}
	}
	return out, nil
}

// search returns the index of the first point at or after h, wrapping to 0.
func (r *Ring) search(h uint64) int {
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i].hash > h })
	if i == len(r.points) {
		return 0
	}
	return i
}

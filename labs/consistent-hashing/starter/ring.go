// Package consistenthash places keys on nodes with a consistent-hash ring.
//
// Read README.md for the full specification. The exported names and
// signatures below are graded as they are: keep them, and fill in the TODOs.
package consistenthash

import (
	"errors"
)

// ErrEmptyRing is returned by Get and GetN when the ring has no nodes.
var ErrEmptyRing = errors.New("consistenthash: ring is empty")

// DefaultVnodes is the number of virtual nodes per node when New gets n <= 0.
const DefaultVnodes = 100

// Hash returns the ring position of s: the first 8 bytes of SHA-256(s) read
// as a big-endian unsigned integer.
func Hash(s string) uint64 {
	// TODO: crypto/sha256 and encoding/binary will help.
	return 0
}

// VnodeName returns the name hashed for virtual node i of node: "node#i".
func VnodeName(node string, i int) string {
	// TODO
	return node
}

// Ring is a consistent-hash ring. It must be safe for concurrent use.
type Ring struct {
	// TODO: the virtual-node count, the nodes, the sorted points, a lock.
}

// New returns an empty ring that gives each node vnodes virtual nodes
// (DefaultVnodes if vnodes <= 0).
func New(vnodes int) *Ring {
	// TODO
	return &Ring{}
}

// Add puts nodes on the ring. Adding a node that is already there does nothing.
func (r *Ring) Add(nodes ...string) {
	// TODO
}

// Remove takes node and all its virtual nodes off the ring. Removing a node
// that is not there does nothing.
func (r *Ring) Remove(node string) {
	// TODO
}

// Nodes returns the nodes on the ring, sorted.
func (r *Ring) Nodes() []string {
	// TODO
	return nil
}

// Get returns the node that owns key. It returns ErrEmptyRing if the ring has
// no nodes.
func (r *Ring) Get(key string) (string, error) {
	// TODO
	return "", ErrEmptyRing
}

// GetN returns up to n distinct nodes for key: the owner first, then the next
// distinct nodes met going clockwise. It returns fewer than n when the ring
// has fewer nodes, an empty slice for n <= 0, and ErrEmptyRing if the ring has
// no nodes.
func (r *Ring) GetN(key string, n int) ([]string, error) {
	// TODO
	return nil, ErrEmptyRing
}

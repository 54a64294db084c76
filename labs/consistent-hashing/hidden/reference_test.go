package hidden

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"testing"

	ch "faultline.dev/labs/consistenthash"
)

// refHash is the specified hash, computed here without the learner's code.
func refHash(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

type refPoint struct {
	hash uint64
	node string
}

// ref is a brute-force model of the specified ring: no binary search, no
// wrap-around index arithmetic; ownership is the smallest clockwise distance.
type ref struct {
	points []refPoint
	nodes  int
}

func newRef(vnodes int, nodes ...string) *ref {
	r := &ref{nodes: len(nodes)}
	for _, n := range nodes {
		for i := 0; i < vnodes; i++ {
			r.points = append(r.points, refPoint{refHash(n + "#" + strconv.Itoa(i)), n})
		}
	}
	return r
}

// prefs returns every node ordered by its first point met going clockwise
// from key's hash (a point equal to the hash comes first).
func (r *ref) prefs(key string) []string {
	h := refHash(key)
	ps := append([]refPoint(nil), r.points...)
	sort.Slice(ps, func(i, j int) bool {
		di, dj := ps[i].hash-h, ps[j].hash-h // unsigned: the clockwise distance
		if di != dj {
			return di < dj
		}
		return ps[i].node < ps[j].node
	})
	var out []string
	seen := map[string]bool{}
	for _, p := range ps {
		if !seen[p.node] {
			seen[p.node] = true
			out = append(out, p.node)
		}
	}
	return out
}

func (r *ref) owner(key string) string {
	h := refHash(key)
	best, bestNode := ^uint64(0), ""
	for _, p := range r.points {
		if d := p.hash - h; d < best || d == best && p.node < bestNode {
			best, bestNode = d, p.node
		}
	}
	return bestNode
}

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i)
	}
	return out
}

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func mustGet(t *testing.T, r *ch.Ring, key string) string {
	t.Helper()
	n, err := r.Get(key)
	if err != nil {
		t.Fatalf("Get(%q) returned error %v", key, err)
	}
	return n
}

// owners maps every key to its owner on r.
func owners(t *testing.T, r *ch.Ring, ks []string) map[string]string {
	t.Helper()
	m := make(map[string]string, len(ks))
	for _, k := range ks {
		m[k] = mustGet(t, r, k)
	}
	return m
}

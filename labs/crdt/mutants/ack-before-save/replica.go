package crdt

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Lattice is what a Replica replicates: a state whose Merge is the join
// (least upper bound) and whose Leq is the order it induces. GCounter,
// PNCounter and ORSet are lattices.
type Lattice[S any] interface {
	Merge(other S) S
	Leq(other S) bool
}

// Ticker is a periodic callback that can be stopped.
type Ticker interface{ Stop() }

// Disk is storage that survives crashes.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
}

// Env is a replica's window on the world. Handle and the Every callback
// run one at a time, so a replica needs no locks and must never block.
type Env interface {
	// Name is this replica's name, e.g. "r1".
	Name() string
	// Peers lists every other replica, in the same order every time.
	Peers() []string
	// Send sends msg to a peer. It may be lost, delayed, duplicated or
	// reordered; nothing is sent while the replica is crashed.
	Send(to string, msg any)
	// Every calls fn every d of virtual time until the replica crashes.
	Every(d time.Duration, fn func()) Ticker
	// Rand is the seeded random source; draw every random number from it.
	Rand() *rand.Rand
	// Disk survives crashes; memory does not.
	Disk() Disk
}

// Config holds the gossip settings.
type Config struct {
	Interval time.Duration // one gossip round every Interval; 0 or below means 100ms
	Fanout   int           // peers picked per round; 0 or below means 1
}

// Delta carries a delta interval, or the whole state, from one replica to
// another. Seq is the sender's next sequence number when it sent it.
type Delta[S any] struct {
	State S
	Seq   uint64
}

// Ack tells the sender of a Delta that its State is merged (and on disk).
type Ack struct {
	Seq uint64
}

// Replica holds one copy of a replicated S.
type Replica[S Lattice[S]] struct {
	env   Env
	cfg   Config
	state S
	seq   uint64            // the sequence number the next delta gets
	buf   map[uint64]S      // deltas not yet acknowledged by every peer
	acked map[string]uint64 // per peer, the highest Seq it acknowledged
}

const diskKey = "replica"

type saved[S any] struct {
	State S
	Seq   uint64
}

// New starts a replica from what it saved on disk (nothing on first start).
func New[S Lattice[S]](env Env, cfg Config) *Replica[S] {
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	cfg.Fanout = max(cfg.Fanout, 1)
	r := &Replica[S]{env: env, cfg: cfg, buf: map[uint64]S{}, acked: map[string]uint64{}}
	if b, ok := env.Disk().Get(diskKey); ok {
		var s saved[S]
		if err := json.Unmarshal(b, &s); err != nil {
			panic(fmt.Sprintf("crdt: %s: read state from disk: %v", env.Name(), err))
		}
		r.state, r.seq = s.State, s.Seq
	}
	env.Every(cfg.Interval, r.gossip)
	return r
}

// State returns the replica's current state.
func (r *Replica[S]) State() S { return r.state }

// Buffered returns how many deltas the replica holds for its peers.
func (r *Replica[S]) Buffered() int { return len(r.buf) }

// Update applies the delta op returns for the current state.
func (r *Replica[S]) Update(op func(state S, replica string) S) {
	r.apply(op(r.state, r.env.Name()))
}

// apply merges d into the state, buffers it and saves, unless d adds nothing.
func (r *Replica[S]) apply(d S) {
	if d.Leq(r.state) {
		return
	}
	r.state = r.state.Merge(d)
	r.buf[r.seq] = d
	r.seq++
	r.save()
}

func (r *Replica[S]) save() {
	b, err := json.Marshal(saved[S]{State: r.state, Seq: r.seq})
	if err != nil {
		panic(fmt.Sprintf("crdt: %s: encode state: %v", r.env.Name(), err))
	}
	r.env.Disk().Put(diskKey, b)
}

// Handle processes one message from a peer.
func (r *Replica[S]) Handle(from string, msg any) {
	switch m := msg.(type) {
	case Delta[S]:
		r.env.Send(from, Ack{Seq: m.Seq})
		r.apply(m.State)
	case Ack:
		r.acked[from] = max(r.acked[from], m.Seq)
		r.collect()
	}
}

// collect drops the deltas every peer has acknowledged.
func (r *Replica[S]) collect() {
	low := r.seq
	for _, p := range r.env.Peers() {
		low = min(low, r.acked[p])
	}
	for s := range r.buf {
		if s < low {
			delete(r.buf, s)
		}
	}
}

// gossip is one round: Fanout random peers get what they have not acked.
func (r *Replica[S]) gossip() {
	peers := slices.Clone(r.env.Peers())
	r.env.Rand().Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	peers = peers[:min(len(peers), r.cfg.Fanout)]
	for _, p := range peers {
		if from := r.acked[p]; from < r.seq {
			r.env.Send(p, Delta[S]{State: r.since(from), Seq: r.seq})
		}
	}
}

// since returns the join of the buffered deltas from seq from on, or the
// whole state when the buffer no longer holds them all.
func (r *Replica[S]) since(from uint64) S {
	if _, ok := r.buf[from]; !ok {
		return r.state
	}
	var d S
	for s, delta := range r.buf {
		if s >= from {
			d = d.Merge(delta)
		}
	}
	return d
}

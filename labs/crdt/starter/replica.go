package crdt

import (
	"math/rand/v2"
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
// another. Seq is the sender's next sequence number (c) when it sent it.
type Delta[S any] struct {
	State S
	Seq   uint64
}

// Ack tells the sender of a Delta that its State is merged (and on disk).
type Ack struct {
	Seq uint64
}

// Replica holds one copy of a replicated S. Add the fields you need.
type Replica[S Lattice[S]] struct {
	env   Env
	cfg   Config
	state S
	// TODO: c, the buffer D, the acks A.
}

// New starts a replica from what it saved on disk (nothing on first start)
// and starts its gossip rounds (R15, R18, R19).
func New[S Lattice[S]](env Env, cfg Config) *Replica[S] {
	// TODO: defaults, read X and c from env.Disk(), env.Every(Interval, round).
	return &Replica[S]{env: env, cfg: cfg}
}

// State returns the replica's current state (R16).
func (r *Replica[S]) State() S { return r.state }

// Buffered returns how many deltas the replica holds for its peers (R23).
func (r *Replica[S]) Buffered() int {
	// TODO
	return 0
}

// Update applies the delta op returns for the current state, buffers it
// and saves it before returning (R17, R18).
func (r *Replica[S]) Update(op func(state S, replica string) S) {
	d := op(r.state, r.env.Name())
	// TODO: nothing new? Otherwise buffer under c, c++, save.
	r.state = r.state.Merge(d)
}

// Handle processes one message from a peer.
func (r *Replica[S]) Handle(from string, msg any) {
	switch msg.(type) {
	case Delta[S]:
		// TODO: merge and buffer if new, save, then always Ack (R21).
	case Ack:
		// TODO: raise A(from), drop what every peer has (R22).
	}
}

// Package leaderelection elects a leader among a fixed set of nodes with terms,
// randomized election timeouts, votes persisted on disk and a leader lease.
package leaderelection

import (
	"math/rand/v2"
	"time"
)

// Role is what a node currently is.
type Role int

// The three roles.
const (
	Follower Role = iota
	Candidate
	Leader
)

// String returns "follower", "candidate" or "leader".
func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return "unknown"
}

// Timer is a pending callback that can be cancelled.
type Timer interface {
	// Stop cancels the callback; it reports whether it was still pending.
	Stop() bool
}

// Disk is storage that survives crashes.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
}

// Env is a node's window on the world. The tests hand every node one; all
// callbacks (Handle, timer functions) run one at a time, so a node needs no
// locks and must never block or sleep.
type Env interface {
	// Name is this node's name, e.g. "n1".
	Name() string
	// Peers lists the other nodes of the cluster (never this one). The
	// cluster is Peers() plus this node; a majority is more than half of it.
	Peers() []string
	// Send sends msg to a peer. It may be lost, delayed, duplicated or
	// reordered; nothing is sent while the node is crashed.
	Send(to string, msg any)
	// After calls fn once after d of virtual time unless stopped first. A
	// crash cancels every timer.
	After(d time.Duration, fn func()) Timer
	// Now is the virtual time.
	Now() time.Time
	// Rand is the seeded random source; draw every random number from it.
	Rand() *rand.Rand
	// Disk survives crashes; memory does not.
	Disk() Disk
}

// Config holds the timing of the protocol.
type Config struct {
	ElectionTimeout time.Duration // T: each timeout is drawn from [T, 2T]
	Heartbeat       time.Duration // H: a leader sends heartbeats every H
	Lease           time.Duration // L: a leader without a majority for L steps down
}

// RequestVote asks for the receiver's vote for the sender in Term.
type RequestVote struct{ Term int64 }

// Vote answers a RequestVote. Term is the voter's current term after it
// handled the request; Granted says whether it voted for the candidate.
type Vote struct {
	Term    int64
	Granted bool
}

// Heartbeat is sent by the leader of Term to every peer every H.
type Heartbeat struct{ Term int64 }

// HeartbeatReply answers a Heartbeat with the follower's current term.
type HeartbeatReply struct{ Term int64 }

// Node is one participant. Add the fields you need.
type Node struct {
	env Env
	cfg Config
	// TODO: role, current term, vote, timers, votes received, lease bookkeeping.
}

// New builds a node from what it saved on disk (nothing on first start) and
// starts it as a follower with a running election timer. Zero Config fields
// take the defaults T = 150ms, H = 30ms, L = 150ms.
func New(env Env, cfg Config) *Node {
	// TODO: read the term and vote from env.Disk(), arm the election timer.
	return &Node{env: env, cfg: cfg}
}

// State returns the node's role and current term.
func (n *Node) State() (Role, int64) {
	// TODO
	return Follower, 0
}

// Handle processes one message from another node.
func (n *Node) Handle(from string, msg any) {
	switch msg.(type) {
	case RequestVote:
		// TODO: higher-term rule, then grant at most one vote per term (on disk first).
	case Vote:
		// TODO: count each voter once; a majority makes a candidate leader.
	case Heartbeat:
		// TODO: refuse older terms; otherwise follow, reset the timer, reply.
	case HeartbeatReply:
		// TODO: higher-term rule; otherwise remember when this peer answered.
	}
}

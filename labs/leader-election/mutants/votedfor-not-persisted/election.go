// Package leaderelection elects a leader among a fixed set of nodes with terms,
// randomized election timeouts, votes persisted on disk and a leader lease.
package leaderelection

import (
	"encoding/json"
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

// diskKey is where a node keeps its term and vote.
const diskKey = "election"

type persistent struct {
	Term     int64  `json:"term"`
	VotedFor string `json:"-"`
}

// Node is one participant.
type Node struct {
	env  Env
	cfg  Config
	role Role
	p    persistent

	electionTimer Timer
	hbTimer       Timer
	votes         map[string]bool
	leaderSince   time.Time
	acks          map[string]time.Time
}

// New starts a node as a follower in the term it last saved on disk.
func New(env Env, cfg Config) *Node {
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = 150 * time.Millisecond
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Millisecond
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 150 * time.Millisecond
	}
	n := &Node{env: env, cfg: cfg}
	if b, ok := env.Disk().Get(diskKey); ok {
		_ = json.Unmarshal(b, &n.p)
	}
	n.resetElectionTimer()
	return n
}

// State returns the node's role and current term.
func (n *Node) State() (Role, int64) { return n.role, n.p.Term }

func (n *Node) save() {
	b, _ := json.Marshal(n.p)
	n.env.Disk().Put(diskKey, b)
}

func (n *Node) majority() int { return (len(n.env.Peers())+1)/2 + 1 }

func (n *Node) resetElectionTimer() {
	if n.electionTimer != nil {
		n.electionTimer.Stop()
	}
	t := n.cfg.ElectionTimeout
	d := t + time.Duration(n.env.Rand().Int64N(int64(t)+1))
	n.electionTimer = n.env.After(d, n.startElection)
}

func (n *Node) stopHeartbeats() {
	if n.hbTimer != nil {
		n.hbTimer.Stop()
		n.hbTimer = nil
	}
}

func (n *Node) startElection() {
	if n.role == Leader {
		return
	}
	n.p.Term++
	n.p.VotedFor = n.env.Name()
	n.save()
	n.role = Candidate
	n.votes = map[string]bool{n.env.Name(): true}
	n.resetElectionTimer()
	for _, p := range n.env.Peers() {
		n.env.Send(p, RequestVote{Term: n.p.Term})
	}
	n.maybeWin()
}

func (n *Node) maybeWin() {
	if n.role != Candidate || len(n.votes) < n.majority() {
		return
	}
	n.role = Leader
	if n.electionTimer != nil {
		n.electionTimer.Stop()
		n.electionTimer = nil
	}
	n.leaderSince = n.env.Now()
	n.acks = map[string]time.Time{}
	n.sendHeartbeats()
}

func (n *Node) sendHeartbeats() {
	if n.role != Leader {
		return
	}
	now := n.env.Now()
	if now.Sub(n.leaderSince) >= n.cfg.Lease {
		count := 1
		for _, at := range n.acks {
			if now.Sub(at) <= n.cfg.Lease {
				count++
			}
		}
		if count < n.majority() {
			n.becomeFollower()
			return
		}
	}
	for _, p := range n.env.Peers() {
		n.env.Send(p, Heartbeat{Term: n.p.Term})
	}
	n.hbTimer = n.env.After(n.cfg.Heartbeat, n.sendHeartbeats)
}

func (n *Node) becomeFollower() {
	if n.role == Follower {
		return
	}
	n.role = Follower
	n.stopHeartbeats()
	n.resetElectionTimer()
}

// observe applies the higher-term rule.
func (n *Node) observe(term int64) {
	if term <= n.p.Term {
		return
	}
	n.p.Term = term
	n.p.VotedFor = ""
	n.save()
	n.becomeFollower()
}

// Handle processes one message.
func (n *Node) Handle(from string, msg any) {
	switch m := msg.(type) {
	case RequestVote:
		n.observe(m.Term)
		if m.Term < n.p.Term {
			n.env.Send(from, Vote{Term: n.p.Term})
			return
		}
		if n.p.VotedFor == "" || n.p.VotedFor == from {
			n.p.VotedFor = from
			n.save()
			n.resetElectionTimer()
			n.env.Send(from, Vote{Term: n.p.Term, Granted: true})
			return
		}
		n.env.Send(from, Vote{Term: n.p.Term})
	case Vote:
		n.observe(m.Term)
		if m.Term != n.p.Term || n.role != Candidate || !m.Granted {
			return
		}
		n.votes[from] = true
		n.maybeWin()
	case Heartbeat:
		n.observe(m.Term)
		if m.Term < n.p.Term {
			n.env.Send(from, HeartbeatReply{Term: n.p.Term})
			return
		}
		if n.role == Leader {
			return
		}
		if n.role == Candidate {
			n.becomeFollower()
		}
		n.resetElectionTimer()
		n.env.Send(from, HeartbeatReply{Term: n.p.Term})
	case HeartbeatReply:
		n.observe(m.Term)
		if m.Term == n.p.Term && n.role == Leader {
			n.acks[from] = n.env.Now()
		}
	}
}

// Package raft replicates a log of commands across a fixed set of nodes with
// the Raft consensus algorithm: leader election, log replication with the
// commit rule, state kept on disk across crashes, and snapshots that compact
// the log.
package raft

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
	Put(key string, value []byte) // durable as soon as Put returns
}

// Env is a node's window on the world. All callbacks (Handle, timer
// functions) run one at a time, so a node needs no locks and must never
// block or sleep.
type Env interface {
	// Name is this node's name, e.g. "n1".
	Name() string
	// Peers lists the other nodes of the cluster (never this one).
	Peers() []string
	// Send sends msg to a peer. It may be lost, delayed, duplicated or
	// reordered; nothing is sent while the node is crashed.
	Send(to string, msg any)
	// After calls fn once after d of virtual time unless stopped first. A
	// crash cancels every timer.
	After(d time.Duration, fn func()) Timer
	// Rand is the seeded random source; draw every random number from it.
	Rand() *rand.Rand
	// Disk survives crashes; memory does not.
	Disk() Disk
}

// Config holds the timing of the protocol.
type Config struct {
	ElectionTimeout time.Duration // T: each election timeout is drawn from [T, 2T]
	Heartbeat       time.Duration // H: a leader sends AppendEntries to every peer every H
}

// Entry is one command in the log, with the term of the leader that
// appended it.
type Entry struct {
	Term    int64
	Command string
}

// ApplyMsg hands the service one committed entry, or a snapshot.
type ApplyMsg struct {
	// Snapshot is false for an entry: Index, Term and Command are the
	// entry's. It is true for a snapshot: Data is the service's state after
	// every entry up to Index, whose term is Term.
	Snapshot bool
	Index    int64
	Term     int64
	Command  string
	Data     []byte
}

// RequestVote asks for the receiver's vote for the sender in Term.
type RequestVote struct {
	Term         int64
	LastLogIndex int64 // index of the candidate's last entry
	LastLogTerm  int64 // term of the candidate's last entry
}

// Vote answers a RequestVote.
type Vote struct {
	Term    int64
	Granted bool
}

// AppendEntries is sent by the leader of Term: entries to append after
// PrevLogIndex (none for a bare heartbeat), and the leader's commit index.
type AppendEntries struct {
	Term         int64
	PrevLogIndex int64
	PrevLogTerm  int64
	Entries      []Entry
	LeaderCommit int64
}

// AppendReply answers an AppendEntries. On success Index is the last index
// known to match the leader's log (PrevLogIndex + len(Entries)); on a
// failure of the current term it is where the leader should try next.
type AppendReply struct {
	Term    int64
	Success bool
	Index   int64
}

// InstallSnapshot is sent by the leader of Term to a peer that needs
// entries the leader has compacted into its snapshot.
type InstallSnapshot struct {
	Term              int64
	LastIncludedIndex int64
	LastIncludedTerm  int64
	Data              []byte
}

// SnapshotReply answers an InstallSnapshot; Index is the snapshot's
// LastIncludedIndex (0 when the request was of an older term).
type SnapshotReply struct {
	Term  int64
	Index int64
}

// Status is what the tests read of a node after every event.
type Status struct {
	Role          Role
	Term          int64
	VotedFor      string // "" when the node has not voted in Term
	LastIndex     int64  // index of the last entry, or SnapshotIndex when none follows it
	CommitIndex   int64
	SnapshotIndex int64 // last index the snapshot covers; 0 without a snapshot
}

// Node is one Raft participant. Add the fields you need.
type Node struct {
	env   Env
	cfg   Config
	apply func(ApplyMsg)
	// TODO: role, current term, vote, log, snapshot, commit index, last
	// applied, timers, votes received, next and match index per peer.
}

// New starts a node as a follower from what it saved on disk (nothing on
// first start). A saved snapshot goes to apply before New returns. Zero
// Config fields take the defaults T = 150ms, H = 30ms.
func New(env Env, cfg Config, apply func(ApplyMsg)) *Node {
	// TODO: defaults; read the term, vote, log and snapshot from env.Disk();
	// hand a saved snapshot to apply; arm the election timer.
	return &Node{env: env, cfg: cfg, apply: apply}
}

// Status returns the node's state right now.
func (n *Node) Status() Status {
	// TODO
	return Status{}
}

// Entry returns the entry at index if the log holds it (after the
// snapshot, up to the last index).
func (n *Node) Entry(index int64) (Entry, bool) {
	// TODO
	return Entry{}, false
}

// Start appends command to the log if this node is the leader and returns
// its index, the current term and true; otherwise it returns 0, 0, false.
func (n *Node) Start(command string) (int64, int64, bool) {
	// TODO (part B): append, save, send AppendEntries to every peer at once.
	return 0, 0, false
}

// Snapshot tells the node that the service's state after every entry up to
// index is data: the node drops those entries from its log.
func (n *Node) Snapshot(index int64, data []byte) {
	// TODO (part D)
}

// Handle processes one message from another node.
func (n *Node) Handle(from string, msg any) {
	switch msg.(type) {
	case RequestVote:
		// TODO (part A): higher-term rule, then at most one vote per term
		// (part B: only for a candidate whose log is up to date).
	case Vote:
		// TODO (part A): count each voter once; a majority makes a leader.
	case AppendEntries:
		// TODO (part A): refuse older terms; follow the leader, re-arm the
		// timer. (Part B: the consistency check, appending, committing.)
	case AppendReply:
		// TODO (part B): move the peer's next and match index; commit.
	case InstallSnapshot:
		// TODO (part D)
	case SnapshotReply:
		// TODO (part D)
	}
}

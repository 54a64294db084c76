// Package raft replicates a log of commands across a fixed set of nodes with
// the Raft consensus algorithm: leader election, log replication with the
// commit rule, state kept on disk across crashes, and snapshots that compact
// the log.
package raft

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
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

// diskKey is where a node keeps everything it must not forget.
const diskKey = "raft"

type persistent struct {
	Term      int64   `json:"term"`
	VotedFor  string  `json:"voted_for"`
	Log       []Entry `json:"log"` // the entries after the snapshot
	SnapIndex int64   `json:"snap_index"`
	SnapTerm  int64   `json:"snap_term"`
	Snapshot  []byte  `json:"snapshot"`
}

// Node is one Raft participant.
type Node struct {
	env   Env
	cfg   Config
	apply func(ApplyMsg)
	role  Role
	p     persistent

	commitIndex int64
	lastApplied int64

	electionTimer Timer
	hbTimer       Timer
	votes         map[string]bool
	next, match   map[string]int64
}

// New starts a node as a follower from what it saved on disk (nothing on
// first start). A saved snapshot goes to apply before New returns. Zero
// Config fields take the defaults T = 150ms, H = 30ms.
func New(env Env, cfg Config, apply func(ApplyMsg)) *Node {
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = 150 * time.Millisecond
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Millisecond
	}
	n := &Node{env: env, cfg: cfg, apply: apply}
	if b, ok := env.Disk().Get(diskKey); ok {
		_ = json.Unmarshal(b, &n.p)
	}
	n.commitIndex, n.lastApplied = n.p.SnapIndex, n.p.SnapIndex
	if n.p.SnapIndex > 0 {
		n.apply(ApplyMsg{Snapshot: true, Index: n.p.SnapIndex, Term: n.p.SnapTerm, Data: slices.Clone(n.p.Snapshot)})
	}
	n.resetElectionTimer()
	return n
}

// Status returns the node's state right now.
func (n *Node) Status() Status {
	return Status{Role: n.role, Term: n.p.Term, VotedFor: n.p.VotedFor, LastIndex: n.lastIndex(),
		CommitIndex: n.commitIndex, SnapshotIndex: n.p.SnapIndex}
}

// Entry returns the entry at index if the log holds it (after the
// snapshot, up to the last index).
func (n *Node) Entry(index int64) (Entry, bool) {
	if index <= n.p.SnapIndex || index > n.lastIndex() {
		return Entry{}, false
	}
	return n.p.Log[index-n.p.SnapIndex-1], true
}

// Start appends command to the log if this node is the leader and returns
// its index, the current term and true; otherwise it returns 0, 0, false.
func (n *Node) Start(command string) (int64, int64, bool) {
	if n.role != Leader {
		return 0, 0, false
	}
	n.p.Log = append(n.p.Log, Entry{Term: n.p.Term, Command: command})
	n.save()
	for _, p := range n.env.Peers() {
		n.replicate(p)
	}
	n.advanceCommit()
	return n.lastIndex(), n.p.Term, true
}

// Snapshot tells the node that the service's state after every entry up to
// index is data: the node drops those entries from its log.
func (n *Node) Snapshot(index int64, data []byte) {
	if index <= n.p.SnapIndex || index > n.lastApplied {
		return
	}
	term, _ := n.termAt(index)
	n.p.Log = slices.Clone(n.p.Log[index-n.p.SnapIndex:])
	n.p.SnapIndex, n.p.SnapTerm, n.p.Snapshot = index, term, slices.Clone(data)
	n.save()
}

func (n *Node) save() {
	b, _ := json.Marshal(n.p)
	n.env.Disk().Put(diskKey, b)
}

func (n *Node) lastIndex() int64 { return n.p.SnapIndex + int64(len(n.p.Log)) }

// termAt returns the term of the entry at index i: the snapshot's term at
// its last index (0 at index 0), and false where the log holds no entry.
func (n *Node) termAt(i int64) (int64, bool) {
	if i == n.p.SnapIndex {
		return n.p.SnapTerm, true
	}
	if i < n.p.SnapIndex || i > n.lastIndex() {
		return 0, false
	}
	return n.p.Log[i-n.p.SnapIndex-1].Term, true
}

func (n *Node) lastTerm() int64 {
	t, _ := n.termAt(n.lastIndex())
	return t
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
	rv := RequestVote{Term: n.p.Term, LastLogIndex: n.lastIndex(), LastLogTerm: n.lastTerm()}
	for _, p := range n.env.Peers() {
		n.env.Send(p, rv)
	}
	n.maybeWin()
}

func (n *Node) maybeWin() {
	if n.role != Candidate || len(n.votes) < n.majority() {
		return
	}
	n.role = Leader
	n.electionTimer.Stop()
	n.next, n.match = map[string]int64{}, map[string]int64{}
	for _, p := range n.env.Peers() {
		n.next[p] = n.lastIndex() + 1
	}
	n.heartbeat()
}

func (n *Node) heartbeat() {
	if n.role != Leader {
		return
	}
	for _, p := range n.env.Peers() {
		n.replicate(p)
	}
	n.hbTimer = n.env.After(n.cfg.Heartbeat, n.heartbeat)
}

// replicate sends peer p what it lacks: the entries from next[p] on, or the
// snapshot when they are compacted away.
func (n *Node) replicate(p string) {
	next := n.next[p]
	if next <= n.p.SnapIndex {
		n.env.Send(p, InstallSnapshot{Term: n.p.Term, LastIncludedIndex: n.p.SnapIndex,
			LastIncludedTerm: n.p.SnapTerm, Data: slices.Clone(n.p.Snapshot)})
		return
	}
	prevTerm, _ := n.termAt(next - 1)
	n.env.Send(p, AppendEntries{Term: n.p.Term, PrevLogIndex: next - 1, PrevLogTerm: prevTerm,
		Entries: slices.Clone(n.p.Log[next-1-n.p.SnapIndex:]), LeaderCommit: n.commitIndex})
}

// advanceCommit commits the highest entry of the current term that a
// majority holds, and everything before it.
func (n *Node) advanceCommit() {
	for i := n.lastIndex(); i > n.commitIndex; i-- {
		if t, _ := n.termAt(i); t != n.p.Term {
			return
		}
		count := 1
		for _, p := range n.env.Peers() {
			if n.match[p] >= i {
				count++
			}
		}
		if count >= n.majority() {
			n.commitTo(i)
			return
		}
	}
}

// commitTo raises the commit index to i and applies what is newly
// committed, in order.
func (n *Node) commitTo(i int64) {
	if i <= n.commitIndex {
		return
	}
	n.commitIndex = i
	for n.lastApplied < n.commitIndex {
		n.lastApplied++
		e := n.p.Log[n.lastApplied-n.p.SnapIndex-1]
		n.apply(ApplyMsg{Index: n.lastApplied, Term: e.Term, Command: e.Command})
	}
}

// observe applies the higher-term rule.
func (n *Node) observe(term int64) {
	if term <= n.p.Term {
		return
	}
	n.p.Term = term
	n.p.VotedFor = ""
	n.save()
	if n.role != Follower {
		n.role = Follower
		if n.hbTimer != nil {
			n.hbTimer.Stop()
		}
		n.resetElectionTimer()
	}
}

// follow makes a node that hears the leader of its term a follower with a
// fresh election timer.
func (n *Node) follow() {
	n.role = Follower
	n.resetElectionTimer()
}

// Handle processes one message from another node.
func (n *Node) Handle(from string, msg any) {
	switch m := msg.(type) {
	case RequestVote:
		n.observe(m.Term)
		if m.Term < n.p.Term {
			n.env.Send(from, Vote{Term: n.p.Term})
			return
		}
		upToDate := m.LastLogTerm > n.lastTerm() || (m.LastLogTerm == n.lastTerm() && m.LastLogIndex >= n.lastIndex())
		if (n.p.VotedFor == "" || n.p.VotedFor == from) && upToDate {
			n.p.VotedFor = from
			n.save()
			n.resetElectionTimer()
			n.env.Send(from, Vote{Term: n.p.Term, Granted: true})
			return
		}
		n.env.Send(from, Vote{Term: n.p.Term})
	case Vote:
		n.observe(m.Term)
		if n.role != Candidate || m.Term != n.p.Term || !m.Granted {
			return
		}
		n.votes[from] = true
		n.maybeWin()
	case AppendEntries:
		n.observe(m.Term)
		if m.Term < n.p.Term {
			n.env.Send(from, AppendReply{Term: n.p.Term})
			return
		}
		if n.role == Leader {
			return
		}
		n.follow()
		n.appendEntries(from, m)
	case AppendReply:
		n.observe(m.Term)
		if n.role != Leader || m.Term != n.p.Term {
			return
		}
		if !m.Success {
			n.next[from] = max(m.Index, n.match[from]+1)
			n.replicate(from)
			return
		}
		n.acked(from, m.Index)
	case InstallSnapshot:
		n.observe(m.Term)
		if m.Term < n.p.Term {
			n.env.Send(from, SnapshotReply{Term: n.p.Term})
			return
		}
		if n.role == Leader {
			return
		}
		n.follow()
		n.installSnapshot(m)
		n.env.Send(from, SnapshotReply{Term: n.p.Term, Index: m.LastIncludedIndex})
	case SnapshotReply:
		n.observe(m.Term)
		if n.role != Leader || m.Term != n.p.Term {
			return
		}
		n.acked(from, m.Index)
	}
}

// acked records that peer p's log matches the leader's up to index.
func (n *Node) acked(p string, index int64) {
	n.match[p] = max(n.match[p], index)
	n.next[p] = max(n.next[p], index+1)
	n.advanceCommit()
}

// appendEntries is a follower's answer to the leader of its term.
func (n *Node) appendEntries(from string, m AppendEntries) {
	if m.PrevLogIndex > n.lastIndex() {
		n.env.Send(from, AppendReply{Term: n.p.Term, Index: n.lastIndex() + 1})
		return
	}
	prev, entries := m.PrevLogIndex, m.Entries
	if prev < n.p.SnapIndex {
		// Entries up to the snapshot are committed, so they match.
		skip := min(n.p.SnapIndex-prev, int64(len(entries)))
		prev, entries = n.p.SnapIndex, entries[skip:]
	} else if t, _ := n.termAt(prev); t != m.PrevLogTerm {
		first := prev
		for first-1 > n.p.SnapIndex {
			if tt, _ := n.termAt(first - 1); tt != t {
				break
			}
			first--
		}
		n.env.Send(from, AppendReply{Term: n.p.Term, Index: first})
		return
	}
	for i, e := range entries {
		at := prev + 1 + int64(i)
		if t, ok := n.termAt(at); ok && t == e.Term {
			continue
		}
		n.p.Log = append(n.p.Log[:at-n.p.SnapIndex-1], entries[i:]...)
		n.save()
		break
	}
	last := m.PrevLogIndex + int64(len(m.Entries))
	n.commitTo(min(m.LeaderCommit, n.lastIndex()))
	n.env.Send(from, AppendReply{Term: n.p.Term, Success: true, Index: last})
}

// installSnapshot replaces what a follower has up to the snapshot's last
// index, unless it already committed that far.
func (n *Node) installSnapshot(m InstallSnapshot) {
	if m.LastIncludedIndex <= n.commitIndex {
		return
	}
	if t, ok := n.termAt(m.LastIncludedIndex); ok && t == m.LastIncludedTerm {
		n.p.Log = slices.Clone(n.p.Log[m.LastIncludedIndex-n.p.SnapIndex:])
	} else {
		n.p.Log = nil
	}
	n.p.SnapIndex, n.p.SnapTerm, n.p.Snapshot = m.LastIncludedIndex, m.LastIncludedTerm, slices.Clone(m.Data)
	n.save()
	n.commitIndex, n.lastApplied = m.LastIncludedIndex, m.LastIncludedIndex
	n.apply(ApplyMsg{Snapshot: true, Index: m.LastIncludedIndex, Term: m.LastIncludedTerm, Data: slices.Clone(m.Data)})
}

// Package twophasecommit commits a transaction at several participants
// atomically: a coordinator asks every participant to prepare, commits only
// if all of them vote yes, and logs its decision before it tells anyone;
// participants log their yes vote before they send it and then wait,
// uncertain, until they learn the outcome.
package twophasecommit

import "time"

// Timer is a pending callback that can be cancelled.
type Timer interface {
	// Stop cancels the callback; it reports whether it was still pending.
	Stop() bool
}

// Disk is storage that survives crashes. Every Put and Delete is durable the
// moment it returns; memory is not.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
	Delete(key string)
	Keys(prefix string) []string // the keys starting with prefix, sorted
}

// Env is a node's window on the world. Every call into your code runs to
// completion, one at a time, on one goroutine: no locks, no blocking, no
// goroutines, no real time.
type Env interface {
	// Name is this node's name, e.g. "coordinator" or "payment".
	Name() string
	// Send sends msg to another node. It may be lost, delayed, duplicated or
	// reordered; nothing is sent while the node is crashed.
	Send(to string, msg any)
	// After calls fn once after d of virtual time unless stopped first. A
	// crash cancels every timer.
	After(d time.Duration, fn func()) Timer
	// Disk survives crashes.
	Disk() Disk
}

// Tx is one distributed transaction: the participants that must all commit
// it or all abort it. Participants is never empty and names each
// participant once.
type Tx struct {
	ID           string
	Participants []string
}

// Prepare asks a participant to prepare transaction Tx and vote. It names
// every participant of the transaction (the receiver included), in the order
// given to Begin. Treat the slice as read-only: copy it if you keep it.
type Prepare struct {
	Tx           string
	Participants []string
}

// Vote answers a Prepare: Yes means the participant has prepared Tx and
// will commit it if told to.
type Vote struct {
	Tx  string
	Yes bool
}

// Decision tells a node the outcome of Tx: Commit true means committed,
// false means aborted. The coordinator sends it, and so does a participant
// answering a Query.
type Decision struct {
	Tx     string
	Commit bool
}

// Query asks the receiver for the outcome of Tx.
type Query struct {
	Tx string
}

// State is where a transaction is, as one node sees it.
type State int

// The states of a transaction.
const (
	Unknown   State = iota // never heard of it
	Voting                 // coordinator only: Prepare sent, not decided yet
	Uncertain              // participant only: voted yes, outcome not known yet
	Committed              // committed (decided, or applied at a participant)
	Aborted                // aborted (decided, or applied at a participant)
)

// String returns "unknown", "voting", "uncertain", "committed" or "aborted".
func (s State) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Voting:
		return "voting"
	case Uncertain:
		return "uncertain"
	case Committed:
		return "committed"
	case Aborted:
		return "aborted"
	}
	return "invalid"
}

// Config holds the timing of coordinators and participants.
type Config struct {
	// VoteTimeout is how long the coordinator waits for every vote of a
	// transaction after Begin before it aborts it. 0 means 100ms.
	VoteTimeout time.Duration
	// RetryAfter is how often an uncertain participant asks for the
	// outcome. 0 means 50ms.
	RetryAfter time.Duration
}

// Service is a participant's local database. The tests supply it; it
// survives the participant's crashes.
type Service interface {
	// Prepare does the local work of tx durably but invisibly and reports
	// whether tx can commit here (true: vote yes; false: the service has
	// refused tx and holds nothing for it).
	Prepare(tx string) bool
	// Commit makes the prepared work of tx visible.
	Commit(tx string)
	// Abort throws the prepared work of tx away.
	Abort(tx string)
}

// Package saga runs orchestrated sagas: an orchestrator drives each saga's
// steps on participant services, compensates the completed steps in reverse
// order when a step is refused, and resumes from its log after a crash.
package saga

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

// Env is a node's window on the world. Handle and timer callbacks run one at
// a time on one goroutine: no locks, no blocking, no goroutines, no real time.
type Env interface {
	// Name is this node's name, e.g. "orchestrator" or "hotel".
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

// Saga is one business transaction. Step i runs on the participant named
// Steps[i]; the same participant may run several steps. Steps is never empty.
type Saga struct {
	ID    string
	Steps []string
}

// Do asks a participant to perform step Step of saga Saga.
type Do struct {
	Saga string
	Step int
}

// Undo asks a participant to compensate step Step of saga Saga.
type Undo struct {
	Saga string
	Step int
}

// DoReply answers a Do: OK is true if the step was done, false if the
// participant refused it.
type DoReply struct {
	Saga string
	Step int
	OK   bool
}

// UndoReply answers an Undo: the step is compensated (or there was nothing
// to compensate).
type UndoReply struct {
	Saga string
	Step int
}

// State is where a saga is.
type State int

// The states of a saga.
const (
	Unknown      State = iota // the orchestrator has never heard of it
	Running                   // going forward: Step is the step whose Do is in flight
	Compensating              // going backward: Step is the step whose Undo is in flight
	Committed                 // every step was done
	Compensated               // a step was refused and every step done before it was undone
)

// String returns "unknown", "running", "compensating", "committed" or
// "compensated".
func (s State) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Running:
		return "running"
	case Compensating:
		return "compensating"
	case Committed:
		return "committed"
	case Compensated:
		return "compensated"
	}
	return "invalid"
}

// Status is what the orchestrator knows about one saga. Step only means
// something while the saga is Running or Compensating.
type Status struct {
	State State
	Step  int
}

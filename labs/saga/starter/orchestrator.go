package saga

import "time"

// Config holds the orchestrator's timing.
type Config struct {
	// RetryAfter is how long the orchestrator waits for the reply to a
	// command before sending it again. 0 means 50ms.
	RetryAfter time.Duration
}

// Orchestrator drives sagas. Its log lives on Env.Disk.
type Orchestrator struct {
	env Env
	cfg Config
	// TODO: every saga you know (its steps, state and step), and a retry
	// timer per saga waiting for a reply.
}

// NewOrchestrator builds the orchestrator from its log (empty on the first
// start) and resumes every unfinished saga, in ID order, by sending its
// current command again.
func NewOrchestrator(env Env, cfg Config) *Orchestrator {
	// TODO: read every saga from env.Disk(); for each unfinished one, in ID
	// order, send its current command at once and arm its retry timer.
	return &Orchestrator{env: env, cfg: cfg}
}

// Begin starts a saga: it is in the log before its first command leaves.
// A saga ID the orchestrator already knows is ignored.
func (o *Orchestrator) Begin(s Saga) {
	// TODO: write the saga to the log as Running step 0, then send
	// Do{s.ID, 0} to s.Steps[0] and arm the retry timer.
}

// Status reports where saga id is.
func (o *Orchestrator) Status(id string) Status {
	// TODO
	return Status{}
}

// Handle processes a participant's reply. Replies that do not answer the
// command a saga is waiting for (duplicates, late replies) are ignored.
func (o *Orchestrator) Handle(from string, msg any) {
	switch msg.(type) {
	case DoReply:
		// TODO: done -> next step (or Committed); refused -> compensate the
		// step before it (or Compensated if it was step 0). Log, then send.
	case UndoReply:
		// TODO: compensate the step before (or Compensated after step 0).
		// Log, then send.
	}
}

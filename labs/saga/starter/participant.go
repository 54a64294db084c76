package saga

// Service is a participant's business logic and database. The tests supply
// it; it survives the participant's crashes.
type Service interface {
	// Do performs step step of saga saga as one local transaction and
	// reports whether it was done (true) or refused (false).
	Do(saga string, step int) bool
	// Undo compensates a step that Do performed.
	Undo(saga string, step int)
}

// Participant executes the commands of the orchestrator on its Service,
// exactly once per (saga, step).
type Participant struct {
	env Env
	svc Service
}

// NewParticipant builds a participant; after a crash it is built again with
// the same disk and service.
func NewParticipant(env Env, svc Service) *Participant {
	return &Participant{env: env, svc: svc}
}

// Handle processes a command and replies to its sender.
func (p *Participant) Handle(from string, msg any) {
	switch msg.(type) {
	case Do:
		// TODO: first Do of this (saga, step): call p.svc.Do, record the
		// answer on disk, reply DoReply. A duplicate: reply the recorded
		// answer without calling the service.
	case Undo:
		// TODO: a step recorded as done and not yet undone: call
		// p.svc.Undo and record that. Either way reply UndoReply.
	}
}

package saga

import "fmt"

// Service is a participant's business logic and database. The tests supply
// it; it survives the participant's crashes.
type Service interface {
	// Do performs step step of saga saga as one local transaction and
	// reports whether it was done (true) or refused (false).
	Do(saga string, step int) bool
	// Undo compensates a step that Do performed.
	Undo(saga string, step int)
}

// outcome is what a participant remembers about one (saga, step).
type outcome struct {
	OK     bool // Do said yes
	Undone bool // and it has since been compensated
}

// Participant executes the commands of the orchestrator on its Service,
// exactly once per (saga, step).
type Participant struct {
	env  Env
	svc  Service
	seen map[string]outcome
}

// NewParticipant builds a participant; after a crash it is built again with
// the same disk and service.
func NewParticipant(env Env, svc Service) *Participant {
	return &Participant{env: env, svc: svc, seen: map[string]outcome{}}
}

func opKey(saga string, step int) string { return fmt.Sprintf("op/%s/%d", saga, step) }

func (p *Participant) load(saga string, step int) (outcome, bool) {
	o, ok := p.seen[opKey(saga, step)]
	return o, ok
}

func (p *Participant) store(saga string, step int, o outcome) {
	p.seen[opKey(saga, step)] = o
}

// Handle processes a command and replies to its sender.
func (p *Participant) Handle(from string, msg any) {
	switch m := msg.(type) {
	case Do:
		o, seen := p.load(m.Saga, m.Step)
		if !seen {
			o = outcome{OK: p.svc.Do(m.Saga, m.Step)}
			p.store(m.Saga, m.Step, o)
		}
		p.env.Send(from, DoReply{Saga: m.Saga, Step: m.Step, OK: o.OK})
	case Undo:
		o, seen := p.load(m.Saga, m.Step)
		if seen && o.OK && !o.Undone {
			p.svc.Undo(m.Saga, m.Step)
			o.Undone = true
			p.store(m.Saga, m.Step, o)
		}
		p.env.Send(from, UndoReply{Saga: m.Saga, Step: m.Step})
	}
}

package saga

import (
	"encoding/json"
	"time"
)

// Config holds the orchestrator's timing.
type Config struct {
	// RetryAfter is how long the orchestrator waits for the reply to a
	// command before sending it again. 0 means 50ms.
	RetryAfter time.Duration
}

// record is one saga's entry in the log.
type record struct {
	Saga  Saga
	State State
	Step  int
}

const logPrefix = "saga/"

// Orchestrator drives sagas. Its log lives on Env.Disk.
type Orchestrator struct {
	env    Env
	retry  time.Duration
	sagas  map[string]*record
	timers map[string]Timer
}

// NewOrchestrator builds the orchestrator from its log (empty on the first
// start) and resumes every unfinished saga, in ID order, by sending its
// current command again.
func NewOrchestrator(env Env, cfg Config) *Orchestrator {
	o := &Orchestrator{env: env, retry: cfg.RetryAfter, sagas: map[string]*record{}, timers: map[string]Timer{}}
	if o.retry <= 0 {
		o.retry = 50 * time.Millisecond
	}
	for _, k := range env.Disk().Keys(logPrefix) { // sorted, so ID order
		b, _ := env.Disk().Get(k)
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			panic("saga: corrupt log entry " + k + ": " + err.Error())
		}
		o.sagas[r.Saga.ID] = &r
		o.send(&r)
	}
	return o
}

// Begin starts a saga: it is in the log before its first command leaves.
// A saga ID the orchestrator already knows is ignored.
func (o *Orchestrator) Begin(s Saga) {
	if _, ok := o.sagas[s.ID]; ok {
		return
	}
	r := &record{Saga: Saga{ID: s.ID, Steps: append([]string(nil), s.Steps...)}, State: Running, Step: 0}
	o.sagas[s.ID] = r
	o.save(r)
	o.send(r)
}

// Status reports where saga id is.
func (o *Orchestrator) Status(id string) Status {
	r, ok := o.sagas[id]
	if !ok {
		return Status{}
	}
	return Status{State: r.State, Step: r.Step}
}

// Handle processes a participant's reply. Replies that do not answer the
// command a saga is waiting for (duplicates, late replies) are ignored.
func (o *Orchestrator) Handle(from string, msg any) {
	switch m := msg.(type) {
	case DoReply:
		r, ok := o.sagas[m.Saga]
		if !ok || r.State != Running || r.Step != m.Step {
			return
		}
		switch {
		case m.OK && r.Step+1 < len(r.Saga.Steps):
			r.Step++
		case m.OK:
			r.State, r.Step = Committed, 0
		default:
			// undo from the failed step back to the first one
			r.State = Compensating
		}
	case UndoReply:
		r, ok := o.sagas[m.Saga]
		if !ok || r.State != Compensating || r.Step != m.Step {
			return
		}
		if r.Step == 0 {
			r.State = Compensated
		} else {
			r.Step--
		}
	default:
		return
	}
	r := o.sagas[sagaOf(msg)]
	o.save(r) // the log first ...
	o.send(r) // ... then the command it describes
}

func sagaOf(msg any) string {
	switch m := msg.(type) {
	case DoReply:
		return m.Saga
	case UndoReply:
		return m.Saga
	}
	return ""
}

func (o *Orchestrator) save(r *record) {
	b, err := json.Marshal(r)
	if err != nil {
		panic("saga: encode log entry: " + err.Error())
	}
	o.env.Disk().Put(logPrefix+r.Saga.ID, b)
}

// send sends the saga's current command, if it has one, and arms its retry.
func (o *Orchestrator) send(r *record) {
	id := r.Saga.ID
	if t := o.timers[id]; t != nil {
		t.Stop()
		delete(o.timers, id)
	}
	var msg any
	switch r.State {
	case Running:
		msg = Do{Saga: id, Step: r.Step}
	case Compensating:
		msg = Undo{Saga: id, Step: r.Step}
	default:
		return
	}
	o.env.Send(r.Saga.Steps[r.Step], msg)
	waiting := Status{State: r.State, Step: r.Step}
	o.timers[id] = o.env.After(o.retry, func() {
		delete(o.timers, id)
		if o.Status(id) == waiting { // still no answer: ask again
			o.send(r)
		}
	})
}

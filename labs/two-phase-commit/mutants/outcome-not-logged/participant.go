package twophasecommit

// partRecord is a participant's record of one transaction, on disk and in
// memory.
type partRecord struct {
	Coordinator  string   // who sent the Prepare
	Participants []string // every participant of the transaction
	Yes          bool     // this participant voted yes
	State        State    // Uncertain, Committed or Aborted
}

// Participant prepares, votes and applies the outcome of transactions on
// its Service.
type Participant struct {
	env  Env
	cfg  Config
	svc  Service
	recs map[string]*partRecord
}

// NewParticipant builds a participant from its records (none on the first
// start). It calls no Service method. Every transaction it is uncertain
// about is asked about again at once.
func NewParticipant(env Env, cfg Config, svc Service) *Participant {
	p := &Participant{env: env, cfg: cfg.withDefaults(), svc: svc, recs: map[string]*partRecord{}}
	for _, key := range env.Disk().Keys(logPrefix) {
		r := &partRecord{}
		load(env.Disk(), key, r)
		id := key[len(logPrefix):]
		p.recs[id] = r
		if r.State == Uncertain {
			p.ask(id, r)
		}
	}
	return p
}

// Status reports what the participant knows about transaction id.
func (p *Participant) Status(id string) State {
	if r := p.recs[id]; r != nil {
		return r.State
	}
	return Unknown
}

// Handle processes Prepare, Decision and Query messages.
func (p *Participant) Handle(from string, msg any) {
	switch m := msg.(type) {
	case Prepare:
		r := p.recs[m.Tx]
		if r == nil {
			yes := p.svc.Prepare(m.Tx)
			r = &partRecord{Coordinator: from, Participants: m.Participants, Yes: yes, State: Aborted}
			if yes {
				r.State = Uncertain
			}
			store(p.env.Disk(), logPrefix+m.Tx, r)
			p.recs[m.Tx] = r
			if yes {
				p.later(m.Tx, r)
			}
		}
		p.env.Send(from, Vote{Tx: m.Tx, Yes: r.Yes})
	case Decision:
		r := p.recs[m.Tx]
		switch {
		case r == nil && !m.Commit:
			// Aborted before it was prepared here: a late Prepare gets a no.
			r = &partRecord{State: Aborted}
			store(p.env.Disk(), logPrefix+m.Tx, r)
			p.recs[m.Tx] = r
		case r == nil || r.State != Uncertain:
			// A commit of something never prepared here, or a duplicate.
		case m.Commit:
			p.svc.Commit(m.Tx)
			r.State = Committed // the service has it; no need to log it again
		default:
			p.svc.Abort(m.Tx)
			r.State = Aborted
		}
	case Query:
		if r := p.recs[m.Tx]; r != nil && r.State != Uncertain {
			p.env.Send(from, Decision{Tx: m.Tx, Commit: r.State == Committed})
		}
	}
}

// later asks about id again after RetryAfter, for as long as the
// participant stays uncertain.
func (p *Participant) later(id string, r *partRecord) {
	p.env.After(p.cfg.RetryAfter, func() {
		if r.State == Uncertain {
			p.ask(id, r)
		}
	})
}

// ask sends a Query about id to the coordinator and to every other
// participant (cooperative termination), and asks again later.
func (p *Participant) ask(id string, r *partRecord) {
	p.env.Send(r.Coordinator, Query{Tx: id})
	for _, q := range r.Participants {
		if q != p.env.Name() {
			p.env.Send(q, Query{Tx: id})
		}
	}
	p.later(id, r)
}

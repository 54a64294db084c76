package twophasecommit

// Participant prepares, votes and applies the outcome of transactions on
// its Service.
type Participant struct {
	env Env
	cfg Config
	svc Service
	// TODO: a record per transaction: your vote, its state, who the
	// coordinator and the other participants are.
}

// NewParticipant builds a participant from its records (none on the first
// start). It calls no Service method. Every transaction it is uncertain
// about is asked about again at once.
func NewParticipant(env Env, cfg Config, svc Service) *Participant {
	// TODO: apply the defaults of Config; read your records from
	// env.Disk(); for every uncertain transaction, in ID order, send the
	// queries at once and arm the query timer.
	return &Participant{env: env, cfg: cfg, svc: svc}
}

// Status reports what the participant knows about transaction id.
func (p *Participant) Status(id string) State {
	// TODO
	return Unknown
}

// Handle processes Prepare, Decision and Query messages.
func (p *Participant) Handle(from string, msg any) {
	switch msg.(type) {
	case Prepare:
		// TODO: ask the service once; record the vote on disk; then reply.
	case Decision:
		// TODO: if uncertain, apply the outcome once and record it.
	case Query:
		// TODO: answer a peer if you know the outcome.
	}
}

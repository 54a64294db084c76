package twophasecommit

// Coordinator runs two-phase commit for the transactions it is given. Its
// log lives on Env.Disk.
type Coordinator struct {
	env Env
	cfg Config
	// TODO: every transaction you know: its participants, its state, the
	// yes votes counted so far.
}

// NewCoordinator builds the coordinator from its log (empty on the first
// start). After a crash every logged transaction is decided: committed if
// its commit is in the log, aborted otherwise, and its decision is sent
// again to every participant.
func NewCoordinator(env Env, cfg Config) *Coordinator {
	// TODO: apply the defaults of Config; read every transaction from
	// env.Disk() and, in ID order, send its decision to every participant.
	return &Coordinator{env: env, cfg: cfg}
}

// Begin starts two-phase commit for tx. An ID the coordinator already knows
// is ignored.
func (c *Coordinator) Begin(tx Tx) {
	// TODO: log the transaction, send Prepare to every participant, start
	// the vote timer.
}

// Status reports what the coordinator knows about transaction id.
func (c *Coordinator) Status(id string) State {
	// TODO
	return Unknown
}

// Handle processes votes and queries.
func (c *Coordinator) Handle(from string, msg any) {
	switch msg.(type) {
	case Vote:
		// TODO: count yes votes once per participant; all yes -> log the
		// commit, then send it; a no -> abort. Answer votes for decided or
		// unknown transactions with the decision.
	case Query:
		// TODO: answer with the decision once there is one (presumed abort
		// for a transaction you have no record of).
	}
}

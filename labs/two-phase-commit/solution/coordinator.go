package twophasecommit

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// withDefaults replaces zero durations by their defaults.
func (c Config) withDefaults() Config {
	if c.VoteTimeout <= 0 {
		c.VoteTimeout = 100 * time.Millisecond
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 50 * time.Millisecond
	}
	return c
}

// logPrefix starts the disk key of every transaction's record, on the
// coordinator and on participants alike.
const logPrefix = "tx/"

// store writes v as JSON under key. The records are structs of strings,
// slices of strings and booleans, which always encode.
func store(d Disk, key string, v any) {
	b, _ := json.Marshal(v)
	d.Put(key, b)
}

// load decodes the record under key into v.
func load(d Disk, key string, v any) {
	b, _ := d.Get(key)
	if err := json.Unmarshal(b, v); err != nil {
		panic("twophasecommit: corrupt record " + key + ": " + err.Error())
	}
}

// coordRecord is the coordinator's log entry for one transaction. A
// transaction whose commit is not logged is aborted after a restart
// (presumed abort), so aborts are never written.
type coordRecord struct {
	Participants []string
	Commit       bool
}

// coordTx is what the coordinator knows about one transaction.
type coordTx struct {
	id    string
	parts []string
	state State
	yes   map[string]bool
}

// Coordinator runs two-phase commit for the transactions it is given. Its
// log lives on Env.Disk.
type Coordinator struct {
	env Env
	cfg Config
	txs map[string]*coordTx
}

// NewCoordinator builds the coordinator from its log (empty on the first
// start). After a crash every logged transaction is decided: committed if
// its commit is in the log, aborted otherwise, and its decision is sent
// again to every participant.
func NewCoordinator(env Env, cfg Config) *Coordinator {
	c := &Coordinator{env: env, cfg: cfg.withDefaults(), txs: map[string]*coordTx{}}
	for _, key := range env.Disk().Keys(logPrefix) {
		var r coordRecord
		load(env.Disk(), key, &r)
		t := &coordTx{id: strings.TrimPrefix(key, logPrefix), parts: r.Participants, state: Aborted}
		if r.Commit {
			t.state = Committed
		}
		c.txs[t.id] = t
		c.announce(t)
	}
	return c
}

// Begin starts two-phase commit for tx. An ID the coordinator already knows
// is ignored.
func (c *Coordinator) Begin(tx Tx) {
	if c.txs[tx.ID] != nil {
		return
	}
	t := &coordTx{id: tx.ID, parts: slices.Clone(tx.Participants), state: Voting, yes: map[string]bool{}}
	store(c.env.Disk(), logPrefix+t.id, coordRecord{Participants: t.parts})
	c.txs[t.id] = t
	for _, p := range t.parts {
		c.env.Send(p, Prepare{Tx: t.id, Participants: slices.Clone(t.parts)})
	}
	c.env.After(c.cfg.VoteTimeout, func() {
		if t.state == Voting {
			c.decide(t, Aborted)
		}
	})
}

// Status reports what the coordinator knows about transaction id.
func (c *Coordinator) Status(id string) State {
	if t := c.txs[id]; t != nil {
		return t.state
	}
	return Unknown
}

// Handle processes votes and queries.
func (c *Coordinator) Handle(from string, msg any) {
	switch m := msg.(type) {
	case Vote:
		t := c.txs[m.Tx]
		if t == nil {
			c.env.Send(from, Decision{Tx: m.Tx}) // presumed abort
			return
		}
		if !slices.Contains(t.parts, from) {
			return
		}
		if t.state != Voting {
			c.env.Send(from, Decision{Tx: t.id, Commit: t.state == Committed})
			return
		}
		if !m.Yes {
			c.decide(t, Aborted)
			return
		}
		t.yes[from] = true
		if len(t.yes) == len(t.parts) {
			c.decide(t, Committed)
		}
	case Query:
		t := c.txs[m.Tx]
		if t == nil {
			c.env.Send(from, Decision{Tx: m.Tx}) // presumed abort
			return
		}
		if t.state != Voting {
			c.env.Send(from, Decision{Tx: t.id, Commit: t.state == Committed})
		}
	}
}

// decide ends the voting of t. A commit is logged before anyone hears of
// it; an abort needs no log entry.
func (c *Coordinator) decide(t *coordTx, outcome State) {
	if outcome == Committed {
		store(c.env.Disk(), logPrefix+t.id, coordRecord{Participants: t.parts, Commit: true})
	}
	t.state = outcome
	c.announce(t)
}

// announce sends t's decision to every participant.
func (c *Coordinator) announce(t *coordTx) {
	for _, p := range t.parts {
		c.env.Send(p, Decision{Tx: t.id, Commit: t.state == Committed})
	}
}

package labkit

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// Invariant registers a check that runs after every event from now on. The
// first time it returns an error, the simulation records it with the time,
// stops, and refuses to run further, so the trace ends where the property
// broke. Read the error with Err, or just call Require(tb, sim.Err()).
func (s *Sim) Invariant(check func() error) {
	s.mu.Lock()
	s.invariants = append(s.invariants, check)
	s.mu.Unlock()
}

// Err returns the first invariant violation, or nil.
func (s *Sim) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// Observe registers fn to run after every event from now on (after the
// invariants), for watching state as it changes: recording claims, or
// crashing a node the moment it takes a role (see Targeted).
func (s *Sim) Observe(fn func()) {
	s.mu.Lock()
	s.observers = append(s.observers, fn)
	s.mu.Unlock()
}

func (s *Sim) checkInvariants() {
	s.mu.Lock()
	checks := s.invariants
	observers := s.observers
	done := s.broken != nil
	s.mu.Unlock()
	if done {
		return
	}
	defer func() {
		for _, o := range observers {
			o()
		}
	}()
	for _, c := range checks {
		if err := c(); err != nil {
			s.mu.Lock()
			s.broken = err
			s.stopped = true
			s.mu.Unlock()
			return
		}
	}
}

// Converged returns nil if every node's state is equal (reflect.DeepEqual),
// or a *Violation grouping the nodes by the state they hold.
func Converged[S any](states map[string]S) error {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	type group struct {
		state S
		nodes []string
	}
	var groups []*group
next:
	for _, n := range names {
		for _, g := range groups {
			if reflect.DeepEqual(g.state, states[n]) {
				g.nodes = append(g.nodes, n)
				continue next
			}
		}
		groups = append(groups, &group{state: states[n], nodes: []string{n}})
	}
	if len(groups) <= 1 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "after healing, the nodes hold %d different states:\n", len(groups))
	for _, g := range groups {
		fmt.Fprintf(&b, "  %s: %s\n", strings.Join(g.nodes, ", "), Describe(g.state))
	}
	return &Violation{Property: "all nodes converge to the same state", Detail: strings.TrimRight(b.String(), "\n")}
}

// LeaderClaim is a node believing it leads a term.
type LeaderClaim struct {
	At   time.Duration
	Term int64
	Node string
}

// AtMostOnePerTerm returns a *Violation if two different nodes claimed
// leadership of the same term.
func AtMostOnePerTerm(claims []LeaderClaim) error {
	first := map[int64]LeaderClaim{}
	for _, c := range claims {
		f, ok := first[c.Term]
		if !ok {
			first[c.Term] = c
			continue
		}
		if f.Node != c.Node {
			return Violationf("at most one leader per term",
				"%s became leader of term %d at %s, but %s had already become leader of term %d at %s",
				c.Node, c.Term, fmtDur(c.At), f.Node, f.Term, fmtDur(f.At))
		}
	}
	return nil
}

// Leaders records leadership claims as they happen; its Check is an
// invariant for Sim.Invariant.
type Leaders struct {
	sim    *Sim
	claims []LeaderClaim
}

// NewLeaders returns an empty recorder stamped by sim's clock.
func NewLeaders(sim *Sim) *Leaders { return &Leaders{sim: sim} }

// Claim records that node considers itself leader of term now.
func (l *Leaders) Claim(node string, term int64) {
	l.claims = append(l.claims, LeaderClaim{At: l.sim.Elapsed(), Term: term, Node: node})
}

// Claims returns the recorded claims.
func (l *Leaders) Claims() []LeaderClaim { return slices.Clone(l.claims) }

// Check returns AtMostOnePerTerm of the claims so far.
func (l *Leaders) Check() error { return AtMostOnePerTerm(l.claims) }

// EveryCompensationRan checks a saga's compensations: every completed step
// must be compensated exactly once, in reverse order of completion, and no
// step that did not complete may be compensated.
func EveryCompensationRan(completed, compensated []string) error {
	const prop = "every completed step is compensated once, in reverse order"
	done := map[string]int{}
	for _, s := range completed {
		done[s]++
	}
	seen := map[string]int{}
	for _, s := range compensated {
		seen[s]++
		if done[s] == 0 {
			return Violationf(prop, "step %q was compensated but never completed (completed: %s)", s, list(completed))
		}
		if seen[s] > done[s] {
			return Violationf(prop, "step %q was compensated %d times", s, seen[s])
		}
	}
	var missing []string
	for _, s := range completed {
		if seen[s] < done[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return Violationf(prop, "never compensated: %s (completed: %s; compensated: %s)", list(missing), list(completed), list(compensated))
	}
	want := slices.Clone(completed)
	slices.Reverse(want)
	if !slices.Equal(want, compensated) {
		return Violationf(prop, "compensations ran as %s; they must undo the steps in reverse order: %s", list(compensated), list(want))
	}
	return nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Write is a client write for NoAckedWriteLost.
type Write struct {
	Key    string
	Value  string
	Invoke time.Duration // when the client sent it
	Acked  bool          // whether the client was told it succeeded
}

// NoAckedWriteLost checks durability: for every acknowledged write, the
// final values of its key (values, which may hold several siblings) must
// include its value, or the value of another write to that key invoked after
// it (which may legitimately have overwritten it).
func NoAckedWriteLost(writes []Write, values func(key string) []string) error {
	byKey := map[string][]Write{}
	var keys []string
	for _, w := range writes {
		if _, ok := byKey[w.Key]; !ok {
			keys = append(keys, w.Key)
		}
		byKey[w.Key] = append(byKey[w.Key], w)
	}
	sort.Strings(keys)
	for _, k := range keys {
		final := values(k)
		for _, w := range byKey[k] {
			if !w.Acked {
				continue
			}
			ok := slices.Contains(final, w.Value)
			for _, later := range byKey[k] {
				if ok {
					break
				}
				ok = later.Invoke > w.Invoke && slices.Contains(final, later.Value)
			}
			if !ok {
				return Violationf("no acknowledged write is lost",
					"the write %q = %q was acknowledged (sent at %s), but key %q now holds %s and no later write explains that",
					k, w.Value, fmtDur(w.Invoke), k, list(final))
			}
		}
	}
	return nil
}

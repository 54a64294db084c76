package hidden

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	tpc "faultline.dev/labs/twophasecommit"
)

// scenario configures an end-to-end run: the learner's coordinator and
// participants on a faulty network.
type scenario struct {
	Txs        int
	Link       labkit.Link
	FaultsFor  time.Duration
	RefuseRate float64 // share of transactions with a participant that refuses
	AllCommit  bool    // every transaction without a refusal must commit

	CoordCrash  bool    // the coordinator crashes now and then
	PartCrash   bool    // participants crash now and then
	SendCrash   float64 // chance that the coordinator crashes as it sends a decision
	TargetCoord bool    // crash the coordinator now and then right after it decided
	TargetParts bool    // crash a participant now and then right after it voted or learned an outcome
	Writes      float64 // chance of a crash just before a disk write
	Nemesis     bool    // random partitions, one-way cuts and crashes
}

var participants = []string{"stock", "payment", "shipping", "loyalty"}

// plan is what the test knows about a transaction: its participants and
// which of them refuse it.
type plan struct {
	parts  []string
	refuse map[string]bool
}

type key struct{ tx, node string }

// world runs the learner's nodes and checks, after every event and at every
// service call, what they do.
type world struct {
	t   *testing.T
	sim *labkit.Sim
	net *labkit.Net
	ds  *disks
	cfg tpc.Config
	ids []string

	plans map[string]plan
	begun map[string]bool
	inc   map[string]int // incarnations of each node (a restart adds one)

	prepCalls map[key]int
	prepInc   map[key]int
	prepared  map[key]bool // the service said yes
	voted     map[key]bool // the participant sent a Vote
	applied   map[key]string
	applyInc  map[key]int

	watches []*watch // the begun transactions
	queries int      // Query messages sent between participants

	// crashOn, if set, says whether the coordinator crashes as it is about
	// to send msg (only asked for decisions).
	crashOn   func(to string, msg any) bool
	down      time.Duration // how long such a crash keeps it down; 0 means until the test restarts it
	changes   map[string][]labkit.Change
	partLanes bool // draw one lane per participant for the first transaction, not one per transaction
	pictured  *int // shared by the seeds of one test (see picture)
	err       error
}

func newWorld(t *testing.T, seed int64, c tpc.Config) *world {
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	w := &world{t: t, sim: sim, net: net, ds: newDisks(net), cfg: c,
		plans: map[string]plan{}, begun: map[string]bool{}, inc: map[string]int{},
		prepCalls: map[key]int{}, prepInc: map[key]int{}, prepared: map[key]bool{}, voted: map[key]bool{},
		applied: map[key]string{}, applyInc: map[key]int{},
		changes: map[string][]labkit.Change{}}
	net.AddNode(coord, func(e *labkit.Env) labkit.Node {
		w.inc[coord]++
		return tpc.NewCoordinator(env{e: e, ds: w.ds, onSend: w.coordSent}, w.cfg)
	})
	for _, name := range participants {
		svc := &service{w: w, name: name}
		net.AddNode(name, func(e *labkit.Env) labkit.Node {
			w.inc[name]++
			return tpc.NewParticipant(env{e: e, ds: w.ds, onSend: func(to string, msg any) { w.partSent(name, to, msg) }}, w.cfg, svc)
		})
	}
	sim.Invariant(w.observe)
	return w
}

func (w *world) fail(err error) {
	if w.err == nil {
		w.err = err
		w.sim.Stop()
	}
}

func (w *world) require(err error) {
	w.t.Helper()
	if err != nil {
		w.attach()
		w.sim.Require(w.t, err)
	}
}

func (w *world) coordSent(to string, msg any) {
	if err := coordWriteAhead(w.ds, to, msg); err != nil {
		w.fail(err)
		return
	}
	if _, ok := msg.(tpc.Decision); ok && w.crashOn != nil && w.crashOn(to, msg) {
		w.sim.Logf("test: the coordinator crashes as it sends %s to %s", describe(msg), to)
		w.net.Crash(coord)
		if w.down > 0 {
			w.sim.Schedule(w.down, func() { w.net.Restart(coord) })
		}
	}
}

func (w *world) partSent(name, to string, msg any) {
	if err := partWriteAhead(w.ds, name, to, msg); err != nil {
		w.fail(err)
		return
	}
	switch m := msg.(type) {
	case tpc.Vote:
		w.voted[key{m.Tx, name}] = true
	case tpc.Query:
		if to != coord {
			w.queries++
		}
	}
}

func (w *world) c() *tpc.Coordinator {
	if n := w.net.Node(coord); n != nil {
		return n.(*tpc.Coordinator)
	}
	return nil
}

func (w *world) p(name string) *tpc.Participant {
	if n := w.net.Node(name); n != nil {
		return n.(*tpc.Participant)
	}
	return nil
}

// add plans a transaction.
func (w *world) add(id string, parts []string, refuse ...string) {
	p := plan{parts: parts, refuse: map[string]bool{}}
	for _, r := range refuse {
		p.refuse[r] = true
	}
	w.ids = append(w.ids, id)
	w.plans[id] = p
}

// begin calls Begin for id now, or as soon as the coordinator is up.
func (w *world) begin(id string) {
	c := w.c()
	if c == nil {
		w.sim.Schedule(10*time.Millisecond, func() { w.begin(id) })
		return
	}
	p := w.plans[id]
	w.sim.Logf("client: Begin(%s, participants %v, refused by %v)", id, p.parts, sortedKeys(p.refuse))
	c.Begin(tpc.Tx{ID: id, Participants: slices.Clone(p.parts)})
	if !w.begun[id] {
		w.begun[id] = true
		x := &watch{id: id, last: make([]tpc.State, len(p.parts)), done: make([]tpc.State, len(p.parts))}
		for _, name := range p.parts {
			x.parts = append(x.parts, slices.Index(participants, name))
		}
		w.watches = append(w.watches, x)
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// watch is what observe remembers about one begun transaction.
type watch struct {
	id    string
	parts []int       // indexes into participants
	last  []tpc.State // per participant, what it last reported
	done  []tpc.State // per participant, the outcome it reported (Unknown: none yet)
	final tpc.State   // the coordinator's decision (Unknown: none yet)
	coord string      // what the coordinator last reported
	lane  string      // the transaction's lane in the picture
}

// observe runs after every event: decisions are final, participants never
// forget, and the picture's lanes.
func (w *world) observe() error {
	c := w.c()
	var ps [4]*tpc.Participant
	for i, name := range participants {
		ps[i] = w.p(name)
	}
	for _, x := range w.watches {
		uncertain := false
		for j, pi := range x.parts {
			p := ps[pi]
			if p == nil {
				uncertain = uncertain || x.last[j] == tpc.Uncertain
				continue
			}
			st := p.Status(x.id)
			last := x.last[j]
			x.last[j] = st
			name := participants[pi]
			if st != last && w.partLanes && x.id == w.ids[0] {
				w.changes[name] = append(w.changes[name], labkit.Change{At: w.sim.Elapsed(), State: st.String()})
			}
			uncertain = uncertain || st == tpc.Uncertain
			if last == tpc.Uncertain && st == tpc.Unknown {
				return labkit.Violationf("a participant that voted yes never forgets its vote",
					"%s was uncertain about %s and now reports it unknown (after a restart its record must be on disk)", name, x.id)
			}
			if f := x.done[j]; f != tpc.Unknown && st != f {
				return labkit.Violationf("a participant's outcome never changes",
					"%s reported %s as %s and now reports it %s", name, x.id, f, st)
			}
			if st == tpc.Committed || st == tpc.Aborted {
				x.done[j] = st
			}
		}
		if c != nil {
			st := c.Status(x.id)
			if x.final != tpc.Unknown && st != x.final {
				return labkit.Violationf("a decision is final",
					"the coordinator decided %s as %s and now reports it %s", x.id, x.final, st)
			}
			if st == tpc.Committed || st == tpc.Aborted {
				x.final = st
			}
			x.coord = st.String()
		}
		lane := x.coord // while the coordinator is down: what it last reported
		if uncertain {
			lane = "uncertain"
		}
		if lane != x.lane {
			x.lane = lane
			w.changes[x.id] = append(w.changes[x.id], labkit.Change{At: w.sim.Elapsed(), State: lane})
		}
	}
	return nil
}

// service is a participant's database: it survives crashes and checks every
// call against what the other participants and the coordinator did.
type service struct {
	w    *world
	name string
}

func (s *service) Prepare(tx string) bool {
	w := s.w
	k := key{tx, s.name}
	p, ok := w.plans[tx]
	switch {
	case !ok || !slices.Contains(p.parts, s.name):
		w.fail(labkit.Violationf("participants prepare only transactions they take part in", "%s's service was asked to prepare %s", s.name, tx))
	case w.voted[k] && w.prepCalls[k] > 0:
		w.fail(labkit.Violationf("a duplicate Prepare gets the recorded vote, without asking the service again",
			"%s had already voted on %s and asked its service to prepare it again", s.name, tx))
	case w.prepCalls[k] > 0 && w.prepInc[k] == w.inc[s.name]:
		w.fail(labkit.Violationf("the service is asked to prepare a transaction once",
			"%s asked its service to prepare %s a second time, without a crash in between", s.name, tx))
	}
	w.prepCalls[k]++
	w.prepInc[k] = w.inc[s.name]
	yes := !p.refuse[s.name]
	if yes {
		w.prepared[k] = true
	} else {
		w.sim.Logf("%s refuses %s", s.name, tx)
	}
	return yes
}

func (s *service) Commit(tx string) { s.apply(tx, "commit") }
func (s *service) Abort(tx string)  { s.apply(tx, "abort") }

func (s *service) apply(tx, what string) {
	w := s.w
	k := key{tx, s.name}
	p := w.plans[tx]
	switch prev := w.applied[k]; {
	case !w.prepared[k]:
		w.fail(labkit.Violationf("only a transaction the service prepared (voted yes on) is committed or aborted there",
			"%s's service was told to %s %s, which it never prepared (a refused transaction holds nothing to abort)", s.name, what, tx))
		return
	case prev != "" && prev != what:
		w.fail(labkit.Violationf("a participant's outcome never changes",
			"%s's service was told to %s %s after it was told to %s it", s.name, what, tx, prev))
		return
	case prev != "" && w.applyInc[k] == w.inc[s.name]:
		w.fail(labkit.Violationf("each outcome is applied once",
			"%s's service was told to %s %s a second time, without a crash in between", s.name, what, tx))
		return
	}
	for _, q := range p.parts {
		if other := w.applied[key{tx, q}]; other != "" && other != what {
			w.fail(labkit.Violationf("atomicity: no transaction is committed at one participant and aborted at another",
				"%s's service was told to %s %s, but %s's service was told to %s it", s.name, what, tx, q, other))
			return
		}
		if what == "commit" && !w.prepared[key{tx, q}] {
			w.fail(labkit.Violationf("a transaction commits only if every participant voted yes",
				"%s's service was told to commit %s, but %s never prepared it", s.name, tx, q))
			return
		}
	}
	if what == "commit" {
		if st := w.ds.coord(tx); st != tpc.Committed {
			w.fail(labkit.Violationf("a participant commits only after the coordinator logged the commit",
				"%s's service was told to commit %s, but a coordinator restarted from its disk reports it %s", s.name, tx, st))
			return
		}
	}
	w.applied[k] = what
	w.applyInc[k] = w.inc[s.name]
}

// settled reports whether the coordinator is up and every begun transaction
// is decided, with no participant uncertain.
func (w *world) settled() bool {
	c := w.c()
	if c == nil {
		return false
	}
	for _, id := range w.ids {
		if !w.begun[id] {
			return false
		}
		if st := c.Status(id); st != tpc.Committed && st != tpc.Aborted {
			return false
		}
		for _, name := range w.plans[id].parts {
			p := w.p(name)
			if p == nil || p.Status(id) == tpc.Uncertain {
				return false
			}
		}
	}
	return true
}

func (w *world) attach() { w.picture(true) }

// picture attaches the run's timeline. With pictured set (one test's seeds
// share it), only the first failing seed's picture is attached, and a
// passing seed's only if nothing was attached before.
func (w *world) picture(failed bool) {
	if w.pictured != nil {
		switch {
		case failed && *w.pictured < 2:
			*w.pictured = 2
		case !failed && *w.pictured == 0:
			*w.pictured = 1
		default:
			return
		}
	}
	end := w.sim.Elapsed()
	lanes := w.net.Timeline()
	name, title := "2pc-timeline.svg", "nodes; transactions (uncertain: a participant voted yes and waits)"
	if w.partLanes && len(w.ids) > 0 {
		name, title = "blocking.svg", w.ids[0]+": participants stay uncertain while the coordinator is down"
		lanes = lanes[:1] // the coordinator
		for _, p := range w.plans[w.ids[0]].parts {
			lanes = append(lanes, labkit.Lane{Name: p, Spans: labkit.SpansFromChanges(w.changes[p], end)})
		}
	} else {
		for i, id := range w.ids {
			if i == 8 {
				break
			}
			lanes = append(lanes, labkit.Lane{Name: id, Spans: labkit.SpansFromChanges(w.changes[id], end)})
		}
	}
	labkit.Attach(w.t, name, labkit.Timeline{Title: title, Lanes: lanes, Colors: colors()}.SVG())
}

// checkOutcomes checks every transaction's outcome at every node and
// service.
func (w *world) checkOutcomes(when string) {
	w.t.Helper()
	c := w.c()
	for _, id := range w.ids {
		p := w.plans[id]
		st := c.Status(id)
		for _, name := range p.parts {
			k := key{id, name}
			ps := w.p(name).Status(id)
			switch st {
			case tpc.Committed:
				if ps != tpc.Committed || w.applied[k] != "commit" {
					w.require(labkit.Violationf("every participant of a committed transaction commits",
						"%s: %s is committed at the coordinator; %s reports it %s and its service was told to %q", when, id, name, ps, w.applied[k]))
				}
			case tpc.Aborted:
				if ps != tpc.Aborted && ps != tpc.Unknown {
					w.require(labkit.Violationf("every participant of an aborted transaction aborts",
						"%s: %s is aborted at the coordinator; %s reports it %s", when, id, name, ps))
				}
				if w.voted[k] && w.prepared[k] && w.applied[k] != "abort" {
					w.require(labkit.Violationf("every participant that voted yes on an aborted transaction aborts it",
						"%s: %s is aborted at the coordinator; %s prepared it and its service was told to %q", when, id, name, w.applied[k]))
				}
			default:
				w.require(labkit.Violationf("every transaction is decided",
					"%s: the coordinator reports %s as %s", when, id, st))
			}
		}
	}
}

// run begins the transactions over the first three quarters of FaultsFor,
// injects the scenario's faults, repairs everything, restarts every node,
// waits until everything is decided and known, then checks outcomes.
func (w *world) run(sc scenario) {
	w.t.Helper()
	sim, net := w.sim, w.net
	r := sim.Rand()
	for i := 0; i < sc.Txs; i++ {
		id := fmt.Sprintf("tx-%02d", i)
		parts := slices.Clone(participants)
		r.Shuffle(len(parts), func(a, b int) { parts[a], parts[b] = parts[b], parts[a] })
		parts = parts[:1+r.IntN(len(parts))]
		var refuse []string
		if r.Float64() < sc.RefuseRate {
			refuse = append(refuse, parts[r.IntN(len(parts))])
		}
		w.add(id, parts, refuse...)
	}
	net.SetDefaultLink(sc.Link)
	for _, id := range w.ids {
		sim.Schedule(time.Duration(r.Int64N(int64(sc.FaultsFor*3/4))), func() { w.begin(id) })
	}
	if sc.SendCrash > 0 {
		w.down = 30 * time.Millisecond
		w.crashOn = func(string, any) bool { return r.Float64() < sc.SendCrash }
	}
	var nm *labkit.Nemesis
	if sc.Nemesis {
		nm = &labkit.Nemesis{Net: net, Interval: 300 * time.Millisecond, Partitions: true, OneWay: true, Crashes: true}
		nm.Start()
	}
	var tg *labkit.Targeted
	if sc.TargetCoord || sc.TargetParts || sc.Writes > 0 {
		tg = &labkit.Targeted{Net: net, P: 0.15, Writes: sc.Writes, Down: 40 * time.Millisecond, MaxDown: 2}
		// Right after a call that changed what a node knows: a
		// coordinator that just decided, a participant that just voted
		// or learned the outcome.
		tg.State = func(name string, n labkit.Node) string {
			var b strings.Builder
			for _, id := range w.ids {
				if !w.begun[id] {
					continue
				}
				var st tpc.State
				switch x := n.(type) {
				case *tpc.Coordinator:
					if !sc.TargetCoord {
						return ""
					}
					st = x.Status(id)
				case *tpc.Participant:
					if !sc.TargetParts {
						return ""
					}
					st = x.Status(id)
				}
				if st != tpc.Unknown && st != tpc.Voting {
					b.WriteString(id + " " + st.String() + ";")
				}
			}
			return b.String()
		}
		tg.Start()
	}
	var crashers []string
	if sc.CoordCrash {
		crashers = append(crashers, coord)
	}
	if sc.PartCrash {
		crashers = append(crashers, participants...)
	}
	stop := false
	for _, name := range crashers {
		var next func()
		next = func() {
			if stop {
				return
			}
			if net.Up(name) {
				net.Crash(name)
				sim.Schedule(20*time.Millisecond+time.Duration(r.Int64N(int64(100*time.Millisecond))), func() { net.Restart(name) })
			}
			// Participants are several: each crashes less often.
			every := 100 * time.Millisecond
			if name != coord {
				every = 400 * time.Millisecond
			}
			sim.Schedule(every+time.Duration(r.Int64N(int64(4*every))), next)
		}
		sim.Schedule(50*time.Millisecond+time.Duration(r.Int64N(int64(300*time.Millisecond))), next)
	}
	sim.RunFor(sc.FaultsFor)
	w.require(w.err)
	stop = true
	w.crashOn = nil
	if tg != nil {
		tg.Stop()
	}
	if nm != nil {
		nm.Stop()
	}
	net.Heal()
	net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond)})
	for _, name := range net.Nodes() {
		net.Restart(name)
	}
	sim.RunUntil(func() bool { return w.err != nil || w.settled() }, time.Minute)
	w.require(w.err)
	if !w.settled() {
		var stuck []string
		for _, id := range w.ids {
			var who []string
			for _, name := range w.plans[id].parts {
				who = append(who, name+" "+w.p(name).Status(id).String())
			}
			if st := w.c().Status(id); st != tpc.Committed && st != tpc.Aborted || slices.ContainsFunc(who, func(s string) bool { return strings.HasSuffix(s, " uncertain") }) {
				stuck = append(stuck, fmt.Sprintf("%s (coordinator %s; %s)", id, st, strings.Join(who, ", ")))
			}
		}
		w.attach()
		sim.Failf(w.t, "everyone learns the outcome (progress)",
			"a minute after the faults stopped, %d transactions are not settled: %s\n(uncertain participants ask every RetryAfter; the coordinator answers with its decision)",
			len(stuck), strings.Join(stuck, "; "))
	}
	w.checkOutcomes("at the end")
	if sc.AllCommit {
		for _, id := range w.ids {
			if st := w.c().Status(id); len(w.plans[id].refuse) == 0 && st != tpc.Committed {
				w.require(labkit.Violationf("a transaction every participant votes yes on commits when nothing fails",
					"%s (participants %v, none refuses) is %s", id, w.plans[id].parts, st))
			}
		}
	}
	net.Crash(coord)
	net.Restart(coord)
	sim.RunFor(time.Second)
	w.require(w.err)
	w.checkOutcomes("after the coordinator restarted")
	commits := 0
	for _, id := range w.ids {
		if w.c().Status(id) == tpc.Committed {
			commits++
		}
	}
	w.t.Logf("%d transactions, %d committed, %s virtual", len(w.ids), commits, sim.Elapsed())
}

package hidden

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/saga"
)

// scenario configures an end-to-end run: the learner's orchestrator and
// participants on a faulty network.
type scenario struct {
	Sagas      int
	Link       labkit.Link
	OrchCrash  bool // the orchestrator crashes now and then
	PartCrash  bool // participants crash now and then
	Nemesis    bool // random partitions, one-way cuts and crashes
	Targeted   bool // the orchestrator crashes right after a saga's status changes, now and then
	FaultsFor  time.Duration
	RefuseRate float64 // share of sagas with a step that is refused
}

var participants = []string{"flight", "hotel", "car", "payment"}

type plan struct {
	steps    []string
	refuseAt int // -1: every step is done
}

type stepKey struct {
	id   string
	step int
}

// world runs a scenario and checks what the participants' services saw.
type world struct {
	t   *testing.T
	sim *labkit.Sim
	net *labkit.Net
	sc  scenario
	ids []string

	plans       map[string]plan
	begun       map[string]bool
	did         map[stepKey]bool // Service.Do was called
	ok          map[stepKey]bool // and said yes
	undid       map[stepKey]bool
	completed   map[string][]string
	compensated map[string][]string
	changes     map[string][]labkit.Change
	last        map[string]string
	afterEnd    []string // commands sent once every saga had finished
	ended       bool
	err         error
}

func label(step int, node string) string { return fmt.Sprintf("%d:%s", step, node) }

func newWorld(t *testing.T, seed int64, sc scenario) *world {
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	w := &world{t: t, sim: sim, net: net, sc: sc,
		plans: map[string]plan{}, begun: map[string]bool{}, did: map[stepKey]bool{}, ok: map[stepKey]bool{},
		undid: map[stepKey]bool{}, completed: map[string][]string{}, compensated: map[string][]string{},
		changes: map[string][]labkit.Change{}, last: map[string]string{}}
	r := sim.Rand()
	for i := 0; i < sc.Sagas; i++ {
		id := fmt.Sprintf("trip-%02d", i)
		n := 2 + r.IntN(4)
		var steps []string
		for range n {
			steps = append(steps, participants[r.IntN(len(participants))])
		}
		p := plan{steps: steps, refuseAt: -1}
		if r.Float64() < sc.RefuseRate {
			p.refuseAt = r.IntN(n)
		}
		w.ids = append(w.ids, id)
		w.plans[id] = p
	}
	net.SetDefaultLink(sc.Link)
	net.AddNode(orch, func(e *labkit.Env) labkit.Node {
		return saga.NewOrchestrator(env{e: e, onSend: w.onSend}, saga.Config{RetryAfter: retryAfter})
	})
	for _, name := range participants {
		svc := &service{w: w, name: name}
		net.AddNode(name, func(e *labkit.Env) labkit.Node { return saga.NewParticipant(env{e: e}, svc) })
	}
	sim.Invariant(func() error {
		w.observe()
		return nil
	})
	return w
}

func (w *world) fail(err error) {
	if w.err == nil {
		w.err = err
		w.sim.Stop()
	}
}

func (w *world) onSend(to string, msg any) {
	if w.ended {
		w.afterEnd = append(w.afterEnd, describe(msg)+" to "+to)
	}
	if err := writeAhead(w.net, func(id string) []string { return w.plans[id].steps }, to, msg); err != nil {
		w.fail(err)
	}
}

func (w *world) o() *saga.Orchestrator {
	if n := w.net.Node(orch); n != nil {
		return n.(*saga.Orchestrator)
	}
	return nil
}

// observe records each saga's state over time for the picture.
func (w *world) observe() {
	o := w.o()
	if o == nil {
		return
	}
	for id := range w.begun {
		st := o.Status(id).State.String()
		if w.last[id] != st {
			w.last[id] = st
			w.changes[id] = append(w.changes[id], labkit.Change{At: w.sim.Elapsed(), State: st})
		}
	}
}

// service is a participant's business database: it survives crashes and
// checks that every step is performed at most once, in order, and that only
// performed steps are compensated.
type service struct {
	w    *world
	name string
}

func (s *service) Do(id string, step int) bool {
	w := s.w
	p, known := w.plans[id]
	k := stepKey{id, step}
	switch {
	case !known || step < 0 || step >= len(p.steps):
		w.fail(labkit.Violationf("participants run only steps of begun sagas", "%s ran step %d of saga %q, which has no such step", s.name, step, id))
	case p.steps[step] != s.name:
		w.fail(labkit.Violationf("step i runs on the participant Steps[i]", "%s ran step %d of %s, which belongs to %s", s.name, step, id, p.steps[step]))
	case w.did[k]:
		w.fail(labkit.Violationf("a participant performs each step at most once (idempotent on duplicate commands)",
			"%s performed step %d of %s a second time: a duplicate Do must return the recorded answer", s.name, step, id))
	case step > 0 && !w.ok[stepKey{id, step - 1}]:
		w.fail(labkit.Violationf("steps run in order, each after the previous one was done",
			"%s performed step %d of %s, but step %d was never done", s.name, step, id, step-1))
	case len(w.compensated[id]) > 0:
		w.fail(labkit.Violationf("no step runs once compensation has begun",
			"%s performed step %d of %s after %s had been compensated", s.name, step, id, w.compensated[id][0]))
	}
	w.did[k] = true
	if step == p.refuseAt {
		w.sim.Logf("%s refuses step %d of %s", s.name, step, id)
		return false
	}
	w.ok[k] = true
	w.completed[id] = append(w.completed[id], label(step, s.name))
	return true
}

func (s *service) Undo(id string, step int) {
	w := s.w
	k := stepKey{id, step}
	switch {
	case !w.ok[k]:
		w.fail(labkit.Violationf("only steps that were done are compensated",
			"%s compensated step %d of %s, which was never done (a refused step has nothing to undo)", s.name, step, id))
	case w.undid[k]:
		w.fail(labkit.Violationf("a participant compensates each step at most once (idempotent on duplicate commands)",
			"%s compensated step %d of %s a second time", s.name, step, id))
	}
	w.undid[k] = true
	w.compensated[id] = append(w.compensated[id], label(step, s.name))
}

// allEnded reports whether every saga was begun and has ended.
func (w *world) allEnded() bool {
	o := w.o()
	if o == nil || len(w.begun) < len(w.ids) {
		return false
	}
	for _, id := range w.ids {
		if st := o.Status(id).State; st != saga.Committed && st != saga.Compensated {
			return false
		}
	}
	return true
}

func (w *world) attach() {
	end := w.sim.Elapsed()
	lanes := w.net.Timeline()
	for i, id := range w.ids {
		if i == 10 {
			break
		}
		lanes = append(lanes, labkit.Lane{Name: id, Spans: labkit.SpansFromChanges(w.changes[id], end)})
	}
	colors := map[string]string{"running": "#4e79a7", "compensating": "#f28e2b", "committed": "#59a14f", "compensated": "#b07aa1"}
	for k, v := range labkit.TimelineColors {
		colors[k] = v
	}
	labkit.Attach(w.t, "saga-timeline.svg", labkit.Timeline{Title: "nodes, and sagas as the orchestrator reports them", Lanes: lanes, Colors: colors}.SVG())
}

func (w *world) require(err error) {
	w.t.Helper()
	if err != nil {
		w.attach()
		w.sim.Require(w.t, err)
	}
}

// run begins the sagas over the first three quarters of FaultsFor (a client retries Begin while
// the orchestrator is down), injects the scenario's faults for FaultsFor,
// repairs everything and waits for every saga to end, then checks outcomes.
func (w *world) run() {
	w.t.Helper()
	sim, net := w.sim, w.net
	r := sim.Rand()
	for _, id := range w.ids {
		var try func()
		try = func() {
			o := w.o()
			if o == nil {
				sim.Schedule(10*time.Millisecond, try)
				return
			}
			p := w.plans[id]
			sim.Logf("client: Begin(%s, steps %v, refused at %d)", id, p.steps, p.refuseAt)
			o.Begin(saga.Saga{ID: id, Steps: slices.Clone(p.steps)})
			w.begun[id] = true
		}
		sim.Schedule(time.Duration(r.Int64N(int64(w.sc.FaultsFor*3/4))), try)
	}
	var nm *labkit.Nemesis
	if w.sc.Nemesis {
		nm = &labkit.Nemesis{Net: net, Interval: 300 * time.Millisecond, Partitions: true, OneWay: true, Crashes: true}
		nm.Start()
	}
	var crashers []string
	if w.sc.OrchCrash {
		crashers = append(crashers, orch)
	}
	if w.sc.PartCrash {
		crashers = append(crashers, participants...)
	}
	var tg *labkit.Targeted
	if w.sc.Targeted {
		// Right after a call that changed a saga's status (the log was
		// written, the next command sent), before anything else happens.
		tg = &labkit.Targeted{Net: net, P: 0.15, Down: 30 * time.Millisecond, MaxDown: 1,
			State: func(name string, n labkit.Node) string {
				o, ok := n.(*saga.Orchestrator)
				if !ok {
					return ""
				}
				var b strings.Builder
				for _, id := range w.ids {
					if w.begun[id] {
						b.WriteString(statusString(o.Status(id)) + ";")
					}
				}
				return b.String()
			}}
		tg.Start()
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
				sim.Schedule(20*time.Millisecond+time.Duration(r.Int64N(int64(150*time.Millisecond))), func() { net.Restart(name) })
			}
			sim.Schedule(100*time.Millisecond+time.Duration(r.Int64N(int64(400*time.Millisecond))), next)
		}
		sim.Schedule(50*time.Millisecond+time.Duration(r.Int64N(int64(300*time.Millisecond))), next)
	}
	sim.RunFor(w.sc.FaultsFor)
	w.require(w.err)
	stop = true
	if tg != nil {
		tg.Stop()
	}
	if nm != nil {
		nm.Stop()
		net.Heal()
	}
	for _, name := range net.Nodes() {
		net.Restart(name)
	}
	sim.RunUntil(func() bool { return w.err != nil || w.allEnded() }, time.Minute)
	w.require(w.err)
	if !w.allEnded() {
		var stuck []string
		for _, id := range w.ids {
			if st := w.o().Status(id); st.State != saga.Committed && st.State != saga.Compensated {
				stuck = append(stuck, id+" "+statusString(st))
			}
		}
		w.attach()
		sim.Failf(w.t, "every saga ends, committed or compensated (progress)",
			"a minute after the faults stopped, %d sagas have not ended: %s\n(commands are retried every RetryAfter until answered, forever)",
			len(stuck), strings.Join(stuck, ", "))
	}
	w.checkOutcomes("at the end")
	// The outcome is in the log: a restarted orchestrator reports it and
	// sends nothing for ended sagas.
	w.ended = true
	net.Crash(orch)
	net.Restart(orch)
	sim.RunFor(time.Second)
	w.require(w.err)
	w.checkOutcomes("after the orchestrator restarted")
	if len(w.afterEnd) > 0 {
		w.attach()
		sim.Failf(w.t, "an ended saga sends no more commands, even after a restart",
			"after every saga had ended and the orchestrator restarted, it sent %s", strings.Join(w.afterEnd, ", "))
	}
	w.t.Logf("%d sagas ended, %s virtual", len(w.ids), sim.Elapsed())
}

func (w *world) checkOutcomes(when string) {
	w.t.Helper()
	o := w.o()
	for _, id := range w.ids {
		p := w.plans[id]
		st := o.Status(id)
		var all []string
		for i, s := range p.steps {
			all = append(all, label(i, s))
		}
		if p.refuseAt < 0 {
			if st.State != saga.Committed {
				w.require(labkit.Violationf("a saga whose steps all succeed commits",
					"%s: %s (steps %v, none refused) is %s", when, id, p.steps, statusString(st)))
			}
			if !slices.Equal(w.completed[id], all) || len(w.compensated[id]) > 0 {
				w.require(labkit.Violationf("a committed saga did every step once, in order, and undid none",
					"%s: %s is committed; its steps were done as %v and compensated as %v; want done %v, compensated none",
					when, id, w.completed[id], w.compensated[id], all))
			}
			continue
		}
		if st.State != saga.Compensated {
			w.require(labkit.Violationf("a saga with a refused step ends compensated",
				"%s: %s (steps %v, step %d refused) is %s", when, id, p.steps, p.refuseAt, statusString(st)))
		}
		if !slices.Equal(w.completed[id], all[:p.refuseAt]) {
			w.require(labkit.Violationf("a saga stops going forward at the refused step",
				"%s: %s's step %d was refused; the steps done were %v, want %v", when, id, p.refuseAt, w.completed[id], all[:p.refuseAt]))
		}
		if err := labkit.EveryCompensationRan(w.completed[id], w.compensated[id]); err != nil {
			v := err.(*labkit.Violation)
			w.require(labkit.Violationf(v.Property, "%s: saga %s (step %d refused): %s", when, id, p.refuseAt, v.Detail))
		}
	}
}

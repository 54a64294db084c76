package hidden

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/crdt"
)

// I is the gossip interval every hidden scenario uses.
const I = 100 * time.Millisecond

type (
	G  = crdt.GCounter
	PN = crdt.PNCounter
	OR = crdt.ORSet
)

// ---- canonical forms: states compared by content (README: nil = empty,
// a 0 entry = missing, an element without dots = missing) ----

func normCounts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func sortedDots(m map[crdt.Dot]struct{}) []crdt.Dot {
	ds := slices.Collect(maps.Keys(m))
	slices.SortFunc(ds, func(a, b crdt.Dot) int {
		if c := strings.Compare(a.Replica, b.Replica); c != 0 {
			return c
		}
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return ds
}

// dotList prints a set of dots compactly, runs of one replica's dots as
// ranges: "r1/1-3,5 r2/2".
func dotList(m map[crdt.Dot]struct{}) string {
	var parts []string
	ds := sortedDots(m)
	for i := 0; i < len(ds); {
		j := i
		var runs []string
		for j < len(ds) && ds[j].Replica == ds[i].Replica {
			k := j
			for k+1 < len(ds) && ds[k+1].Replica == ds[j].Replica && ds[k+1].Seq == ds[k].Seq+1 {
				k++
			}
			if k == j {
				runs = append(runs, fmt.Sprint(ds[j].Seq))
			} else {
				runs = append(runs, fmt.Sprintf("%d-%d", ds[j].Seq, ds[k].Seq))
			}
			j = k + 1
		}
		parts = append(parts, ds[i].Replica+"/"+strings.Join(runs, ","))
		i = j
	}
	return strings.Join(parts, " ")
}

func normOR(s OR) string {
	var parts []string
	for _, e := range slices.Sorted(maps.Keys(s.Entries)) {
		if len(s.Entries[e]) > 0 {
			parts = append(parts, fmt.Sprintf("%s:[%s]", e, dotList(s.Entries[e])))
		}
	}
	return "{" + strings.Join(parts, " ") + " | seen " + dotList(s.Context) + "}"
}

// norm is the canonical text of a state of any of the three types.
func norm(s any) string {
	switch v := s.(type) {
	case G:
		return normCounts(v.Counts)
	case PN:
		return "P" + normCounts(v.P.Counts) + " N" + normCounts(v.N.Counts)
	case OR:
		return normOR(v)
	}
	return fmt.Sprintf("%v", s)
}

// describe prints the lab's messages compactly in the trace.
func describe(msg any) string {
	switch m := msg.(type) {
	case crdt.Delta[G]:
		return fmt.Sprintf("Delta{seq %d, %s}", m.Seq, norm(m.State))
	case crdt.Delta[PN]:
		return fmt.Sprintf("Delta{seq %d, %s}", m.Seq, norm(m.State))
	case crdt.Delta[OR]:
		return fmt.Sprintf("Delta{seq %d, %s}", m.Seq, norm(m.State))
	case crdt.Ack:
		return fmt.Sprintf("Ack{seq %d}", m.Seq)
	}
	return labkit.Describe(msg)
}

// ---- the cluster ----

// env adapts a labkit node environment to the lab's Env and counts what the
// replica sends.
type env struct {
	e *labkit.Env
	c interface {
		sent(from, to string, msg any)
	}
}

func (a env) Name() string     { return a.e.Name() }
func (a env) Peers() []string  { return a.e.Peers() }
func (a env) Rand() *rand.Rand { return a.e.Rand() }
func (a env) Disk() crdt.Disk  { return a.e.Disk() }
func (a env) Every(d time.Duration, fn func()) crdt.Ticker {
	return a.e.Every(d, fn)
}
func (a env) Send(to string, msg any) {
	if a.e.Alive() {
		a.c.sent(a.e.Name(), to, msg)
	}
	a.e.Send(to, msg)
}

// node wraps a replica so the checks know whose state may have changed.
type node[S crdt.Lattice[S]] struct {
	r    *crdt.Replica[S]
	c    *cluster[S]
	name string
}

func (n node[S]) Handle(from string, msg any) {
	n.r.Handle(from, msg)
	n.c.dirty[n.name] = true
}

// oracle is what the test knows was done: the totals each replica added,
// and when each element was last added and removed.
type oracle struct {
	inc, pos, neg map[string]uint64 // G increments, PN increments, PN decrements
	adds          map[string]uint64 // OR-set adds per replica
	lastAdd       map[string]time.Duration
	lastRemove    map[string]time.Duration
	total         int64 // what every counter must read at the end
}

func newOracle() *oracle {
	return &oracle{inc: map[string]uint64{}, pos: map[string]uint64{}, neg: map[string]uint64{},
		adds: map[string]uint64{}, lastAdd: map[string]time.Duration{}, lastRemove: map[string]time.Duration{}}
}

// cluster is a simulated network of the learner's replicas of S. After
// every simulation event it checks every running replica whose state may
// have changed (see check).
type cluster[S crdt.Lattice[S]] struct {
	t      *testing.T
	sim    *labkit.Sim
	net    *labkit.Net
	cfg    crdt.Config
	names  []string
	reps   map[string]*crdt.Replica[S]
	dirty  map[string]bool
	o      *oracle
	sends  int                       // messages the replicas sent
	sendAt []time.Duration           // when
	series map[string][]labkit.Point // value over time, for the picture
	last   map[string]float64
	want   []labkit.Point // the true value over time
	fakes  map[string]*fake
	// scripted turns the oracle checks off: scripted peers send states the
	// oracle knows nothing about.
	scripted bool
}

func newCluster[S crdt.Lattice[S]](t *testing.T, seed int64, cfg crdt.Config, l labkit.Link) *cluster[S] {
	t.Helper()
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	net.SetDefaultLink(l)
	c := &cluster[S]{
		t: t, sim: sim, net: net, cfg: cfg,
		reps: map[string]*crdt.Replica[S]{}, dirty: map[string]bool{}, o: newOracle(),
		series: map[string][]labkit.Point{}, last: map[string]float64{}, fakes: map[string]*fake{},
	}
	sim.Invariant(c.check)
	t.Cleanup(func() {
		if t.Failed() {
			c.attachPictures()
		}
	})
	return c
}

func names(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("r%d", i))
	}
	return out
}

// start builds a cluster of n replicas r1..rn.
func start[S crdt.Lattice[S]](t *testing.T, seed int64, n int, cfg crdt.Config, l labkit.Link) *cluster[S] {
	c := newCluster[S](t, seed, cfg, l)
	c.add(names(n)...)
	return c
}

func (c *cluster[S]) add(ns ...string) {
	for _, name := range ns {
		c.names = append(c.names, name)
		c.net.AddNode(name, func(e *labkit.Env) labkit.Node {
			r := crdt.New[S](env{e: e, c: c}, c.cfg)
			c.reps[e.Name()] = r
			c.dirty[e.Name()] = true
			return node[S]{r: r, c: c, name: e.Name()}
		})
	}
}

func (c *cluster[S]) sent(from, to string, msg any) {
	c.sends++
	c.sendAt = append(c.sendAt, c.sim.Elapsed())
}

func (c *cluster[S]) up(name string) bool { return c.net.Up(name) && c.net.Node(name) != nil }

// state reads a running replica's state.
func (c *cluster[S]) state(name string) S {
	c.t.Helper()
	if !c.up(name) {
		c.t.Fatalf("test bug: %s is not running", name)
	}
	return c.reps[name].State()
}

func (c *cluster[S]) live() []string {
	var out []string
	for _, n := range c.names {
		if c.up(n) {
			out = append(out, n)
		}
	}
	return out
}

// update runs op at a running replica and marks it for the checks.
func (c *cluster[S]) update(name string, op func(S, string) S) {
	c.reps[name].Update(op)
	c.dirty[name] = true
}

// value is what the picture plots for a state.
func value(s any) float64 {
	switch v := s.(type) {
	case G:
		return float64(v.Value())
	case PN:
		return float64(v.Value())
	case OR:
		return float64(len(v.Elements()))
	}
	return 0
}

// check runs after every event: no replica counts an increment twice, and
// every running replica holds exactly its own updates.
func (c *cluster[S]) check() error {
	for _, name := range c.names {
		if !c.dirty[name] || !c.up(name) {
			continue
		}
		c.dirty[name] = false
		s := c.reps[name].State()
		if !c.scripted {
			if err := c.o.check(name, any(s)); err != nil {
				return err
			}
		}
		v := value(any(s))
		if old, ok := c.last[name]; !ok || old != v {
			c.last[name] = v
			c.series[name] = append(c.series[name], labkit.Point{X: c.sim.Elapsed().Seconds(), Y: v})
		}
	}
	return nil
}

func (o *oracle) checkCounts(name, what string, counts map[string]uint64, made map[string]uint64) error {
	for _, q := range slices.Sorted(maps.Keys(counts)) {
		if counts[q] > made[q] {
			return labkit.Violationf("a replica never counts an increment twice",
				"%s holds %s: %d in its %s, but only %d was ever added at %s", name, q, counts[q], what, made[q], q)
		}
	}
	if counts[name] != made[name] {
		return labkit.Violationf("a replica keeps its own updates",
			"%s holds %s: %d in its %s, but %d was added at %s itself (and it saved every update before Update returned)",
			name, name, counts[name], what, made[name], name)
	}
	return nil
}

func (o *oracle) check(name string, s any) error {
	switch v := s.(type) {
	case G:
		return o.checkCounts(name, "G-counter", v.Counts, o.inc)
	case PN:
		if err := o.checkCounts(name, "PN-counter's P", v.P.Counts, o.pos); err != nil {
			return err
		}
		return o.checkCounts(name, "PN-counter's N", v.N.Counts, o.neg)
	case OR:
		var own uint64
		for d := range v.Context {
			if d.Seq > o.adds[d.Replica] {
				return labkit.Violationf("every dot names one add",
					"%s holds dot %s, but only %d adds were ever made at %s", name, d, o.adds[d.Replica], d.Replica)
			}
			if d.Replica == name {
				own = max(own, d.Seq)
			}
		}
		if own != o.adds[name] {
			return labkit.Violationf("a replica keeps its own updates",
				"%s made %d adds, so its highest own dot should be %s/%d (the k-th add at a replica gets dot k), but the highest in its context is %s/%d: "+
					"an add took a dot that was not fresh (R10), or the replica lost dots in a crash (R18)",
				name, o.adds[name], name, o.adds[name], name, own)
		}
	}
	return nil
}

// ---- operations that keep the oracle ----

func incG(c *cluster[G], name string, n uint64) {
	c.o.inc[name] += n
	c.o.total += int64(n)
	c.update(name, func(s G, id string) G { return s.Inc(id, n) })
	c.noteTotal()
}

func addPN(c *cluster[PN], name string, n int64) {
	if n > 0 {
		c.o.pos[name] += uint64(n)
	} else {
		c.o.neg[name] += uint64(-n)
	}
	c.o.total += n
	c.update(name, func(s PN, id string) PN { return s.Add(id, n) })
	c.noteTotal()
}

func addOR(c *cluster[OR], name, elem string) {
	c.o.adds[name]++
	c.o.lastAdd[elem] = c.sim.Elapsed()
	c.update(name, func(s OR, id string) OR { return s.Add(id, elem) })
}

func removeOR(c *cluster[OR], name, elem string) {
	c.o.lastRemove[elem] = c.sim.Elapsed()
	c.update(name, func(s OR, _ string) OR { return s.Remove(elem) })
}

func (c *cluster[S]) noteTotal() {
	c.want = append(c.want, labkit.Point{X: c.sim.Elapsed().Seconds(), Y: float64(c.o.total)})
}

// ---- running and checking ----

func (c *cluster[S]) require() {
	c.t.Helper()
	c.sim.Require(c.t, c.sim.Err())
}

func (c *cluster[S]) run(d time.Duration) {
	c.t.Helper()
	c.sim.RunFor(d)
	c.require()
}

func (c *cluster[S]) runUntil(cond func() bool, limit time.Duration) bool {
	c.t.Helper()
	ok := c.sim.RunUntil(cond, limit)
	c.require()
	return ok
}

// converged reports whether every running replica holds the same state.
func (c *cluster[S]) converged() bool {
	live := c.live()
	for _, n := range live[1:] {
		if norm(any(c.state(n))) != norm(any(c.state(live[0]))) {
			return false
		}
	}
	return true
}

// states lists the running replicas grouped by the state they hold, on
// one line, for failure messages.
func (c *cluster[S]) states() string {
	var order []string
	by := map[string][]string{}
	for _, n := range c.live() {
		st := norm(any(c.state(n)))
		if by[st] == nil {
			order = append(order, st)
		}
		by[st] = append(by[st], n)
	}
	var parts []string
	for _, st := range order {
		parts = append(parts, strings.Join(by[st], ", ")+" hold "+st)
	}
	return strings.Join(parts, "; ")
}

// requireConverged runs until every replica holds the same state, or fails.
func (c *cluster[S]) requireConverged(limit time.Duration, why string) {
	c.t.Helper()
	ok := c.runUntil(c.converged, limit)
	c.sim.Check(c.t, ok, "all replicas converge to the same state",
		"%s, the replicas still differ after %s:\n%s", why, limit, c.states())
}

// attachPictures shows each replica's value over time and the network.
func (c *cluster[S]) attachPictures() {
	if len(c.names) == 0 {
		return
	}
	var series []labkit.Series
	end := c.sim.Elapsed().Seconds()
	read := false // a test that failed before any replica was read has no values to draw
	for _, n := range c.names {
		pts := slices.Clone(c.series[n])
		if len(pts) > 0 {
			read = true
			pts = append(pts, labkit.Point{X: end, Y: pts[len(pts)-1].Y})
		}
		series = append(series, labkit.Series{Name: n, Points: pts})
	}
	ylabel := "value read"
	if len(c.want) > 0 {
		pts := append(slices.Clone(c.want), labkit.Point{X: end, Y: float64(c.o.total)})
		series = append(series, labkit.Series{Name: "expected: every update made", Points: pts})
	} else {
		ylabel = "elements in the set"
	}
	if read {
		labkit.Attach(c.t, "values.svg", labkit.LineChart{
			Title: "what each replica reads over time", XLabel: "virtual time (s)", YLabel: ylabel,
			Series: series, Steps: true,
		}.SVG())
	}
	labkit.Attach(c.t, "network.svg", labkit.Timeline{Title: "replicas: up, cut off or crashed",
		Lanes: c.net.Timeline(), Colors: labkit.TimelineColors}.SVG())
}

// ---- scripted peers ----

// fake is a peer the test drives by hand: it records what it receives.
type fake struct {
	name  string
	inbox []got
}

type got struct {
	at   time.Duration
	from string
	msg  any
}

func (c *cluster[S]) addFake(name string) *fake {
	f := &fake{name: name}
	c.fakes[name] = f
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			f.inbox = append(f.inbox, got{c.sim.Elapsed(), from, msg})
		})
	})
	return f
}

func (c *cluster[S]) send(from, to string, msg any) { c.net.Send(from, to, msg) }

// deltas returns the Deltas f received at or after at.
func deltas[S any](f *fake, at time.Duration) []crdt.Delta[S] {
	var out []crdt.Delta[S]
	for _, m := range f.inbox {
		if d, ok := m.msg.(crdt.Delta[S]); ok && m.at >= at {
			out = append(out, d)
		}
	}
	return out
}

// acks returns the Seqs of the Acks f received at or after at.
func acks(f *fake, at time.Duration) []uint64 {
	var out []uint64
	for _, m := range f.inbox {
		if a, ok := m.msg.(crdt.Ack); ok && m.at >= at {
			out = append(out, a.Seq)
		}
	}
	return out
}

func describeDeltas[S any](ds []crdt.Delta[S]) string {
	if len(ds) == 0 {
		return "nothing"
	}
	var parts []string
	for _, d := range ds {
		parts = append(parts, describe(d))
	}
	return strings.Join(parts, ", ")
}

// ---- state builders ----

func gc(kv ...any) G {
	m := map[string]uint64{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = uint64(kv[i+1].(int))
	}
	return G{Counts: m}
}

func dot(s string) crdt.Dot {
	var d crdt.Dot
	if err := d.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return d
}

func dots(ss ...string) map[crdt.Dot]struct{} {
	m := map[crdt.Dot]struct{}{}
	for _, s := range ss {
		m[dot(s)] = struct{}{}
	}
	return m
}

// orset builds an OR-set from "elem:dot,dot" entries and a context of dots
// ("seen" dots are added to the live ones).
func orset(entries []string, seen ...string) OR {
	s := OR{Entries: map[string]map[crdt.Dot]struct{}{}, Context: dots(seen...)}
	for _, e := range entries {
		name, list, _ := strings.Cut(e, ":")
		s.Entries[name] = dots(strings.Split(list, ",")...)
		for d := range s.Entries[name] {
			s.Context[d] = struct{}{}
		}
	}
	return s
}

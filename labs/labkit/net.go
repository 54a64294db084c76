package labkit

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Node is what lab code implements to live on a simulated network. The
// network calls Handle for every message delivered to the node, one at a
// time, from the simulation loop: a node never needs locks.
type Node interface {
	Handle(from string, msg any)
}

// HandlerFunc adapts a function to a Node, handy for test clients.
type HandlerFunc func(from string, msg any)

// Handle calls f(from, msg).
func (f HandlerFunc) Handle(from string, msg any) { f(from, msg) }

// Constructor builds a node's in-memory state. The network calls it when the
// node is added and again at every restart, with a fresh Env whose Disk holds
// whatever the node wrote to disk before it crashed. Everything else the old
// instance had is gone.
type Constructor func(env *Env) Node

// Latency is a distribution of one-way message delays.
type Latency interface {
	Sample(r *rand.Rand) time.Duration
	String() string
}

type fixedLatency time.Duration

func (f fixedLatency) Sample(*rand.Rand) time.Duration { return time.Duration(f) }
func (f fixedLatency) String() string                  { return "fixed " + time.Duration(f).String() }

// Fixed delays every message by exactly d: messages on a link stay in order.
func Fixed(d time.Duration) Latency { return fixedLatency(d) }

type uniformLatency struct{ min, max time.Duration }

func (u uniformLatency) Sample(r *rand.Rand) time.Duration {
	if u.max <= u.min {
		return u.min
	}
	return u.min + time.Duration(r.Int64N(int64(u.max-u.min)+1))
}
func (u uniformLatency) String() string { return fmt.Sprintf("uniform %s..%s", u.min, u.max) }

// Uniform delays each message by a duration drawn uniformly from [min, max];
// messages on a link can overtake each other.
func Uniform(min, max time.Duration) Latency { return uniformLatency{min, max} }

type expLatency struct{ base, mean time.Duration }

func (e expLatency) Sample(r *rand.Rand) time.Duration {
	x := r.ExpFloat64()
	if x > 20 {
		x = 20
	}
	return e.base + time.Duration(math.Round(x*float64(e.mean)))
}
func (e expLatency) String() string { return fmt.Sprintf("%s + exponential(mean %s)", e.base, e.mean) }

// Exponential delays each message by base plus an exponentially distributed
// extra with the given mean (capped at 20 means): mostly fast, with a long
// tail.
func Exponential(base, mean time.Duration) Latency { return expLatency{base, mean} }

type tailLatency struct {
	body Latency
	p    float64
	late time.Duration
}

// maxTail caps a late delay at late times this factor.
const maxTail = 10

func (t tailLatency) Sample(r *rand.Rand) time.Duration {
	d, _ := t.sample(r)
	return d
}

// sample draws a delay and says whether it is one of the late ones: with
// probability p, late plus a Pareto extra (shape 1.5, scale late/4), so
// most late messages are a little late and a few very late.
func (t tailLatency) sample(r *rand.Rand) (time.Duration, bool) {
	if r.Float64() >= t.p {
		return t.body.Sample(r), false
	}
	u := 1 - r.Float64() // (0, 1]
	extra := float64(t.late) / 4 * (math.Pow(u, -1/1.5) - 1)
	d := t.late + 1 + time.Duration(math.Min(extra, float64((maxTail-1)*t.late)))
	return d, true
}

func (t tailLatency) String() string {
	return fmt.Sprintf("%s, and %g%% late (past %s, heavy tail)", t.body, t.p*100, t.late)
}

// HeavyTail is body with a heavy tail: with probability p a message takes
// longer than late (late plus a Pareto-distributed extra, at most ten times
// late in all), otherwise a delay drawn from body. Pass the timeout of the
// operation that waits for the message as late, so that some replies,
// acknowledgements and votes arrive after their sender's peer gave up on
// them: the "delayed" fault in its real form. The trace marks each late
// message with when it will arrive.
func HeavyTail(body Latency, p float64, late time.Duration) Latency {
	if body == nil {
		body = Fixed(time.Millisecond)
	}
	return tailLatency{body: body, p: p, late: late}
}

// Link describes one direction of the path between two nodes.
type Link struct {
	Latency Latency // nil means Fixed(time.Millisecond)
	Loss    float64 // probability in [0,1] that a message is lost
	Dup     float64 // probability in [0,1] that a message is delivered twice
	// DupDelay, when set, is how long after the first copy the second copy
	// of a duplicated message arrives (nil: its delay is drawn from Latency
	// like the first's). A delay past the operation's timeout makes
	// duplicates that arrive after the operation ended.
	DupDelay Latency
}

func (l Link) latency() Latency {
	if l.Latency == nil {
		return Fixed(time.Millisecond)
	}
	return l.Latency
}

func (l Link) String() string {
	s := "latency " + l.latency().String()
	if l.Loss > 0 {
		s += fmt.Sprintf(", loss %g%%", l.Loss*100)
	}
	if l.Dup > 0 {
		s += fmt.Sprintf(", duplication %g%%", l.Dup*100)
		if l.DupDelay != nil {
			s += " (second copy " + l.DupDelay.String() + " after the first)"
		}
	}
	return s
}

type pair struct{ from, to string }

type host struct {
	name   string
	ctor   Constructor
	node   Node
	env    *Env
	disk   *Disk
	up     bool
	inc    int
	client bool
}

// Net is a simulated network of named nodes on top of a Sim. Messages are
// delivered as simulation events after a latency drawn from the link, and
// may be lost, duplicated, reordered or cut off by partitions. It is driven
// only from the simulation loop (or the test goroutine between runs).
type Net struct {
	sim     *Sim
	hosts   map[string]*host
	order   []string
	def     Link
	links   map[pair]Link
	blocked map[pair]bool
	msgs    uint64
	status  map[string][]Span // per node, the states it has been in
	lastMsg map[pair]*event   // the latest delivery queued on each link
	running string            // the node whose code is running (a handler, a timer)
	// beforeWrite, when set, is asked before every disk write of a node
	// whether the node crashes instead (Targeted's crashes between writes).
	beforeWrite func(node, key string) bool
	// Format renders messages in the trace; nil means Describe.
	Format func(msg any) string
}

// NewNet returns an empty network whose links all use Fixed(1ms) latency
// with no loss.
func NewNet(sim *Sim) *Net {
	return &Net{
		sim:     sim,
		hosts:   map[string]*host{},
		links:   map[pair]Link{},
		blocked: map[pair]bool{},
		status:  map[string][]Span{},
		lastMsg: map[pair]*event{},
		def:     Link{Latency: Fixed(time.Millisecond)},
	}
}

// Sim returns the simulation the network runs on.
func (n *Net) Sim() *Sim { return n.sim }

// AddNode adds a server node and builds it with ctor. It panics if the name
// is taken.
func (n *Net) AddNode(name string, ctor Constructor) *Env {
	return n.add(name, ctor, false)
}

// AddClient adds a client endpoint that receives messages through handle.
// Clients are not listed in Env.Peers, so servers that broadcast skip them.
// The returned Env sends on the client's behalf.
func (n *Net) AddClient(name string, handle func(from string, msg any)) *Env {
	return n.add(name, func(*Env) Node { return HandlerFunc(handle) }, true)
}

func (n *Net) add(name string, ctor Constructor, client bool) *Env {
	if name == "" || strings.ContainsAny(name, " \t\n") {
		panic(fmt.Sprintf("labkit: bad node name %q", name))
	}
	if _, ok := n.hosts[name]; ok {
		panic(fmt.Sprintf("labkit: node %q added twice", name))
	}
	h := &host{name: name, ctor: ctor, disk: NewDisk(), client: client}
	h.disk.beforePut = func(key string) {
		if n.beforeWrite != nil && h.up && n.running == name && n.beforeWrite(name, key) {
			n.crashInside(name, "before writing "+key+" to disk")
		}
	}
	n.hosts[name] = h
	n.order = append(n.order, name)
	n.start(h)
	n.updateStatus()
	return h.env
}

func (n *Net) start(h *host) {
	h.inc++
	h.up = true
	h.env = &Env{net: n, h: h, inc: h.inc}
	h.node = nil
	var node Node
	n.guard(h.name, func() { node = h.ctor(h.env) })
	if h.env.alive() {
		h.node = node
	}
}

func (n *Net) host(name string) *host {
	h, ok := n.hosts[name]
	if !ok {
		panic(fmt.Sprintf("labkit: no node named %q", name))
	}
	return h
}

// Nodes returns the names of the server nodes in the order they were added.
func (n *Net) Nodes() []string {
	var out []string
	for _, name := range n.order {
		if !n.hosts[name].client {
			out = append(out, name)
		}
	}
	return out
}

// Node returns the current instance of a node, or nil while it is crashed.
// Tests use it to inspect state (type-assert to the lab's type).
func (n *Net) Node(name string) Node { return n.host(name).node }

// Env returns the environment of the node's current incarnation.
func (n *Net) Env(name string) *Env { return n.host(name).env }

// Disk returns the node's disk, which survives crashes.
func (n *Net) Disk(name string) *Disk { return n.host(name).disk }

// Up reports whether the node is running.
func (n *Net) Up(name string) bool { return n.host(name).up }

// SetDefaultLink sets the link used between every pair without its own.
func (n *Net) SetDefaultLink(l Link) {
	n.def = l
	n.sim.NoteFault("all links: %s", l)
}

// SetLink sets the link from one node to another (one direction only).
func (n *Net) SetLink(from, to string, l Link) {
	n.links[pair{from, to}] = l
	n.sim.NoteFault("link %s -> %s: %s", from, to, l)
}

// SetLinks sets the link both ways between a and b.
func (n *Net) SetLinks(a, b string, l Link) {
	n.SetLink(a, b, l)
	n.SetLink(b, a, l)
}

func (n *Net) link(from, to string) Link {
	if l, ok := n.links[pair{from, to}]; ok {
		return l
	}
	return n.def
}

// Partition cuts every link between nodes of different groups, both ways.
// Links inside a group and links of nodes in no group are left as they are.
// Partitions add up until Heal.
func (n *Net) Partition(groups ...[]string) {
	var parts []string
	for i, g := range groups {
		parts = append(parts, "{"+strings.Join(g, " ")+"}")
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.blocked[pair{a, b}] = true
				}
			}
		}
	}
	text := "partition " + strings.Join(parts, " | ")
	n.sim.trace.Add(KindPartition, "", "", text)
	n.noteQuiet(text)
	n.updateStatus()
}

// Isolate cuts every link to and from node.
func (n *Net) Isolate(node string) {
	var others []string
	for _, name := range n.order {
		if name != node {
			others = append(others, name)
		}
	}
	n.Partition([]string{node}, others)
}

// Block cuts the link from one node to another in that direction only: from
// can no longer reach to, but to still reaches from.
func (n *Net) Block(from, to string) {
	n.blocked[pair{from, to}] = true
	text := fmt.Sprintf("one-way partition %s -> %s", from, to)
	n.sim.trace.Add(KindPartition, from, to, "one-way partition")
	n.noteQuiet(text)
	n.updateStatus()
}

// Unblock restores the link from one node to another.
func (n *Net) Unblock(from, to string) {
	delete(n.blocked, pair{from, to})
	n.sim.trace.Add(KindHeal, from, to, "link restored")
	n.noteQuiet(fmt.Sprintf("restore %s -> %s", from, to))
	n.updateStatus()
}

// Heal restores every link cut by Partition, Isolate or Block.
func (n *Net) Heal() {
	clear(n.blocked)
	n.sim.trace.Add(KindHeal, "", "", "all partitions healed")
	n.noteQuiet("heal all partitions")
	n.updateStatus()
}

// Reachable reports whether messages from one node can currently get to
// another (ignoring random loss).
func (n *Net) Reachable(from, to string) bool { return !n.blocked[pair{from, to}] }

func (n *Net) noteQuiet(text string) {
	n.sim.mu.Lock()
	n.sim.faults = append(n.sim.faults, FaultNote{At: n.sim.now, Text: text})
	n.sim.mu.Unlock()
}

// Crash stops a node: its memory, timers and the messages that reach it while
// it is down are lost; its Disk survives. Messages it sent before crashing
// are still in flight. Crashing a crashed node does nothing.
func (n *Net) Crash(name string) { n.crash(name, "crash "+name) }

func (n *Net) crash(name, note string) {
	h := n.host(name)
	if !h.up {
		return
	}
	h.up = false
	h.node = nil
	h.inc++ // the old Env and its timers are dead from here on
	n.sim.trace.Add(KindCrash, name, "", "memory and timers lost; disk kept")
	n.noteQuiet(note)
	n.updateStatus()
}

// Restart brings a crashed node back: its constructor runs with a new Env
// and the disk it had. Restarting a running node does nothing.
func (n *Net) Restart(name string) {
	h := n.host(name)
	if h.up {
		return
	}
	n.sim.trace.Add(KindRestart, name, "", fmt.Sprintf("from disk (%d keys)", h.disk.Len()))
	n.noteQuiet("restart " + name)
	n.start(h)
	n.updateStatus()
}

// Send sends msg from one node to another as if from's Env sent it.
func (n *Net) Send(from, to string, msg any) {
	n.send(from, to, msg)
}

func (n *Net) describe(msg any) string {
	if n.Format != nil {
		return n.Format(msg)
	}
	return Describe(msg)
}

func (n *Net) send(from, to string, msg any) {
	n.msgs++
	id := n.msgs
	detail := fmt.Sprintf("#%d %s", id, n.describe(msg))
	tr := n.sim.trace
	tr.Add(KindSend, from, to, detail)
	if _, ok := n.hosts[to]; !ok {
		tr.Add(KindDrop, from, to, fmt.Sprintf("#%d no such node", id))
		return
	}
	if n.blocked[pair{from, to}] {
		tr.Add(KindDrop, from, to, fmt.Sprintf("#%d partitioned", id))
		return
	}
	l := n.link(from, to)
	r := n.sim.rng
	if l.Loss > 0 && r.Float64() < l.Loss {
		tr.Add(KindDrop, from, to, fmt.Sprintf("#%d lost", id))
		return
	}
	dup := l.Dup > 0 && r.Float64() < l.Dup
	d, late := sampleLatency(l.latency(), r)
	if late {
		tr.Add(KindLate, from, to, fmt.Sprintf("#%d arrives late, after %s", id, d))
	}
	p := pair{from, to}
	n.lastMsg[p] = n.sim.scheduleAfter(d, "", func() { n.deliver(id, from, to, msg) }, n.lastMsg[p])
	if !dup {
		return
	}
	var d2 time.Duration
	if l.DupDelay != nil {
		d2 = d + l.DupDelay.Sample(r)
		tr.Add(KindDup, from, to, fmt.Sprintf("#%d will arrive twice, the second time %s after the first", id, d2-d))
	} else {
		d2, _ = sampleLatency(l.latency(), r)
		tr.Add(KindDup, from, to, fmt.Sprintf("#%d will arrive twice", id))
	}
	n.sim.schedule(d2, "", func() { n.deliver(id, from, to, msg) })
}

// sampleLatency draws a delay and whether it is a late one of a HeavyTail.
func sampleLatency(l Latency, r *rand.Rand) (time.Duration, bool) {
	if t, ok := l.(tailLatency); ok {
		return t.sample(r)
	}
	return l.Sample(r), false
}

func (n *Net) deliver(id uint64, from, to string, msg any) {
	tr := n.sim.trace
	h := n.hosts[to]
	switch {
	case n.blocked[pair{from, to}]:
		tr.Add(KindDrop, from, to, fmt.Sprintf("#%d partitioned in flight", id))
	case !h.up || h.node == nil:
		tr.Add(KindDrop, from, to, fmt.Sprintf("#%d receiver down", id))
	default:
		tr.Add(KindDeliver, from, to, fmt.Sprintf("#%d %s", id, n.describe(msg)))
		node := h.node
		n.guard(to, func() { node.Handle(from, msg) })
	}
}

// crashSignal unwinds a node's handler when it crashes in the middle of one
// (see crashInside); guard catches it.
type crashSignal struct{ node string }

// guard runs a node's code (a handler, a timer), absorbing the unwinding of
// a crash in the middle of it: the node is already down, and whatever it
// did before the crash (messages sent, disk writes) stands.
func (n *Net) guard(name string, fn func()) {
	prev := n.running
	n.running = name
	defer func() {
		n.running = prev
		if r := recover(); r != nil {
			if _, ok := r.(crashSignal); !ok {
				panic(r)
			}
		}
	}()
	fn()
}

// crashInside crashes a node from inside its own running code and unwinds
// that code: nothing after this point of the handler happens.
func (n *Net) crashInside(name, why string) {
	n.crash(name, fmt.Sprintf("crash %s in the middle of its work, %s", name, why))
	panic(crashSignal{name})
}

// Env is a node's window on the world for one incarnation: its name, the
// clock, the network, timers and its disk. After the node crashes, the old
// Env is dead: its sends and timers do nothing.
type Env struct {
	net *Net
	h   *host
	inc int
}

func (e *Env) alive() bool { return e.h.up && e.h.inc == e.inc }

// Alive reports whether this incarnation is still running.
func (e *Env) Alive() bool { return e.alive() }

// Name returns the node's name.
func (e *Env) Name() string { return e.h.name }

// Now returns the virtual time as a time.Time.
func (e *Env) Now() time.Time { return e.net.sim.Now() }

// Elapsed returns the virtual time since the simulation started.
func (e *Env) Elapsed() time.Duration { return e.net.sim.Elapsed() }

// Rand returns the simulation's seeded random source.
func (e *Env) Rand() *rand.Rand { return e.net.sim.rng }

// Disk returns the node's disk, which survives crashes.
func (e *Env) Disk() *Disk { return e.h.disk }

// Peers returns the other server nodes, in the order they were added.
func (e *Env) Peers() []string {
	var out []string
	for _, name := range e.net.Nodes() {
		if name != e.h.name {
			out = append(out, name)
		}
	}
	return out
}

// Send sends msg to another node. Delivery is not guaranteed: the link may
// lose, duplicate or delay it, and partitions cut it off.
func (e *Env) Send(to string, msg any) {
	if !e.alive() {
		return
	}
	e.net.send(e.h.name, to, msg)
}

// Broadcast sends msg to every peer.
func (e *Env) Broadcast(msg any) {
	for _, p := range e.Peers() {
		e.Send(p, msg)
	}
}

// Logf adds a note to the trace, attributed to this node.
func (e *Env) Logf(format string, args ...any) {
	e.net.sim.trace.Logf(e.h.name, format, args...)
}

// After calls fn after d of virtual time, unless stopped or the node crashes
// first. The trace records it as a timer event named label.
func (e *Env) After(d time.Duration, label string, fn func()) Timer {
	t := &simTimer{s: e.net.sim}
	t.fn = func() {
		if !e.alive() {
			return
		}
		e.net.sim.trace.Add(KindTimer, e.h.name, "", label)
		e.net.guard(e.h.name, fn)
	}
	t.ev = e.net.sim.schedule(d, label, t.fn)
	return t
}

// Every calls fn every d of virtual time until stopped or the node crashes.
// Ticks are not traced (they would drown the trace); log from fn if needed.
func (e *Env) Every(d time.Duration, fn func()) *Ticker {
	return e.net.sim.every(d, func() { e.net.guard(e.h.name, fn) }, e.alive)
}

// Disk is storage that survives a crash. Values are copied in and out, so
// nothing in memory is shared with what is on disk. Writes are durable as
// soon as the call returns.
type Disk struct {
	data      map[string][]byte
	beforePut func(key string) // a node's disk: may crash the node instead
}

// NewDisk returns an empty disk.
func NewDisk() *Disk { return &Disk{data: map[string][]byte{}} }

// Put stores a copy of value under key.
func (d *Disk) Put(key string, value []byte) {
	if d.beforePut != nil {
		d.beforePut(key)
	}
	d.data[key] = slices.Clone(value)
}

// Get returns a copy of the value under key and whether there was one.
func (d *Disk) Get(key string) ([]byte, bool) {
	v, ok := d.data[key]
	return slices.Clone(v), ok
}

// Delete removes key.
func (d *Disk) Delete(key string) {
	if d.beforePut != nil {
		d.beforePut(key)
	}
	delete(d.data, key)
}

// Keys returns the keys starting with prefix, sorted.
func (d *Disk) Keys(prefix string) []string {
	var out []string
	for k := range d.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Len returns the number of keys.
func (d *Disk) Len() int { return len(d.data) }

// PutJSON stores v encoded as JSON. It returns the encoding error, if any.
func (d *Disk) PutJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("labkit: disk put %q: %w", key, err)
	}
	d.Put(key, b)
	return nil
}

// GetJSON decodes the JSON under key into v. It reports false if the key is
// absent, and returns the decoding error, if any.
func (d *Disk) GetJSON(key string, v any) (bool, error) {
	b, ok := d.data[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("labkit: disk get %q: %w", key, err)
	}
	return true, nil
}

// Node states in Net.Timeline.
const (
	StateUp      = "up"
	StateCutOff  = "cut off" // some link to or from the node is blocked
	StateCrashed = "crashed"
)

func (n *Net) nodeState(name string) string {
	if !n.hosts[name].up {
		return StateCrashed
	}
	for p := range n.blocked {
		if p.from == name || p.to == name {
			return StateCutOff
		}
	}
	return StateUp
}

func (n *Net) updateStatus() {
	now := n.sim.Elapsed()
	for _, name := range n.Nodes() {
		st := n.nodeState(name)
		spans := n.status[name]
		if k := len(spans); k > 0 && spans[k-1].State == st {
			continue
		}
		n.status[name] = append(spans, Span{From: now, State: st})
	}
}

// Timeline returns one lane per server node showing when it was up, cut off
// by a partition, or crashed, up to the current virtual time. Render it with
// Timeline{Title: ..., Lanes: net.Timeline()}.SVG().
func (n *Net) Timeline() []Lane {
	now := n.sim.Elapsed()
	var lanes []Lane
	for _, name := range n.Nodes() {
		src := n.status[name]
		l := Lane{Name: name}
		for i, sp := range src {
			to := now
			if i+1 < len(src) {
				to = src[i+1].From
			}
			if to > sp.From {
				l.Spans = append(l.Spans, Span{From: sp.From, To: to, State: sp.State})
			}
		}
		lanes = append(lanes, l)
	}
	return lanes
}

// TimelineColors colours the node states of Net.Timeline.
var TimelineColors = map[string]string{StateUp: "#59a14f", StateCutOff: "#edc948", StateCrashed: "#e15759"}

package labkit

import (
	"fmt"
	"slices"
	"time"
)

// Nemesis injects random faults into a network, one at a time, drawn from
// the simulation's seed: every Interval (on average) it repairs the previous
// fault and picks a new one among those enabled, or a calm period.
type Nemesis struct {
	Net *Net
	// Interval is the mean time between fault changes; 0 means 500ms. Each
	// period lasts between half and one and a half Interval.
	Interval time.Duration
	// Partitions enables random symmetric partitions into two sides.
	Partitions bool
	// OneWay enables one-way partitions between a random pair of nodes.
	OneWay bool
	// Crashes enables crashing random nodes (restarted at the next change).
	Crashes bool
	// MaxDown caps how many nodes are crashed at once; 0 means a minority,
	// (len(nodes)-1)/2, so a majority always survives.
	MaxDown int

	timer   Timer
	crashed []string
	cut     bool
}

// Start begins injecting faults.
func (nm *Nemesis) Start() {
	nm.schedule()
}

func (nm *Nemesis) interval() time.Duration {
	if nm.Interval <= 0 {
		return 500 * time.Millisecond
	}
	return nm.Interval
}

func (nm *Nemesis) schedule() {
	iv := nm.interval()
	d := iv/2 + time.Duration(nm.Net.sim.rng.Int64N(int64(iv)+1))
	nm.timer = nm.Net.sim.AfterFunc(d, func() {
		nm.repair()
		nm.inject()
		nm.schedule()
	})
}

// Stop stops injecting, heals every partition and restarts crashed nodes.
func (nm *Nemesis) Stop() {
	if nm.timer != nil {
		nm.timer.Stop()
	}
	nm.repair()
}

func (nm *Nemesis) repair() {
	if nm.cut {
		nm.Net.Heal()
		nm.cut = false
	}
	for _, name := range nm.crashed {
		nm.Net.Restart(name)
	}
	nm.crashed = nil
}

func (nm *Nemesis) inject() {
	nodes := nm.Net.Nodes()
	if len(nodes) < 2 {
		return
	}
	r := nm.Net.sim.rng
	kinds := []string{"calm"}
	if nm.Partitions {
		kinds = append(kinds, "partition")
	}
	if nm.OneWay {
		kinds = append(kinds, "one-way")
	}
	maxDown := nm.MaxDown
	if maxDown <= 0 {
		maxDown = (len(nodes) - 1) / 2
	}
	if nm.Crashes && maxDown > 0 {
		kinds = append(kinds, "crash")
	}
	shuffled := slices.Clone(nodes)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	switch kinds[r.IntN(len(kinds))] {
	case "partition":
		k := 1 + r.IntN(len(nodes)-1)
		a, b := slices.Clone(shuffled[:k]), slices.Clone(shuffled[k:])
		slices.Sort(a)
		slices.Sort(b)
		nm.Net.Partition(a, b)
		nm.cut = true
	case "one-way":
		nm.Net.Block(shuffled[0], shuffled[1])
		nm.cut = true
	case "crash":
		k := 1 + r.IntN(maxDown)
		for _, name := range shuffled[:k] {
			nm.Net.Crash(name)
			nm.crashed = append(nm.crashed, name)
		}
	}
}

// Targeted crashes nodes at the moments that hurt most, drawn from the
// seed: right after a node changes role or state (a new leader, the first
// member to suspect a peer, a coordinator that just decided), and in the
// middle of a handler, just before a disk write, so that what the node did
// earlier in that handler (messages sent, earlier writes) stands and the
// rest is lost. Crashed nodes restart after Down.
type Targeted struct {
	Net *Net
	// State reads the role or state of a running server node that matters,
	// for example "leader of term 3" or "suspects n2". It is read after
	// every event; a node whose state changed is a candidate to crash. nil
	// means no crashes on changes.
	State func(name string, n Node) string
	// P is the probability that a change crashes the node.
	P float64
	// Writes is the probability that a node crashes just before one of its
	// disk writes (Disk.Put, PutJSON, Delete).
	Writes float64
	// Down is how long a crashed node stays down before it restarts; 0
	// restarts it at the same instant (its memory and timers are still
	// lost).
	Down time.Duration
	// Max caps how many crashes Targeted causes; 0 means no cap.
	Max int
	// MaxDown caps how many nodes are down at once (counting crashes from
	// anywhere); 0 means a minority, (len(nodes)-1)/2, at least 1.
	MaxDown int

	last    map[string]string
	crashes int
	stopped bool
	pending []string
}

// Start begins watching and crashing.
func (t *Targeted) Start() {
	t.last = map[string]string{}
	t.observe() // the states before anything happens are not changes
	t.Net.sim.Observe(func() {
		if !t.stopped {
			t.observe()
		}
	})
	t.Net.beforeWrite = func(node, key string) bool {
		if t.stopped || t.Writes <= 0 || !t.allowed() || t.Net.sim.rng.Float64() >= t.Writes {
			return false
		}
		t.crashes++
		t.restartLater(node)
		return true
	}
}

// Stop stops crashing and restarts every node Targeted crashed that is
// still down.
func (t *Targeted) Stop() {
	t.stopped = true
	t.Net.beforeWrite = nil
	for _, name := range t.pending {
		t.Net.Restart(name)
	}
	t.pending = nil
}

// Crashes returns how many crashes Targeted has caused.
func (t *Targeted) Crashes() int { return t.crashes }

func (t *Targeted) observe() {
	if t.State == nil {
		return
	}
	for _, name := range t.Net.Nodes() {
		h := t.Net.hosts[name]
		if !h.up || h.node == nil {
			delete(t.last, name)
			continue
		}
		st := t.State(name, h.node)
		old, seen := t.last[name]
		t.last[name] = st
		if !seen || old == st || t.P <= 0 || !t.allowed() || t.Net.sim.rng.Float64() >= t.P {
			continue
		}
		t.crashes++
		delete(t.last, name)
		t.Net.crash(name, fmt.Sprintf("crash %s right after it changed: %s → %s (targeted)", name, orNone(old), orNone(st)))
		t.restartLater(name)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// allowed reports whether one more crash keeps within Max and MaxDown.
func (t *Targeted) allowed() bool {
	if t.Max > 0 && t.crashes >= t.Max {
		return false
	}
	nodes := t.Net.Nodes()
	maxDown := t.MaxDown
	if maxDown <= 0 {
		maxDown = max((len(nodes)-1)/2, 1)
	}
	down := 0
	for _, name := range nodes {
		if !t.Net.hosts[name].up {
			down++
		}
	}
	return down < maxDown
}

func (t *Targeted) restartLater(name string) {
	t.pending = append(t.pending, name)
	t.Net.sim.AfterFunc(t.Down, func() {
		for i, p := range t.pending {
			if p == name {
				t.pending = slices.Delete(t.pending, i, i+1)
				break
			}
		}
		t.Net.Restart(name)
	})
}

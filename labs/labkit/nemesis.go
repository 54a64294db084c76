package labkit

import (
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

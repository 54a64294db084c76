package crdt

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// labInterval is the gossip interval the visible tests use.
const labInterval = 100 * time.Millisecond

// labEnv adapts a labkit node environment to the lab's Env interface.
type labEnv struct{ e *labkit.Env }

func (a labEnv) Name() string                            { return a.e.Name() }
func (a labEnv) Peers() []string                         { return a.e.Peers() }
func (a labEnv) Send(to string, msg any)                 { a.e.Send(to, msg) }
func (a labEnv) Every(d time.Duration, fn func()) Ticker { return a.e.Every(d, fn) }
func (a labEnv) Rand() *rand.Rand                        { return a.e.Rand() }
func (a labEnv) Disk() Disk                              { return a.e.Disk() }

// labCounts prints a G-counter's entries in order.
func labCounts(c GCounter) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.Counts)) {
		if c.Counts[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", k, c.Counts[k]))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// labDescribe prints the lab's messages compactly in the trace.
func labDescribe(msg any) string {
	switch m := msg.(type) {
	case Delta[GCounter]:
		return fmt.Sprintf("Delta{seq %d, %s}", m.Seq, labCounts(m.State))
	case Ack:
		return fmt.Sprintf("Ack{seq %d}", m.Seq)
	}
	return labkit.Describe(msg)
}

// labCluster is a simulated network of your G-counter replicas.
type labCluster struct {
	t     *testing.T
	sim   *labkit.Sim
	net   *labkit.Net
	reps  map[string]*Replica[GCounter]
	names []string
}

func labStart(t *testing.T, n int, link labkit.Link) *labCluster {
	t.Helper()
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = labDescribe
	net.SetDefaultLink(link)
	c := &labCluster{t: t, sim: sim, net: net, reps: map[string]*Replica[GCounter]{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("r%d", i)
		c.names = append(c.names, name)
		net.AddNode(name, func(e *labkit.Env) labkit.Node {
			r := New[GCounter](labEnv{e}, Config{Interval: labInterval, Fanout: 2})
			c.reps[e.Name()] = r
			return r
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			labkit.Attach(t, "network.svg", labkit.Timeline{Title: "replicas", Lanes: net.Timeline(), Colors: labkit.TimelineColors}.SVG())
		}
	})
	return c
}

// labInc adds n at replica name.
func (c *labCluster) labInc(name string, n uint64) {
	c.reps[name].Update(func(s GCounter, id string) GCounter { return s.Inc(id, n) })
}

// labStates lists every replica's state on one line.
func (c *labCluster) labStates() string {
	var parts []string
	for _, n := range c.names {
		parts = append(parts, n+" "+labCounts(c.reps[n].State()))
	}
	return strings.Join(parts, ", ")
}

// labAllRead reports whether every replica reads want.
func (c *labCluster) labAllRead(want uint64) bool {
	for _, n := range c.names {
		if c.reps[n].State().Value() != want {
			return false
		}
	}
	return true
}

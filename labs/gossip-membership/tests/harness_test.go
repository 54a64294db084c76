package gossip

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// labPeriod is the protocol period the visible tests use.
const labPeriod = 100 * time.Millisecond

var labConfig = Config{
	Period:           labPeriod,
	AckTimeout:       30 * time.Millisecond,
	IndirectChecks:   3,
	SuspicionTimeout: 10 * labPeriod,
	SyncInterval:     10 * labPeriod,
	RetransmitMult:   3,
	MaxPiggyback:     6,
}

// labEnv adapts a labkit node environment to the lab's Env interface.
type labEnv struct{ e *labkit.Env }

func (a labEnv) Name() string     { return a.e.Name() }
func (a labEnv) Now() time.Time   { return a.e.Now() }
func (a labEnv) Rand() *rand.Rand { return a.e.Rand() }
func (a labEnv) Disk() Disk       { return a.e.Disk() }
func (a labEnv) Send(to string, msg any) {
	a.e.Send(to, msg)
}
func (a labEnv) After(d time.Duration, fn func()) Timer { return a.e.After(d, "timer", fn) }
func (a labEnv) Every(d time.Duration, fn func()) Ticker {
	return a.e.Every(d, fn)
}

func labUpdates(us []Update) string {
	if len(us) == 0 {
		return ""
	}
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%s %s@%d", u.Member, u.Status, u.Incarnation)
	}
	return " [" + strings.Join(parts, ", ") + "]"
}

// labDescribe prints the lab's messages compactly in the trace.
func labDescribe(msg any) string {
	switch m := msg.(type) {
	case Ping:
		return fmt.Sprintf("Ping{%d}%s", m.Seq, labUpdates(m.Updates))
	case Ack:
		return fmt.Sprintf("Ack{%d}%s", m.Seq, labUpdates(m.Updates))
	case PingReq:
		return fmt.Sprintf("PingReq{%d, %s}%s", m.Seq, m.Target, labUpdates(m.Updates))
	case Sync:
		return fmt.Sprintf("Sync{reply %t, %d members}", m.Reply, len(m.Members))
	}
	return labkit.Describe(msg)
}

// labCluster is a simulated network of your members.
type labCluster struct {
	t       *testing.T
	sim     *labkit.Sim
	net     *labkit.Net
	members map[string]*Member
	names   []string
}

func labStart(t *testing.T, n int, link labkit.Link) *labCluster {
	t.Helper()
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = labDescribe
	net.SetDefaultLink(link)
	c := &labCluster{t: t, sim: sim, net: net, members: map[string]*Member{}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		c.names = append(c.names, name)
		net.AddNode(name, func(e *labkit.Env) labkit.Node {
			cfg := labConfig
			cfg.Seeds = []string{"n1"}
			m := New(labEnv{e}, cfg)
			c.members[e.Name()] = m
			return m
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			labkit.Attach(t, "network.svg", labkit.Timeline{Title: "network", Lanes: net.Timeline(), Colors: labkit.TimelineColors}.SVG())
		}
	})
	return c
}

func (c *labCluster) up(name string) bool { return c.net.Up(name) && c.net.Node(name) != nil }

// labView returns what obs holds about subj.
func (c *labCluster) labView(obs, subj string) (Update, bool) {
	for _, u := range c.members[obs].Members() {
		if u.Member == subj {
			return u, true
		}
	}
	return Update{}, false
}

// labAllHold reports whether every running member other than subj holds subj with status s.
func (c *labCluster) labAllHold(subj string, s Status) bool {
	for _, obs := range c.names {
		if obs == subj || !c.up(obs) {
			continue
		}
		if u, ok := c.labView(obs, subj); !ok || u.Status != s {
			return false
		}
	}
	return true
}

func (c *labCluster) labViews(subj string) string {
	var parts []string
	for _, obs := range c.names {
		if obs == subj || !c.up(obs) {
			continue
		}
		u, ok := c.labView(obs, subj)
		if !ok {
			parts = append(parts, obs+": (unknown)")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s@%d", obs, u.Status, u.Incarnation))
	}
	return strings.Join(parts, ", ")
}

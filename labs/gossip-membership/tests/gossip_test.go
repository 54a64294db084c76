package gossip

import (
	"testing"
	"time"

	"faultline.dev/labkit"
)

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Alive: "alive", Suspect: "suspect", Dead: "dead", Left: "left"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q; want %q", int(s), got, want)
		}
	}
}

func TestPingIsAcked(t *testing.T) {
	c := labStart(t, 1, labkit.Link{Latency: labkit.Fixed(time.Millisecond)})
	var got []any
	c.net.AddNode("f", func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) { got = append(got, msg) })
	})
	c.sim.RunFor(time.Millisecond)
	c.net.Send("f", "n1", Ping{Seq: 42, Updates: []Update{{Member: "x", Status: Alive, Incarnation: 3}}})
	c.sim.RunFor(10 * time.Millisecond)
	var ack *Ack
	for _, m := range got {
		if a, ok := m.(Ack); ok {
			ack = &a
		}
	}
	c.sim.Check(t, ack != nil && ack.Seq == 42, "a Ping is answered by an Ack with the same Seq",
		"f sent Ping{Seq 42} to n1 and got back %d messages, none of them Ack{Seq 42}", len(got))
	u, ok := c.labView("n1", "x")
	c.sim.Check(t, ok && u == (Update{Member: "x", Status: Alive, Incarnation: 3}), "updates piggybacked on a Ping are merged",
		"n1 holds x as %s@%d (known: %t); want alive@3", u.Status, u.Incarnation, ok)
}

func TestGroupForms(t *testing.T) {
	c := labStart(t, 5, labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond)})
	ok := c.sim.RunUntil(func() bool {
		for _, n := range c.names {
			if !c.labAllHold(n, Alive) {
				return false
			}
		}
		return true
	}, 20*labPeriod)
	c.sim.Check(t, ok, "members that join through n1 all learn of each other",
		"20 periods after the start, views of n5: %s", c.labViews("n5"))
}

func TestCrashIsDetected(t *testing.T) {
	c := labStart(t, 5, labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond)})
	c.sim.RunFor(2 * time.Second)
	c.net.Crash("n3")
	ok := c.sim.RunUntil(func() bool { return c.labAllHold("n3", Dead) }, 30*labPeriod)
	c.sim.Check(t, ok, "a crashed member is declared dead by every live member",
		"30 periods after n3 crashed: %s", c.labViews("n3"))
	for _, n := range []string{"n1", "n2", "n4", "n5"} {
		c.sim.Check(t, c.labAllHold(n, Alive), "live members stay alive",
			"views of %s: %s", n, c.labViews(n))
	}
}

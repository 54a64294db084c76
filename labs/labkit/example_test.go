package labkit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// The example from the package documentation, kept compiling and passing.

type counter struct {
	env *labkit.Env
	n   int
}

func (c *counter) Handle(from string, msg any) {
	c.n++
	c.env.Disk().PutJSON("n", c.n) // survive crashes
}

func newCounter(env *labkit.Env) labkit.Node {
	c := &counter{env: env}
	env.Disk().GetJSON("n", &c.n)
	return c
}

func TestDocExample(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 20*time.Millisecond), Loss: 0.1})
	net.AddNode("counter", newCounter)
	client := net.AddClient("client", func(string, any) {})
	client.Every(10*time.Millisecond, func() { client.Send("counter", "ping") })
	sim.AfterFunc(time.Second, func() { net.Crash("counter") })
	sim.AfterFunc(2*time.Second, func() { net.Restart("counter") })
	sim.RunFor(3 * time.Second)
	c := net.Node("counter").(*counter)
	sim.Check(t, c.n > 150, "the count survives a crash", "count is %d after 3s", c.n)

	tb := &fakeTB{name: t.Name()}
	labkit.Attach(tb, "timeline.svg", labkit.Timeline{Title: "nodes", Lanes: net.Timeline(), Colors: labkit.TimelineColors}.SVG())
	atts := labkit.ParseAttachments(tb.output())
	if len(atts) != 1 || !strings.Contains(atts[0].SVG, "counter: crashed from 1.000000s to 2.000000s") {
		t.Fatalf("timeline attachment: %+v", atts)
	}
}

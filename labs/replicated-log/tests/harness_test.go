package replicatedlog

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// labEnv adapts a labkit node environment to the lab's Env; UpdateISR goes
// to the test's controller.
type labEnv struct {
	e *labkit.Env
	c *labCluster
}

func (a labEnv) Name() string                     { return a.e.Name() }
func (a labEnv) Send(to string, msg any)          { a.e.Send(to, msg) }
func (a labEnv) After(d time.Duration, fn func()) { a.e.After(d, "tick", fn) }
func (a labEnv) Now() time.Time                   { return a.e.Now() }
func (a labEnv) Disk() Disk                       { return a.e.Disk() }
func (a labEnv) UpdateISR(partition int, epoch int64, isr []string) error {
	if !a.e.Alive() {
		return ErrControllerUnavailable
	}
	return a.c.updateISR(a.e.Name(), partition, epoch, isr)
}

// labPart is the controller's view of one partition.
type labPart struct {
	id       int
	epoch    int64
	leader   string
	isr      []string
	replicas []string
}

// labCluster runs the learner's brokers and plays the controller: it
// announces every partition every 20ms and, when a leader is down, elects
// the first ISR member that is up, in a new epoch.
type labCluster struct {
	t       *testing.T
	sim     *labkit.Sim
	net     *labkit.Net
	brokers []string
	parts   []*labPart
}

const labCtl = "controller"

var labCfg = Config{FetchInterval: 10 * time.Millisecond, ReplicaLag: 80 * time.Millisecond}

// newLabCluster starts brokers b1..bn and partition 0 on all of them, led
// by b1 in epoch 1.
func newLabCluster(t *testing.T, n int) *labCluster {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 3*time.Millisecond)})
	c := &labCluster{t: t, sim: sim, net: net}
	net.AddClient(labCtl, func(string, any) {})
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("b%d", i)
		c.brokers = append(c.brokers, name)
		net.AddNode(name, func(e *labkit.Env) labkit.Node { return New(labEnv{e: e, c: c}, labCfg) })
	}
	c.parts = []*labPart{{id: 0, epoch: 1, leader: "b1", isr: slices.Clone(c.brokers), replicas: slices.Clone(c.brokers)}}
	sim.Every(20*time.Millisecond, c.tick)
	c.tick()
	return c
}

func (c *labCluster) updateISR(broker string, partition int, epoch int64, isr []string) error {
	p := c.parts[partition]
	if !c.net.Reachable(broker, labCtl) || !c.net.Reachable(labCtl, broker) {
		return ErrControllerUnavailable
	}
	if epoch != p.epoch || broker != p.leader {
		return ErrFenced
	}
	p.isr = slices.Clone(isr)
	slices.Sort(p.isr)
	return nil
}

func (c *labCluster) tick() {
	for _, p := range c.parts {
		if !c.net.Up(p.leader) {
			for _, r := range p.isr {
				if r != p.leader && c.net.Up(r) {
					p.isr = slices.DeleteFunc(slices.Clone(p.isr), func(s string) bool { return s == p.leader })
					p.leader = r
					p.epoch++
					break
				}
			}
		}
		for _, r := range p.replicas {
			c.net.Send(labCtl, r, LeaderAndISR{Partition: p.id, Epoch: p.epoch, Leader: p.leader, ISR: slices.Clone(p.isr)})
		}
	}
}

func (c *labCluster) broker(name string) *Broker {
	n := c.net.Node(name)
	if n == nil {
		return nil
	}
	return n.(*Broker)
}

// labClient records what it receives.
type labClient struct {
	c    *labCluster
	name string
	got  []any
}

func (c *labCluster) client(name string) *labClient {
	cl := &labClient{c: c, name: name}
	c.net.AddClient(name, func(_ string, msg any) { cl.got = append(cl.got, msg) })
	return cl
}

// ask sends msg to a broker, runs d of virtual time and returns the replies.
func (cl *labClient) ask(to string, msg any, d time.Duration) []any {
	n := len(cl.got)
	cl.c.net.Send(cl.name, to, msg)
	cl.c.sim.RunFor(d)
	return slices.Clone(cl.got[n:])
}

// labProducer is an idempotent producer with one record in flight: it
// resends it to the current leader every 100ms until it is acknowledged.
type labProducer struct {
	c     *labCluster
	name  string
	seq   int64
	gen   int
	acked map[int64]int64 // seq -> offset
	on    bool
}

func (c *labCluster) producer(name string) *labProducer {
	p := &labProducer{c: c, name: name, seq: 1, acked: map[int64]int64{}}
	c.net.AddClient(name, func(_ string, msg any) {
		m, ok := msg.(ProduceReply)
		if !ok || m.Err != OK {
			return
		}
		if prev, seen := p.acked[m.Seq]; seen && prev != m.Offset {
			c.sim.Failf(c.t, "an offset is never reused", "%s#%d was acknowledged at offset %d and at offset %d", name, m.Seq, prev, m.Offset)
		}
		p.acked[m.Seq] = m.Offset
		if m.Seq == p.seq {
			p.seq++
			p.send()
		}
	})
	return p
}

func (p *labProducer) send() {
	if !p.on {
		return
	}
	p.gen++
	gen := p.gen
	p.c.net.Send(p.name, p.c.parts[0].leader, Produce{Partition: 0, Producer: p.name, Seq: p.seq, Value: fmt.Sprintf("%s-%d", p.name, p.seq)})
	p.c.sim.AfterFunc(100*time.Millisecond, func() {
		if p.gen == gen {
			p.send()
		}
	})
}

// labCheckAcked fails unless the broker's log holds every acknowledged
// record of p at its offset.
func labCheckAcked(c *labCluster, p *labProducer, broker string) {
	c.t.Helper()
	log := c.broker(broker).Log(0)
	for seq, off := range p.acked {
		want := fmt.Sprintf("%s-%d", p.name, seq)
		if off >= int64(len(log)) {
			c.sim.Failf(c.t, "every acknowledged record is readable at its offset from every later leader",
				"%s#%d was acknowledged at offset %d, but %s has only %d records", p.name, seq, off, broker, len(log))
		}
		if r := log[off]; r.Value != want || r.Producer != p.name || r.Seq != seq {
			c.sim.Failf(c.t, "every acknowledged record is readable at its offset from every later leader",
				"%s#%d was acknowledged at offset %d, but %s holds %s there", p.name, seq, off, broker, labLogText(log[off:off+1]))
		}
	}
}

// labDiff describes where two logs first differ, or returns "".
func labDiff(got, want []Record) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("it has %d records, the leader %d", len(got), len(want))
		case i >= len(want):
			return fmt.Sprintf("it has %d records, the leader only %d", len(got), len(want))
		case got[i] != want[i]:
			return fmt.Sprintf("at offset %d it holds %s, the leader %s", i, labLogText(got[i:i+1]), labLogText(want[i:i+1]))
		}
	}
	return ""
}

func labLogText(log []Record) string {
	var parts []string
	for _, r := range log {
		if r.Group != "" {
			parts = append(parts, fmt.Sprintf("%d:commit(%s %d)@e%d", r.Offset, r.Group, r.Commit, r.Epoch))
		} else {
			parts = append(parts, fmt.Sprintf("%d:%s#%d@e%d", r.Offset, r.Producer, r.Seq, r.Epoch))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

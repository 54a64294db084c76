package hidden

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	rl "faultline.dev/labs/replicatedlog"
)

// The scripted tests run one real broker, b1, beside fake peers f2 and f3
// that the test drives message by message, on links that take exactly 1ms.
// b1's tick fires at 10ms, 20ms, ... (FetchInterval 10ms).

var scriptCfg = rl.Config{FetchInterval: 10 * time.Millisecond, ReplicaLag: 80 * time.Millisecond}

var oneMs = labkit.Link{Latency: labkit.Fixed(time.Millisecond)}

// fake is a peer the test scripts by hand; it records what it receives.
type fake struct {
	c    *cluster
	name string
	got  []got
}

func (c *cluster) addFake(name string) *fake {
	f := &fake{c: c, name: name}
	c.net.AddNode(name, func(*labkit.Env) labkit.Node {
		return labkit.HandlerFunc(func(from string, msg any) {
			f.got = append(f.got, got{c.sim.Elapsed(), from, msg})
		})
	})
	return f
}

func (f *fake) send(to string, msg any) { f.c.net.Send(f.name, to, msg) }

// ask sends msg to b1, runs 5ms and returns what came back.
func (f *fake) ask(msg any) []any {
	start := f.c.sim.Elapsed()
	f.send("b1", msg)
	f.c.run(5 * time.Millisecond)
	var out []any
	for _, g := range f.got {
		if g.at >= start {
			if _, ok := g.msg.(rl.ReplicaFetch); !ok {
				out = append(out, g.msg)
			}
		}
	}
	return out
}

// fetches returns the ReplicaFetch messages received at or after at.
func (f *fake) fetches(at time.Duration) []got {
	var out []got
	for _, g := range f.got {
		if _, ok := g.msg.(rl.ReplicaFetch); ok && g.at >= at {
			out = append(out, g)
		}
	}
	return out
}

type script struct {
	*cluster
	f2, f3 *fake
	cl     *inbox
}

// scripted returns b1, the fakes f2 and f3, and a client cl, with partition
// 0 replicated on b1, f2 and f3. Nothing is announced: the test does it.
func scripted(t *testing.T, cfg rl.Config) *script {
	c := newCluster(t, labkit.Seed(t), cfg, oneMs)
	c.addBrokers("b1")
	s := &script{cluster: c, f2: c.addFake("f2"), f3: c.addFake("f3"), cl: c.addClient("cl")}
	c.addPartition(0, "b1", "f2", "f3")
	c.ctl.parts[0].epoch = 0
	c.actions = map[string][]string{}
	return s
}

// announce makes the controller's state of partition 0 (epoch, leader, ISR)
// and sends it to b1; it arrives 1ms later.
func (s *script) announce(epoch int64, leader string, isr ...string) {
	p := s.ctl.part(0)
	p.epoch, p.leader, p.isr = epoch, leader, sortedCopy(isr)
	s.net.Send(ctlName, "b1", rl.LeaderAndISR{Partition: 0, Epoch: epoch, Leader: leader, ISR: slices.Clone(isr)})
	s.run(time.Millisecond)
}

// ask sends msg from the client to b1, runs d and returns the replies.
func (s *script) ask(msg any, d time.Duration) []any { return s.cl.ask("b1", msg, d) }

func (s *script) status() rl.Status {
	st, up := s.status0()
	s.sim.Check(s.t, up, "b1 is running", "b1 is down")
	return st
}

func (s *script) status0() (rl.Status, bool) { return s.cluster.status("b1", 0) }

// normalize makes empty record slices nil, so either is accepted.
func normalize(msg any) any {
	switch m := msg.(type) {
	case rl.FetchReply:
		if len(m.Records) == 0 {
			m.Records = nil
		}
		return m
	case rl.ReplicaFetchReply:
		if len(m.Records) == 0 {
			m.Records = nil
		}
		return m
	}
	return msg
}

// expect fails unless msgs is exactly want.
func (s *script) expect(msgs []any, property, doing string, want ...any) {
	s.t.Helper()
	ok := len(msgs) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = reflect.DeepEqual(normalize(msgs[i]), normalize(want[i]))
	}
	if !ok {
		s.sim.Failf(s.t, property, "%s: got %s; want %s", doing, describeAll(msgs), describeAll(want))
	}
}

// expectRecords fails unless the records are exactly want.
func (s *script) expectRecords(got []rl.Record, property, doing string, want ...rl.Record) {
	s.t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		s.sim.Failf(s.t, property, "%s: got %s; want %s", doing, recsText(got), recsText(want))
	}
}

func recsText(rs []rl.Record) string {
	if len(rs) == 0 {
		return "no records"
	}
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s(epoch %d)", recText(r), r.Epoch))
	}
	return strings.Join(parts, ", ")
}

func data(offset, epoch int64, producer string, seq int64) rl.Record {
	return rl.Record{Offset: offset, Epoch: epoch, Producer: producer, Seq: seq, Value: fmt.Sprintf("%s-%d", producer, seq)}
}

func produce(producer string, seq int64) rl.Produce {
	return rl.Produce{Partition: 0, Producer: producer, Seq: seq, Value: fmt.Sprintf("%s-%d", producer, seq)}
}

func ack(producer string, seq, offset int64) rl.ProduceReply {
	return rl.ProduceReply{Partition: 0, Producer: producer, Seq: seq, Offset: offset}
}

// sync makes fake f fetch at offset with lastEpoch in epoch and returns the
// reply.
func (s *script) fetchFrom(f *fake, epoch, offset, lastEpoch int64) []any {
	return f.ask(rl.ReplicaFetch{Partition: 0, Epoch: epoch, Offset: offset, LastEpoch: lastEpoch})
}

// feed makes b1, a follower of fake f in epoch, take recs: it waits for
// b1's next fetch and answers it with recs and hwm.
func (s *script) feed(f *fake, epoch int64, recs []rl.Record, hwm int64) {
	s.t.Helper()
	start := s.sim.Elapsed()
	if !s.runUntil(func() bool { return len(f.fetches(start)) > 0 }, 50*time.Millisecond) {
		s.sim.Failf(s.t, "a follower sends a ReplicaFetch to its leader on every tick",
			"b1, follower of %s in epoch %d, sent it no ReplicaFetch within 50ms", f.name, epoch)
	}
	m := f.fetches(start)[0].msg.(rl.ReplicaFetch)
	f.send("b1", rl.ReplicaFetchReply{Partition: 0, Epoch: epoch, Offset: m.Offset, LastEpoch: m.LastEpoch, Records: recs, HWM: hwm})
	s.run(time.Millisecond)
}

package hidden

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
	kv "faultline.dev/labs/quorumkv"
)

var workloadKeys = []string{"apple", "banana", "cherry", "damson"}

// chaos runs three clients against five replicas (N=3, R=2, W=2) for three
// seconds of virtual time under loss, duplication, random latency, and a
// nemesis that partitions, cuts links one way and crashes replicas. Half
// the writes are read-modify-writes with the read's context, half are blind.
// It returns the cluster (healed, every replica up, links clean) and every
// write with whether it was acknowledged.
func chaos(t *testing.T, seed int64) (*cluster, []labkit.Write) {
	// Some replies and acks arrive after their operation's 50ms timeout
	// (a heavy tail), and duplicates arrive long after the first copy.
	c := newCluster(t, seed, 5, labkit.Link{
		Latency:  labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), 0.03, 50*time.Millisecond),
		Loss:     0.05,
		Dup:      0.02,
		DupDelay: labkit.Uniform(50*time.Millisecond, 200*time.Millisecond),
	})
	nm := &labkit.Nemesis{Net: c.net, Interval: 300 * time.Millisecond, Partitions: true, OneWay: true, Crashes: true}
	// Replicas also crash in the middle of a message, just before a disk
	// write: whatever they sent before it is out, the write is not.
	tg := &labkit.Targeted{Net: c.net, Writes: 0.02, Down: 50 * time.Millisecond}
	tg.Start()
	var writes []labkit.Write
	running := true
	var clients []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("client%d", i)
		clients = append(clients, name)
		co := c.client(name, c.cfg(3, 2, 2))
		seq := 0
		var loop func()
		write := func(key string, ctx kv.VClock) {
			seq++
			value := fmt.Sprintf("%s-%d", name, seq)
			idx := len(writes)
			writes = append(writes, labkit.Write{Key: key, Value: value, Invoke: c.sim.Elapsed()})
			co.Put(key, value, ctx, func(err error) {
				writes[idx].Acked = err == nil
				c.sim.Schedule(time.Duration(1+c.sim.Rand().IntN(20))*time.Millisecond, loop)
			})
		}
		loop = func() {
			if !running {
				return
			}
			key := workloadKeys[c.sim.Rand().IntN(len(workloadKeys))]
			if c.sim.Rand().IntN(2) == 0 {
				write(key, nil)
				return
			}
			co.Get(key, func(_ []string, ctx kv.VClock, err error) {
				if err != nil {
					c.sim.Schedule(5*time.Millisecond, loop)
					return
				}
				write(key, ctx)
			})
		}
		c.sim.Schedule(time.Duration(i)*time.Millisecond, loop)
	}
	nm.Start()
	// The nemesis only cuts replicas from each other; this cuts clients off
	// from some replicas too, so writes and reads reach partial quorums.
	var cuts [][2]string
	tk := c.sim.Every(200*time.Millisecond, func() {
		for _, p := range cuts {
			c.net.Unblock(p[0], p[1])
		}
		cuts = nil
		if !running {
			return
		}
		r := c.sim.Rand()
		for range r.IntN(3) {
			cl, n := clients[r.IntN(len(clients))], c.nodes[r.IntN(len(c.nodes))]
			c.net.Block(cl, n)
			c.net.Block(n, cl)
			cuts = append(cuts, [2]string{cl, n}, [2]string{n, cl})
		}
	})
	c.sim.RunFor(3 * time.Second)
	running = false
	tk.Stop()
	nm.Stop()
	tg.Stop()
	c.net.Heal()
	c.net.SetDefaultLink(fixed(2))
	c.sim.RunFor(time.Second)
	return c, writes
}

func TestNoAckedWriteLostUnderFaults(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		c, writes := chaos(t, seed)
		acked := 0
		for _, w := range writes {
			if w.Acked {
				acked++
			}
		}
		t.Logf("%d writes, %d acknowledged", len(writes), acked)
		c.sim.Check(t, acked > 20, "writes succeed while a majority is reachable",
			"only %d of %d writes were acknowledged", acked, len(writes))
		// Read every key from every read quorum of its preference list:
		// each one must see every acknowledged write (R+W > N).
		checker := c.client("checker", c.cfg(3, 2, 2))
		for _, key := range workloadKeys {
			pref := kv.PreferenceList(key, c.nodes, 3)
			for _, out := range pref {
				c.cut("checker", out)
				r := c.get(checker, key)
				c.net.Heal()
				if r.err != nil {
					c.sim.Failf(t, "a read with R replicas reachable succeeds", "Get(%q) without %s failed: %v", key, out, r.err)
				}
				var mine []labkit.Write
				for _, w := range writes {
					if w.Key == key {
						mine = append(mine, w)
					}
				}
				if err := labkit.NoAckedWriteLost(mine, func(string) []string { return r.values }); err != nil {
					attachTimeline(t, c)
					c.sim.Require(t, withContext(err, "read of %q from its replicas %v except %s (R=2, W=2, N=3)", key, pref, out))
				}
			}
		}
	})
}

func TestStaleReplicasConvergeAfterFaults(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		c, _ := chaos(t, seed)
		reader := c.client("reader", c.cfg(3, 3, 1))
		for _, key := range workloadKeys {
			r := c.get(reader, key)
			c.sim.Check(t, r.err == nil, "a read with R replicas reachable succeeds", "Get(%q) with R=3 and every replica up failed: %v", key, r.err)
		}
		c.sim.RunFor(time.Second)
		for _, key := range workloadKeys {
			states := map[string][]string{}
			for _, n := range kv.PreferenceList(key, c.nodes, 3) {
				states[n] = describe(c.replica(n).Versions(key))
			}
			if err := labkit.Converged(states); err != nil {
				attachTimeline(t, c)
				c.sim.Require(t, withContext(err, "key %q, after a read with R=3 and its read repair", key))
			}
		}
	})
}

// withContext prefixes a violation's detail with what the test was doing.
func withContext(err error, format string, args ...any) error {
	var v *labkit.Violation
	if errors.As(err, &v) {
		return labkit.Violationf(v.Property, "%s:\n%s", fmt.Sprintf(format, args...), v.Detail)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// attachTimeline attaches the picture of when each replica was up, cut off
// or crashed during the run.
func attachTimeline(t *testing.T, c *cluster) {
	t.Helper()
	svg := labkit.Timeline{Title: "replicas during the run", Lanes: c.net.Timeline(), Colors: labkit.TimelineColors}.SVG()
	labkit.Attach(t, "timeline.svg", svg)
}

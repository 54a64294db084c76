package hidden

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	ps "faultline.dev/labs/pubsubidempotent"
)

// faults configures the simulated broker and what goes wrong around it.
type faults struct {
	Keys, PerKey int           // accounts and events per account
	Window       int           // unacked first deliveries in flight per key
	AckTimeout   time.Duration // the broker redelivers an event not acked by then
	Loss         float64       // a delivery is lost
	Dup          float64       // a delivery arrives twice
	AckLoss      float64       // an ack is lost on its way back
	Crashes      bool          // the consumer crashes now and then (Disk survives)
	TornWrites   float64       // a handler crashes after 0, 1 or 2 of its disk writes
	Late         float64       // a delivery or an ack takes longer than AckTimeout (heavy tail)
}

func (f faults) String() string {
	parts := []string{fmt.Sprintf("%d keys x %d events, window %d, ack timeout %s", f.Keys, f.PerKey, f.Window, f.AckTimeout)}
	if f.Loss > 0 {
		parts = append(parts, fmt.Sprintf("delivery loss %.0f%%", 100*f.Loss))
	}
	if f.Dup > 0 {
		parts = append(parts, fmt.Sprintf("duplicates %.0f%%", 100*f.Dup))
	}
	if f.AckLoss > 0 {
		parts = append(parts, fmt.Sprintf("ack loss %.0f%%", 100*f.AckLoss))
	}
	if f.Crashes {
		parts = append(parts, "consumer crashes")
	}
	if f.Late > 0 {
		parts = append(parts, fmt.Sprintf("%.0f%% of deliveries and acks late (past the ack timeout)", 100*f.Late))
	}
	if f.TornWrites > 0 {
		parts = append(parts, fmt.Sprintf("crash between disk writes in %.0f%% of deliveries", 100*f.TornWrites))
	}
	return strings.Join(parts, ", ")
}

// maxSends is how many times the broker delivers one event before the test
// gives up on it; with the faults used here a correct consumer needs far fewer.
const maxSends = 40

// crashDisk is the consumer's view of its disk for one incarnation. Once the
// harness decides the process dies after n more writes, the following writes
// (and acks) of this incarnation are dropped, as if power went out.
type crashDisk struct {
	d      *labkit.Disk
	budget int // writes left before the crash; -1 means no crash planned
	dead   bool
	writes int // in the current Handle call
}

func (c *crashDisk) write() bool {
	if c.dead {
		return false
	}
	if c.budget == 0 {
		c.dead = true
		return false
	}
	if c.budget > 0 {
		c.budget--
	}
	c.writes++
	return true
}

func (c *crashDisk) Get(key string) ([]byte, bool) { return c.d.Get(key) }
func (c *crashDisk) Keys(prefix string) []string   { return c.d.Keys(prefix) }
func (c *crashDisk) Put(key string, value []byte) {
	if c.write() {
		c.d.Put(key, value)
	}
}
func (c *crashDisk) Delete(key string) {
	if c.write() {
		c.d.Delete(key)
	}
}

// world is the broker, the consumer process and the bookkeeping to check them.
type world struct {
	t    *testing.T
	sim  *labkit.Sim
	f    faults
	disk *labkit.Disk

	cd   *crashDisk
	c    *ps.Consumer
	up   bool
	inc  int
	keys []string

	byID     map[string]ps.Event
	expected map[string][]ps.Account // expected[key][s]: the account after events 1..s
	next     map[string]int          // next event index to deliver first time, per key
	inflight map[string]int          // first-delivered, not yet acked, per key
	arrive   map[string]time.Duration
	acked    map[string]bool // the broker got an ack
	sends    map[string]int  // deliveries per event
	promised map[string]bool // the consumer called ack (a promise that the effect is durable)

	seqs  map[string][]labkit.Point // applied Seq per key over time, for the picture
	spans []labkit.Span             // consumer up / crashed, for the picture
	since time.Duration             // start of the current span

	deliveries, redeliveries, crashes int
	err                               error
}

func newWorld(t *testing.T, seed int64, f faults) *world {
	sim := labkit.NewSim(seed)
	w := &world{
		t: t, sim: sim, f: f, disk: labkit.NewDisk(),
		byID: map[string]ps.Event{}, expected: map[string][]ps.Account{},
		next: map[string]int{}, inflight: map[string]int{}, arrive: map[string]time.Duration{},
		seqs: map[string][]labkit.Point{}, acked: map[string]bool{}, sends: map[string]int{}, promised: map[string]bool{},
	}
	r := sim.Rand()
	for k := 0; k < f.Keys; k++ {
		key := fmt.Sprintf("acct-%d", k)
		w.keys = append(w.keys, key)
		acc := ps.Account{}
		w.expected[key] = []ps.Account{acc}
		for s := 1; s <= f.PerKey; s++ {
			amt := int64(r.IntN(60) + 1)
			if r.IntN(5) < 2 {
				amt = -amt
			}
			e := ps.Event{ID: fmt.Sprintf("evt-%08x", r.Uint32()), Key: key, Seq: s, Amount: amt}
			w.byID[e.ID] = e
			if amt >= 0 || acc.Balance+amt >= 0 {
				acc.Balance += amt
			}
			acc.Seq = s
			w.expected[key] = append(w.expected[key], acc)
		}
	}
	return w
}

// events returns key's events in Seq order.
func (w *world) events(key string) []ps.Event {
	var out []ps.Event
	for _, e := range w.byID {
		if e.Key == key {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func (w *world) fail(property, format string, args ...any) {
	if w.err == nil {
		w.err = labkit.Violationf(property, format, args...)
		w.sim.Stop()
	}
}

// start constructs a consumer on the disk: at the beginning and after a crash.
func (w *world) start() {
	w.inc++
	inc := w.inc
	cd := &crashDisk{d: w.disk, budget: -1}
	w.cd = cd
	w.c = ps.NewConsumer(cd, func(id string) { w.onAck(inc, cd, id) })
	w.up = true
	w.span(labkit.StateCrashed)
	// Whatever the consumer promised before the crash must still be there.
	for id := range w.promised {
		e := w.byID[id]
		if got := w.c.Account(e.Key); got.Seq < e.Seq {
			w.fail("an acked event's effect survives a crash",
				"event %s (key %s, seq %d) was acked before the crash, but after restart the consumer reports %s at seq %d: the ack promised an effect that was not on disk",
				e.ID, e.Key, e.Seq, e.Key, got.Seq)
			return
		}
	}
	w.checkAll("after restart")
}

func (w *world) onAck(inc int, cd *crashDisk, id string) {
	if inc != w.inc || cd.dead || !w.up {
		return // the process is gone; its acks never leave
	}
	e, ok := w.byID[id]
	if !ok {
		w.fail("ack takes the ID of a delivered event", "ack(%q) names no event the broker sent", id)
		return
	}
	// Acking means "the effect is durable": a consumer restarted from the
	// disk as it is right now must have applied e.
	snap := labkit.NewDisk()
	for _, k := range w.disk.Keys("") {
		v, _ := w.disk.Get(k)
		snap.Put(k, v)
	}
	if got := ps.NewConsumer(snap, func(string) {}).Account(e.Key); got.Seq < e.Seq {
		w.fail("ack only after the effect is durable",
			"the consumer acked event %s (key %s, seq %d), but a consumer restarted from the disk at that moment reports %s at seq %d",
			id, e.Key, e.Seq, e.Key, got.Seq)
		return
	}
	w.promised[id] = true
	w.sim.Logf("consumer acks %s (%s seq %d)", id, e.Key, e.Seq)
	d := w.latency()
	if d > w.f.AckTimeout {
		w.sim.NoteFault("the ack of %s (%s seq %d) is late: it reaches the broker after %s, past the ack timeout", id, e.Key, e.Seq, d)
	}
	w.sim.Schedule(d, func() {
		if w.sim.Rand().Float64() < w.f.AckLoss {
			w.sim.NoteFault("ack of %s (%s seq %d) lost", id, e.Key, e.Seq)
			return
		}
		if !w.acked[id] {
			w.acked[id] = true
			w.inflight[e.Key]--
			w.pump(e.Key)
		}
	})
}

func (w *world) latency() time.Duration {
	if w.f.Late > 0 {
		return labkit.HeavyTail(labkit.Uniform(time.Millisecond, 10*time.Millisecond), w.f.Late, w.f.AckTimeout).Sample(w.sim.Rand())
	}
	return time.Millisecond + time.Duration(w.sim.Rand().Int64N(int64(9*time.Millisecond)))
}

// pump sends first deliveries of key while its window has room.
func (w *world) pump(key string) {
	evs := w.events(key)
	for w.inflight[key] < w.f.Window && w.next[key] < len(evs) {
		e := evs[w.next[key]]
		w.next[key]++
		w.inflight[key]++
		w.send(e, false)
	}
}

// send puts e on key's FIFO channel to the consumer and arms its redelivery.
func (w *world) send(e ps.Event, redelivery bool) {
	w.deliveries++
	if redelivery {
		w.redeliveries++
	}
	w.sends[e.ID]++
	if w.sends[e.ID] > maxSends {
		w.fail("every event is eventually acked (progress)",
			"the broker has delivered %s (%s seq %d) %d times and never got an ack; the consumer promised it %v\n(a duplicate must be acked again: the first ack may have been lost)",
			e.ID, e.Key, e.Seq, maxSends, w.promised[e.ID])
		return
	}
	r := w.sim.Rand()
	copies := 1
	if r.Float64() < w.f.Dup {
		copies = 2
		w.sim.NoteFault("%s (%s seq %d) delivered twice", e.ID, e.Key, e.Seq)
	}
	if r.Float64() < w.f.Loss {
		copies--
		w.sim.NoteFault("a delivery of %s (%s seq %d) lost", e.ID, e.Key, e.Seq)
	}
	for i := 0; i < copies; i++ {
		d := w.latency()
		if d > w.f.AckTimeout {
			w.sim.NoteFault("a delivery of %s (%s seq %d) is late: it arrives after %s, past the ack timeout", e.ID, e.Key, e.Seq, d)
		}
		at := w.sim.Elapsed() + d
		if at <= w.arrive[e.Key] {
			at = w.arrive[e.Key] + time.Microsecond // FIFO per key
		}
		w.arrive[e.Key] = at
		w.sim.Schedule(at-w.sim.Elapsed(), func() { w.deliver(e) })
	}
	w.sim.Schedule(w.f.AckTimeout, func() {
		if !w.acked[e.ID] {
			w.send(e, true)
		}
	})
}

func (w *world) deliver(e ps.Event) {
	if !w.up || w.err != nil {
		return
	}
	if w.f.TornWrites > 0 && w.sim.Rand().Float64() < w.f.TornWrites {
		w.cd.budget = w.sim.Rand().IntN(3)
	}
	w.cd.writes = 0
	w.sim.Logf("deliver %s (%s seq %d, amount %d)", e.ID, e.Key, e.Seq, e.Amount)
	w.c.Handle(e)
	cd := w.cd
	cd.budget = -1
	if cd.dead {
		w.sim.NoteFault("consumer crashed during %s (%s seq %d) after %d disk writes", e.ID, e.Key, e.Seq, cd.writes)
		w.crash()
		return
	}
	w.check(e.Key, fmt.Sprintf("after handling %s (%s seq %d)", e.ID, e.Key, e.Seq))
}

func (w *world) crash() {
	if !w.up {
		return
	}
	w.crashes++
	w.up = false
	w.span(labkit.StateUp)
	w.cd.dead = true
	w.c = nil
	down := 20*time.Millisecond + time.Duration(w.sim.Rand().Int64N(int64(80*time.Millisecond)))
	w.sim.Schedule(down, func() {
		if w.err == nil {
			w.start()
		}
	})
}

// check compares the consumer's account for key with the expected state
// after the events up to the Seq it reports.
func (w *world) check(key, when string) {
	got := w.c.Account(key)
	exp := w.expected[key]
	if got.Seq < 0 || got.Seq >= len(exp) {
		w.fail("each account reflects a prefix of its events, in Seq order",
			"%s: %s reports seq %d, but its events have seq 1..%d", when, key, got.Seq, len(exp)-1)
		return
	}
	if pts := w.seqs[key]; len(pts) == 0 || pts[len(pts)-1].Y != float64(got.Seq) {
		w.seqs[key] = append(pts, labkit.Point{X: float64(w.sim.Elapsed()) / float64(time.Millisecond), Y: float64(got.Seq)})
	}
	if want := exp[got.Seq]; got != want {
		w.fail("each event is applied exactly once, in Seq order",
			"%s: %s is %+v, but applying its events 1..%d once each, in order, gives %+v\n(an event applied twice, skipped, or applied out of order)",
			when, key, got, got.Seq, want)
	}
}

func (w *world) checkAll(when string) {
	for _, k := range w.keys {
		if w.err == nil {
			w.check(k, when)
		}
	}
}

// span closes the consumer's current span, in state, at the current time.
func (w *world) span(state string) {
	now := w.sim.Elapsed()
	if now > w.since {
		w.spans = append(w.spans, labkit.Span{From: w.since, To: now, State: state})
	}
	w.since = now
}

// attach adds the pictures of the run to a failure report.
func (w *world) attach() {
	state := labkit.StateCrashed
	if w.up {
		state = labkit.StateUp
	}
	w.span(state)
	labkit.Attach(w.t, "consumer.svg", labkit.Timeline{Title: "consumer process",
		Lanes: []labkit.Lane{{Name: "consumer", Spans: w.spans}}, Colors: labkit.TimelineColors}.SVG())
	var series []labkit.Series
	for _, k := range w.keys {
		series = append(series, labkit.Series{Name: k, Points: w.seqs[k]})
	}
	labkit.Attach(w.t, "applied.svg", labkit.LineChart{Title: "last applied Seq per key", XLabel: "virtual time (ms)",
		YLabel: "Seq", Series: series, Steps: true}.SVG())
}

func (w *world) allAcked() bool { return len(w.acked) == len(w.byID) }

// run starts the consumer and the broker and runs until every event is
// acked (or limit passes), then checks the final state.
func (w *world) run(limit time.Duration) {
	w.t.Helper()
	w.sim.Logf("scenario: %s", w.f)
	w.start()
	for _, k := range w.keys {
		w.pump(k)
	}
	if w.f.Crashes {
		var nextCrash func()
		nextCrash = func() {
			if w.allAcked() || w.err != nil {
				return
			}
			if w.up {
				w.sim.NoteFault("consumer crashed (in-memory state lost, disk kept)")
				w.crash()
			}
			w.sim.Schedule(100*time.Millisecond+time.Duration(w.sim.Rand().Int64N(int64(200*time.Millisecond))), nextCrash)
		}
		w.sim.Schedule(50*time.Millisecond+time.Duration(w.sim.Rand().Int64N(int64(100*time.Millisecond))), nextCrash)
	}
	w.sim.RunUntil(func() bool { return w.err != nil || w.allAcked() }, limit)
	if w.err != nil || !w.allAcked() {
		w.attach()
	}
	w.sim.Require(w.t, w.err)
	if !w.allAcked() {
		var missing []string
		for _, k := range w.keys {
			for _, e := range w.events(k) {
				if !w.acked[e.ID] {
					missing = append(missing, fmt.Sprintf("%s seq %d", k, e.Seq))
				}
			}
		}
		if len(missing) > 8 {
			missing = append(missing[:8], fmt.Sprintf("and %d more", len(missing)-8))
		}
		w.sim.Failf(w.t, "every event is eventually acked (progress)",
			"after %s of virtual time (%d deliveries, %d redeliveries, %d crashes) the broker still has unacked events: %s\n(duplicates must be acked again; events waiting for a gap must be applied and acked when it fills)",
			limit, w.deliveries, w.redeliveries, w.crashes, strings.Join(missing, ", "))
	}
	if !w.up {
		w.start()
		w.sim.Require(w.t, w.err)
	}
	for _, k := range w.keys {
		got, want := w.c.Account(k), w.expected[k][w.f.PerKey]
		w.sim.Check(w.t, got == want, "every event's effect is applied exactly once",
			"at the end %s is %+v, want %+v", k, got, want)
	}
	w.t.Logf("%s: %d deliveries, %d redeliveries, %d crashes, %s virtual", w.f, w.deliveries, w.redeliveries, w.crashes, w.sim.Elapsed())
}

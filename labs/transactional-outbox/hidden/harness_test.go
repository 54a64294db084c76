package hidden

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	ob "faultline.dev/labs/transactionaloutbox"
)

// crashSignal is what the harness panics with at a crash point: the process
// stops exactly there. The harness recovers it and starts a new process.
type crashSignal struct{ where string }

var (
	errCommitFailed = errors.New("commit failed (nothing written)")
	errTimeout      = errors.New("publish timed out (outcome unknown)")
)

type faults struct {
	Steps        int
	Customers    int
	CrashRate    float64 // chance per step that the process crashes at one of its next commits or publishes
	CommitFail   float64
	LostRequest  float64 // publish fails and the broker never got it
	LostAck      float64 // publish fails but the broker got it
	Resubmit     float64 // a client places the same order again
	commitPoints bool    // crash points at commits
	publishPoint bool    // crash points at publishes
}

func (f faults) String() string {
	parts := []string{fmt.Sprintf("%d steps, %d customers", f.Steps, f.Customers)}
	if f.CrashRate > 0 {
		var pts []string
		if f.commitPoints {
			pts = append(pts, "before/after a commit")
		}
		if f.publishPoint {
			pts = append(pts, "before/after a publish")
		}
		parts = append(parts, fmt.Sprintf("crashes (%s) in %.0f%% of steps", strings.Join(pts, ", "), 100*f.CrashRate))
	}
	if f.CommitFail > 0 {
		parts = append(parts, fmt.Sprintf("failed commits %.0f%%", 100*f.CommitFail))
	}
	if f.LostRequest > 0 {
		parts = append(parts, fmt.Sprintf("publishes lost %.0f%%", 100*f.LostRequest))
	}
	if f.LostAck > 0 {
		parts = append(parts, fmt.Sprintf("publish acks lost %.0f%%", 100*f.LostAck))
	}
	if f.Resubmit > 0 {
		parts = append(parts, fmt.Sprintf("orders resubmitted %.0f%%", 100*f.Resubmit))
	}
	return strings.Join(parts, ", ")
}

// world is the database, the broker and the process that uses them.
type world struct {
	t      *testing.T
	sim    *labkit.Sim
	f      faults
	disk   *labkit.Disk
	faulty bool

	crashIn int // store/broker operations until the planned crash; -1: none

	relay    *ob.Relay
	orders   map[string]ob.Order // every order the clients tried
	log      []ob.Message        // what arrived at the broker, in order
	idOf     map[string]string   // order ID → message ID seen
	done     map[string]bool     // message IDs acked to a relay Run that then returned normally
	runAcked []string            // message IDs acked during the current Run
	crashes  int
	err      error
}

func newWorld(t *testing.T, seed int64, f faults) *world {
	w := &world{t: t, sim: labkit.NewSim(seed), f: f, disk: labkit.NewDisk(), crashIn: -1, faulty: true,
		orders: map[string]ob.Order{}, idOf: map[string]string{}, done: map[string]bool{}}
	w.relay = ob.NewRelay(&store{w}, &publisher{w})
	return w
}

func (w *world) fail(property, format string, args ...any) {
	if w.err == nil {
		w.err = labkit.Violationf(property, format, args...)
	}
}

// op is called at every commit and publish; it reports whether the planned
// crash is due now.
func (w *world) op() bool {
	if w.crashIn < 0 {
		return false
	}
	if w.crashIn == 0 {
		w.crashIn = -1
		return true
	}
	w.crashIn--
	return false
}

func (w *world) crash(where string) {
	w.crashes++
	w.sim.NoteFault("process crashed %s", where)
	panic(crashSignal{where})
}

// store is the transactional store on the disk.
type store struct{ w *world }

func (s *store) Begin() ob.Tx                  { return &tx{w: s.w, writes: map[string][]byte{}} }
func (s *store) Get(key string) ([]byte, bool) { return s.w.disk.Get(key) }
func (s *store) Keys(prefix string) []string   { return s.w.disk.Keys(prefix) }

type tx struct {
	w      *world
	writes map[string][]byte // nil value: delete
	order  []string
	done   bool
}

func (t *tx) Get(key string) ([]byte, bool) {
	if v, ok := t.writes[key]; ok {
		return append([]byte(nil), v...), v != nil
	}
	return t.w.disk.Get(key)
}

func (t *tx) set(key string, v []byte) {
	if t.done {
		panic("outbox lab: write to a transaction after Commit")
	}
	if _, ok := t.writes[key]; !ok {
		t.order = append(t.order, key)
	}
	t.writes[key] = v
}

func (t *tx) Put(key string, value []byte) { t.set(key, append([]byte{}, value...)) }
func (t *tx) Delete(key string)            { t.set(key, nil) }

func (t *tx) Commit() error {
	w := t.w
	if t.done {
		panic("outbox lab: Commit called twice on one transaction")
	}
	t.done = true
	crash := w.faulty && w.f.commitPoints && w.op()
	if crash && w.sim.Rand().IntN(2) == 0 {
		w.crash(fmt.Sprintf("before committing a transaction (writes %s lost)", strings.Join(t.order, ", ")))
	}
	if !crash && w.faulty && w.sim.Rand().Float64() < w.f.CommitFail {
		w.sim.NoteFault("commit of %s failed", strings.Join(t.order, ", "))
		return errCommitFailed
	}
	for _, k := range t.order {
		if v := t.writes[k]; v == nil {
			w.disk.Delete(k)
		} else {
			w.disk.Put(k, v)
		}
	}
	w.sim.Logf("committed %s", strings.Join(t.order, ", "))
	if crash {
		w.crash(fmt.Sprintf("right after committing %s", strings.Join(t.order, ", ")))
	}
	return nil
}

type publisher struct{ w *world }

func (p *publisher) Publish(m ob.Message) error {
	w := p.w
	r := w.sim.Rand()
	crash := w.faulty && w.f.publishPoint && w.op()
	if crash && r.IntN(2) == 0 {
		w.crash(fmt.Sprintf("before publishing %s (order %s)", m.ID, m.OrderID))
	}
	if !crash && w.faulty && r.Float64() < w.f.LostRequest {
		w.sim.NoteFault("publish of %s (order %s) lost on the way: error returned", m.ID, m.OrderID)
		return errTimeout
	}
	w.arrive(m)
	if crash {
		w.crash(fmt.Sprintf("after publishing %s (order %s), before the relay saw the ack", m.ID, m.OrderID))
	}
	if w.faulty && r.Float64() < w.f.LostAck {
		w.sim.NoteFault("ack of %s (order %s) lost: the broker has it, the relay gets an error", m.ID, m.OrderID)
		return errTimeout
	}
	w.runAcked = append(w.runAcked, m.ID)
	return nil
}

// arrive records a message at the broker and checks what can be checked at once.
func (w *world) arrive(m ob.Message) {
	w.sim.Logf("broker got %s (order %s, customer %s)", m.ID, m.OrderID, m.Customer)
	if w.done[m.ID] {
		w.fail("a message is not published again once acked and marked sent",
			"%s (order %s) arrived again, but it was acknowledged during an earlier Run that returned normally: mark records sent after the ack", m.ID, m.OrderID)
	}
	if m.ID == "" {
		w.fail("every message has an ID", "a message for order %s has an empty ID", m.OrderID)
	}
	if id, ok := w.idOf[m.OrderID]; ok && id != m.ID {
		w.fail("an event keeps the same message ID every time it is published",
			"order %s was published as %s and now as %s: consumers cannot tell these are the same event (or the order got two events)", m.OrderID, id, m.ID)
	}
	for oid, id := range w.idOf {
		if id == m.ID && oid != m.OrderID {
			w.fail("different events have different message IDs", "%s was used for order %s and for order %s", m.ID, oid, m.OrderID)
		}
	}
	w.idOf[m.OrderID] = m.ID
	w.log = append(w.log, m)
}

// protect runs fn as the process; a crash inside it restarts the process
// (a new Relay on the same store) and is reported as true.
func (w *world) protect(fn func()) (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashSignal); !ok {
				panic(r)
			}
			crashed = true
			w.relay = ob.NewRelay(&store{w}, &publisher{w})
		}
	}()
	fn()
	return false
}

// place has a client place o, retrying after crashes and errors the way a
// client would, until PlaceOrder says it is placed or already exists.
func (w *world) place(o ob.Order) {
	w.orders[o.ID] = o
	for attempt := 0; attempt < 20 && w.err == nil; attempt++ {
		var err error
		if w.protect(func() { err = ob.PlaceOrder(&store{w}, o) }) {
			continue
		}
		if err == nil || errors.Is(err, ob.ErrOrderExists) {
			return
		}
		if !errors.Is(err, errCommitFailed) {
			w.fail("PlaceOrder returns nil, ErrOrderExists or the store's error",
				"PlaceOrder(%s) returned %v", o.ID, err)
		}
	}
}

// runRelay runs the relay once.
func (w *world) runRelay() error {
	var err error
	w.runAcked = nil
	acked := &w.runAcked
	crashed := w.protect(func() { err = w.relay.Run() })
	// The relay stops at its first failure, so every message acked in this
	// run before the last one was marked sent; after a clean run, all were.
	ids := *acked
	if (crashed || err != nil) && len(ids) > 0 {
		ids = ids[:len(ids)-1]
	}
	for _, id := range ids {
		w.done[id] = true
	}
	w.runAcked = nil
	return err
}

// storedOrders returns the orders committed in the store.
func (w *world) storedOrders() map[string]bool {
	out := map[string]bool{}
	for _, k := range w.disk.Keys("order/") {
		out[strings.TrimPrefix(k, "order/")] = true
	}
	return out
}

func (w *world) run() {
	w.t.Helper()
	r := w.sim.Rand()
	w.sim.Logf("scenario: %s", w.f)
	n := 0
	var seq []string // order IDs in the order clients placed them
	for step := 0; step < w.f.Steps && w.err == nil; step++ {
		w.sim.RunFor(10 * time.Millisecond)
		if w.f.CrashRate > 0 && w.crashIn < 0 && r.Float64() < w.f.CrashRate {
			w.crashIn = r.IntN(4)
		}
		switch {
		case r.Float64() < 0.55:
			o := ob.Order{ID: fmt.Sprintf("o%03d", n), Customer: fmt.Sprintf("cust-%d", r.IntN(w.f.Customers)), Amount: int64(1 + r.IntN(500))}
			n++
			seq = append(seq, o.ID)
			w.place(o)
		case len(seq) > 0 && r.Float64() < w.f.Resubmit:
			id := seq[r.IntN(len(seq))]
			w.sim.NoteFault("client resubmits order %s", id)
			w.place(w.orders[id])
		default:
			w.runRelay()
		}
	}
	w.sim.Require(w.t, w.err)
	// The faults stop; the relay must now drain the outbox.
	w.faulty = false
	w.crashIn = -1
	w.sim.RunFor(10 * time.Millisecond)
	w.sim.Logf("faults stop; the relay drains the outbox")
	var err error
	for i := 0; i < 3; i++ {
		if err = w.runRelay(); err == nil {
			break
		}
	}
	w.sim.Require(w.t, w.err)
	w.sim.Check(w.t, err == nil, "the relay drains the outbox once the broker works",
		"with no more faults, Run still returned %v", err)
	// Every order has its event and every event its order, with the right content.
	stored := w.storedOrders()
	published := map[string]ob.Message{}
	for _, m := range w.log {
		published[m.OrderID] = m
	}
	for _, id := range seq {
		o := w.orders[id]
		m, pub := published[id]
		switch {
		case stored[id] && !pub:
			w.sim.Failf(w.t, "no order without its event",
				"order %s is in the store but its event was never published (%d crashes): write the outbox record in the same transaction, and mark it sent only after the broker acked it", id, w.crashes)
		case pub && !stored[id]:
			w.sim.Failf(w.t, "no event without its order",
				"the broker got %s for order %s, which is not in the store", m.ID, id)
		case pub && (m.Customer != o.Customer || m.Amount != o.Amount):
			w.sim.Failf(w.t, "the event describes its order",
				"order %+v was published as %+v", o, m)
		}
	}
	// Per customer, events arrive (first copies) in the order orders were placed.
	first := map[string]int{}
	for i, m := range w.log {
		if _, ok := first[m.ID]; !ok {
			first[m.ID] = i
		}
	}
	last := map[string]string{}
	for _, id := range seq {
		if !stored[id] {
			continue
		}
		o := w.orders[id]
		if prev, ok := last[o.Customer]; ok && first[w.idOf[id]] < first[w.idOf[prev]] {
			w.sim.Failf(w.t, "one customer's events are published in the order their orders were placed",
				"%s placed %s before %s, but the broker first got the event of %s (at position %d) before that of %s (position %d)",
				o.Customer, prev, id, id, first[w.idOf[id]], prev, first[w.idOf[prev]])
		}
		last[o.Customer] = id
	}
	dups := len(w.log) - len(first)
	w.t.Logf("%s: %d orders placed, %d published messages (%d duplicates), %d crashes", w.f, len(stored), len(w.log), dups, w.crashes)
}

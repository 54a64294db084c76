package hidden

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	es "faultline.dev/labs/eventsourcing"
)

// crashSignal is what the harness panics with at a crash point: the process
// stops exactly there. The harness recovers it and starts a new process.
type crashSignal struct{ where string }

type faults struct {
	Steps      int
	Accounts   int
	Every      int     // snapshot cadence given to NewBank
	Stale      float64 // share of steps where a second writer appends with a stale (or current) version
	Redeliver  float64 // chance, per delivered event, that an old event is delivered again first
	CrashRate  float64 // chance per step that the process crashes at one of its next disk writes
	crashStore bool    // crash points at writes to the event store and snapshot disks
	crashProj  bool    // crash points at writes to the projection's disk
}

func (f faults) String() string {
	parts := []string{fmt.Sprintf("%d steps, %d accounts, a snapshot every %d events", f.Steps, f.Accounts, f.Every)}
	if f.Stale > 0 {
		parts = append(parts, fmt.Sprintf("a second writer in %.0f%% of steps", 100*f.Stale))
	}
	if f.Redeliver > 0 {
		parts = append(parts, fmt.Sprintf("redeliveries %.0f%%", 100*f.Redeliver))
	}
	if f.CrashRate > 0 {
		var where []string
		if f.crashStore {
			where = append(where, "the event store and snapshots")
		}
		if f.crashProj {
			where = append(where, "the projection")
		}
		parts = append(parts, fmt.Sprintf("crashes at writes to %s in %.0f%% of steps", strings.Join(where, " and "), 100*f.CrashRate))
	}
	return strings.Join(parts, ", ")
}

// world is one process (store, bank, projection) over three disks, and the
// harness's own record of what must be true.
type world struct {
	t      *testing.T
	sim    *labkit.Sim
	f      faults
	faulty bool

	storeDisk, snapDisk, projDisk *labkit.Disk
	crashIn                       int // disk writes until the planned crash; -1: none

	store *es.Store
	bank  *es.Bank
	proj  *es.Projection

	log       []es.Event       // the committed log as the harness knows it
	delivered int64            // position of the last event the projection handled without a crash
	snapLow   map[string]int64 // the latest snapshot's version must be within [snapLow, snapHigh]
	snapHigh  map[string]int64
	crashes   int
	err       error
}

func newWorld(t *testing.T, seed int64, f faults) *world {
	w := &world{t: t, sim: labkit.NewSim(seed), f: f, crashIn: -1,
		storeDisk: labkit.NewDisk(), snapDisk: labkit.NewDisk(), projDisk: labkit.NewDisk(),
		snapLow: map[string]int64{}, snapHigh: map[string]int64{}}
	w.start()
	return w
}

// start opens the process on the disks (no crash can happen while it opens).
func (w *world) start() {
	w.t.Helper()
	faulty := w.faulty
	w.faulty = false
	defer func() { w.faulty = faulty }()
	var err error
	w.store, err = es.OpenStore(&crashDisk{w, "store", w.storeDisk})
	if err != nil {
		w.fail("OpenStore loads what is on disk", "OpenStore returned %v", err)
		return
	}
	w.bank = es.NewBank(w.store, &crashDisk{w, "snapshots", w.snapDisk}, w.f.Every)
	w.proj, err = es.OpenProjection(&crashDisk{w, "projection", w.projDisk})
	if err != nil {
		w.fail("OpenProjection loads what is on disk", "OpenProjection returned %v", err)
	}
}

func (w *world) fail(property, format string, args ...any) {
	if w.err == nil {
		w.err = labkit.Violationf(property, format, args...)
	}
}

// crashDisk is a labkit.Disk that can crash the process at a write.
type crashDisk struct {
	w    *world
	name string
	d    *labkit.Disk
}

func (c *crashDisk) Get(key string) ([]byte, bool) { return c.d.Get(key) }
func (c *crashDisk) Keys(prefix string) []string   { return c.d.Keys(prefix) }

func (c *crashDisk) Put(key string, value []byte) {
	w := c.w
	crash := false
	if w.faulty && w.crashIn >= 0 && ((c.name == "projection" && w.f.crashProj) || (c.name != "projection" && w.f.crashStore)) {
		if w.crashIn == 0 {
			crash = true
			w.crashIn = -1
		} else {
			w.crashIn--
		}
	}
	if crash && w.sim.Rand().IntN(2) == 0 {
		w.crash(fmt.Sprintf("before writing %s on the %s disk (not written)", key, c.name))
	}
	c.d.Put(key, value)
	if crash {
		w.crash(fmt.Sprintf("right after writing %s on the %s disk", key, c.name))
	}
}

func (w *world) crash(where string) {
	w.crashes++
	w.sim.NoteFault("process crashed %s", where)
	panic(crashSignal{where})
}

// protect runs fn as the process; after a crash inside it, it starts a new
// process on the same disks and reports true.
func (w *world) protect(fn func()) (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashSignal); !ok {
				panic(r)
			}
			crashed = true
			w.start()
		}
	}()
	fn()
	return false
}

// reference state, computed by the harness from its own log.

func (w *world) version(id string) int64 {
	var v int64
	for _, e := range w.log {
		if e.Stream == id {
			v = e.Version
		}
	}
	return v
}

func refAccount(log []es.Event, id string, upTo int64) es.Account {
	a := es.Account{ID: id}
	for _, e := range log {
		if e.Stream != id || e.Version > upTo {
			continue
		}
		a.Version = e.Version
		switch e.Kind {
		case es.KindOpened:
			a.Open = true
		case es.KindDeposited:
			a.Balance += e.Amount
		case es.KindWithdrawn:
			a.Balance -= e.Amount
		}
	}
	return a
}

func refViews(log []es.Event) []es.AccountView {
	m := map[string]*es.AccountView{}
	for _, e := range log {
		v := m[e.Stream]
		if v == nil {
			v = &es.AccountView{ID: e.Stream}
			m[e.Stream] = v
		}
		switch e.Kind {
		case es.KindDeposited:
			v.Balance += e.Amount
			v.Transactions++
		case es.KindWithdrawn:
			v.Balance -= e.Amount
			v.Transactions++
		}
	}
	var out []es.AccountView
	for _, v := range m {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b es.AccountView) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func fmtEvent(e es.Event) string {
	return fmt.Sprintf("{%s v%d @%d %s %d}", e.Stream, e.Version, e.Position, e.Kind, e.Amount)
}

// sync compares the store with the harness's log and takes in new events.
// want is the event the last operation tried to append (Stream, Kind,
// Amount); committed says whether it reported success (then it must be
// there), crashed whether its outcome is unknown (it may be there).
func (w *world) sync(op string, want *es.Event, committed, crashed bool) {
	all := w.store.ReadAll(0)
	n := len(w.log)
	if len(all) < n {
		w.fail("no committed event is lost",
			"the log had %d events before %s and has %d now (after %d crashes); the last one lost is %s",
			n, op, len(all), w.crashes, fmtEvent(w.log[len(all)]))
		return
	}
	for i := 0; i < n; i++ {
		if all[i] != w.log[i] {
			w.fail("committed events never change",
				"position %d held %s and now holds %s (after %s)", i+1, fmtEvent(w.log[i]), fmtEvent(all[i]), op)
			return
		}
	}
	added := all[n:]
	switch {
	case len(added) > 1:
		w.fail("one command appends exactly one event", "%s appended %d events: %v", op, len(added), added)
		return
	case len(added) == 0 && committed:
		w.fail("an append that returned success is in the log", "%s succeeded but the log did not grow (still %d events)", op, n)
		return
	case len(added) == 1 && want == nil:
		w.fail("a failed command appends nothing", "%s failed but appended %s", op, fmtEvent(added[0]))
		return
	case len(added) == 1 && !committed && !crashed:
		w.fail("a failed command appends nothing", "%s returned an error but appended %s", op, fmtEvent(added[0]))
		return
	}
	if len(added) == 1 {
		e := added[0]
		wantV := w.version(want.Stream) + 1
		if e.Stream != want.Stream || e.Kind != want.Kind || e.Amount != want.Amount || e.Position != int64(n)+1 || e.Version != wantV {
			w.fail("events are numbered: Version 1, 2, ... per stream, Position 1, 2, ... across the store",
				"%s appended %s, want {%s v%d @%d %s %d}", op, fmtEvent(e), want.Stream, wantV, n+1, want.Kind, want.Amount)
			return
		}
		w.sim.Logf("committed %s", fmtEvent(e))
		w.log = append(w.log, e)
		if w.f.Every > 0 && e.Version%int64(w.f.Every) == 0 && want.Position == 0 {
			// A Bank command: it snapshots this version, unless it crashed first.
			if !crashed {
				w.snapLow[e.Stream] = e.Version
			}
			w.snapHigh[e.Stream] = e.Version
		}
	}
	if want != nil {
		if v := w.store.Version(want.Stream); v != w.version(want.Stream) {
			w.fail("Version returns the version of the stream's last event", "Version(%q) = %d, want %d", want.Stream, v, w.version(want.Stream))
		}
	}
}

// command runs one Bank command and checks its outcome against the model.
func (w *world) command(kind, id string, amount int64) {
	before := refAccount(w.log, id, 1<<62)
	var wantErr error
	switch {
	case kind != es.KindOpened && amount <= 0:
		wantErr = es.ErrInvalidAmount
	case kind == es.KindOpened && before.Version > 0:
		wantErr = es.ErrAccountExists
	case kind != es.KindOpened && !before.Open:
		wantErr = es.ErrNoAccount
	case kind == es.KindWithdrawn && before.Balance < amount:
		wantErr = es.ErrInsufficientFunds
	}
	var err error
	var name string
	crashed := w.protect(func() {
		switch kind {
		case es.KindOpened:
			name = fmt.Sprintf("Open(%q)", id)
			err = w.bank.Open(id)
		case es.KindDeposited:
			name = fmt.Sprintf("Deposit(%q, %d)", id, amount)
			err = w.bank.Deposit(id, amount)
		default:
			name = fmt.Sprintf("Withdraw(%q, %d)", id, amount)
			err = w.bank.Withdraw(id, amount)
		}
	})
	if crashed {
		var want *es.Event
		if wantErr == nil {
			want = &es.Event{Stream: id, Kind: kind, Amount: amount}
		}
		w.sync(name+" (crashed)", want, false, true)
		return
	}
	switch {
	case wantErr == nil && err != nil:
		w.fail("commands succeed when the account state allows them",
			"%s returned %v; the account was %+v", name, err, before)
	case wantErr != nil && !errors.Is(err, wantErr):
		w.fail("commands return the documented error",
			"%s returned %v, want %v; the account was %+v", name, err, wantErr, before)
	}
	w.sim.Logf("%s -> %v", name, err)
	if wantErr == nil && err == nil {
		w.sync(name, &es.Event{Stream: id, Kind: kind, Amount: amount}, true, false)
	} else {
		w.sync(name, nil, false, false)
	}
}

// secondWriter appends straight to the store with the version it read some
// time ago: current (must succeed) or stale (must conflict).
func (w *world) secondWriter(id string, stale bool) {
	v := w.version(id)
	expected := v
	if stale {
		expected = v - 1 - int64(w.sim.Rand().IntN(int(v)))
	}
	amount := int64(1 + w.sim.Rand().IntN(50))
	var err error
	var got es.Event
	name := fmt.Sprintf("Append(%d, {%s deposited %d}) with %s at version %d", expected, id, amount, id, v)
	crashed := w.protect(func() {
		got, err = w.store.Append(expected, es.Event{Stream: id, Kind: es.KindDeposited, Amount: amount})
	})
	want := &es.Event{Stream: id, Kind: es.KindDeposited, Amount: amount, Position: -1}
	w.sim.Logf("%s -> %v", name, err)
	switch {
	case crashed:
		if stale {
			want = nil
		}
		w.sync(name+" (crashed)", want, false, true)
	case stale:
		if !errors.Is(err, es.ErrVersionConflict) {
			w.fail("an append with a stale expected version is rejected with ErrVersionConflict",
				"%s returned %v (event %s): another writer's change would be overwritten without it having seen it", name, err, fmtEvent(got))
		}
		w.sync(name, nil, false, false)
	default:
		if err != nil {
			w.fail("an append with the current expected version succeeds", "%s returned %v", name, err)
			return
		}
		if got.Version != v+1 || got.Position != int64(len(w.log))+1 || got.Stream != id {
			w.fail("Append returns the event as stored, with its Version and Position",
				"%s returned %s, want version %d at position %d", name, fmtEvent(got), v+1, len(w.log)+1)
		}
		w.sync(name, want, true, false)
	}
}

// checkLoad compares Load and Snapshot with the harness's replay.
func (w *world) checkLoad(id string) {
	v := w.version(id)
	want := refAccount(w.log, id, v)
	acc, replayed, err := w.bank.Load(id)
	if err != nil {
		w.fail("Load rebuilds the account", "Load(%q) returned %v", id, err)
		return
	}
	if acc != want {
		snap, ok := w.bank.Snapshot(id)
		w.fail("Load gives the same state as a full replay of the stream",
			"Load(%q) = %+v, a replay of its %d events gives %+v (snapshot %+v, present %v, replayed %d events after it)",
			id, acc, v, want, snap, ok, replayed)
		return
	}
	snap, ok := w.bank.Snapshot(id)
	var sv int64
	if ok {
		sv = snap.Version
		if ref := refAccount(w.log, id, sv); snap != ref || sv == 0 {
			w.fail("a snapshot is the state after applying the events up to its Version",
				"Snapshot(%q) = %+v, a replay of its first %d events gives %+v", id, snap, sv, ref)
			return
		}
		if w.f.Every <= 0 || sv%int64(w.f.Every) != 0 {
			w.fail("snapshots are taken at versions that are multiples of every",
				"Snapshot(%q) has version %d with every = %d", id, sv, w.f.Every)
			return
		}
	}
	if sv < w.snapLow[id] || sv > w.snapHigh[id] {
		w.fail("a command that appends a version that is a multiple of every saves a snapshot",
			"Snapshot(%q) has version %d (present %v); the latest snapshot a command saved is at version %d (every = %d, account at version %d)",
			id, sv, ok, w.snapLow[id], w.f.Every, v)
		return
	}
	if int64(replayed) != v-sv {
		w.fail("Load starts from the latest snapshot and replays only the events after it",
			"Load(%q) at version %d replayed %d events; the latest snapshot is at version %d, so it should replay %d", id, v, replayed, sv, v-sv)
	}
	after := int64(w.sim.Rand().IntN(int(v) + 1))
	got := w.store.ReadStream(id, after)
	var exp []es.Event
	for _, e := range w.log {
		if e.Stream == id && e.Version > after {
			exp = append(exp, e)
		}
	}
	if !slices.Equal(got, exp) {
		w.fail("ReadStream(stream, after) returns the stream's events with Version > after, in order",
			"ReadStream(%q, %d) returned %d events, want %d", id, after, len(got), len(exp))
	}
}

// deliver hands the projection up to n new events (from its checkpoint),
// with redeliveries of old ones mixed in.
func (w *world) deliver(n int, redeliver float64) {
	r := w.sim.Rand()
	var next []es.Event
	crashed := w.protect(func() {
		next = w.store.ReadAll(w.proj.Checkpoint())
		if len(next) > n {
			next = next[:n]
		}
		for _, e := range next {
			if w.delivered > 0 && r.Float64() < redeliver {
				old := w.log[r.IntN(int(w.delivered))]
				w.sim.NoteFault("event @%d redelivered", old.Position)
				w.handle(old)
			}
			if w.err != nil {
				return
			}
			w.handle(e)
			if w.err != nil {
				return
			}
			if e.Position > w.delivered {
				w.delivered = e.Position
			}
		}
	})
	if crashed || w.err != nil || len(next) == 0 {
		return
	}
	w.checkViews(fmt.Sprintf("after handling the events up to @%d", w.delivered), w.proj, w.log[:w.delivered])
	if cp := w.proj.Checkpoint(); cp != w.delivered {
		w.fail("Checkpoint is the position of the last event handled",
			"after handling the events up to @%d, Checkpoint() = %d", w.delivered, cp)
	}
}

func (w *world) handle(e es.Event) {
	w.sim.Logf("projection handles %s", fmtEvent(e))
	if err := w.proj.Handle(e); err != nil {
		w.fail("Handle applies events without errors", "Handle(%s) returned %v", fmtEvent(e), err)
	}
}

func (w *world) checkViews(when string, p *es.Projection, log []es.Event) {
	want := refViews(log)
	got := p.Views()
	if !slices.Equal(got, want) {
		w.fail("the read model reflects every event exactly once",
			"%s (%d crashes so far), Views() differs from the views the events give:\n%s", when, w.crashes, diffViews(got, want))
		return
	}
	for _, v := range want {
		if g, ok := p.View(v.ID); !ok || g != v {
			w.fail("View returns an account's view", "%s, View(%q) = %+v, %v; want %+v", when, v.ID, g, ok, v)
			return
		}
	}
}

func diffViews(got, want []es.AccountView) string {
	g := map[string]es.AccountView{}
	for _, v := range got {
		g[v.ID] = v
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, v := range want {
		seen[v.ID] = true
		if gv, ok := g[v.ID]; !ok {
			fmt.Fprintf(&b, "  %s: missing, want %+v\n", v.ID, v)
		} else if gv != v {
			fmt.Fprintf(&b, "  %s: got %+v, want %+v\n", v.ID, gv, v)
		}
	}
	for _, v := range got {
		if !seen[v.ID] {
			fmt.Fprintf(&b, "  %s: got %+v, but no event mentions it\n", v.ID, v)
		}
	}
	return b.String()
}

func (w *world) account(r int) string { return fmt.Sprintf("acc-%d", r) }

func (w *world) run() {
	w.t.Helper()
	r := w.sim.Rand()
	w.faulty = true
	w.sim.Logf("scenario: %s", w.f)
	for step := 0; step < w.f.Steps && w.err == nil; step++ {
		w.sim.RunFor(10 * time.Millisecond)
		if w.f.CrashRate > 0 && w.crashIn < 0 && r.Float64() < w.f.CrashRate {
			w.crashIn = r.IntN(4)
		}
		id := w.account(r.IntN(w.f.Accounts))
		x := r.Float64()
		switch {
		case x < 0.12:
			w.command(es.KindOpened, id, 0)
		case x < 0.40:
			w.command(es.KindDeposited, id, int64(r.IntN(120))-5)
		case x < 0.60:
			w.command(es.KindWithdrawn, id, int64(1+r.IntN(150)))
		case x < 0.60+w.f.Stale:
			if w.version(id) > 0 {
				w.secondWriter(id, r.IntN(3) > 0)
			}
		case x < 0.80:
			if w.version(id) > 0 {
				w.checkLoad(id)
			}
		default:
			w.deliver(1+r.IntN(6), w.f.Redeliver)
		}
	}
	w.sim.Require(w.t, w.err)

	// The faults stop: every account loads right, the projection catches up
	// and a projection rebuilt from scratch agrees with it.
	w.faulty = false
	w.crashIn = -1
	w.sim.RunFor(10 * time.Millisecond)
	w.sim.Logf("faults stop; the projection catches up")
	for i := 0; i < w.f.Accounts && w.err == nil; i++ {
		if w.version(w.account(i)) > 0 {
			w.checkLoad(w.account(i))
		}
	}
	w.sim.Require(w.t, w.err)
	for i := 0; i < 5 && w.err == nil && w.proj.Checkpoint() < int64(len(w.log)); i++ {
		w.deliver(len(w.log), 0)
	}
	w.sim.Require(w.t, w.err)
	w.checkViews("after the projection caught up", w.proj, w.log)
	w.sim.Require(w.t, w.err)
	fresh, err := es.OpenProjection(labkit.NewDisk())
	if err != nil {
		w.sim.Failf(w.t, "OpenProjection works on an empty disk", "OpenProjection returned %v", err)
	}
	for _, e := range w.store.ReadAll(0) {
		if err := fresh.Handle(e); err != nil {
			w.sim.Failf(w.t, "Handle applies events without errors", "rebuilding: Handle(%s) returned %v", fmtEvent(e), err)
		}
	}
	w.checkViews("rebuilt from scratch", fresh, w.log)
	w.sim.Require(w.t, w.err)
	w.t.Logf("%s: %d events, %d crashes", w.f, len(w.log), w.crashes)
}

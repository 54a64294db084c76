package hidden

import (
	"errors"
	"slices"
	"testing"

	"faultline.dev/labkit"
	es "faultline.dev/labs/eventsourcing"
)

func mustStore(t *testing.T, d es.Disk) *es.Store {
	t.Helper()
	s, err := es.OpenStore(d)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func mustAppend(t *testing.T, s *es.Store, expected int64, e es.Event) es.Event {
	t.Helper()
	got, err := s.Append(expected, e)
	if err != nil {
		t.Fatalf("Append(%d, %+v): %v", expected, e, err)
	}
	return got
}

func mustProjection(t *testing.T, d es.Disk) *es.Projection {
	t.Helper()
	p, err := es.OpenProjection(d)
	if err != nil {
		t.Fatalf("OpenProjection: %v", err)
	}
	return p
}

func ev(stream, kind string, amount int64) es.Event {
	return es.Event{Stream: stream, Kind: kind, Amount: amount}
}

func TestAppendNumbersEvents(t *testing.T) {
	s := mustStore(t, labkit.NewDisk())
	if v := s.Version("a"); v != 0 {
		t.Fatalf("Version of an empty stream = %d, want 0", v)
	}
	a1 := mustAppend(t, s, 0, ev("a", es.KindOpened, 0))
	b1 := mustAppend(t, s, 0, ev("b", es.KindOpened, 0))
	a2 := mustAppend(t, s, 1, ev("a", es.KindDeposited, 30))
	want := []es.Event{
		{Stream: "a", Version: 1, Position: 1, Kind: es.KindOpened},
		{Stream: "b", Version: 1, Position: 2, Kind: es.KindOpened},
		{Stream: "a", Version: 2, Position: 3, Kind: es.KindDeposited, Amount: 30},
	}
	if got := []es.Event{a1, b1, a2}; !slices.Equal(got, want) {
		t.Fatalf("Append returned %+v, want %+v (Version counts from 1 per stream, Position from 1 across the store)", got, want)
	}
	if got := s.ReadAll(0); !slices.Equal(got, want) {
		t.Fatalf("ReadAll(0) = %+v, want %+v", got, want)
	}
	if got := s.ReadAll(2); !slices.Equal(got, want[2:]) {
		t.Fatalf("ReadAll(2) = %+v, want only the event at position 3", got)
	}
	if got := s.ReadAll(3); len(got) != 0 {
		t.Fatalf("ReadAll(3) = %+v, want nothing", got)
	}
	if got := s.ReadAll(10); len(got) != 0 {
		t.Fatalf("ReadAll(10) with 3 events = %+v, want nothing (every event with Position > 10)", got)
	}
	if got := s.ReadAll(-1); !slices.Equal(got, want) {
		t.Fatalf("ReadAll(-1) = %+v, want every event (all have Position > -1)", got)
	}
	if got := s.ReadStream("a", 0); !slices.Equal(got, []es.Event{want[0], want[2]}) {
		t.Fatalf(`ReadStream("a", 0) = %+v, want a's two events`, got)
	}
	if got := s.ReadStream("a", 1); !slices.Equal(got, []es.Event{want[2]}) {
		t.Fatalf(`ReadStream("a", 1) = %+v, want only version 2`, got)
	}
	if got := s.ReadStream("zz", 0); len(got) != 0 {
		t.Fatalf(`ReadStream of an unknown stream = %+v, want nothing`, got)
	}
	if s.Version("a") != 2 || s.Version("b") != 1 {
		t.Fatalf("Version(a), Version(b) = %d, %d; want 2, 1", s.Version("a"), s.Version("b"))
	}
}

func TestAppendRejectsWrongExpectedVersion(t *testing.T) {
	s := mustStore(t, labkit.NewDisk())
	mustAppend(t, s, 0, ev("a", es.KindOpened, 0))
	if _, err := s.Append(0, ev("a", es.KindOpened, 0)); !errors.Is(err, es.ErrVersionConflict) {
		t.Fatalf("a second Append with expected version 0 to a stream at version 1 returned %v, want ErrVersionConflict", err)
	}
	mustAppend(t, s, 1, ev("a", es.KindDeposited, 10))
	for _, expected := range []int64{0, 1, 3, 7} {
		if _, err := s.Append(expected, ev("a", es.KindWithdrawn, 10)); !errors.Is(err, es.ErrVersionConflict) {
			t.Fatalf("Append with expected version %d to a stream at version 2 returned %v, want ErrVersionConflict", expected, err)
		}
	}
	if _, err := s.Append(3, ev("new", es.KindOpened, 0)); !errors.Is(err, es.ErrVersionConflict) {
		t.Fatalf("Append with expected version 3 to an empty stream returned %v, want ErrVersionConflict", err)
	}
	if n := len(s.ReadAll(0)); n != 2 || s.Version("a") != 2 || s.Version("new") != 0 {
		t.Fatalf("after rejected appends the store has %d events, Version(a) = %d, Version(new) = %d; want 2, 2, 0: a rejected append writes nothing", n, s.Version("a"), s.Version("new"))
	}
	got := mustAppend(t, s, 2, ev("a", es.KindWithdrawn, 4))
	if got.Version != 3 || got.Position != 3 {
		t.Fatalf("the append after the conflicts got version %d at position %d, want 3 at 3", got.Version, got.Position)
	}
}

func TestStoreReopens(t *testing.T) {
	d := labkit.NewDisk()
	s := mustStore(t, d)
	mustAppend(t, s, 0, ev("a", es.KindOpened, 0))
	mustAppend(t, s, 0, ev("b", es.KindOpened, 0))
	mustAppend(t, s, 1, ev("a", es.KindDeposited, 5))
	before := s.ReadAll(0)
	s2 := mustStore(t, d) // the process restarted
	if got := s2.ReadAll(0); !slices.Equal(got, before) {
		t.Fatalf("after reopening, ReadAll(0) = %+v, want %+v", got, before)
	}
	if s2.Version("a") != 2 || s2.Version("b") != 1 {
		t.Fatalf("after reopening, Version(a), Version(b) = %d, %d; want 2, 1", s2.Version("a"), s2.Version("b"))
	}
	if _, err := s2.Append(1, ev("a", es.KindDeposited, 1)); !errors.Is(err, es.ErrVersionConflict) {
		t.Fatalf("after reopening, a stale append returned %v, want ErrVersionConflict", err)
	}
	got := mustAppend(t, s2, 1, ev("b", es.KindDeposited, 9))
	if got.Version != 2 || got.Position != 4 {
		t.Fatalf("after reopening, the next event got version %d at position %d, want 2 at 4", got.Version, got.Position)
	}
	if got := mustStore(t, d).ReadStream("b", 0); len(got) != 2 || got[1].Amount != 9 {
		t.Fatalf("reopening again: ReadStream(b, 0) = %+v", got)
	}
}

func TestCommandErrors(t *testing.T) {
	s := mustStore(t, labkit.NewDisk())
	b := es.NewBank(s, labkit.NewDisk(), 0)
	check := func(what string, err, want error) {
		t.Helper()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%s returned %v, want %v", what, err, want)
		}
	}
	check("Deposit to an account never opened", b.Deposit("a", 10), es.ErrNoAccount)
	check("Withdraw from an account never opened", b.Withdraw("a", 10), es.ErrNoAccount)
	check("Open", b.Open("a"), nil)
	check("Open again", b.Open("a"), es.ErrAccountExists)
	check("Deposit 0", b.Deposit("a", 0), es.ErrInvalidAmount)
	check("Withdraw -3", b.Withdraw("a", -3), es.ErrInvalidAmount)
	check("Withdraw 0", b.Withdraw("a", 0), es.ErrInvalidAmount)
	check("Deposit -1 to an account never opened", b.Deposit("zz", -1), es.ErrInvalidAmount)
	check("Deposit 50", b.Deposit("a", 50), nil)
	check("Withdraw 51 of 50", b.Withdraw("a", 51), es.ErrInsufficientFunds)
	check("Withdraw 50 of 50", b.Withdraw("a", 50), nil)
	want := []es.Event{
		{Stream: "a", Version: 1, Position: 1, Kind: es.KindOpened},
		{Stream: "a", Version: 2, Position: 2, Kind: es.KindDeposited, Amount: 50},
		{Stream: "a", Version: 3, Position: 3, Kind: es.KindWithdrawn, Amount: 50},
	}
	if got := s.ReadAll(0); !slices.Equal(got, want) {
		t.Fatalf("the log is %+v, want %+v: only the successful commands append, one event each", got, want)
	}
	acc, replayed, err := b.Load("a")
	if err != nil || acc != (es.Account{ID: "a", Version: 3, Open: true, Balance: 0}) || replayed != 3 {
		t.Fatalf("Load(a) = %+v, %d, %v; want {a 3 true 0}, 3 events replayed (snapshots off)", acc, replayed, err)
	}
	acc, replayed, err = b.Load("nobody")
	if err != nil || acc != (es.Account{ID: "nobody"}) || replayed != 0 {
		t.Fatalf("Load of an account with no events = %+v, %d, %v; want {ID: nobody}, 0, nil", acc, replayed, err)
	}
}

func TestSnapshotCadence(t *testing.T) {
	s := mustStore(t, labkit.NewDisk())
	snaps := labkit.NewDisk()
	b := es.NewBank(s, snaps, 3)
	if err := b.Open("a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Open("b"); err != nil {
		t.Fatal(err)
	}
	wantSnap := func(version int64, balance int64) {
		t.Helper()
		snap, ok := b.Snapshot("a")
		if version == 0 {
			if ok {
				t.Fatalf("Snapshot(a) = %+v at version %d; no snapshot before version 3", snap, s.Version("a"))
			}
			return
		}
		want := es.Account{ID: "a", Version: version, Open: true, Balance: balance}
		if !ok || snap != want {
			t.Fatalf("with every = 3 and a at version %d, Snapshot(a) = %+v, %v; want %+v (the state after applying event %d)", s.Version("a"), snap, ok, want, version)
		}
	}
	wantSnap(0, 0)
	amounts := []int64{10, 20, 30, 40, 50, 60, 70}
	balance := int64(0)
	var snapBal = map[int64]int64{}
	for i, a := range amounts {
		if err := b.Deposit("a", a); err != nil {
			t.Fatal(err)
		}
		balance += a
		v := int64(i + 2)
		snapBal[v] = balance
		last := v - v%3
		wantSnap(last, snapBal[last])
		acc, replayed, err := b.Load("a")
		if err != nil || acc.Balance != balance || acc.Version != v {
			t.Fatalf("Load(a) = %+v, %v after %d deposits; want version %d, balance %d", acc, err, i+1, v, balance)
		}
		if int64(replayed) != v-last {
			t.Fatalf("Load(a) at version %d replayed %d events; with the snapshot at %d it should replay %d", v, replayed, last, v-last)
		}
	}
	if _, ok := b.Snapshot("b"); ok {
		t.Fatalf("b has one event but a snapshot")
	}
	// A Bank on a fresh process reads the same snapshots.
	b2 := es.NewBank(mustStore(t, labkit.NewDisk()), snaps, 3)
	if snap, ok := b2.Snapshot("a"); !ok || snap.Version != 6 {
		t.Fatalf("a new Bank on the same snapshot disk sees Snapshot(a) = %+v, %v; want version 6", snap, ok)
	}
	// every = 1: a snapshot after every event.
	b1 := es.NewBank(mustStore(t, labkit.NewDisk()), labkit.NewDisk(), 1)
	if err := b1.Open("c"); err != nil {
		t.Fatal(err)
	}
	if snap, ok := b1.Snapshot("c"); !ok || snap != (es.Account{ID: "c", Version: 1, Open: true}) {
		t.Fatalf("with every = 1, after Open(c) Snapshot(c) = %+v, %v; want {c 1 true 0}: every version is a multiple of 1", snap, ok)
	}
	if err := b1.Deposit("c", 7); err != nil {
		t.Fatal(err)
	}
	if snap, ok := b1.Snapshot("c"); !ok || snap != (es.Account{ID: "c", Version: 2, Open: true, Balance: 7}) {
		t.Fatalf("with every = 1, after a deposit of 7 Snapshot(c) = %+v, %v; want {c 2 true 7}", snap, ok)
	}
}

func TestLoadUsesLatestSnapshot(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		every := []int{2, 3, 5, 7}[seed%4]
		newWorld(t, seed, faults{Steps: 200, Accounts: 3, Every: every}).run()
	})
}

func TestProjectionFollowsLog(t *testing.T) {
	s := mustStore(t, labkit.NewDisk())
	b := es.NewBank(s, labkit.NewDisk(), 0)
	for _, err := range []error{b.Open("b"), b.Open("a"), b.Deposit("a", 40), b.Deposit("b", 7), b.Withdraw("a", 15), b.Open("c")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := labkit.NewDisk()
	p := mustProjection(t, d)
	if p.Checkpoint() != 0 || len(p.Views()) != 0 {
		t.Fatalf("a new projection has checkpoint %d and views %+v; want 0 and none", p.Checkpoint(), p.Views())
	}
	if _, ok := p.View("a"); ok {
		t.Fatalf("View(a) found before any event")
	}
	for _, e := range s.ReadAll(0)[:3] {
		if err := p.Handle(e); err != nil {
			t.Fatalf("Handle(%+v): %v", e, err)
		}
	}
	if v, ok := p.View("a"); !ok || v != (es.AccountView{ID: "a", Balance: 40, Transactions: 1}) {
		t.Fatalf("after 3 events View(a) = %+v, %v; want {a 40 1}", v, ok)
	}
	if p.Checkpoint() != 3 {
		t.Fatalf("after handling positions 1..3 Checkpoint() = %d, want 3", p.Checkpoint())
	}
	p = mustProjection(t, d) // restart: it resumes from its checkpoint
	if p.Checkpoint() != 3 {
		t.Fatalf("after reopening, Checkpoint() = %d, want 3", p.Checkpoint())
	}
	for _, e := range s.ReadAll(p.Checkpoint()) {
		if err := p.Handle(e); err != nil {
			t.Fatalf("Handle(%+v): %v", e, err)
		}
	}
	want := []es.AccountView{{ID: "a", Balance: 25, Transactions: 2}, {ID: "b", Balance: 7, Transactions: 1}, {ID: "c"}}
	if got := p.Views(); !slices.Equal(got, want) || p.Checkpoint() != 6 {
		t.Fatalf("Views() = %+v, Checkpoint() = %d; want %+v and 6", got, p.Checkpoint(), want)
	}
}

func TestProjectionIgnoresRedelivery(t *testing.T) {
	s := mustStore(t, labkit.NewDisk())
	b := es.NewBank(s, labkit.NewDisk(), 0)
	for _, err := range []error{b.Open("a"), b.Deposit("a", 40), b.Open("b"), b.Deposit("b", 5), b.Withdraw("a", 15)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	all := s.ReadAll(0)
	p := mustProjection(t, labkit.NewDisk())
	order := []int{0, 0, 1, 1, 0, 2, 1, 3, 2, 3, 4, 1, 4, 3}
	for _, i := range order {
		if err := p.Handle(all[i]); err != nil {
			t.Fatalf("Handle(%+v): %v", all[i], err)
		}
	}
	want := []es.AccountView{{ID: "a", Balance: 25, Transactions: 2}, {ID: "b", Balance: 5, Transactions: 1}}
	if got := p.Views(); !slices.Equal(got, want) {
		t.Fatalf("after events delivered in position order with repeats (%v), Views() = %+v, want %+v: each event must count once", order, got, want)
	}
	if p.Checkpoint() != 5 {
		t.Fatalf("Checkpoint() = %d, want 5: a redelivered event does not move it back", p.Checkpoint())
	}
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 200, Accounts: 3, Every: 4, Redeliver: 0.4}).run()
	})
}

func TestProjectionRebuild(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		w := newWorld(t, seed, faults{Steps: 150, Accounts: 4, Every: 5, Redeliver: 0.1})
		w.run()
		// A second rebuild, fed in batches with a restart in between.
		d := labkit.NewDisk()
		p := mustProjection(t, d)
		all := w.store.ReadAll(0)
		half := len(all) / 2
		for _, e := range all[:half] {
			if err := p.Handle(e); err != nil {
				t.Fatal(err)
			}
		}
		p = mustProjection(t, d)
		for _, e := range w.store.ReadAll(p.Checkpoint()) {
			if err := p.Handle(e); err != nil {
				t.Fatal(err)
			}
		}
		w.checkViews("rebuilt in two runs with a restart between them", p, w.log)
		w.sim.Require(t, w.err)
	})
}

func TestSecondWriters(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 200, Accounts: 2, Every: 3, Stale: 0.25}).run()
	})
}

func TestCrashesInCommands(t *testing.T) {
	labkit.RunSeeds(t, 8, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 200, Accounts: 3, Every: 2 + int(seed%3), Stale: 0.1, CrashRate: 0.3, crashStore: true}).run()
	})
}

func TestCrashesInProjection(t *testing.T) {
	labkit.RunSeeds(t, 8, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 200, Accounts: 3, Every: 4, Redeliver: 0.1, CrashRate: 0.4, crashProj: true}).run()
	})
}

func TestCrashAnywhere(t *testing.T) {
	labkit.RunSeeds(t, 8, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 250, Accounts: 3, Every: 3, Stale: 0.1, Redeliver: 0.2, CrashRate: 0.3, crashStore: true, crashProj: true}).run()
	})
}

// TestSecondOpenedAndUnopenedStreams: events a second writer appends
// straight to the store that the commands would never append. A second
// `opened` resets nothing, in the aggregate or in the read model; a
// deposit to a stream that was never opened counts in both, and the
// account is still not open for commands.
func TestSecondOpenedAndUnopenedStreams(t *testing.T) {
	var fresh es.Account
	fresh.Apply(es.Event{Stream: "q", Version: 1, Position: 4, Kind: es.KindDeposited, Amount: 3})
	if fresh != (es.Account{ID: "q", Version: 1, Balance: 3}) {
		t.Fatalf("Apply of {q v1 deposited 3} to a zero Account gives %+v, want {q 1 false 3}: Apply sets ID and Version from the event", fresh)
	}
	s := mustStore(t, labkit.NewDisk())
	b := es.NewBank(s, labkit.NewDisk(), 0)
	if err := b.Open("a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Deposit("a", 50); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, 2, ev("a", es.KindOpened, 0)) // a second opened, version 3
	acc, _, err := b.Load("a")
	if err != nil || acc != (es.Account{ID: "a", Version: 3, Open: true, Balance: 50}) {
		t.Fatalf("after opened, deposited 50, opened: Load(a) = %+v, %v; want {a 3 true 50}: a second opened changes nothing but the version", acc, err)
	}
	if err := b.Deposit("a", 5); err != nil {
		t.Fatalf("Deposit after a second opened: %v", err)
	}
	mustAppend(t, s, 0, ev("z", es.KindDeposited, 9)) // never opened
	acc, _, err = b.Load("z")
	if err != nil || acc != (es.Account{ID: "z", Version: 1, Open: false, Balance: 9}) {
		t.Fatalf("after a deposit of 9 appended to a stream never opened: Load(z) = %+v, %v; want {z 1 false 9}", acc, err)
	}
	if err := b.Deposit("z", 1); !errors.Is(err, es.ErrNoAccount) {
		t.Fatalf("Deposit on a stream that has events but no opened returned %v, want ErrNoAccount", err)
	}
	if err := b.Open("z"); !errors.Is(err, es.ErrAccountExists) {
		t.Fatalf("Open on a stream that already has events returned %v, want ErrAccountExists", err)
	}
	p := mustProjection(t, labkit.NewDisk())
	for _, e := range s.ReadAll(0) {
		if err := p.Handle(e); err != nil {
			t.Fatalf("Handle(%+v): %v", e, err)
		}
	}
	want := []es.AccountView{{ID: "a", Balance: 55, Transactions: 2}, {ID: "z", Balance: 9, Transactions: 1}}
	if got := p.Views(); !slices.Equal(got, want) {
		t.Fatalf("Views() = %+v, want %+v: a second opened resets nothing, and a stream's first event creates its view whatever its kind", got, want)
	}
}

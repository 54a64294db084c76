package eventsourcing

import (
	"errors"
	"slices"
	"testing"

	"faultline.dev/labkit"
)

// These tests use plain in-memory disks. The graded tests also crash your
// code before or after any Put, restart it on the same disks, run a second
// writer with stale versions and redeliver events to the projection.

func TestAppendAndRead(t *testing.T) {
	disk := labkit.NewDisk()
	s, err := OpenStore(disk)
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Append(0, Event{Stream: "a", Kind: KindOpened})
	if err != nil || e.Version != 1 || e.Position != 1 {
		t.Fatalf("first Append = %+v, %v; want version 1 at position 1", e, err)
	}
	if _, err := s.Append(0, Event{Stream: "a", Kind: KindOpened}); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("Append with a stale expected version returned %v, want ErrVersionConflict", err)
	}
	if _, err := s.Append(1, Event{Stream: "a", Kind: KindDeposited, Amount: 5}); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(disk) // as after a restart
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.ReadAll(0); len(got) != 2 || got[1].Amount != 5 || s2.Version("a") != 2 {
		t.Fatalf("after reopening: ReadAll(0) = %+v, Version(a) = %d", got, s2.Version("a"))
	}
}

func TestBankCommands(t *testing.T) {
	s, _ := OpenStore(labkit.NewDisk())
	b := NewBank(s, labkit.NewDisk(), 0)
	if err := b.Deposit("a", 10); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("Deposit before Open returned %v, want ErrNoAccount", err)
	}
	if err := b.Open("a"); err != nil {
		t.Fatal(err)
	}
	if err := b.Deposit("a", 10); err != nil {
		t.Fatal(err)
	}
	if err := b.Withdraw("a", 11); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("overdrawing returned %v, want ErrInsufficientFunds", err)
	}
	acc, replayed, err := b.Load("a")
	if err != nil || acc != (Account{ID: "a", Version: 2, Open: true, Balance: 10}) || replayed != 2 {
		t.Fatalf("Load(a) = %+v, %d, %v", acc, replayed, err)
	}
}

func TestLoadFromSnapshot(t *testing.T) {
	s, _ := OpenStore(labkit.NewDisk())
	b := NewBank(s, labkit.NewDisk(), 2)
	if err := b.Open("a"); err != nil {
		t.Fatal(err)
	}
	for _, amount := range []int64{1, 2, 3} {
		if err := b.Deposit("a", amount); err != nil {
			t.Fatal(err)
		}
	}
	snap, ok := b.Snapshot("a")
	if !ok || snap.Version != 4 || snap.Balance != 6 {
		t.Fatalf("Snapshot(a) = %+v, %v; want version 4, balance 6", snap, ok)
	}
	acc, replayed, err := b.Load("a")
	if err != nil || acc.Balance != 6 || replayed != 0 {
		t.Fatalf("Load(a) = %+v, replayed %d, %v; want balance 6 from the snapshot alone", acc, replayed, err)
	}
}

func TestProjectionCatchesUp(t *testing.T) {
	s, _ := OpenStore(labkit.NewDisk())
	b := NewBank(s, labkit.NewDisk(), 0)
	for _, err := range []error{b.Open("a"), b.Deposit("a", 10), b.Open("b"), b.Withdraw("a", 4)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := OpenProjection(labkit.NewDisk())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.ReadAll(p.Checkpoint()) {
		if err := p.Handle(e); err != nil {
			t.Fatal(err)
		}
	}
	want := []AccountView{{ID: "a", Balance: 6, Transactions: 2}, {ID: "b"}}
	if got := p.Views(); !slices.Equal(got, want) || p.Checkpoint() != 4 {
		t.Fatalf("Views() = %+v, Checkpoint() = %d; want %+v, 4", got, p.Checkpoint(), want)
	}
}

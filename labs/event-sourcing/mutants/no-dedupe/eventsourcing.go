// Package eventsourcing keeps bank accounts as streams of events: an
// append-only event store with optimistic concurrency, an Account aggregate
// rebuilt by replaying its events (from a snapshot when there is one), and a
// read-model projection that follows the global log with a checkpoint.
package eventsourcing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Disk is durable key-value storage. Each Put is atomic and durable when it
// returns; a crash may strike before or after any Put, never inside one.
// *labkit.Disk implements it.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
	Keys(prefix string) []string // keys with this prefix, sorted as strings
}

// Event kinds.
const (
	KindOpened    = "opened"
	KindDeposited = "deposited"
	KindWithdrawn = "withdrawn"
)

// Event is one fact about one account.
type Event struct {
	Stream   string // the account ID
	Version  int64  // 1 for a stream's first event, then 2, 3, ...
	Position int64  // 1 for the store's first event, then 2, 3, ... across all streams
	Kind     string // KindOpened, KindDeposited or KindWithdrawn
	Amount   int64  // 0 for KindOpened
}

// Errors.
var (
	ErrVersionConflict   = errors.New("version conflict")
	ErrAccountExists     = errors.New("account already exists")
	ErrNoAccount         = errors.New("no such account")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrInvalidAmount     = errors.New("amount must be positive")
)

// Store is an append-only event store.
type Store struct {
	disk     Disk
	all      []Event            // every event, by position
	versions map[string]int64   // stream → version of its last event
	streams  map[string][]int64 // stream → positions of its events
}

const eventPrefix = "event/"

func eventKey(pos int64) string { return fmt.Sprintf("%s%020d", eventPrefix, pos) }

// OpenStore loads the events already on disk.
func OpenStore(disk Disk) (*Store, error) {
	s := &Store{disk: disk, versions: map[string]int64{}, streams: map[string][]int64{}}
	for _, k := range disk.Keys(eventPrefix) {
		raw, _ := disk.Get(k)
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("open store: decode %s: %w", k, err)
		}
		if e.Position != int64(len(s.all))+1 || e.Version != s.versions[e.Stream]+1 {
			return nil, fmt.Errorf("open store: %s out of sequence", k)
		}
		s.add(e)
	}
	return s, nil
}

func (s *Store) add(e Event) {
	s.all = append(s.all, e)
	s.versions[e.Stream] = e.Version
	s.streams[e.Stream] = append(s.streams[e.Stream], e.Position)
}

// Version returns the version of the stream's last event, 0 if it has none.
func (s *Store) Version(stream string) int64 { return s.versions[stream] }

// Append adds e to the end of e.Stream if the stream's version is expected.
func (s *Store) Append(expected int64, e Event) (Event, error) {
	if cur := s.versions[e.Stream]; cur != expected {
		return Event{}, fmt.Errorf("append to %s: at version %d, expected %d: %w", e.Stream, cur, expected, ErrVersionConflict)
	}
	e.Version = expected + 1
	e.Position = int64(len(s.all)) + 1
	raw, err := json.Marshal(e)
	if err != nil {
		return Event{}, fmt.Errorf("append to %s: %w", e.Stream, err)
	}
	s.disk.Put(eventKey(e.Position), raw)
	s.add(e)
	return e, nil
}

// ReadStream returns the stream's events with Version > after, in order.
func (s *Store) ReadStream(stream string, after int64) []Event {
	var out []Event
	for _, p := range s.streams[stream] {
		if e := s.all[p-1]; e.Version > after {
			out = append(out, e)
		}
	}
	return out
}

// ReadAll returns every event with Position > after, in order.
func (s *Store) ReadAll(after int64) []Event {
	if after < 0 {
		after = 0
	}
	if after >= int64(len(s.all)) {
		return nil
	}
	return append([]Event(nil), s.all[after:]...)
}

// Account is the aggregate: the state of one account.
type Account struct {
	ID      string
	Version int64 // Version of the last event applied, 0 if none
	Open    bool
	Balance int64
}

// Apply changes a by one event of its stream.
func (a *Account) Apply(e Event) {
	a.ID = e.Stream
	a.Version = e.Version
	switch e.Kind {
	case KindOpened:
		a.Open = true
	case KindDeposited:
		a.Balance += e.Amount
	case KindWithdrawn:
		a.Balance -= e.Amount
	}
}

// Bank runs commands on accounts and keeps their snapshots.
type Bank struct {
	store *Store
	disk  Disk
	every int64
}

// NewBank returns a Bank over store that keeps snapshots on disk, one every
// `every` events of an account (never when every <= 0).
func NewBank(store *Store, disk Disk, every int) *Bank {
	return &Bank{store: store, disk: disk, every: int64(every)}
}

func snapshotKey(id string) string { return "snapshot/" + id }

// Snapshot returns the latest snapshot of the account, if any.
func (b *Bank) Snapshot(id string) (Account, bool) {
	raw, ok := b.disk.Get(snapshotKey(id))
	if !ok {
		return Account{}, false
	}
	var a Account
	if err := json.Unmarshal(raw, &a); err != nil {
		return Account{}, false
	}
	return a, true
}

// Load rebuilds the account from its latest snapshot and the events after
// it; replayed is how many events it applied.
func (b *Bank) Load(id string) (acc Account, replayed int, err error) {
	acc = Account{ID: id}
	if snap, ok := b.Snapshot(id); ok {
		acc = snap
	}
	for _, e := range b.store.ReadStream(id, acc.Version) {
		acc.Apply(e)
		replayed++
	}
	return acc, replayed, nil
}

func (b *Bank) execute(acc Account, kind string, amount int64) error {
	e, err := b.store.Append(acc.Version, Event{Stream: acc.ID, Kind: kind, Amount: amount})
	if err != nil {
		return err
	}
	acc.Apply(e)
	if b.every > 0 && e.Version%b.every == 0 {
		raw, err := json.Marshal(acc)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", acc.ID, err)
		}
		b.disk.Put(snapshotKey(acc.ID), raw)
	}
	return nil
}

// Open opens a new account.
func (b *Bank) Open(id string) error {
	acc, _, err := b.Load(id)
	if err != nil {
		return err
	}
	if acc.Version > 0 {
		return fmt.Errorf("open %s: %w", id, ErrAccountExists)
	}
	return b.execute(acc, KindOpened, 0)
}

// Deposit adds amount to an open account.
func (b *Bank) Deposit(id string, amount int64) error {
	if amount <= 0 {
		return fmt.Errorf("deposit %d: %w", amount, ErrInvalidAmount)
	}
	acc, _, err := b.Load(id)
	if err != nil {
		return err
	}
	if !acc.Open {
		return fmt.Errorf("deposit to %s: %w", id, ErrNoAccount)
	}
	return b.execute(acc, KindDeposited, amount)
}

// Withdraw takes amount from an open account that holds at least amount.
func (b *Bank) Withdraw(id string, amount int64) error {
	if amount <= 0 {
		return fmt.Errorf("withdraw %d: %w", amount, ErrInvalidAmount)
	}
	acc, _, err := b.Load(id)
	if err != nil {
		return err
	}
	if !acc.Open {
		return fmt.Errorf("withdraw from %s: %w", id, ErrNoAccount)
	}
	if acc.Balance < amount {
		return fmt.Errorf("withdraw %d from %s (balance %d): %w", amount, id, acc.Balance, ErrInsufficientFunds)
	}
	return b.execute(acc, KindWithdrawn, amount)
}

// AccountView is the read model of one account.
type AccountView struct {
	ID           string
	Balance      int64
	Transactions int // deposits and withdrawals
}

// Projection keeps AccountViews up to date from the global event log.
type Projection struct {
	disk       Disk
	checkpoint int64
}

// row is a view with the position of the last event applied to it.
type row struct {
	View     AccountView
	Position int64
}

const (
	checkpointKey = "checkpoint"
	viewPrefix    = "view/"
)

// OpenProjection loads the read model and its checkpoint from disk.
func OpenProjection(disk Disk) (*Projection, error) {
	p := &Projection{disk: disk}
	if raw, ok := disk.Get(checkpointKey); ok {
		if err := json.Unmarshal(raw, &p.checkpoint); err != nil {
			return nil, fmt.Errorf("open projection: %w", err)
		}
	}
	return p, nil
}

// Checkpoint returns the position of the last event handled, 0 if none.
func (p *Projection) Checkpoint() int64 { return p.checkpoint }

func (p *Projection) row(id string) (row, bool, error) {
	raw, ok := p.disk.Get(viewPrefix + id)
	if !ok {
		return row{}, false, nil
	}
	var r row
	if err := json.Unmarshal(raw, &r); err != nil {
		return row{}, false, fmt.Errorf("read view %s: %w", id, err)
	}
	return r, true, nil
}

// Handle applies one event to the read model, once.
func (p *Projection) Handle(e Event) error {
	r, _, err := p.row(e.Stream)
	if err != nil {
		return err
	}
	{
		r.View.ID = e.Stream
		switch e.Kind {
		case KindDeposited:
			r.View.Balance += e.Amount
			r.View.Transactions++
		case KindWithdrawn:
			r.View.Balance -= e.Amount
			r.View.Transactions++
		}
		r.Position = e.Position
		raw, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("write view %s: %w", e.Stream, err)
		}
		p.disk.Put(viewPrefix+e.Stream, raw)
	}
	raw, _ := json.Marshal(e.Position)
	p.disk.Put(checkpointKey, raw)
	p.checkpoint = e.Position
	return nil
}

// View returns the read model of an account, if it has one.
func (p *Projection) View(id string) (AccountView, bool) {
	r, ok, err := p.row(id)
	if err != nil || !ok {
		return AccountView{}, false
	}
	return r.View, true
}

// Views returns every account's view, sorted by ID.
func (p *Projection) Views() []AccountView {
	var out []AccountView
	for _, k := range p.disk.Keys(viewPrefix) {
		if v, ok := p.View(strings.TrimPrefix(k, viewPrefix)); ok {
			out = append(out, v)
		}
	}
	return out
}

// Package eventsourcing keeps bank accounts as streams of events: an
// append-only event store with optimistic concurrency, an Account aggregate
// rebuilt by replaying its events (from a snapshot when there is one), and a
// read-model projection that follows the global log with a checkpoint.
package eventsourcing

import "errors"

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
	disk Disk
	// TODO: in-memory indexes, rebuilt by OpenStore from the disk.
}

// OpenStore loads the events already on disk.
func OpenStore(disk Disk) (*Store, error) {
	// TODO: read every event on disk in position order and rebuild the
	// indexes (events by position, each stream's version and events).
	return &Store{disk: disk}, nil
}

// Version returns the version of the stream's last event, 0 if it has none.
func (s *Store) Version(stream string) int64 {
	// TODO
	return 0
}

// Append adds e to the end of e.Stream if the stream's version is expected.
// It sets e.Version and e.Position and returns the event as stored; if the
// stream is at another version it returns ErrVersionConflict and writes
// nothing.
func (s *Store) Append(expected int64, e Event) (Event, error) {
	// TODO: check expected, number the event, write it with ONE Put (a crash
	// may come before or after any Put), then update the indexes.
	return Event{}, errors.New("Append: not implemented")
}

// ReadStream returns the stream's events with Version > after, in order.
func (s *Store) ReadStream(stream string, after int64) []Event {
	// TODO
	return nil
}

// ReadAll returns every event with Position > after, in order.
func (s *Store) ReadAll(after int64) []Event {
	// TODO
	return nil
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
	// TODO: ID and Version from e; opened sets Open; deposited adds Amount;
	// withdrawn subtracts it.
}

// Bank runs commands on accounts and keeps their snapshots.
type Bank struct {
	store *Store
	disk  Disk
	every int
}

// NewBank returns a Bank over store that keeps snapshots on disk, one every
// `every` events of an account (never when every <= 0).
func NewBank(store *Store, disk Disk, every int) *Bank {
	return &Bank{store: store, disk: disk, every: every}
}

// Snapshot returns the latest snapshot of the account, if any.
func (b *Bank) Snapshot(id string) (Account, bool) {
	// TODO: read it from b.disk.
	return Account{}, false
}

// Load rebuilds the account from its latest snapshot and the events after
// it; replayed is how many events it applied.
func (b *Bank) Load(id string) (acc Account, replayed int, err error) {
	// TODO: start from the snapshot (or Account{ID: id}) and apply the events
	// with a Version above the snapshot's.
	return Account{ID: id}, 0, errors.New("Load: not implemented")
}

// Open opens a new account.
func (b *Bank) Open(id string) error {
	// TODO: Load; ErrAccountExists if it has any event; append an opened
	// event with the loaded version as the expected version; snapshot if due.
	return errors.New("Open: not implemented")
}

// Deposit adds amount to an open account.
func (b *Bank) Deposit(id string, amount int64) error {
	// TODO: ErrInvalidAmount, then ErrNoAccount; else append deposited.
	return errors.New("Deposit: not implemented")
}

// Withdraw takes amount from an open account that holds at least amount.
func (b *Bank) Withdraw(id string, amount int64) error {
	// TODO: ErrInvalidAmount, then ErrNoAccount, then ErrInsufficientFunds;
	// else append withdrawn.
	return errors.New("Withdraw: not implemented")
}

// AccountView is the read model of one account.
type AccountView struct {
	ID           string
	Balance      int64
	Transactions int // deposits and withdrawals
}

// Projection keeps AccountViews up to date from the global event log.
type Projection struct {
	disk Disk
	// TODO: the checkpoint; the views themselves live on disk.
}

// OpenProjection loads the read model's checkpoint from disk.
func OpenProjection(disk Disk) (*Projection, error) {
	// TODO
	return &Projection{disk: disk}, nil
}

// Checkpoint returns the position of the last event handled, 0 if none.
func (p *Projection) Checkpoint() int64 {
	// TODO
	return 0
}

// Handle applies one event to the read model, exactly once.
func (p *Projection) Handle(e Event) error {
	// TODO: skip events already applied (also those applied just before a
	// crash that kept the checkpoint from being saved); update the account's
	// view on disk; save the checkpoint after the view.
	return errors.New("Handle: not implemented")
}

// View returns the read model of an account, if it has one.
func (p *Projection) View(id string) (AccountView, bool) {
	// TODO
	return AccountView{}, false
}

// Views returns every account's view, sorted by ID.
func (p *Projection) Views() []AccountView {
	// TODO
	return nil
}

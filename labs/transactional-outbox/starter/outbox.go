// Package transactionaloutbox places orders and relays their events to a
// broker with the transactional outbox pattern: the order and its event are
// committed together, and a relay publishes the event afterwards, in order,
// with a stable ID, until the broker acknowledges it.
package transactionaloutbox

import "errors"

// Order is what a customer places.
type Order struct {
	ID       string
	Customer string
	Amount   int64
}

// Message is the OrderPlaced event as the broker carries it.
type Message struct {
	ID       string // stable: the same every time this event is published
	Customer string // the aggregate; one customer's events keep their order
	OrderID  string
	Amount   int64
}

// Store is a transactional key-value store.
type Store interface {
	Begin() Tx
	Get(key string) ([]byte, bool) // committed state
	Keys(prefix string) []string   // committed keys with prefix, sorted
}

// Tx is one transaction: its writes are applied all together by Commit, or
// not at all.
type Tx interface {
	Get(key string) ([]byte, bool) // sees the transaction's own writes
	Put(key string, value []byte)
	Delete(key string)
	Commit() error // nil: every write is durable; an error: none is
}

// Publisher sends a message to the broker. nil means the broker has it; an
// error means the outcome is unknown: it may or may not have arrived.
type Publisher interface {
	Publish(m Message) error
}

// ErrOrderExists is returned by PlaceOrder for an order ID already placed.
var ErrOrderExists = errors.New("order already exists")

// PlaceOrder records o and its OrderPlaced event in one transaction: the
// order as JSON under "order/"+o.ID, and an outbox record the relay will
// publish. It returns ErrOrderExists (writing nothing) if the order ID is
// already in the store, and the commit's error if the commit fails.
func PlaceOrder(store Store, o Order) error {
	// TODO: one transaction: check the order is new, put the order, put an
	// outbox record (key sorting in placement order, message with a stable ID),
	// commit.
	return errors.New("PlaceOrder: not implemented")
}

// Relay publishes outbox records.
type Relay struct {
	store Store
	pub   Publisher
}

// NewRelay returns a relay; after a crash a new one is made on the same store.
func NewRelay(store Store, pub Publisher) *Relay { return &Relay{store: store, pub: pub} }

// Run publishes the pending outbox records in the order they were written,
// marking each one sent after the broker acknowledged it. It stops at the
// first failed publish and returns its error; nil means nothing is pending.
func (r *Relay) Run() error {
	// TODO: for each pending record, in order: publish; on error return it;
	// on success mark the record sent (in a transaction), then go on.
	return errors.New("Run: not implemented")
}

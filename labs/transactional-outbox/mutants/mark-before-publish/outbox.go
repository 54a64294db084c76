// Package transactionaloutbox places orders and relays their events to a
// broker with the transactional outbox pattern: the order and its event are
// committed together, and a relay publishes the event afterwards, in order,
// with a stable ID, until the broker acknowledges it.
package transactionaloutbox

import (
	"encoding/json"
	"errors"
	"fmt"
)

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

const (
	orderPrefix  = "order/"
	outboxPrefix = "outbox/"
	nextKey      = "meta/outbox-next"
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("outbox: encode: " + err.Error())
	}
	return b
}

// PlaceOrder records o and its OrderPlaced event in one transaction.
func PlaceOrder(store Store, o Order) error {
	tx := store.Begin()
	if _, ok := tx.Get(orderPrefix + o.ID); ok {
		return ErrOrderExists
	}
	next := 1
	if b, ok := tx.Get(nextKey); ok {
		if err := json.Unmarshal(b, &next); err != nil {
			return fmt.Errorf("read outbox counter: %w", err)
		}
	}
	msg := Message{ID: fmt.Sprintf("evt-%d", next), Customer: o.Customer, OrderID: o.ID, Amount: o.Amount}
	tx.Put(orderPrefix+o.ID, mustJSON(o))
	tx.Put(fmt.Sprintf("%s%020d", outboxPrefix, next), mustJSON(msg))
	tx.Put(nextKey, mustJSON(next+1))
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("place order %s: %w", o.ID, err)
	}
	return nil
}

// Relay publishes outbox records.
type Relay struct {
	store Store
	pub   Publisher
}

// NewRelay returns a relay; after a crash a new one is made on the same store.
func NewRelay(store Store, pub Publisher) *Relay { return &Relay{store: store, pub: pub} }

// Run publishes the pending outbox records in the order they were written,
// removing each one after the broker acknowledged it. It stops at the first
// failed publish and returns its error; nil means nothing is pending.
func (r *Relay) Run() error {
	for _, key := range r.store.Keys(outboxPrefix) {
		b, ok := r.store.Get(key)
		if !ok {
			continue
		}
		var msg Message
		if err := json.Unmarshal(b, &msg); err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		tx := r.store.Begin()
		tx.Delete(key)
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("mark %s sent: %w", msg.ID, err)
		}
		if err := r.pub.Publish(msg); err != nil {
			return fmt.Errorf("publish %s: %w", msg.ID, err)
		}
	}
	return nil
}

// Package pubsubidempotent is an event consumer for an at-least-once broker:
// it applies every event's effect exactly once, in per-key order, and
// survives crashes.
package pubsubidempotent

// Event is one message from the broker. Events of one Key carry Seq 1, 2,
// 3, ... with no gaps; ID names the event and is what ack takes.
type Event struct {
	ID     string
	Key    string
	Seq    int
	Amount int64
}

// Account is the state of one key: its balance and the Seq of the last
// event applied to it (0 before any).
type Account struct {
	Balance int64
	Seq     int
}

// Disk is storage that survives a crash. Every call is durable when it
// returns; nothing else is.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
	Delete(key string)
	Keys(prefix string) []string
}

// Consumer applies events to accounts.
type Consumer struct {
	disk Disk
	ack  func(id string)
	// TODO: events that arrived ahead of a gap, waiting in memory.
}

// NewConsumer returns a consumer that keeps its state on disk and calls ack
// with an event's ID once the event's effect is durable. It is also how the
// process starts again after a crash: everything it needs must come from disk.
func NewConsumer(disk Disk, ack func(id string)) *Consumer {
	return &Consumer{disk: disk, ack: ack}
}

// Account returns the state of key: what the events applied so far made it.
func (c *Consumer) Account(key string) Account {
	// TODO: read the durable record of key.
	return Account{}
}

// Handle processes one delivery of e.
func (c *Consumer) Handle(e Event) {
	// TODO:
	//  - e.Seq already applied for e.Key: a duplicate; ack it again, change nothing;
	//  - e.Seq is the next one: apply it (balance and watermark in ONE Put),
	//    then ack it, then apply and ack any buffered events that now follow;
	//  - e.Seq is further ahead: keep it in memory until the gap fills; no ack.
}

// Package pubsubidempotent is an event consumer for an at-least-once broker:
// it applies every event's effect exactly once, in per-key order, and
// survives crashes.
package pubsubidempotent

import "encoding/json"

// Event is one message from the broker. Events of one Key carry Seq 1, 2,
// 3, ... with no gaps; ID names the event and is what Ack takes.
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
	disk    Disk
	ack     func(id string)
	pending map[string]map[int]Event // key → seq → event that arrived early
}

// NewConsumer returns a consumer that keeps its state on disk and calls ack
// with an event's ID once the event's effect is durable.
func NewConsumer(disk Disk, ack func(id string)) *Consumer {
	return &Consumer{disk: disk, ack: ack, pending: map[string]map[int]Event{}}
}

// Account returns the state of key: what the events applied so far made it.
func (c *Consumer) Account(key string) Account {
	var a Account
	if b, ok := c.disk.Get("account/" + key); ok {
		if err := json.Unmarshal(b, &a); err != nil {
			panic("pubsub: corrupt account record for " + key + ": " + err.Error())
		}
	}
	return a
}

// apply adds e to acc and writes balance and watermark in one Put, so a
// crash leaves either both or neither.
func (c *Consumer) apply(acc Account, e Event) Account {
	if e.Amount >= 0 || acc.Balance+e.Amount >= 0 {
		acc.Balance += e.Amount
	}
	acc.Seq = e.Seq
	b, err := json.Marshal(acc)
	if err != nil {
		panic("pubsub: encode account: " + err.Error())
	}
	c.disk.Put("account/"+e.Key, b)
	return acc
}

// Handle processes one delivery of e.
func (c *Consumer) Handle(e Event) {
	acc := c.Account(e.Key)
	switch {
	case e.Seq <= acc.Seq:
		c.ack(e.ID) // a duplicate: already applied, but the broker wants an ack
		return
	case e.Seq > acc.Seq+1:
		if c.pending[e.Key] == nil {
			c.pending[e.Key] = map[int]Event{}
		}
		c.pending[e.Key][e.Seq] = e // wait for the gap to fill; no ack yet
		return
	}
	acc = c.apply(acc, e)
	c.ack(e.ID)
	waiting := c.pending[e.Key]
	for {
		next, ok := waiting[acc.Seq+1]
		if !ok {
			break
		}
		delete(waiting, next.Seq)
		acc = c.apply(acc, next)
		c.ack(next.ID)
	}
	for seq := range waiting {
		if seq <= acc.Seq {
			delete(waiting, seq)
		}
	}
	if len(waiting) == 0 {
		delete(c.pending, e.Key)
	}
}

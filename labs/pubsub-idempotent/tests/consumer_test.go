package pubsubidempotent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// mapDisk is a Disk in memory. The graded tests use labkit's Disk, which
// behaves the same and also survives simulated crashes.
type mapDisk map[string][]byte

func (d mapDisk) Get(key string) ([]byte, bool) {
	v, ok := d[key]
	return slices.Clone(v), ok
}
func (d mapDisk) Put(key string, value []byte) { d[key] = slices.Clone(value) }
func (d mapDisk) Delete(key string)            { delete(d, key) }
func (d mapDisk) Keys(prefix string) []string {
	var out []string
	for k := range d {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

type acks struct{ ids []string }

func (a *acks) ack(id string) { a.ids = append(a.ids, id) }

func event(key string, seq int, amount int64) Event {
	return Event{ID: fmt.Sprintf("%s-%d", key, seq), Key: key, Seq: seq, Amount: amount}
}

func TestAppliesInOrder(t *testing.T) {
	a := &acks{}
	c := NewConsumer(mapDisk{}, a.ack)
	c.Handle(event("alice", 1, 100))
	c.Handle(event("alice", 2, -30))
	c.Handle(event("bob", 1, 5))
	if got, want := c.Account("alice"), (Account{Balance: 70, Seq: 2}); got != want {
		t.Fatalf("Account(alice) = %+v, want %+v", got, want)
	}
	if got, want := c.Account("bob"), (Account{Balance: 5, Seq: 1}); got != want {
		t.Fatalf("Account(bob) = %+v, want %+v", got, want)
	}
	if got := strings.Join(a.ids, " "); got != "alice-1 alice-2 bob-1" {
		t.Fatalf("acks %q, want every event acked once, in the order applied", got)
	}
}

func TestDuplicateIsAckedNotApplied(t *testing.T) {
	a := &acks{}
	disk := mapDisk{}
	c := NewConsumer(disk, a.ack)
	c.Handle(event("alice", 1, 100))
	c.Handle(event("alice", 1, 100)) // the broker redelivered it
	if got, want := c.Account("alice"), (Account{Balance: 100, Seq: 1}); got != want {
		t.Fatalf("after a duplicate: Account(alice) = %+v, want %+v", got, want)
	}
	if len(a.ids) != 2 {
		t.Fatalf("acks %q: a duplicate must be acked again (the first ack may have been lost)", a.ids)
	}
	// A new process on the same disk still knows event 1 was applied.
	c2 := NewConsumer(disk, a.ack)
	c2.Handle(event("alice", 1, 100))
	if got, want := c2.Account("alice"), (Account{Balance: 100, Seq: 1}); got != want {
		t.Fatalf("after a restart and a redelivery: Account(alice) = %+v, want %+v", got, want)
	}
}

func TestGapIsBuffered(t *testing.T) {
	a := &acks{}
	c := NewConsumer(mapDisk{}, a.ack)
	c.Handle(event("alice", 2, 10)) // event 1 is late
	if got := c.Account("alice"); got != (Account{}) {
		t.Fatalf("event 2 applied before event 1: Account(alice) = %+v", got)
	}
	if len(a.ids) != 0 {
		t.Fatalf("acked %q before applying it", a.ids)
	}
	c.Handle(event("alice", 1, 5))
	if got, want := c.Account("alice"), (Account{Balance: 15, Seq: 2}); got != want {
		t.Fatalf("after the gap filled: Account(alice) = %+v, want %+v", got, want)
	}
	if got := strings.Join(a.ids, " "); got != "alice-1 alice-2" {
		t.Fatalf("acks %q, want alice-1 alice-2", got)
	}
}

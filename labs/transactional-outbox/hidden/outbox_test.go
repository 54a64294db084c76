package hidden

import (
	"encoding/json"
	"errors"
	"testing"

	"faultline.dev/labkit"
	ob "faultline.dev/labs/transactionaloutbox"
)

// calm returns a world with no faults, for hand-driven tests.
func calm(t *testing.T) *world {
	w := newWorld(t, 1, faults{Customers: 1})
	w.faulty = false
	return w
}

func TestPlaceOrderRecordsOrderAndEvent(t *testing.T) {
	w := calm(t)
	o := ob.Order{ID: "o1", Customer: "ada", Amount: 42}
	if err := ob.PlaceOrder(&store{w}, o); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	raw, ok := w.disk.Get("order/o1")
	if !ok {
		t.Fatalf(`no "order/o1" in the store after PlaceOrder; keys: %v`, w.disk.Keys(""))
	}
	var got ob.Order
	if err := json.Unmarshal(raw, &got); err != nil || got != o {
		t.Fatalf(`"order/o1" holds %s, want the JSON of %+v`, raw, o)
	}
	if len(w.log) != 0 {
		t.Fatalf("PlaceOrder published %+v itself; only the relay publishes", w.log)
	}
	if err := w.runRelay(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(w.log) != 1 {
		t.Fatalf("after one order and one Run the broker got %d messages, want 1", len(w.log))
	}
	m := w.log[0]
	if m.OrderID != "o1" || m.Customer != "ada" || m.Amount != 42 || m.ID == "" {
		t.Fatalf("published %+v, want OrderID o1, Customer ada, Amount 42 and an ID", m)
	}
	if err := w.runRelay(); err != nil || len(w.log) != 1 {
		t.Fatalf("a second Run published again (%d messages, err %v): the first Run must mark it sent", len(w.log), err)
	}
}

func TestDuplicateOrderRejected(t *testing.T) {
	w := calm(t)
	o := ob.Order{ID: "o1", Customer: "ada", Amount: 42}
	if err := ob.PlaceOrder(&store{w}, o); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if err := ob.PlaceOrder(&store{w}, ob.Order{ID: "o1", Customer: "bob", Amount: 7}); !errors.Is(err, ob.ErrOrderExists) {
		t.Fatalf("placing o1 again returned %v, want ErrOrderExists", err)
	}
	w.runRelay()
	if len(w.log) != 1 || w.log[0].Customer != "ada" {
		t.Fatalf("after placing o1 twice the broker got %+v, want exactly the first order's event", w.log)
	}
}

func TestFailedPublishStopsAndRetries(t *testing.T) {
	w := calm(t)
	for _, id := range []string{"o1", "o2", "o3"} {
		if err := ob.PlaceOrder(&store{w}, ob.Order{ID: id, Customer: "ada", Amount: 1}); err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
	}
	// The first publish is lost: Run must return the error without going on.
	w.faulty = true
	w.f.LostRequest = 1
	if err := w.runRelay(); err == nil {
		t.Fatalf("Run returned nil although the publish failed")
	}
	if len(w.log) != 0 {
		t.Fatalf("broker got %+v; the lost publish should have stopped the run", w.log)
	}
	w.f.LostRequest = 0
	w.f.LostAck = 1
	if err := w.runRelay(); err == nil {
		t.Fatalf("Run returned nil although the publish returned an error")
	}
	if len(w.log) != 1 || w.log[0].OrderID != "o1" {
		t.Fatalf("broker got %+v, want only o1's event (its ack was lost, so the run stops there)", w.log)
	}
	w.faulty = false
	if err := w.runRelay(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var ids []string
	for _, m := range w.log {
		ids = append(ids, m.OrderID)
	}
	if len(ids) != 4 || ids[0] != "o1" || ids[1] != "o1" || ids[2] != "o2" || ids[3] != "o3" {
		t.Fatalf("broker got orders %v, want [o1 o1 o2 o3]: o1 again (same ID), then the rest in order", ids)
	}
	w.sim.Require(t, w.err)
}

func TestLostPublishesAndAcks(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 120, Customers: 3, LostRequest: 0.2, LostAck: 0.2}).run()
	})
}

func TestCrashAroundCommits(t *testing.T) {
	labkit.RunSeeds(t, 8, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 120, Customers: 3, CrashRate: 0.3, commitPoints: true, CommitFail: 0.05}).run()
	})
}

func TestCrashAroundPublishes(t *testing.T) {
	labkit.RunSeeds(t, 8, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 120, Customers: 3, CrashRate: 0.3, publishPoint: true}).run()
	})
}

func TestCrashAnywhere(t *testing.T) {
	labkit.RunSeeds(t, 8, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 150, Customers: 2, CrashRate: 0.3, commitPoints: true, publishPoint: true,
			CommitFail: 0.05, LostRequest: 0.1, LostAck: 0.1, Resubmit: 0.2}).run()
	})
}

func TestResubmittedOrders(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		newWorld(t, seed, faults{Steps: 120, Customers: 3, Resubmit: 0.5, CrashRate: 0.2, commitPoints: true}).run()
	})
}

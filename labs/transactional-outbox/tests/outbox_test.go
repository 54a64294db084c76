package transactionaloutbox

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// memStore is a Store in memory. The graded tests use a store that also
// crashes your code at commits and publishes.
type memStore struct{ data map[string][]byte }

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (s *memStore) Begin() Tx { return &memTx{s: s, writes: map[string][]byte{}} }
func (s *memStore) Get(key string) ([]byte, bool) {
	v, ok := s.data[key]
	return slices.Clone(v), ok
}
func (s *memStore) Keys(prefix string) []string {
	var out []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

type memTx struct {
	s      *memStore
	writes map[string][]byte // nil: delete
}

func (t *memTx) Get(key string) ([]byte, bool) {
	if v, ok := t.writes[key]; ok {
		return slices.Clone(v), v != nil
	}
	return t.s.Get(key)
}
func (t *memTx) Put(key string, value []byte) { t.writes[key] = append([]byte{}, value...) }
func (t *memTx) Delete(key string)            { t.writes[key] = nil }
func (t *memTx) Commit() error {
	for k, v := range t.writes {
		if v == nil {
			delete(t.s.data, k)
		} else {
			t.s.data[k] = v
		}
	}
	return nil
}

// broker records what it got; fail makes the next publishes return an error.
type broker struct {
	got  []Message
	fail int
}

func (b *broker) Publish(m Message) error {
	if b.fail > 0 {
		b.fail--
		return errors.New("timeout")
	}
	b.got = append(b.got, m)
	return nil
}

func TestPlaceOrderThenRelay(t *testing.T) {
	s := newMemStore()
	if err := PlaceOrder(s, Order{ID: "o1", Customer: "ada", Amount: 42}); err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if _, ok := s.Get("order/o1"); !ok {
		t.Fatalf(`no "order/o1" after PlaceOrder; keys %v`, s.Keys(""))
	}
	b := &broker{}
	if err := NewRelay(s, b).Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(b.got) != 1 || b.got[0].OrderID != "o1" || b.got[0].ID == "" {
		t.Fatalf("broker got %+v, want one message for o1 with an ID", b.got)
	}
}

func TestRelayKeepsOrder(t *testing.T) {
	s := newMemStore()
	for _, id := range []string{"z", "a", "m"} { // placed in this order
		if err := PlaceOrder(s, Order{ID: id, Customer: "ada", Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	b := &broker{}
	if err := NewRelay(s, b).Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var got []string
	for _, m := range b.got {
		got = append(got, m.OrderID)
	}
	if strings.Join(got, ",") != "z,a,m" {
		t.Fatalf("published orders %v, want z,a,m (the order they were placed in)", got)
	}
}

func TestRelayStopsOnError(t *testing.T) {
	s := newMemStore()
	PlaceOrder(s, Order{ID: "o1", Customer: "ada", Amount: 1})
	PlaceOrder(s, Order{ID: "o2", Customer: "ada", Amount: 2})
	b := &broker{fail: 1}
	r := NewRelay(s, b)
	if err := r.Run(); err == nil {
		t.Fatal("Run returned nil although the publish failed")
	}
	if len(b.got) != 0 {
		t.Fatalf("after a failed publish of o1 the relay went on and published %+v", b.got)
	}
	if err := r.Run(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if len(b.got) != 2 || b.got[0].OrderID != "o1" || b.got[1].OrderID != "o2" {
		t.Fatalf("broker got %+v, want o1 then o2", b.got)
	}
}

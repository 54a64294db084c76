package consistenthash

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func TestHashIsSHA256Prefix(t *testing.T) {
	for _, s := range []string{"", "hello", "node-1#0"} {
		sum := sha256.Sum256([]byte(s))
		if got, want := Hash(s), binary.BigEndian.Uint64(sum[:8]); got != want {
			t.Errorf("Hash(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestEmptyRing(t *testing.T) {
	r := New(10)
	if _, err := r.Get("k"); !errors.Is(err, ErrEmptyRing) {
		t.Errorf("Get on an empty ring returned error %v, want ErrEmptyRing", err)
	}
}

func TestSingleNodeOwnsEverything(t *testing.T) {
	r := New(10)
	r.Add("only")
	for i := 0; i < 100; i++ {
		key := fmt.Sprintf("key-%d", i)
		if got, err := r.Get(key); err != nil || got != "only" {
			t.Fatalf("Get(%q) = %q, %v; want \"only\", nil", key, got, err)
		}
	}
}

func TestGetNReturnsDistinctNodes(t *testing.T) {
	r := New(20)
	r.Add("a", "b", "c", "d")
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("key-%d", i)
		got, err := r.GetN(key, 3)
		if err != nil || len(got) != 3 {
			t.Fatalf("GetN(%q, 3) = %q, %v; want 3 nodes", key, got, err)
		}
		if got[0] != got[1] && got[1] != got[2] && got[0] != got[2] {
			continue
		}
		t.Fatalf("GetN(%q, 3) = %q: nodes repeat", key, got)
	}
}

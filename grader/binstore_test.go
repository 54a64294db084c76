package grader

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The store keeps archives within its bound, the least recently used going
// first; it refuses one larger than the bound; a reopened store finds what
// was kept, in the same order of use, drops files left half written and
// trims to a smaller bound; a kept file whose size changed is dropped.
func TestBinStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := openBinStore(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("store folder: %v, %v; want one only its owner can read", info, err)
	}
	put := func(s *binStore, key string, n int) {
		t.Helper()
		if err := s.put(key, bytes.Repeat([]byte(key), n)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // distinct times of use
	}
	stats := func(s *binStore) (int, int64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.entries), s.total
	}
	has := func(s *binStore, want ...string) {
		t.Helper()
		for _, k := range []string{"a", "b", "c", "d"} {
			b, ok := s.get(k)
			if ok != strings.Contains(strings.Join(want, ""), k) {
				t.Errorf("get(%s) = %v; want kept %q", k, ok, want)
			}
			if ok && (len(b) == 0 || b[0] != k[0]) {
				t.Errorf("get(%s) = %q", k, b)
			}
		}
	}
	put(s, "a", 40)
	put(s, "b", 40)
	if _, ok := s.get("a"); !ok { // a is now used after b
		t.Fatal("a not kept")
	}
	time.Sleep(10 * time.Millisecond)
	put(s, "c", 40) // 120 > 100: b, the least recently used, goes
	if n, total := stats(s); n != 2 || total != 80 {
		t.Errorf("stats = %d, %d; want 2, 80", n, total)
	}
	if _, ok := s.get("b"); ok {
		t.Error("b kept past the bound")
	}
	if err := s.put("d", make([]byte, 101)); err == nil {
		t.Error("an archive larger than the bound was kept")
	}
	put(s, "a", 10) // replaced: 10+40
	if n, total := stats(s); n != 2 || total != 50 {
		t.Errorf("after replacing a: stats = %d, %d; want 2, 50", n, total)
	}

	// A half-written file, and files of other kinds, on reopening.
	if err := os.WriteFile(filepath.Join(dir, binTemp+"123"), []byte("part"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, ok := s.get("c"); !ok { // c used after a
		t.Fatal("c not kept")
	}
	s2, err := openBinStore(dir, 45) // a (10) was used before c (40): a goes
	if err != nil {
		t.Fatal(err)
	}
	has(s2, "c")
	if _, err := os.Stat(filepath.Join(dir, binTemp+"123")); !os.IsNotExist(err) {
		t.Errorf("half-written file left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("another file was removed: %v", err)
	}

	// A kept file whose size changed is dropped.
	if err := os.WriteFile(s2.path("c"), []byte("cc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.get("c"); ok {
		t.Error("get of a file cut short succeeded")
	}
	if _, err := os.Stat(s2.path("c")); !os.IsNotExist(err) {
		t.Errorf("file cut short left in the store: %v", err)
	}
	if n, total := stats(s2); n != 0 || total != 0 {
		t.Errorf("stats = %d, %d; want 0, 0", n, total)
	}

	if _, err := openBinStore(filepath.Join(dir, "README", "x"), 100); err == nil {
		t.Error("a store under a file opened")
	}
}

package grader

import (
	"fmt"
	"go/token"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// A small lab of our own: an LRU cache with TODOs.
const lruStarter = `package lru

// Cache holds at most Cap entries and forgets the least recently used one.
type Cache struct {
	// TODO: your fields.
}

// New returns an empty cache that holds n entries.
func New(n int) *Cache {
	// TODO
	return &Cache{}
}

// Get returns key's value and marks key as used.
func (c *Cache) Get(key string) (string, bool) {
	// TODO
	return "", false
}

// Put stores key's value, evicting the least recently used entry when full.
func (c *Cache) Put(key, value string) {
	// TODO
}

// Len returns how many entries the cache holds.
func (c *Cache) Len() int {
	// TODO
	return 0
}
`

const lruVisibleTest = `package lru

import "testing"

func TestPutGet(t *testing.T) {
	c := New(2)
	c.Put("a", "1")
	if v, ok := c.Get("a"); !ok || v != "1" {
		t.Fatalf("Get(a) = %q, %v", v, ok)
	}
}
`

// lruList is one learner's solution: a hand-written doubly linked list.
const lruList = `package lru

import "fmt"

type node struct {
	key, value string
	prev, next *node
}

// Cache holds at most Cap entries and forgets the least recently used one.
type Cache struct {
	cap   int
	items map[string]*node
	head  *node // most recently used
	tail  *node // least recently used
}

// New returns an empty cache that holds n entries.
func New(n int) *Cache {
	if n <= 0 {
		panic(fmt.Sprintf("lru: capacity %d", n))
	}
	return &Cache{cap: n, items: make(map[string]*node)}
}

func (c *Cache) unlink(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		c.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		c.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (c *Cache) pushFront(n *node) {
	n.next = c.head
	if c.head != nil {
		c.head.prev = n
	}
	c.head = n
	if c.tail == nil {
		c.tail = n
	}
}

// Get returns key's value and marks key as used.
func (c *Cache) Get(key string) (string, bool) {
	n, ok := c.items[key]
	if !ok {
		return "", false
	}
	c.unlink(n)
	c.pushFront(n)
	return n.value, true
}

// Put stores key's value, evicting the least recently used entry when full.
func (c *Cache) Put(key, value string) {
	if n, ok := c.items[key]; ok {
		n.value = value
		c.unlink(n)
		c.pushFront(n)
		return
	}
	if len(c.items) >= c.cap {
		old := c.tail
		c.unlink(old)
		delete(c.items, old.key)
	}
	n := &node{key: key, value: value}
	c.items[key] = n
	c.pushFront(n)
}

// Len returns how many entries the cache holds.
func (c *Cache) Len() int { return len(c.items) }
`

// lruListCopied is lruList with every name changed, comments rewritten,
// literals changed and the functions in another order: what a learner
// hiding a copy might do.
const lruListCopied = `package lru

import "fmt"

// Len counts the entries.
func (lc *Cache) Len() int { return len(lc.table) }

// Put adds or updates an entry.
func (lc *Cache) Put(k, v string) {
	if e, found := lc.table[k]; found {
		e.val = v
		lc.detach(e)
		lc.toFront(e)
		return
	}
	if len(lc.table) >= lc.limit {
		victim := lc.last
		lc.detach(victim)
		delete(lc.table, victim.k)
	}
	e := &entry{k: k, val: v}
	lc.table[k] = e
	lc.toFront(e)
}

type entry struct {
	k, val      string
	before, after *entry
}

func (lc *Cache) toFront(e *entry) {
	e.after = lc.first
	if lc.first != nil {
		lc.first.before = e
	}
	lc.first = e
	if lc.last == nil {
		lc.last = e
	}
}

// Cache is the cache.
type Cache struct {
	limit int
	table map[string]*entry
	first *entry
	last  *entry
}

// Get looks k up.
func (lc *Cache) Get(k string) (string, bool) {
	e, found := lc.table[k]
	if !found {
		return "", false
	}
	lc.detach(e)
	lc.toFront(e)
	return e.val, true
}

func (lc *Cache) detach(e *entry) {
	if e.before != nil {
		e.before.after = e.after
	} else {
		lc.first = e.after
	}
	if e.after != nil {
		e.after.before = e.before
	} else {
		lc.last = e.before
	}
	e.before, e.after = nil, nil
}

// New makes a cache.
func New(size int) *Cache {
	if size <= 0 {
		panic(fmt.Sprintf("bad size %d", size))
	}
	return &Cache{limit: size, table: make(map[string]*entry)}
}
`

// lruClock is another learner's independent solution: use counters and a
// scan for the oldest entry, written its own way.
const lruClock = `package lru

import "sort"

type slot struct {
	value string
	used  uint64
}

// Cache holds at most Cap entries and forgets the least recently used one.
type Cache struct {
	size  int
	tick  uint64
	slots map[string]slot
}

// New returns an empty cache that holds n entries.
func New(n int) *Cache {
	return &Cache{size: max(n, 1), slots: map[string]slot{}}
}

func (c *Cache) touch(key string, s slot) {
	c.tick++
	s.used = c.tick
	c.slots[key] = s
}

// Get returns key's value and marks key as used.
func (c *Cache) Get(key string) (string, bool) {
	s, found := c.slots[key]
	if found {
		c.touch(key, s)
	}
	return s.value, found
}

// oldest returns the keys from least to most recently used.
func (c *Cache) oldest() []string {
	keys := make([]string, 0, len(c.slots))
	for k := range c.slots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.slots[keys[i]].used < c.slots[keys[j]].used })
	return keys
}

// Put stores key's value, evicting the least recently used entry when full.
func (c *Cache) Put(key, value string) {
	_, present := c.slots[key]
	for !present && len(c.slots) >= c.size {
		delete(c.slots, c.oldest()[0])
	}
	c.touch(key, slot{value: value})
}

// Len returns how many entries the cache holds.
func (c *Cache) Len() int {
	n := 0
	for range c.slots {
		n++
	}
	return n
}
`

func lruLab() *faultline.Lab {
	return &faultline.Lab{
		Slug:    "lru",
		Starter: []faultline.File{{Path: "go.mod", Content: []byte("module faultline.dev/labs/lru\n")}, {Path: "lru.go", Content: []byte(lruStarter)}},
		Visible: []faultline.File{{Path: "lru_test.go", Content: []byte(lruVisibleTest)}},
	}
}

func goFile(src string) []faultline.File {
	return []faultline.File{{Path: "go.mod", Content: []byte("module faultline.dev/labs/lru\n")}, {Path: "lru.go", Content: []byte(src)}}
}

func lruScore(t *testing.T, a, b []faultline.File) float64 {
	t.Helper()
	l := lruLab()
	base := BaseHashes(l.Starter, l.Visible)
	fa, fb := Fingerprint(a, base), Fingerprint(b, base)
	t.Logf("%d and %d fingerprints", len(fa), len(fb))
	return Score(fa, fb)
}

func TestSimilarityScores(t *testing.T) {
	const threshold = 0.8 // web's similarThreshold
	withTest := append(goFile(lruListCopied), faultline.File{Path: "lru_test.go", Content: []byte(lruVisibleTest)})
	padded := goFile(lruListCopied + `
// Stats is extra code the copier wrote on top.
func (lc *Cache) Stats() map[string]int {
	out := map[string]int{"len": lc.Len(), "limit": lc.limit}
	for k, e := range lc.table {
		if e.before == nil && e.after == nil {
			out["lonely:"+k]++
		}
	}
	return out
}
`)
	edited := strings.Replace(lruStarter, "// TODO\n\treturn 0", "return -1", 1)
	for _, tc := range []struct {
		name     string
		a, b     []faultline.File
		atLeast  float64
		below    float64
		wantZero bool
	}{
		{name: "identical", a: goFile(lruList), b: goFile(lruList), atLeast: 1},
		{name: "renamed, reworded, reordered", a: goFile(lruList), b: goFile(lruListCopied), atLeast: threshold},
		{name: "copy with the visible test and a go.mod", a: goFile(lruList), b: withTest, atLeast: threshold},
		{name: "copy padded with extra code", a: goFile(lruList), b: padded, atLeast: threshold},
		{name: "independent solutions", a: goFile(lruList), b: goFile(lruClock), below: 0.3},
		{name: "independent solutions, the copy", a: goFile(lruListCopied), b: goFile(lruClock), below: 0.3},
		{name: "starter against starter", a: goFile(lruStarter), b: goFile(lruStarter), wantZero: true},
		{name: "starter with the same small edit", a: goFile(edited), b: goFile(edited), wantZero: true},
		{name: "starter against a solution", a: goFile(lruStarter), b: goFile(lruList), wantZero: true},
		{name: "no Go files", a: []faultline.File{{Path: "notes.txt", Content: []byte(lruList)}}, b: goFile(lruList), wantZero: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lruScore(t, tc.a, tc.b)
			if back := lruScore(t, tc.b, tc.a); back != got {
				t.Errorf("score not symmetric: %.3f and %.3f", got, back)
			}
			switch {
			case tc.wantZero && got != 0:
				t.Errorf("score %.3f, want 0", got)
			case tc.atLeast > 0 && got < tc.atLeast:
				t.Errorf("score %.3f, want at least %.2f", got, tc.atLeast)
			case tc.below > 0 && got >= tc.below:
				t.Errorf("score %.3f, want below %.2f", got, tc.below)
			}
			t.Logf("score %.3f", got)
		})
	}
}

func TestTokenizeNormalizes(t *testing.T) {
	a := tokenize([]byte("package p\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\n// doc\nfunc f(x int) string { return fmt.Sprint(x + 1, \"a\") }\n"))
	b := tokenize([]byte("package q\nimport \"strings\"\nfunc g(y int) string {\n\treturn strings.Repeat(y + 7, `b`) // other\n}\n"))
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("renamed code tokenizes differently:\n%v\n%v", a, b)
	}
	c := tokenize([]byte("package p\nfunc f(x int64) string { return fmt.Sprint(x + 1, \"a\") }\n"))
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("int and int64 (predeclared names) tokenize the same")
	}
	if len(a) != 1 || a[0][0] != uint32(token.FUNC) {
		t.Errorf("tokens %v are not one declaration starting at func (package clause and imports skipped)", a)
	}
	decls := tokenize([]byte("package p\nvar (\n\tx = 1\n)\n\nfunc f() { g := func() {}; g() }\n\ntype T struct{ a int }\n"))
	if len(decls) != 3 {
		t.Errorf("%d declarations %v, want 3 (var, func with a func literal, type)", len(decls), decls)
	}
}

func TestWinnowGuarantee(t *testing.T) {
	// Every run of Window hashes holds a pick: a shared run of that many
	// k-grams always shares a fingerprint.
	r := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, 500)
	for i := range hs {
		hs[i] = r.Uint64() % 50 // many ties
	}
	picked := map[uint64]bool{}
	for _, h := range winnow(hs) {
		picked[h] = true
	}
	for s := 0; s+Window <= len(hs); s++ {
		ok := false
		for _, h := range hs[s : s+Window] {
			ok = ok || picked[h]
		}
		if !ok {
			t.Fatalf("window at %d has no fingerprint", s)
		}
	}
	if got := winnow(hs[:3]); len(got) != 1 {
		t.Errorf("winnow of 3 hashes = %v, want the smallest alone", got)
	}
	if winnow(nil) != nil {
		t.Error("winnow(nil) not empty")
	}
}

func TestSimilarityChecker(t *testing.T) {
	lab := lruLab()
	loads := map[int64]int{}
	in := func(id, owner int64, src string) faultline.SimilarityInput {
		return faultline.SimilarityInput{ID: id, Owner: owner, Files: func() ([]faultline.File, error) {
			loads[id]++
			return goFile(src), nil
		}}
	}
	subs := []faultline.SimilarityInput{
		in(1, 10, lruList),
		in(2, 20, lruListCopied),
		in(3, 30, lruClock),
		in(4, 10, lruListCopied), // same learner as 1: never a pair
		in(5, 40, lruStarter),
		in(6, 50, lruStarter),
	}
	s := NewSimilarity()
	pairs, err := s.SimilarPairs(lab, subs, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(pairIDs(pairs))
	if want := "[2-4 1-2]"; got != want {
		t.Errorf("pairs %s, want %s (%v)", got, want, pairs)
	}
	if pairs[0].A != 2 || pairs[0].B != 4 || pairs[0].Score != 1 {
		t.Errorf("first pair %+v, want the identical copies 2 and 4 at 1.0", pairs[0])
	}
	again, err := s.SimilarPairs(lab, subs, 0.8)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(pairs) {
		t.Errorf("asked again: %v, %v; want %v", again, err, pairs)
	}
	if fewer, err := s.SimilarPairs(lab, subs[:3], 0.8); err != nil || fmt.Sprint(pairIDs(fewer)) != "[1-2]" {
		t.Errorf("without submission 4: %v, %v; want [1-2]", pairIDs(fewer), err)
	}
	to, err := s.SimilarTo(lab, subs[2-1], subs, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(pairIDs(to)); got != "[2-4 2-1]" {
		t.Errorf("SimilarTo(2) = %s, want [2-4 2-1]", got)
	}
	for id, n := range loads {
		if n != 1 {
			t.Errorf("submission %d loaded %d times, want once (cached)", id, n)
		}
	}
	boom := faultline.SimilarityInput{ID: 99, Owner: 99, Files: func() ([]faultline.File, error) {
		return nil, fmt.Errorf("disk on fire")
	}}
	if _, err := s.SimilarPairs(lab, append(subs, boom), 0.8); err == nil {
		t.Error("a failed load is not an error")
	}
}

func pairIDs(ps []faultline.SimilarPair) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%d-%d", p.A, p.B))
	}
	return out
}

func TestSimilarityOnRealLabs(t *testing.T) {
	cat, err := labs.Load(labs.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range cat.All() {
		base := BaseHashes(l.Starter, l.Visible)
		starter, solution := Fingerprint(l.Starter, base), Fingerprint(l.Solution, base)
		if len(starter) != 0 {
			t.Errorf("%s: the starter keeps %d fingerprints after taking out the lab's own", l.Slug, len(starter))
		}
		if Score(solution, solution) != 1 {
			t.Errorf("%s: the solution against itself scores %.3f", l.Slug, Score(solution, solution))
		}
	}
}

// synthSubmission writes a plausible, distinct learner file: functions
// made of statements drawn at random, as independent learners' code differs.
func synthSubmission(r *rand.Rand) []faultline.File {
	stmts := []string{
		"if %s == nil {\n\t\treturn %d\n\t}",
		"for i := 0; i < len(%s); i++ {\n\t\tn += i * %d\n\t}",
		"%s.mu.Lock()\n\tdefer %[1]s.mu.Unlock()\n\tn += %d",
		"select {\n\tcase <-%s.done:\n\t\treturn %d\n\tdefault:\n\t}",
		"m := map[string]int{}\n\tm[%q] = %d\n\tn += len(m)",
		"_ = %s\n\tswitch n %% %d {\n\tcase 0:\n\t\tn++\n\tcase 1:\n\t\tn--\n\t}",
		"go func() { %s.ch <- %d }()",
		"if err := %s.call(%d); err != nil {\n\t\treturn -1\n\t}",
	}
	var b strings.Builder
	b.WriteString("package lru\n\ntype state struct{ mu interface{ Lock(); Unlock() }; done, ch chan int }\n\nfunc (s *state) call(int) error { return nil }\n")
	for f := 0; f < 8; f++ {
		fmt.Fprintf(&b, "\nfunc (s *state) f%d(xs []int) int {\n\tn := 0\n", f)
		for k := 0; k < 6; k++ {
			st := stmts[r.IntN(len(stmts))]
			if strings.Contains(st, "%q") {
				fmt.Fprintf(&b, "\t"+st+"\n", "k", r.IntN(100))
			} else {
				fmt.Fprintf(&b, "\t"+st+"\n", "s", r.IntN(100))
			}
		}
		b.WriteString("\treturn n\n}\n")
	}
	return goFile(b.String())
}

// BenchmarkSimilarPairs compares 200 learners' submissions of one lab: cold
// computes every fingerprint; then with the fingerprints cached (a new best
// submission); then the same question again (another page view).
func BenchmarkSimilarPairs(b *testing.B) {
	lab := lruLab()
	r := rand.New(rand.NewPCG(7, 7))
	files := make([][]faultline.File, 200)
	for i := range files {
		files[i] = synthSubmission(r)
	}
	inputs := func() []faultline.SimilarityInput {
		out := make([]faultline.SimilarityInput, len(files))
		for i := range files {
			out[i] = faultline.SimilarityInput{ID: int64(i + 1), Owner: int64(i + 1), Files: func() ([]faultline.File, error) { return files[i], nil }}
		}
		return out
	}()
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewSimilarity().SimilarPairs(lab, inputs, 0.8); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fingerprints cached", func(b *testing.B) {
		s := NewSimilarity()
		if _, err := s.SimilarPairs(lab, inputs, 0.8); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			clear(s.pairs) // compare every pair again
			if _, err := s.SimilarPairs(lab, inputs, 0.8); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("answer cached", func(b *testing.B) {
		s := NewSimilarity()
		if _, err := s.SimilarPairs(lab, inputs, 0.8); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.SimilarPairs(lab, inputs, 0.8); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package grader_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

const mutSrc = `package counter

import "sync"

// Counter counts up to a limit.
type Counter struct {
	mu    sync.Mutex
	n     int
	limit int
	hits  int
}

// Add adds one unless the limit is reached, and reports whether it did.
func (c *Counter) Add() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n < c.limit {
		c.n++
		c.hits++
		return true
	}
	return false
}

// Full reports whether the limit is reached.
func (c *Counter) Full() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n >= c.limit, nil
}

// Reset empties the counter.
func (c *Counter) Reset() {
	c.n = 0
	c.hits = 0
}
`

func mutLab(src string) *faultline.Lab {
	mod := "faultline.dev/labs/counter"
	return &faultline.Lab{
		Slug:     "counter",
		Module:   mod,
		Limits:   faultline.Limits{Time: 10 * time.Second},
		Tests:    []faultline.LabTest{{Name: "TestLimit", Points: 1, Hidden: true}},
		Solution: []faultline.File{{Path: "counter.go", Content: []byte(src)}, {Path: "go.mod", Content: []byte("module " + mod + "\n")}},
		Hidden: []faultline.File{{Path: "counter_test.go", Content: []byte(`package hidden

import (
	"testing"

	"faultline.dev/labs/counter"
)

func TestLimit(t *testing.T) {
	c := counter.New(2)
	for i := 0; i < 2; i++ {
		if !c.Add() {
			t.Fatalf("add %d refused below the limit", i+1)
		}
	}
	if full, _ := c.Full(); !full {
		t.Fatal("not full after 2 adds with limit 2")
	}
	if c.Add() {
		t.Fatal("a full counter added")
	}
	c.Reset()
	if full, _ := c.Full(); full {
		t.Fatal("full after Reset")
	}
}
`)}},
	}
}

func TestGenerateMutants(t *testing.T) {
	lab := mutLab(mutSrc)
	ms, err := grader.GenerateMutants(lab, nil)
	if err != nil {
		t.Fatal(err)
	}
	byDesc := map[string]grader.Mutant{}
	ops := map[string]int{}
	for _, m := range ms {
		byDesc[m.Desc] = m
		ops[m.Op]++
		if !strings.HasPrefix(m.ID, "counter.go:") || strings.Count(m.ID, ":") != 3 {
			t.Errorf("id %q is not file:func:op:hash", m.ID)
		}
		if len(m.Files) != 2 || m.Files[1].Path != "go.mod" {
			t.Errorf("%s: files %v, want the full solution set", m.ID, m.Files)
		}
	}
	for _, want := range []string{
		"`c.n < c.limit` → `c.n <= c.limit`",       // boundary
		"`c.n >= c.limit` → `c.n > c.limit`",       // boundary in a return
		"`c.n < c.limit` → `!(c.n < c.limit)`",     // negate
		"drop `c.n++`",                             // drop
		"swap `c.hits++` and `return true`",        // swap past a return
		"`return` before `c.n = 0`",                // return early, no results
		"`c.n = 0` → `c.n = 1`",                    // constant
		"`return false, nil` before `c.mu.Lock()`", // needs types: only with a checker
	} {
		_, ok := byDesc[want]
		if want == "`return false, nil` before `c.mu.Lock()`" {
			ok = !ok // without a type checker, no zero values for results
		}
		if !ok {
			t.Errorf("no mutant %q", want)
		}
	}
	for _, not := range []string{
		"swap `c.n++` and `c.hits++`",                  // disjoint plain statements commute
		"swap `c.n = 0` and `c.hits = 0`",              //
		"swap `c.mu.Lock()` and `defer c.mu.Unlock()`", // a defer moves past a statement that cannot leave
	} {
		if _, ok := byDesc[not]; ok {
			t.Errorf("mutant %q generated; it provably changes nothing", not)
		}
	}
	if ops[grader.OpSwap] == 0 || ops[grader.OpDrop] == 0 || ops[grader.OpConstant] == 0 {
		t.Errorf("operators used: %v", ops)
	}

	// Ids survive edits elsewhere in the file.
	moved := strings.Replace(mutSrc, "// Counter counts up to a limit.", "// Counter counts up to a limit.\n// It is safe for concurrent use.\n\nvar _ = 1", 1)
	ms2, err := grader.GenerateMutants(mutLab(moved), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range ms2 {
		ids[m.ID] = true
	}
	for _, m := range ms {
		if !ids[m.ID] {
			t.Errorf("id %s (%s) changed when unrelated lines were added", m.ID, m.Desc)
		}
	}
}

func TestGenerateMutantsTypeChecked(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	lab := mutLab(mutSrc + "\n// New returns a counter with the given limit.\nfunc New(limit int) *Counter { return &Counter{limit: limit} }\n")
	tc, err := grader.NewTypeChecker(context.Background(), lab)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := grader.GenerateMutants(lab, tc)
	if err != nil {
		t.Fatal(err)
	}
	var broken, typed []string
	for _, m := range ms {
		if m.Broken != "" {
			broken = append(broken, m.Desc+": "+m.Broken)
		}
		if m.Desc == "`return false, nil` before `c.mu.Lock()`" {
			typed = append(typed, m.ID)
		}
	}
	if len(typed) != 1 {
		t.Errorf("no typed early return in Full: %d", len(typed))
	}
	// Dropping the only return of Add's tail leaves a missing return.
	if !slices.ContainsFunc(broken, func(s string) bool {
		return strings.HasPrefix(s, "drop `return false`: ") && strings.Contains(s, "missing return")
	}) {
		t.Errorf("dropping Add's last return is not marked broken; broken: %q", broken)
	}
	for _, m := range ms {
		if m.Desc == "drop `c.n++`" && m.Broken != "" {
			t.Errorf("a compiling mutant marked broken: %s", m.Broken)
		}
	}
}

// TestMutateDocker grades a few mutants through real grading containers:
// one the test kills, one it cannot (marked equivalent), and a stale mark.
func TestMutateDocker(t *testing.T) {
	g := MustGrader(t)
	lab := mutLab(mutSrc + "\n// New returns a counter with the given limit.\nfunc New(limit int) *Counter { return &Counter{limit: limit} }\n")
	ms, err := grader.GenerateMutants(lab, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pick []grader.Mutant
	for _, m := range ms {
		switch m.Desc {
		case "`c.n < c.limit` → `c.n <= c.limit`", "drop `c.hits = 0`", "drop `c.hits++`":
			pick = append(pick, m)
		}
	}
	if len(pick) != 3 {
		t.Fatalf("picked %d mutants", len(pick))
	}
	var equiv string
	for _, m := range pick {
		if m.Desc == "drop `c.hits = 0`" {
			equiv = m.ID
		}
	}
	lab.Equivalent = map[string]string{equiv: "hits is never read", "counter.go:Gone:drop:00000000": "stale"}
	// An unreachable mark explains a survivor but leaves it one; a mark on a
	// mutant a test kills is wrong.
	for _, m := range pick {
		switch m.Desc {
		case "drop `c.hits++`", "`c.n < c.limit` → `c.n <= c.limit`":
			mapSet(&lab.Unreachable, m.ID, "no test reads hits")
		}
	}
	var progress int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := grader.Mutate(ctx, g, lab, pick, grader.MutateOptions{Parallel: 2, Progress: func(done, total int, r grader.MutantResult) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, r := range rep.Results {
		verdicts[r.Desc] = r.Verdict
	}
	want := map[string]string{
		"`c.n < c.limit` → `c.n <= c.limit`": grader.Killed,
		"drop `c.hits = 0`":                  grader.Equivalent,
		"drop `c.hits++`":                    grader.Survived,
	}
	for d, v := range want {
		if verdicts[d] != v {
			t.Errorf("%s: %s, want %s", d, verdicts[d], v)
		}
	}
	if progress != 3 || rep.Killed != 1 || rep.Survived != 1 || rep.Equivalent != 1 || rep.Score() != 50 {
		t.Errorf("progress %d, report %+v, score %.1f", progress, rep, rep.Score())
	}
	if !slices.Equal(rep.Stale, []string{"counter.go:Gone:drop:00000000"}) {
		t.Errorf("Stale = %q", rep.Stale)
	}
	for _, r := range rep.Results {
		if r.Desc == "drop `c.hits++`" && r.Reason != "no test reads hits" {
			t.Errorf("survivor marked unreachable: reason %q", r.Reason)
		}
		if r.Desc == "`c.n < c.limit` → `c.n <= c.limit`" && !slices.Equal(rep.MarkedButKilled, []string{r.ID}) {
			t.Errorf("MarkedButKilled = %q, want the killed mutant %s marked unreachable", rep.MarkedButKilled, r.ID)
		}
	}
}

func mapSet(m *map[string]string, k, v string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
}

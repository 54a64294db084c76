package grader

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// Verdicts of a graded mutant.
const (
	Killed     = "killed"     // some test fails: the tests see the change
	Survived   = "survived"   // full marks: a missing test, an equivalent mutant not yet marked, or one marked unreachable
	Equivalent = "equivalent" // full marks, and equivalent.yaml says why no test can see it
	Stillborn  = "stillborn"  // does not compile; not graded (or graded build_failed)
)

// MutantResult is a graded mutant.
type MutantResult struct {
	Mutant
	Verdict  string
	KilledBy []string // tests that did not pass, when killed
	Reason   string   // equivalent.yaml's reason (equivalent or unreachable), or why it did not compile
	Took     time.Duration
}

// MutationReport is the result of Mutate for one lab.
type MutationReport struct {
	Lab     string
	Results []MutantResult // in the order of the mutants given
	// Counts by verdict.
	Killed, Survived, Equivalent, Stillborn int
	// MarkedButKilled lists equivalent.yaml ids (equivalent or unreachable)
	// whose mutant a test kills: the mark is wrong and must go.
	MarkedButKilled []string
	// Stale lists equivalent.yaml ids no generated mutant has any more.
	Stale []string
	Took  time.Duration
}

// Score is the share of non-equivalent compiling mutants that the tests
// kill, in percent (100 when there are none).
func (r *MutationReport) Score() float64 {
	n := r.Killed + r.Survived
	if n == 0 {
		return 100
	}
	return 100 * float64(r.Killed) / float64(n)
}

// MutateOptions configure Mutate.
type MutateOptions struct {
	// Parallel is how many grades run at once (default 1).
	Parallel int
	// Progress, when set, receives each mutant's result as it is graded.
	// Calls never overlap.
	Progress func(done, total int, r MutantResult)
}

// Mutate grades every mutant through g, opt.Parallel at a time, and sorts
// them into killed, survived, equivalent (survived, and marked so in the
// lab's equivalent.yaml) and stillborn (did not compile). A mutant marked
// equivalent that a test kills, and a mark no mutant matches, are reported
// so the marks stay true. It returns an error only when grading itself
// fails or ctx ends.
func Mutate(ctx context.Context, g faultline.Grader, lab *faultline.Lab, mutants []Mutant, opt MutateOptions) (*MutationReport, error) {
	start := time.Now()
	par := max(opt.Parallel, 1)
	rep := &MutationReport{Lab: lab.Slug, Results: make([]MutantResult, len(mutants))}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		mu       sync.Mutex
		firstErr error
		done     int
		wg       sync.WaitGroup
	)
	finish := func(i int, r MutantResult) {
		mu.Lock()
		defer mu.Unlock()
		rep.Results[i] = r
		done++
		if opt.Progress != nil {
			opt.Progress(done, len(mutants), r)
		}
	}
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				m := mutants[i]
				if m.Broken != "" {
					finish(i, MutantResult{Mutant: m, Verdict: Stillborn, Reason: m.Broken})
					continue
				}
				t0 := time.Now()
				res, err := g.Grade(ctx, lab, m.Files)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("mutate lab %q: grade mutant %s: %w", lab.Slug, m.ID, err)
					}
					mu.Unlock()
					cancel()
					continue
				}
				finish(i, judgeMutant(lab, m, res, time.Since(t0)))
			}
		}()
	}
feed:
	for i := range mutants {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mutate lab %q: %w", lab.Slug, err)
	}
	ids := map[string]bool{}
	for _, r := range rep.Results {
		ids[r.ID] = true
		switch r.Verdict {
		case Killed:
			rep.Killed++
			if lab.Equivalent[r.ID] != "" || lab.Unreachable[r.ID] != "" {
				rep.MarkedButKilled = append(rep.MarkedButKilled, r.ID)
			}
		case Survived:
			rep.Survived++
		case Equivalent:
			rep.Equivalent++
		case Stillborn:
			rep.Stillborn++
		}
	}
	for _, marks := range []map[string]string{lab.Equivalent, lab.Unreachable} {
		for id := range marks {
			if !ids[id] {
				rep.Stale = append(rep.Stale, id)
			}
		}
	}
	sort.Strings(rep.Stale)
	sort.Strings(rep.MarkedButKilled)
	rep.Took = time.Since(start)
	return rep, nil
}

// judgeMutant sorts one graded mutant.
func judgeMutant(lab *faultline.Lab, m Mutant, res *faultline.Result, took time.Duration) MutantResult {
	r := MutantResult{Mutant: m, Took: took}
	switch {
	case res.Status == faultline.StatusBuildFailed:
		r.Verdict, r.Reason = Stillborn, firstLines(res.Output, res.Message)
	case res.Score >= lab.MaxScore() && res.Status == faultline.StatusGraded:
		r.Verdict = Survived
		if why := lab.Equivalent[m.ID]; why != "" {
			r.Verdict, r.Reason = Equivalent, why
		} else if why := lab.Unreachable[m.ID]; why != "" {
			r.Reason = why // still a survivor; the mark explains it
		}
	default:
		r.Verdict = Killed
		for _, t := range res.Tests {
			if t.Status != faultline.TestPass {
				r.KilledBy = append(r.KilledBy, t.Name)
			}
		}
		if len(r.KilledBy) == 0 {
			r.KilledBy = []string{string(res.Status)}
		}
	}
	return r
}

package grader

import (
	"context"
	"fmt"
	"sort"

	"github.com/faultline-dev/faultline"
)

// CheckRow is the outcome of grading one variant of a lab (solution, starter
// or a mutant) several times.
type CheckRow struct {
	Variant  string // "solution", "starter" or "mutant <name>"
	Score    int    // of the first run
	MaxScore int
	Status   faultline.ResultStatus // of the first run
	Stable   bool                   // every run gave the same status and per-test verdicts
	OK       bool
	Reason   string // why not OK, or what was checked
}

// CheckReport is the result of Check.
type CheckReport struct {
	Lab  string
	Runs int
	Rows []CheckRow
	OK   bool // every row OK
}

// Check grades the lab's solution, starter and every mutant runs times
// through g (the path learners' submissions take) and reports whether the lab
// is sound: the solution scores full marks, the starter and every mutant
// score less, and every variant's verdicts are identical across runs. runs
// below 1 means 1. It returns an error only when grading itself fails (for
// example EUNAVAILABLE when the engine is down); an unsound lab is a report
// with OK false.
func Check(ctx context.Context, g faultline.Grader, lab *faultline.Lab, runs int) (*CheckReport, error) {
	if runs < 1 {
		runs = 1
	}
	rep := &CheckReport{Lab: lab.Slug, Runs: runs, OK: true}
	type variant struct {
		name  string
		files []faultline.File
		full  bool // must score full marks
	}
	vs := []variant{{"solution", lab.Solution, true}, {"starter", lab.Starter, false}}
	names := make([]string, 0, len(lab.Mutants))
	for n := range lab.Mutants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vs = append(vs, variant{"mutant " + n, lab.Mutants[n], false})
	}
	max := lab.MaxScore()
	for _, v := range vs {
		row := CheckRow{Variant: v.name, MaxScore: max, Stable: true}
		var first string
		for i := 0; i < runs; i++ {
			r, err := g.Grade(ctx, lab, v.files)
			if err != nil {
				return nil, fmt.Errorf("check lab %q: grade %s (run %d): %w", lab.Slug, v.name, i+1, err)
			}
			sig := signature(r)
			if i == 0 {
				first = sig
				row.Score, row.Status = r.Score, r.Status
			} else if sig != first {
				row.Stable = false
			}
		}
		switch {
		case v.full && (row.Score != max || row.Status != faultline.StatusGraded):
			row.Reason = fmt.Sprintf("the solution must score full marks (%d) with status graded; it scored %d (%s)", max, row.Score, row.Status)
		case !v.full && row.Score >= max:
			row.Reason = fmt.Sprintf("must score below full marks (%d); the tests do not catch it", max)
		case !row.Stable:
			row.Reason = fmt.Sprintf("verdicts differ across %d runs (a flaky test or a limit too tight)", runs)
		default:
			row.OK = true
			if v.full {
				row.Reason = "full marks"
			} else {
				row.Reason = "caught"
			}
		}
		if !row.OK {
			rep.OK = false
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// signature summarizes the verdicts of a result for comparing runs.
func signature(r *faultline.Result) string {
	s := fmt.Sprintf("%s %d", r.Status, r.Score)
	for _, t := range r.Tests {
		s += " " + t.Name + "=" + string(t.Status)
	}
	return s
}

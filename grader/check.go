package grader

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// DefaultCheckRuns is how many times CheckWith grades each variant unless
// told otherwise: a verdict that flips in five runs is a flaky test.
const DefaultCheckRuns = 5

// CheckRow is the outcome of grading one variant of a lab (solution, starter
// or a mutant) several times.
type CheckRow struct {
	Variant  string // "solution", "starter" or "mutant <name>"
	Score    int    // of the first run
	MaxScore int
	Status   faultline.ResultStatus // of the first run
	Runs     int                    // how many times it was graded
	Stable   bool                   // every run gave the same status and per-test verdicts
	OK       bool
	Reason   string // why not OK, or what was checked, in one line
	// Caught lists the tests that did not pass in the first run, for the
	// starter and mutants ("TestX (hidden)").
	Caught []string
	// Details explains a failure in the author's terms, one item per
	// line: which test failed and why, how runs differed, the compiler's
	// message with paths named as in the lab folder.
	Details []string
	// PerGrade is the mean wall time of one grade of this variant.
	PerGrade time.Duration
	// Parts are the first run's scores per part, for a lab with parts.
	Parts []faultline.PartScore
}

// CheckReport is the result of Check.
type CheckReport struct {
	Lab  string
	Runs int
	Rows []CheckRow
	OK   bool // every row OK
}

// CheckOptions configure CheckWith. Zero values mean the defaults.
type CheckOptions struct {
	// Runs is how many times each variant is graded (default
	// DefaultCheckRuns); every run must give the same verdicts.
	Runs int
	// Parallel is how many grades run at once (default 1).
	Parallel int
	// Progress, when set, receives each variant's row as soon as all its
	// runs are graded, in the order variants finish. Calls never overlap.
	Progress func(CheckRow)
}

// Check grades the lab's solution, starter and every mutant runs times,
// one grade at a time; see CheckWith.
func Check(ctx context.Context, g faultline.Grader, lab *faultline.Lab, runs int) (*CheckReport, error) {
	return CheckWith(ctx, g, lab, CheckOptions{Runs: runs})
}

// checkVariant is one thing CheckWith grades.
type checkVariant struct {
	name  string // row name
	dir   string // its folder in the lab, for compiler messages
	files []faultline.File
	full  bool // must score full marks
	own   map[string]bool
}

// CheckWith grades the lab's solution, starter and every mutant opt.Runs
// times through g (the path learners' submissions take), opt.Parallel grades
// at a time, and reports whether the lab is sound: the solution scores full
// marks, the starter and every mutant score less, nothing fails to compile
// (the compiler's message is in the row), and every variant's verdicts are
// identical across runs. It returns an error only when grading itself fails
// (for example EUNAVAILABLE when the engine is down) or ctx ends; an unsound
// lab is a report with OK false.
func CheckWith(ctx context.Context, g faultline.Grader, lab *faultline.Lab, opt CheckOptions) (*CheckReport, error) {
	runs := opt.Runs
	if runs < 1 {
		runs = DefaultCheckRuns
	}
	par := opt.Parallel
	if par < 1 {
		par = 1
	}
	vs := []checkVariant{
		{name: "solution", dir: "solution", files: lab.Solution, full: true},
		{name: "starter", dir: "starter", files: lab.Starter},
	}
	names := make([]string, 0, len(lab.Mutants))
	for n := range lab.Mutants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vs = append(vs, checkVariant{name: "mutant " + n, dir: "mutants/" + n, files: lab.Mutants[n], own: overlaid(lab.Solution, lab.Mutants[n])})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([][]*faultline.Result, len(vs))
	for i := range results {
		results[i] = make([]*faultline.Result, runs)
	}
	type job struct{ v, run int }
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		firstErr error
		left     = make([]int, len(vs))
		rows     = make([]CheckRow, len(vs))
		wg       sync.WaitGroup
	)
	for i := range left {
		left[i] = runs
	}
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				v := vs[j.v]
				r, err := g.Grade(ctx, lab, v.files)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("check lab %q: grade %s (run %d): %w", lab.Slug, v.name, j.run+1, err)
					}
					cancel()
					mu.Unlock()
					continue
				}
				results[j.v][j.run] = r
				left[j.v]--
				done := left[j.v] == 0 && firstErr == nil
				if done {
					rows[j.v] = judge(lab, v, results[j.v])
					if opt.Progress != nil {
						opt.Progress(rows[j.v])
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for v := range vs {
		for run := 0; run < runs; run++ {
			select {
			case jobs <- job{v, run}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check lab %q: %w", lab.Slug, err)
	}
	rep := &CheckReport{Lab: lab.Slug, Runs: runs, OK: true, Rows: rows}
	for _, row := range rows {
		if !row.OK {
			rep.OK = false
		}
	}
	return rep, nil
}

// overlaid returns the paths where a mutant's files differ from the
// solution's: the files its folder holds.
func overlaid(solution, mutant []faultline.File) map[string]bool {
	sol := map[string]string{}
	for _, f := range solution {
		sol[f.Path] = string(f.Content)
	}
	own := map[string]bool{}
	for _, f := range mutant {
		if c, ok := sol[f.Path]; !ok || c != string(f.Content) {
			own[f.Path] = true
		}
	}
	return own
}

// judge turns a variant's graded runs into its row.
func judge(lab *faultline.Lab, v checkVariant, rs []*faultline.Result) CheckRow {
	first := rs[0]
	max := lab.MaxScore()
	row := CheckRow{Variant: v.name, MaxScore: max, Score: first.Score, Status: first.Status, Runs: len(rs), Stable: true,
		Parts: lab.PartScores(first.Tests)}
	var total time.Duration
	for _, r := range rs {
		total += r.Duration
	}
	row.PerGrade = total / time.Duration(len(rs))
	flips := flipped(lab, rs)
	row.Stable = len(flips) == 0
	full := 0 // runs with full marks
	for _, r := range rs {
		if isFull(r, max) {
			full++
		}
	}
	if !v.full {
		for _, t := range first.Tests {
			if t.Status != faultline.TestPass {
				row.Caught = append(row.Caught, testLabel(lab, t.Name))
			}
		}
	}
	switch {
	case first.Status == faultline.StatusBuildFailed:
		row.Details = compilerMessage(first.Output, v)
		what := "does not compile"
		switch blame(row.Details) {
		case "hidden":
			what = "compiles, but the hidden tests (hidden/) do not compile against it"
		case "tests":
			what = "compiles, but the visible tests (tests/) do not compile against it"
		}
		row.Reason = fmt.Sprintf("%s/ %s; every variant must build, or it only tests the compiler", v.dir, what)
	case v.full && full < len(rs):
		bad := rs[0]
		for _, r := range rs {
			if !isFull(r, max) {
				bad = r
				break
			}
		}
		row.Reason = fmt.Sprintf("the solution must score full marks (%d) with status graded; it scored %d (%s)", max, bad.Score, bad.Status)
		if full > 0 {
			row.Reason += fmt.Sprintf(" in %d of %d runs", len(rs)-full, len(rs))
		}
		if bad.Status != faultline.StatusGraded && bad.Message != "" {
			row.Details = append(row.Details, "the run "+lowerFirst(strings.TrimSuffix(bad.Message, "."))+" (lab.yaml limits)")
		}
		for _, t := range bad.Tests {
			if t.Status != faultline.TestPass {
				row.Details = append(row.Details, fmt.Sprintf("%s fails on solution/: %s", testLabel(lab, t.Name), firstLines(t.Message, t.Output)))
			}
		}
	case !v.full && full == len(rs):
		if v.name == "starter" {
			row.Reason = fmt.Sprintf("the starter scores full marks (%d): no test needs the learner's work", max)
		} else {
			row.Reason = fmt.Sprintf("no test catches it: it scores full marks (%d); add a hidden test for the rule it breaks, or drop the mutant", max)
		}
	case !v.full && full > 0:
		row.Reason = fmt.Sprintf("caught in only %d of %d runs: the test that catches it depends on luck (goroutine scheduling, real time); make it deterministic", len(rs)-full, len(rs))
		row.Details = flips
	case !row.Stable:
		row.Reason = fmt.Sprintf("verdicts differ across %d runs of the same files: a flaky test (real time, goroutine scheduling, map order) or a limit too tight", len(rs))
		row.Details = flips
	default:
		row.OK = true
		if v.full {
			row.Reason = "full marks"
		} else {
			row.Reason = "caught"
		}
	}
	if !row.OK && !row.Stable && (len(row.Details) == 0 || row.Details[0] != flips[0]) {
		// Unsound for another reason and flaky too: say both.
		row.Details = append(row.Details, "and the runs differ:")
		row.Details = append(row.Details, flips...)
	}
	return row
}

func isFull(r *faultline.Result, max int) bool {
	return r.Score >= max && r.Status == faultline.StatusGraded
}

// testLabel names a test with where it lives and the rules it checks:
// "TestX (hidden; R2, R5)".
func testLabel(lab *faultline.Lab, name string) string {
	where := "visible"
	for _, t := range lab.Tests {
		if t.Name == name && t.Hidden {
			where = "hidden"
		}
	}
	var ids []string
	for _, r := range lab.Rules {
		for _, t := range r.Tests {
			if t == name {
				ids = append(ids, r.ID)
			}
		}
	}
	if len(ids) > 0 {
		where += "; " + strings.Join(ids, ", ")
	}
	return name + " (" + where + ")"
}

// flipped describes how the runs' verdicts differ, one line per test (or
// per status) that changed; nil when they agree.
func flipped(lab *faultline.Lab, rs []*faultline.Result) []string {
	var out []string
	statuses := make([]string, len(rs))
	for i, r := range rs {
		statuses[i] = string(r.Status)
	}
	if s := runsBy(statuses); len(s) > 1 {
		out = append(out, "status: "+strings.Join(s, "; "))
	}
	for ti, t := range lab.Tests {
		vals := make([]string, len(rs))
		var msg string
		for i, r := range rs {
			vals[i] = "missing"
			if ti < len(r.Tests) && r.Tests[ti].Name == t.Name {
				vals[i] = string(r.Tests[ti].Status)
				if r.Tests[ti].Status != faultline.TestPass && msg == "" {
					msg = firstLines(r.Tests[ti].Message, r.Tests[ti].Output)
				}
			}
		}
		if s := runsBy(vals); len(s) > 1 {
			line := testLabel(lab, t.Name) + ": " + strings.Join(s, "; ")
			if msg != "" {
				line += " — when it failed: " + msg
			}
			out = append(out, line)
		}
	}
	return out
}

// runsBy groups run numbers by value: ["pass in runs 1, 2, 4", "fail in run 3"].
func runsBy(vals []string) []string {
	var order []string
	by := map[string][]string{}
	for i, v := range vals {
		if _, ok := by[v]; !ok {
			order = append(order, v)
		}
		by[v] = append(by[v], fmt.Sprint(i+1))
	}
	out := make([]string, 0, len(order))
	for _, v := range order {
		runs := "run "
		if len(by[v]) > 1 {
			runs = "runs "
		}
		out = append(out, v+" in "+runs+strings.Join(by[v], ", "))
	}
	return out
}

// firstLines is the first lines of a test's failure message (or output),
// on one line.
func firstLines(msg, output string) string {
	s := strings.TrimSpace(msg)
	if s == "" {
		s = strings.TrimSpace(output)
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 3 {
		lines = lines[:3]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	s = strings.Join(lines, " / ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:299]) + "…"
	}
	return s
}

// compilerFileRE finds the file names the go command prints ("./x.go:12:3:"
// or "x.go:12:3:" at the start of a line, relative to the package folder).
var compilerFileRE = regexp.MustCompile(`(?m)^(\s*)(?:\./)?([A-Za-z0-9_./-]+\.go)(:\d+)`)

// compilerMessage returns the compiler's output with each file named by its
// folder in the lab: solution/ or the mutant's folder for learner files,
// tests/ for visible tests, hidden/ for hidden tests.
func compilerMessage(out string, v checkVariant) []string {
	var lines []string
	pkg := "lab"
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "# ") {
			pkg = "lab"
			if strings.HasPrefix(line, "# "+labs.HiddenModule) {
				pkg = "hidden"
			}
			continue
		}
		line = compilerFileRE.ReplaceAllStringFunc(line, func(m string) string {
			sm := compilerFileRE.FindStringSubmatch(m)
			name := sm[2]
			switch {
			case pkg == "hidden":
				name = "hidden/" + name
			case strings.HasSuffix(name, "_test.go"):
				name = "tests/" + name
			case v.own[name]:
				name = v.dir + "/" + name
			case strings.HasPrefix(v.dir, "mutants/"):
				name = "solution/" + name
			default:
				name = v.dir + "/" + name
			}
			return sm[1] + name + sm[3]
		})
		if strings.TrimSpace(line) != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("(%d more lines)", len(lines)-20))
	}
	if len(lines) == 0 {
		lines = []string{"(the compiler printed nothing)"}
	}
	return lines
}

// blame names the folder every located compiler error is in ("hidden",
// "tests"), or "" when errors are in learner files or unlocated.
func blame(lines []string) string {
	dir := ""
	for _, l := range lines {
		l = strings.TrimSpace(l)
		m := compilerFileRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		d, _, _ := strings.Cut(m[2], "/")
		if d != "hidden" && d != "tests" {
			return ""
		}
		if dir != "" && dir != d {
			return ""
		}
		dir = d
	}
	return dir
}

// CheckRules returns the problems with a lab's rules: a README that marks
// none, and every rule that no test checks.
func CheckRules(lab *faultline.Lab) []string {
	if len(lab.Rules) == 0 {
		return []string{fmt.Sprintf("labs/%s/README.md: marks no rules; give each rule the README states an id (**R1**, **R2**, …) and list in lab.yaml the tests that check it (tests[].rules)", lab.Slug)}
	}
	var out []string
	for _, id := range lab.UntestedRules() {
		out = append(out, fmt.Sprintf("labs/%s/lab.yaml: rule %s has no test; add it to the rules: of the tests that check it", lab.Slug, id))
	}
	return out
}

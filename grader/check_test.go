package grader_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// scripted is a faultline.Grader for fast tests of CheckWith: it answers
// from a function of the files and the call number, and records how many
// grades ran at once.
type scripted struct {
	answer func(files []faultline.File, call int) *faultline.Result

	mu              sync.Mutex
	calls, now, max int
	answering       sync.Mutex // answers one at a time, though grades overlap
}

func (s *scripted) Grade(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
	s.mu.Lock()
	s.calls++
	call := s.calls
	s.now++
	s.max = max(s.max, s.now)
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // long enough for a second worker to start
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	s.answering.Lock()
	r := s.answer(files, call)
	s.answering.Unlock()
	r.Duration = time.Millisecond
	return r, nil
}

// checkLab has two tests and two rules; its variants are told apart by
// the content of v.go.
func checkLab() *faultline.Lab {
	file := func(s string) []faultline.File { return []faultline.File{{Path: "v.go", Content: []byte(s)}} }
	return &faultline.Lab{
		Slug:  "demo",
		Tests: []faultline.LabTest{{Name: "TestA", Points: 1}, {Name: "TestB", Points: 2, Hidden: true}},
		Rules: []faultline.LabRule{
			{ID: "R1", Text: "a", Tests: []string{"TestA"}},
			{ID: "R2", Text: "b", Tests: []string{"TestB"}},
		},
		Solution: file("solution"),
		Starter:  file("starter"),
		Mutants: map[string][]faultline.File{
			"caught":   file("caught"),
			"uncaught": file("uncaught"),
			"flaky":    file("flaky"),
			"broken":   file("broken"),
			"wobbly":   file("wobbly"),
		},
	}
}

func result(status faultline.ResultStatus, a, b faultline.TestStatus, msgB string) *faultline.Result {
	r := &faultline.Result{Status: status, MaxScore: 3, Tests: []faultline.TestResult{
		{Name: "TestA", Status: a, MaxScore: 1},
		{Name: "TestB", Status: b, MaxScore: 2, Hidden: true, Message: msgB},
	}}
	if a == faultline.TestPass {
		r.Score++
	}
	if b == faultline.TestPass {
		r.Score += 2
	}
	return r
}

func TestCheckWithJudgesEachVariant(t *testing.T) {
	const pass, fail = faultline.TestPass, faultline.TestFail
	flakyRuns, wobblyRuns := 0, 0
	g := &scripted{answer: func(files []faultline.File, call int) *faultline.Result {
		switch string(files[0].Content) {
		case "solution", "uncaught":
			return result(faultline.StatusGraded, pass, pass, "")
		case "starter":
			return result(faultline.StatusGraded, fail, fail, "The test failed.")
		case "caught":
			return result(faultline.StatusGraded, pass, fail, "PROPERTY BROKEN: b holds\n  it did not\n\nSeed: 7")
		case "flaky":
			flakyRuns++
			if flakyRuns%3 == 2 {
				return result(faultline.StatusGraded, pass, pass, "")
			}
			return result(faultline.StatusGraded, fail, pass, "")
		case "wobbly":
			wobblyRuns++
			if wobblyRuns%2 == 0 {
				return result(faultline.StatusGraded, fail, pass, "")
			}
			return result(faultline.StatusGraded, pass, fail, "PROPERTY BROKEN: b holds")
		case "broken":
			r := result(faultline.StatusBuildFailed, faultline.TestNone, faultline.TestNone, "")
			r.Score = 0
			r.Output = "# faultline.dev/labs/demo [faultline.dev/labs/demo.test]\n./v.go:3:9: undefined: nope\n./v_test.go:4:2: also broken\n./other.go:1:1: in a solution file\n"
			return r
		}
		t.Errorf("unexpected files %q", files[0].Content)
		return nil
	}}
	var order []string
	rep, err := grader.CheckWith(context.Background(), g, checkLab(), grader.CheckOptions{
		Runs: 3, Parallel: 2,
		Progress: func(r grader.CheckRow) { order = append(order, r.Variant) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.calls != 7*3 {
		t.Errorf("%d grades, want 7 variants × 3 runs", g.calls)
	}
	if g.max != 2 {
		t.Errorf("at most %d grades ran at once, want 2", g.max)
	}
	if len(order) != 7 {
		t.Errorf("progress reported %q, want each of the 7 variants once", order)
	}
	if rep.OK {
		t.Errorf("report OK with an uncaught, a flaky and a broken mutant")
	}
	rows := map[string]grader.CheckRow{}
	for _, r := range rep.Rows {
		rows[r.Variant] = r
	}
	expect := func(variant string, ok bool, reason string, details ...string) {
		t.Helper()
		r := rows[variant]
		if r.OK != ok || !strings.Contains(r.Reason, reason) {
			t.Errorf("%s: OK %v, reason %q; want OK %v, reason containing %q", variant, r.OK, r.Reason, ok, reason)
		}
		all := strings.Join(r.Details, "\n")
		for _, d := range details {
			if !strings.Contains(all, d) {
				t.Errorf("%s: details lack %q:\n%s", variant, d, all)
			}
		}
	}
	expect("solution", true, "full marks")
	expect("starter", true, "caught")
	expect("mutant caught", true, "caught")
	if got := rows["mutant caught"].Caught; len(got) != 1 || got[0] != "TestB (hidden; R2)" {
		t.Errorf("mutant caught: Caught = %q, want the hidden test with its rule", got)
	}
	expect("mutant uncaught", false, "no test catches it")
	// Which run passes depends on which grade finished first; the line
	// names the test, its rule and both verdicts with their runs.
	expect("mutant flaky", false, "caught in only 2 of 3 runs", "TestA (visible; R1): ", "fail in runs ", "pass in run ")
	expect("mutant wobbly", false, "verdicts differ across 3 runs of the same files",
		"TestA (visible; R1): ", "TestB (hidden; R2): ", "when it failed: PROPERTY BROKEN: b holds")
	expect("mutant broken", false, "mutants/broken/ does not compile",
		"mutants/broken/v.go:3:9: undefined: nope", "tests/v_test.go:4:2: also broken", "solution/other.go:1:1")
	if rows["mutant flaky"].Stable || !rows["mutant caught"].Stable {
		t.Errorf("Stable flags wrong: %+v", rep.Rows)
	}
}

func TestCheckWithExplainsFailingSolution(t *testing.T) {
	lab := checkLab()
	lab.Mutants = nil
	g := &scripted{answer: func(files []faultline.File, call int) *faultline.Result {
		if string(files[0].Content) == "solution" {
			return result(faultline.StatusGraded, faultline.TestPass, faultline.TestFail, "PROPERTY BROKEN: b holds\n  it did not\n\nSeed: 7")
		}
		return result(faultline.StatusGraded, faultline.TestPass, faultline.TestPass, "")
	}}
	rep, err := grader.CheckWith(context.Background(), g, lab, grader.CheckOptions{Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	sol, starter := rep.Rows[0], rep.Rows[1]
	if sol.OK || !strings.Contains(strings.Join(sol.Details, "\n"), "TestB (hidden; R2) fails on solution/: PROPERTY BROKEN: b holds / it did not") {
		t.Errorf("solution row %+v", sol)
	}
	if starter.OK || !strings.Contains(starter.Reason, "the starter scores full marks") {
		t.Errorf("starter row %+v", starter)
	}
}

func TestCheckRules(t *testing.T) {
	lab := checkLab()
	if p := grader.CheckRules(lab); len(p) != 0 {
		t.Errorf("CheckRules = %q for a lab whose rules all have tests", p)
	}
	lab.Rules = append(lab.Rules, faultline.LabRule{ID: "R3", Text: "c"})
	if p := grader.CheckRules(lab); len(p) != 1 || !strings.Contains(p[0], "labs/demo/lab.yaml: rule R3 has no test") {
		t.Errorf("CheckRules = %q, want R3 named", p)
	}
	lab.Rules = nil
	if p := grader.CheckRules(lab); len(p) != 1 || !strings.Contains(p[0], "README.md: marks no rules") {
		t.Errorf("CheckRules = %q, want the README named", p)
	}
}

// TestCheckDockerCompileFailures grades, through real containers, a mutant
// that does not compile and one the hidden tests cannot be built against:
// both fail the check with the compiler's message, files named by their
// folder in the lab.
func TestCheckDockerCompileFailures(t *testing.T) {
	g := MustGrader(t)
	lab := adderLab()
	// Visible tests of Add only, so renaming Mul breaks only the hidden ones.
	lab.Visible = []faultline.File{{Path: "adder_test.go", Content: []byte(strings.Split(visibleTests, "func TestMul")[0])}}
	lab.Tests = slices.DeleteFunc(lab.Tests, func(t faultline.LabTest) bool { return t.Name == "TestMul" })
	lab.Mutants = map[string][]faultline.File{
		"typo":        {{Path: "adder.go", Content: []byte(strings.Replace(solutionSrc, "return a * b", "return a * c", 1))}},
		"renamed":     {{Path: "adder.go", Content: []byte(strings.Replace(solutionSrc, "func Mul(", "func Times(", 1))}},
		"renamed-add": {{Path: "adder.go", Content: []byte(strings.Replace(solutionSrc, "func Add(", "func Plus(", 1))}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := grader.CheckWith(ctx, g, lab, grader.CheckOptions{Runs: 1, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]grader.CheckRow{}
	for _, r := range rep.Rows {
		rows[r.Variant] = r
	}
	if rep.OK {
		t.Fatalf("check passed with mutants that do not compile: %+v", rep.Rows)
	}
	typo := rows["mutant typo"]
	if typo.OK || !strings.Contains(typo.Reason, "mutants/typo/ does not compile") ||
		!strings.Contains(strings.Join(typo.Details, "\n"), "mutants/typo/adder.go:7:") ||
		!strings.Contains(strings.Join(typo.Details, "\n"), "undefined: c") {
		t.Errorf("typo row: %q / %q", typo.Reason, typo.Details)
	}
	renamed := rows["mutant renamed"]
	if renamed.OK || !strings.Contains(renamed.Reason, "the hidden tests (hidden/) do not compile against it") ||
		!strings.Contains(strings.Join(renamed.Details, "\n"), "hidden/hidden_test.go:") {
		t.Errorf("renamed row: %q / %q", renamed.Reason, renamed.Details)
	}
	renamedAdd := rows["mutant renamed-add"]
	if renamedAdd.OK || !strings.Contains(renamedAdd.Reason, "the visible tests (tests/) do not compile against it") ||
		!strings.Contains(strings.Join(renamedAdd.Details, "\n"), "tests/adder_test.go:") {
		t.Errorf("renamed-add row: %q / %q", renamedAdd.Reason, renamedAdd.Details)
	}
	if !rows["solution"].OK {
		t.Errorf("solution row %+v", rows["solution"])
	}
}

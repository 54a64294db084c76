package grader

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// HostGrader grades on the host with the go command, in the same grading
// tree the container gets, without a container: for a lab author's own
// trees (their solution and its mutants) when iterating fast, never for
// learners' code, which must only run in grading containers. Scores are
// the points of the tests that pass; a build failure scores zero. It
// implements faultline.Grader.
type HostGrader struct {
	// FailFast stops at the first failing test, which is all a mutation
	// run needs to know; scores are then lower bounds.
	FailFast bool
}

var _ faultline.Grader = HostGrader{}

// Grade runs the visible and hidden tests of lab against files with go test
// on the host. Errors mean the go command could not run at all.
func (h HostGrader) Grade(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
	start := time.Now()
	dir, err := os.MkdirTemp("", "faultline-host-")
	if err != nil {
		return nil, fmt.Errorf("host grade %q: %w", lab.Slug, err)
	}
	defer os.RemoveAll(dir)
	var src []faultline.File
	for _, f := range files {
		if f.Path != "go.mod" && !strings.HasSuffix(f.Path, "_test.go") {
			src = append(src, f)
		}
	}
	tree, err := labs.GradingTree(lab, src)
	if err != nil {
		return nil, fmt.Errorf("host grade %q: %w", lab.Slug, err)
	}
	if err := labs.WriteTree(dir, tree); err != nil {
		return nil, fmt.Errorf("host grade %q: %w", lab.Slug, err)
	}
	lim := Limits(lab)
	ctx, cancel := context.WithTimeout(ctx, lim.Time+DefaultBuildTime)
	defer cancel()
	run := func(pkgs ...string) ([]byte, string, error) {
		args := []string{"test", "-count=1", "-json", "-vet=off", "-p=1", fmt.Sprintf("-timeout=%s", lim.Time)}
		if h.FailFast {
			args = append(args, "-failfast")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
		cmd.Dir = filepath.Join(dir, "hidden")
		cmd.Env = HostGoEnv()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if _, exit := err.(*exec.ExitError); err != nil && !exit {
			return nil, "", fmt.Errorf("host grade %q: go test: %w", lab.Slug, err)
		}
		return out, stderr.String(), nil
	}
	var (
		out    []byte
		errOut string
	)
	if h.FailFast {
		// The hidden tests catch most mutants; the visible ones (a second
		// test binary to build) only run when they did not.
		if out, errOut, err = run("."); err != nil {
			return nil, err
		}
		if r := scoreHost(lab, out, errOut); r.Status == faultline.StatusGraded && allPassed(lab, r, true) {
			more, moreErr, err := run(lab.Module)
			if err != nil {
				return nil, err
			}
			out, errOut = append(out, more...), errOut+moreErr
		}
	} else if out, errOut, err = run(".", lab.Module); err != nil {
		return nil, err
	}
	res := scoreHost(lab, out, errOut)
	if ctx.Err() != nil {
		res.Status = faultline.StatusTimeLimit
		res.Message = fmt.Sprintf(msgTime, lim.Time)
	}
	res.Lab, res.Duration = lab.Slug, time.Since(start)
	return res, nil
}

// allPassed reports whether every (hidden, with hiddenOnly) test passed.
func allPassed(lab *faultline.Lab, r *faultline.Result, hiddenOnly bool) bool {
	for _, t := range r.Tests {
		if (t.Hidden || !hiddenOnly) && t.Status != faultline.TestPass {
			return false
		}
	}
	return true
}

// scoreHost turns go test -json output into a Result: one TestResult per
// lab test, in lab order.
func scoreHost(lab *faultline.Lab, out []byte, stderr string) *faultline.Result {
	status := map[string]faultline.TestStatus{}
	output := map[string]*strings.Builder{}
	var build strings.Builder
	built := true
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		var ev struct {
			Action, Test, Output, ImportPath string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			build.WriteString(sc.Text() + "\n")
			continue
		}
		switch {
		case ev.Action == "build-output":
			build.WriteString(ev.Output)
		case ev.Action == "build-fail":
			built = false
		case ev.Test == "":
			if ev.Action == "output" && strings.Contains(ev.Output, "[build failed]") {
				built = false
			}
		default:
			top, _, _ := strings.Cut(ev.Test, "/")
			if output[top] == nil {
				output[top] = &strings.Builder{}
			}
			if ev.Action == "output" && output[top].Len() < 64<<10 {
				output[top].WriteString(ev.Output)
			}
			if top == ev.Test {
				switch ev.Action {
				case "pass":
					status[top] = faultline.TestPass
				case "fail":
					status[top] = faultline.TestFail
				case "skip":
					status[top] = faultline.TestSkip
				}
			}
		}
	}
	r := &faultline.Result{Status: faultline.StatusGraded}
	if !built {
		r.Status = faultline.StatusBuildFailed
		r.Message = "Your code did not compile."
		r.Output = hostBuildOutput(build.String() + stderr)
	}
	passed := 0
	for _, t := range lab.Tests {
		tr := faultline.TestResult{Name: t.Name, Hidden: t.Hidden, MaxScore: t.Points, Status: faultline.TestNone}
		if st, ok := status[t.Name]; ok && built {
			tr.Status = st
		}
		if b := output[t.Name]; b != nil {
			tr.Output = b.String()
		}
		if tr.Status == faultline.TestPass {
			tr.Score = t.Points
			passed++
		} else {
			tr.Message = hostFailure(tr.Output)
		}
		r.MaxScore += t.Points
		r.Score += tr.Score
		r.Tests = append(r.Tests, tr)
	}
	if r.Status == faultline.StatusGraded {
		r.Message = fmt.Sprintf("%d of %d tests passed; score %d of %d.", passed, len(r.Tests), r.Score, r.MaxScore)
	}
	return r
}

// hostFailure is the headline of a failing test's output: a labkit
// "PROPERTY BROKEN" report's first lines, else the first located line.
func hostFailure(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if s := strings.TrimSpace(l); strings.HasPrefix(s, "PROPERTY BROKEN:") {
			pick := []string{s}
			for _, d := range lines[i+1:] {
				if d = strings.TrimSpace(d); d == "" || len(pick) == 3 {
					break
				}
				pick = append(pick, d)
			}
			return strings.Join(pick, "\n")
		}
	}
	for _, l := range lines {
		s := strings.TrimSpace(l)
		if s != "" && !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "--- ") {
			return s
		}
	}
	return "The test failed."
}

// hostBuildOutput makes the go command's build output on the host read like
// the grading container's: files named relative to their package folder
// (the host runs from hidden/, so the lab's files appear as ../lab/x.go),
// and each message once (both test binaries report a broken lab package).
func hostBuildOutput(out string) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.ReplaceAll(line, "../lab/", "./")
		if strings.TrimSpace(line) == "" || seen[line] {
			continue
		}
		seen[line] = true
		b.WriteString(line + "\n")
	}
	return b.String()
}

package labs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// These tests grade each lab's solution, starter and mutants on the host, in
// the grading tree the grader builds inside its container (no Docker here):
//
//	lab/     learner files minus go.mod and *_test.go, the synthesized go.mod, tests/*
//	hidden/  go.mod requiring the lab module with a replace to ../lab, hidden/*

// outcome is what one grading run saw: the last action of every top-level test.
type outcome struct {
	status map[string]string // test name → "pass", "fail", "skip"
	output string            // go test's non-JSON output (build errors)
}

// failed lists the tests that did not pass, sorted.
func (o outcome) failed(tests []faultline.LabTest, hiddenOnly bool) []string {
	var out []string
	for _, t := range tests {
		if (!hiddenOnly || t.Hidden) && o.status[t.Name] != "pass" {
			out = append(out, t.Name)
		}
	}
	sort.Strings(out)
	return out
}

// gradeOnHost writes the grading tree for files into a temp dir, runs the
// visible and hidden tests with go test -json and returns every test's status.
// With visible false only the hidden tests are built and run.
func gradeOnHost(t *testing.T, lab *faultline.Lab, files []faultline.File, visible bool) outcome {
	t.Helper()
	root := t.TempDir()
	write := func(dir string, f faultline.File) {
		p := filepath.Join(root, dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if f.Path == "go.mod" || strings.HasSuffix(f.Path, "_test.go") {
			continue
		}
		write("lab", f)
	}
	write("lab", faultline.File{Path: "go.mod", Content: []byte("module " + lab.Module + "\n\ngo 1.22\n")})
	for _, f := range lab.Visible {
		write("lab", f)
	}
	write("hidden", faultline.File{Path: "go.mod", Content: []byte("module faultline.local/hidden\n\ngo 1.22\n\nrequire " +
		lab.Module + " v0.0.0\n\nreplace " + lab.Module + " => ../lab\n")})
	for _, f := range lab.Hidden {
		write("hidden", f)
	}

	// One go command tests the hidden module's package and, when visible is
	// set, the lab module's package (reached through the replace directive).
	o := outcome{status: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"test", "-count=1", "-json", "-vet=off", "-timeout=60s", "."}
	if visible {
		args = append(args, lab.Module)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Join(root, "hidden")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("go test timed out")
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run go test: %v", err)
	}
	o.output = stderr.String()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Action string
			Test   string
			Output string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			o.output += sc.Text() + "\n"
			continue
		}
		if ev.Action == "build-output" {
			o.output += ev.Output
		}
		if ev.Test == "" || strings.Contains(ev.Test, "/") {
			continue
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			o.status[ev.Test] = ev.Action
		}
	}
	return o
}

func TestLabsOnHost(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to verify labs: %v", err)
	}
	c, err := Load(FS)
	if err != nil {
		t.Fatalf("Load(FS): %v", err)
	}
	for _, lab := range c.All() {
		t.Run(lab.Slug, func(t *testing.T) {
			t.Parallel()
			t.Run("solution", func(t *testing.T) {
				t.Parallel()
				o := gradeOnHost(t, lab, lab.Solution, true)
				if failed := o.failed(lab.Tests, false); len(failed) > 0 {
					t.Fatalf("solution fails %q\n%s", failed, o.output)
				}
				if len(o.status) != len(lab.Tests) {
					t.Fatalf("solution ran %d top-level tests, lab.yaml lists %d", len(o.status), len(lab.Tests))
				}
			})
			t.Run("starter", func(t *testing.T) {
				t.Parallel()
				o := gradeOnHost(t, lab, lab.Starter, true)
				if len(o.status) != len(lab.Tests) {
					t.Fatalf("starter reported %d of %d tests; does it compile?\n%s", len(o.status), len(lab.Tests), o.output)
				}
				if len(o.failed(lab.Tests, false)) == 0 {
					t.Fatalf("starter passes every test")
				}
			})
			names := make([]string, 0, len(lab.Mutants))
			for name := range lab.Mutants {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				t.Run("mutant="+name, func(t *testing.T) {
					t.Parallel()
					o := gradeOnHost(t, lab, lab.Mutants[name], false)
					caught := o.failed(lab.Tests, true)
					if len(caught) == 0 {
						t.Fatalf("no hidden test catches mutant %s (failing: %q)\n%s", name, o.failed(lab.Tests, false), o.output)
					}
					t.Logf("mutant %s caught by hidden %s", name, strings.Join(caught, ", "))
				})
			}
		})
	}
}

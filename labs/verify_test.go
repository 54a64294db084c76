package labs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/faultline-dev/faultline"
)

// These tests grade each lab's solution, starter and mutants on the host, in
// the grading tree the grader builds inside its container (no Docker here):
//
//	lab/     learner files minus go.mod and *_test.go, the synthesized go.mod, tests/*
//	hidden/  go.mod requiring the lab module and labkit with replaces to ../lab
//	         and ../labkit, hidden/*
//	labkit/  Labkit(): labkit's go.mod and sources
//
// The go command runs with GOPROXY=off: labkit's own requirements (porcupine)
// come from the host's module cache, which has them because this repository's
// go.mod requires them too.

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
	var src []faultline.File
	for _, f := range files {
		if f.Path != "go.mod" && !strings.HasSuffix(f.Path, "_test.go") {
			src = append(src, f)
		}
	}
	tree, err := GradingTree(lab, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTree(root, tree); err != nil {
		t.Fatal(err)
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
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
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
	c, err := Load(labsUnderTest(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
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

// TestLabkitTree checks what Labkit returns: a go.mod naming the module and
// its requirements, and labkit's sources without its tests.
func TestLabkitTree(t *testing.T) {
	files := Labkit()
	var gomod string
	sources := 0
	for _, f := range files {
		switch {
		case f.Path == "go.mod":
			gomod = string(f.Content)
		case strings.HasSuffix(f.Path, "_test.go"):
			t.Errorf("Labkit() holds the test file %s", f.Path)
		case strings.Contains(f.Path, "/") || !strings.HasSuffix(f.Path, ".go"):
			t.Errorf("Labkit() holds %s; want only top-level .go files", f.Path)
		default:
			sources++
			if !bytes.HasPrefix(bytes.TrimSpace(stripComments(f.Content)), []byte("package labkit")) {
				t.Errorf("%s is not package labkit", f.Path)
			}
		}
	}
	if sources == 0 || gomod == "" {
		t.Fatalf("Labkit() has %d sources and go.mod %q", sources, gomod)
	}
	if !sort.SliceIsSorted(files, func(i, j int) bool { return files[i].Path < files[j].Path }) {
		t.Errorf("Labkit() is not sorted by path")
	}
	mf, err := modfile.Parse("labkit/go.mod", []byte(gomod), nil)
	if err != nil {
		t.Fatalf("labkit go.mod: %v\n%s", err, gomod)
	}
	if mf.Module.Mod.Path != LabkitModule || mf.Go.Version != GoVersion {
		t.Errorf("labkit go.mod: module %q go %q", mf.Module.Mod.Path, mf.Go.Version)
	}
	var reqs []module.Version
	for _, r := range mf.Require {
		reqs = append(reqs, r.Mod)
	}
	if !reflect.DeepEqual(reqs, LabkitRequires()) {
		t.Errorf("labkit go.mod requires %v, want %v", reqs, LabkitRequires())
	}
}

// stripComments drops leading // comment lines (package docs).
func stripComments(b []byte) []byte {
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		if !bytes.HasPrefix(b, []byte("//")) {
			return b
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
}

// TestLabkitRequiresMatchRepository checks that the versions labkit pins are
// the ones this repository's go.mod requires, so labkit is tested here
// against what the lab image carries.
func TestLabkitRequiresMatchRepository(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, r := range mf.Require {
		have[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range LabkitRequires() {
		if have[r.Path] != r.Version {
			t.Errorf("labkit pins %s %s; the repository's go.mod requires %q", r.Path, r.Version, have[r.Path])
		}
	}
}

// TestGoMods checks the synthesized go.mod files parse and wire labkit and
// the lab module through sibling folders.
func TestGoMods(t *testing.T) {
	check := func(name string, raw []byte, module string, replaces map[string]string) {
		t.Helper()
		mf, err := modfile.Parse(name, raw, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, raw)
		}
		if mf.Module.Mod.Path != module || mf.Go.Version != GoVersion {
			t.Errorf("%s: module %q go %q", name, mf.Module.Mod.Path, mf.Go.Version)
		}
		got := map[string]string{}
		for _, r := range mf.Replace {
			got[r.Old.Path] = r.New.Path
		}
		if !reflect.DeepEqual(got, replaces) {
			t.Errorf("%s: replaces %v, want %v", name, got, replaces)
		}
		req := map[string]bool{}
		for _, r := range mf.Require {
			req[r.Mod.Path] = true
		}
		for old := range replaces {
			if !req[old] {
				t.Errorf("%s: %s is replaced but not required", name, old)
			}
		}
		for _, r := range LabkitRequires() {
			if !req[r.Path] {
				t.Errorf("%s: does not require %s", name, r.Path)
			}
		}
	}
	check("lab go.mod", LabGoMod("example.com/labs/x"), "example.com/labs/x", map[string]string{LabkitModule: "../labkit"})
	check("hidden go.mod", HiddenGoMod(hiddenModule, "example.com/labs/x", "lab"), hiddenModule,
		map[string]string{LabkitModule: "../labkit", "example.com/labs/x": "../lab"})
}

// TestLabkitLabOnHost grades a small lab whose tests import labkit and
// porcupine through gradeOnHost: the host tree must wire labkit the way the
// grading container does.
func TestLabkitLabOnHost(t *testing.T) {
	lab := &faultline.Lab{
		Slug:   "kit",
		Module: "example.com/labs/kit",
		Tests:  []faultline.LabTest{{Name: "TestKitVisible", Points: 1}, {Name: "TestKitHidden", Points: 1, Hidden: true}},
		Visible: []faultline.File{{Path: "kit_test.go", Content: []byte(
			"package kit\n\nimport (\n\t\"testing\"\n\n\t_ \"faultline.dev/labkit\"\n)\n\n" +
				"func TestKitVisible(t *testing.T) {\n\tif Value() < 0 {\n\t\tt.Fatal(\"negative\")\n\t}\n}\n")}},
		Hidden: []faultline.File{{Path: "hidden_test.go", Content: []byte(`package hidden

import (
	"testing"

	"example.com/labs/kit"
	_ "faultline.dev/labkit"
	"github.com/anishathalye/porcupine"
)

func TestKitHidden(t *testing.T) {
	m := porcupine.Model{
		Init: func() any { return 0 },
		Step: func(state, input, output any) (bool, any) {
			if input.(int) >= 0 {
				return true, input.(int)
			}
			return output.(int) == state.(int), state
		},
	}
	h := []porcupine.Operation{
		{Input: 7, Call: 0, Return: 1},
		{Input: -1, Output: kit.Value(), Call: 2, Return: 3},
	}
	if !porcupine.CheckOperations(m, h) {
		t.Fatalf("read %d after writing 7", kit.Value())
	}
}
`)}},
	}
	for _, c := range []struct {
		value  string
		failed []string
	}{{"7", nil}, {"8", []string{"TestKitHidden"}}} {
		files := []faultline.File{{Path: "kit.go", Content: []byte("package kit\n\n// Value returns what was written.\nfunc Value() int { return " + c.value + " }\n")}}
		o := gradeOnHost(t, lab, files, true)
		if got := o.failed(lab.Tests, false); !reflect.DeepEqual(got, c.failed) || len(o.status) != 2 {
			t.Errorf("Value() = %s: failed %q (statuses %v), want %q\n%s", c.value, got, o.status, c.failed, o.output)
		}
	}
}

// labsUnderTest is the embedded catalog, or, when FAULTLINE_LABS names lab
// folders (comma-separated), just those folders read from disk: a lab being
// written can be verified before it is embedded and without the others.
func labsUnderTest(t *testing.T) fs.FS {
	t.Helper()
	only := os.Getenv("FAULTLINE_LABS")
	if only == "" {
		return FS
	}
	keep := map[string]bool{}
	for _, slug := range strings.Split(only, ",") {
		keep[strings.TrimSpace(slug)] = true
	}
	t.Logf("FAULTLINE_LABS=%s: verifying these folders from disk", only)
	return onlyDirs{os.DirFS("."), keep}
}

// onlyDirs shows the root's listing limited to the kept folders.
type onlyDirs struct {
	fs.FS
	keep map[string]bool
}

func (o onlyDirs) ReadDir(name string) ([]fs.DirEntry, error) {
	all, err := fs.ReadDir(o.FS, name)
	if err != nil || name != "." {
		return all, err
	}
	var kept []fs.DirEntry
	for _, e := range all {
		if o.keep[e.Name()] {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

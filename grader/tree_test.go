package grader

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/sandbox"
)

func testLab() *faultline.Lab {
	return &faultline.Lab{
		Slug:    "adder",
		Module:  "faultline.dev/labs/adder",
		Tests:   []faultline.LabTest{{Name: "TestAdd", Points: 2}, {Name: "TestHidden", Points: 3, Hidden: true}},
		Visible: []faultline.File{{Path: "adder_test.go", Content: []byte("package adder // lab visible")}},
		Hidden:  []faultline.File{{Path: "hidden_test.go", Content: []byte("package hidden")}},
	}
}

// MustUntar reads a tree archive into path -> content, checking headers.
func MustUntar(tb testing.TB, b []byte) map[string]string {
	tb.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 65534 || h.Gid != 65534 {
			tb.Errorf("%s: type %c mode %o uid %d gid %d; want regular 0644 65534", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
		}
		if _, err := faultline.CleanPath(h.Name); err != nil {
			tb.Errorf("unclean path in tree: %q", h.Name)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		out[h.Name] = string(body)
	}
}

func TestBuildTree(t *testing.T) {
	files := []faultline.File{
		{Path: "adder.go", Content: []byte("package adder")},
		{Path: "internal/util/util.go", Content: []byte("package util")},
		{Path: "go.mod", Content: []byte("module evil.example\n")},
		{Path: "go.sum", Content: []byte("x")},
		{Path: "adder_test.go", Content: []byte("package adder // learner's")},
		{Path: "mine_test.go", Content: []byte("package adder\nfunc TestHidden(t *testing.T) {}")},
		{Path: "sub/x_test.go", Content: []byte("package sub")},
		{Path: "vendor/a/a.go", Content: []byte("package a")},
		{Path: "testdata/t.go", Content: []byte("package t")},
		{Path: "README.md", Content: []byte("# notes")},
	}
	src, err := learnerSources(files)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := buildTree(testLab(), src)
	if err != nil {
		t.Fatal(err)
	}
	got := MustUntar(t, tree)
	want := map[string]string{
		"lab/adder.go":              "package adder",
		"lab/internal/util/util.go": "package util",
		"lab/go.mod":                string(labs.LabGoMod("faultline.dev/labs/adder")),
		"lab/adder_test.go":         "package adder // lab visible",
		"hidden/hidden_test.go":     "package hidden",
		"hidden/go.mod":             string(labs.HiddenGoMod(HiddenModule, "faultline.dev/labs/adder", "lab")),
	}
	kit := labs.Labkit()
	if len(kit) < 2 {
		t.Fatalf("labs.Labkit() = %d files", len(kit))
	}
	for _, f := range kit {
		want["labkit/"+f.Path] = string(f.Content)
	}
	if !strings.Contains(want["lab/go.mod"], "replace faultline.dev/labkit => ../labkit") ||
		!strings.Contains(want["hidden/go.mod"], "faultline.dev/labkit => ../labkit") ||
		!strings.Contains(want["hidden/go.mod"], "faultline.dev/labs/adder => ../lab\n") {
		t.Errorf("go.mod files do not wire labkit and the lab as siblings:\n%s\n%s", want["lab/go.mod"], want["hidden/go.mod"])
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s = %q, want %q", p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected file in tree: %s", p)
		}
	}
	// Same input, same bytes.
	again, _ := buildTree(testLab(), src)
	if !bytes.Equal(tree, again) {
		t.Error("buildTree is not deterministic")
	}
}

func TestLearnerSourcesRefuses(t *testing.T) {
	many := make([]faultline.File, faultline.MaxWorkspaceFiles+1)
	for i := range many {
		many[i] = faultline.File{Path: "f" + strings.Repeat("x", i) + ".go"}
	}
	big := make([]faultline.File, 0, 10)
	for i := 0; i < 10; i++ {
		big = append(big, faultline.File{Path: "b" + strings.Repeat("x", i) + ".go", Content: make([]byte, faultline.MaxFileSize)})
	}
	tests := []struct {
		name  string
		files []faultline.File
		code  string
	}{
		{"parent", []faultline.File{{Path: "../x.go"}}, faultline.EINVALID},
		{"absolute", []faultline.File{{Path: "/etc/x.go"}}, faultline.EINVALID},
		{"hidden name", []faultline.File{{Path: ".x.go"}}, faultline.EINVALID},
		{"unclean", []faultline.File{{Path: "a//x.go"}}, faultline.EINVALID},
		{"duplicate", []faultline.File{{Path: "x.go"}, {Path: "x.go"}}, faultline.EINVALID},
		{"too many", many, faultline.ETOOLARGE},
		{"file too big", []faultline.File{{Path: "x.go", Content: make([]byte, faultline.MaxFileSize+1)}}, faultline.ETOOLARGE},
		{"workspace too big", big, faultline.ETOOLARGE},
	}
	for _, tt := range tests {
		_, err := learnerSources(tt.files)
		if got := faultline.ErrorCode(err); got != tt.code {
			t.Errorf("%s: code %q (%v), want %q", tt.name, got, err, tt.code)
		}
	}
}

func TestBuildTreeBadLab(t *testing.T) {
	lab := testLab()
	lab.Module = "bad module\n"
	if _, err := buildTree(lab, nil); err == nil {
		t.Error("buildTree accepted a module path with spaces")
	}
	lab = testLab()
	lab.Hidden = []faultline.File{{Path: "../x_test.go"}}
	if _, err := buildTree(lab, nil); err == nil {
		t.Error("buildTree accepted a hidden file escaping its directory")
	}
}

func TestScanFlags(t *testing.T) {
	files := []faultline.File{
		{Path: "clean.go", Content: []byte("package a\n\nimport \"fmt\"\n\nfunc A() { fmt.Println(\"hi\") }\n")},
		{Path: "evil.go", Content: []byte(`package a

import (
	_ "embed"
	myos "os"
	"reflect"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

//go:linkname now runtime.nanotime
func now() int64

//go:embed evil.go
var self string

var _ = unsafe.Sizeof(0)
var _ = syscall.Getpid
var _ = reflect.TypeOf((*testing.T)(nil))

func B() {
	myos.Exit(0)
	runtime.Goexit()
	println("\x16--- PASS: TestX", "/proc/1/fd/1")
}
`)},
		{Path: "broken.go", Content: []byte("package a\nfunc { os.Exit(1) //go:linkname\n")},
	}
	got := scanFlags(files)
	want := []string{FlagUnsafe, FlagSyscall, FlagTesting, FlagReflect, FlagLinkname, FlagEmbed, FlagExit, FlagGoexit, FlagMarker, FlagProc}
	has := func(file, flag string) bool {
		for _, g := range got {
			if g == file+": "+flag {
				return true
			}
		}
		return false
	}
	for _, w := range want {
		if !has("evil.go", w) {
			t.Errorf("missing flag %q on evil.go; got %q", w, got)
		}
	}
	if !has("broken.go", FlagExit) || !has("broken.go", FlagLinkname) {
		t.Errorf("text fallback missed flags on broken.go: %q", got)
	}
	for _, g := range got {
		if strings.HasPrefix(g, "clean.go") {
			t.Errorf("clean file flagged: %q", g)
		}
	}
}

func TestSplitTrailers(t *testing.T) {
	out := "{\"Action\":\"output\",\"Output\":\"##faultline exit hidden 0\\n\"}\n" +
		"##faultline built\n" +
		"{\"Action\":\"pass\",\"Test\":\"TestA\"}\n" +
		"##faultline exit visible 1\n" +
		"##faultline tampered hidden\n" +
		"  ##faultline watchdog\n"
	events, sc := splitTrailers([]byte(out))
	if !sc.built || sc.watchdog {
		t.Errorf("built %v watchdog %v; want true false (an indented marker is not the script's)", sc.built, sc.watchdog)
	}
	if v := sc.bins["visible"]; !v.ran || v.exitCode != 1 {
		t.Errorf("visible trailer %+v", v)
	}
	if _, ok := sc.bins["hidden"]; ok {
		t.Error("a trailer inside a JSON output event was taken as the script's")
	}
	if len(sc.tampered) != 1 || sc.tampered[0] != "hidden" {
		t.Errorf("tampered = %q", sc.tampered)
	}
	if strings.Contains(string(events), "##faultline built") || !strings.Contains(string(events), `"Test":"TestA"`) {
		t.Errorf("events = %q", events)
	}
}

func TestVerdict(t *testing.T) {
	lab := testLab()
	lim := Limits(lab)
	pass := func(pkg, test string) string {
		return `{"Action":"pass","Package":"` + pkg + `","Test":"` + test + `"}` + "\n"
	}
	output := func(pkg, test, s string) string {
		return `{"Action":"output","Package":"` + pkg + `","Test":"` + test + `","Output":"` + s + `\n"}` + "\n"
	}
	tests := []struct {
		name   string
		run    sandbox.RunResult
		status faultline.ResultStatus
		score  int
	}{
		{"graded", sandbox.RunResult{Output: []byte("##faultline built\n" + pass("visible", "TestAdd") + "##faultline exit visible 0\n" + pass("hidden", "TestHidden") + "##faultline exit hidden 0\n")},
			faultline.StatusGraded, 5},
		{"build failed", sandbox.RunResult{ExitCode: exitBuildLab, Output: []byte("./adder.go:3:9: undefined: c\n")}, faultline.StatusBuildFailed, 0},
		{"hidden build failed", sandbox.RunResult{ExitCode: exitBuildHidden, Output: []byte("hidden_test.go:9: undefined: adder.Mul\n")}, faultline.StatusBuildFailed, 0},
		{"container timed out keeps passes", sandbox.RunResult{TimedOut: true, Output: []byte("##faultline built\n" + pass("visible", "TestAdd"))},
			faultline.StatusTimeLimit, 2},
		{"compile timed out", sandbox.RunResult{TimedOut: true, ExitCode: 137}, faultline.StatusTimeLimit, 0},
		{"watchdog", sandbox.RunResult{Output: []byte("##faultline built\n##faultline watchdog\n##faultline exit visible 137\n")}, faultline.StatusTimeLimit, 0},
		{"go test timeout", sandbox.RunResult{Output: []byte("##faultline built\n" + output("visible", "TestAdd", "panic: test timed out after 5s") + "##faultline exit visible 2\n")},
			faultline.StatusTimeLimit, 0},
		{"budget used up", sandbox.RunResult{Output: []byte("##faultline built\n" + pass("visible", "TestAdd") + "##faultline exit visible 0\n##faultline skipped hidden\n")},
			faultline.StatusTimeLimit, 2},
		{"oom flag", sandbox.RunResult{OOMKilled: true, Output: []byte("##faultline built\n")}, faultline.StatusMemoryLimit, 0},
		{"killed binary", sandbox.RunResult{Output: []byte("##faultline built\n##faultline exit visible 137\n")}, faultline.StatusMemoryLimit, 0},
		{"output", sandbox.RunResult{OutputExceeded: true, Output: []byte("##faultline built\n" + output("visible", "TestAdd", "spam"))}, faultline.StatusOutputLimit, 0},
		{"threads", sandbox.RunResult{OutputExceeded: true, Output: []byte("##faultline built\n" + output("visible", "TestAdd", "runtime: failed to create new OS thread (have 250 already; errno=11)"))},
			faultline.StatusProcessLimit, 0},
		{"fork", sandbox.RunResult{Output: []byte("##faultline built\n" + output("visible", "TestAdd", "panic: fork/exec /bin/sleep: resource temporarily unavailable") + "##faultline exit visible 2\n")},
			faultline.StatusProcessLimit, 0},
		{"disk", sandbox.RunResult{Output: []byte("##faultline built\n" + output("visible", "TestAdd", "write /tmp/x: no space left on device") + `{"Action":"fail","Package":"visible","Test":"TestAdd"}` + "\n##faultline exit visible 1\n")},
			faultline.StatusDiskLimit, 0},
		{"pattern in a passing run is not a verdict", sandbox.RunResult{Output: []byte("##faultline built\n" + output("visible", "TestAdd", "no space left on device") + pass("visible", "TestAdd") + "##faultline exit visible 0\n")},
			faultline.StatusGraded, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := verdict(lab, lim, 256, &tt.run)
			if r.Status != tt.status || r.Score != tt.score || r.MaxScore != 5 || len(r.Tests) != 2 {
				t.Errorf("got %s %d/%d (%d tests), want %s %d/5: %q", r.Status, r.Score, r.MaxScore, len(r.Tests), tt.status, tt.score, r.Message)
			}
			if r.Message == "" {
				t.Error("empty Message")
			}
			if tt.status == faultline.StatusBuildFailed && !strings.Contains(r.Output, "undefined") {
				t.Errorf("build output lost: %q", r.Output)
			}
		})
	}
}

func TestGradeScriptBudget(t *testing.T) {
	s := gradeScript
	for _, want := range []string{"read -r size budget", "-test.paniconexit0", "-test.v=test2json", "test2json -t -p $p", "exit 91", "exit 92", "kill -9 -1"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if l := Limits(&faultline.Lab{Limits: faultline.Limits{Time: 3 * time.Second}}); l.Time != 3*time.Second || l.MemoryMB != 512 || l.Pids != 256 || l.CPUs != 1 {
		t.Errorf("Limits = %+v", l)
	}
}

// TestTidyBuildLog: files are named relative to their package's folder, a
// package's errors are not repeated for its test variant, other packages'
// errors stay, and the hidden tests' go when the learner's package failed.
func TestTidyBuildLog(t *testing.T) {
	in := "go: downloading example.com/m v1.0.0\n" +
		"# faultline.dev/labs/adder\nlab/adder.go:4:12: undefined: c\n" +
		"# faultline.dev/labs/adder [faultline.dev/labs/adder.test]\nlab/adder.go:4:12: undefined: c\n" +
		"# faultline.local/hidden [faultline.local/hidden.test]\nhidden/h_test.go:9:2: undefined: adder.Sub\n\tmore about it\n"
	want := "go: downloading example.com/m v1.0.0\n" +
		"# faultline.dev/labs/adder\n./adder.go:4:12: undefined: c\n" +
		"# faultline.local/hidden [faultline.local/hidden.test]\n./h_test.go:9:2: undefined: adder.Sub\n\tmore about it\n"
	if got := string(tidyBuildLog([]byte(in), false)); got != want {
		t.Errorf("tidyBuildLog:\n%s\nwant:\n%s", got, want)
	}
	want = "go: downloading example.com/m v1.0.0\n# faultline.dev/labs/adder\n./adder.go:4:12: undefined: c\n"
	if got := string(tidyBuildLog([]byte(in), true)); got != want {
		t.Errorf("tidyBuildLog with the lab failed:\n%s\nwant:\n%s", got, want)
	}
	// The test variant's own errors (in a _test file) are kept.
	in = "# p\nlab/a.go:1:1: x\n# p [p.test]\nlab/a.go:1:1: x\nlab/a_test.go:2:2: y\n"
	if got := string(tidyBuildLog([]byte(in), true)); got != "# p\n./a.go:1:1: x\n# p [p.test]\n./a.go:1:1: x\n./a_test.go:2:2: y\n" {
		t.Errorf("a block with more errors was dropped: %q", got)
	}
}

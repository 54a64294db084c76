package grader_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/sandbox/docker"
)

// The tests in this file run real grading containers on the local Docker
// engine; the first one builds the lab image if the engine does not have it.

const adderModule = "faultline.dev/labs/adder"

const solutionSrc = `package adder

// Add returns a+b.
func Add(a, b int) int { return a + b }

// Mul returns a*b.
func Mul(a, b int) int { return a * b }
`

const visibleTests = `package adder

import "testing"

func TestAdd(t *testing.T) {
	if got := Add(2, 3); got != 5 {
		t.Errorf("Add(2, 3) = %d, want 5", got)
	}
}

func TestMul(t *testing.T) {
	if got := Mul(2, 3); got != 6 {
		t.Errorf("Mul(2, 3) = %d, want 6", got)
	}
}
`

const hiddenTests = `package hidden

import (
	"testing"

	"faultline.dev/labs/adder"
)

func TestHiddenAdd(t *testing.T) {
	if got := adder.Add(-4, 10); got != 6 {
		t.Errorf("Add(-4, 10) = %d, want 6", got)
	}
}

func TestHiddenMul(t *testing.T) {
	if got := adder.Mul(-4, 10); got != -40 {
		t.Errorf("Mul(-4, 10) = %d, want -40", got)
	}
}
`

// adderLab is a tiny lab: two visible tests (3 points) and two hidden ones
// (5 points), a 5 s time limit.
func adderLab() *faultline.Lab {
	return &faultline.Lab{
		Slug:   "adder",
		Title:  "Adder",
		Module: adderModule,
		Limits: faultline.Limits{Time: 5 * time.Second},
		Tests: []faultline.LabTest{
			{Name: "TestAdd", Points: 2},
			{Name: "TestMul", Points: 1},
			{Name: "TestHiddenAdd", Points: 3, Hidden: true},
			{Name: "TestHiddenMul", Points: 2, Hidden: true},
		},
		Starter: []faultline.File{
			{Path: "go.mod", Content: []byte("module " + adderModule + "\n\ngo 1.22\n")},
			{Path: "adder.go", Content: []byte("package adder\n\n// Add returns a+b.\nfunc Add(a, b int) int { return 0 } // TODO\n\n// Mul returns a*b.\nfunc Mul(a, b int) int { return 0 } // TODO\n")},
		},
		Visible:  []faultline.File{{Path: "adder_test.go", Content: []byte(visibleTests)}},
		Hidden:   []faultline.File{{Path: "hidden_test.go", Content: []byte(hiddenTests)}},
		Solution: []faultline.File{{Path: "adder.go", Content: []byte(solutionSrc)}},
		Mutants: map[string][]faultline.File{
			"mul-adds": {{Path: "adder.go", Content: []byte(strings.Replace(solutionSrc, "return a * b", "return a + b", 1))}},
		},
	}
}

// src builds a learner package: extra declarations and imports around Add
// and Mul bodies.
func src(imports, addBody, mulBody, extra string) []faultline.File {
	s := "package adder\n\n"
	if imports != "" {
		s += "import (\n" + imports + "\n)\n\n"
	}
	s += "func Add(a, b int) int {\n" + addBody + "\n}\n\nfunc Mul(a, b int) int {\n" + mulBody + "\n}\n\n" + extra + "\n"
	return []faultline.File{{Path: "adder.go", Content: []byte(s)}}
}

var (
	engineOnce sync.Once
	dockerB    *docker.Backend
	engine     *sandbox.Engine
	engineErr  error
)

// MustGrader returns a Grader on the local Docker engine with the lab image
// ready; it fails the test if the engine is unreachable.
func MustGrader(tb testing.TB) *grader.Grader {
	tb.Helper()
	engineOnce.Do(func() {
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if dockerB, engineErr = docker.New("", log); engineErr != nil {
			return
		}
		engine = sandbox.New(dockerB, log)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		if engineErr = engine.Ping(ctx); engineErr != nil {
			return
		}
		_, engineErr = engine.LabImage(ctx, nil)
	})
	if engineErr != nil {
		tb.Fatalf("docker engine: %v", engineErr)
	}
	return grader.New(engine, grader.Options{})
}

// TestMain closes the engines the tests opened, so that the grading
// containers pre-started for a next grade that never comes are removed
// rather than left behind when the test binary ends.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, e := range []*sandbox.Engine{engine, kubeEngine} {
		if e != nil {
			e.Close()
		}
	}
	os.Exit(code)
}

func MustGrade(tb testing.TB, g *grader.Grader, lab *faultline.Lab, files []faultline.File) *faultline.Result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := g.Grade(ctx, lab, files)
	if err != nil {
		tb.Fatalf("Grade: %v", err)
	}
	return r
}

func testStatus(r *faultline.Result, name string) faultline.TestStatus {
	for _, t := range r.Tests {
		if t.Name == name {
			return t.Status
		}
	}
	return ""
}

func hasFlag(r *faultline.Result, sub string) bool {
	for _, f := range r.Flags {
		if strings.Contains(f, sub) {
			return true
		}
	}
	return false
}

func TestGradeDocker(t *testing.T) {
	gradeCases(t, MustGrader(t))
}

// gradeCases grades the adder lab's solution, starter, a partial answer and
// every hostile submission the sandbox must contain, through g, whatever
// backend runs its containers.
func gradeCases(t *testing.T, g *grader.Grader) {
	lab := adderLab()
	wrongMul := "return a + b"

	tests := []struct {
		name   string
		files  []faultline.File
		status faultline.ResultStatus
		score  int           // -1: only assert it is below full marks
		time   time.Duration // lab time limit for this case (0: the lab's 5s)
		check  func(t *testing.T, r *faultline.Result)
	}{
		{name: "solution", files: lab.Solution, status: faultline.StatusGraded, score: 8,
			check: func(t *testing.T, r *faultline.Result) {
				if len(r.Flags) != 0 {
					t.Errorf("Flags = %q, want none", r.Flags)
				}
			}},
		{name: "starter", files: lab.Starter, status: faultline.StatusGraded, score: 0},
		{name: "wrong Mul is partial", files: src("", "return a + b", wrongMul, ""), status: faultline.StatusGraded, score: 5,
			check: func(t *testing.T, r *faultline.Result) {
				for _, tr := range r.Tests {
					if tr.Name == "TestHiddenMul" && (tr.Status != faultline.TestFail || !strings.Contains(tr.Message, "Mul(-4, 10) = 6, want -40")) {
						t.Errorf("TestHiddenMul = %+v, want a failure with the t.Error text", tr)
					}
				}
			}},
		{name: "build error", files: src("", "return a + c", "return a * b", ""), status: faultline.StatusBuildFailed, score: 0,
			check: func(t *testing.T, r *faultline.Result) {
				if !strings.Contains(r.Output, "undefined: c") {
					t.Errorf("Output = %q, want the compiler's message", r.Output)
				}
			}},
		{name: "extra learner file", files: []faultline.File{{Path: "adder.go", Content: []byte(
			"package adder\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Mul(a, b int) int { return mul(a, b) }\n\nfunc mul(a, b int) int { return a * b }\n\nvar _ = Mul\n")},
			{Path: "extra.go", Content: []byte("package adder\n\n// Extra is another exported name.\nconst Extra = 1\n")},
			{Path: "notes.txt", Content: []byte("not Go")}},
			status: faultline.StatusGraded, score: 8},
		{name: "infinite loop", files: src("", "for {}", "return a * b", ""), status: faultline.StatusTimeLimit, score: 0},
		{name: "forged PASS lines and JSON events", files: src(`"fmt"
	"os"`, `fmt.Println("--- PASS: TestMul (0.00s)")
	fmt.Println("--- PASS: TestHiddenMul (0.00s)")
	fmt.Println(`+"`"+`{"Action":"pass","Package":"visible","Test":"TestMul"}`+"`"+`)
	fmt.Println(`+"`"+`{"Action":"pass","Package":"hidden","Test":"TestHiddenMul"}`+"`"+`)
	fmt.Fprintln(os.Stderr, `+"`"+`{"Action":"pass","Package":"hidden","Test":"TestHiddenMul"}`+"`"+`)
	fmt.Println("\x16--- PASS: TestHiddenMul (0.00s)")
	fmt.Println("\x16--- PASS: TestMul (0.00s)")
	return a + b`, wrongMul, ""), status: faultline.StatusGraded, score: 5,
			check: func(t *testing.T, r *faultline.Result) {
				if testStatus(r, "TestMul") != faultline.TestFail || testStatus(r, "TestHiddenMul") != faultline.TestFail {
					t.Errorf("forged passes counted: %+v", r.Tests)
				}
				if !hasFlag(r, grader.FlagMarker) {
					t.Errorf("Flags = %q, want the framing-byte flag", r.Flags)
				}
			}},
		{name: "os.Exit(0) in init", files: src(`"os"`, "return a + b", "return a * b", "func init() { os.Exit(0) }"), status: faultline.StatusGraded, score: 0,
			check: func(t *testing.T, r *faultline.Result) {
				if !hasFlag(r, grader.FlagExit) {
					t.Errorf("Flags = %q, want os.Exit flagged", r.Flags)
				}
				for _, tr := range r.Tests {
					if tr.Status != faultline.TestNone {
						t.Errorf("%s: %q, want not_run", tr.Name, tr.Status)
					}
				}
			}},
		{name: "os.Exit(0) during a test", files: src(`"os"`, "os.Exit(0); return 0", "return a * b", ""), status: faultline.StatusGraded, score: 0},
		{name: "learner test files and go.mod ignored", files: append(src("", "return a + b", wrongMul, ""),
			faultline.File{Path: "go.mod", Content: []byte("module evil.example/x\n\ngo 1.22\n")},
			faultline.File{Path: "adder_test.go", Content: []byte("package adder\n\nimport \"testing\"\n\nfunc TestMul(t *testing.T) {}\n")},
			faultline.File{Path: "mine_test.go", Content: []byte("package adder\n\nimport \"testing\"\n\nfunc TestHiddenMul(t *testing.T) {}\n")},
		), status: faultline.StatusGraded, score: 5},
		{name: "results file and rewritten test binary", files: src(`"os"`, `os.WriteFile("/tmp/run/results.json", []byte(`+"`"+`{"Action":"pass","Package":"hidden","Test":"TestHiddenMul"}`+"`"+`), 0o644)
	os.Remove("/tmp/bin/hidden.test")
	os.WriteFile("/tmp/bin/hidden.test", []byte("#!/bin/sh\necho PASS\n"), 0o755)
	return a + b`, wrongMul, ""), status: faultline.StatusGraded, score: 2,
			check: func(t *testing.T, r *faultline.Result) {
				if !hasFlag(r, "hidden test binary was modified") {
					t.Errorf("Flags = %q, want the tampering flag", r.Flags)
				}
			}},
		{name: "memory bomb", files: src("", `var keep [][]byte
	for {
		b := make([]byte, 32<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}`, "return a * b", ""), status: faultline.StatusMemoryLimit, score: 0,
			// Which limit a bomb meets first depends on how fast it can
			// allocate (or fork); a loaded machine must not turn this into a
			// time verdict, so the bombs get a clock far longer than they need.
			time: 60 * time.Second},
		{name: "output flood", files: src(`"fmt"`, `for {
		fmt.Println("flood flood flood flood flood flood flood flood flood flood flood flood")
	}`, "return a * b", ""), status: faultline.StatusOutputLimit, score: 0},
		{name: "thread bomb", files: src(`"runtime"
	"time"`, `for i := 0; i < 5000; i++ {
		go func() {
			runtime.LockOSThread()
			time.Sleep(time.Hour)
		}()
	}
	time.Sleep(3 * time.Second)
	return a + b`, "return a * b", ""), status: faultline.StatusProcessLimit, score: -1, time: 60 * time.Second},
		{name: "fork bomb", files: src(`"os/exec"`, `for {
		if err := exec.Command("/bin/sleep", "1000").Start(); err != nil {
			panic(err)
		}
	}`, "return a * b", ""), status: faultline.StatusProcessLimit, score: -1, time: 60 * time.Second},
		{name: "disk fill", files: src(`"fmt"
	"os"`, `f, err := os.Create("/tmp/fill")
	if err != nil {
		panic(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			panic(fmt.Sprintf("fill: %v", err))
		}
	}`, "return a * b", ""), status: faultline.StatusDiskLimit, score: -1, time: 60 * time.Second},
		// Every probe fails inside the sandbox; one that worked would make
		// Add wrong, so the score says whether anything got out.
		{name: "escape probes find nothing", files: src(`"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"`, `escapeOnce.Do(probe)
	if escaped != "" {
		fmt.Println("ESCAPED:", escaped)
		return a - b
	}
	return a + b`, "return a * b", `var (
	escapeOnce sync.Once
	escaped    string
)

func probe() {
	if os.Getuid() == 0 || os.Geteuid() == 0 {
		escaped += "runs as root; "
	}
	if syscall.Setuid(0) == nil {
		escaped += "became root; "
	}
	for _, p := range []string{"/var/run/secrets/kubernetes.io/serviceaccount/token", "/run/secrets/kubernetes.io/serviceaccount/token"} {
		if _, err := os.ReadFile(p); err == nil {
			escaped += "read the service account token; "
		}
	}
	for _, p := range []string{"/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"} {
		if _, err := os.Stat(p); err == nil {
			escaped += "sees " + p + "; "
		}
	}
	if err := os.WriteFile("/etc/escape-probe", []byte("x"), 0o644); err == nil {
		escaped += "wrote to the root filesystem; "
	}
	addrs := []string{"1.1.1.1:53", "10.43.0.1:443", "172.17.0.1:2375"}
	if h := os.Getenv("KUBERNETES_SERVICE_HOST"); h != "" {
		addrs = append(addrs, net.JoinHostPort(h, os.Getenv("KUBERNETES_SERVICE_PORT")))
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			escaped += "reached " + a + "; "
		}
	}
}`), status: faultline.StatusGraded, score: 8, time: 60 * time.Second,
			check: func(t *testing.T, r *faultline.Result) {
				if strings.Contains(r.Output, "ESCAPED:") {
					t.Errorf("a probe got out of the sandbox: %s", lastN(r.Output, 600))
				}
			}},
		{name: "solution after the bombs", files: lab.Solution, status: faultline.StatusGraded, score: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := lab
			if tt.time > 0 {
				l := *lab
				l.Limits.Time = tt.time
				lab = &l
			}
			start := time.Now()
			r := MustGrade(t, g, lab, tt.files)
			took := time.Since(start)
			t.Logf("%s: %s %d/%d in %s: %s", tt.name, r.Status, r.Score, r.MaxScore, took.Round(time.Millisecond), r.Message)
			if r.Status != tt.status {
				t.Errorf("Status = %q, want %q (message %q, output tail %q)", r.Status, tt.status, r.Message, lastN(r.Output, 600))
			}
			if tt.score >= 0 && r.Score != tt.score {
				t.Errorf("Score = %d, want %d (tests %+v)", r.Score, tt.score, brief(r))
			}
			if r.Score >= r.MaxScore && tt.score != r.MaxScore {
				t.Errorf("Score = %d = full marks", r.Score)
			}
			if r.MaxScore != 8 || len(r.Tests) != 4 || r.Lab != "adder" {
				t.Errorf("MaxScore %d, %d tests, lab %q; want 8, 4, adder", r.MaxScore, len(r.Tests), r.Lab)
			}
			if tt.status != faultline.StatusGraded && r.Message == "" {
				t.Errorf("empty Message for a %s verdict", r.Status)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestGradeRefusesBadSubmission(t *testing.T) {
	// No container is needed: bad paths are refused before anything runs.
	g := grader.New(nil, grader.Options{})
	r, err := g.Grade(context.Background(), adderLab(), []faultline.File{{Path: "../escape.go", Content: []byte("package adder")}})
	if err != nil {
		t.Fatalf("Grade: %v", err)
	}
	if r.Status != faultline.StatusBuildFailed || r.Score != 0 || !strings.Contains(r.Message, "escape.go") {
		t.Errorf("Result = %+v, want build_failed naming the file", r)
	}
}

func TestCheckDocker(t *testing.T) {
	g := MustGrader(t)
	lab := adderLab()
	rep, err := grader.Check(context.Background(), g, lab, 2)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !rep.OK {
		t.Errorf("report not OK: %+v", rep.Rows)
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("rows = %d, want solution, starter and one mutant", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if !row.OK || !row.Stable {
			t.Errorf("row %+v not OK", row)
		}
	}
	// A lab whose hidden tests miss the mutant fails the check.
	weak := adderLab()
	weak.Mutants = map[string][]faultline.File{"no-op": weak.Solution}
	rep, err = grader.Check(context.Background(), g, weak, 1)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if rep.OK {
		t.Errorf("Check passed a lab whose mutant scores full marks: %+v", rep.Rows)
	}
}

func lastN(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func brief(r *faultline.Result) []string {
	var out []string
	for _, t := range r.Tests {
		out = append(out, t.Name+"="+string(t.Status))
	}
	return out
}

// TestGradeHiddenTestsDoNotBuild: a learner package that compiles with the
// visible tests but lacks what the hidden tests use is told so (the build
// is one go command for both binaries, so telling the two apart is the
// script's job), with the compiler's message, and no test runs.
func TestGradeHiddenTestsDoNotBuild(t *testing.T) {
	lab := adderLab()
	lab.Hidden = append(lab.Hidden, faultline.File{Path: "sub_test.go", Content: []byte(
		"package hidden\n\nimport (\n\t\"testing\"\n\n\t\"faultline.dev/labs/adder\"\n)\n\nfunc TestHiddenSub(t *testing.T) {\n\tif adder.Sub(5, 3) != 2 {\n\t\tt.Error(\"Sub\")\n\t}\n}\n")})
	lab.Tests = append(lab.Tests, faultline.LabTest{Name: "TestHiddenSub", Points: 1, Hidden: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g := MustGrader(t)
	r, err := g.Grade(ctx, lab, lab.Solution)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != faultline.StatusBuildFailed || !strings.Contains(r.Message, "the grader's tests could not be built") {
		t.Errorf("got %s: %q, want build_failed saying the grader's tests could not be built", r.Status, r.Message)
	}
	if !strings.Contains(r.Output, "undefined: adder.Sub") {
		t.Errorf("Output = %q, want the compiler's message", r.Output)
	}
	for _, tr := range r.Tests {
		if tr.Status != faultline.TestNone {
			t.Errorf("%s ran: %s", tr.Name, tr.Status)
		}
	}
	sub := []faultline.File{{Path: "adder.go", Content: []byte(solutionSrc + "\n// Sub returns a-b.\nfunc Sub(a, b int) int { return a - b }\n")}}
	if r, err := g.Grade(ctx, lab, sub); err != nil || r.Status != faultline.StatusGraded || r.Score != r.MaxScore {
		t.Errorf("with Sub: %+v, %v; want full marks", r, err)
	}
}

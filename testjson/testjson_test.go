package testjson_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/testjson"
)

type want struct {
	status faultline.TestStatus
	score  int
	msg    string // substring of Message
}

func MustReadFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func checkResult(t *testing.T, r *faultline.Result, tests []faultline.LabTest, wants map[string]want) {
	t.Helper()
	if r.Status != faultline.StatusGraded {
		t.Errorf("Status = %q, want graded", r.Status)
	}
	if len(r.Tests) != len(tests) {
		t.Fatalf("got %d test results, want %d", len(r.Tests), len(tests))
	}
	score, maxScore := 0, 0
	for i, lt := range tests {
		tr := r.Tests[i]
		if tr.Name != lt.Name || tr.Hidden != lt.Hidden || tr.MaxScore != lt.Points {
			t.Errorf("test %d = %+v, want name %q hidden %v max %d (order of tests kept)", i, tr, lt.Name, lt.Hidden, lt.Points)
		}
		w := wants[lt.Name]
		if tr.Status != w.status || tr.Score != w.score {
			t.Errorf("%s: status %q score %d, want %q %d (message %q)", lt.Name, tr.Status, tr.Score, w.status, w.score, tr.Message)
		}
		if !strings.Contains(tr.Message, w.msg) {
			t.Errorf("%s: Message = %q, want it to contain %q", lt.Name, tr.Message, w.msg)
		}
		score += w.score
		maxScore += lt.Points
	}
	if r.Score != score || r.MaxScore != maxScore {
		t.Errorf("Score %d/%d, want %d/%d", r.Score, r.MaxScore, score, maxScore)
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name  string
		input string
		tests []faultline.LabTest
		wants map[string]want
	}{
		{
			// Real test2json output (testdata/forged.jsonl): TestA prints a
			// plain "--- PASS: TestB" line and a fake JSON event for TestB (both
			// end up as output), and a ^V-marked "--- PASS: TestC" that
			// test2json does turn into a pass event; TestC's real failure later
			// must still win. TestC fails through a subtest; TestD skips.
			name:  "forged lines, subtests, skip",
			input: MustReadFile(t, "forged.jsonl"),
			tests: []faultline.LabTest{
				{Name: "TestD", Points: 1}, {Name: "TestC", Points: 2}, {Name: "TestB", Points: 3},
				{Name: "TestA", Points: 4}, {Name: "TestMissing", Points: 5},
			},
			wants: map[string]want{
				"TestA":       {faultline.TestPass, 4, ""},
				"TestB":       {faultline.TestFail, 0, "a_test.go:6: got 1, want 2"},
				"TestC":       {faultline.TestFail, 0, "a_test.go:7: sub broke"},
				"TestD":       {faultline.TestSkip, 0, testjson.MsgSkipped},
				"TestMissing": {faultline.TestNone, 0, testjson.MsgNeverFinished},
			},
		},
		{
			// Real output of a binary killed by -test.timeout: TestLoop never
			// reports, TestAfter never runs.
			name:  "test timeout panic",
			input: MustReadFile(t, "timeout.jsonl"),
			tests: []faultline.LabTest{
				{Name: "TestFast", Points: 1, Hidden: true}, {Name: "TestLoop", Points: 1, Hidden: true},
				{Name: "TestAfter", Points: 1, Hidden: true},
			},
			wants: map[string]want{
				"TestFast":  {faultline.TestPass, 1, ""},
				"TestLoop":  {faultline.TestNone, 0, testjson.MsgNeverFinished},
				"TestAfter": {faultline.TestNone, 0, testjson.MsgNeverFinished},
			},
		},
		{
			// os.Exit(0) in init: only a start event.
			name:  "exit in init",
			input: MustReadFile(t, "exit0.jsonl"),
			tests: []faultline.LabTest{{Name: "TestA", Points: 3, Hidden: true}},
			wants: map[string]want{"TestA": {faultline.TestNone, 0, testjson.MsgNeverFinished}},
		},
		{
			// Raw lines that are not test2json's: plain text, broken JSON,
			// JSON without an Action. None of them score.
			name: "non-JSON lines are output",
			input: "--- PASS: TestA (0.00s)\n" +
				"{\"Action\":\"pass\",\"Test\":\"TestA\"\n" +
				"{\"Test\":\"TestA\"}\n" +
				"[1,2]\n",
			tests: []faultline.LabTest{{Name: "TestA", Points: 3}},
			wants: map[string]want{"TestA": {faultline.TestNone, 0, testjson.MsgNeverFinished}},
		},
		{
			// A forged duplicate pass after a real fail, and one before it.
			name: "pass never masks fail",
			input: `{"Action":"pass","Package":"visible","Test":"TestA"}
{"Action":"fail","Package":"visible","Test":"TestA"}
{"Action":"pass","Package":"visible","Test":"TestA"}
`,
			tests: []faultline.LabTest{{Name: "TestA", Points: 3}},
			wants: map[string]want{"TestA": {faultline.TestFail, 0, testjson.MsgFailed}},
		},
		{
			// A pass event from the visible binary does not count for a hidden
			// test of the same name, and the other way round.
			name: "package must match visibility",
			input: `{"Action":"pass","Package":"visible","Test":"TestH"}
{"Action":"pass","Package":"hidden","Test":"TestV"}
{"Action":"pass","Package":"hidden","Test":"TestH2"}
`,
			tests: []faultline.LabTest{
				{Name: "TestH", Points: 1, Hidden: true}, {Name: "TestV", Points: 1},
				{Name: "TestH2", Points: 2, Hidden: true},
			},
			wants: map[string]want{
				"TestH":  {faultline.TestNone, 0, ""},
				"TestV":  {faultline.TestNone, 0, ""},
				"TestH2": {faultline.TestPass, 2, ""},
			},
		},
		{
			// A passing subtest alone does not make its parent pass.
			name:  "subtest pass is not parent pass",
			input: `{"Action":"pass","Test":"TestA/sub"}` + "\n",
			tests: []faultline.LabTest{{Name: "TestA", Points: 1}},
			wants: map[string]want{"TestA": {faultline.TestNone, 0, ""}},
		},
		{
			name:  "empty input",
			input: "",
			tests: []faultline.LabTest{{Name: "TestA", Points: 1}},
			wants: map[string]want{"TestA": {faultline.TestNone, 0, testjson.MsgNeverFinished}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testjson.Score(strings.NewReader(tt.input), tt.tests)
			checkResult(t, r, tt.tests, tt.wants)
		})
	}
}

func TestScoreOutputCaps(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"Action":"run","Test":"TestA"}` + "\n")
	line := strings.Repeat("x", 1000)
	for i := 0; i < 200; i++ { // 200 KB of test output
		b.WriteString(`{"Action":"output","Test":"TestA","Output":"` + line + `\n"}` + "\n")
	}
	b.WriteString("plain tail line\n")
	b.WriteString(`{"Action":"pass","Test":"TestA"}` + "\n")
	r := testjson.Score(strings.NewReader(b.String()), []faultline.LabTest{{Name: "TestA", Points: 1}})
	if r.Score != 1 {
		t.Errorf("Score = %d, want 1", r.Score)
	}
	if n := len(r.Tests[0].Output); n > testjson.MaxTestOutput+100 || n < testjson.MaxTestOutput {
		t.Errorf("test output is %d bytes, want about %d", n, testjson.MaxTestOutput)
	}
	if n := len(r.Output); n > testjson.MaxRunOutput+100 || n < testjson.MaxRunOutput {
		t.Errorf("run output is %d bytes, want about %d", n, testjson.MaxRunOutput)
	}
	if !strings.HasSuffix(r.Output, "plain tail line\n") {
		t.Errorf("run output does not end with the last line: %q", r.Output[len(r.Output)-40:])
	}
}

func TestScoreHugeLine(t *testing.T) {
	// A single 3 MiB line without a newline must not break reading what follows.
	in := strings.Repeat("y", 3<<20) + "\n" + `{"Action":"pass","Test":"TestA"}` + "\n"
	r := testjson.Score(strings.NewReader(in), []faultline.LabTest{{Name: "TestA", Points: 2}})
	if r.Score != 2 {
		t.Errorf("Score = %d, want 2", r.Score)
	}
}

func TestFailureMessage(t *testing.T) {
	tests := []struct{ out, want string }{
		{"=== RUN   TestX\n    x_test.go:12: want 3, got 4\n--- FAIL: TestX (0.00s)\n", "x_test.go:12: want 3, got 4"},
		{"=== RUN   TestX\nsome print\n    x_test.go:1: a\n    x_test.go:2: b\n    x_test.go:3: c\n    x_test.go:4: d\n", "x_test.go:1: a\nx_test.go:2: b\nx_test.go:3: c"},
		{"=== RUN   TestX\npanic: boom\n--- FAIL: TestX (0.00s)\n", "panic: boom"},
		{"=== RUN   TestX\n--- FAIL: TestX (0.00s)\n", testjson.MsgFailed},
		// A bare "file:line:" (t.Log of text that starts on a new line) is no message.
		{"=== RUN   TestX\n    x_test.go:9: \n        lost\n", "lost"},
		// A labkit report: the property, what happened and the seed, not
		// the log lines before it.
		{"=== RUN   TestX/seed=7\n    x_test.go:101: 244 writes\n    x_test.go:124: \n        PROPERTY BROKEN: no acknowledged write is lost\n" +
			"          read of \"k\": gone\n        \n        Faults injected:\n          at 1s: crash n1\n        Seed: 7\n        Reproduce: LABKIT_SEED=7 go test\n",
			"PROPERTY BROKEN: no acknowledged write is lost\nread of \"k\": gone\nSeed: 7"},
	}
	for _, tt := range tests {
		if got := testjson.FailureMessage(tt.out); got != tt.want {
			t.Errorf("FailureMessage(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

// TestScoreRealGoTest runs `go test -json` on a tiny package and scores it,
// so a change in the event format of the installed toolchain shows up here.
func TestScoreRealGoTest(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not found: %v", err)
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/p\n\ngo 1.22\n")
	write("p.go", "package p\n\nfunc Add(a, b int) int { return a - b }\n")
	write("p_test.go", `package p

import (
	"fmt"
	"testing"
)

func TestZero(t *testing.T) {
	fmt.Println("--- PASS: TestAdd (0.00s)")
	if Add(0, 0) != 0 {
		t.Fatal("zero")
	}
}

func TestAdd(t *testing.T) {
	t.Run("small", func(t *testing.T) {
		if got := Add(1, 2); got != 3 {
			t.Errorf("Add(1, 2) = %d, want 3", got)
		}
	})
}
`)
	cmd := exec.Command(gobin, "test", "-json", "-count=1", "-vet=off", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, _ := cmd.Output() // exits 1: a test fails
	tests := []faultline.LabTest{{Name: "TestAdd", Points: 2}, {Name: "TestZero", Points: 1}}
	r := testjson.Score(bytes.NewReader(out), tests)
	checkResult(t, r, tests, map[string]want{
		"TestAdd":  {faultline.TestFail, 0, "Add(1, 2) = -1, want 3"},
		"TestZero": {faultline.TestPass, 1, ""},
	})
}

// TestFailedRun: a failing test records the run a replay repeats from its
// events: the failing subtest and its seed, or the test itself with the
// seed of its report; nothing when no seed is known.
func TestFailedRun(t *testing.T) {
	ev := func(action, test, out string) string {
		b, _ := json.Marshal(testjson.Event{Action: action, Package: testjson.PackageHidden, Test: test, Output: out})
		return string(b) + "\n"
	}
	stream := ev("run", "TestA", "") +
		ev("output", "TestA/seed=42", "    Reproduce: LABKIT_SEED=7 go test -count=1 -run '.*' ./...\n") +
		ev("fail", "TestA/seed=42", "") + ev("fail", "TestA/seed=9", "") + ev("fail", "TestA", "") +
		ev("output", "TestB", "    Reproduce: LABKIT_SEED=5 go test -count=1 -run '^TestB$' ./...\n") + ev("fail", "TestB", "") +
		ev("output", "TestC", "plain failure\n") + ev("fail", "TestC", "") +
		ev("pass", "TestD", "")
	res := testjson.Score(strings.NewReader(stream), []faultline.LabTest{
		{Name: "TestA", Points: 1, Hidden: true}, {Name: "TestB", Points: 1, Hidden: true},
		{Name: "TestC", Points: 1, Hidden: true}, {Name: "TestD", Points: 1, Hidden: true},
	})
	for i, want := range []struct {
		run  string
		seed int64
	}{{"TestA/seed=42", 42}, {"TestB", 5}, {"", 0}, {"", 0}} {
		if got := res.Tests[i]; got.FailedRun != want.run || got.Seed != want.seed {
			t.Errorf("%s: run %q seed %d, want %q %d", got.Name, got.FailedRun, got.Seed, want.run, want.seed)
		}
	}
}

package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// kitLab is a lab whose visible tests use labkit and porcupine: the sandbox
// has no network, so both must come from the lab image.
func kitLab() *faultline.Lab {
	return &faultline.Lab{
		Slug:   "kit-lab",
		Module: "faultline.dev/labs/kit",
		Limits: faultline.Limits{Time: 30 * time.Second},
		Visible: []faultline.File{{Path: "kit_test.go", Content: []byte(`package kit

import (
	"testing"

	_ "faultline.dev/labkit"
	"github.com/anishathalye/porcupine"
)

var model = porcupine.Model{
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		if input.(int) >= 0 {
			return true, input.(int)
		}
		return output.(int) == state.(int), state
	},
}

func TestLinearizable(t *testing.T) {
	h := []porcupine.Operation{
		{Input: Value(), Call: 0, Return: 1},
		{Input: -1, Output: Value(), Call: 2, Return: 3},
	}
	if !porcupine.CheckOperations(model, h) {
		t.Fatal("not linearizable")
	}
}

func TestNotLinearizable(t *testing.T) {
	h := []porcupine.Operation{
		{Input: Value(), Call: 0, Return: 1},
		{Input: -1, Output: Value() + 1, Call: 2, Return: 3},
	}
	if !porcupine.CheckOperations(model, h) {
		t.Fatal("read returned a value never written")
	}
}
`)}},
		Tests: []faultline.LabTest{{Name: "TestLinearizable", Points: 1}, {Name: "TestNotLinearizable", Points: 1}},
	}
}

func TestManagerLabkit(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	ctx := MustContext(t, 3*time.Minute)
	lab := kitLab()
	const user = 7101
	files := []faultline.File{
		{Path: "kit.go", Content: []byte("package kit\n\n// Value returns 7.\nfunc Value() int { return 7 }\n")},
		{Path: "go.mod", Content: []byte("module faultline.dev/labs/kit\n\ngo 1.22\n")}, // an old go.mod: replaced
	}
	sb, err := m.Start(ctx, user, lab, files, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	code, out := MustExec(t, sb.ContainerID, "cat", "/work/go.mod")
	if code != 0 || out != string(labs.LabGoMod(lab.Module)) {
		t.Errorf("/work/go.mod (exit %d) = %q, want labs.LabGoMod", code, out)
	}

	res, err := m.RunTests(ctx, user, lab, nil)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if res.Status != faultline.StatusGraded || res.Score != 1 || len(res.Tests) != 2 ||
		res.Tests[0].Status != faultline.TestPass || res.Tests[1].Status != faultline.TestFail {
		t.Fatalf("RunTests: %s %d/%d %+v\n%s", res.Status, res.Score, res.MaxScore, res.Tests, res.Output)
	}

	// What a learner types in the terminal works offline too.
	code, out = MustExec(t, sb.ContainerID, "sh", "-c", "cd /work && go test ./... 2>&1; go vet ./... && echo VET-OK")
	if code != 0 || !strings.Contains(out, "--- FAIL: TestNotLinearizable") || !strings.Contains(out, "VET-OK") {
		t.Errorf("go test ./... in /work (exit %d):\n%s", code, out)
	}
}

package grader_test

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// registerLab is a lab on labkit: the visible test links labkit, the hidden
// test also checks a history for linearizability with porcupine, which the
// grading container (no network) gets from the lab image's module proxy.
func registerLab() *faultline.Lab {
	const module = "faultline.dev/labs/register"
	return &faultline.Lab{
		Slug:   "register",
		Title:  "Register",
		Module: module,
		Limits: faultline.Limits{Time: 10 * time.Second},
		Tests: []faultline.LabTest{
			{Name: "TestReadAfterWrite", Points: 1},
			{Name: "TestLinearizable", Points: 4, Hidden: true},
		},
		Visible: []faultline.File{{Path: "register_test.go", Content: []byte(`package register

import (
	"testing"

	_ "faultline.dev/labkit"
)

func TestReadAfterWrite(t *testing.T) {
	var r Register
	r.Write(3)
	if got := r.Read(); got != 3 {
		t.Fatalf("Read() = %d after Write(3)", got)
	}
}
`)}},
		Hidden: []faultline.File{{Path: "hidden_test.go", Content: []byte(`package hidden

import (
	"testing"

	_ "faultline.dev/labkit"
	"faultline.dev/labs/register"
	"github.com/anishathalye/porcupine"
)

type op struct {
	write bool
	v     int
}

var model = porcupine.Model{
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		in := input.(op)
		if in.write {
			return true, in.v
		}
		return output.(int) == state.(int), state
	},
}

func TestLinearizable(t *testing.T) {
	var r register.Register
	var history []porcupine.Operation
	now := int64(0)
	for _, v := range []int{1, 2, 3} {
		r.Write(v)
		history = append(history, porcupine.Operation{Input: op{write: true, v: v}, Call: now, Return: now + 1})
		for i := int64(0); i < 2; i++ {
			got := r.Read()
			history = append(history, porcupine.Operation{Input: op{}, Output: got, Call: now + 2 + 2*i, Return: now + 3 + 2*i})
		}
		now += 6
	}
	if !porcupine.CheckOperations(model, history) {
		t.Fatalf("history is not linearizable: %v", history)
	}
}
`)}},
	}
}

const registerSolution = `package register

// Register holds one int.
type Register struct{ v int }

// Write stores v.
func (r *Register) Write(v int) { r.v = v }

// Read returns the last value written.
func (r *Register) Read() int { return r.v }
`

func TestGradeLabkitDocker(t *testing.T) {
	g := MustGrader(t)
	lab := registerLab()

	res := MustGrade(t, g, lab, []faultline.File{{Path: "register.go", Content: []byte(registerSolution)}})
	if res.Status != faultline.StatusGraded || res.Score != 5 {
		t.Fatalf("solution: %s %d/%d: %s\n%s", res.Status, res.Score, res.MaxScore, res.Message, res.Output)
	}

	// Reads return the value before the last write, except right after it:
	// the visible test passes, the hidden linearizability check fails.
	stale := strings.Replace(registerSolution, "type Register struct{ v int }", "type Register struct{ v, old, n int }", 1)
	stale = strings.Replace(stale, "func (r *Register) Write(v int) { r.v = v }", "func (r *Register) Write(v int) { r.old, r.v, r.n = r.v, v, 0 }", 1)
	stale = strings.Replace(stale, "func (r *Register) Read() int { return r.v }",
		"func (r *Register) Read() int {\n\tr.n++\n\tif r.n > 1 {\n\t\treturn r.old\n\t}\n\treturn r.v\n}", 1)
	res = MustGrade(t, g, lab, []faultline.File{{Path: "register.go", Content: []byte(stale)}})
	if res.Status != faultline.StatusGraded || res.Score != 1 ||
		testStatus(res, "TestReadAfterWrite") != faultline.TestPass || testStatus(res, "TestLinearizable") != faultline.TestFail {
		t.Fatalf("stale register: %s %d/%d %+v: %s\n%s", res.Status, res.Score, res.MaxScore, res.Tests, res.Message, res.Output)
	}
}

package grader_test

import (
	"context"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// onlyOnGVisor multiplies correctly only where the kernel is gVisor's, which
// reports release 4.4.0; any real host kernel this runs on is newer.
const onlyOnGVisor = `package adder

import (
	"strings"
	"syscall"
)

func release() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

// Add returns a+b.
func Add(a, b int) int { return a + b }

// Mul returns a*b under gVisor and nonsense elsewhere.
func Mul(a, b int) int {
	if strings.HasPrefix(release(), "4.4.0") {
		return a * b
	}
	return a + b
}
`

// TestGradeUnderGVisor grades in containers on gVisor's runsc runtime when
// the engine has it: the learner code really runs on gVisor's kernel (it only
// passes there), and the solution and a mutant grade as they do on runc.
func TestGradeUnderGVisor(t *testing.T) {
	MustGrader(t)
	ok, err := dockerB.HasRuntime(context.Background(), "runsc")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("gVisor is not registered with this Docker engine as runsc (scripts/ensure.sh gvisor docker registers it when it starts the engine)")
	}
	g := grader.New(engine, grader.Options{Runtime: "runsc"})
	lab := adderLab()
	files := []faultline.File{{Path: "adder.go", Content: []byte(onlyOnGVisor)}}
	if r := MustGrade(t, g, lab, files); r.Status != faultline.StatusGraded || r.Score != 8 {
		t.Fatalf("on gVisor: %s %d/8: %s\n%s", r.Status, r.Score, r.Message, r.Output)
	}
	if r := MustGrade(t, MustGrader(t), lab, files); r.Score == 8 {
		t.Fatalf("the gVisor-only code scored full marks on the default runtime too: the check proves nothing")
	}
	if r := MustGrade(t, g, lab, lab.Mutants["mul-adds"]); r.Status != faultline.StatusGraded || r.Score >= 8 {
		t.Fatalf("mutant on gVisor: %s %d/8", r.Status, r.Score)
	}
}

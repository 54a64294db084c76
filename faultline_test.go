package faultline_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/faultline-dev/faultline"
)

func TestCleanPath(t *testing.T) {
	good := []string{"breaker.go", "internal/ring/ring.go", "go.mod", "a-b_c.1.go"}
	for _, p := range good {
		if got, err := faultline.CleanPath(p); err != nil || got != p {
			t.Errorf("CleanPath(%q) = %q, %v; want it unchanged", p, got, err)
		}
	}
	bad := []string{"", "/etc/passwd", "../x.go", "a/../../x.go", "a//b.go", "./a.go", "a/./b.go",
		".git/config", "a/.hidden", `a\b.go`, "a b.go", "naïve.go", "a/b/", string(make([]byte, 201))}
	for _, p := range bad {
		if _, err := faultline.CleanPath(p); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("CleanPath(%q) error code = %q, want %q", p, faultline.ErrorCode(err), faultline.EINVALID)
		}
	}
}

func TestMergeFiles(t *testing.T) {
	base := []faultline.File{{Path: "b.go", Content: []byte("base b")}, {Path: "a.go", Content: []byte("base a")}}
	saved := []faultline.File{{Path: "b.go", Content: []byte("saved b")}, {Path: "c.go", Content: []byte("saved c")}}
	got := faultline.MergeFiles(base, saved)
	want := []string{"a.go:base a", "b.go:saved b", "c.go:saved c"}
	if len(got) != len(want) {
		t.Fatalf("MergeFiles returned %d files, want %d", len(got), len(want))
	}
	for i, f := range got {
		if s := f.Path + ":" + string(f.Content); s != want[i] {
			t.Errorf("file %d = %q, want %q", i, s, want[i])
		}
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	appErr := faultline.Errorf(faultline.ENOTFOUND, "No lab %q.", "x")
	wrapped := fmt.Errorf("load lab: %w", appErr)
	internal := errors.New("disk on fire")
	tests := []struct {
		err       error
		code, msg string
	}{
		{nil, "", ""},
		{appErr, faultline.ENOTFOUND, `No lab "x".`},
		{wrapped, faultline.ENOTFOUND, `No lab "x".`},
		{internal, faultline.EINTERNAL, "Internal error."},
	}
	for _, tt := range tests {
		if got := faultline.ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if got := faultline.ErrorMessage(tt.err); got != tt.msg {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.msg)
		}
	}
}

func TestLabMaxScore(t *testing.T) {
	l := &faultline.Lab{Tests: []faultline.LabTest{{Name: "TestA", Points: 2}, {Name: "TestB", Points: 3, Hidden: true}}}
	if got := l.MaxScore(); got != 5 {
		t.Fatalf("MaxScore = %d, want 5", got)
	}
}

func TestGradeQuiz(t *testing.T) {
	quiz := []faultline.QuizQuestion{{Answer: 1}, {Answer: 3}, {Answer: 2}}
	for _, tt := range []struct {
		answers []int
		score   int
		right   []bool
	}{
		{[]int{1, 3, 2}, 3, []bool{true, true, true}},
		{[]int{1, 1, 0}, 1, []bool{true, false, false}},
		{[]int{1}, 1, []bool{true, false, false}},
		{nil, 0, []bool{false, false, false}},
		{[]int{2, 3, 2, 9}, 2, []bool{false, true, true}},
	} {
		score, right := faultline.GradeQuiz(quiz, tt.answers)
		if score != tt.score || !slices.Equal(right, tt.right) {
			t.Errorf("Grade(%v) = %d, %v; want %d, %v", tt.answers, score, right, tt.score, tt.right)
		}
	}
}

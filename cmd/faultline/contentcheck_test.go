package main

import (
	"strings"
	"testing"
)

// TestContentCheckRunsGoBlocks: the content check compiles an instructor's
// Go blocks and runs the examples, naming the page and line of each
// failure; --compile=false skips that step.
func TestContentCheckRunsGoBlocks(t *testing.T) {
	code := "## Code\n\n```go\npackage sum\n\n// Sum adds the numbers.\nfunc Sum(xs ...int) int {\n\tt := 0\n\tfor _, x := range xs[1:] {\n\t\tt += x\n\t}\n\treturn t\n}\n```\n\n" +
		"```go example\npackage sum\n\nimport \"fmt\"\n\nfunc ExampleSum() {\n\tfmt.Println(Sum(1, 2, 3))\n\t// Output: 6\n}\n```\n\n" +
		"```go fragment\ntotal := Sum(prices...)\n```\n\n"
	dir := MustContentDir(t, map[string]string{
		"lessons/sums.md":   lessonFile("sums", "order: 9\n", code+checkQuiz),
		"lessons/broken.md": lessonFile("broken", "order: 10\n", "```go\npackage broken\n\nfunc F() int { return nil }\n```\n\n"+checkQuiz),
	})
	exit, out, _ := runCLI(t, "content", "check", "--content-dir", dir)
	if exit == 0 {
		t.Fatalf("content check passed:\n%s", out)
	}
	// A compile error stops the check before examples run.
	if want := "lessons/broken.md:12: go: cannot use nil as int value in return statement"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}

	dir = MustContentDir(t, map[string]string{"lessons/sums.md": lessonFile("sums", "order: 9\n", code+checkQuiz)})
	exit, out, _ = runCLI(t, "content", "check", "--content-dir", dir)
	if want := `lessons/sums.md:29: go example: ExampleSum printed "5", want "6"`; exit == 0 || !strings.Contains(out, want) {
		t.Errorf("exit %d, output lacks %q:\n%s", exit, want, out)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 {
		t.Errorf("want exactly one problem, got %d lines:\n%s", n, out)
	}

	exit, out, errOut := runCLI(t, "content", "check", "--content-dir", dir, "--compile=false")
	if exit != 0 || !strings.Contains(out, "Go blocks not compiled") {
		t.Errorf("--compile=false: exit %d\n%s%s", exit, out, errOut)
	}
}

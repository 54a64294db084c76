package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MustContentDir writes a course folder: modules.yaml and the given files.
func MustContentDir(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	files["lessons/modules.yaml"] = "modules: [Foundations]\n"
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

const checkQuiz = "## Quiz\n\n```quiz\n" +
	"- {question: A, choices: [x, y], answer: 1, explain: e}\n" +
	"- {question: B, choices: [x, y], answer: 2, explain: e}\n" +
	"- {question: C, choices: [x, y], answer: 1, explain: e}\n" +
	"```\n"

func lessonFile(slug, front, body string) string {
	return "---\ntitle: T\nslug: " + slug + "\nmodule: Foundations\nsummary: s\n" + front + "---\n\n" + body
}

func TestContentCheckReportsLoadProblems(t *testing.T) {
	dir := MustContentDir(t, map[string]string{
		"lessons/a.md": lessonFile("a", "order: 1\n", "```diagram\nx\t--> y\n```\n\n"+checkQuiz),
		"lessons/b.md": lessonFile("b", "order: 2\n", "See [c](/lessons/c).\n\n## Quiz\n\n```quiz\n- {question: A, choices: [x], answer: 3, explain: e}\n```\n"),
		"lessons/c.md": "no front matter\n",
	})
	code, out, errOut := runCLI(t, "content", "check", "--content-dir", dir)
	if code == 0 {
		t.Fatalf("content check passed:\n%s", out)
	}
	for _, want := range []string{
		"lessons/a.md:10: diagram: line 1 of the diagram has a tab",
		"lessons/b.md:14: quiz: has 1 questions; want 3 to 5",
		"lessons/b.md:14: quiz: question 1: choices: has 1",
		"lessons/b.md:14: quiz: question 1: answer: 3 is not a choice",
		"lessons/c.md:1: front matter:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "problem") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestContentCheckCrossChecksLabs(t *testing.T) {
	dir := MustContentDir(t, map[string]string{
		"lessons/circuit-breakers.md": lessonFile("circuit-breakers", "order: 1\nlabs: [circuit-breaker, no-such-lab]\n",
			"Try [the lab](/labs/circuit-breaker) or [this one](/labs/gone#start).\n\n"+checkQuiz),
	})
	code, out, _ := runCLI(t, "content", "check", "--content-dir", dir)
	if code == 0 {
		t.Fatalf("content check passed:\n%s", out)
	}
	for _, want := range []string{
		`lessons/circuit-breakers.md: labs: unknown lab "no-such-lab"`,
		"lessons/circuit-breakers.md: body: link to /labs/gone points to no lab",
		// The built-in consistent-hashing lab names a lesson this course lacks.
		`labs/consistent-hashing/lab.yaml: lessons: unknown lesson "consistent-hashing"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/labs/circuit-breaker ") || strings.Contains(out, `"circuit-breaker"`) {
		t.Errorf("a lab that exists was reported:\n%s", out)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MustContentDir writes an instructor's course folder with the given files;
// it is layered over the built-in course.
func MustContentDir(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
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
		"lessons/a.md": lessonFile("a", "order: 11\n", "```diagram\nx\t--> y\n```\n\n"+checkQuiz),
		"lessons/b.md": lessonFile("b", "order: 12\n", "See [c](/lessons/c).\n\n## Quiz\n\n```quiz\n- {question: A, choices: [x], answer: 3, explain: e}\n```\n"),
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
	// Replaces the built-in circuit-breakers lesson with one naming a lab
	// that does not exist and linking to another.
	dir := MustContentDir(t, map[string]string{
		"lessons/circuit-breakers.md": "---\ntitle: T\nslug: circuit-breakers\nmodule: Resilience\nsummary: s\norder: 2\n" +
			"labs: [circuit-breaker, no-such-lab]\n---\n\n" +
			"Try [the lab](/labs/circuit-breaker) or [this one](/labs/gone#start).\n\n" + checkQuiz,
	})
	code, out, _ := runCLI(t, "content", "check", "--content-dir", dir)
	if code == 0 {
		t.Fatalf("content check passed:\n%s", out)
	}
	for _, want := range []string{
		`lessons/circuit-breakers.md: labs: unknown lab "no-such-lab"`,
		"lessons/circuit-breakers.md: body: link to /labs/gone points to no lab",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/labs/circuit-breaker ") || strings.Contains(out, `"circuit-breaker"`) {
		t.Errorf("a lab that exists was reported:\n%s", out)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 2 {
		t.Errorf("want exactly the 2 problems of the replaced lesson, got %d lines:\n%s", n, out)
	}
}

// TestContentDirAddsAndReplaces: an instructor's folder adds a lesson and
// replaces a built-in one, and the rest of the built-in course stays.
func TestContentDirAddsAndReplaces(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lessons/our-outage.md", lessonFile("our-outage", "order: 9\n", "What happened to us.\n\n"+checkQuiz))
	write("lessons/partial-failure.md", lessonFile("partial-failure", "order: 1\n", "Our own take.\n\n"+checkQuiz))
	cfg := DefaultConfig(func(string) string { return "" })
	cfg.ContentDir = dir
	cc, _, err := loadCatalogs(cfg)
	if err != nil {
		t.Fatalf("load with an instructor folder: %v", err)
	}
	builtIn, _, err := loadCatalogs(DefaultConfig(func(string) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cc.Lessons()), len(builtIn.Lessons())+1; got != want {
		t.Fatalf("%d lessons, want the %d built in plus one", got, want-1)
	}
	if l, err := cc.Lesson("our-outage"); err != nil || !strings.Contains(l.HTML, "What happened to us") {
		t.Fatalf("added lesson: %v", err)
	}
	if l, err := cc.Lesson("partial-failure"); err != nil || !strings.Contains(l.HTML, "Our own take") {
		t.Fatalf("replaced lesson not the instructor's: %v", err)
	}
	if _, err := cc.Lesson("consistent-hashing"); err != nil {
		t.Fatalf("built-in lesson lost: %v", err)
	}
	code, out, errOut := runCLI(t, "content", "check", "--content-dir", dir)
	if code != 0 {
		t.Fatalf("content check with an added lesson: exit %d\n%s%s", code, out, errOut)
	}
}

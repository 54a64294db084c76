package content_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
)

func TestQuizLoaded(t *testing.T) {
	c := MustLoad(t, validFS())
	l, err := c.Lesson("c-failure")
	if err != nil {
		t.Fatal(err)
	}
	want := []faultline.QuizQuestion{
		{Question: "One?", Choices: []string{"a", "b"}, Answer: 1, Explain: "Because a."},
		{Question: "Two?", Choices: []string{"a", "b", "c"}, Answer: 3, Explain: "Because c."},
		{Question: "Three?", Choices: []string{"a", "b"}, Answer: 2, Explain: "Because b."},
	}
	if len(l.Quiz) != len(want) {
		t.Fatalf("quiz = %+v", l.Quiz)
	}
	for i := range want {
		if got := l.Quiz[i]; got.Question != want[i].Question || got.Answer != want[i].Answer ||
			got.Explain != want[i].Explain || !slices.Equal(got.Choices, want[i].Choices) {
			t.Errorf("question %d = %+v, want %+v", i+1, got, want[i])
		}
	}
	if !strings.Contains(l.HTML, `id="quiz"`) || strings.Contains(l.HTML, "after") {
		t.Errorf("HTML (before the quiz) = %s", l.HTML)
	}
	if !strings.Contains(l.AfterQuiz, `id="after"`) {
		t.Errorf("AfterQuiz = %s", l.AfterQuiz)
	}
	if strings.Contains(l.HTML+l.AfterQuiz, "Because") || strings.Contains(l.HTML+l.AfterQuiz, "quiz-slot") {
		t.Errorf("quiz leaked into the body:\n%s\n%s", l.HTML, l.AfterQuiz)
	}
	if !strings.Contains(l.Text, "Text.") || strings.Contains(l.Text, "Because") {
		t.Errorf("Text = %q", l.Text)
	}
}

func TestQuizErrors(t *testing.T) {
	// The file's line 1 is the opening ---; the quiz YAML starts on line 12.
	head := "---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\n\n## Quiz\n\n```quiz\n"
	q := func(s string) string { return "- question: " + s + "\n  choices: [a, b]\n  answer: 1\n  explain: e\n" }
	tests := []struct {
		name  string
		body  string
		wants []string
	}{
		{"missing", "---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nNo quiz.\n",
			[]string{"lessons/c-failure.md: quiz: missing"}},
		{"too few", head + q("A") + q("B") + "```\n",
			[]string{"lessons/c-failure.md:12: quiz: has 2 questions; want 3 to 5"}},
		{"too many", head + strings.Repeat(q("A"), 6) + "```\n",
			[]string{"quiz: has 6 questions"}},
		{"not a list", head + "question: A\n```\n",
			[]string{"lessons/c-failure.md:12: quiz: must be a YAML list"}},
		{"bad yaml", head + "- question: [\n```\n",
			[]string{"lessons/c-failure.md:12: quiz:"}},
		{"answer out of range", head + q("A") + "- question: B\n  choices: [a, b, c]\n  answer: 4\n  explain: e\n" + q("C") + "```\n",
			[]string{"lessons/c-failure.md:16: quiz: question 2: answer: 4 is not a choice", "(1 to 3)"}},
		{"one choice", head + q("A") + q("B") + "- question: C\n  choices: [a]\n  answer: 1\n  explain: e\n```\n",
			[]string{"lessons/c-failure.md:20: quiz: question 3: choices: has 1; want 2 to 5"}},
		{"no explanation", head + q("A") + "- question: B\n  choices: [a, b]\n  answer: 1\n" + q("C") + "```\n",
			[]string{"question 2: explain: required"}},
		{"empty question", head + q("") + q("B") + q("C") + "```\n",
			[]string{"question 1: question: required"}},
		{"unknown field", head + q("A") + "- question: B\n  choices: [a, b]\n  answer: 1\n  explain: e\n  hint: h\n" + q("C") + "```\n",
			[]string{"question 2:", "hint"}},
		{"two quizzes", head + q("A") + q("B") + q("C") + "```\n\n```quiz\n" + q("D") + "```\n",
			[]string{"a second ```quiz block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := validFS()
			fsys["lessons/c-failure.md"] = &fstest.MapFile{Data: []byte(tt.body)}
			_, err := content.Load(fsys)
			if faultline.ErrorCode(err) != faultline.EINVALID {
				t.Fatalf("Load err = %v, want EINVALID", err)
			}
			for _, want := range tt.wants {
				if msg := faultline.ErrorMessage(err); !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

func TestCaseQuizOptional(t *testing.T) {
	c := MustLoad(t, validFS())
	fsys := validFS()
	fsys["cases/z-case.md"] = &fstest.MapFile{Data: []byte("---\ntitle: Z\nslug: z-case\norder: 1\nsummary: s\n---\nNo quiz here.\n")}
	c = MustLoad(t, fsys)
	z, _ := c.Lesson("z-case")
	if z.Quiz != nil || !strings.Contains(z.HTML, "No quiz here.") || z.AfterQuiz != "" {
		t.Errorf("case without quiz = %+v", z)
	}
}

func TestDiagramErrorNamesFile(t *testing.T) {
	fsys := validFS()
	fsys["lessons/c-failure.md"] = &fstest.MapFile{Data: []byte("---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\n\n```diagram\na\t--> b\n```\n\n" + testQuiz)}
	_, err := content.Load(fsys)
	if msg := faultline.ErrorMessage(err); !strings.Contains(msg, "lessons/c-failure.md:10: diagram: line 1 of the diagram has a tab") {
		t.Errorf("Load error = %v", err)
	}
}

func TestLabRefs(t *testing.T) {
	fsys := validFS()
	fsys["lessons/c-failure.md"] = &fstest.MapFile{Data: []byte("---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nTry [the lab](/labs/some-lab) and [again](/labs/some-lab#x).\n\n" + testQuiz)}
	c := MustLoad(t, fsys)
	var got []string
	for _, r := range c.LabRefs() {
		got = append(got, r.File+" "+r.Lab+" "+map[bool]string{true: "link", false: "front"}[r.Link])
	}
	want := []string{
		"lessons/d-breaker.md breaker-lab front",
		"lessons/a-ring.md ring-lab front",
		"cases/y-case.md ring-lab front",
		"lessons/c-failure.md some-lab link",
		"lessons/c-failure.md some-lab link",
	}
	if !slices.Equal(got, want) {
		t.Errorf("LabRefs =\n%q\nwant\n%q", got, want)
	}
}

package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
)

// withContent replaces the course with one loaded from fsys.
func withContent(t testing.TB, fsys fstest.MapFS) envOption {
	t.Helper()
	c, err := content.Load(fsys)
	if err != nil {
		t.Fatalf("load test content: %v", err)
	}
	return func(d *envDeps) { d.Content = c }
}

const quizMD = "```quiz\n" +
	"- question: Which is first?\n  choices: [alpha, beta]\n  answer: 1\n  explain: EXPLAIN-ONE alpha comes first.\n" +
	"- question: Which is last?\n  choices: [alpha, beta, omega]\n  answer: 3\n  explain: EXPLAIN-TWO omega ends it.\n" +
	"- question: Which is second?\n  choices: [alpha, beta]\n  answer: 2\n  explain: EXPLAIN-THREE beta follows alpha.\n" +
	"```\n"

// testCourse has one lesson with a quiz, a diagram and text that looks like
// markup, and a case study that names the circuit-breaker lab.
func testCourse() fstest.MapFS {
	return fstest.MapFS{
		"lessons/modules.yaml": {Data: []byte("modules: [Foundations]\n")},
		"lessons/greek.md": {Data: []byte("---\ntitle: Greek letters\nslug: greek\nmodule: Foundations\norder: 1\nsummary: Letters in order.\n---\n\n" +
			"## Body\n\nThe zeppelin text has `<script>alert(1)</script>` in code and more zeppelin words.\n\n" +
			"```diagram Two boxes\n+---+     +---+\n| a | --> | b |\n+---+     +---+\n```\n\n## Quiz\n\n" + quizMD + "\n## Further reading\n\nA book.\n")},
		"cases/story.md": {Data: []byte("---\ntitle: A story\nslug: story\norder: 1\nsummary: s\nlabs: [circuit-breaker]\n---\n\nA story about zeppelin fleets.\n")},
	}
}

func TestQuizGradedOnServer(t *testing.T) {
	e := MustEnv(t, withContent(t, testCourse()))
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)

	res := b.get("/lessons/greek")
	if res.status != http.StatusOK {
		t.Fatalf("lesson: %d", res.status)
	}
	if strings.Contains(res.body, "EXPLAIN-") || res.testid("quiz-correct").Length() != 0 || res.testid("quiz-verdict").Length() != 0 {
		t.Fatalf("answers or explanations in the page before submitting:\n%s", res.body)
	}
	d := res.doc()
	form := d.Find(`form[data-testid="quiz"]`)
	if action, _ := form.Attr("action"); !strings.HasPrefix(action, "/lessons/greek/quiz") {
		t.Errorf("quiz form action %q", action)
	}
	if n := form.Find(`input[type="radio"]`).Length(); n != 7 {
		t.Errorf("%d radio buttons, want 7", n)
	}
	if form.Find("input[checked]").Length() != 0 {
		t.Error("a choice is pre-selected")
	}
	// The quiz stands where the block was: after "Body", before "Further reading".
	body := res.testid("lesson-body").Text()
	if i, j, k := strings.Index(body, "zeppelin"), strings.Index(body, "Which is first?"), strings.Index(body, "Further reading"); !(i >= 0 && i < j && j < k) {
		t.Errorf("quiz not in place: body %d, quiz %d, further reading %d", i, j, k)
	}

	// Right, wrong, unanswered.
	res = b.post("/lessons/greek/quiz", url.Values{"q1": {"1"}, "q2": {"2"}})
	if res.status != http.StatusOK {
		t.Fatalf("submit: %d\n%s", res.status, res.body)
	}
	if got := res.testid("quiz-score").Text(); !strings.Contains(got, "1 of 3") {
		t.Errorf("score %q, want 1 of 3", got)
	}
	var verdicts []string
	res.testid("quiz-verdict").Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("data-right")
		verdicts = append(verdicts, v)
	})
	if strings.Join(verdicts, ",") != "true,false,false" {
		t.Errorf("verdicts %v, want true,false,false", verdicts)
	}
	if got := res.testid("quiz-explain").Text(); !strings.Contains(got, "EXPLAIN-ONE") || !strings.Contains(got, "EXPLAIN-THREE") {
		t.Errorf("explanations %q", got)
	}
	if v, _ := res.doc().Find("input[checked]").First().Attr("id"); v != "q1-1" {
		t.Errorf("first checked input %q, want the learner's choice q1-1", v)
	}
	scores, err := e.db.QuizScores(t.Context(), u.ID)
	if err != nil || scores["greek"] != (faultline.QuizScore{Best: 1, Total: 3, Attempts: 1}) {
		t.Fatalf("stored scores %+v, %v", scores, err)
	}

	// A forged answer is refused and nothing is stored.
	if res := b.post("/lessons/greek/quiz", url.Values{"q1": {"7"}}); res.status != http.StatusUnprocessableEntity {
		t.Errorf("forged answer: %d", res.status)
	}
	// Full marks, then the outline shows the best score.
	res = b.post("/lessons/greek/quiz", url.Values{"q1": {"1"}, "q2": {"3"}, "q3": {"2"}})
	if got := res.testid("quiz-score").Text(); !strings.Contains(got, "3 of 3") || !strings.Contains(got, "3/3 (best of 2 attempts)") {
		t.Errorf("score %q", got)
	}
	b.post("/lessons/greek/quiz", url.Values{"q1": {"2"}})
	out := b.get("/lessons").doc()
	if got := out.Find(`[data-slug="greek"] [data-testid="quiz-best"]`).Text(); got != "quiz 3/3" {
		t.Errorf("outline quiz badge %q, want quiz 3/3", got)
	}
	b.post("/lessons/greek/read", nil)
	out = b.get("/lessons").doc()
	if got := strings.Join(strings.Fields(out.Find(`[data-testid="module-progress"]`).First().Text()), " "); got != "1/1 read · 1 quiz taken" {
		t.Errorf("module progress %q", got)
	}
	if out.Find(`[data-slug="story"] [data-testid="quiz-best"]`).Length() != 0 {
		t.Error("quiz badge on a page without attempts")
	}
	// Another learner's progress is their own.
	other := e.MustLogin(e.MustUser("Otto Other", faultline.RoleLearner))
	if other.get("/lessons").testid("quiz-best").Length() != 0 {
		t.Error("another learner sees a quiz score")
	}
	if res := b.post("/lessons/story/quiz", url.Values{"q1": {"1"}}); res.status != http.StatusNotFound {
		t.Errorf("quiz on a page without one: %d", res.status)
	}
	if res := e.browser().post("/lessons/greek/quiz", url.Values{"q1": {"1"}}); res.status == http.StatusOK {
		t.Error("signed-out quiz submission accepted")
	}
}

func TestSearch(t *testing.T) {
	e := MustEnv(t, withContent(t, testCourse()))
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	if b.get("/lessons/greek").testid("search-box").Length() != 1 {
		t.Error("no search box in the layout")
	}
	res := b.get("/search?q=" + url.QueryEscape("alert zeppel"))
	if res.status != http.StatusOK {
		t.Fatalf("search: %d", res.status)
	}
	if strings.Contains(res.body, "<script>alert") {
		t.Fatalf("snippet not escaped:\n%s", res.body)
	}
	results := res.testid("search-result")
	if results.Length() != 1 || !strings.Contains(results.Find("a").Text(), "Greek letters") {
		t.Fatalf("results %q", results.Text())
	}
	snip := res.testid("search-snippet")
	if !strings.Contains(snip.Text(), "<script>alert(1)</script>") {
		t.Errorf("snippet text %q", snip.Text())
	}
	var marks []string
	snip.Find("mark").Each(func(_ int, s *goquery.Selection) { marks = append(marks, s.Text()) })
	if len(marks) == 0 || !strings.Contains(strings.Join(marks, " "), "zeppelin") || !strings.Contains(strings.Join(marks, " "), "alert") {
		t.Errorf("marks %q", marks)
	}
	// Labs are searched too, by their README.
	res = b.get("/search?q=breaker")
	found := false
	res.testid("search-result").Each(func(_ int, s *goquery.Selection) {
		if href, _ := s.Find("h2 a").Attr("href"); href == "/labs/circuit-breaker" {
			found = true
		}
	})
	if !found {
		t.Errorf("lab not found by search:\n%s", res.testid("search-results").Text())
	}
	if res := b.get("/search?q=nothingmatchesthis"); res.testid("search-empty").Length() != 1 {
		t.Error("no empty-result message")
	}
	if res := b.get("/search?q=" + strings.Repeat("a", 300)); res.status != http.StatusUnprocessableEntity {
		t.Errorf("overlong query: %d", res.status)
	}
}

func TestDiagramServed(t *testing.T) {
	e := MustEnv(t, withContent(t, testCourse()))
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	img := b.get("/lessons/greek").doc().Find("figure.diagram img")
	src, _ := img.Attr("src")
	if !strings.HasPrefix(src, "/diagrams/") || !strings.HasSuffix(src, ".svg") {
		t.Fatalf("diagram img src %q", src)
	}
	if alt, _ := img.Attr("alt"); alt != "Two boxes" {
		t.Errorf("alt %q", alt)
	}
	res := b.get(src)
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "image/svg+xml" ||
		res.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("diagram: %d %q nosniff=%q", res.status, res.header.Get("Content-Type"), res.header.Get("X-Content-Type-Options"))
	}
	if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script") {
		t.Errorf("diagram CSP %q", csp)
	}
	if !strings.HasPrefix(res.body, "<svg") || !strings.Contains(res.body, "</svg>") || strings.Contains(res.body, "<script") {
		t.Errorf("diagram body:\n%s", res.body)
	}
	if res := b.get("/diagrams/nope.svg"); res.status != http.StatusNotFound {
		t.Errorf("unknown diagram: %d", res.status)
	}
}

func TestPractiseLabsFromBothSides(t *testing.T) {
	e := MustEnv(t)
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	// Every lab's lab.yaml lessons get a lab card on those lessons' pages.
	for _, lab := range e.srv.d.Labs.All() {
		for _, slug := range lab.Lessons {
			l, err := e.srv.d.Content.Lesson(slug)
			if err != nil {
				continue // the content check's business
			}
			res := b.get(lessonURL(l))
			if res.doc().Find(`[data-testid="practise"] [data-testid="lab-card"][data-slug="`+lab.Slug+`"]`).Length() != 1 {
				t.Errorf("%s does not offer lab %s, whose lab.yaml names it", slug, lab.Slug)
			}
		}
	}
	// A case naming a lab only in its front matter offers it too.
	e2 := MustEnv(t, withContent(t, testCourse()))
	b2 := e2.MustLogin(e2.MustUser("Lea Learner", faultline.RoleLearner))
	if b2.get("/cases/story").doc().Find(`[data-testid="lab-card"][data-slug="circuit-breaker"]`).Length() != 1 {
		t.Error("case study does not offer the lab named in its front matter")
	}
	if b2.get("/lessons/greek").testid("practise").Length() != 0 {
		t.Error("a lesson no lab names shows a practise section")
	}
}

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCourseWalk drives a real Chromium through the course at phone width:
// the outline, a lesson with its diagram (a served SVG), the quiz graded on
// the server, the outline showing the score, search, and from a result to
// the lab that practises the lesson. Set FAULTLINE_SCREENSHOTS to a folder
// to keep screenshots of the pages.
func TestCourseWalk(t *testing.T) {
	m := MustServe(t, t.TempDir())
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	shots := os.Getenv("FAULTLINE_SCREENSHOTS")
	shot := func(name, sel string) {
		t.Helper()
		if shots == "" {
			return
		}
		png := get(b, "screenshot "+name, chromedp.Screenshot(chromedp.CSS(sel)))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing may be wider than a phone screen.
	fits := func(name string) {
		t.Helper()
		if w := get(b, name+" width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
			t.Errorf("%s is %d px wide on a 390 px screen", name, w)
		}
	}
	b.do("phone viewport", 10*time.Second, chromedp.EmulateViewport(390, 844))
	b.setupAdmin(m)

	// Outline → lesson.
	lesson := chromedp.CSS(`[data-testid="outline-item"][data-slug="circuit-breakers"] a`)
	b.do("outline", 30*time.Second,
		chromedp.Navigate(base+"/lessons"),
		chromedp.WaitVisible(tid("outline")),
	)
	fits("outline")
	shot("outline", "main")
	b.do("open lesson", 30*time.Second,
		chromedp.Click(lesson),
		chromedp.WaitVisible(tid("lesson-body")),
	)
	fits("lesson")
	if n := get(b, "quiz answers hidden", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="quiz-explain"], [data-testid="quiz-correct"]').length`)); n != 0 {
		t.Fatalf("%d answers or explanations before submitting", n)
	}
	ctype := get(b, "diagram", chromedp.Evaluate[string](
		`fetch(document.querySelector('figure.diagram img').src).then(r => r.ok ? r.headers.get('content-type') : 'status ' + r.status)`, chromedp.EvalAwaitPromise))
	if ctype != "image/svg+xml" {
		t.Fatalf("diagram served as %q", ctype)
	}
	shot("lesson-top", "body > header")
	shot("diagram", "figure.diagram")

	// The quiz: answer the first choice of every question and submit.
	questions := get(b, "questions", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="quiz-question"]').length`))
	if questions < 3 {
		t.Fatalf("%d quiz questions", questions)
	}
	b.do("answer quiz", 30*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid="quiz-question"] input[type="radio"]`)), // q1, choice 1
		chromedp.Click(tid("quiz-submit")),
		chromedp.WaitVisible(tid("quiz-score")),
	)
	verdicts := get(b, "verdicts", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="quiz-verdict"]').length`))
	explains := get(b, "explanations", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="quiz-explain"]').length`))
	if verdicts != questions || explains != questions {
		t.Fatalf("graded quiz shows %d verdicts and %d explanations for %d questions", verdicts, explains, questions)
	}
	score := get(b, "score", chromedp.Text(tid("quiz-score")))
	if !strings.Contains(score, "of "+strconv.Itoa(questions)) {
		t.Fatalf("score %q", score)
	}
	fits("graded quiz")
	shot("quiz", `[data-testid="quiz"]`)
	b.do("outline progress", 30*time.Second,
		chromedp.Navigate(base+"/lessons"),
		chromedp.WaitVisible(chromedp.CSS(`[data-slug="circuit-breakers"] [data-testid="quiz-best"]`)),
	)

	// Search from the box in the header, then follow a result.
	b.do("search", 30*time.Second,
		chromedp.SetValue(tid("search-box"), "half-open"),
		chromedp.Submit(tid("search-box")),
		chromedp.WaitVisible(tid("search-results")),
	)
	fits("search")
	shot("search", "main")
	marks := get(b, "marks", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="search-snippet"] mark').length`))
	if marks == 0 {
		t.Fatal("search snippets mark no hits")
	}
	b.do("open result", 30*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid="search-result"] h2 a[href="/lessons/circuit-breakers"]`)),
		chromedp.WaitVisible(tid("practise")),
		chromedp.Click(chromedp.CSS(`[data-testid="practise"] [data-slug="circuit-breaker"] a`)),
		// On a phone the workspace's panes are tabs and the code comes first.
		chromedp.WaitVisible(chromedp.CSS(`.ws-tabs button[data-pane="spec"]`)),
		chromedp.Click(chromedp.CSS(`.ws-tabs button[data-pane="spec"]`)),
		chromedp.WaitVisible(tid("readme")),
	)
	if loc := get(b, "lab location", chromedp.Location()); !strings.HasSuffix(loc, "/labs/circuit-breaker") {
		t.Fatalf("lab link led to %s", loc)
	}
}

package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// partOfBreakerTest splits the circuit-breaker lab's tests into two parts
// for these tests: A, the closed and open states; B, half-open and
// recovery.
var partOfBreakerTest = map[string]string{
	"TestStateString": "A", "TestOpensAfterThreshold": "A", "TestPassesResultThrough": "A",
	"TestCountsConsecutiveFailuresOnly": "A", "TestOpenFailsFast": "A", "TestOpenTimeoutBoundary": "A", "TestDefaults": "A",
	"TestClosesAfterTrialSuccess": "B", "TestTrialFailureReopens": "B", "TestSuccessThresholdCloses": "B",
	"TestHalfOpenLimitsConcurrentTrials": "B", "TestClosedCallsRunConcurrently": "B", "TestStaleResultsIgnored": "B",
	"TestRandomFailureSequences": "B",
}

// mustPartedCatalog is a catalog of one lab: the built-in circuit breaker
// with its tests split into the two parts of partOfBreakerTest.
func mustPartedCatalog(t testing.TB) *labs.Catalog {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(labs.FS, labSlug, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(labs.FS, p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	y := string(fsys[labSlug+"/lab.yaml"].Data)
	y = strings.Replace(y, "\ntests:\n", "\nparts:\n  - {id: A, title: Closed and open, summary: \"Count failures, open the breaker and fail fast.\"}\n"+
		"  - {id: B, title: Half-open and recovery}\ntests:\n", 1)
	y = regexp.MustCompile(`\{name: (Test\w+), `).ReplaceAllStringFunc(y, func(m string) string {
		name := strings.TrimSuffix(strings.TrimPrefix(m, "{name: "), ", ")
		part := partOfBreakerTest[name]
		if part == "" {
			t.Fatalf("test bug: %s has no part", name)
		}
		return m + "part: " + part + ", "
	})
	fsys[labSlug+"/lab.yaml"] = &fstest.MapFile{Data: []byte(y)}
	c, err := labs.Load(fsys)
	if err != nil {
		t.Fatalf("load the breaker with parts: %v", err)
	}
	return c
}

// breakerResult is a graded result of every test of lab in which the
// tests named in failing fail; the first failing test attaches a picture.
func breakerResult(lab *faultline.Lab, failing ...string) *faultline.Result {
	res := &faultline.Result{Lab: lab.Slug, Status: faultline.StatusGraded, MaxScore: lab.MaxScore()}
	fails := map[string]bool{}
	for _, f := range failing {
		fails[f] = true
	}
	pictured := false
	for _, lt := range lab.Tests {
		tr := faultline.TestResult{Name: lt.Name, Hidden: lt.Hidden, Status: faultline.TestPass, Score: lt.Points, MaxScore: lt.Points}
		if fails[lt.Name] {
			tr.Status, tr.Score, tr.Message = faultline.TestFail, 0, "PROPERTY BROKEN: the breaker opens"
			if !pictured {
				tr.Attachments = []faultline.Attachment{{Name: "breaker.svg", SVG: breakerPicture(3 * time.Second)}}
				pictured = true
			}
		}
		res.Score += tr.Score
		res.Tests = append(res.Tests, tr)
	}
	return res
}

// partScoresOf reads the part scores of a result page: part id → points.
func partScoresOf(d *goquery.Document) map[string]string {
	out := map[string]string{}
	d.Find(`[data-testid="part-score"]`).Each(func(_ int, s *goquery.Selection) {
		v := strings.TrimSpace(s.Find(`[data-testid="part-points"]`).Text())
		if _, full := s.Attr("data-full"); full {
			v += " full"
		}
		out[s.AttrOr("data-part", "?")] = v
	})
	return out
}

// A result of a lab with parts gives each part's score beside the total,
// to the learner and to their instructor, in the page and in the live
// result event; every test row names its part. The scores count hidden
// tests even where the cohort hides them (only which of them failed is
// hidden). The lab page lists the tests part by part. A lab without parts
// shows none of it.
func TestPartScoresOnResultAndLabPage(t *testing.T) {
	cat := mustPartedCatalog(t)
	lab, err := cat.Lab(labSlug)
	if err != nil {
		t.Fatal(err)
	}
	e := MustEnv(t, withLabs(cat))
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, u)
	// A loses 2 (TestOpenFailsFast); B loses 4 + 2.
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(breakerResult(lab, "TestOpenFailsFast", "TestHalfOpenLimitsConcurrentTrials", "TestClosesAfterTrialSuccess"))
	want := map[string]string{"A": "11/13", "B": "16/22"}

	d := e.MustLogin(u).get(submissionURL(sub.ID)).doc()
	if got := partScoresOf(d); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("learner sees part scores %v, want %v", got, want)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="score"]`).Text()); got != "27/35" {
		t.Errorf("total %q, want 27/35", got)
	}
	titles := d.Find(`[data-testid="part-score"] .part-title`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
	if strings.Join(titles, "|") != "Closed and open|Half-open and recovery" {
		t.Errorf("part titles %q", titles)
	}
	rows := 0
	d.Find(`[data-testid="test-row"]`).Each(func(_ int, s *goquery.Selection) {
		rows++
		name := s.Find(`[data-testid="test-name"]`).Text()
		if got := strings.TrimSpace(s.Find(`[data-testid="test-part"]`).Text()); got != "part "+partOfBreakerTest[name] {
			t.Errorf("%s is marked %q, want part %s", name, got, partOfBreakerTest[name])
		}
	})
	if rows != len(lab.Tests) {
		t.Errorf("%d test rows, want %d", rows, len(lab.Tests))
	}
	if got := partScoresOf(e.MustLogin(inst).get(submissionURL(sub.ID)).doc()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("instructor sees part scores %v, want %v", got, want)
	}
	if ev := e.MustLogin(u).get(submissionURL(sub.ID) + "/events"); !strings.Contains(ev.body, `data-testid="part-scores"`) || !strings.Contains(ev.body, "16/22") {
		t.Errorf("the live result event lacks the part scores:\n%.600s", ev.body)
	}

	// The cohort hides hidden tests: their rows go, the part scores stay.
	if err := e.db.SetLabSettings(context.Background(), &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, Visibility: faultline.TestsHidden}); err != nil {
		t.Fatal(err)
	}
	d = e.MustLogin(u).get(submissionURL(sub.ID)).doc()
	if got := partScoresOf(d); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("with hidden tests hidden the learner sees part scores %v, want %v", got, want)
	}
	if n := d.Find(`[data-testid="test-row"]`).Length(); n != 3 {
		t.Errorf("with hidden tests hidden the learner sees %d test rows, want the 3 visible tests", n)
	}

	// Full marks in part A only.
	sub2 := e.MustSubmission(u, labSlug)
	e.MustComplete(breakerResult(lab, "TestStaleResultsIgnored"))
	if got := partScoresOf(e.MustLogin(u).get(submissionURL(sub2.ID)).doc()); got["A"] != "13/13 full" || got["B"] != "19/22" {
		t.Errorf("part scores %v, want A 13/13 full and B 19/22", got)
	}

	// The lab page lists the tests part by part.
	lp := e.MustLogin(u).get(labURL(labSlug))
	if lp.status != http.StatusOK {
		t.Fatalf("lab page: %d", lp.status)
	}
	d = lp.doc()
	parts := d.Find(`[data-testid="lab-part"]`)
	if parts.Length() != 2 || d.Find(`[data-testid="visible-tests"]`).Length() != 0 {
		t.Fatalf("lab page: %d parts and %d plain test lists; want 2 parts and none", parts.Length(), d.Find(`[data-testid="visible-tests"]`).Length())
	}
	a, b := parts.Eq(0), parts.Eq(1)
	if h := strings.Join(strings.Fields(a.Find("h3").Text()), " "); h != "A Closed and open · 13 points" {
		t.Errorf("part A heading %q", h)
	}
	if !strings.Contains(a.Text(), "Count failures, open the breaker and fail fast.") {
		t.Error("part A's summary is not on the lab page")
	}
	tests := func(s *goquery.Selection) string {
		return strings.Join(s.Find(`[data-testid="part-tests"] code`).Map(func(_ int, c *goquery.Selection) string { return c.Text() }), ",")
	}
	if got := tests(a); got != "TestStateString,TestOpensAfterThreshold" {
		t.Errorf("part A's visible tests %q", got)
	}
	if got := tests(b); got != "TestClosesAfterTrialSuccess" {
		t.Errorf("part B's visible tests %q", got)
	}
	if got := strings.Join(strings.Fields(a.Find(`[data-testid="part-hidden"]`).Text()), " "); got != "Plus 5 hidden tests worth 10 points, run only when you submit." {
		t.Errorf("part A's hidden tests: %q", got)
	}
	if got := strings.Join(strings.Fields(b.Find(`[data-testid="part-hidden"]`).Text()), " "); got != "Plus 6 hidden tests worth 20 points, run only when you submit." {
		t.Errorf("part B's hidden tests: %q", got)
	}

	// A lab without parts: no part scores, no part marks, the plain list.
	plain := MustEnv(t)
	pu := plain.MustUser("Lea Learner", faultline.RoleLearner)
	pl, err := plain.srv.d.Labs.Lab(labSlug)
	if err != nil {
		t.Fatal(err)
	}
	psub := plain.MustSubmission(pu, labSlug)
	plain.MustComplete(breakerResult(pl, "TestOpenFailsFast"))
	pd := plain.MustLogin(pu).get(submissionURL(psub.ID)).doc()
	if pd.Find(`[data-testid="part-scores"]`).Length() != 0 || pd.Find(`[data-testid="test-part"]`).Length() != 0 {
		t.Error("a result of a lab without parts shows part scores or part marks")
	}
	if lpd := plain.MustLogin(pu).get(labURL(labSlug)).doc(); lpd.Find(`[data-testid="lab-part"]`).Length() != 0 || lpd.Find(`[data-testid="visible-tests"] li`).Length() != 3 {
		t.Error("the lab page of a lab without parts changed")
	}
}

// In Chromium at 1280×800 and 390×844 the part scores of a result are all
// in view under the total, none wider than the screen, and the page does
// not scroll sideways on a phone; the lab page's parts are laid out the
// same way. The screenshots (the lab page at its grading section and a
// failing result with its picture) go to the parts folder of shotsDir.
func TestPartScoresInChromium(t *testing.T) {
	cat := mustPartedCatalog(t)
	lab, err := cat.Lab(labSlug)
	if err != nil {
		t.Fatal(err)
	}
	e := MustEnv(t, withLabs(cat))
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(breakerResult(lab, "TestOpenFailsFast", "TestHalfOpenLimitsConcurrentTrials", "TestClosesAfterTrialSuccess"))
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	bctx := mustChromiumContext(t)
	chromeSignIn(t, bctx, ts.URL, u)
	dir := filepath.Join(shotsDir(t), "parts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	type box struct {
		Part          string
		Text          string
		Left, Right   float64
		Width, Height float64
	}
	type layout struct {
		Boxes     []box
		Client    float64
		PageWider bool
	}
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		for _, p := range []struct{ name, path, sel, scroll string }{
			{"result", submissionURL(sub.ID), `[data-testid="part-score"]`, `h1`},
			{"lab", labURL(labSlug), `[data-testid="lab-part"]`, `[data-testid="lab-part"]`},
		} {
			sctx, cancel := context.WithTimeout(bctx, 40*time.Second)
			err := chromedp.Do(sctx,
				chromedp.EmulateViewport(size[0], size[1], func(s *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
					s.Mobile = size[0] < 600
				}),
				chromedp.Navigate(ts.URL+p.path), chromedp.WaitReady(chromedp.CSS("main")),
				chromedp.Sleep(300*time.Millisecond), // let the lab page's script lay out its panes
				// On a phone the lab page's panes are tabs: show the task.
				chromedp.Evaluate[chromedp.Void](`(() => { const tab = document.querySelector('[data-testid="ws-tabs"]:not([hidden]) [data-pane="spec"]'); if (tab) tab.click(); })()`),
				chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(p.scroll)+`).scrollIntoView({block: "start"})`))
			cancel()
			if err != nil {
				t.Fatalf("%s at %d: %v", p.name, size[0], err)
			}
			raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](`(() => {
				const d = document.documentElement, out = {Boxes: [], Client: d.clientWidth, PageWider: d.scrollWidth > d.clientWidth};
				for (const el of document.querySelectorAll(`+jsString(p.sel)+`)) {
					const r = el.getBoundingClientRect();
					out.Boxes.push({Part: el.dataset.part, Text: el.innerText, Left: r.left, Right: r.right, Width: r.width, Height: r.height});
				}
				return out;
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			var l layout
			if err := json.Unmarshal(raw, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Boxes) != 2 {
				t.Fatalf("%s at %d: %d part boxes, want 2", p.name, size[0], len(l.Boxes))
			}
			for _, b := range l.Boxes {
				if b.Width == 0 || b.Height == 0 || b.Left < 0 || b.Right > l.Client+1 {
					t.Errorf("%s at %d: part %s is out of view or wider than the screen: %+v in %v px", p.name, size[0], b.Part, b, l.Client)
				}
			}
			if p.name == "result" && (!strings.Contains(l.Boxes[0].Text, "11/13") || !strings.Contains(l.Boxes[1].Text, "16/22")) {
				t.Errorf("result at %d shows %q and %q", size[0], l.Boxes[0].Text, l.Boxes[1].Text)
			}
			if size[0] == 390 && l.PageWider {
				t.Errorf("%s at 390 scrolls sideways", p.name)
			}
			shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", p.name, size[0])), shot, 0o644); err != nil {
				t.Fatal(err)
			}
			if full, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err != nil {
				t.Fatal(err)
			} else if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-full.png", p.name, size[0])), full, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

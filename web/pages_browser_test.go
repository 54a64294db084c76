package web

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// shotsDir is where TestMainPagesAtTwoSizes leaves its screenshots:
// $FAULTLINE_SHOTS, or faultline-shots in the temporary directory.
func shotsDir(t *testing.T) string {
	dir := os.Getenv("FAULTLINE_SHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "faultline-shots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// axeSource is axe-core as npm installed it for web/ui (make ui does).
func axeSource(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("ui", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (make ui installs it into web/ui/node_modules): %v", err)
	}
	return string(b)
}

// shotPage is one main page as someone sees it.
type shotPage struct {
	name string
	path string
	axe  bool // axe-core must find no serious or critical violation
}

// The done-when test: every main page, as a learner and as an
// instructor, at 1280×800 and 390×844, screenshotted into shotsDir; at 390
// no page scrolls sideways; at 1280 the lab page's editor is at least 45%
// of the width with the terminal and the start of the task in view; every
// text of a chart lies inside its picture; and axe-core, run in the page,
// reports no serious or critical violation on the lesson, lab, result,
// cohort and discussion pages.
func TestMainPagesAtTwoSizes(t *testing.T) {
	res := mustQuorumResult(t)
	ti, _ := quorumTrace(t, res)
	w := mustTalkWorld(t)
	e := w.e

	// Ann has a graded circuit breaker with pictures, a quorum-kv run with a
	// trace and a running lab; Bob and Cara have results too.
	report := "PROPERTY BROKEN: the breaker opens\n        Seed: 7\n        Reproduce: LABKIT_SEED=7 go test -count=1 -run '^TestOpens$/^seed=7$' ./...\n"
	breaker := func(score int) *faultline.Result {
		return &faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: 4, Tests: []faultline.TestResult{
			{Name: "TestClosedPassesThrough", Status: faultline.TestPass, Score: 1, MaxScore: 1},
			{Name: "TestHalfOpenLimitsConcurrentTrials", Status: faultline.TestFail, MaxScore: 2, Output: report, FailedRun: "TestHalfOpenLimitsConcurrentTrials/seed=7", Seed: 7,
				Message:     "PROPERTY BROKEN: the breaker opens",
				Attachments: []faultline.Attachment{{Name: "breaker.svg", SVG: breakerPicture(2 * time.Second)}}},
			{Name: "TestOpensAfterFailures", Status: faultline.TestFail, MaxScore: 1, Attachments: []faultline.Attachment{{Name: "breaker.svg", SVG: breakerPicture(9 * time.Second)}}},
		}}
	}
	sub := e.MustSubmission(w.ann, labSlug)
	e.MustComplete(breaker(1))
	e.MustSubmission(w.bob, labSlug)
	e.MustComplete(breaker(3))
	e.MustSubmission(w.cara, labSlug)
	e.MustComplete(breaker(0))
	qsub := e.MustSubmission(w.ann, "quorum-kv")
	e.MustComplete(res)
	if r := e.MustLogin(w.ann).post(labURL(labSlug)+"/sandbox", nil); r.status != http.StatusSeeOther {
		t.Fatalf("start the lab: %d", r.status)
	}
	th := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Why does the breaker flap?", Body: "It opens and closes every second under load."})
	w.mustReply(w.inst, w.spring, th.Thread.ID, th.Post.ID, "Look at the half-open trials.", false)
	lessons := e.srv.d.Content.Lessons()
	if len(lessons) == 0 {
		t.Fatal("no lessons")
	}

	if !e.srv.assets.bundle.Present() {
		t.Fatal("the UI bundle is not built (make ui builds it); the lab page is checked with it")
	}
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	bctx := mustChromiumContext(t)
	dir := shotsDir(t)
	t.Logf("screenshots in %s", dir)
	axe := axeSource(t)

	learnerPages := []shotPage{
		{"home", "/", false},
		{"lessons", "/lessons", false},
		{"lesson", "/lessons/" + lessons[0].Slug, true},
		{"cases", "/cases", false},
		{"case", "/cases/dynamo", true},
		{"labs", "/labs", false},
		{"lab", labURL(labSlug), true},
		{"result", submissionURL(sub.ID), true},
		{"trace", traceURL(qsub.ID, ti), true},
		{"account", "/account", false},
		{"discussions", fmt.Sprintf("/discuss/%d", w.spring.ID), true},
		{"thread", fmt.Sprintf("/discuss/%d/threads/%d", w.spring.ID, th.Thread.ID), true},
		{"inbox", "/inbox", false},
	}
	// FAULTLINE_SHOTS_CATALOG=1 adds every lesson, case study and lab page
	// of the catalog (with the same checks), for looking at new content by
	// eye: make shots-catalog.
	if os.Getenv("FAULTLINE_SHOTS_CATALOG") != "" {
		for _, l := range lessons {
			learnerPages = append(learnerPages, shotPage{"lesson-" + l.Slug, "/lessons/" + l.Slug, true})
		}
		for _, c := range e.srv.d.Content.Cases() {
			learnerPages = append(learnerPages, shotPage{"case-" + c.Slug, "/cases/" + c.Slug, true})
		}
		for _, l := range e.srv.d.Labs.All() {
			learnerPages = append(learnerPages, shotPage{"lab-" + l.Slug, labURL(l.Slug), true})
		}
		// And a result page per lab, from a real grade on the host of
		// its first hand-written mutant, so each lab's failures and their
		// pictures are seen as a learner sees them.
		for _, l := range e.srv.d.Labs.All() {
			if sub, ok := mustMutantResult(t, e, w.ann, l); ok {
				learnerPages = append(learnerPages, shotPage{"result-" + l.Slug, submissionURL(sub), true})
			}
		}
	}
	instructorPages := []shotPage{
		{"cohorts", "/cohorts", false},
		{"cohort", fmt.Sprintf("/cohorts/%d", w.spring.ID), true},
		{"cohort-lab", fmt.Sprintf("/cohorts/%d/labs/%s", w.spring.ID, labSlug), true},
		{"lab-settings", fmt.Sprintf("/cohorts/%d/labs/%s/settings", w.spring.ID, labSlug), false},
		{"live", fmt.Sprintf("/cohorts/%d/live", w.spring.ID), false},
		{"inst-result", submissionURL(sub.ID), false},
	}

	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 40*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	eval := func(step, js string, out any) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 60*time.Second)
		defer cancel()
		raw, err := chromedp.Run(sctx, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v in %s", step, err, raw)
		}
	}
	visit := func(p shotPage, width, height int64) {
		t.Helper()
		run(p.name+" at "+fmt.Sprint(width),
			chromedp.EmulateViewport(width, height, func(s *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
				s.Mobile = width < 600
			}),
			chromedp.Navigate(ts.URL+p.path),
			chromedp.WaitReady(chromedp.CSS("main")),
			chromedp.Sleep(300*time.Millisecond), // let scripts lay the page out before it is measured
		)
		var status string
		eval("title", `document.title`, &status)
		var source bool
		eval("template source", `/@[a-zA-Z]+\(/.test(document.querySelector("main").innerText)`, &source)
		if source {
			t.Errorf("%s shows template source (a component call as text)", p.name)
		}
		if strings.HasPrefix(status, "Not found") || strings.HasPrefix(status, "Forbidden") || strings.Contains(status, "Error") {
			t.Errorf("%s (%s) shows %q", p.name, p.path, status)
		}
		shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", p.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", p.name, width)), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		// The whole page too, for a person to look at.
		if full, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err != nil {
			t.Fatalf("full screenshot %s: %v", p.name, err)
		} else if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-full.png", p.name, width)), full, 0o644); err != nil {
			t.Fatal(err)
		}
		if width == 390 {
			var over struct {
				Scroll, Client int
				Culprits       []string
			}
			eval(p.name+" overflow", `(() => {
				const d = document.documentElement, w = d.clientWidth, out = [];
				for (const el of document.querySelectorAll("body *")) {
					const r = el.getBoundingClientRect();
					if (r.right > w + 1 && getComputedStyle(el).position !== "fixed" && out.length < 5) {
						let p = el.parentElement, clipped = false;
						for (; p && p !== document.body; p = p.parentElement) {
							const o = getComputedStyle(p).overflowX;
							if (o === "auto" || o === "scroll" || o === "hidden" || o === "clip") { clipped = true; break; }
						}
						if (!clipped) out.push(el.tagName.toLowerCase() + "." + el.className + " right=" + Math.round(r.right));
					}
				}
				return {Scroll: d.scrollWidth, Client: w, Culprits: out};
			})()`, &over)
			if over.Scroll > over.Client {
				t.Errorf("%s scrolls sideways at 390: %d px wide in %d (%v)", p.name, over.Scroll, over.Client, over.Culprits)
			}
		}
		// Every text of an inline chart lies inside its picture.
		var clipped []string
		eval(p.name+" chart labels", `(() => {
			const out = [];
			for (const svg of document.querySelectorAll("main svg")) {
				if (svg.closest("[hidden]") || svg.getClientRects().length === 0) continue;
				const b = svg.getBoundingClientRect();
				if (b.width === 0) continue;
				for (const t of svg.querySelectorAll("text")) {
					const r = t.getBoundingClientRect();
					if (r.width === 0) continue;
					if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1)
						out.push(JSON.stringify(t.textContent.slice(0, 40)) + " in " + (svg.getAttribute("class") || svg.getAttribute("aria-label") || "svg"));
				}
			}
			return out;
		})()`, &clipped)
		if len(clipped) > 0 {
			t.Errorf("%s at %d: chart labels outside their picture: %v", p.name, width, clipped)
		}
		if p.axe && width == 1280 {
			var violations []string
			eval(p.name+" axe", axe+`;
				axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
					.filter(v => v.impact === "serious" || v.impact === "critical")
					.map(v => v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")))`, &violations)
			for _, v := range violations {
				t.Errorf("axe on %s: %s", p.name, v)
			}
		}
	}

	chromeSignIn(t, bctx, ts.URL, w.ann)
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		for _, p := range learnerPages {
			visit(p, size[0], size[1])
			if p.name == "lab" && size[0] == 1280 {
				var lab struct {
					Editor, Width                   float64
					TerminalInView, TaskInView, Has bool
				}
				eval("lab layout", `(() => {
					const inView = el => { if (!el) return false; const r = el.getBoundingClientRect();
						return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1; };
					const ed = document.querySelector('[data-testid="editor"]');
					const task = document.querySelector('[data-testid="readme"] h1, [data-testid="readme"] h2, [data-testid="readme"] p');
					return {Editor: ed ? ed.getBoundingClientRect().width : 0, Width: innerWidth,
						TerminalInView: inView(document.querySelector('[data-testid="terminal"]')), TaskInView: inView(task), Has: !!ed};
				})()`, &lab)
				if !lab.Has || lab.Editor < 0.45*lab.Width || !lab.TerminalInView || !lab.TaskInView {
					t.Errorf("lab page at 1280: %+v; want the editor ≥45%% of the width, the terminal and the task's start in view", lab)
				}
			}
		}
	}
	// The instructor in a browser of their own (no race between a sign-out
	// still on its way and the next sign-in).
	bctx = mustChromiumContext(t)
	chromeSignIn(t, bctx, ts.URL, w.inst)
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		for _, p := range instructorPages {
			visit(p, size[0], size[1])
		}
	}
}

// mustMutantResult grades lab's hand-written mutants on the host as the
// grader would, in name order, until one fails with pictures (at most
// three; else the first), stores it, files and result, as u's graded
// submission and returns its id; false when the lab has no mutant.
func mustMutantResult(t *testing.T, e *env, u *faultline.User, lab *faultline.Lab) (int64, bool) {
	t.Helper()
	names := slices.Sorted(maps.Keys(lab.Mutants))
	if len(names) == 0 {
		return 0, false
	}
	var (
		res  *faultline.Result
		name string
	)
	for _, n := range names[:min(3, len(names))] {
		r, err := gradeOnHost(lab, lab.Mutants[n], lab.Tests, ".", lab.Module) // trace_test.go
		if err != nil {
			t.Fatalf("grade %s's mutant %s on the host: %v", lab.Slug, n, err)
		}
		if r.Score == r.MaxScore {
			t.Fatalf("%s's mutant %s scored full marks on the host", lab.Slug, n)
		}
		pictures := 0
		for _, tr := range r.Tests {
			pictures += len(tr.Attachments)
		}
		t.Logf("%s: mutant %s scored %d/%d, with %d pictures", lab.Slug, n, r.Score, r.MaxScore, pictures)
		if res == nil || pictures > 0 {
			res, name = r, n
		}
		if pictures > 0 {
			break
		}
	}
	s := &faultline.Submission{UserID: u.ID, Lab: lab.Slug, Files: learnerSource(lab.Mutants[name])} // trace_test.go
	if err := e.db.CreateSubmission(context.Background(), s); err != nil {
		t.Fatalf("create submission: %v", err)
	}
	return e.MustComplete(res), true
}

package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/store"
	"github.com/faultline-dev/faultline/web/views"
)

// withSimilarity gives the portal the real similarity checker.
func withSimilarity() envOption {
	return func(d *envDeps) { d.Similarity = grader.NewSimilarity() }
}

// MustGraded submits files for u on lab and grades them at once with score
// out of 10 and the given flags.
func (e *env) MustGraded(u *faultline.User, lab string, files []faultline.File, score int, flags ...string) int64 {
	e.t.Helper()
	s := &faultline.Submission{UserID: u.ID, Lab: lab, Files: files}
	if err := e.db.CreateSubmission(context.Background(), s); err != nil {
		e.t.Fatalf("create submission: %v", err)
	}
	id := e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: 10, Flags: flags})
	if id != s.ID {
		e.t.Fatalf("graded submission %d, want %d", id, s.ID)
	}
	e.clock.Add(1e9) // one second between submissions
	return id
}

func labFiles(tb testing.TB, slug string) (starter, solution []faultline.File) {
	tb.Helper()
	_, lc := MustCatalogs(tb)
	l, err := lc.Lab(slug)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range l.Starter {
		if strings.HasSuffix(f.Path, ".go") {
			starter = append(starter, f)
		}
	}
	return starter, l.Solution
}

const bailFile = "package circuitbreaker\n\nimport \"os\"\n\nfunc bail() { os.Exit(3) }\n"

// similarCohort is a cohort where Lin submits the starter, then the
// solution with an os.Exit added; Bo submits the same solution; Cy submits
// the starter only.
type similarCohort struct {
	e                   *env
	inst, lin, bo, cy   *faultline.User
	cohort              *faultline.Cohort
	linFirst, linSecond int64
	boSub, cySub        int64
}

func mustSimilarCohort(t *testing.T, opts ...envOption) *similarCohort {
	t.Helper()
	e := MustEnv(t, opts...)
	sc := &similarCohort{e: e}
	sc.inst = e.MustUser("Ines Instructor", faultline.RoleInstructor)
	sc.lin = e.MustUser("Lin Learner", faultline.RoleLearner)
	sc.bo = e.MustUser("Bo Learner", faultline.RoleLearner)
	sc.cy = e.MustUser("Cy Learner", faultline.RoleLearner)
	sc.cohort = e.MustCohort("Winter", sc.inst, sc.lin, sc.bo, sc.cy)
	starter, solution := labFiles(t, labSlug)
	sc.linFirst = e.MustGraded(sc.lin, labSlug, starter, 2)
	withBail := append(append([]faultline.File{}, solution...), faultline.File{Path: "bail.go", Content: []byte(bailFile)})
	sc.linSecond = e.MustGraded(sc.lin, labSlug, withBail, 10, "bail.go: calls os.Exit")
	sc.boSub = e.MustGraded(sc.bo, labSlug, solution, 10)
	sc.cySub = e.MustGraded(sc.cy, labSlug, starter, 2)
	return sc
}

func TestSubmissionViewForInstructors(t *testing.T) {
	sc := mustSimilarCohort(t, withSimilarity())
	inst := sc.e.MustLogin(sc.inst)

	res := inst.get(submissionURL(sc.linSecond))
	if res.status != http.StatusOK {
		t.Fatalf("status %d\n%s", res.status, res.body)
	}
	// The files: a list, each shown, Go highlighted.
	files := res.testid("submission-files")
	var paths []string
	files.Find(`[data-testid="submission-file"]`).Each(func(_ int, f *goquery.Selection) {
		p, _ := f.Attr("data-path")
		paths = append(paths, p)
	})
	if got := strings.Join(paths, ","); got != "bail.go,breaker.go,go.mod" {
		t.Errorf("files shown: %q, want bail.go, breaker.go and go.mod", got)
	}
	if n := files.Find(`[data-testid="submission-file-link"]`).Length(); n != 3 {
		t.Errorf("%d file links, want 3", n)
	}
	if files.Find("pre.chroma, table.chroma").Length() != 2 { // a teacher's files are line by line, to comment on
		t.Errorf("Go files not highlighted:\n%s", files.Text())
	}
	if !strings.Contains(files.Text(), "os.Exit(3)") {
		t.Error("bail.go's content is not shown")
	}

	// The previous attempt: a diff link that works, and what changed.
	href, _ := res.testid("prev-diff").Attr("href")
	if want := fmt.Sprintf("/submissions/%d/diff?against=%d", sc.linSecond, sc.linFirst); href != want {
		t.Errorf("prev-diff %q, want %q", href, want)
	}
	changes := map[string]string{}
	res.testid("prev-change").Each(func(_ int, c *goquery.Selection) {
		p, _ := c.Attr("data-path")
		changes[p], _ = c.Attr("data-status")
	})
	if changes["bail.go"] != "added" || changes["breaker.go"] != "changed" {
		t.Errorf("changes since the previous attempt: %v", changes)
	}
	diff := inst.get(href)
	if diff.status != http.StatusOK || diff.testid("diff-file").Length() == 0 {
		t.Errorf("diff page: status %d, %d files", diff.status, diff.testid("diff-file").Length())
	}

	// The flag, explained.
	flag := res.testid("flag")
	if flag.Length() != 1 || !strings.Contains(flag.Text(), "bail.go") || !strings.Contains(flag.Text(), "calls os.Exit") ||
		!strings.Contains(flag.Text(), "ends the test binary") {
		t.Errorf("flag %q", flag.Text())
	}

	// Similar to Bo's, and only Bo's; careful words; links.
	sim := res.testid("similar-flag")
	items := sim.Find(`[data-testid="similar-item"]`)
	if items.Length() != 1 || !strings.Contains(items.Text(), "Bo Learner") || !strings.Contains(items.Text(), "100%") {
		t.Fatalf("similar flag %q", sim.Text())
	}
	if !strings.Contains(sim.Text(), "not proof of copying") {
		t.Error("the similarity flag does not say it is not proof")
	}
	if h, _ := items.Find("a").First().Attr("href"); h != submissionURL(sc.boSub) {
		t.Errorf("link to Bo's submission %q", h)
	}
	cmp, _ := items.Find(`[data-testid="similar-compare"]`).Attr("href")
	if want := compareURL(sc.cohort.ID, labSlug, sc.linSecond, sc.boSub); cmp != want {
		t.Errorf("compare link %q, want %q", cmp, want)
	}
	cres := inst.get(cmp)
	if cres.status != http.StatusOK {
		t.Fatalf("compare: status %d", cres.status)
	}
	status := map[string]string{}
	cres.testid("diff-file").Each(func(_ int, f *goquery.Selection) {
		p, _ := f.Attr("data-path")
		status[p], _ = f.Attr("data-status")
	})
	if status["bail.go"] != "removed" || status["breaker.go"] != "same" {
		t.Errorf("Lin's against Bo's: %v (want bail.go only in Lin's)", status)
	}

	// Back to the learner's page in the cohort.
	if h, _ := res.testid("learner-lab-link").Attr("href"); h != learnerLabURL(sc.cohort.ID, sc.lin.ID, labSlug) {
		t.Errorf("learner lab link %q", h)
	}

	// The first submission: no previous one; the starter is like nobody's.
	first := inst.get(submissionURL(sc.linFirst))
	if first.testid("prev-none").Length() != 1 || first.testid("prev-diff").Length() != 0 {
		t.Error("the first submission offers a previous attempt")
	}
	if first.testid("similar-flag").Length() != 0 {
		t.Errorf("Lin's starter is flagged similar: %q", first.testid("similar-flag").Text())
	}
	if cy := inst.get(submissionURL(sc.cySub)); cy.testid("similar-flag").Length() != 0 {
		t.Errorf("Cy's starter is flagged similar: %q", cy.testid("similar-flag").Text())
	}
}

func TestLearnersNeverSeeSimilarity(t *testing.T) {
	sc := mustSimilarCohort(t, withSimilarity())
	lin := sc.e.MustLogin(sc.lin)
	res := lin.get(submissionURL(sc.linSecond))
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	for _, id := range []string{"similar-flag", "similar-unavailable", "flags", "learner-links"} {
		if res.testid(id).Length() != 0 {
			t.Errorf("Lin sees %s on her own submission", id)
		}
	}
	if strings.Contains(res.body, "Bo Learner") {
		t.Error("Lin's submission page names Bo")
	}
	// Her own history is hers to see.
	if res.testid("prev-diff").Length() != 1 || res.testid("submission-files").Length() != 1 {
		t.Error("Lin does not see her files and previous attempt")
	}
	// Another learner's submission, the stats page, the comparison: not found.
	for _, path := range []string{
		submissionURL(sc.boSub),
		labStatsURL(sc.cohort.ID, labSlug),
		compareURL(sc.cohort.ID, labSlug, sc.linSecond, sc.boSub),
	} {
		if r := lin.get(path); r.status != http.StatusNotFound || strings.Contains(r.body, "Bo Learner") {
			t.Errorf("Lin GET %s: status %d", path, r.status)
		}
	}
}

func TestLabStatsSimilarPairs(t *testing.T) {
	sc := mustSimilarCohort(t, withSimilarity())
	res := sc.e.MustLogin(sc.inst).get(labStatsURL(sc.cohort.ID, labSlug))
	if res.status != http.StatusOK {
		t.Fatalf("status %d\n%s", res.status, res.body)
	}
	sec := res.testid("similar-pairs")
	pairs := sec.Find(`[data-testid="similar-pair"]`)
	if pairs.Length() != 1 {
		t.Fatalf("%d similar pairs, want Lin and Bo alone:\n%s", pairs.Length(), sec.Text())
	}
	text := pairs.Text()
	if !strings.Contains(text, "Lin Learner") || !strings.Contains(text, "Bo Learner") || strings.Contains(text, "Cy") {
		t.Errorf("pair %q", text)
	}
	if got := pairs.Find(`[data-testid="similar-score"]`).Text(); got != "100%" {
		t.Errorf("score %q", got)
	}
	var links []string
	pairs.Find(`[data-testid="similar-submission"]`).Each(func(_ int, a *goquery.Selection) {
		h, _ := a.Attr("href")
		links = append(links, h)
	})
	if got, want := strings.Join(links, " "), submissionURL(sc.linSecond)+" "+submissionURL(sc.boSub); got != want && got != submissionURL(sc.boSub)+" "+submissionURL(sc.linSecond) {
		t.Errorf("submission links %q, want %q", got, want)
	}
	if !strings.Contains(sec.Text(), "3 learners") {
		t.Errorf("section does not say 3 learners were compared: %q", sec.Text())
	}
}

func TestEveryGraderFlagIsExplained(t *testing.T) {
	for _, what := range []string{
		grader.FlagUnsafe, grader.FlagSyscall, grader.FlagTesting, grader.FlagReflect, grader.FlagExec,
		grader.FlagLinkname, grader.FlagEmbed, grader.FlagCgo, grader.FlagExit, grader.FlagGoexit,
		grader.FlagMarker, grader.FlagProc,
	} {
		if !views.HasFlagWhy(what) {
			t.Errorf("flag %q has no explanation in web/views/similar_models.go", what)
		}
		n := views.FlagNotes([]string{"dir/a.go: " + what})[0]
		if n.File != "dir/a.go" || n.What != what || n.Why == "" {
			t.Errorf("FlagNotes(%q) = %+v", what, n)
		}
	}
	if n := views.FlagNotes([]string{"something new"})[0]; n.What != "something new" || n.Why != "" {
		t.Errorf("an unknown flag: %+v", n)
	}
}

func TestFencedCodeCannotEscape(t *testing.T) {
	src := "package p\n\n// ```\n// ````</pre><script>alert(1)</script>\nvar s = \"`````\"\n"
	html := codeFiles([]faultline.File{{Path: "p.go", Content: []byte(src)}})[0].HTML
	if html == "" || strings.Contains(html, "<script") {
		t.Fatalf("highlighted HTML %q", html)
	}
	if !strings.Contains(html, "var") || strings.Count(html, "<pre") != 1 {
		t.Errorf("the fence closed early: %q", html)
	}
}

// BenchmarkLabStatsSimilar renders a lab's statistics page, similar pairs
// included, for a seeded cohort of 200 learners with 5 graded submissions
// each: the first view loads and fingerprints every learner's best
// submission (reported as first-view-ns), later views find them cached.
// The cost of fingerprinting real code is grader's BenchmarkSimilarPairs.
//
//	go test ./web/ -run '^$' -bench LabStatsSimilar -benchtime 20x
func BenchmarkLabStatsSimilar(b *testing.B) {
	e := MustEnv(b, withSimilarity())
	c, err := store.SeedCohortForBench(context.Background(), e.db, store.BenchSeed{
		Learners: 200, Labs: []string{labSlug}, SubsPerLab: 5, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	br := e.MustLogin(e.MustUser("Ada Admin", faultline.RoleAdmin))
	path := labStatsURL(c.ID, labSlug)
	serve := func() time.Duration {
		t0 := time.Now()
		res := br.get(path)
		d := time.Since(t0)
		if res.status != http.StatusOK || res.testid("similar-pairs").Length() != 1 {
			b.Fatalf("GET %s: %d", path, res.status)
		}
		return d
	}
	first := serve()
	b.ResetTimer()
	for b.Loop() {
		serve()
	}
	b.ReportMetric(float64(first.Nanoseconds()), "first-view-ns")
}

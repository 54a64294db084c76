package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// TestRegradeLabPages: the lab statistics page offers the regrade, which
// queues the cohort's graded submissions, kicks the grader and shows the job;
// a second regrade with everything queued says so on the lab page; cancel
// returns the rest to their old results.
func TestRegradeLabPages(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	bob := e.MustUser("Bob Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice, bob)
	const lab = "circuit-breaker"
	stats := labStatsURL(cohort.ID, lab)
	b := e.MustLogin(inst)

	// Nothing graded yet: a clear notice on the lab page, not an error page.
	res := b.post(stats+"/regrade", url.Values{})
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), stats+"?notice=nothing-lab") {
		t.Fatalf("regrade with nothing graded: %d to %q", res.status, res.header.Get("Location"))
	}
	page := b.get(withoutFragment(res.header.Get("Location")))
	if page.status != http.StatusOK || !strings.Contains(page.testid("regrade-notice").Text(), "Nothing to regrade") {
		t.Fatalf("lab page after the conflict: %d, notice %q", page.status, page.testid("regrade-notice").Text())
	}

	for _, u := range []*faultline.User{alice, bob} {
		e.MustSubmission(u, lab)
		e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 2})
	}
	page = b.get(stats)
	if form := page.testid("regrade-lab").Closest("form"); form.Length() != 1 || form.AttrOr("action", "") != stats+"/regrade" {
		t.Fatalf("lab page regrade form: %d, action %q", form.Length(), form.AttrOr("action", ""))
	}
	res = b.post(stats+"/regrade", url.Values{})
	if res.status != http.StatusSeeOther {
		t.Fatalf("regrade lab: %d\n%s", res.status, res.body)
	}
	jobs, err := e.db.ListRegradeJobs(ctx, cohort.ID)
	if err != nil || len(jobs) != 1 || jobs[0].Total != 2 {
		t.Fatalf("jobs = %+v, %v", jobs, err)
	}
	job := jobs[0]
	jobURL := regradeJobURL(cohort.ID, job.ID)
	if loc := res.header.Get("Location"); !strings.HasPrefix(loc, jobURL) {
		t.Fatalf("redirect to %q, want the job page %q", loc, jobURL)
	}
	if e.kicks.Load() != 1 {
		t.Errorf("kicks = %d, want 1", e.kicks.Load())
	}

	page = b.get(res.header.Get("Location"))
	prog := page.testid("regrade-progress")
	if page.status != http.StatusOK || prog.AttrOr("data-total", "") != "2" || prog.AttrOr("data-done", "") != "0" ||
		page.testid("regrade-state").Text() != "running" {
		t.Fatalf("job page: %d, progress %s/%s, state %q", page.status, prog.AttrOr("data-done", ""), prog.AttrOr("data-total", ""), page.testid("regrade-state").Text())
	}
	if prog.AttrOr("data-live-src", "") != jobURL+"/progress" || page.testid("refresh").AttrOr("href", "") != jobURL {
		t.Errorf("job page refresh: live src %q, link %q", prog.AttrOr("data-live-src", ""), page.testid("refresh").AttrOr("href", ""))
	}
	if page.doc().Find(`script[src^="/static/live.js?v="]`).Length() != 1 {
		t.Error("the job page does not load the live script")
	}
	if page.testid("regrade-job").Length() != 1 || page.testid("cancel-regrade").Length() == 0 {
		t.Errorf("job list %d rows, cancel buttons %d", page.testid("regrade-job").Length(), page.testid("cancel-regrade").Length())
	}
	// The script's fragment: the progress alone, no page around it.
	frag := b.get(jobURL + "/progress")
	if frag.status != http.StatusOK || strings.Contains(frag.body, "<html") || frag.testid("regrade-progress").Length() != 1 {
		t.Fatalf("progress fragment: %d\n%s", frag.status, frag.body)
	}
	// The live script is served.
	if js := b.get(e.srv.assets.urls.Live); js.status != http.StatusOK || !strings.Contains(js.header.Get("Content-Type"), "javascript") ||
		!strings.Contains(js.body, "data-live-src") && !strings.Contains(js.body, "liveSrc") {
		t.Fatalf("live script: %d %q", js.status, js.header.Get("Content-Type"))
	}

	// Everything is queued: another regrade says so.
	res = b.post(stats+"/regrade", url.Values{})
	if !strings.Contains(res.header.Get("Location"), "notice=nothing-lab") {
		t.Fatalf("second regrade: %d to %q", res.status, res.header.Get("Location"))
	}

	// One regrade is graded; cancel returns the other to its old result.
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 2})
	res = b.post(jobURL+"/cancel", url.Values{})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != jobURL+"?notice=canceled" {
		t.Fatalf("cancel: %d to %q", res.status, res.header.Get("Location"))
	}
	page = b.get(res.header.Get("Location"))
	prog = page.testid("regrade-progress")
	if page.testid("regrade-state").Text() != "canceled" || prog.AttrOr("data-done", "") != "1" ||
		prog.AttrOr("data-live-src", "") != "" || page.testid("regrade-canceled").Length() != 1 || !strings.Contains(page.testid("regrade-notice").Text(), "canceled") {
		t.Fatalf("after cancel: state %q, done %s, live %q", page.testid("regrade-state").Text(), prog.AttrOr("data-done", ""), prog.AttrOr("data-live-src", ""))
	}
	if st, err := e.db.QueueStats(ctx); err != nil || st.Queued != 0 {
		t.Fatalf("queue after cancel: %+v, %v", st, err)
	}
	// Cancelling again is a notice, not an error page.
	res = b.post(jobURL+"/cancel", url.Values{})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != jobURL+"?notice=cancel-conflict" {
		t.Fatalf("second cancel: %d to %q", res.status, res.header.Get("Location"))
	}
	if list := b.get(regradesURL(cohort.ID)); list.status != http.StatusOK || list.testid("regrade-job").Length() != 1 {
		t.Fatalf("regrades list: %d, %d rows", list.status, list.testid("regrade-job").Length())
	}
}

// TestRegradeThroughWorker regrades one submission through the real grading
// worker (with a fake Grader) and checks that the submission page shows both
// results, the new one current and the old one kept, to its instructor only.
func TestRegradeThroughWorker(t *testing.T) {
	ctx := context.Background()
	var w atomic.Pointer[grader.Worker]
	e := MustEnv(t, func(d *envDeps) {
		d.Kick = func() {
			if wk := w.Load(); wk != nil {
				wk.Kick()
			}
		}
	})
	_, lc := MustCatalogs(t)
	var score atomic.Int32
	score.Store(3)
	g := graderFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		return &faultline.Result{Lab: lab.Slug, Status: faultline.StatusGraded, Score: int(score.Load()), MaxScore: lab.MaxScore()}, nil
	})
	wk := grader.NewWorker(e.db, lc.Lab, g, grader.WorkerOptions{ID: "test", Poll: 20 * time.Millisecond, Lease: time.Hour})
	w.Store(wk)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = wk.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice)
	const lab = "circuit-breaker"
	sub := e.MustSubmission(alice, lab)
	wk.Kick()
	waitUntil(t, "the first grade", func() bool {
		s, err := e.db.FindSubmission(ctx, sub.ID)
		return err == nil && s.State == faultline.SubmissionDone
	})

	b := e.MustLogin(inst)
	page := b.get(submissionURL(sub.ID))
	form := page.testid("regrade-submission").Closest("form")
	action := form.AttrOr("action", "")
	if action != cohortURL(cohort.ID)+"/submissions/"+itoa64(sub.ID)+"/regrade" {
		t.Fatalf("regrade button action %q", action)
	}
	if page.testid("result-history-row").Length() != 1 {
		t.Fatalf("history rows before the regrade: %d", page.testid("result-history-row").Length())
	}

	score.Store(8) // the lab's tests changed
	res := b.post(action, url.Values{})
	if res.status != http.StatusSeeOther {
		t.Fatalf("regrade: %d\n%s", res.status, res.body)
	}
	jobURL := strings.SplitN(res.header.Get("Location"), "?", 2)[0]
	waitUntil(t, "the regrade", func() bool {
		jobs, err := e.db.ListRegradeJobs(ctx, cohort.ID)
		return err == nil && len(jobs) == 1 && jobs[0].State == faultline.RegradeDone
	})

	jp := b.get(jobURL)
	if jp.testid("regrade-state").Text() != "done" || jp.testid("regrade-progress").AttrOr("data-done", "") != "1" {
		t.Fatalf("job page after the regrade: state %q", jp.testid("regrade-state").Text())
	}
	page = b.get(submissionURL(sub.ID))
	rows := page.testid("result-history-row")
	if rows.Length() != 2 {
		t.Fatalf("history rows after the regrade: %d\n%s", rows.Length(), page.testid("result-history").Text())
	}
	max := strconv.Itoa(mustLab(t, lab).MaxScore())
	newRow, oldRow := rows.Eq(0), rows.Eq(1)
	if newRow.AttrOr("data-current", "") != "true" || newRow.Find(`[data-testid="history-score"]`).Text() != "8/"+max ||
		newRow.Find(`a[href="`+jobURL+`"]`).Length() != 1 {
		t.Errorf("new result row: current %q, score %q", newRow.AttrOr("data-current", ""), newRow.Find(`[data-testid="history-score"]`).Text())
	}
	if oldRow.AttrOr("data-current", "") != "false" || oldRow.Find(`[data-testid="history-score"]`).Text() != "3/"+max {
		t.Errorf("old result row: current %q, score %q", oldRow.AttrOr("data-current", ""), oldRow.Find(`[data-testid="history-score"]`).Text())
	}
	if got := page.testid("score").Text(); got != "8/"+max {
		t.Errorf("shown score %q, want 8/%s", got, max)
	}

	// The learner sees the new result but neither the history nor the button.
	own := e.MustLogin(alice).get(submissionURL(sub.ID))
	if own.testid("result-history").Length() != 0 || own.testid("regrade-submission").Length() != 0 || own.testid("score").Text() != "8/"+max {
		t.Errorf("the learner's page shows the history (%d) or the button (%d), score %q",
			own.testid("result-history").Length(), own.testid("regrade-submission").Length(), own.testid("score").Text())
	}
}

// TestRegradeSubmissionConflict: regrading a submission that is still
// waiting is a notice on the submission page.
func TestRegradeSubmissionConflict(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice)
	sub := e.MustSubmission(alice, "circuit-breaker")
	b := e.MustLogin(inst)
	res := b.post(cohortURL(cohort.ID)+"/submissions/"+itoa64(sub.ID)+"/regrade", url.Values{})
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), "notice=nothing-submission") {
		t.Fatalf("regrade of a queued submission: %d to %q", res.status, res.header.Get("Location"))
	}
	page := b.get(withoutFragment(res.header.Get("Location")))
	if page.status != http.StatusOK || !strings.Contains(page.testid("regrade-notice").Text(), "waiting to be graded") {
		t.Fatalf("submission page: %d, notice %q", page.status, page.testid("regrade-notice").Text())
	}
	if e.kicks.Load() != 0 {
		t.Errorf("a refused regrade kicked the grader")
	}
}

type graderFunc func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error)

func (f graderFunc) Grade(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
	return f(ctx, lab, files)
}

// withoutFragment drops a redirect's #fragment, which browsers keep to themselves.
func withoutFragment(loc string) string { return strings.SplitN(loc, "#", 2)[0] }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func mustLab(tb testing.TB, slug string) *faultline.Lab {
	tb.Helper()
	_, lc := MustCatalogs(tb)
	l, err := lc.Lab(slug)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// waitUntil polls cond until it holds; the test's own deadline bounds it.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// recordingSandboxes records stops in the store as sandbox.Manager does, so
// the live view (which reads the store) sees them.
type recordingSandboxes struct {
	*fakeSandboxes
	db *store.DB
}

func (r *recordingSandboxes) Stop(ctx context.Context, userID int64, lab string) error {
	sb, err := r.db.FindSandbox(ctx, userID, lab)
	if err != nil {
		return err
	}
	if err := r.fakeSandboxes.Stop(ctx, userID, lab); err != nil {
		return err
	}
	sb.State = faultline.SandboxStopped
	return r.db.UpsertSandbox(ctx, sb)
}

// TestLiveView: an instructor sees the cohort's learners' running sandboxes
// and queued submissions (not other cohorts'), the queue's numbers, stops a
// sandbox (files kept) and cancels a regrade from the page; an admin's
// /admin/live shows everyone's.
func TestLiveView(t *testing.T) {
	ctx := context.Background()
	var rec *recordingSandboxes
	e := MustEnv(t, func(d *envDeps) {
		rec = &recordingSandboxes{fakeSandboxes: d.Sandboxes.(*fakeSandboxes)}
		d.Sandboxes = rec
	})
	rec.db = e.db
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	otherInst := e.MustUser("Olga Otherinst", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	bob := e.MustUser("Bob Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice)
	e.MustCohort("Autumn", otherInst, bob)
	const lab = "circuit-breaker"
	l := mustLab(t, lab)
	for _, u := range []*faultline.User{alice, bob} {
		if _, err := e.sb.Start(ctx, u.ID, l, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: u.ID, Lab: lab, State: faultline.SandboxRunning}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.db.SaveFile(ctx, alice.ID, lab, "breaker.go", []byte("package breaker // mine\n")); err != nil {
		t.Fatal(err)
	}
	// alice: one graded submission (then queued for regrade) and one waiting; bob: one waiting.
	graded := e.MustSubmission(alice, lab)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 2})
	waiting := e.MustSubmission(alice, lab)
	e.MustSubmission(bob, lab)
	job := &faultline.RegradeJob{CohortID: cohort.ID, SubmissionID: graded.ID, CreatedBy: inst.ID}
	if err := e.db.CreateRegradeJob(ctx, job); err != nil {
		t.Fatal(err)
	}

	b := e.MustLogin(inst)
	live := liveURL(cohort.ID)
	cp := b.get(cohortURL(cohort.ID))
	if cp.testid("live-link").AttrOr("href", "") != live || cp.testid("regrades-link").AttrOr("href", "") != regradesURL(cohort.ID) {
		t.Errorf("cohort page links: live %q, regrades %q", cp.testid("live-link").AttrOr("href", ""), cp.testid("regrades-link").AttrOr("href", ""))
	}
	page := b.get(live)
	if page.status != http.StatusOK {
		t.Fatalf("live page: %d\n%s", page.status, page.body)
	}
	rows := page.testid("live-sandbox")
	if rows.Length() != 1 || rows.AttrOr("data-user", "") != strconv.FormatInt(alice.ID, 10) || !strings.Contains(rows.Text(), "Alice Learner") {
		t.Fatalf("sandbox rows: %d %q", rows.Length(), rows.Text())
	}
	if page.testid("stop-sandbox").Length() != 1 {
		t.Fatal("no Stop button")
	}
	if got := page.testid("queue-depth").Text(); got != "3" {
		t.Errorf("queue depth %q, want 3 (every cohort's)", got)
	}
	if got := page.testid("queue-regrades").Text(); got != "1" {
		t.Errorf("regrades in the queue %q, want 1", got)
	}
	if page.testid("queue-oldest").Text() == "none" {
		t.Error("oldest waiting submission not shown")
	}
	entries := page.testid("queue-entry")
	if entries.Length() != 2 || strings.Contains(page.testid("queue-entries").Text(), "Bob") {
		t.Fatalf("queue entries: %d %q; want alice's two", entries.Length(), page.testid("queue-entries").Text())
	}
	if entries.Find(`a[href="`+submissionURL(waiting.ID)+`"]`).Length() != 1 {
		t.Error("no link to the waiting submission")
	}
	if entries.Find(`a[href="`+regradeJobURL(cohort.ID, job.ID)+`"]`).Length() != 1 {
		t.Error("the queued regrade does not link its job")
	}
	panel := page.testid("live-panel")
	if panel.AttrOr("data-live-src", "") != live+"/panel" || page.testid("refresh").AttrOr("href", "") != live {
		t.Errorf("live refresh: src %q, link %q", panel.AttrOr("data-live-src", ""), page.testid("refresh").AttrOr("href", ""))
	}
	if page.doc().Find(`script[src^="/static/live.js?v="]`).Length() != 1 {
		t.Error("the live page does not load the live script")
	}
	frag := b.get(live + "/panel")
	if frag.status != http.StatusOK || strings.Contains(frag.body, "<html") || frag.testid("live-sandbox").Length() != 1 {
		t.Fatalf("panel fragment: %d\n%s", frag.status, frag.body)
	}

	// Stop alice's sandbox: gone from the page, her saved files kept.
	form := page.testid("stop-sandbox").Closest("form")
	vals := url.Values{}
	form.Find("input[type=hidden]").Each(func(_ int, in *goquery.Selection) {
		vals.Set(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	res := b.post(form.AttrOr("action", ""), vals)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != live+"?notice=stopped" {
		t.Fatalf("stop: %d to %q", res.status, res.header.Get("Location"))
	}
	if _, err := e.sb.Find(ctx, alice.ID, lab); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("alice's sandbox still there: %v", err)
	}
	if files, err := e.db.Files(ctx, alice.ID, lab); err != nil || len(files) != 1 || string(files[0].Content) != "package breaker // mine\n" {
		t.Fatalf("alice's saved files after the stop: %+v, %v", files, err)
	}
	page = b.get(res.header.Get("Location"))
	if page.testid("live-sandbox").Length() != 0 || !strings.Contains(page.testid("live-notice").Text(), "saved files are unaffected") {
		t.Fatalf("after the stop: %d rows, notice %q", page.testid("live-sandbox").Length(), page.testid("live-notice").Text())
	}
	if _, err := e.sb.Find(ctx, bob.ID, lab); err != nil {
		t.Fatalf("bob's sandbox (another cohort) was stopped: %v", err)
	}

	// Cancel the running regrade from the live view.
	cancel := page.testid("cancel-regrade").Closest("form")
	if cancel.Length() != 1 || cancel.Find(`input[name="back"]`).AttrOr("value", "") != "live" {
		t.Fatalf("cancel forms on the live view: %d", cancel.Length())
	}
	res = b.post(cancel.AttrOr("action", ""), url.Values{"back": {"live"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != live+"?notice=canceled" {
		t.Fatalf("cancel: %d to %q", res.status, res.header.Get("Location"))
	}
	page = b.get(res.header.Get("Location"))
	if page.testid("queue-depth").Text() != "2" || page.testid("queue-regrades").Text() != "0" || page.testid("cancel-regrade").Length() != 0 {
		t.Fatalf("after cancel: depth %q, regrades %q", page.testid("queue-depth").Text(), page.testid("queue-regrades").Text())
	}
	if s, err := e.db.FindSubmission(ctx, graded.ID); err != nil || s.State != faultline.SubmissionDone || s.Result.Score != 1 {
		t.Fatalf("the canceled regrade's submission: %+v, %v", s, err)
	}

	// The admin's view covers every cohort.
	ap := e.MustLogin(admin).get("/admin/live")
	if ap.status != http.StatusOK || ap.testid("live-sandbox").Length() != 1 || ap.testid("queue-entry").Length() != 2 ||
		!strings.Contains(ap.testid("live-sandboxes").Text(), "Bob Learner") {
		t.Fatalf("admin live: %d, %d sandboxes, %d entries", ap.status, ap.testid("live-sandbox").Length(), ap.testid("queue-entry").Length())
	}
}

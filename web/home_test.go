package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// The learner's home: where they left off, what to read next, their labs
// with due dates and held scores, their latest results and cohorts.
func TestLearnerHome(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, u)
	b := e.MustLogin(u)

	// Before any work: nothing to continue, the first lesson to read.
	res := b.get("/")
	if res.status != http.StatusOK || res.testid("continue-link").Length() != 0 || res.testid("recent-empty").Length() != 1 {
		t.Fatalf("a new learner's home: %d, continue %d, recent-empty %d", res.status, res.testid("continue-link").Length(), res.testid("recent-empty").Length())
	}
	first := e.srv.d.Content.Lessons()[0]
	if got := res.testid("next-read-link").AttrOr("href", ""); got != lessonURL(first) {
		t.Errorf("next to read %q, want the first lesson %s", got, lessonURL(first))
	}

	// A due date on the lab, work saved on it, a graded submission.
	due := e.clock.Now().Add(24 * time.Hour).Truncate(time.Minute)
	if err := e.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, DueAt: due,
		Late: faultline.LatePolicy{Mode: faultline.LateAccept}, Visibility: faultline.TestsVisible}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SaveFile(ctx, u.ID, labSlug, "breaker.go", []byte("package circuitbreaker\n")); err != nil {
		t.Fatal(err)
	}
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 3, MaxScore: 7, Tests: []faultline.TestResult{
		{Name: "TestA", Status: faultline.TestFail, MaxScore: 4}, {Name: "TestB", Status: faultline.TestPass, Score: 3, MaxScore: 3},
	}})
	b.post(lessonURL(first)+"/read", nil)

	res = b.get("/")
	if got := res.testid("continue-link").AttrOr("href", ""); got != labURL(labSlug) {
		t.Errorf("continue links %q, want %s", got, labURL(labSlug))
	}
	lab := res.doc().Find(`[data-testid="home-lab"][data-slug="` + labSlug + `"]`)
	if got := lab.Find(`[data-testid="home-due"]`); !strings.Contains(got.Text(), fmtTime(due)) || got.AttrOr("datetime", "") != due.UTC().Format(time.RFC3339) {
		t.Errorf("due date shown as %q (%q), want %s", got.Text(), got.AttrOr("datetime", ""), fmtTime(due))
	}
	if !lab.Find(`[data-testid="home-due"]`).HasClass("warn") {
		t.Error("a lab due within a day, not finished, is not marked as due soon")
	}
	if got := strings.TrimSpace(lab.Find(`[data-testid="home-score"]`).Text()); got != "3/7" {
		t.Errorf("held score on the home page %q, want 3/7", got)
	}
	recent := res.testid("recent-result")
	if recent.Length() != 1 || recent.Find("a").AttrOr("href", "") != submissionURL(sub.ID) || !strings.Contains(recent.Text(), "3/7") {
		t.Errorf("recent results: %d, %q", recent.Length(), recent.Text())
	}
	if got := res.testid("next-read-link").AttrOr("href", ""); got == lessonURL(first) || got == "" {
		t.Errorf("after reading the first lesson, next to read is still %q", got)
	}
	if !strings.Contains(res.testid("my-cohorts").Text(), "Spring") {
		t.Errorf("cohorts %q", res.testid("my-cohorts").Text())
	}
	if !strings.Contains(res.testid("home-progress").Text(), "1 of") {
		t.Errorf("progress %q does not count the lesson read", res.testid("home-progress").Text())
	}

	// Past the due date without full marks: overdue.
	e.clock.Add(48 * time.Hour)
	if d := b.get("/").doc().Find(`[data-testid="home-lab"][data-slug="` + labSlug + `"] [data-testid="home-due"]`); !d.HasClass("bad") {
		t.Error("an overdue lab is not marked")
	}
}

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/lti"
	"github.com/faultline-dev/faultline/lti/ltitest"
)

// TestLTILaunchSubmitAndPassback drives a real Chromium through an LMS
// (a protocol-faithful LTI 1.3 platform over real HTTP) and the real
// portal, store, Docker grader and LTI tool: an instructor adds the
// circuit-breaker lab to the course through deep linking, a learner opens
// it from the course, lands in the lab signed in, saves the solution and
// submits, the grade arrives, and the LMS gradebook receives the score.
func TestLTILaunchSubmitAndPassback(t *testing.T) {
	ctx := context.Background()
	m := MustServe(t, t.TempDir())
	base := m.Config.BaseURL
	lab := MustLab(t, "circuit-breaker")
	solution := MustSolutionFile(t, lab, "breaker.go")

	lms := ltitest.Start(t)
	// On plain http the launch's state cookie is SameSite=Lax, so the LMS
	// must be the same site as the portal (behind TLS it is SameSite=None).
	lms.UseHost("localhost")
	urls := lti.ToolURLs(base)
	lms.ToolLogin, lms.ToolLaunch, lms.ToolJWKS = urls.Login, urls.Launch, urls.JWKS
	t.Cleanup(func() {
		if v := lms.Violations(); len(v) > 0 {
			t.Errorf("the tool broke the LTI protocol: %v", v)
		}
	})
	admin := &faultline.User{Email: "ada@example.com", Name: "Ada Admin", Role: faultline.RoleAdmin, PasswordHash: "x"}
	if err := m.DB.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := m.DB.CreateLTIPlatform(ctx, &faultline.LTIPlatform{Name: "Course LMS", Issuer: lms.URL, ClientID: lms.ClientID,
		AuthURL: lms.AuthURL(), TokenURL: lms.TokenURL(), JWKSURL: lms.JWKSURL(), Deployments: []string{lms.DeploymentID}, CreatedBy: admin.ID}); err != nil {
		t.Fatal(err)
	}
	lms.Enroll(ltitest.Person{Sub: "teacher-7", Name: "Tess Teacher", Email: "tess@uni.example", Instructor: true},
		ltitest.Person{Sub: "learner-9", Name: "Lou Learner", Email: "lou@uni.example"})

	b := &browser{t: t, ctx: MustBrowser(t)}
	// The instructor places the lab in the course.
	b.do("deep link", 60*time.Second,
		chromedp.Navigate(lms.LaunchURL("teacher-7", "", true)),
		chromedp.WaitVisible(tid("deep-link-form")),
		chromedp.Click(chromedp.CSS(`[data-testid="deep-link-choice"][data-value="lab:circuit-breaker"] input`)),
		chromedp.Click(tid("deep-link-submit")),
		chromedp.WaitVisible(tid("deep-link-return-submit")),
		chromedp.Click(tid("deep-link-return-submit")),
		chromedp.WaitVisible(tid("lms-deep-linked")),
	)
	links := lms.Links()
	if len(links) != 1 || links[0].Custom["lab"] != "circuit-breaker" || links[0].LineItemID == "" {
		t.Fatalf("the LMS holds links %+v", links)
	}

	// The learner opens it from the course and lands in the lab.
	b.do("learner launch", 60*time.Second,
		chromedp.Navigate(lms.LaunchURL("learner-9", links[0].ID, false)),
		chromedp.WaitReady(tid("whoami")), // in the footer, which the lab workspace hides
		chromedp.WaitVisible(tid("submit")),
	)
	if loc := get(b, "location", chromedp.Location()); loc != base+"/labs/circuit-breaker" {
		t.Fatalf("the launch landed at %s", loc)
	}
	// Read in one evaluation, not through a node id: a node id taken from
	// the launch's earlier documents can be gone by the time it is read
	// ("No node with given id found").
	if who := get(b, "whoami", chromedp.Evaluate[string](`document.querySelector('[data-testid="whoami"]')?.textContent ?? ""`)); !strings.Contains(who, "Lou Learner") || !strings.Contains(who, "learner") {
		t.Fatalf("signed in as %q", who)
	}
	b.do("save solution", 30*time.Second,
		chromedp.Navigate(base+"/labs/circuit-breaker?file=breaker.go"),
		chromedp.WaitVisible(tid("editor-content")),
		chromedp.SetValue(tid("editor-content"), solution),
		chromedp.Click(tid("save-file")),
		chromedp.WaitVisible(tid("notice")),
	)
	b.do("submit", 30*time.Second,
		chromedp.Click(tid("submit")),
		chromedp.WaitVisible(tid("result-box")),
	)
	b.do("wait for grade", 5*time.Minute, chromedp.WaitVisible(in(tid("result-box"), "score")))
	full := lab.MaxScore()
	if score := get(b, "score", chromedp.Text(in(tid("result-box"), "score"))); !strings.Contains(strings.ReplaceAll(score, " ", ""), fmt.Sprintf("%d/%d", full, full)) {
		t.Fatalf("graded %q, want full marks", score)
	}

	// The LMS receives the score (the passback runs in the background).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		items := lms.LineItems()
		if len(items) == 1 && len(items[0].Scores) > 0 {
			s := items[0].Scores[len(items[0].Scores)-1]
			if s.UserID != "learner-9" || s.ScoreGiven != float64(full) || s.ScoreMaximum != float64(full) || s.GradingProgress != "FullyGraded" {
				t.Fatalf("the LMS got score %+v, want %d/%d for learner-9", s, full, full)
			}
			break
		}
		if time.Now().After(deadline) {
			jobs, _ := m.DB.ListLTIScores(ctx, 0)
			t.Fatalf("the LMS got no score within 2 minutes (line items %+v, jobs %+v)", items, jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

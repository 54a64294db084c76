package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// TestScreenshots is not a check: it is a helper for looking at the
// conversation's pages by eye. It does nothing (it skips at once, before
// building anything) unless SHOTS_DIR names a directory; then it fills a
// cohort with threads, groups, feedback, an adjustment, an extension and a
// regrade request, and writes full-page and in-view PNGs of every
// conversation page at 1280x800 and 390x844 into that directory:
//
//	SHOTS_DIR=/tmp/shots go test ./web/ -run TestScreenshots -count=1
//
// It asserts nothing about the pictures; the checks on layout live in
// TestTalkNarrowScreen.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("SHOTS_DIR")
	if dir == "" {
		t.Skip("screenshot helper only: set SHOTS_DIR=/some/dir to write PNGs of the conversation pages there")
	}
	ctx := context.Background()
	w := mustTalkWorld(t)
	e := w.e
	e.srv.StreamLimit = time.Minute
	lab := e.mustLab(labSlug)
	sub := w.mustFailingRun(w.ann)
	// A real-looking submission for the code view.
	code := MustSolutionText(t, lab)
	codeSub := w.mustGraded(w.ann, []faultline.File{{Path: "breaker.go", Content: []byte(code)}, {Path: "go.mod", Content: []byte("module x\n")}}, lab.MaxScore()-4, []faultline.TestResult{
		{Name: "TestOpensAfterThreshold", Status: faultline.TestFail, MaxScore: 4, Message: "stayed closed"}})
	q := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Why does my breaker never open under a partition?", Anonymous: true,
		Body: "I count failures in `record`, but after the partition the breaker stays closed.\n\n```go\nif err != nil {\n\tb.failures++\n}\n```\n\nWhat am I missing?",
		Run:  &course.RunRef{SubmissionID: sub, Test: 0}})
	r1 := w.mustReply(w.bob, w.spring, q.Thread.ID, 0, "I had the same: check that a **success** resets the count, and nothing else does.", false)
	w.mustReply(w.ann, w.spring, q.Thread.ID, r1.Post.ID, "Thanks, that was it: I reset it on every call.", true)
	w.mustReply(w.inst, w.spring, q.Thread.ID, 0, "Right. The README's step 17 is exactly this case; see the timeline picture.", false)
	if _, err := e.course.Endorse(ctx, w.inst, w.spring.ID, r1.Post.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.MarkAnswer(ctx, w.ann, w.spring.ID, q.Thread.ID, r1.Post.ID); err != nil {
		t.Fatal(err)
	}
	w.mustReply(w.cara, w.spring, q.Thread.ID, 0, "Mine passes:\n\n```go\n"+code+"```", false)
	w.mustThread(w.cara, w.spring, course.NewThread{Title: "Quorum sizes for N=5?", Place: faultline.Place{Kind: faultline.PlaceLesson, Slug: "replication-quorums"}, Body: "Is R=2, W=4 enough?"})
	w.mustThread(w.inst, w.spring, course.NewThread{Title: "Office hours on Friday, 2 to 4", Kind: faultline.ThreadAnnouncement, Body: "Bring your failing seeds."})
	w.mustThread(w.bob, w.spring, course.NewThread{Title: "Is my saga compensation right?", Private: true, Place: faultline.Place{Kind: faultline.PlaceLab, Slug: "saga"}, Body: "Private to staff."})
	gt, _ := e.course.StartPrompt(ctx, w.ann, w.spring.ID, "dynamo", 1, 0)
	w.mustReply(w.ann, w.spring, gt.ID, 0, "We would pick consistency for payments: a lost write is worse than a refused one.", false)
	w.mustReply(w.bob, w.spring, gt.ID, 0, "Agreed. The cart is the opposite: any write is better than none.", false)
	g2t, _ := e.course.StartPrompt(ctx, w.cara, w.spring.ID, "dynamo", 1, 0)
	w.mustReply(w.cara, w.spring, g2t.ID, 0, "Our ledger at work refuses writes during a partition, on purpose.", false)
	if _, err := e.course.AddComment(ctx, w.inst, codeSub, "breaker.go", 40, 0, "This is where the **failure count** should start."); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.AddComment(ctx, w.inst, codeSub, "", 0, 0, "Nearly there: the threshold is off by one."); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.AdjustScore(ctx, w.inst, w.spring.ID, w.ann.ID, labSlug, 2, "A clear write-up of the failure"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.GrantExtension(ctx, w.inst, w.spring.ID, w.ann.ID, faultline.Extension{Lab: labSlug, DueAt: e.clock.Now().Add(72 * time.Hour), Reason: "ill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.RequestRegrade(ctx, w.ann, codeSub, 0, "It passes locally with seed 42; could the timing be flaky?"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.SaveFile(ctx, w.ann, labSlug, "breaker.go", []byte(code)); err != nil {
		t.Fatal(err)
	}
	e.course.ShareTerminal(ctx, w.ann, labSlug, true)
	w.mustGraded(w.ann, []faultline.File{{Path: "breaker.go", Content: []byte(strings.Replace(code, "failures", "fails", 3))}}, 1, nil)

	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	bctx := mustChromiumContext(t)
	tid := func(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }
	do := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	signIn := func(u *faultline.User) {
		do("home", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(ts.URL+"/"), chromedp.WaitReady(chromedp.CSS("footer")))
		if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="logout"]').length`)); n > 0 {
			do("sign out", chromedp.Click(tid("logout")), chromedp.WaitVisible(tid("sign-in")))
		}
		do("sign in "+u.Name,
			chromedp.Navigate(ts.URL+"/login"),
			chromedp.WaitVisible(tid("auth-form")),
			chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="email"]`), u.Email),
			chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="password"]`), testPassword),
			chromedp.Click(tid("auth-submit")),
			chromedp.WaitVisible(tid("whoami")),
		)
	}
	shot := func(name, path string) {
		t.Helper()
		for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
			do(name+" viewport", chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(ts.URL+path), chromedp.WaitReady(chromedp.CSS("footer")))
			time.Sleep(300 * time.Millisecond)
			sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
			buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			f := filepath.Join(dir, name+"-"+strconv.FormatInt(size[0], 10)+".png")
			if err := os.WriteFile(f, buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	focus := func(name, path, sel string) {
		t.Helper()
		for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
			do(name+" focus", chromedp.EmulateViewport(size[0], size[1]), chromedp.Navigate(ts.URL+path), chromedp.WaitReady(chromedp.CSS("footer")),
				chromedp.Evaluate[chromedp.Void](`document.querySelector(`+strconv.Quote(sel)+`).scrollIntoView()`))
			time.Sleep(300 * time.Millisecond)
			sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
			buf, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, "focus-"+name+"-"+strconv.FormatInt(size[0], 10)+".png"), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cid := strconv.FormatInt(w.spring.ID, 10)
	thread := course.ThreadURL(w.spring.ID, q.Thread.ID)
	ll := learnerLabURL(w.spring.ID, w.ann.ID, labSlug)

	signIn(w.bob)
	shot("learner-index", "/discuss/"+cid)
	shot("learner-thread", thread)
	shot("learner-case", "/cases/dynamo")
	focus("learner-case", "/cases/dynamo", `[data-testid="place-discussions"]`)
	shot("learner-group-thread", course.ThreadURL(w.spring.ID, gt.ID))
	shot("learner-lesson", "/lessons/replication-quorums")
	shot("learner-inbox", "/inbox")
	shot("settings", "/settings/notifications")
	signIn(w.ann)
	shot("ann-new-thread", "/discuss/"+cid+"/new")
	shot("ann-new-thread-run", "/discuss/"+cid+"/new?run="+strconv.FormatInt(sub, 10)+"&test=0")
	shot("ann-submission", submissionURL(codeSub))
	focus("ann-feedback", submissionURL(codeSub), "#feedback")
	focus("ann-line", submissionURL(codeSub), "tr.line-comments")
	shot("ann-lab", labURL(labSlug))
	focus("ann-lab", labURL(labSlug), `[data-testid="lab-conversation"]`)
	shot("ann-edit", "/discuss/"+cid+"/posts/"+strconv.FormatInt(q.Post.ID, 10)+"/edit")
	signIn(w.cara)
	shot("cara-thread-held", thread)
	focus("cara-held", thread, `[data-state="held"]`)
	signIn(w.inst)
	shot("staff-thread", thread)
	focus("staff-thread-settings", thread, `[data-testid="thread-settings"]`)
	shot("staff-index", "/discuss/"+cid)
	shot("staff-dashboard", "/cohorts/"+cid)
	focus("staff-dashboard", "/cohorts/"+cid, `[data-testid="conversation-panel"]`)
	shot("staff-groups", "/cohorts/"+cid+"/groups")
	shot("staff-board", "/cohorts/"+cid+"/cases/dynamo")
	shot("staff-moderation", "/cohorts/"+cid+"/moderation")
	focus("staff-audit", "/cohorts/"+cid+"/moderation", `[data-testid="audit"]`)
	shot("staff-requests", "/cohorts/"+cid+"/requests")
	shot("staff-submission", submissionURL(codeSub)+"?comment=0:12")
	focus("staff-line-form", submissionURL(codeSub)+"?comment=0:12", `[data-testid="line-comment-form"]`)
	focus("staff-feedback", submissionURL(codeSub), "#feedback")
	shot("staff-diff", submissionURL(codeSub)+"/diff?against="+strconv.FormatInt(sub, 10))
	focus("staff-diff", submissionURL(codeSub)+"/diff?against="+strconv.FormatInt(sub, 10), `[data-testid="diff-note"]`)
	shot("staff-learner-lab", ll)
	shot("staff-office", ll+"/files")
	focus("learner-lesson", "/lessons/replication-quorums", `[data-testid="place-discussions"]`)
	shot("staff-terminal", ll+"/terminal")
}

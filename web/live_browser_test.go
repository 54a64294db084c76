package web

import (
	"context"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
)

// TestLiveScriptInChromium drives a real Chromium: the regrade job page and
// the live view update by themselves (static/live.js, no reload) when the
// queue moves, under the portal's CSP.
func TestLiveScriptInChromium(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice)
	const lab = "circuit-breaker"
	sub := e.MustSubmission(alice, lab)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 2})
	job := &faultline.RegradeJob{CohortID: cohort.ID, SubmissionID: sub.ID, CreatedBy: inst.ID}
	if err := e.db.CreateRegradeJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)

	bctx := mustChromiumContext(t)
	tid := func(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }
	step := func(name string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("step %q: %v\n%.2000s", name, err, body)
		}
	}
	step("sign in", 30*time.Second,
		chromedp.Navigate(ts.URL+"/login"),
		chromedp.WaitVisible(tid("auth-form")),
		chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="email"]`), inst.Email),
		chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="password"]`), testPassword),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
	)

	// The job page: running, then done once the regrade is graded.
	step("job page", 15*time.Second,
		chromedp.Navigate(ts.URL+regradeJobURL(cohort.ID, job.ID)),
		chromedp.WaitVisible(tid("regrade-state")+`[data-state="running"]`),
	)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 2})
	step("the job page updates by itself", 30*time.Second,
		chromedp.WaitVisible(tid("regrade-state")+`[data-state="done"]`),
	)

	// The live view: a sandbox that starts shows up without a reload.
	step("live view", 15*time.Second,
		chromedp.Navigate(ts.URL+liveURL(cohort.ID)),
		chromedp.WaitVisible(tid("live-sandboxes-empty")),
	)
	if err := e.db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: alice.ID, Lab: lab, State: faultline.SandboxRunning}); err != nil {
		t.Fatal(err)
	}
	step("the live view updates by itself", 30*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="live-sandbox"][data-user="`+strconv.FormatInt(alice.ID, 10)+`"]`)),
	)
}

// mustChromiumContext starts a headless Chromium for one test.
func mustChromiumContext(tb testing.TB) context.Context {
	tb.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		tb.Fatal("no Chromium found: run scripts/ensure.sh chromium (make test does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(tb.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

package web

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

const evilSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4" onload="alert(1)"><script>alert(2)</script></svg>`

// labkitResult is a graded result whose failing hidden test has a labkit
// report naming a seed, and a picture.
func labkitResult() *faultline.Result {
	report := "    kv_test.go:9: \n        PROPERTY BROKEN: no acknowledged write is lost\n        Seed: 42\n" +
		"        Reproduce: LABKIT_SEED=42 go test -count=1 -run '^TestLost$/^seed=42$' ./...\n"
	return &faultline.Result{
		Status: faultline.StatusGraded, Score: 1, MaxScore: 3,
		Tests: []faultline.TestResult{
			{Name: "TestFine", Status: faultline.TestPass, Score: 1, MaxScore: 1},
			{Name: "TestLost", Hidden: true, Status: faultline.TestFail, MaxScore: 2, Message: "PROPERTY BROKEN: no acknowledged write is lost",
				Output: report, Attachments: []faultline.Attachment{{Name: "timeline.svg", SVG: evilSVG}},
				FailedRun: "TestLost/seed=42", Seed: 42},
		},
	}
}

func TestPicturesAreServedAsSandboxedImages(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	other := e.MustUser("Oli Other", faultline.RoleLearner)
	e.MustCohort("Spring", inst, u, other)
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(labkitResult())

	page := e.MustLogin(u).get(submissionURL(sub.ID))
	pics := page.testid("picture")
	if pics.Length() != 1 {
		t.Fatalf("%d pictures on the result page, want 1", pics.Length())
	}
	src, _ := pics.Find("img").Attr("src")
	if !strings.HasPrefix(src, submissionURL(sub.ID)+"/pictures/1/0/") || !strings.Contains(pics.Text(), "TestLost") {
		t.Fatalf("picture src %q, caption %q", src, pics.Text())
	}
	if strings.Contains(page.body, "alert(") {
		t.Fatal("the SVG's script is inlined in the page")
	}

	for _, viewer := range []*faultline.User{u, inst} {
		res := e.MustLogin(viewer).get(src)
		if res.status != http.StatusOK || res.body != evilSVG {
			t.Fatalf("%s: status %d body %q", viewer.Name, res.status, res.body)
		}
		if ct := res.header.Get("Content-Type"); ct != "image/svg+xml" {
			t.Errorf("Content-Type %q", ct)
		}
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("picture CSP %q does not shut scripts out", csp)
		}
		if res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no nosniff")
		}
	}
	// Another learner, a wrong name or index: no such picture.
	for _, tc := range []struct {
		who  *faultline.User
		path string
	}{
		{other, src},
		{u, strings.Replace(src, "/1/0/", "/0/0/", 1)},
		{u, strings.Replace(src, "/1/0/", "/1/1/", 1)},
		{u, strings.Replace(src, "timeline.svg", "other.svg", 1)},
		{u, strings.Replace(src, "/1/0/", "/x/0/", 1)},
	} {
		if res := e.MustLogin(tc.who).get(tc.path); res.status != http.StatusNotFound {
			t.Errorf("%s GET %s: status %d, want 404", tc.who.Name, tc.path, res.status)
		}
	}
}

// fakeReplayer records replays and answers with a result it builds.
type fakeReplayer struct {
	mu    sync.Mutex
	calls []replayCall
	block chan struct{} // when set, Replay waits on it
}

type replayCall struct {
	lab   string
	files []faultline.File
	rp    faultline.Repro
}

func (f *fakeReplayer) Replay(ctx context.Context, lab *faultline.Lab, files []faultline.File, rp faultline.Repro) (*faultline.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, replayCall{lab.Slug, files, rp})
	block := f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	return &faultline.Result{Lab: lab.Slug, Status: faultline.StatusGraded, Score: 0, MaxScore: 2,
		Message: "Replayed " + rp.Run,
		Tests: []faultline.TestResult{{Name: "TestLost", Hidden: true, Status: faultline.TestFail, MaxScore: 2,
			Output: "PROPERTY BROKEN: again\nSeed: 42\n", Attachments: []faultline.Attachment{{Name: "timeline.svg", SVG: evilSVG}}}},
	}, nil
}

func TestReplayAFailingRun(t *testing.T) {
	rep := &fakeReplayer{}
	e := MustEnv(t, func(d *envDeps) { d.Replayer = rep })
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	other := e.MustUser("Oli Other", faultline.RoleLearner)
	e.MustCohort("Spring", inst, u, other)
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(labkitResult())
	ctx := context.Background()
	if _, err := e.db.SaveFile(ctx, u.ID, labSlug, "breaker.go", []byte("package circuitbreaker // saved now\n")); err != nil {
		t.Fatal(err)
	}

	learner := e.MustLogin(u)
	page := learner.get(submissionURL(sub.ID))
	btn := page.doc().Find(`[data-testid="replay"][data-test="TestLost"]`)
	if btn.Length() != 1 || !strings.Contains(btn.Text(), "seed 42") {
		t.Fatalf("replay button: %d, %q", btn.Length(), btn.Text())
	}
	if n := page.testid("replay").Length(); n != 1 {
		t.Errorf("%d replay buttons, want 1 (only the failing test with a seed)", n)
	}
	idx, _ := btn.Closest("form").Find(`input[name="test"]`).Attr("value")

	res := learner.post(submissionURL(sub.ID)+"/replay", url.Values{"test": {idx}})
	if res.status != http.StatusOK {
		t.Fatalf("replay: status %d\n%s", res.status, res.body)
	}
	if len(rep.calls) != 1 {
		t.Fatalf("%d replays run", len(rep.calls))
	}
	c := rep.calls[0]
	if c.lab != labSlug || c.rp != (faultline.Repro{Run: "^TestLost$/^seed=42$", Seed: 42}) {
		t.Errorf("replayed %+v", c)
	}
	found := false
	for _, f := range c.files {
		found = found || (f.Path == "breaker.go" && strings.Contains(string(f.Content), "saved now"))
	}
	if !found {
		t.Errorf("the owner's replay did not use their saved files: %v", c.files)
	}
	if got := res.testid("replay-seed").Text(); got != "42" {
		t.Errorf("replay page seed %q", got)
	}
	if !strings.Contains(res.testid("replay-what").Text(), "your saved files") {
		t.Errorf("replay page does not say which files: %q", res.testid("replay-what").Text())
	}
	img, _ := res.doc().Find(`[data-testid="replay-result"] [data-testid="picture"] img`).Attr("src")
	if !strings.HasPrefix(img, "data:image/svg+xml;base64,") {
		t.Errorf("replay picture src %.60q, want a data: image", img)
	}
	if strings.Contains(res.body, "alert(") {
		t.Error("the replay's SVG is inlined as markup")
	}
	if res.testid("replays").Length() != 0 {
		t.Error("the replay page offers replays of its own rows")
	}

	// An instructor replays the submitted files, not the learner's saves.
	if res := e.MustLogin(inst).post(submissionURL(sub.ID)+"/replay", url.Values{"test": {idx}}); res.status != http.StatusOK {
		t.Fatalf("instructor replay: %d", res.status)
	}
	if got := rep.calls[1].files; len(got) != 1 || got[0].Path != "main.go" {
		t.Errorf("instructor replay used %v, want the submission's files", got)
	}

	// Refusals.
	for _, tc := range []struct {
		who    *faultline.User
		test   string
		status int
	}{
		{other, idx, http.StatusNotFound},        // not theirs
		{u, "0", http.StatusUnprocessableEntity}, // a passing test names no seed
		{u, "9", http.StatusUnprocessableEntity}, // no such test
		{u, "x", http.StatusUnprocessableEntity}, // garbage
	} {
		if res := e.MustLogin(tc.who).post(submissionURL(sub.ID)+"/replay", url.Values{"test": {tc.test}}); res.status != tc.status {
			t.Errorf("%s replays test %q: status %d, want %d", tc.who.Name, tc.test, res.status, tc.status)
		}
	}
	if len(rep.calls) != 2 {
		t.Errorf("refused replays ran: %d calls", len(rep.calls))
	}
}

// TestReplaysAreCapped: the replay slots are shared fairly, one per
// learner at a time, and a learner's replays in an hour are capped.
func TestReplaysAreCapped(t *testing.T) {
	rep := &fakeReplayer{block: make(chan struct{})}
	e := MustEnv(t, func(d *envDeps) {
		d.Replayer = rep
		d.Fairness = faultline.Fairness{ReplaySlots: 2, ReplaysPerHour: 3}
	})
	var learners []*faultline.User
	var subs []*faultline.Submission
	for _, name := range []string{"Ann A", "Ben B", "Cat C"} {
		u := e.MustUser(name, faultline.RoleLearner)
		learners = append(learners, u)
		subs = append(subs, e.MustSubmission(u, labSlug))
		e.MustComplete(labkitResult())
	}
	replay := func(i int) *response {
		return e.MustLogin(learners[i]).post(submissionURL(subs[i].ID)+"/replay", url.Values{"test": {"1"}})
	}
	waitCalls := func(n int) {
		for {
			rep.mu.Lock()
			got := len(rep.calls)
			rep.mu.Unlock()
			if got == n {
				return
			}
			runtime.Gosched()
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); replay(0) }()
	waitCalls(1)
	// Ann holds one slot; a second replay of hers waits for it, though a
	// slot is free.
	if res := replay(0); res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "still running") ||
		res.header.Get("Retry-After") == "" {
		t.Errorf("a second replay of one learner: status %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	wg.Add(1)
	go func() { defer wg.Done(); replay(1) }()
	waitCalls(2)
	// Both slots taken: Cat is told to retry.
	if res := replay(2); res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "try again") {
		t.Errorf("replay beyond the slots: status %d", res.status)
	}
	close(rep.block)
	wg.Wait()
	// Ann's allowance is 3 an hour; the refused one did not count.
	for i := 0; i < 2; i++ {
		if res := replay(0); res.status != http.StatusOK {
			t.Fatalf("replay %d of Ann: status %d", i+2, res.status)
		}
	}
	if res := replay(0); res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "last hour") {
		t.Errorf("a fourth replay in the hour: status %d", res.status)
	}
	e.clock.Add(61 * time.Minute)
	if res := replay(0); res.status != http.StatusOK {
		t.Errorf("a replay an hour later: status %d", res.status)
	}
}

// TestReplayCannotBeSteered: what a failing test printed never decides what
// a replay runs. Learner code that prints its own "Reproduce:" line with a
// pattern matching every test gets no replay of it, and the pattern a
// replay runs always names the one test asked for, quoted.
func TestReplayCannotBeSteered(t *testing.T) {
	rep := &fakeReplayer{}
	e := MustEnv(t, func(d *envDeps) { d.Replayer = rep })
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, u)
	forged := "    breaker.go:12: \n        Reproduce: LABKIT_SEED=1 go test -count=1 -run '.*' ./...\n"
	res := &faultline.Result{Status: faultline.StatusGraded, Score: 0, MaxScore: 3, Tests: []faultline.TestResult{
		// A visible test whose output holds a forged reproduce line but
		// whose events named no failing run.
		{Name: "TestVisible", Status: faultline.TestFail, MaxScore: 1, Output: forged, Message: forged},
		// Visible tests whose recorded run was forged: one to escape its
		// name (never replayed), one to match more subtests (quoted, so it
		// matches only a subtest of that literal name).
		{Name: "TestOther", Status: faultline.TestFail, MaxScore: 1, FailedRun: "TestHidden|TestOther/seed=1", Seed: 1},
		{Name: "TestThird", Status: faultline.TestFail, MaxScore: 1, FailedRun: "TestThird/.*|seed=1", Seed: 1},
		// A hidden test with a real recorded run.
		{Name: "TestHidden", Hidden: true, Status: faultline.TestFail, MaxScore: 1, FailedRun: "TestHidden/seed=7", Seed: 7},
	}}
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(res)
	learner := e.MustLogin(u)
	for i := range res.Tests {
		learner.post(submissionURL(sub.ID)+"/replay", url.Values{"test": {strconv.Itoa(i)}})
	}
	// Hidden tests hidden: the hidden test's run may not be replayed (the
	// learner's result now lists the three visible tests only).
	if err := e.db.SetLabSettings(context.Background(), &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, Visibility: faultline.TestsHidden}); err != nil {
		t.Fatal(err)
	}
	if r := learner.post(submissionURL(sub.ID)+"/replay", url.Values{"test": {"3"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("hidden test replayed with hidden tests hidden: status %d", r.status)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	want := []string{`^TestThird$/^\.\*\|seed=1$`, "^TestHidden$/^seed=7$"}
	if len(rep.calls) != len(want) {
		t.Fatalf("%d replays ran, want %d: %+v", len(rep.calls), len(want), rep.calls)
	}
	for i, c := range rep.calls {
		if c.rp.Run != want[i] {
			t.Errorf("replay %d ran %q, want %q", i, c.rp.Run, want[i])
		}
	}
}

func TestReplayWithoutGrader(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(labkitResult())
	if res := e.MustLogin(u).post(submissionURL(sub.ID)+"/replay", url.Values{"test": {"1"}}); res.status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", res.status)
	}
}

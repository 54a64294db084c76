package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
)

// TestConversation drives a real Chromium through the real portal, store
// and grader: the instructor splits the cohort into groups and learners in
// two groups discuss a case study's prompt (a groupmate's post arrives
// live); a learner submits, attaches the failing run to a question;
// another learner's answer that pastes the solution is held; the
// instructor endorses an answer, comments on a line of the submission,
// adjusts the score (seen in the gradebook CSV), grants an extension after
// which the learner submits past the due date with no penalty, and answers
// a regrade request.
func TestConversation(t *testing.T) {
	m := MustServe(t, t.TempDir())
	ctx := context.Background()
	lab, err := m.Labs.Lab("circuit-breaker")
	if err != nil {
		t.Fatal(err)
	}
	solution := MustSolutionFile(t, lab, "breaker.go")
	full := lab.MaxScore()
	const pass = "conversation battery horse"
	hash, _ := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	newUser := func(name string, role faultline.Role) *faultline.User {
		u := &faultline.User{Name: name, Email: strings.ToLower(strings.Fields(name)[0]) + "@example.com", Role: role, PasswordHash: string(hash)}
		if err := m.DB.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	ines := newUser("Ines Instructor", faultline.RoleInstructor)
	learners := []*faultline.User{newUser("Ann Asker", faultline.RoleLearner), newUser("Bob Paster", faultline.RoleLearner),
		newUser("Cara Answerer", faultline.RoleLearner), newUser("Dan Discusser", faultline.RoleLearner)}
	ann, bob, cara := learners[0], learners[1], learners[2]
	cohort := &faultline.Cohort{Name: "Spring", InviteCode: "spring-code", CreatedBy: ines.ID}
	if err := m.DB.CreateCohort(ctx, cohort); err != nil {
		t.Fatal(err)
	}
	for _, u := range learners {
		if err := m.DB.AddMember(ctx, cohort.ID, u.ID, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}
	base := m.Config.BaseURL
	cid := strconv.FormatInt(cohort.ID, 10)
	b := &browser{t: t, ctx: MustBrowser(t)}
	signIn := func(u *faultline.User) {
		t.Helper()
		b.do("sign in "+u.Name, 30*time.Second,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(tid("auth-form")),
			fillAuth("email", u.Email), fillAuth("password", pass),
			chromedp.Click(tid("auth-submit")),
			chromedp.WaitVisible(tid("whoami")),
		)
	}
	signOut := func() {
		t.Helper()
		b.do("sign out", 15*time.Second, chromedp.Click(tid("logout")), chromedp.WaitVisible(tid("sign-in")))
	}
	text := func(step string, sel chromedp.CSS) string { t.Helper(); return get(b, step, chromedp.Text(sel)) }
	location := func(step string) string { t.Helper(); return get(b, step, chromedp.Location()) }

	// 1. The instructor splits the cohort into pairs.
	signIn(ines)
	b.do("split into groups", 30*time.Second,
		chromedp.Navigate(base+"/cohorts/"+cid+"/groups"),
		chromedp.WaitVisible(tid("split-form")),
		chromedp.SetValue(tid("group-size"), "2"),
		chromedp.Click(tid("split")),
		chromedp.WaitVisible(tid("notice")),
	)
	if n := get(b, "groups", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="group"]').length`)); n != 2 {
		t.Fatalf("%d groups, want 2", n)
	}
	signOut()
	groups, err := m.DB.ListGroups(ctx, cohort.ID, false)
	if err != nil || len(groups) != 2 {
		t.Fatalf("groups: %+v, %v", groups, err)
	}
	byID := map[int64]*faultline.User{}
	for _, u := range learners {
		byID[u.ID] = u
	}
	g1a, g1b, g2a := byID[groups[0].Members[0]], byID[groups[0].Members[1]], byID[groups[1].Members[0]]

	// 2. Each group discusses the first prompt of the Dynamo case in its
	// own thread; a groupmate's post arrives live on the open page.
	discussPrompt := func(u *faultline.User, words string) string {
		t.Helper()
		signIn(u)
		b.do(u.Name+" opens the prompt", 30*time.Second,
			chromedp.Navigate(base+"/cases/dynamo"),
			chromedp.WaitVisible(tid("prompts")),
			chromedp.Click(`[data-testid="prompt-line"]:first-child [data-testid="prompt-start"], [data-testid="prompt-line"]:first-child [data-testid="prompt-open"]`),
			chromedp.WaitVisible(tid("prompt")),
			chromedp.SetValue(tid("reply-body"), words),
			chromedp.Click(tid("reply-submit")),
			chromedp.WaitVisible(tid("notice")),
		)
		return strings.Split(location(u.Name+" thread"), "?")[0]
	}
	g1Thread := discussPrompt(g1a, "Our group: payments would rather refuse a write than lose one.")
	signOut()
	signIn(g1b)
	b.do("the groupmate opens the thread", 30*time.Second, chromedp.Navigate(g1Thread), chromedp.WaitVisible(tid("prompt")))
	mate := MustClient(t)
	if code, _ := MustDo(t, mate, "POST", base+"/login", url.Values{"email": {g1a.Email}, "password": {pass}}); code != http.StatusSeeOther {
		t.Fatalf("groupmate signs in over HTTP: %d", code)
	}
	if code, _ := MustDo(t, mate, "POST", g1Thread+"/posts", url.Values{"body": {"And the cart would rather take every write."}}); code != http.StatusSeeOther {
		t.Fatalf("groupmate posts: %d", code)
	}
	b.do("the post arrives without a reload", 30*time.Second,
		chromedp.WaitVisible(`//div[@data-testid="post-body"][contains(., "the cart would rather")]`),
	)
	signOut()
	g2Thread := discussPrompt(g2a, "We think sloppy quorums hand the cost to the reader.")
	if g2Thread == g1Thread {
		t.Fatal("two groups share one thread")
	}
	b.do("the other group cannot read it", 15*time.Second, chromedp.Navigate(g1Thread), chromedp.WaitVisible(tid("error")))
	signOut()

	// 3. Ann submits the starter, and attaches its failing run to a question.
	submit := func(step string) string {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Navigate(base+"/labs/circuit-breaker"),
			chromedp.WaitVisible(tid("submit")),
			chromedp.Click(tid("submit")),
			chromedp.WaitVisible(tid("result-box")),
		)
		b.do(step+": graded", 5*time.Minute, chromedp.WaitVisible(in(tid("result-box"), "score")))
		return location(step + ": url")
	}
	signIn(ann)
	annSubURL := submit("Ann submits the starter")
	failingTest := text("the failing run to attach", tid("attach-run"))
	b.do("attach the failing run", 30*time.Second,
		chromedp.Click(tid("attach-run")),
		chromedp.WaitVisible(tid("run")),
		chromedp.SetValue(tid("thread-title-input"), "Why does my breaker never open?"),
		chromedp.SetValue(tid("thread-body"), "I count failures but it stays closed. What am I missing?"),
		chromedp.Click(tid("thread-submit")),
		chromedp.WaitVisible(tid("thread")),
	)
	question := strings.Split(location("question"), "?")[0]
	runTest := text("attached run", tid("run-test"))
	if !strings.Contains(failingTest, runTest) || text("run verdict", tid("run-verdict")) == "" {
		t.Fatalf("the attached run shows test %q (attached from %q)", runTest, failingTest)
	}
	signOut()

	// 4. Bob pastes the solution: held, and told why. Cara answers in words.
	signIn(bob)
	b.do("Bob pastes the solution", 30*time.Second,
		chromedp.Navigate(question),
		chromedp.WaitVisible(tid("run")),
		chromedp.SetValue(tid("reply-body"), "Here is mine, it passes:\n\n```go\n"+solution+"```\n"),
		chromedp.Click(tid("reply-submit")),
		chromedp.WaitVisible(tid("held-notice")),
	)
	if reason := text("held reason", tid("held-notice")); !strings.Contains(reason, "passing solution") {
		t.Fatalf("Bob is told %q", reason)
	}
	signOut()
	signIn(cara)
	b.do("Cara answers", 30*time.Second,
		chromedp.Navigate(question),
		chromedp.WaitVisible(tid("run")),
		chromedp.SetValue(tid("reply-body"), "Look at when you reset the failure count: a success must reset it, nothing else."),
		chromedp.Click(tid("reply-submit")),
		chromedp.WaitVisible(tid("notice")),
	)
	if held := get(b, "Cara sees no held post", chromedp.Evaluate[int](`document.querySelectorAll('[data-state="held"]').length`)); held != 0 {
		t.Errorf("a classmate sees %d held posts", held)
	}
	signOut()

	// 5. The instructor endorses Cara's answer, sees Bob's held one, and
	// reads the run's submission.
	signIn(ines)
	b.do("endorse", 30*time.Second,
		chromedp.Navigate(question),
		chromedp.WaitVisible(`[data-testid="post"][data-state="held"]`),
		chromedp.Click(`//article[@data-testid="post"][contains(., "a success must reset it")]//button[@data-testid="endorse"]`),
		chromedp.WaitVisible(tid("endorsed")),
	)
	if got := text("endorsement", tid("endorsed")); !strings.Contains(got, "Ines") {
		t.Errorf("the endorsement reads %q", got)
	}

	// 6. A comment on line 3 of Ann's breaker.go.
	b.do("comment on a line", 30*time.Second,
		chromedp.Navigate(annSubURL),
		chromedp.WaitVisible(`[data-testid="code-lines"][data-path="breaker.go"]`),
		chromedp.Click(`[data-testid="code-lines"][data-path="breaker.go"] tr[data-line="3"] [data-testid="line-comment-link"]`),
		chromedp.WaitVisible(tid("line-comment-form")),
		chromedp.SetValue(tid("line-comment-body"), "Here is where the **failure count** should start."),
		chromedp.Click(tid("line-comment-submit")),
		chromedp.WaitVisible(`[data-testid="code-lines"][data-path="breaker.go"] tr.line-comments [data-testid="comment"]`),
	)

	// 7. +3 points for the write-up; the gradebook CSV shows it.
	annSub, err := strconv.ParseInt(annSubURL[strings.LastIndex(annSubURL, "/")+1:], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := m.DB.FindSubmission(ctx, annSub)
	if err != nil {
		t.Fatal(err)
	}
	graded := sub.Result.Score
	b.do("adjust the score", 30*time.Second,
		chromedp.Navigate(annSubURL),
		chromedp.WaitVisible(tid("feedback")),
		chromedp.Click(`[data-testid="adjust-open"] summary`),
		chromedp.SetValue(tid("adjust-points"), "3"),
		chromedp.SetValue(tid("adjust-reason"), "A clear write-up of the failure"),
		chromedp.Click(tid("adjust-submit")),
		chromedp.WaitVisible(tid("adjustments")),
	)
	if got := downloadGradebookCell(t, b, base+"/cohorts/"+cid, lab, ann.Email); got != strconv.Itoa(min(graded+3, full)) {
		t.Fatalf("the CSV gives Ann %s; graded %d, +3", got, graded)
	}

	// 8. The due date passed an hour ago and late work loses half: an
	// extension lets Ann submit with no penalty.
	if err := m.DB.SetLabSettings(ctx, &faultline.LabSettings{CohortID: cohort.ID, Lab: lab.Slug, DueAt: time.Now().Add(-time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 50, CapPercent: 50}}); err != nil {
		t.Fatal(err)
	}
	due := time.Now().UTC().Add(48 * time.Hour).Format("2006-01-02T15:04")
	b.do("grant an extension", 30*time.Second,
		chromedp.Navigate(base+"/cohorts/"+cid+"/learners/"+strconv.FormatInt(ann.ID, 10)+"/labs/circuit-breaker"),
		chromedp.WaitVisible(tid("learner-feedback")),
		chromedp.Click(`[data-testid="extension-open"] summary`),
		chromedp.SetValue(tid("extension-due"), due),
		chromedp.SetValue(tid("extension-reason"), "ill for a week"),
		chromedp.Click(tid("extension-submit")),
		chromedp.WaitVisible(tid("learner-extension")),
	)
	signOut()
	signIn(ann)
	b.do("Ann saves the fix", 30*time.Second,
		chromedp.Navigate(base+"/labs/circuit-breaker?file=breaker.go"),
		chromedp.WaitVisible(tid("lab-extension")),
		chromedp.WaitReady(tid("editor-content")),
		chromedp.SetValue(tid("editor-content"), solution),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[data-testid="editor"]').submit()`),
		chromedp.WaitReady(tid("notice")),
	)
	lateURL := submit("Ann submits after the due date")
	if got := text("late score", in(tid("result-box"), "score")); got != fmt.Sprintf("%d/%d", full, full) {
		t.Errorf("the extended submission scored %s, want full marks", got)
	}
	if n := get(b, "late note", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="late-note"]').length`)); n != 0 {
		t.Errorf("the extended submission carries a late note")
	}

	// 9. Ann asks about a test; the instructor answers.
	b.do("regrade request", 30*time.Second,
		chromedp.Navigate(lateURL),
		chromedp.WaitVisible(tid("feedback")),
		chromedp.Click(`[data-testid="request-open"] summary`),
		chromedp.SetValue(tid("request-reason-body"), "Does the hidden test count the half-open probe twice?"),
		chromedp.Click(`[data-testid="request-form"] [data-testid="request-submit"]`),
		chromedp.WaitVisible(tid("request")),
	)
	signOut()
	signIn(ines)
	b.do("answer the request", 30*time.Second,
		chromedp.Navigate(base+"/cohorts/"+cid+"/requests"),
		chromedp.WaitVisible(tid("answer-form")),
		chromedp.SetValue(tid("request-answer-body"), "It counts it once; your result stands."),
		chromedp.Click(tid("decide-decline")),
		chromedp.Click(`[data-testid="answer-form"] [data-testid="request-submit"]`),
		chromedp.WaitVisible(tid("notice")),
	)
	signOut()
	signIn(ann)
	b.do("Ann reads the answer", 30*time.Second,
		chromedp.Navigate(lateURL),
		chromedp.WaitVisible(tid("request-answer")),
	)
	if got := text("answer", tid("request-answer")); !strings.Contains(got, "your result stands") {
		t.Errorf("Ann reads %q", got)
	}
	b.do("Ann's inbox", 30*time.Second, chromedp.Navigate(base+"/inbox"), chromedp.WaitVisible(tid("inbox")))
	inbox := text("inbox", tid("inbox"))
	for _, want := range []string{"commented on breaker.go line 3", "adjusted by +3", "extension", "regrade request", "endorsed an answer"} {
		if !strings.Contains(inbox, want) {
			t.Errorf("Ann's inbox lacks %q:\n%s", want, inbox)
		}
	}
}

// downloadGradebook downloads a cohort's gradebook CSV in the browser and
// returns its bytes, failing the test when no file arrives.
func downloadGradebook(t *testing.T, b *browser, cohortURL string) []byte {
	t.Helper()
	dl := t.TempDir()
	b.do("allow downloads", 10*time.Second,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
			return err
		}),
	)
	b.do("download the gradebook", 30*time.Second,
		chromedp.Navigate(cohortURL),
		chromedp.WaitVisible(tid("gradebook-link")),
		chromedp.Click(tid("gradebook-link")),
	)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		matches, _ := filepath.Glob(filepath.Join(dl, "*.csv"))
		if len(matches) == 1 {
			if d, err := os.ReadFile(matches[0]); err == nil && len(d) > 0 {
				return d
			}
		}
	}
	t.Fatal("the gradebook CSV was not downloaded")
	return nil
}

// downloadGradebookCell downloads a cohort's gradebook CSV in the browser
// and returns the learner's cell of the lab.
func downloadGradebookCell(t *testing.T, b *browser, cohortURL string, lab *faultline.Lab, email string) string {
	t.Helper()
	data := downloadGradebook(t, b, cohortURL)
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("gradebook CSV: %v\n%s", err, data)
	}
	col := -1
	for i, h := range recs[0] {
		if h == fmt.Sprintf("%s (%d)", lab.Title, lab.MaxScore()) {
			col = i
		}
	}
	for _, r := range recs[1:] {
		if r[1] == email && col >= 0 {
			return r[col]
		}
	}
	t.Fatalf("no cell for %s in\n%s", email, data)
	return ""
}

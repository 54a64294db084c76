package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
)

// MustChromium returns the path of the Chromium the browser tests drive
// (`make test` installs it on Debian when missing).
func MustChromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatal("no Chromium found: run scripts/ensure.sh chromium (make test does)")
	return ""
}

// MustBrowser starts a headless Chromium and returns a browser context.
func MustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(MustChromium(tb)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// MustServe starts the real portal on a free loopback port with a fresh data
// folder and returns it; it is closed when the test ends.
func MustServe(tb testing.TB, dataDir string) *Main {
	tb.Helper()
	return MustServeWith(tb, dataDir, func(*Config) {})
}

// MustServeWith is MustServe with the config changed by edit first.
// Sandboxes outlive a portal restart on purpose; when the test ends it
// removes everything of its own installation so the engine is left clean.
func MustServeWith(tb testing.TB, dataDir string, edit func(*Config)) *Main {
	tb.Helper()
	cfg := DefaultConfig(func(string) string { return "" })
	cfg.Addr, cfg.DataDir, cfg.ShutdownGrace = "127.0.0.1:0", dataDir, 20*time.Second
	edit(&cfg)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	m := NewMain(cfg, logger, io.Discard)
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("start portal: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := m.Engine.RemoveOrphans(ctx, "", nil); err != nil {
			tb.Errorf("remove the test's containers: %v", err)
		}
		m.Close()
	})
	return m
}

// browser drives one tab and fails the test naming the step that broke.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// fail reports a failed step with where the page was and what it said.
func (b *browser) fail(name string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	if len(body) > 3000 {
		body = body[:3000]
	}
	b.t.Fatalf("step %q: %v\nat %s\n%s", name, err, loc, body)
}

// do runs steps within timeout.
func (b *browser) do(name string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(name, err)
	}
}

// get runs one action that returns a value.
func get[T any](b *browser, name string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(name, err)
	}
	return v
}

// fillAuth sets one field of the sign-in, sign-up or setup form.
func fillAuth(name, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="`+name+`"]`), value)
}

// setupAdmin signs the first admin, Ada (ada@example.com, password
// "correct horse battery"), up through the portal's one-time setup link.
func (b *browser) setupAdmin(m *Main) {
	b.t.Helper()
	b.do("setup admin", 30*time.Second,
		chromedp.Navigate(m.Config.BaseURL+"/setup?token="+m.SetupToken),
		chromedp.WaitVisible(tid("auth-form")),
		fillAuth("name", "Ada Admin"), fillAuth("email", "ada@example.com"),
		fillAuth("password", "correct horse battery"), fillAuth("confirm", "correct horse battery"),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
	)
}

// MustSolutionFile returns the text of one file of the lab's solution.
func MustSolutionFile(tb testing.TB, lab *faultline.Lab, path string) string {
	tb.Helper()
	for _, f := range lab.Solution {
		if f.Path == path {
			return string(f.Content)
		}
	}
	tb.Fatalf("the %s solution has no %s", lab.Slug, path)
	return ""
}

// showTab brings a tab of the lab page's bottom pane forward ("terminal",
// "tests" or "history"), as a learner clicks it; without the bundle every
// tab's content is in view already.
func showTab(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => {
		const b = document.querySelector('.run-tabs:not([hidden]) button[data-tab="` + name + `"]');
		if (b) b.click();
	})()`)
}

func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

func in(outer chromedp.CSS, inner string) chromedp.CSS { return outer + " " + tid(inner) }

// TestWalkthrough drives a real Chromium through the real server, store,
// Docker sandbox and grader: an admin sets up the portal and a cohort, a
// learner joins by invite, reads a lesson, starts the circuit-breaker lab,
// edits and saves the code, runs the visible tests in the sandbox, submits
// and watches the grade arrive live; the instructor sees it on the dashboard
// and opens the submission.
func TestWalkthrough(t *testing.T) {
	m := MustServe(t, t.TempDir())
	if m.SetupToken == "" {
		t.Fatal("a fresh portal has no setup token")
	}
	lab, err := m.Labs.Lab("circuit-breaker")
	if err != nil {
		t.Fatal(err)
	}
	solution := MustSolutionFile(t, lab, "breaker.go")
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	const adminEmail, adminPass = "ada@example.com", "correct horse battery"
	const learnerEmail, learnerPass = "lin@example.com", "staple battery horse"
	fill := fillAuth

	// 2. The first admin through the one-time setup link, then a cohort.
	b.do("setup admin", 30*time.Second,
		chromedp.Navigate(base+"/setup?token="+m.SetupToken),
		chromedp.WaitVisible(tid("auth-form")),
		fill("name", "Ada Admin"), fill("email", adminEmail), fill("password", adminPass), fill("confirm", adminPass),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
	)
	if who := get(b, "whoami", chromedp.Text(tid("whoami"))); !strings.Contains(who, "Ada") {
		t.Fatalf("after setup the page says signed in as %q", who)
	}
	b.do("create cohort", 30*time.Second,
		chromedp.Navigate(base+"/cohorts"),
		chromedp.WaitVisible(tid("create-cohort")),
		chromedp.SetValue(chromedp.CSS(`form:has([data-testid="create-cohort"]) [name="name"]`), "Autumn cohort"),
		chromedp.Click(tid("create-cohort")),
		chromedp.WaitVisible(tid("invite-link")),
	)
	invite := get(b, "invite link", chromedp.Value(tid("invite-link")))
	cohortURL := get(b, "cohort url", chromedp.Location())
	if !strings.HasPrefix(invite, base+"/join/") {
		t.Fatalf("invite link %q does not start with %s/join/", invite, base)
	}
	b.do("sign out", 15*time.Second,
		chromedp.Click(tid("logout")),
		chromedp.WaitVisible(tid("sign-in")),
	)

	// 3. A learner joins through the invite and reads a lesson.
	b.do("join cohort", 30*time.Second,
		chromedp.Navigate(invite),
		chromedp.WaitVisible(tid("auth-form")),
		fill("name", "Lin Learner"), fill("email", learnerEmail), fill("password", learnerPass), fill("confirm", learnerPass),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
	)
	if who := get(b, "whoami", chromedp.Text(tid("whoami"))); !strings.Contains(who, "Lin") {
		t.Fatalf("after joining the page says signed in as %q", who)
	}
	b.do("read lesson", 30*time.Second,
		chromedp.Navigate(base+"/lessons/circuit-breakers"),
		chromedp.WaitVisible(tid("lesson-body")),
	)
	if text := get(b, "lesson text", chromedp.Text(tid("lesson-body"))); !strings.Contains(strings.ToLower(text), "half-open") {
		t.Fatalf("the circuit-breakers lesson does not mention half-open:\n%.500s", text)
	}
	b.do("mark read", 15*time.Second,
		chromedp.Click(tid("mark-read")),
		chromedp.WaitVisible(tid("read-mark")),
	)

	// The lab: start the sandbox (the first start may build the lab image).
	b.do("start lab", 6*time.Minute,
		chromedp.Navigate(base+"/labs/circuit-breaker"),
		chromedp.WaitVisible(tid("start-lab")),
		chromedp.Click(tid("start-lab")),
		chromedp.WaitVisible(tid("sandbox-state")+`[data-state="running"]`),
	)
	sb, err := m.DB.ListSandboxes(context.Background(), faultline.SandboxRunning)
	if err != nil || len(sb) != 1 || sb[0].ContainerID == "" {
		t.Fatalf("after Start lab the store has running sandboxes %v, %v; want one with a container", sb, err)
	}

	// Edit breaker.go in the browser and save it.
	b.do("edit and save", 30*time.Second,
		chromedp.Navigate(base+"/labs/circuit-breaker?file=breaker.go"),
		chromedp.WaitVisible(tid("editor-content")),
		chromedp.SetValue(tid("editor-content"), solution),
		chromedp.Click(tid("save-file")),
		chromedp.WaitVisible(tid("notice")),
	)
	if notice := get(b, "notice", chromedp.Text(tid("notice"))); !strings.Contains(strings.ToLower(notice), "saved") {
		t.Fatalf("after saving the notice says %q", notice)
	}

	// Run the visible tests in the sandbox and see their output.
	b.do("run tests", 3*time.Minute,
		chromedp.Click(tid("run-tests")),
		chromedp.WaitVisible(in(tid("run-output"), "run-score")),
	)
	runOutput := get(b, "run output", chromedp.Text(in(tid("run-output"), "output")))
	rows := get(b, "run rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="run-output"] [data-testid="test-row"][data-status="pass"]').length`))
	visible := 0
	for _, tt := range lab.Tests {
		if !tt.Hidden {
			visible++
		}
	}
	if rows != visible || !strings.Contains(runOutput, "PASS") {
		t.Fatalf("run tests: %d passing rows, want %d; output:\n%s", rows, visible, runOutput)
	}

	// Submit and watch the grade arrive without a reload: a marker set on the
	// page must survive until the result shows.
	b.do("submit", 30*time.Second,
		chromedp.Click(tid("submit")),
		chromedp.WaitVisible(tid("result-box")),
	)
	get(b, "set marker", chromedp.Evaluate[bool](`window.__faultlineNoReload = true`))
	b.do("wait for grade", 4*time.Minute, chromedp.WaitVisible(in(tid("result-box"), "score")))
	score := get(b, "score", chromedp.Text(in(tid("result-box"), "score")))
	if !get(b, "marker", chromedp.Evaluate[bool](`window.__faultlineNoReload === true`)) {
		t.Fatal("the submission page reloaded before the grade arrived; it should arrive live")
	}
	full := fmt.Sprint(lab.MaxScore())
	if !strings.Contains(strings.ReplaceAll(score, " ", ""), full+"/"+full) {
		t.Fatalf("graded score %q, want %s of %s", score, full, full)
	}
	passRows := get(b, "result rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="result-box"] [data-testid="test-row"][data-status="pass"]').length`))
	if passRows != len(lab.Tests) {
		t.Fatalf("result shows %d passing test rows, want %d", passRows, len(lab.Tests))
	}

	// 4. The instructor sees the learner's best score and opens the submission.
	b.do("sign out learner", 15*time.Second,
		chromedp.Click(tid("logout")),
		chromedp.WaitVisible(tid("sign-in")),
	)
	b.do("instructor dashboard", 30*time.Second,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(tid("auth-form")),
		fill("email", adminEmail), fill("password", adminPass),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
		chromedp.Navigate(cohortURL),
		chromedp.WaitVisible(tid("matrix")),
	)
	if row := get(b, "matrix row", chromedp.Text(tid("matrix-row"))); !strings.Contains(row, "Lin") || !strings.Contains(row, full) {
		t.Fatalf("matrix row %q does not show Lin with %s points", row, full)
	}
	b.do("open submission", 30*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid="matrix-cell"] a`)),
		chromedp.WaitVisible(tid("learner-submissions")),
		chromedp.Click(chromedp.CSS(`[data-testid="learner-submission"] a`)),
		chromedp.WaitVisible(in(tid("result"), "score")),
	)
	instructorScore := get(b, "instructor score", chromedp.Text(in(tid("result"), "score")))
	testRows := get(b, "instructor rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="test-row"]').length`))
	if instructorScore != score || testRows != len(lab.Tests) {
		t.Fatalf("instructor sees score %q with %d test rows; the learner saw %q with %d", instructorScore, testRows, score, len(lab.Tests))
	}
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestLabSessionSurvivesRestart is the lab page's whole working session in a
// real Chromium against the real portal, store, Docker sandbox and grader:
// the learner types in CodeMirror (autosaved), runs a command in the real
// terminal and sees its output (including the line just typed, so the save
// reached the container), runs the visible tests, submits and gets a grade,
// resets to the starter, types again, and after the portal is stopped and
// started again finds both the latest file and the pre-reset version (by
// restoring it), and a sandbox whose files are the saved ones.
func TestLabSessionSurvivesRestart(t *testing.T) {
	labSessionWalk(t, labWalk{})
}

// labWalk is what a backend changes in the lab session walk.
type labWalk struct {
	// edit changes the portal's config (both starts); nil for the default.
	edit func(*Config)
	// beforeRestart, when set, runs once the learner's session is done,
	// before the portal stops; afterRestart runs once the restarted portal
	// has shown the lab page, before anything starts a sandbox. With
	// sameSandbox the walk requires the page to show the sandbox running
	// after the restart (the one from before, re-adopted) instead of
	// starting one when it is not.
	beforeRestart func(m *Main)
	afterRestart  func(m *Main)
	sameSandbox   bool
}

// labSessionWalk is TestLabSessionSurvivesRestart's walk on the portal w
// configures.
func labSessionWalk(t *testing.T, w labWalk) {
	edit := w.edit
	if edit == nil {
		edit = func(*Config) {}
	}
	dataDir := t.TempDir()
	m := MustServeWith(t, dataDir, edit)
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	b.setupAdmin(m)
	codeMirror := chromedp.CSS(`[data-testid="code-editor"] .cm-editor .cm-content`)
	openLab := func(step, base string) {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Navigate(base+"/labs/circuit-breaker?file=breaker.go"),
			chromedp.WaitVisible(codeMirror),
		)
	}
	openLab("open lab", base)
	if !get(b, "bundle", chromedp.Evaluate[bool](`!!document.querySelector('script[type="module"][src^="/static/lab.js?v="]')`)) {
		t.Fatal("the lab page does not load the browser bundle; run `make ui` (make test does) and run the test again")
	}
	startLab := func(step string) {
		t.Helper()
		b.do(step, 6*time.Minute,
			chromedp.Click(tid("start-lab")),
			chromedp.WaitVisible(tid("sandbox-state")+`[data-state="running"]`),
			chromedp.WaitVisible(codeMirror),
		)
	}
	startLab("start lab")

	// Type at the top of breaker.go; autosave stores it and writes it into
	// the sandbox.
	typeAtTop := func(step, text string) {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Click(chromedp.CSS(`[data-testid="code-editor"] .cm-content .cm-line`)),
			chromedp.KeyEvent(kb.Home, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.KeyEvent(text),
			chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(tid("save-status")+`[data-state="saved"]`),
		)
	}
	const first = "// typed before the reset"
	typeAtTop("type in the editor", first)

	// The real terminal: a command's output, computed in the container, and
	// the saved line read back from the container's copy of the file.
	termCommand := func(step, command, want string) {
		t.Helper()
		b.do(step+": connect", time.Minute,
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal-screen"] .xterm`)),
			chromedp.WaitVisible(tid("terminal-state")+`[data-state="open"]`),
			chromedp.Click(tid("terminal-screen")),
			// Text input, not key events: chromedp's synthetic keys add a
			// second keypress per character, which xterm.js counts twice.
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: command})
				return err
			}),
			chromedp.KeyEvent(kb.Enter),
		)
		ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
		defer cancel()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise(ok => {
			const f = () => {
				const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
				const text = rows ? rows.textContent : '';
				if (text.includes(`+jsString(want)+`)) return ok(text);
				setTimeout(f, 50);
			};
			f();
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			shown, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="terminal-screen"] .xterm-rows')?.textContent || ''`))
			t.Fatalf("%s: the terminal never showed %q: %v\nscreen: %q", step, want, err, shown)
		}
	}
	// $((6*7)) is worked out by the container's shell: the typed text
	// alone never contains "fl-42".
	termCommand("terminal", `echo fl-$((6*7)); head -n 1 /work/breaker.go`, "fl-42")
	termCommand("terminal sees the save", `head -n 1 /work/breaker.go | tr a-z A-Z`, strings.ToUpper(first))

	// Run the visible tests in the sandbox: per-test rows come back.
	b.do("run tests", 4*time.Minute,
		chromedp.Click(tid("run-tests")),
		chromedp.WaitVisible(in(tid("run-output"), "run-status")),
	)
	if n := get(b, "run rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="run-output"] [data-testid="test-row"]').length`)); n == 0 {
		t.Fatal("running the tests showed no test rows")
	}

	// Submit: the real grader grades the starter plus the typed comment
	// (a starter scores below full marks but is graded, not an error).
	openLab("back to the lab", base)
	b.do("submit", 30*time.Second,
		chromedp.Click(tid("submit")),
		chromedp.WaitVisible(tid("result-box")),
	)
	b.do("wait for grade", 5*time.Minute, chromedp.WaitVisible(in(tid("result-box"), "score")))
	if st := get(b, "graded status", chromedp.Text(in(tid("result-box"), "status"))); st != "graded" {
		t.Fatalf("the submission's status is %q, want graded", st)
	}

	// Reset to the starter through the confirmation page: a restore point
	// keeps the typed version.
	openLab("lab before reset", base)
	b.do("reset", 30*time.Second,
		showTab("history"),
		chromedp.Click(tid("reset")),
		chromedp.WaitVisible(tid("confirm-text")),
		chromedp.Click(tid("confirm")),
		chromedp.WaitVisible(tid("restore-point")),
	)
	openLab("lab after reset", base)
	if got := editorText(b); strings.Contains(got, first) {
		t.Fatalf("after the reset breaker.go still holds the typed line:\n%.300s", got)
	}
	const second = "// typed after the reset"
	typeAtTop("type after reset", second)

	// Stop the portal and start it again on the same data folder.
	if w.beforeRestart != nil {
		w.beforeRestart(m)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("stop the portal: %v", err)
	}
	m2 := MustServeWith(t, dataDir, edit)
	base2 := m2.Config.BaseURL
	openLab("lab after restart", base2)
	if got := editorText(b); !strings.Contains(got, second) {
		t.Fatalf("after the restart breaker.go lacks the line saved before it:\n%.300s", got)
	}
	if w.afterRestart != nil {
		w.afterRestart(m2)
	}
	// The sandbox is re-adopted or was removed; either way it holds the
	// saved files once running.
	state := get(b, "sandbox state", chromedp.Evaluate[string](`document.querySelector('[data-testid="sandbox-state"]').dataset.state`))
	switch {
	case state == "running":
	case w.sameSandbox:
		t.Fatalf("after the restart the lab page shows the sandbox %q, want the re-adopted one running", state)
	default:
		startLab("start lab after restart")
	}
	termCommand("terminal after restart", `head -n 1 /work/breaker.go | tr a-z A-Z`, strings.ToUpper(second))

	// The version from before the reset is still there: restore it.
	b.do("restore after restart", 30*time.Second,
		showTab("history"),
		chromedp.Click(tid("restore")),
		chromedp.WaitVisible(tid("confirm-text")),
		chromedp.Click(tid("confirm")),
		chromedp.WaitVisible(tid("notice")),
	)
	openLab("lab after restore", base2)
	if got := editorText(b); !strings.Contains(got, first) {
		t.Fatalf("restoring after the restart did not bring back the pre-reset file:\n%.300s", got)
	}

	// The store agrees: breaker.go's history holds both typed versions.
	u, err := m2.DB.FindUserByEmail(context.Background(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	hist, err := m2.DB.FileHistory(context.Background(), u.ID, "circuit-breaker", "breaker.go")
	if err != nil {
		t.Fatal(err)
	}
	var sawFirst, sawSecond bool
	for _, v := range hist {
		sawFirst = sawFirst || strings.HasPrefix(string(v.Content), first)
		sawSecond = sawSecond || strings.HasPrefix(string(v.Content), second)
	}
	if !sawFirst || !sawSecond {
		t.Fatalf("breaker.go's %d versions lack one of the typed ones (first %v, second %v)", len(hist), sawFirst, sawSecond)
	}
}

// editorText returns the text of the enhanced editor.
func editorText(b *browser) string {
	b.t.Helper()
	return get(b, "editor text", chromedp.Evaluate[string](`document.querySelector('[data-testid="code-editor"] .cm-content').innerText`))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

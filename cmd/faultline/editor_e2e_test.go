package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestLabEditor drives the lab page's browser bundle (web/ui, built by
// `make ui`) in a real Chromium against the real portal and sandbox: the
// textarea becomes CodeMirror, typing autosaves to the store (the text
// survives a reload), a failed save says so, keeps the text and retries,
// Ctrl+S saves at once, Ctrl+Enter saves and runs the visible tests, and a
// running sandbox gets an xterm.js terminal panel.
func TestLabEditor(t *testing.T) {
	m := MustServe(t, t.TempDir())
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	b.setupAdmin(m)
	labURL := base + "/labs/circuit-breaker?file=breaker.go"
	b.do("open lab", 30*time.Second,
		chromedp.Navigate(labURL),
		chromedp.WaitVisible(tid("editor")),
	)
	if !get(b, "bundle", chromedp.Evaluate[bool](`!!document.querySelector('script[type="module"][src^="/static/lab.js?v="]')`)) {
		t.Fatal("the lab page does not load the browser bundle: it was not built when this binary was compiled. " +
			"Run `make ui` (npm ci + esbuild in web/ui; `make test` does it) and run the test again.")
	}

	// Start the sandbox first: the run shortcut needs it (the first start
	// may build the lab image).
	b.do("start lab", 6*time.Minute,
		chromedp.Click(tid("start-lab")),
		chromedp.WaitVisible(tid("sandbox-state")+`[data-state="running"]`),
		chromedp.Navigate(labURL),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="code-editor"] .cm-editor .cm-content`)),
	)

	// CodeMirror replaced the textarea, which stays in the form as the
	// plain-form source of truth; the tree lists the files, a tab is open,
	// Go is highlighted and the shortcuts are explained.
	layout := get(b, "layout", chromedp.Evaluate[map[string]any](`(() => {
		const ta = document.querySelector('[data-testid="editor-content"]');
		const box = ta.closest('.visually-hidden')?.getBoundingClientRect();
		return {
			taHidden: !!box && box.width <= 1 && box.height <= 1 && ta.form?.dataset.testid === 'editor',
			tree: [...document.querySelectorAll('[data-testid="tree-file"]')].map(b => b.dataset.path).join(' '),
			tab: document.querySelector('[data-testid="editor-tab"][aria-selected="true"]')?.dataset.path || '',
			highlighted: document.querySelectorAll('.cm-content span[class]').length,
			// CodeMirror's theme is a <style> the policy blocks; the bundle
			// adopts it as a constructed sheet instead.
			themed: getComputedStyle(document.querySelector('.cm-scroller')).display === 'flex',
			help: document.querySelector('[data-testid="shortcut-help"]')?.textContent || '',
		};
	})()`))
	if layout["taHidden"] != true || !strings.Contains(layout["tree"].(string), "breaker.go") ||
		layout["tab"] != "breaker.go" || layout["themed"] != true || layout["highlighted"].(float64) < 5 ||
		!strings.Contains(layout["help"].(string), "Enter") {
		t.Fatalf("enhanced editor layout: %v", layout)
	}

	// Type at the top of breaker.go; autosave stores it.
	typeAtTop := func(name, text string) {
		t.Helper()
		b.do(name, 15*time.Second,
			chromedp.Click(chromedp.CSS(`[data-testid="code-editor"] .cm-content .cm-line`)),
			chromedp.KeyEvent(kb.Home, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.KeyEvent(text),
			chromedp.KeyEvent(kb.Enter),
		)
	}
	saved := tid("save-status") + `[data-state="saved"]`
	typeAtTop("type first line", "// first edit in CodeMirror")
	b.do("autosave", 30*time.Second, chromedp.WaitVisible(saved))
	if s := get(b, "status", chromedp.Text(tid("save-status"))); s != "Saved" {
		t.Fatalf("save status %q, want Saved", s)
	}
	mustHave := func(step, want string) {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="code-editor"] .cm-content`)),
		)
		got := get(b, step+" text", chromedp.Evaluate[[]string](`[
			document.querySelector('[data-testid="code-editor"] .cm-content').innerText,
			document.querySelector('[data-testid="editor-content"]').value]`))
		for i, where := range []string{"editor", "textarea"} {
			if !strings.Contains(got[i], want) {
				t.Fatalf("%s: after a reload the %s lacks %q:\n%.400s", step, where, want, got[i])
			}
		}
	}
	mustHave("reload after autosave", "// first edit in CodeMirror")

	// A failed save says so, keeps the text and retries until it works.
	get(b, "break fetch", chromedp.Evaluate[bool](`(() => {
		window.__fetch = window.fetch;
		window.fetch = () => Promise.reject(new TypeError("offline"));
		return true;
	})()`))
	typeAtTop("type while offline", "// typed while the network was down")
	b.do("failed save", 30*time.Second, chromedp.WaitVisible(tid("save-status")+`[data-state="error"]`))
	if s := get(b, "failed status", chromedp.Text(tid("save-status"))); s != "Not saved — retrying" {
		t.Fatalf("status after a failed save %q", s)
	}
	if v := get(b, "text kept", chromedp.Evaluate[string](`document.querySelector('[data-testid="editor-content"]').value`)); !strings.Contains(v, "network was down") {
		t.Fatalf("a failed save dropped the text:\n%.300s", v)
	}
	get(b, "mend fetch", chromedp.Evaluate[bool](`(window.fetch = window.__fetch, true)`))
	b.do("retried save", 60*time.Second, chromedp.WaitVisible(saved))
	mustHave("reload after retry", "// typed while the network was down")

	// Ctrl+S saves at once, without waiting for the pause in typing.
	typeAtTop("type before ctrl+s", "// saved with ctrl+s")
	b.do("ctrl+s", 30*time.Second,
		chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(saved),
	)
	mustHave("reload after ctrl+s", "// saved with ctrl+s")

	// The terminal panel: xterm.js is set up and shows its connection state.
	term := get(b, "terminal", chromedp.Evaluate[[]string](`[
		String(!!document.querySelector('[data-testid="terminal-screen"] .xterm')),
		document.querySelector('[data-testid="terminal-state"]')?.dataset.state || '',
		document.querySelector('[data-testid="terminal"]').dataset.error || '']`))
	if term[0] != "true" || term[1] == "" {
		t.Fatalf("terminal panel: xterm %s, state %q, error %q", term[0], term[1], term[2])
	}

	// Ctrl+Enter right after typing: the edit is saved first, then the
	// visible tests run in the sandbox.
	typeAtTop("type before run", "// saved by the run shortcut")
	b.do("ctrl+enter runs tests", 3*time.Minute,
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(in(tid("run-output"), "run-status")),
	)
	if n := get(b, "run rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="run-output"] [data-testid="test-row"]').length`)); n == 0 {
		t.Fatal("the run shortcut showed no test rows")
	}
	b.do("back to the file", 30*time.Second, chromedp.Navigate(labURL))
	mustHave("run saved first", "// saved by the run shortcut")

	// The terminal client against a stand-in WebSocket (the page's own is
	// replaced before any script runs), so the protocol is checked whatever
	// the server side does: the URL, resize as JSON text, keystrokes and
	// output as raw bytes, reconnecting after a drop, and the close codes.
	b.do("fake websocket", 15*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: fakeWebSocket})
		return err
	}))
	waitSockets := func(n int) {
		t.Helper()
		get(b, "wait for websocket", chromedp.Evaluate[bool](`new Promise(ok => {
			const f = () => window.__ws.length >= `+strconv.Itoa(n)+` ? ok(true) : setTimeout(f, 20);
			f();
		})`, chromedp.EvalAwaitPromise))
	}
	termState := func(state string) chromedp.CSS {
		return tid("terminal-state") + chromedp.CSS(`[data-state="`+state+`"]`)
	}
	b.do("terminal page", 30*time.Second,
		chromedp.Navigate(labURL),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal-screen"] .xterm`)),
	)
	waitSockets(1)
	wsURL := get(b, "websocket url", chromedp.Evaluate[string](`window.__ws[0].url`))
	wantWS := "ws://" + strings.TrimPrefix(base, "http://") + "/labs/circuit-breaker/terminal?"
	if !strings.HasPrefix(wsURL, wantWS) || !regexp.MustCompile(`\?cols=[1-9]\d*&rows=[1-9]\d*$`).MatchString(wsURL) {
		t.Fatalf("terminal websocket URL %q", wsURL)
	}
	// The learner is typing in the editor when the terminal connects: it
	// must not take the keyboard away.
	b.do("terminal open", 15*time.Second,
		chromedp.Click(chromedp.CSS(`[data-testid="code-editor"] .cm-content .cm-line`)),
		jsDo(`window.__ws[0]._open()`),
		chromedp.WaitVisible(termState("open")),
	)
	if !get(b, "focus kept", chromedp.Evaluate[bool](`!!document.activeElement?.closest('[data-testid="code-editor"]')`)) {
		t.Fatal("the terminal took the keyboard from the editor when it connected")
	}
	b.do("terminal hello", 15*time.Second,
		jsDo(`window.__ws[0]._msg("hello from the sandbox\r\n$ ")`),
		chromedp.Click(tid("terminal-screen")),
		// Typed as text input: chromedp's synthetic key events add a second
		// keypress per key, which xterm.js rightly treats as two keys.
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: "ls"})
			return err
		}),
	)
	got := get(b, "terminal traffic", chromedp.Evaluate[map[string]any](`new Promise(ok => {
		const ws = window.__ws[0];
		const f = () => {
			const rows = document.querySelector('[data-testid="terminal-screen"] .xterm-rows');
			const typed = ws.sent.filter(m => typeof m !== 'string').map(m => String.fromCharCode(...m)).join('');
			if (!rows.textContent.includes('hello from the sandbox') || typed !== 'ls') return setTimeout(f, 20);
			const cs = getComputedStyle(rows);
			ok({resize: ws.sent.find(m => typeof m === 'string') || '', typed, shown: rows.textContent,
				styled: cs.pointerEvents === 'none' && cs.color === 'rgb(255, 255, 255)'});
		};
		f();
	})`, chromedp.EvalAwaitPromise))
	if !regexp.MustCompile(`^\{"type":"resize","cols":[1-9]\d*,"rows":[1-9]\d*\}$`).MatchString(got["resize"].(string)) {
		t.Errorf("terminal resize message %q", got["resize"])
	}
	if got["styled"] != true {
		t.Errorf("xterm.js styles not applied under the page's CSP: %v", got)
	}
	// A drop reconnects; 4404 (no sandbox) and 4401 (signed out) stop.
	b.do("terminal drop", 30*time.Second,
		jsDo(`window.__ws[0]._close(1006)`),
		chromedp.WaitVisible(termState("reconnecting")),
	)
	if s := get(b, "reconnecting", chromedp.Text(tid("terminal-state"))); s != "Reconnecting…" {
		t.Errorf("terminal state after a drop %q", s)
	}
	waitSockets(2)
	b.do("terminal 4404", 15*time.Second,
		jsDo(`window.__ws[1]._close(4404)`),
		chromedp.WaitVisible(termState("no-sandbox")),
	)
	if s := get(b, "no sandbox", chromedp.Text(tid("terminal-state"))); !strings.Contains(s, "Start the lab to open a terminal") {
		t.Errorf("terminal state after 4404 %q", s)
	}
	b.do("terminal 4401", 30*time.Second,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal-screen"] .xterm`)),
	)
	waitSockets(1)
	b.do("terminal 4401 close", 15*time.Second,
		jsDo(`window.__ws[0]._close(4401)`),
		chromedp.WaitVisible(termState("signed-out")),
	)
}

// jsDo is a step that runs a JavaScript expression for its effect.
func jsDo(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("("+expr+", true)")(ctx, t)
		return err
	})
}

// fakeWebSocket replaces window.WebSocket with a stand-in the test drives:
// window.__ws lists the sockets made; each records what the page sent
// (strings as is, bytes as arrays) and has _open, _msg and _close.
const fakeWebSocket = `(() => {
	window.__ws = [];
	class FakeWebSocket {
		constructor(url) {
			this.url = String(url); this.readyState = 0; this.sent = []; this.binaryType = "blob";
			window.__ws.push(this);
		}
		send(d) {
			if (typeof d === "string") this.sent.push(d);
			else this.sent.push(Array.from(new Uint8Array(d.buffer || d, d.byteOffset || 0, d.byteLength)));
		}
		close() { this.readyState = 3; }
		_open() { this.readyState = 1; this.onopen && this.onopen({}); }
		_msg(text) { this.onmessage && this.onmessage({ data: new TextEncoder().encode(text).buffer }); }
		_close(code) { this.readyState = 3; this.onclose && this.onclose({ code }); }
	}
	Object.assign(FakeWebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
	window.WebSocket = FakeWebSocket;
})()`

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// watchJS records, in window.__streamLog and in order, what the streamed
// lab actions do to the page: a start phase becoming active or done, test
// output arriving in the live run panel, and the final per-test view
// appearing. A MutationObserver queues every change, so fast streams lose
// nothing.
const watchJS = `(() => {
	window.__streamLog = [];
	const log = (s) => { if (window.__streamLog.at(-1) !== s) window.__streamLog.push(s); };
	new MutationObserver((records) => {
		records.forEach((r, i) => {
			const t = r.target;
			if (r.type === "attributes" && t.matches?.('[data-testid="start-phases"] li')) {
				// Records come in batches: the value this change set is the
				// next change's old value, or the current one.
				const next = records.slice(i + 1).find((x) => x.type === "attributes" && x.target === t);
				const value = next ? next.oldValue : t.dataset.state;
				if (value !== r.oldValue) log(t.dataset.phase + ":" + value);
			}
			if (r.type === "childList") {
				if (t.closest?.('[data-testid="run-stream"]') && t.textContent.trim() !== "") log("output");
				for (const n of r.addedNodes) {
					if (n.nodeType !== 1) continue;
					if (n.matches('[data-testid="run-stream"]') && n.textContent.trim() !== "") log("output");
					if (n.matches('[data-testid="run-output"]') || n.querySelector('[data-testid="run-output"]')) log("result");
					if (n.matches('[data-testid="sandbox"]') && n.querySelector('[data-testid="sandbox-state"][data-state="running"]')) log("panel:running");
				}
			}
		});
	}).observe(document.body, { subtree: true, childList: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-state"] });
	return true;
})()`

// TestLabStreams drives the bundle in a real Chromium against the real
// portal and Docker: "Start lab" (cold: the warm pool is off) shows the
// phases image, create, start and files in order, then swaps in the running
// sandbox's panel without a reload; "Run tests" shows the visible tests'
// output in a live panel before the final per-test view replaces it; the
// lifetime warning, hidden at first, shows by itself when it is due; a busy
// answer is shown and retried by the page.
func TestLabStreams(t *testing.T) {
	// The lifetime cap is a minute past the 30-minute warning window, so the
	// warning is due a minute after the start.
	m := MustServeWith(t, t.TempDir(), func(c *Config) { c.PoolSize, c.MaxLife = 0, 31*time.Minute })
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	fill := func(name, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="`+name+`"]`), value)
	}
	b.do("setup admin", 30*time.Second,
		chromedp.Navigate(base+"/setup?token="+m.SetupToken),
		chromedp.WaitVisible(tid("auth-form")),
		fill("name", "Ada Admin"), fill("email", "ada@example.com"),
		fill("password", "correct horse battery"), fill("confirm", "correct horse battery"),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
	)
	b.do("open lab", 30*time.Second,
		chromedp.Navigate(base+"/labs/circuit-breaker"),
		chromedp.WaitVisible(tid("start-lab")),
	)
	if !get(b, "bundle", chromedp.Evaluate[bool](`!!document.querySelector('script[type="module"][src^="/static/lab.js?v="]')`)) {
		t.Fatal("the lab page does not load the browser bundle: run `make ui` (make test does) and run the test again")
	}
	get(b, "mark page", chromedp.Evaluate[bool](`window.__sameDocument = true`))
	get(b, "watch", chromedp.Evaluate[bool](watchJS))

	b.do("start lab", 6*time.Minute,
		chromedp.Click(tid("start-lab")),
		chromedp.WaitVisible(tid("sandbox-state")+`[data-state="running"]`),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="terminal-screen"] .xterm`)),
	)
	log := get(b, "start log", chromedp.Evaluate[[]string](`window.__streamLog`))
	if !get(b, "no reload", chromedp.Evaluate[bool](`window.__sameDocument === true`)) {
		t.Fatalf("starting the lab reloaded the page; log %v", log)
	}
	var active []string
	for _, s := range log {
		if p, ok := strings.CutSuffix(s, ":active"); ok {
			active = append(active, p)
		}
	}
	if got, want := strings.Join(active, " "), "image create start files"; got != want {
		t.Errorf("phases became active in the order %q, want %q (log %v)", got, want, log)
	}
	if i := indexOf(log, "ready:done"); i < 0 || indexOf(log, "panel:running") < i {
		t.Errorf("ready was not marked done before the running panel came: %v", log)
	}
	if disabled := get(b, "run enabled", chromedp.Evaluate[bool](`document.querySelector('[data-testid="run-tests"]').disabled`)); disabled {
		t.Fatal("Run tests is still disabled after the sandbox started")
	}
	expiry := get(b, "expiry banner", chromedp.Evaluate[map[string]any](`(() => {
		const e = document.querySelector('[data-testid="sandbox-expiry"]');
		return e ? { hidden: e.hidden, warnIn: Number(e.dataset.warnIn) } : {};
	})()`))
	if expiry["hidden"] != true || expiry["warnIn"].(float64) <= 0 {
		t.Fatalf("lifetime banner right after the start: %v; want hidden, due later", expiry)
	}

	get(b, "reset log", chromedp.Evaluate[bool](`(window.__streamLog.length = 0, true)`))
	b.do("run tests", 4*time.Minute,
		chromedp.Click(tid("run-tests")),
		chromedp.WaitVisible(in(tid("run-output"), "run-status")),
	)
	log = get(b, "run log", chromedp.Evaluate[[]string](`window.__streamLog`))
	out, res := indexOf(log, "output"), indexOf(log, "result")
	if out < 0 || res < 0 || out > res {
		t.Fatalf("run: output at %d, result at %d in %v; want output before the result", out, res, log)
	}
	view := get(b, "run view", chromedp.Evaluate[map[string]any](`({
		rows: document.querySelectorAll('[data-testid="run-output"] [data-testid="test-row"]').length,
		live: document.querySelectorAll('[data-testid="run-live"]').length,
		output: document.querySelector('[data-testid="run-output"] [data-testid="output"]')?.textContent || "",
	})`))
	if view["rows"].(float64) == 0 || view["live"].(float64) != 0 || !strings.Contains(view["output"].(string), "=== RUN") ||
		strings.Contains(view["output"].(string), `"Action"`) {
		t.Fatalf("after the run: %v", view)
	}
	if !get(b, "still no reload", chromedp.Evaluate[bool](`window.__sameDocument === true`)) {
		t.Fatal("running the tests reloaded the page")
	}

	b.do("lifetime warning shows by itself", 3*time.Minute,
		chromedp.WaitVisible(tid("sandbox-expiry")),
	)
	warning := get(b, "warning text", chromedp.Text(tid("sandbox-expiry")))
	if !strings.Contains(warning, "saved files are safe") || !strings.Contains(warning, "31 min") ||
		!get(b, "warned without reload", chromedp.Evaluate[bool](`window.__sameDocument === true`)) {
		t.Fatalf("lifetime warning %q (or the page reloaded)", warning)
	}

	// Too many starts: the first answer is a 429 with Retry-After (stood in
	// for by the page's fetch, as a busy portal would answer); the page
	// shows the message and tries again by itself.
	b.do("open another lab", 30*time.Second,
		chromedp.Navigate(base+"/labs/bulkhead"),
		chromedp.WaitVisible(tid("start-lab")),
	)
	get(b, "busy once", chromedp.Evaluate[bool](`(() => {
		const real = window.fetch;
		window.__busyAnswers = 0;
		window.fetch = (url, init) => {
			if (String(url).endsWith("/sandbox") && window.__busyAnswers === 0) {
				window.__busyAnswers++;
				const body = 'event: error\ndata: {"message":"Many labs are starting right now; retry in 1 s.","status":429,"retryAfter":1}\n\n';
				return Promise.resolve(new Response(body, { status: 429, headers: { "Content-Type": "text/event-stream", "Retry-After": "1" } }));
			}
			return real(url, init);
		};
		return true;
	})()`))
	b.do("busy start", 30*time.Second,
		chromedp.Click(tid("start-lab")),
		chromedp.WaitVisible(tid("start-error")),
	)
	if msg := get(b, "busy message", chromedp.Text(tid("start-error"))); !strings.Contains(msg, "retry in 1 s") {
		t.Fatalf("busy message %q", msg)
	}
	b.do("automatic retry", 6*time.Minute,
		chromedp.WaitVisible(tid("sandbox-state")+`[data-state="running"]`),
	)
	if !get(b, "retried in the page", chromedp.Evaluate[bool](`window.__busyAnswers === 1`)) {
		t.Fatal("the busy start was not retried by the page itself (it reloaded)")
	}
}

// TestConfigLifecycleLimits: -max-life and -max-starts (and their
// FAULTLINE_* variables) default to 12h and 4 and are checked.
func TestConfigLifecycleLimits(t *testing.T) {
	c := DefaultConfig(func(string) string { return "" })
	if c.MaxLife != 12*time.Hour || c.MaxStarts != 4 {
		t.Errorf("defaults: max life %s, max starts %d; want 12h, 4", c.MaxLife, c.MaxStarts)
	}
	env := map[string]string{"FAULTLINE_MAX_LIFE": "90m", "FAULTLINE_MAX_STARTS": "2"}
	c = DefaultConfig(func(k string) string { return env[k] })
	if c.MaxLife != 90*time.Minute || c.MaxStarts != 2 {
		t.Errorf("from env: %s, %d", c.MaxLife, c.MaxStarts)
	}
	c = DefaultConfig(func(k string) string { return map[string]string{"FAULTLINE_MAX_LIFE": "soon"}[k] })
	c.Addr, c.DataDir = ":1", t.TempDir()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "FAULTLINE_MAX_LIFE") {
		t.Errorf("a bad FAULTLINE_MAX_LIFE: %v", err)
	}
	for _, tc := range []struct {
		life   time.Duration
		starts int
		ok     bool
	}{
		{time.Minute, 1, true}, {12 * time.Hour, 64, true},
		{30 * time.Second, 4, false}, {13 * time.Hour, 4, false}, {time.Hour, -1, false}, {time.Hour, 65, false},
	} {
		c := DefaultConfig(func(string) string { return "" })
		c.DataDir, c.MaxLife, c.MaxStarts = t.TempDir(), tc.life, tc.starts
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("max life %s, max starts %d: %v, want ok %v", tc.life, tc.starts, err, tc.ok)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

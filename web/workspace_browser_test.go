package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/faultline-dev/faultline"
)

// The lab page as a workspace in Chromium, with the bundle: at 1280 the
// code pane (file tree, tabs, editor) takes at least half the width; the
// gutters resize the task and terminal panes from the keyboard, the
// terminal follows its pane (more rows), and the sizes survive a reload;
// on a phone the panes become tabs, one shown at a time.
func TestLabWorkspaceInChromium(t *testing.T) {
	e := MustEnv(t)
	if !e.srv.assets.bundle.Present() {
		t.Fatal("the UI bundle is not built (make ui builds it)")
	}
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	if r := e.MustLogin(u).post(labURL(labSlug)+"/sandbox", nil); r.status != http.StatusSeeOther {
		t.Fatalf("start the lab: %d", r.status)
	}
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	bctx := mustChromiumContext(t)
	chromeSignIn(t, bctx, ts.URL, u)

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	type layout struct {
		Width, Spec, Code, Run, Term float64
		Rows                         int
		Tabs, Gutters                bool
		Visible                      []string
	}
	measure := func() layout {
		t.Helper()
		var l layout
		l, err := chromedp.Run(bctx, chromedp.Evaluate[layout](`(() => {
			const w = s => { const el = document.querySelector(s); return el ? el.getBoundingClientRect() : {width: 0, height: 0}; };
			const tabs = document.querySelector(".ws-tabs");
			return {Width: innerWidth, Spec: w("#pane-spec").width, Code: w("#pane-code").width, Run: w("#pane-run").height,
				Term: w('[data-testid="terminal"]').height,
				Rows: Number(document.querySelector('[data-testid="terminal-screen"]').parentElement.dataset.rows || 0),
				Tabs: !!tabs && !tabs.hidden && tabs.getClientRects().length > 0,
				Gutters: [...document.querySelectorAll(".ws-gutter")].every(g => !g.hidden && g.getClientRects().length > 0),
				Visible: [...document.querySelectorAll(".ws-pane")].filter(p => p.getClientRects().length > 0 && getComputedStyle(p).display !== "none").map(p => p.dataset.pane)};
		})()`))
		if err != nil {
			t.Fatalf("measure: %v", err)
		}
		return l
	}
	open := func(w, h int64) {
		t.Helper()
		do("open the lab", chromedp.EmulateViewport(w, h, func(s *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
			s.Mobile = w < 600
		}), chromedp.Navigate(ts.URL+labURL(labSlug)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="code-input"]`)),
			chromedp.WaitReady(chromedp.CSS(`[data-rows]`)), chromedp.Sleep(300*time.Millisecond))
	}

	open(1280, 800)
	before := measure()
	if !before.Gutters || before.Code < 0.5*before.Width || before.Rows == 0 {
		t.Fatalf("at 1280: %+v; want gutters, the code pane at least half the width, a terminal", before)
	}
	do("widen the task pane, raise the terminal pane",
		chromedp.Focus(chromedp.CSS(`.ws-gutter[data-gutter="spec"]`)), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight),
		chromedp.Focus(chromedp.CSS(`.ws-gutter[data-gutter="run"]`)), chromedp.KeyEvent(kb.End), chromedp.Sleep(500*time.Millisecond))
	after := measure()
	if after.Spec <= before.Spec || after.Run <= before.Run || after.Term <= before.Term || after.Rows <= before.Rows {
		t.Errorf("after resizing: %+v, before %+v; want a wider task, a taller terminal pane with more terminal rows", after, before)
	}
	open(1280, 800)
	if again := measure(); again.Spec != after.Spec || again.Run != after.Run {
		t.Errorf("after a reload: task %.0f px, terminal pane %.0f px; they were %.0f and %.0f", again.Spec, again.Run, after.Spec, after.Run)
	}

	open(390, 844)
	phone := measure()
	if !phone.Tabs || len(phone.Visible) != 1 {
		t.Fatalf("on a phone: %+v; want tabs and one pane shown", phone)
	}
	do("the task tab", chromedp.Click(chromedp.CSS(`.ws-tabs button[data-pane="spec"]`)), chromedp.Sleep(200*time.Millisecond))
	if v := measure().Visible; len(v) != 1 || v[0] != "spec" {
		t.Errorf("after the Task tab, panes shown: %v", v)
	}
}

package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/faultline-dev/faultline"
)

// Every lesson and case study at 1280×800 and 390×844 in Chromium: each
// diagram loads and fits its column, no page scrolls sideways on a phone,
// and the keyboard focus is visible. With $FAULTLINE_SHOTS set, full-page
// screenshots at 390 go to its diagrams folder for a person to look at.
func TestLessonDiagramsInChromium(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	bctx := mustChromiumContext(t)
	chromeSignIn(t, bctx, ts.URL, u)
	dir := filepath.Join(shotsDir(t), "diagrams")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var pages []string
	for _, l := range e.srv.d.Content.Lessons() {
		pages = append(pages, "/lessons/"+l.Slug)
	}
	for _, c := range e.srv.d.Content.Cases() {
		pages = append(pages, "/cases/"+c.Slug)
	}
	type check struct {
		Diagrams  int
		Broken    []string
		Overflow  []string
		PageWider bool
	}
	diagrams := 0
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		for _, p := range pages {
			sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
			err := chromedp.Do(sctx,
				chromedp.EmulateViewport(size[0], size[1], func(s *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
					s.Mobile = size[0] < 600
				}),
				chromedp.Navigate(ts.URL+p), chromedp.WaitReady(chromedp.CSS("main")),
				// Diagrams load lazily: bring each into view, then wait for it.
				chromedp.Evaluate[chromedp.Void](`(async () => { for (const img of document.querySelectorAll("main figure img")) {
					img.loading = "eager"; img.scrollIntoView(); if (!img.complete) await new Promise(r => { img.onload = img.onerror = r; }); } scrollTo(0, 0); })()`,
					chromedp.EvalAwaitPromise))
			cancel()
			if err != nil {
				t.Fatalf("%s at %d: %v", p, size[0], err)
			}
			c, err := chromedp.Run(bctx, chromedp.Evaluate[check](`(() => {
				const out = {Diagrams: 0, Broken: [], Overflow: [], PageWider: document.documentElement.scrollWidth > document.documentElement.clientWidth};
				for (const img of document.querySelectorAll("main figure img")) {
					out.Diagrams++;
					if (!img.complete || img.naturalWidth === 0) out.Broken.push(img.src);
					const box = img.closest("figure").parentElement.getBoundingClientRect(), r = img.getBoundingClientRect();
					if (r.right > box.right + 1 || r.width === 0) out.Overflow.push(img.src + " " + Math.round(r.width) + "px in " + Math.round(box.width));
				}
				return out;
			})()`))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			diagrams += c.Diagrams
			if len(c.Broken) > 0 || len(c.Overflow) > 0 || (size[0] == 390 && c.PageWider) {
				t.Errorf("%s at %d: broken %v, overflowing %v, page scrolls sideways %v", p, size[0], c.Broken, c.Overflow, c.PageWider)
			}
			if size[0] == 390 && os.Getenv("FAULTLINE_SHOTS") != "" {
				shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)+".png"), shot, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if diagrams == 0 {
		t.Fatal("no diagram in any lesson or case study")
	}
	// The keyboard focus shows: tab from the top to the skip link and on.
	sctx, cancel := context.WithTimeout(bctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(ts.URL+pages[0]), chromedp.WaitReady(chromedp.CSS("main")),
		chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	ring, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => { const s = getComputedStyle(document.activeElement);
		return document.activeElement.tagName + " " + s.outlineStyle + " " + s.outlineWidth; })()`))
	if err != nil {
		t.Fatal(err)
	}
	var tag, style, width string
	fmt.Sscan(ring, &tag, &style, &width)
	if tag != "A" || style == "none" || width == "0px" {
		t.Errorf("focused by the keyboard: %q; want a link with a visible outline", ring)
	}
}

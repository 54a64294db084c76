package web

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// TestTalkNarrowScreen opens the conversation's pages in a real Chromium at
// a phone's width (390 CSS pixels) and checks what a reader sees: no page
// is wider than the screen (the results table, the result history and the
// new thread form's list of places included); a line comment and the form
// to write one stay inside the screen while a long line of code scrolls
// sideways, in the file view and in the diff; and the meta lines keep their
// words apart ("Lab · Annabel Quill (anonymous to classmates) · 0 replies").
func TestTalkNarrowScreen(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	ctx := context.Background()
	sub := w.mustFailingRun(w.ann)
	long := "package breaker\n\n// " + strings.Repeat("a very long comment line that runs far past the screen ", 6) + "\nfunc x() {\n\treturn\n}\n"
	for i := 0; i < 12; i++ {
		long += "// filler line " + strconv.Itoa(i) + "\n"
	}
	codeSub := w.mustGraded(w.ann, []faultline.File{{Path: "breaker.go", Content: []byte(long)}}, 1, []faultline.TestResult{
		{Name: "TestOpensAfterThresholdUnderAPartitionWithAVeryLongName", Status: faultline.TestFail, MaxScore: 4, Message: "stayed closed"}})
	q := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Why does my breaker never open?", Anonymous: true,
		Place: faultline.Place{Kind: faultline.PlaceLab, Slug: labSlug}, Body: "It stays closed.", Run: &course.RunRef{SubmissionID: sub}})
	if _, err := e.course.AddComment(ctx, w.inst, codeSub, "breaker.go", 3, 0, "This comment is about the long line above and must stay readable on a phone."); err != nil {
		t.Fatal(err)
	}

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
	eval := func(name, js string) float64 {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	text := func(name, js string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return strings.Join(strings.Fields(v), " ")
	}
	open := func(path string) {
		t.Helper()
		do("open "+path, chromedp.Navigate(ts.URL+path), chromedp.WaitReady(chromedp.CSS("footer")))
	}
	fits := func(path string) {
		t.Helper()
		page := eval(path, `document.documentElement.scrollWidth`)
		screen := eval(path, `window.innerWidth`)
		if page > screen {
			wide := text(path, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth && !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth)).slice(0, 3).map(e => e.tagName + '.' + e.className + '[' + (e.dataset.testid || '') + ']').join(' ')`)
			t.Errorf("%s is %v pixels wide on a %v-pixel screen (too wide: %s)", path, page, screen, wide)
		}
	}
	inside := func(path, sel string) {
		t.Helper()
		right := eval(path, `document.querySelector(`+strconv.Quote(sel)+`).getBoundingClientRect().right`)
		screen := eval(path, `window.innerWidth`)
		if right > screen {
			t.Errorf("%s: %s ends at %v, past the %v-pixel screen", path, sel, right, screen)
		}
	}

	do("viewport", chromedp.EmulateViewport(390, 844))
	open("/login")
	do("sign in",
		chromedp.WaitVisible(tid("auth-form")),
		chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="email"]`), w.inst.Email),
		chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="password"]`), testPassword),
		chromedp.Click(tid("auth-submit")),
		chromedp.WaitVisible(tid("whoami")),
	)
	cid := strconv.FormatInt(w.spring.ID, 10)

	open("/discuss/" + cid)
	fits("/discuss/" + cid)
	if got := text("index meta", `document.querySelector('[data-testid="thread-row"] .meta').textContent`); !strings.Contains(got, "Build a circuit breaker · Annabel Quill (anonymous to classmates) · 0 replies") {
		t.Errorf("thread row meta = %q, want the place, a spaced dot and the author", got)
	}
	if got := text("staff links", `document.querySelector('[data-testid="staff-links"]').textContent`); !strings.Contains(got, "Groups · Moderation") {
		t.Errorf("staff links = %q, want them apart", got)
	}
	if n := eval("link text", `[...document.querySelectorAll('[data-testid="staff-links"] a')].filter(a => a.textContent !== a.textContent.trim()).length`); n != 0 {
		t.Errorf("%v staff links underline spaces around their label", n)
	}
	open("/discuss/" + cid + "/new")
	fits("/discuss/" + cid + "/new")
	thread := course.ThreadURL(w.spring.ID, q.Thread.ID)
	open(thread)
	fits(thread)
	if got := text("thread meta", `document.querySelector('main .meta').textContent`); !strings.Contains(got, "breaker · started by Annabel Quill (anonymous to classmates) · ") {
		t.Errorf("thread meta = %q, want the place, the author and the date apart", got)
	}

	subPage := submissionURL(codeSub) + "?comment=0:10"
	open(subPage)
	fits(subPage)
	inside(subPage, `[data-testid="line-comment-body"]`)
	inside(subPage, `tr.line-comments [data-testid="comment"]`)
	if eval(subPage, `document.querySelector('[data-testid="code-lines"]').getBoundingClientRect().width`) <= eval(subPage, `document.querySelector('.code-scroll').getBoundingClientRect().width`) {
		t.Fatalf("the long line does not overflow its box, so the test shows nothing: %s", text(subPage, `[...document.querySelectorAll('[data-testid="code-lines"], .code-scroll, td.code')].slice(0, 4).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().width + ' ' + getComputedStyle(e).whiteSpace).join(' | ')`))
	}
	diff := submissionURL(codeSub) + "/diff?against=" + strconv.FormatInt(sub, 10)
	open(diff)
	fits(diff)
	inside(diff, `[data-testid="diff-note"]`)
}

package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/labs/labkit"
	"github.com/faultline-dev/faultline/testjson"
)

// quorumRun grades a quorum-kv mutant on the host, as the grader does in
// its container (the same tree, go test -json with traces on), and returns
// the scored result: real failing seeds with the traces labkit recorded.
// It is run once per test binary.
var quorumRun = struct {
	once sync.Once
	res  *faultline.Result
	err  string
}{}

// quorumMutant and quorumTest are a mutant of quorum-kv and a hidden test
// it fails under injected faults.
const (
	quorumMutant = "memory-only"
	quorumTest   = "TestAckedWriteSurvivesCrash"
)

func mustQuorumResult(t *testing.T) *faultline.Result {
	t.Helper()
	quorumRun.once.Do(func() {
		_, lc := MustCatalogs(t)
		lab, err := lc.Lab("quorum-kv")
		if err != nil {
			quorumRun.err = err.Error()
			return
		}
		mut, err := os.ReadFile(filepath.Join("..", "labs", "quorum-kv", "mutants", quorumMutant, "kv.go"))
		if err != nil {
			quorumRun.err = err.Error()
			return
		}
		sol, err := os.ReadFile(filepath.Join("..", "labs", "quorum-kv", "solution", "clock.go"))
		if err != nil {
			quorumRun.err = err.Error()
			return
		}
		src := []faultline.File{{Path: "kv.go", Content: mut}, {Path: "clock.go", Content: sol}}
		var tests []faultline.LabTest
		for _, lt := range lab.Tests {
			if lt.Name == quorumTest {
				tests = append(tests, lt)
			}
		}
		quorumRun.res, err = gradeOnHost(lab, src, tests, "-run", "^"+quorumTest+"$", ".")
		if err != nil {
			quorumRun.err = err.Error()
		}
	})
	if quorumRun.err != "" {
		t.Fatal(quorumRun.err)
	}
	return quorumRun.res
}

// gradeOnHost grades src (a learner's files) against lab's tests on the
// host as the grader does in its container: the same grading tree, go test
// -json with labkit's traces on, scored by testjson with tests (the lab's
// scored tests, or the few a run is narrowed to by args) — so the result
// has the pictures and traces a learner would see. args are go test's
// selection flags and packages, run in the tree's hidden module.
func gradeOnHost(lab *faultline.Lab, src []faultline.File, tests []faultline.LabTest, args ...string) (*faultline.Result, error) {
	tree, err := labs.GradingTree(lab, learnerSource(src))
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "faultline-hostgrade-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	if err := labs.WriteTree(root, tree); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-count=1", "-json", "-vet=off", "-timeout=120s"}, args...)...)
	cmd.Dir = filepath.Join(root, "hidden")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0", labkit.TraceEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		return nil, fmt.Errorf("go test: %w\n%s", err, stderr.String())
	}
	res := testjson.Score(bytes.NewReader(out), tests)
	if res.Status != faultline.StatusGraded {
		return nil, fmt.Errorf("go test did not grade %s: %s%s", lab.Slug, stderr.String(), out)
	}
	res.Lab = lab.Slug
	return res, nil
}

// learnerSource is files without tests and go.mod: what a learner's
// submission holds and GradingTree takes.
func learnerSource(files []faultline.File) []faultline.File {
	var src []faultline.File
	for _, f := range files {
		if !strings.HasSuffix(f.Path, "_test.go") && f.Path != "go.mod" {
			src = append(src, f)
		}
	}
	return src
}

// quorumTrace is the failing test of a quorum-kv run and its recorded trace.
func quorumTrace(t *testing.T, res *faultline.Result) (int, *faultline.RunTrace) {
	t.Helper()
	for i, tr := range res.Tests {
		for _, a := range tr.Attachments {
			if a.Trace != nil && tr.Status == faultline.TestFail {
				return i, a.Trace
			}
		}
	}
	t.Fatalf("the %s mutant's run recorded no trace: %+v", quorumMutant, res.Tests)
	return 0, nil
}

// The done-when test of the trace explorer: a failing seed of the
// quorum-kv lab, graded for real with traces on, opens from its test as a
// diagram whose lanes, messages and marked faults match the run's recorded
// events, without any script; its links step the cursor through it.
func TestTraceExplorerShowsTheRecordedRun(t *testing.T) {
	res := mustQuorumResult(t)
	ti, rt := quorumTrace(t, res)
	kinds := map[string]int{}
	for _, e := range rt.Events {
		kinds[e.Kind]++
	}
	// The mutant loses writes when a replica crashes: the run must show it.
	if kinds["crash"] == 0 || kinds["send"] == 0 || kinds["deliver"] == 0 {
		t.Fatalf("the recorded run has too little in it to check: %v", kinds)
	}

	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	sub := e.MustSubmission(u, "quorum-kv")
	e.MustComplete(res)
	b := e.MustLogin(u)

	// From the failing test on the result page.
	page := b.get(submissionURL(sub.ID))
	link := page.doc().Find(`[data-testid="test-row"]`).FilterFunction(func(_ int, s *goquery.Selection) bool {
		return s.Find(`[data-testid="test-name"]`).Text() == res.Tests[ti].Name
	}).Find(`[data-testid="trace-link"]`)
	href := link.AttrOr("href", "")
	if link.Length() != 1 || href != traceURL(sub.ID, ti) {
		t.Fatalf("the failing test links %d trace explorers (%q), want %s", link.Length(), href, traceURL(sub.ID, ti))
	}
	r := b.get(href)
	if r.status != http.StatusOK {
		t.Fatalf("trace page: status %d\n%.800s", r.status, r.body)
	}
	d := r.doc()

	// One lane per node, clients after servers.
	var lanes []string
	d.Find(`[data-testid="trace-lane"]`).Each(func(_ int, s *goquery.Selection) { lanes = append(lanes, s.AttrOr("data-lane", "")) })
	if fmt.Sprint(lanes) != fmt.Sprint(traceLanes(rt)) || len(lanes) != len(rt.Nodes) {
		t.Errorf("lanes %v, the run's nodes %v", lanes, rt.Nodes)
	}
	for _, n := range rt.Nodes {
		if !strings.Contains(d.Find(`[data-testid="trace-svg"] .td-name`).Text(), n) {
			t.Errorf("lane %s is not named", n)
		}
	}

	// One row per event, in order, with its kind and node.
	rows := d.Find(`[data-testid="trace-event"]`)
	if rows.Length() != len(rt.Events) {
		t.Fatalf("%d rows, the run recorded %d events", rows.Length(), len(rt.Events))
	}
	rows.Each(func(i int, s *goquery.Selection) {
		ev := rt.Events[i]
		if s.AttrOr("data-kind", "") != ev.Kind || s.AttrOr("data-node", "") != ev.Node || s.AttrOr("data-peer", "") != ev.Peer ||
			!strings.Contains(s.Find(".td-time").Text(), traceTime(ev.At)) {
			t.Errorf("row %d: %s %s→%s at %s; event %+v", i, s.AttrOr("data-kind", ""), s.AttrOr("data-node", ""), s.AttrOr("data-peer", ""), s.Find(".td-time").Text(), ev)
		}
	})

	// Every message sent is an arrow from its sender to its receiver that
	// ends as the run says: delivered, dropped (a cross) or still in flight.
	type key struct {
		n        string
		from, to string
	}
	fate := map[key]string{}
	sent := 0
	for _, ev := range rt.Events {
		m := msgRef.FindStringSubmatch(ev.Detail)
		if m == nil {
			continue
		}
		k := key{m[1], ev.Node, ev.Peer}
		switch ev.Kind {
		case "send":
			sent++
			if _, ok := fate[k]; !ok {
				fate[k] = "in flight"
			}
		case "deliver":
			if fate[k] != "dropped" {
				fate[k] = "delivered"
			}
		case "drop":
			fate[k] = "dropped"
		}
	}
	arrows := d.Find(`[data-testid="trace-msg"]`)
	if arrows.Length() < sent {
		t.Errorf("%d arrows for %d messages sent", arrows.Length(), sent)
	}
	arrows.Each(func(_ int, s *goquery.Selection) {
		k := key{s.AttrOr("data-msg", ""), s.AttrOr("data-from", ""), s.AttrOr("data-to", "")}
		got := strings.TrimSuffix(s.AttrOr("data-state", ""), " twice")
		if want, ok := fate[k]; !ok || got != want {
			t.Errorf("message %+v drawn as %q; the run has it %q", k, got, want)
		}
		if got == "dropped" && s.Find(`[data-testid="trace-drop"]`).Length() != 1 {
			t.Errorf("dropped message %+v has no cross", k)
		}
	})

	// Faults are marked where they happened.
	for kind, testid := range map[string]string{"crash": "trace-crash", "restart": "trace-restart", "partition": "trace-partition", "heal": "trace-heal", "fault": "trace-fault"} {
		if got := d.Find(`[data-testid="` + testid + `"]`).Length(); got != kinds[kind] {
			t.Errorf("%d %s marks, the run has %d %s events", got, testid, kinds[kind], kind)
		}
	}
	if kinds["partition"] > 0 && d.Find(`[data-testid="trace-cut"]`).Length() == 0 {
		t.Error("the run has partitions but no lane is shaded as cut off")
	}
	// The broken property at the point it broke.
	if b := d.Find(`[data-testid="trace-broken"]`).Text(); !strings.Contains(b, traceTime(rt.At)) || !strings.Contains(r.testid("trace-property").Text(), rt.Property) {
		t.Errorf("broken property %q / %q, want %q at %s", b, r.testid("trace-property").Text(), rt.Property, traceTime(rt.At))
	}

	// Without a script: the cursor starts at the last event; step back is
	// a link that moves it, and what has not happened yet is dimmed.
	if got := r.testid("trace-ui").AttrOr("data-at", ""); got != fmt.Sprint(len(rt.Events)-1) {
		t.Errorf("cursor at %s, want the last event", got)
	}
	var back string
	r.testid("trace-step").Each(func(_ int, s *goquery.Selection) {
		if strings.Contains(s.Text(), "step back") {
			back = s.AttrOr("href", "")
		}
	})
	if back == "" {
		t.Fatal("no step-back link")
	}
	r = b.get(back)
	at := len(rt.Events) - 2
	if got := r.testid("trace-ui").AttrOr("data-at", ""); got != fmt.Sprint(at) {
		t.Errorf("after step back the cursor is at %s, want %d", got, at)
	}
	if got := r.testid("trace-cursor-text").Text(); got != traceEventText(rt.Events[at]) {
		t.Errorf("cursor says %q, want %q", got, traceEventText(rt.Events[at]))
	}
	if f := r.doc().Find(`[data-testid="trace-event"].td-future`); f.Length() != 1 || f.AttrOr("data-i", "") != fmt.Sprint(at+1) {
		t.Errorf("%d events dimmed as future, want only the last", f.Length())
	}
	// The form: leave out timers.
	r = b.get(href + "?" + url.Values{"at": {"3"}, "hide": {"timer"}}.Encode())
	if n := r.doc().Find(`[data-testid="trace-event"][data-kind="timer"]`).Length(); n != 0 {
		t.Errorf("%d timer rows left in", n)
	}
	if n := r.doc().Find(`[data-testid="trace-event"]`).Length(); n != len(rt.Events)-kinds["timer"] {
		t.Errorf("%d rows with timers left out, want %d", n, len(rt.Events)-kinds["timer"])
	}

	// Nobody else's run; no trace where none was recorded.
	other := e.MustUser("Olga Other", faultline.RoleLearner)
	if st := e.MustLogin(other).get(href).status; st != http.StatusNotFound {
		t.Errorf("another learner gets %d for the trace", st)
	}
	for _, bad := range []string{"99", "-1", "x"} {
		if st := b.get(fmt.Sprintf("/submissions/%d/trace/%s", sub.ID, bad)).status; st != http.StatusNotFound {
			t.Errorf("trace %s: status %d, want 404", bad, st)
		}
	}
}

// chromeSignIn signs u in to the portal at base in a Chromium tab.
func chromeSignIn(t *testing.T, bctx context.Context, base string, u *faultline.User) {
	t.Helper()
	sctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="auth-form"]`)),
		chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="email"]`), u.Email),
		chromedp.SetValue(chromedp.CSS(`form[data-testid="auth-form"] [name="password"]`), testPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="auth-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="whoami"]`)),
	); err != nil {
		t.Fatalf("sign in %s: %v", u.Email, err)
	}
}

// With trace.js the cursor moves in place: arrow keys, a click on an
// event and the slider step through the run without a reload, the panel
// says what happened and what held then, later events are dimmed, and the
// address keeps the step so a reload or a shared link lands on it.
func TestTraceExplorerInChromium(t *testing.T) {
	res := mustQuorumResult(t)
	ti, rt := quorumTrace(t, res)
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	sub := e.MustSubmission(u, "quorum-kv")
	e.MustComplete(res)
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	bctx := mustChromiumContext(t)
	chromeSignIn(t, bctx, ts.URL, u)

	type state struct {
		At     string `json:"at"`
		Text   string `json:"text"`
		State  string `json:"state"`
		Future int    `json:"future"`
		Cursor string `json:"cursor"`
		Query  string `json:"query"`
		Loaded bool   `json:"loaded"`
	}
	read := func() state {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[state](`(() => {
			const ui = document.querySelector('[data-testid="trace-ui"]');
			const cur = document.querySelector('[data-testid="trace-event"].td-cursor');
			return {at: ui.dataset.at, text: document.querySelector('[data-testid="trace-cursor-text"]').textContent,
				state: document.querySelector('[data-testid="trace-cursor-state"]').textContent,
				future: document.querySelectorAll('[data-testid="trace-event"].td-future').length,
				cursor: cur ? cur.dataset.i : "", query: new URL(location.href).searchParams.get("at") || "",
				loaded: !!document.querySelector('script[src*="trace.js"]')};
		})()`))
		if err != nil {
			t.Fatalf("read the explorer: %v", err)
		}
		return s
	}
	want := func(step string, i int) {
		t.Helper()
		s := read()
		if s.At != fmt.Sprint(i) || s.Cursor != fmt.Sprint(i) || s.Query != fmt.Sprint(i) || s.Text != traceEventText(rt.Events[i]) ||
			s.Future != len(rt.Events)-1-i || s.State == "" {
			t.Errorf("%s: explorer %+v; want event %d %q with %d later events dimmed", step, s, i, traceEventText(rt.Events[i]), len(rt.Events)-1-i)
		}
	}
	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	last := len(rt.Events) - 1
	do("open", chromedp.Navigate(ts.URL+traceURL(sub.ID, ti)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="trace-svg"]`)))
	if s := read(); !s.Loaded || s.At != fmt.Sprint(last) {
		t.Fatalf("explorer opened at %+v, want the last event with trace.js", s)
	}
	do("arrow up twice", chromedp.Focus(chromedp.CSS(`[data-testid="trace-figure"]`)), chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.ArrowUp))
	want("two steps back", last-2)
	do("click the first event", chromedp.Click(chromedp.CSS(`#ev-0 .td-hit`)))
	want("a click", 0)
	do("arrow down", chromedp.Focus(chromedp.CSS(`[data-testid="trace-figure"]`)), chromedp.KeyEvent(kb.ArrowDown))
	want("one step on", 1)
	mid := len(rt.Events) / 2
	do("slider", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.querySelector('[data-testid="trace-scrub"]');
		s.value = "%d"; s.dispatchEvent(new Event("input", {bubbles: true})); })()`, mid)))
	want("the slider", mid)
	do("end", chromedp.Focus(chromedp.CSS(`[data-testid="trace-figure"]`)), chromedp.KeyEvent(kb.End))
	want("End", last)
	// A reload lands where the cursor was.
	do("step back, reload", chromedp.Focus(chromedp.CSS(`[data-testid="trace-figure"]`)), chromedp.KeyEvent(kb.ArrowUp),
		chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="trace-svg"]`)))
	want("after a reload", last-1)
}

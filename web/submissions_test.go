package web

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

const evil = `<script>alert("x")</script>`

func evilResult() *faultline.Result {
	return &faultline.Result{
		Status: faultline.StatusGraded, Score: 3, MaxScore: 5, Message: "Ran " + evil,
		Output: "stdout " + evil, Flags: []string{"uses unsafe " + evil},
		Tests: []faultline.TestResult{
			{Name: "TestOpens" + evil, Status: faultline.TestPass, Score: 3, MaxScore: 3, Output: "ok " + evil},
			{Name: "TestHidden", Hidden: true, Status: faultline.TestFail, MaxScore: 2, Message: "want " + evil},
		},
	}
}

func TestSubmissionResultIsEscaped(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	e.MustCohort("Spring", inst, u)
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(evilResult())

	for _, tc := range []struct {
		viewer    *faultline.User
		wantFlags bool
	}{{u, false}, {inst, true}} {
		res := e.MustLogin(tc.viewer).get(submissionURL(sub.ID))
		if res.status != http.StatusOK {
			t.Fatalf("status %d", res.status)
		}
		if strings.Contains(res.body, "<script>alert") {
			t.Fatal("unescaped <script> in the result page")
		}
		d := res.doc()
		if n := d.Find("script:not([src])").Length(); n != 0 {
			t.Fatalf("%d inline scripts", n)
		}
		if got := res.testid("score").Text(); got != "3/5" {
			t.Errorf("score %q", got)
		}
		rows := res.testid("test-row")
		if rows.Length() != 2 {
			t.Fatalf("%d test rows", rows.Length())
		}
		// The failing test comes first; the passing one is folded under it.
		if name := rows.First().Find(`[data-testid="test-name"]`).Text(); name != "TestHidden" {
			t.Errorf("first row is %q, want the failing test", name)
		}
		if st, _ := rows.First().Attr("data-status"); st != "fail" {
			t.Errorf("first row status %q", st)
		}
		passing := res.testid("passing-tests").Find(`[data-testid="test-row"]`)
		if name := passing.Find(`[data-testid="test-name"]`).Text(); passing.Length() != 1 || name != "TestOpens"+evil {
			t.Errorf("passing tests folded: %d, name shown as %q", passing.Length(), name)
		}
		if !strings.Contains(res.testid("output").Text(), "stdout "+evil) {
			t.Error("output not shown as text")
		}
		if got := res.testid("flags").Length() == 1; got != tc.wantFlags {
			t.Errorf("viewer %s sees flags: %v", tc.viewer.Name, got)
		}
		if res.testid("refresh").Length() != 0 {
			t.Error("finished submission still offers a refresh")
		}
	}
}

func TestSubmissionPendingWorksWithoutJS(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	sub := e.MustSubmission(u, labSlug)
	res := e.MustLogin(u).get(submissionURL(sub.ID))
	d := res.doc()
	if st, _ := res.testid("result").Attr("data-state"); st != "queued" {
		t.Errorf("state %q", st)
	}
	// The HTML parser reads <noscript> as text (scripting on), so look at that text.
	if ns := d.Find("head noscript").Text(); !strings.Contains(ns, `http-equiv="refresh"`) {
		t.Error("no <noscript> meta refresh while grading")
	}
	if href, _ := res.testid("refresh").Attr("href"); href != submissionURL(sub.ID) {
		t.Errorf("refresh link %q", href)
	}
	if ev, _ := res.testid("result-box").Attr("data-events"); ev != submissionURL(sub.ID)+"/events" {
		t.Errorf("data-events %q", ev)
	}
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ name, data string }

// readEvent reads the next event from an SSE stream.
func readEvent(t *testing.T, r *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %+v)", err, ev)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			ev.data = strings.Join(data, "\n")
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

func TestSubmissionEvents(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	sub := e.MustSubmission(u, labSlug)

	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	// A guard against a hung stream, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+submissionURL(sub.ID)+"/events", nil)
	req.AddCookie(b.cookies[sessionCookie])
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	if ev := readEvent(t, r); ev.name != "state" || ev.data != "queued" {
		t.Fatalf("first event %+v, want state queued", ev)
	}

	e.MustComplete(evilResult())

	var result sseEvent
	for result.name == "" {
		ev := readEvent(t, r)
		switch ev.name {
		case "state":
			if ev.data != "running" && ev.data != "done" {
				t.Errorf("state event %q", ev.data)
			}
		case "result":
			result = ev
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	if strings.Contains(result.data, "<script>alert") {
		t.Fatal("the result fragment has an unescaped <script>")
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(result.data))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Find(`[data-testid="score"]`).Text(); got != "3/5" {
		t.Errorf("fragment score %q", got)
	}
	if got := d.Find(`[data-testid="test-row"]`).Length(); got != 2 {
		t.Errorf("fragment rows %d", got)
	}
	if d.Find(`[data-testid="flags"]`).Length() != 0 {
		t.Error("a learner's fragment shows flags")
	}
	// The stream ends after the result.
	if rest, err := r.ReadString('\n'); err == nil {
		t.Errorf("stream goes on after the result: %q", rest)
	}
}

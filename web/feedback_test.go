package web

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// mustGraded stores a graded submission of u with files and tests.
func (w *talkWorld) mustGraded(u *faultline.User, files []faultline.File, score int, tests []faultline.TestResult) int64 {
	w.e.t.Helper()
	max := w.e.mustLab(labSlug).MaxScore()
	s := &faultline.Submission{UserID: u.ID, Lab: labSlug, Files: files}
	if err := w.e.db.CreateSubmission(context.Background(), s); err != nil {
		w.e.t.Fatal(err)
	}
	return w.e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: max, Tests: tests})
}

// gradebookCell reads one learner's cell of the lab from the gradebook CSV.
func gradebookCell(t *testing.T, b *browser, cohortID int64, learner string) string {
	t.Helper()
	res := b.get(cohortURL(cohortID) + "/gradebook.csv")
	if res.status != http.StatusOK {
		t.Fatalf("gradebook.csv: %d", res.status)
	}
	recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range recs[0] {
		if strings.HasPrefix(h, "Build a circuit breaker") {
			col = i
		}
	}
	for _, r := range recs[1:] {
		if r[0] == learner {
			return r[col]
		}
	}
	t.Fatalf("no row for %s in\n%s", learner, res.body)
	return ""
}

// TestFeedbackOnASubmission: the instructor comments on a line (in the
// file view and the diff) and on the whole, the learner replies, each is
// told; the instructor adjusts the score and every surface shows the one
// score; a regrade request is asked and answered with an adjustment.
func TestFeedbackOnASubmission(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	max := e.mustLab(labSlug).MaxScore()
	code := "package circuitbreaker\n\nfunc Count(n int) int {\n\treturn n + 1\n}\n"
	first := w.mustGraded(w.ann, []faultline.File{{Path: "breaker.go", Content: []byte("package circuitbreaker\n")}}, 0, nil)
	sub := w.mustGraded(w.ann, []faultline.File{{Path: "breaker.go", Content: []byte(code)}}, max-2, []faultline.TestResult{
		{Name: "TestOpensAfterThreshold", Status: faultline.TestFail, MaxScore: 2, Message: "stayed closed"},
	})
	subURL := submissionURL(sub)
	ann, bob, ines := e.MustLogin(w.ann), e.MustLogin(w.bob), e.MustLogin(w.inst)

	// The instructor sees the files line by line; a line's number opens
	// its comment form.
	page := ines.get(subURL)
	lines := page.testid("code-line")
	if lines.Length() != 5 {
		t.Fatalf("%d code lines, want 5:\n%.1500s", lines.Length(), page.body)
	}
	if page.doc().Find(`table.chroma [data-testid="code-line"] .code span`).Length() == 0 {
		t.Error("the line view lost the highlighting")
	}
	link := lines.Eq(3).Find(`[data-testid="line-comment-link"]`).AttrOr("href", "")
	form := ines.get(strings.Split(link, "#")[0]).testid("line-comment-form")
	if form.Length() != 1 || form.Find(`input[name="line"]`).AttrOr("value", "") != "4" {
		t.Fatalf("the comment form for line 4 did not open from %q", link)
	}
	res := ines.post(form.AttrOr("action", ""), url.Values{"path": {"breaker.go"}, "line": {"4"}, "body": {"Count **failures**, not calls."}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("line comment: %d\n%s", res.status, res.body)
	}
	if r := ines.post(subURL+"/comments", url.Values{"path": {"breaker.go"}, "line": {"99"}, "body": {"x"}}); r.status != http.StatusUnprocessableEntity || r.testid("feedback-error").Length() != 1 {
		t.Errorf("a comment past the end of the file: %d", r.status)
	}
	if r := ines.post(subURL+"/comments", url.Values{"body": {"Nearly there: the threshold is off by one."}}); r.status != http.StatusSeeOther {
		t.Fatalf("overall comment: %d", r.status)
	}
	if got := w.notified(w.ann)[faultline.NotifyFeedback]; len(got) != 2 {
		t.Errorf("Ann was told of %d comments, want 2: %q", len(got), got)
	}
	// Ann sees the comment under line 4, rendered Markdown, and in the diff.
	page = ann.get(subURL)
	row := page.doc().Find(`tr[data-line="4"]`)
	if !row.HasClass("commented") || !strings.Contains(row.Next().Text(), "Count failures, not calls.") || row.Next().Find(`[data-testid="comment-body"] strong`).Length() != 1 {
		t.Errorf("Ann does not see the line comment under line 4:\n%s", page.testid("submission-files").Text())
	}
	if page.testid("line-comment-link").Length() != 0 {
		t.Error("the learner is offered to comment on lines")
	}
	diff := ann.get(subURL + "/diff?against=" + strconv.FormatInt(first, 10))
	if !strings.Contains(diff.testid("diff-comments").Text(), "Count failures") {
		t.Errorf("the diff does not show the comment:\n%.2000s", diff.body)
	}
	// Ann replies to the line comment; the instructor is told.
	cid := page.doc().Find(`tr.line-comments [data-testid="comment"]`).First().AttrOr("id", "")
	parent := strings.TrimPrefix(cid, "comment-")
	if r := ann.post(subURL+"/comments", url.Values{"parent": {parent}, "body": {"Fixed in my next attempt."}}); r.status != http.StatusSeeOther {
		t.Fatalf("reply: %d", r.status)
	}
	if r := ann.post(subURL+"/comments", url.Values{"body": {"A top-level note"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("the learner started a comment of her own: %d", r.status)
	}
	if got := w.notified(w.inst)[faultline.NotifyFeedback]; len(got) != 1 || !strings.Contains(got[0], "replied") {
		t.Errorf("the instructor's feedback notices: %q", got)
	}
	// Classmates see nothing of it.
	if r := bob.get(subURL); r.status != http.StatusNotFound {
		t.Errorf("a classmate opens the submission: %d", r.status)
	}
	if r := bob.post(subURL+"/comments", url.Values{"parent": {parent}, "body": {"x"}}); r.status != http.StatusNotFound {
		t.Errorf("a classmate comments: %d", r.status)
	}

	// Adjust +1: the CSV, the matrix, the lab page and Ann's feedback panel
	// show the one score, beside the graded result.
	if got := gradebookCell(t, ines, w.spring.ID, w.ann.Name); got != strconv.Itoa(max-2) {
		t.Fatalf("before the adjustment the CSV says %s", got)
	}
	ll := learnerLabURL(w.spring.ID, w.ann.ID, labSlug)
	if r := ines.post(ll+"/adjust", url.Values{"points": {"1"}, "reason": {"The flaky timing test"}, "back": {subURL}}); r.status != http.StatusSeeOther || r.header.Get("Location") != subURL {
		t.Fatalf("adjust: %d %s", r.status, r.header.Get("Location"))
	}
	if r := ines.post(ll+"/adjust", url.Values{"points": {"0"}, "reason": {"nothing"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a zero adjustment: %d", r.status)
	}
	if r := ines.post(ll+"/adjust", url.Values{"points": {"1"}, "reason": {" "}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("an adjustment without a reason: %d", r.status)
	}
	if got := gradebookCell(t, ines, w.spring.ID, w.ann.Name); got != strconv.Itoa(max-1) {
		t.Errorf("after +1 the CSV says %s, want %d", got, max-1)
	}
	fb := ann.get(subURL).testid("feedback")
	if !strings.Contains(fb.Find(`[data-testid="held-score"]`).Text(), scoreString(max-1, max)) || !strings.Contains(fb.Text(), "The flaky timing test") {
		t.Errorf("Ann's feedback panel: %q", fb.Text())
	}
	if got := ann.get(submissionURL(sub)).testid("score").Text(); got != scoreString(max-2, max) {
		t.Errorf("the graded result changed: %s", got)
	}
	if !strings.Contains(ann.get(labURL(labSlug)).testid("lab-adjustments").Text(), "+1") {
		t.Error("the lab page does not show the adjustment")
	}
	if r := bob.post(learnerLabURL(w.spring.ID, w.ann.ID, labSlug)+"/adjust", url.Values{"points": {"5"}, "reason": {"me"}}); r.status == http.StatusSeeOther {
		t.Error("a learner adjusted a score")
	}

	// A regrade request about the failing test, answered with +1.
	if r := ann.post(subURL+"/regrade-requests", url.Values{"test": {"0"}, "reason": {"It passes on my machine with seed 42."}}); r.status != http.StatusSeeOther {
		t.Fatalf("regrade request: %d", r.status)
	}
	if r := ann.post(subURL+"/regrade-requests", url.Values{"test": {"0"}, "reason": {"again"}}); r.status != http.StatusConflict {
		t.Errorf("a second request about the same test: %d", r.status)
	}
	if r := ann.post(subURL+"/regrade-requests", url.Values{"test": {"7"}, "reason": {"x"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a request about a test that is not there: %d", r.status)
	}
	if got := ines.get(cohortURL(w.spring.ID)).testid("open-requests-count").Text(); got != "1" {
		t.Errorf("the dashboard counts %s open requests, want 1", got)
	}
	reqs := ines.get(requestsPath(w.spring.ID))
	action := reqs.testid("answer-form").AttrOr("action", "")
	if action == "" {
		t.Fatalf("no answer form:\n%.1500s", reqs.body)
	}
	if r := bob.post(action, url.Values{"decision": {"decline"}, "answer": {"no"}}); r.status != http.StatusNotFound {
		t.Errorf("a learner answered a request: %d", r.status)
	}
	if r := ines.post(action, url.Values{"decision": {"adjust"}, "points": {"1"}, "answer": {"You are right: the seed was unlucky."}}); r.status != http.StatusSeeOther {
		t.Fatalf("answer: %d", r.status)
	}
	if r := ines.post(action, url.Values{"decision": {"decline"}, "answer": {"twice"}}); r.status != http.StatusConflict {
		t.Errorf("answering twice: %d", r.status)
	}
	if got := gradebookCell(t, ines, w.spring.ID, w.ann.Name); got != strconv.Itoa(max) {
		t.Errorf("after the accepted request the CSV says %s, want %d", got, max)
	}
	card := ann.get(subURL).testid("request")
	if card.AttrOr("data-state", "") != "accepted" || !strings.Contains(card.Text(), "the seed was unlucky") {
		t.Errorf("Ann's request: %q", card.Text())
	}
	if got := w.notified(w.ann)[faultline.NotifyFeedback]; len(got) < 4 {
		t.Errorf("Ann's feedback notices: %q", got)
	}
	audit := ines.get("/cohorts/" + strconv.FormatInt(w.spring.ID, 10) + "/moderation").testid("audit").Text()
	for _, a := range []string{"adjust score", "adjust regrade request"} {
		if !strings.Contains(audit, a) {
			t.Errorf("the audit log has no %q:\n%s", a, audit)
		}
	}
}

func requestsPath(cohortID int64) string { return cohortURL(cohortID) + "/requests" }

// TestExtensionLetsALearnerSubmitLate: with late work refused and hidden
// tests shown after the due date, a learner with an extension submits
// after the cohort's due date, is scored in full, and does not see hidden
// tests before their own due date while classmates do.
func TestExtensionLetsALearnerSubmitLate(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	ctx := context.Background()
	lab := e.mustLab(labSlug)
	max := lab.MaxScore()
	due := e.clock.Now().Add(time.Hour).Truncate(time.Second)
	if err := e.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: w.spring.ID, Lab: labSlug, DueAt: due,
		Late: faultline.LatePolicy{Mode: faultline.LateRefuse}, Visibility: faultline.TestsAfterDue}); err != nil {
		t.Fatal(err)
	}
	var tests []faultline.TestResult
	for _, lt := range lab.Tests {
		tests = append(tests, faultline.TestResult{Name: lt.Name, Hidden: lt.Hidden, Status: faultline.TestPass, Score: lt.Points, MaxScore: lt.Points})
	}
	bobSub := w.mustGraded(w.bob, []faultline.File{{Path: "breaker.go", Content: []byte("package circuitbreaker\n")}}, max, tests) // on time
	e.clock.Add(2 * time.Hour)                                                                                                     // past the cohort's due date
	ann, bob, ines := e.MustLogin(w.ann), e.MustLogin(w.bob), e.MustLogin(w.inst)
	if r := ann.post(labURL(labSlug)+"/submissions", nil); r.status != http.StatusForbidden {
		t.Fatalf("a late submission without an extension: %d", r.status)
	}
	ll := learnerLabURL(w.spring.ID, w.ann.ID, labSlug)
	newDue := e.clock.Now().Add(24 * time.Hour).UTC()
	if r := ines.post(ll+"/extension", url.Values{"due": {newDue.Format("2006-01-02T15:04")}, "reason": {"ill"}}); r.status != http.StatusSeeOther {
		t.Fatalf("extension: %d", r.status)
	}
	if r := ines.post(ll+"/extension", url.Values{"due": {"tomorrow"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("an extension without a date: %d", r.status)
	}
	if !strings.Contains(ines.get(ll).testid("learner-extension").Text(), "ill") {
		t.Error("the learner's page does not show the extension")
	}
	if got := ann.get(labURL(labSlug)).testid("lab-extension").Text(); !strings.Contains(got, "You have an extension") {
		t.Errorf("the lab page does not tell Ann: %q", got)
	}
	if got := w.notified(w.ann)[faultline.NotifyFeedback]; len(got) != 1 || !strings.Contains(got[0], "extension") {
		t.Errorf("Ann's notices: %q", got)
	}
	res := ann.post(labURL(labSlug)+"/submissions", nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("the extended learner's late submission: %d\n%.500s", res.status, res.body)
	}
	annSub := e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: max, MaxScore: max, Tests: tests})
	page := ann.get(submissionURL(annSub))
	if got := page.testid("score").Text(); got != scoreString(max, max) || page.testid("late-note").Length() != 0 {
		t.Errorf("the extended submission scored %s with a late note %q", got, page.testid("late-note").Text())
	}
	if page.testid("hidden-summary").Length() != 1 {
		t.Error("hidden tests show to the extended learner before their own due date")
	}
	if bp := bob.get(submissionURL(bobSub)); bp.testid("hidden-summary").Length() != 0 {
		t.Error("hidden tests stay hidden from a classmate after the cohort's due date")
	}
	if got := gradebookCell(t, ines, w.spring.ID, w.ann.Name); got != strconv.Itoa(max) {
		t.Errorf("the CSV gives Ann %s, want %d", got, max)
	}
	e.clock.Add(25 * time.Hour)
	if ann.get(submissionURL(annSub)).testid("hidden-summary").Length() != 0 {
		t.Error("hidden tests stay hidden after the extended due date")
	}
	// Withdrawn: the cohort's rule counts her (late, refused) work as zero.
	if r := ines.post(ll+"/extension/remove", nil); r.status != http.StatusSeeOther {
		t.Fatalf("remove: %d", r.status)
	}
	if got := gradebookCell(t, ines, w.spring.ID, w.ann.Name); got != "0" {
		t.Errorf("after the extension is withdrawn the CSV gives Ann %s, want 0", got)
	}
}

// fakeTerminal is a shell that prints lines and then waits to be closed.
type fakeTerminal struct {
	out    chan []byte
	closed chan struct{}
	once   sync.Once
}

func (f *fakeTerminal) Read(p []byte) (int, error) {
	select {
	case b := <-f.out:
		return copy(p, b), nil
	case <-f.closed:
		return 0, io.EOF
	}
}
func (f *fakeTerminal) Write(p []byte) (int, error)                               { return len(p), nil }
func (f *fakeTerminal) Resize(ctx context.Context, size faultline.TermSize) error { return nil }
func (f *fakeTerminal) Close() error                                              { f.once.Do(func() { close(f.closed) }); return nil }

type fakeTerminals struct{ t *fakeTerminal }

func (f fakeTerminals) Terminal(ctx context.Context, userID int64, lab string, size faultline.TermSize) (faultline.Terminal, error) {
	return f.t, nil
}

// TestOfficeHours: the instructor reads a learner's current files, and
// watches their terminal while they share it (and only then).
func TestOfficeHours(t *testing.T) {
	term := &fakeTerminal{out: make(chan []byte, 4), closed: make(chan struct{})}
	w := mustTalkWorld(t, func(d *envDeps) { d.Terminals = fakeTerminals{term} })
	e := w.e
	ctx := context.Background()
	if _, err := e.course.SaveFile(ctx, w.ann, labSlug, "breaker.go", []byte("package circuitbreaker\n// office-hours-marker\n")); err != nil {
		t.Fatal(err)
	}
	ines := e.MustLogin(w.inst)
	base := learnerLabURL(w.spring.ID, w.ann.ID, labSlug)
	files := ines.get(base + "/files")
	if files.status != http.StatusOK || !strings.Contains(files.body, "office-hours-marker") || files.testid("terminal-not-shared").Length() != 1 {
		t.Fatalf("office hours: %d\n%.1500s", files.status, files.body)
	}
	if panel := ines.get(base + "/files/panel"); !strings.HasPrefix(strings.TrimSpace(panel.body), `<div class="office" data-live-src=`) {
		t.Errorf("the live panel is not a fragment:\n%.300s", panel.body)
	}
	// Not shared: the stream says so and ends.
	if res := ines.get(base + "/terminal/stream"); !strings.Contains(res.body, "event: end") || strings.Contains(res.body, "event: out") {
		t.Errorf("the stream of an unshared terminal:\n%s", res.body)
	}
	ann := e.MustLogin(w.ann)
	if r := ann.post(labURL(labSlug)+"/share-terminal", url.Values{"on": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("share: %d", r.status)
	}
	if ann.get(labURL(labSlug)).testid("share-terminal-stop").Length() != 1 {
		t.Error("the lab page does not say the terminal is shared")
	}
	if ines.get(base+"/files").testid("watch-terminal").Length() != 1 {
		t.Error("office hours offer no way to watch the shared terminal")
	}
	// Watch over real HTTP while Ann's shell prints.
	e.srv.StreamLimit = time.Minute
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+base+"/terminal/stream", nil)
	for _, c := range ines.cookies {
		req.AddCookie(c)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sh, err := e.course.Terminal(ctx, w.ann, labSlug, faultline.TermSize{Cols: 80, Rows: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	term.out <- []byte("$ go test\r\nok  circuitbreaker\r\n")
	buf := make([]byte, 256)
	if _, err := sh.Read(buf); err != nil { // the portal reads the shell for Ann's browser
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var got string
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			b, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				t.Fatalf("event data %q: %v", data, err)
			}
			got = string(b)
			break
		}
	}
	if !strings.Contains(got, "ok  circuitbreaker") {
		t.Fatalf("the watcher got %q", got)
	}
	// Ann stops sharing: the watch ends.
	if r := ann.post(labURL(labSlug)+"/share-terminal", url.Values{"on": {"0"}}); r.status != http.StatusSeeOther {
		t.Fatalf("unshare: %d", r.status)
	}
	ended := false
	for sc.Scan() {
		if sc.Text() == "event: end" {
			ended = true
			break
		}
	}
	if !ended {
		t.Error("the watch did not end when Ann stopped sharing")
	}
	// Bob never watches Ann.
	if r := e.MustLogin(w.bob).get(base + "/terminal/stream"); r.status != http.StatusNotFound {
		t.Errorf("a classmate watches: %d", r.status)
	}
}

// TestEveryScoreSurfaceShowsAdjustmentsAndExtensions: an adjusted score is
// the score held on the labs list, the gradebook CSV, the API gradebook and
// matrix, the heat map and the score chart (the result page keeps the
// graded score); an extended learner's late-but-in-time submission shows
// the same score everywhere, the result page included.
func TestEveryScoreSurfaceShowsAdjustmentsAndExtensions(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	ctx := context.Background()
	max := e.mustLab(labSlug).MaxScore()
	file := []faultline.File{{Path: "breaker.go", Content: []byte("package circuitbreaker\n")}}
	due := e.clock.Now().Add(time.Hour).Truncate(time.Second)
	if err := e.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: w.spring.ID, Lab: labSlug, DueAt: due,
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 50, CapPercent: 50}}); err != nil {
		t.Fatal(err)
	}
	adjusted := w.mustGraded(w.ann, file, max-3, nil)
	if _, err := e.course.AdjustScore(ctx, w.inst, w.spring.ID, w.ann.ID, labSlug, 2, "partial credit for the README"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.course.GrantExtension(ctx, w.inst, w.spring.ID, w.bob.ID, faultline.Extension{Lab: labSlug, DueAt: due.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(26 * time.Hour) // a day late for the cohort, in time for Bob
	extended := w.mustGraded(w.bob, file, max, nil)
	late := w.mustGraded(w.cara, file, max, nil)

	s := e.surfaces(t, w.inst, w.ann, w.spring, adjusted, max)
	want := scoreString(max-1, max)
	got := map[string]string{"labs list": s.home, "gradebook CSV": s.csv, "API gradebook": s.apiBook, "API matrix": s.apiMatrix, "heat map": s.heat}
	for where, v := range got {
		if v != want {
			t.Errorf("adjusted: %s shows %q, want %q", where, v, want)
		}
	}
	if s.result != scoreString(max-3, max) {
		t.Errorf("adjusted: the result page shows %q, want the graded %s", s.result, scoreString(max-3, max))
	}
	found := false
	e.MustLogin(w.inst).get(labStatsURL(w.spring.ID, labSlug)).doc().Find(`[data-testid="chart-table"]`).First().Find("tbody th").Each(func(_ int, q *goqSel) {
		found = found || q.Text() == want
	})
	if !found {
		t.Errorf("adjusted: the score chart has no row %s", want)
	}
	e.surfaces(t, w.inst, w.bob, w.spring, extended, max).agree(t, "extended", scoreString(max, max))
	e.surfaces(t, w.inst, w.cara, w.spring, late, max).agree(t, "late without an extension", scoreString(max/2, max))
}

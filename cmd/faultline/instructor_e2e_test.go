package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestInstructorDay drives a real Chromium through the real portal, store
// and grader as an instructor: create a cohort, invite two learners who
// submit through the real grader (one copies the other's code, one leaves an
// os.Exit in), see the matrix and the per-lab charts, open a submission with
// its diff against the previous attempt and its flags, regrade the lab and
// watch it finish with the old results kept, and download the gradebook CSV,
// whose contents are checked.
func TestInstructorDay(t *testing.T) {
	m := MustServe(t, t.TempDir())
	lab, err := m.Labs.Lab("circuit-breaker")
	if err != nil {
		t.Fatal(err)
	}
	solution := MustSolutionFile(t, lab, "breaker.go")
	const instEmail, instPass = "ines@example.com", "instructor battery horse"
	var out, errOut bytes.Buffer
	if err := runUserAdd(context.Background(), m.Config, []string{"--email", instEmail, "--name", "Ines Instructor", "--instructor"},
		strings.NewReader(instPass+"\n"), &out, &errOut); err != nil {
		t.Fatalf("add instructor: %v\n%s", err, errOut.String())
	}

	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	fill := fillAuth
	signIn := func(step, email, pass string) {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(tid("auth-form")),
			fill("email", email), fill("password", pass),
			chromedp.Click(tid("auth-submit")),
			chromedp.WaitVisible(tid("whoami")),
		)
	}
	signOut := func(step string) {
		t.Helper()
		b.do(step, 15*time.Second, chromedp.Click(tid("logout")), chromedp.WaitVisible(tid("sign-in")))
	}

	// 1. The instructor creates a cohort and copies its invite link.
	signIn("instructor signs in", instEmail, instPass)
	b.do("create cohort", 30*time.Second,
		chromedp.Navigate(base+"/cohorts"),
		chromedp.WaitVisible(tid("create-cohort")),
		chromedp.SetValue(chromedp.CSS(`form:has([data-testid="create-cohort"]) [name="name"]`), "Winter cohort"),
		chromedp.Click(tid("create-cohort")),
		chromedp.WaitVisible(tid("invite-link")),
	)
	invite := get(b, "invite link", chromedp.Value(tid("invite-link")))
	cohortURL := get(b, "cohort url", chromedp.Location())
	signOut("instructor signs out")

	// 2. Two learners join through the invite and submit.
	saveFile := func(step, path, content string) {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Navigate(base+"/labs/circuit-breaker?file=breaker.go"),
			chromedp.WaitReady(tid("editor-content")),
			chromedp.SetValue(tid("editor-path"), path),
			chromedp.SetValue(tid("editor-content"), content),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('form[data-testid="editor"]').submit()`),
			chromedp.WaitReady(tid("notice")),
		)
	}
	submit := func(step string) int64 {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Navigate(base+"/labs/circuit-breaker"),
			chromedp.WaitVisible(tid("submit")),
			chromedp.Click(tid("submit")),
			chromedp.WaitVisible(tid("result-box")),
		)
		b.do(step+": graded", 5*time.Minute, chromedp.WaitVisible(in(tid("result-box"), "score")))
		loc := get(b, step+": url", chromedp.Location())
		id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
		if err != nil {
			t.Fatalf("%s: submission URL %q", step, loc)
		}
		return id
	}
	join := func(step, name, email, pass string) {
		t.Helper()
		b.do(step, 30*time.Second,
			chromedp.Navigate(invite),
			chromedp.WaitVisible(tid("auth-form")),
			fill("name", name), fill("email", email), fill("password", pass), fill("confirm", pass),
			chromedp.Click(tid("auth-submit")),
			chromedp.WaitVisible(tid("whoami")),
		)
	}
	join("lin joins", "Lin Learner", "lin@example.com", "lin battery horse staple")
	linFirst := submit("lin submits the starter")
	saveFile("lin saves the solution", "breaker.go", solution)
	const exitFile = "package circuitbreaker\n\nimport \"os\"\n\n// bail is never called; the grader flags it anyway.\nfunc bail() { os.Exit(3) }\n"
	saveFile("lin adds a file", "bail.go", exitFile)
	linSecond := submit("lin submits the solution")
	signOut("lin signs out")

	join("bo joins", "Bo Learner", "bo@example.com", "bo battery horse staple")
	saveFile("bo saves the same code", "breaker.go", solution)
	boSub := submit("bo submits")
	signOut("bo signs out")

	full := lab.MaxScore()
	for _, id := range []int64{linSecond, boSub} {
		sub, err := m.DB.FindSubmission(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if sub.Result == nil || sub.Result.Score != full {
			t.Fatalf("submission %d: result %+v, want %d points", id, sub.Result, full)
		}
	}

	// 3. The instructor sees the matrix: both learners, full marks.
	signIn("instructor is back", instEmail, instPass)
	b.do("matrix", 30*time.Second, chromedp.Navigate(cohortURL), chromedp.WaitVisible(tid("matrix")))
	rows := get(b, "matrix rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="matrix-row"]')].map(r => r.innerText)`))
	if len(rows) != 2 || !strings.Contains(rows[0]+rows[1], "Lin") || !strings.Contains(rows[0]+rows[1], "Bo") {
		t.Fatalf("matrix rows %q, want Lin and Bo", rows)
	}
	for _, r := range rows {
		if !strings.Contains(r, fmt.Sprint(full)) {
			t.Fatalf("matrix row %q does not show %d points", r, full)
		}
	}

	// The per-lab page draws its charts as SVG.
	statsURL := cohortURL + "/labs/circuit-breaker"
	if href := get(b, "stats link", chromedp.Evaluate[string](`[...document.querySelectorAll('[data-testid="lab-stats-link"]')].map(a => a.href).find(h => h.endsWith('/labs/circuit-breaker')) || ''`)); href != statsURL {
		t.Fatalf("the matrix links the lab's stats at %q, want %q", href, statsURL)
	}
	b.do("lab stats", 30*time.Second,
		chromedp.Navigate(statsURL),
		chromedp.WaitVisible(tid("stats-summary")),
	)
	charts := get(b, "charts", chromedp.Evaluate[map[string]int](`Object.fromEntries(['chart-scores','chart-attempts']
		.map(id => [id, document.querySelectorAll('[data-testid="'+id+'"] svg').length]))`))
	for id, n := range charts {
		if n != 1 {
			t.Errorf("%s has %d SVG charts, want 1", id, n)
		}
	}
	if s := get(b, "stats summary", chromedp.Text(tid("stats-summary"))); !strings.Contains(s, "2 learners") || !strings.Contains(s, "2 reached full marks") {
		t.Errorf("stats summary %q", s)
	}

	// 4. Lin's second submission: its diff against the first, the os.Exit
	// flag and the similarity to Bo's.
	b.do("open submission", 30*time.Second,
		chromedp.Navigate(base+"/submissions/"+strconv.FormatInt(linSecond, 10)),
		chromedp.WaitVisible(in(tid("result"), "score")),
	)
	flags := get(b, "flags", chromedp.Text(tid("flags")))
	if !strings.Contains(flags, "bail.go") || !strings.Contains(flags, "os.Exit") {
		t.Errorf("flags %q do not name bail.go's os.Exit", flags)
	}
	similar := get(b, "similar", chromedp.Text(tid("similar-flag")))
	if !strings.Contains(similar, "Bo") {
		t.Errorf("similarity flag %q does not name Bo", similar)
	}
	b.do("previous diff", 30*time.Second,
		chromedp.Click(tid("prev-diff")),
		chromedp.WaitVisible(tid("diff-file")),
	)
	diffFiles := get(b, "diff files", chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('[data-testid="diff-file"]')].map(f => [f.dataset.path, f.dataset.status]))`))
	if diffFiles["bail.go"] != "added" || diffFiles["breaker.go"] == "" {
		t.Errorf("diff against submission %d: files %v, want bail.go added and breaker.go changed", linFirst, diffFiles)
	}

	// 5. Regrade the lab: a background job, with progress, that ends done;
	// the old results stay in history.
	b.do("regrade lab", 30*time.Second,
		chromedp.Navigate(statsURL),
		chromedp.WaitVisible(tid("regrade-lab")),
		chromedp.Click(tid("regrade-lab")),
		chromedp.WaitVisible(tid("regrade-progress")),
	)
	b.do("regrade finishes", 8*time.Minute,
		chromedp.WaitVisible(tid("regrade-state")+`[data-state="done"]`),
		// The list of the cohort's regrades catches up too.
		chromedp.WaitVisible(tid("regrade-job")+`[data-state="done"]`),
	)
	progress := get(b, "regrade progress", chromedp.Text(tid("regrade-progress")))
	if !strings.Contains(progress, "3") {
		t.Errorf("regrade progress %q does not count the 3 submissions", progress)
	}
	for _, id := range []int64{linFirst, linSecond, boSub} {
		hist, err := m.DB.ResultHistory(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].RegradeJobID == 0 || !hist[0].Current || hist[1].Current {
			t.Fatalf("submission %d after the regrade has %d results; want the regrade's (current) and the first", id, len(hist))
		}
	}
	b.do("history on the submission", 30*time.Second,
		chromedp.Navigate(base+"/submissions/"+strconv.FormatInt(linSecond, 10)),
		chromedp.WaitVisible(tid("result-history")),
	)
	if n := get(b, "history rows", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="result-history"] li, [data-testid="result-history"] tbody tr').length`)); n != 2 {
		t.Errorf("the submission page lists %d results, want 2", n)
	}

	// 6. Download the gradebook and read it back.
	data := downloadGradebook(t, b, cohortURL)
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("gradebook is not CSV: %v\n%s", err, data)
	}
	if len(recs) != 3 {
		t.Fatalf("gradebook has %d records, want a header and 2 learners:\n%s", len(recs), data)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	labCol, ok := col[fmt.Sprintf("%s (%d)", lab.Title, full)]
	if !ok || recs[0][0] != "Name" || recs[0][1] != "Email" {
		t.Fatalf("gradebook header %q lacks Name, Email or %q", recs[0], lab.Title)
	}
	for _, rec := range recs[1:] {
		if rec[labCol] != strconv.Itoa(full) || rec[col["Total"]] != strconv.Itoa(full) {
			t.Errorf("gradebook row %q: want %d in the lab column and the total", rec, full)
		}
	}
	if recs[1][1] != "bo@example.com" || recs[2][1] != "lin@example.com" {
		t.Errorf("gradebook emails %q, %q; want bo and lin, by name", recs[1][1], recs[2][1])
	}
}

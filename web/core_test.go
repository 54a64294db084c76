package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

// These tests pin the rules the course layer decides in one place: every
// surface shows the one score, replays cannot be steered, one learner
// cannot crowd out the queue, redirects stay on the site, the file caps
// count a learner's own files, and secrets stay out of the logs.

type goqSel = goquery.Selection

// scoreSurfaces reads the score a learner holds for labSlug from every page
// and API that shows it, as "n/max" strings ("" when a surface shows none).
type scoreSurfaces struct {
	result, labRow, home, csv, apiBook, apiMatrix, heat, chart string
}

func (e *env) surfaces(t *testing.T, inst, u *faultline.User, c *faultline.Cohort, sub int64, max int) scoreSurfaces {
	t.Helper()
	var s scoreSurfaces
	learner := e.MustLogin(u)
	s.result = learner.get(submissionURL(sub)).testid("score").Text()
	lab := learner.get(labURL(labSlug))
	lab.doc().Find(`[data-testid="submission-row"][data-id="` + strconv.FormatInt(sub, 10) + `"] [data-testid="submission-score"]`).Each(func(_ int, q *goqSel) {
		s.labRow = q.Text()
	})
	learner.get("/labs").doc().Find(`[data-testid="lab-card"][data-slug="` + labSlug + `"] [data-testid="lab-best"]`).Each(func(_ int, q *goqSel) {
		s.home = strings.TrimPrefix(q.Text(), "best ")
	})

	teacher := e.MustLogin(inst)
	res := teacher.get(cohortURL(c.ID) + "/gradebook.csv")
	recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatalf("gradebook CSV: %v", err)
	}
	col := -1
	for i, h := range recs[0] {
		if strings.HasPrefix(h, e.mustLab(labSlug).Title+" (") {
			col = i
		}
	}
	for _, r := range recs[1:] {
		if r[1] == u.Email && r[col] != "" {
			s.csv = r[col] + "/" + strconv.Itoa(max)
		}
	}
	secret := teacher.MustToken(fmt.Sprintf("t%d", sub))
	id := strconv.FormatInt(c.ID, 10)
	_, book, _ := e.apiGet(secret, "/api/v1/cohorts/"+id+"/gradebook")
	for _, l := range book["learners"].([]any) {
		row := l.(map[string]any)
		if row["email"] == u.Email {
			if v, ok := row["best"].(map[string]any)[labSlug]; ok {
				s.apiBook = fmt.Sprintf("%v/%d", v, max)
			}
		}
	}
	_, matrix, _ := e.apiGet(secret, "/api/v1/cohorts/"+id+"/matrix")
	for _, l := range matrix["learners"].([]any) {
		row := l.(map[string]any)
		if row["email"] == u.Email {
			if cell, ok := row["cells"].(map[string]any)[labSlug].(map[string]any); ok {
				s.apiMatrix = fmt.Sprintf("%v/%v", cell["best_score"], cell["max_score"])
			}
		}
	}
	page := teacher.get(cohortURL(c.ID))
	labs := e.srv.d.Labs.All()
	idx := -1
	for i, l := range labs {
		if l.Slug == labSlug {
			idx = i
		}
	}
	page.doc().Find(`[data-testid="matrix-row"]`).Each(func(_ int, row *goqSel) {
		if strings.Contains(row.Find("th").Text(), u.Email) {
			s.heat = strings.TrimSpace(row.Find(`[data-testid="matrix-cell"]`).Eq(idx).Find("a").Text())
		}
	})
	// The score distribution chart lists each held score once per learner
	// holding it; the learner's score must be among its rows.
	stats := teacher.get(labStatsURL(c.ID, labSlug))
	stats.doc().Find(`[data-testid="chart-table"]`).First().Find("tbody th").Each(func(_ int, q *goqSel) {
		if q.Text() == s.result {
			s.chart = q.Text()
		}
	})
	return s
}

func (s scoreSurfaces) agree(t *testing.T, who, want string) {
	t.Helper()
	got := map[string]string{
		"result page": s.result, "lab page": s.labRow, "labs list": s.home, "gradebook CSV": s.csv,
		"API gradebook": s.apiBook, "API matrix": s.apiMatrix, "heat map": s.heat, "score chart": s.chart,
	}
	for where, v := range got {
		if v != want {
			t.Errorf("%s: %s shows %q, want %q", who, where, v, want)
		}
	}
}

// TestEveryScoreSurfaceAgrees: on-time, late-penalised, late-refused and
// regraded submissions show the same score on the result page, the lab
// page, the labs list, the gradebook CSV, the API gradebook and matrix, the
// heat map and the score chart.
func TestEveryScoreSurfaceAgrees(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	lab := e.mustLab(labSlug)
	max := lab.MaxScore()
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	onTime := e.MustUser("Olive OnTime", faultline.RoleLearner)
	late := e.MustUser("Lars Late", faultline.RoleLearner)
	regraded := e.MustUser("Rita Regraded", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, onTime, late, regraded)
	due := e.clock.Now().Add(time.Hour).Truncate(time.Second)
	set := &faultline.LabSettings{CohortID: c.ID, Lab: labSlug, DueAt: due,
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 50}}
	if err := e.db.SetLabSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	grade := func(u *faultline.User, score int) int64 {
		e.MustSubmission(u, labSlug)
		return e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: max})
	}
	onTimeSub := grade(onTime, max-2)
	regradedSub := grade(regraded, 2)
	e.clock.Add(time.Hour + 25*time.Hour) // 25 h after the due date: two started days late
	lateSub := grade(late, max)

	// Regrade Rita's submission to full marks (it was made on time).
	job := &faultline.RegradeJob{CohortID: c.ID, SubmissionID: regradedSub, CreatedBy: inst.ID}
	if err := e.db.CreateRegradeJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: max, MaxScore: max})

	penalised := max * 80 / 100
	e.surfaces(t, inst, onTime, c, onTimeSub, max).agree(t, "on time", fmt.Sprintf("%d/%d", max-2, max))
	e.surfaces(t, inst, late, c, lateSub, max).agree(t, "late, penalised", fmt.Sprintf("%d/%d", penalised, max))
	e.surfaces(t, inst, regraded, c, regradedSub, max).agree(t, "regraded", fmt.Sprintf("%d/%d", max, max))
	if note := e.MustLogin(late).get(submissionURL(lateSub)).testid("late-note").Text(); !strings.Contains(note, "−20%") ||
		!strings.Contains(note, fmt.Sprintf("%d/%d", max, max)) {
		t.Errorf("late note %q does not give the penalty and the score before it", note)
	}

	// The instructor now refuses late work: the late submission, made
	// before, counts zero everywhere.
	set.Late = faultline.LatePolicy{Mode: faultline.LateRefuse}
	if err := e.db.SetLabSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	e.surfaces(t, inst, late, c, lateSub, max).agree(t, "late, refused", fmt.Sprintf("0/%d", max))
	e.surfaces(t, inst, onTime, c, onTimeSub, max).agree(t, "on time under refuse", fmt.Sprintf("%d/%d", max-2, max))
}

// TestOneLearnerCannotFloodTheQueue: past Fairness.MaxWaiting waiting
// submissions a learner is told to retry (429 with Retry-After), keeping
// their files; another learner submits as usual.
func TestOneLearnerCannotFloodTheQueue(t *testing.T) {
	e := MustEnv(t, func(d *envDeps) { d.Fairness = faultline.Fairness{MaxWaiting: 3} })
	a := e.MustUser("Ann Flood", faultline.RoleLearner)
	b := e.MustUser("Ben Calm", faultline.RoleLearner)
	ab := e.MustLogin(a)
	for i := 0; i < 3; i++ {
		if res := ab.post(labURL(labSlug)+"/submissions", nil); res.status != http.StatusSeeOther {
			t.Fatalf("submission %d: status %d", i+1, res.status)
		}
	}
	res := ab.post(labURL(labSlug)+"/submissions", nil)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" ||
		!strings.Contains(res.testid("form-error").Text()+res.body, "waiting to be graded") {
		t.Fatalf("a fourth waiting submission: status %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	if res := e.MustLogin(b).post(labURL(labSlug)+"/submissions", nil); res.status != http.StatusSeeOther {
		t.Fatalf("another learner's submission: status %d", res.status)
	}
	// Once one of Ann's is being graded, she may queue another.
	if _, err := e.db.ClaimSubmission(context.Background(), "w", time.Minute); err != nil {
		t.Fatal(err)
	}
	if res := ab.post(labURL(labSlug)+"/submissions", nil); res.status != http.StatusSeeOther {
		t.Fatalf("after one started grading: status %d", res.status)
	}
}

// TestRedirectsStayOnSite: whatever next= holds, sign-in sends the user
// to a path on this site.
func TestRedirectsStayOnSite(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	for _, next := range []string{
		"//other.example/", "/\t/other.example/", "/%09/other.example/", "/\\other.example", "/%5Cother.example",
		"/%2F/other.example", "/%2f%2fother.example", "https://other.example/", "http:/other.example",
		"/\r\n/other.example", "/%0d%0a/other.example", "\\\\other.example", "/ /other.example\x00", "javascript:alert(1)",
		"/\x0b/other.example", "/labs?x=//other.example", "", "labs",
	} {
		b := e.browser()
		res := b.post("/login", url.Values{"email": {u.Email}, "password": {testPassword}, "next": {next}})
		loc := res.header.Get("Location")
		if res.status != http.StatusSeeOther || !onSite(loc) {
			t.Errorf("next=%q: status %d, Location %q", next, res.status, loc)
		}
		// Signed in already, GET /login?next=… redirects at once.
		res = b.get("/login?next=" + url.QueryEscape(next))
		if loc := res.header.Get("Location"); !onSite(loc) {
			t.Errorf("GET /login next=%q: Location %q", next, loc)
		}
	}
	if got := localPath("/labs/circuit-breaker?file=a.go"); got != "/labs/circuit-breaker?file=a.go" {
		t.Errorf("a path on the site was not kept: %q", got)
	}
}

// onSite reports whether a browser following Location stays on this host.
func onSite(loc string) bool {
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return false
	}
	// Browsers drop tabs and newlines and read backslashes as slashes.
	clean := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
	if dec, err := url.PathUnescape(clean); err == nil {
		clean = dec
	}
	u, err := url.Parse("https://portal.test" + clean)
	return err == nil && u.Host == "portal.test" && !strings.HasPrefix(clean, "//")
}

// TestFileCapsCountOwnFiles: a learner may save MaxWorkspaceFiles files of
// their own and still start the lab and submit (the starter and the tests
// do not count against them); one more is refused with a way out; a file
// can be deleted.
func TestFileCapsCountOwnFiles(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	for i := 0; i < faultline.MaxWorkspaceFiles; i++ {
		res := b.post(labURL(labSlug)+"/files", url.Values{"path": {fmt.Sprintf("extra/f%02d.go", i)}, "content": {"package circuitbreaker\n"}})
		if res.status != http.StatusSeeOther {
			t.Fatalf("save %d: status %d: %s", i, res.status, res.testid("form-error").Text())
		}
	}
	res := b.post(labURL(labSlug)+"/files", url.Values{"path": {"extra/one-more.go"}, "content": {"package circuitbreaker\n"}})
	if res.status != http.StatusRequestEntityTooLarge || !strings.Contains(res.body, "delete one first") {
		t.Fatalf("file %d: status %d", faultline.MaxWorkspaceFiles+1, res.status)
	}
	if res := b.post(labURL(labSlug)+"/sandbox", nil); res.status != http.StatusSeeOther {
		t.Fatalf("start lab with a full workspace: status %d: %s", res.status, res.testid("form-error").Text())
	}
	if res := b.post(labURL(labSlug)+"/submissions", nil); res.status != http.StatusSeeOther {
		t.Fatalf("submit with a full workspace: status %d: %s", res.status, res.testid("form-error").Text())
	}
	// Delete one: it leaves the saved files and the sandbox, and a new one fits.
	res = b.post(labURL(labSlug)+"/files", url.Values{"path": {"extra/f00.go"}, "action": {"delete"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("delete: status %d", res.status)
	}
	if _, ok := e.sb.sandboxFile(u.ID, labSlug, "extra/f00.go"); ok {
		t.Error("the deleted file is still in the sandbox")
	}
	if m := e.savedMap(u); len(m) != faultline.MaxWorkspaceFiles-1 {
		t.Errorf("%d saved files after a delete, want %d", len(m), faultline.MaxWorkspaceFiles-1)
	}
	if res := b.post(labURL(labSlug)+"/files", url.Values{"path": {"extra/one-more.go"}, "content": {"package circuitbreaker\n"}}); res.status != http.StatusSeeOther {
		t.Errorf("save after a delete: status %d", res.status)
	}
	if res := b.post(labURL(labSlug)+"/files", url.Values{"path": {"never-saved.go"}, "action": {"delete"}}); res.status != http.StatusNotFound {
		t.Errorf("delete of a file never saved: status %d", res.status)
	}
}

// TestMultipartSave: the editor's form may be sent as multipart/form-data.
func TestMultipartSave(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("path", "breaker.go")
	_ = mw.WriteField("content", "package circuitbreaker // multipart\n")
	_ = mw.Close()
	req := httptest.NewRequest(http.MethodPost, labURL(labSlug)+"/files", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if res := b.do(req); res.status != http.StatusSeeOther {
		t.Fatalf("multipart save: status %d: %s", res.status, res.testid("form-error").Text())
	}
	if got := e.savedMap(u)["breaker.go"]; !strings.Contains(got, "multipart") {
		t.Errorf("saved %q", got)
	}
}

// TestInviteCodesStayOutOfLogs: the request log names the join route, not
// the code.
func TestInviteCodesStayOutOfLogs(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	c := e.MustCohort("Spring", inst)
	b := e.browser()
	b.get("/join/" + c.InviteCode)
	b.post("/join/"+c.InviteCode, url.Values{"name": {"New Learner"}, "email": {"new@example.com"},
		"password": {testPassword}, "confirm": {testPassword}})
	b.get("/join/not-a-code-" + c.InviteCode[:4])
	logs := e.logs.String()
	if strings.Contains(logs, c.InviteCode) || strings.Contains(logs, "not-a-code") {
		t.Errorf("an invite code reached the log:\n%s", logs)
	}
	if !strings.Contains(logs, "/join/{code}") {
		t.Errorf("the join requests were not logged by their route:\n%s", logs)
	}
}

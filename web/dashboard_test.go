package web

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
	"github.com/faultline-dev/faultline/web/views"
)

// dash is a cohort with three learners and graded work on two labs, plus
// every kind of visitor the instructor routes must tell apart.
type dash struct {
	e                     *env
	cohort                *faultline.Cohort
	owner, coInst, admin  *faultline.User
	otherInst, outsider   *faultline.User
	alice, bob, carol     *faultline.User
	lab0, lab1            *faultline.Lab
	aliceFirst, aliceFull int64
	otherCohort           *faultline.Cohort
	max0, max1            int
	learnerNames          []string
}

func MustDash(t *testing.T) *dash {
	t.Helper()
	e := MustEnv(t)
	d := &dash{e: e}
	d.owner = e.MustUser("Olga Owner", faultline.RoleInstructor)
	d.coInst = e.MustUser("Cora Coteacher", faultline.RoleInstructor)
	d.admin = e.MustUser("Ada Admin", faultline.RoleAdmin)
	d.otherInst = e.MustUser("Oscar Other", faultline.RoleInstructor)
	d.outsider = e.MustUser("Otto Outsider", faultline.RoleLearner)
	d.alice = e.MustUser("Alice", faultline.RoleLearner)
	d.bob = e.MustUser("Bob", faultline.RoleLearner)
	d.carol = e.MustUser("Carol", faultline.RoleLearner)
	d.cohort = e.MustCohort("Spring", d.owner, d.carol, d.alice, d.bob)
	if err := e.db.AddMember(context.Background(), d.cohort.ID, d.coInst.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	d.otherCohort = e.MustCohort("Autumn", d.otherInst, d.outsider)
	all := e.srv.d.Labs.All()
	d.lab0, d.lab1 = all[0], all[1]
	d.max0, d.max1 = d.lab0.MaxScore(), d.lab1.MaxScore()
	grade := func(u *faultline.User, l *faultline.Lab, score int) int64 {
		t.Helper()
		e.MustSubmission(u, l.Slug)
		return e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: l.MaxScore()})
	}
	// Alice: lab0 1 then full. Bob: lab0 half, lab1 full. Carol: lab1 1 point.
	d.aliceFirst = grade(d.alice, d.lab0, 1)
	e.clock.Add(1)
	d.aliceFull = grade(d.alice, d.lab0, d.max0)
	grade(d.bob, d.lab0, d.max0/2)
	grade(d.bob, d.lab1, d.max1)
	grade(d.carol, d.lab1, 1)
	if err := e.db.MarkLessonRead(context.Background(), d.alice.ID, e.srv.d.Content.Lessons()[0].Slug); err != nil {
		t.Fatal(err)
	}
	return d
}

func rowNames(res *response) []string {
	var out []string
	res.testid("matrix-row").Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.Fields(s.Find("th").Text())[0])
	})
	return out
}

func TestProgressMatrixSortHeatAndLinks(t *testing.T) {
	d := MustDash(t)
	b := d.e.MustLogin(d.owner)
	url := cohortURL(d.cohort.ID)

	res := b.get(url)
	if res.status != http.StatusOK {
		t.Fatalf("cohort page: %d", res.status)
	}
	if got := rowNames(res); !slices.Equal(got, []string{"Alice", "Bob", "Carol"}) {
		t.Errorf("default order %v, want by name", got)
	}
	// Heat classes follow the score fraction; numbers stay in the cells.
	row := func(res *response, name string) *goquery.Selection {
		var sel *goquery.Selection
		res.testid("matrix-row").Each(func(_ int, s *goquery.Selection) {
			if strings.HasPrefix(strings.TrimSpace(s.Find("th").Text()), name) {
				sel = s
			}
		})
		if sel == nil {
			t.Fatalf("no row for %s", name)
		}
		return sel
	}
	cell := func(res *response, name string, col int) *goquery.Selection {
		return row(res, name).Find(`[data-testid="matrix-cell"]`).Eq(col)
	}
	for _, c := range []struct {
		name  string
		col   int
		class string
		text  string
	}{
		{"Alice", 0, "heat-full", scoreOf(d.max0, d.max0)},
		{"Bob", 0, heatClass(d.max0/2, d.max0), scoreOf(d.max0/2, d.max0)},
		{"Bob", 1, "heat-full", scoreOf(d.max1, d.max1)},
		{"Carol", 1, "heat-0", scoreOf(1, d.max1)},
	} {
		got := cell(res, c.name, c.col)
		if !got.HasClass(c.class) || got.Find("a").Text() != c.text {
			t.Errorf("%s lab %d: class %q text %q, want %q %q", c.name, c.col, got.AttrOr("class", ""), got.Find("a").Text(), c.class, c.text)
		}
	}
	if c := cell(res, "Carol", 0); c.AttrOr("class", "") != "" || c.Find("a").Length() != 0 {
		t.Errorf("Carol never submitted lab 0 but cell has class %q / a link", c.AttrOr("class", ""))
	}
	if got := heatClass(d.max0/2, d.max0); got != "heat-2" {
		t.Errorf("half marks = %s, want heat-2", got)
	}
	if got := row(res, "Alice").Find(`[data-testid="lessons-read"]`).Text(); got != "1" {
		t.Errorf("Alice lessons read %q, want 1", got)
	}
	if got := row(res, "Bob").Find(`[data-testid="total"]`).Text(); !strings.HasPrefix(got, strconv.Itoa(d.max0/2+d.max1)+"/") {
		t.Errorf("Bob total %q", got)
	}

	// The cell links to the learner's submissions for the lab, newest first.
	href := cell(res, "Alice", 0).Find("a").AttrOr("href", "")
	if want := learnerLabURL(d.cohort.ID, d.alice.ID, d.lab0.Slug); href != want {
		t.Fatalf("Alice's cell links %q, want %q", href, want)
	}
	subs := b.get(href)
	links := subs.testid("learner-submission").Find("a")
	if subs.status != 200 || links.Length() != 2 || links.Eq(0).AttrOr("href", "") != submissionURL(d.aliceFull) ||
		links.Eq(1).AttrOr("href", "") != submissionURL(d.aliceFirst) {
		t.Errorf("Alice's submissions: %d, %d links (want newest %d first, then %d)", subs.status, links.Length(), d.aliceFull, d.aliceFirst)
	}
	if sc := subs.testid("submission-score").First().Text(); sc != scoreOf(d.max0, d.max0) {
		t.Errorf("newest score %q", sc)
	}

	// Sorting through links, no JavaScript.
	totalLink := res.testid("sort-total").AttrOr("href", "")
	if totalLink != url+"?dir=desc&sort=total" {
		t.Errorf("total sort link %q", totalLink)
	}
	res = b.get(totalLink)
	// Totals: Bob max0/2+max1, Alice max0, Carol 1.
	want := []string{"Alice", "Bob"}
	if d.max0/2+d.max1 > d.max0 {
		want = []string{"Bob", "Alice"}
	}
	if got := rowNames(res); !slices.Equal(got, append(want, "Carol")) {
		t.Errorf("by total desc: %v", got)
	}
	if l := res.testid("sort-total").AttrOr("href", ""); !strings.Contains(l, "dir=asc") {
		t.Errorf("active total link should flip to ascending: %q", l)
	}
	res = b.get(url + "?sort=lab:" + d.lab0.Slug + "&dir=desc")
	if got := rowNames(res); !slices.Equal(got, []string{"Alice", "Bob", "Carol"}) {
		t.Errorf("by lab 0 desc: %v", got)
	}
	if s := res.testid("lab-column").Eq(0).AttrOr("aria-sort", ""); s != "descending" {
		t.Errorf("lab 0 aria-sort %q", s)
	}
	res = b.get(url + "?sort=lab:" + d.lab0.Slug + "&dir=asc")
	if got := rowNames(res); !slices.Equal(got, []string{"Carol", "Bob", "Alice"}) {
		t.Errorf("by lab 0 asc (no submission lowest): %v", got)
	}
	res = b.get(url + "?sort=lab:" + d.lab1.Slug + "&dir=desc")
	if got := rowNames(res); !slices.Equal(got, []string{"Bob", "Carol", "Alice"}) {
		t.Errorf("by lab 1 desc: %v", got)
	}
	res = b.get(url + "?sort=name&dir=desc")
	if got := rowNames(res); !slices.Equal(got, []string{"Carol", "Bob", "Alice"}) {
		t.Errorf("by name desc: %v", got)
	}
	res = b.get(url + "?sort=lab:no-such-lab&dir=desc")
	if res.status != 200 || !slices.Equal(rowNames(res), []string{"Carol", "Bob", "Alice"}) {
		t.Errorf("unknown sort key falls back to name: %d %v", res.status, rowNames(res))
	}
	// Non-learner members and unknown labs are refused on the submissions page.
	if r := b.get(learnerLabURL(d.cohort.ID, d.coInst.ID, d.lab0.Slug)); r.status != 404 {
		t.Errorf("co-instructor as learner: %d", r.status)
	}
	if r := b.get(learnerLabURL(d.cohort.ID, d.outsider.ID, d.lab0.Slug)); r.status != 404 {
		t.Errorf("learner of another cohort: %d", r.status)
	}
	if r := b.get(learnerLabURL(d.cohort.ID, d.alice.ID, "no-such-lab")); r.status != 404 {
		t.Errorf("unknown lab: %d", r.status)
	}
}

func TestLabStatsPageMatchesStore(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	slug := e.srv.d.Labs.All()[0].Slug
	c, err := store.SeedCohortForBench(ctx, e.db, store.BenchSeed{Learners: 12, Labs: []string{slug}, SubsPerLab: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.db.LabStats(ctx, c.ID, slug)
	if err != nil {
		t.Fatal(err)
	}
	if st.Learners != 12 || len(st.AttemptsToFull) == 0 || len(st.FailingFault) == 0 {
		t.Fatalf("seed gave too little to check: %+v", st)
	}
	b := e.MustLogin(e.MustUser("Ada Admin", faultline.RoleAdmin))
	res := b.get(labStatsURL(c.ID, slug))
	if res.status != 200 {
		t.Fatalf("stats page: %d\n%s", res.status, res.body)
	}
	if sum := res.testid("stats-summary").Text(); !strings.Contains(sum, fmt.Sprintf("%d learners", st.Learners)) ||
		!strings.Contains(sum, fmt.Sprintf("%d reached full marks", len(st.AttemptsToFull))) {
		t.Errorf("summary %q", sum)
	}
	table := func(id string) [][2]string {
		var out [][2]string
		res.testid(id).Find(`[data-testid="chart-table"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, [2]string{s.Find("th").Text(), s.Find("td").Text()})
		})
		return out
	}
	scores := table("chart-scores")
	if len(scores) != len(st.Scores) {
		t.Fatalf("score rows %d, want %d", len(scores), len(st.Scores))
	}
	for i, sb := range st.Scores {
		if scores[i][0] != scoreOf(sb.Score, st.MaxScore) || scores[i][1] != plural(sb.Learners, "learner", "learners") {
			t.Errorf("score row %d = %v, want %d: %d", i, scores[i], sb.Score, sb.Learners)
		}
	}
	sumAttempts := 0
	for _, row := range table("chart-attempts") {
		n, _ := strconv.Atoi(strings.Fields(row[1])[0])
		sumAttempts += n
	}
	if sumAttempts != len(st.AttemptsToFull) {
		t.Errorf("attempts chart counts %d learners, want %d", sumAttempts, len(st.AttemptsToFull))
	}
	sumTime := 0
	for _, row := range table("chart-time") {
		n, _ := strconv.Atoi(strings.Fields(row[1])[0])
		sumTime += n
	}
	if sumTime != len(st.TimeToSolve) {
		t.Errorf("time chart counts %d learners, want %d", sumTime, len(st.TimeToSolve))
	}
	tests := table("chart-tests")
	i := 0
	for _, ft := range st.FailingTests {
		if ft.Failing == 0 {
			continue
		}
		if i >= len(tests) || !strings.HasPrefix(tests[i][0], ft.Name) || tests[i][1] != pctText(ft.Percent, ft.Failing, ft.Learners) {
			t.Errorf("test row %d = %v, want %s %d%%", i, tests, ft.Name, ft.Percent)
		}
		i++
	}
	f := st.FailingFault[0]
	if got := res.testid("chart-faults").Find(`[data-testid="chart-summary"]`).Text(); got != fmt.Sprintf("%d%% fail under %s.", f.Percent, faultPhrase(f.Fault)) || faultPhrase(f.Fault) == f.Fault {
		t.Errorf("faults summary %q (the kind %q in words)", got, f.Fault)
	}
	if faults := table("chart-faults"); len(faults) == 0 || faults[0][0] != "under "+faultPhrase(f.Fault) || faults[0][1] != pctText(f.Percent, f.Failing, f.Learners) {
		t.Errorf("faults table %v", faults)
	}
	// One inline SVG per chart, each well-formed XML with one bar per table row and no <style>.
	svgs := res.doc().Find(`svg[data-testid="chart-svg"]`)
	if svgs.Length() != 5 {
		t.Errorf("%d SVG charts, want 5", svgs.Length())
	}
	if strings.Contains(strings.ToLower(res.body), "<style") {
		t.Error("page has a <style> element (blocked by the CSP)")
	}
	if n := res.testid("chart-scores").Find(`[data-testid="chart-bar"]`).Length(); n != len(st.Scores) {
		t.Errorf("score chart has %d bars, want %d", n, len(st.Scores))
	}
	// Unknown lab: 404.
	if r := b.get(labStatsURL(c.ID, "no-such-lab")); r.status != 404 {
		t.Errorf("unknown lab: %d", r.status)
	}
}

func TestBarChartEscapes(t *testing.T) {
	svg := barChart(`x"y`, `<b>title</b>`, []views.Bar{{Label: `<script>alert("x")</script>`, Value: 3, Text: `a & b`}, {Label: "zero", Value: 0, Text: "0"}}, 0)
	if strings.Contains(svg, "<script") || strings.Contains(svg, "<b>") || !strings.Contains(svg, "&lt;script&gt;") || !strings.Contains(svg, "a &amp; b") {
		t.Errorf("not escaped: %s", svg)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	rects := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local == "style" {
				t.Error("SVG has a <style> element")
			}
			if se.Name.Local == "rect" {
				rects++
				for _, a := range se.Attr {
					if a.Name.Local == "width" && a.Value == "0" && rects == 1 {
						t.Error("a non-zero value got a zero-width bar")
					}
				}
			}
		}
	}
	if rects != 2 {
		t.Errorf("%d bars, want 2", rects)
	}
}

func TestGradebookCSV(t *testing.T) {
	d := MustDash(t)
	e := d.e
	// A learner whose name and email a spreadsheet would run as a formula.
	evil := e.MustUser("=HYPERLINK(1)", faultline.RoleLearner)
	if err := e.db.AddMember(context.Background(), d.cohort.ID, evil.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	b := e.MustLogin(d.owner)
	cohortPage := b.get(cohortURL(d.cohort.ID))
	link := cohortPage.testid("gradebook-link").AttrOr("href", "")
	res := b.get(link)
	if res.status != 200 {
		t.Fatalf("gradebook: %d", res.status)
	}
	if cd := res.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".csv") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v\n%s", err, res.body)
	}
	all := e.srv.d.Labs.All()
	head := recs[0]
	if len(head) != 2+len(all)+2 || head[0] != "Name" || head[1] != "Email" || head[len(head)-2] != "Total" || head[len(head)-1] != "Max total" {
		t.Fatalf("header %q", head)
	}
	maxTotal := 0
	for i, l := range all {
		if want := fmt.Sprintf("%s (%d)", l.Title, l.MaxScore()); head[2+i] != want {
			t.Errorf("column %d = %q, want %q", 2+i, head[2+i], want)
		}
		maxTotal += l.MaxScore()
	}
	byName := map[string][]string{}
	for _, r := range recs[1:] {
		byName[r[0]] = r
	}
	if len(byName) != 4 {
		t.Errorf("%d learner rows, want 4: %q", len(byName), recs)
	}
	check := func(name string, lab0, lab1 string, total int) {
		t.Helper()
		r := byName[name]
		if r == nil {
			t.Fatalf("no row for %q", name)
		}
		if r[2] != lab0 || r[3] != lab1 || r[len(r)-2] != strconv.Itoa(total) || r[len(r)-1] != strconv.Itoa(maxTotal) {
			t.Errorf("%s: %q, want lab0 %q lab1 %q total %d of %d", name, r, lab0, lab1, total, maxTotal)
		}
	}
	check("Alice", strconv.Itoa(d.max0), "", d.max0)
	check("Bob", strconv.Itoa(d.max0/2), strconv.Itoa(d.max1), d.max0/2+d.max1)
	check("Carol", "", "1", 1)
	// The injection guard: the cells start with a quote, never with "=".
	r := byName["'=HYPERLINK(1)"]
	if r == nil || !strings.HasPrefix(r[1], "'=") {
		t.Errorf("formula not defused: %q", recs)
	}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+@", rune(cell[0])) {
				t.Errorf("cell %q starts with a formula character", cell)
			}
		}
	}
	for in, want := range map[string]string{"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "Ann": "Ann", "": ""} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInstructorRoutesAccess opens every instructor route as each kind of
// user: the cohort's instructor, co-instructor and an admin get the page;
// its learners, an instructor of another cohort and a learner elsewhere get
// 404, as for a cohort that does not exist; a visitor is sent to sign in.
func TestInstructorRoutesAccess(t *testing.T) {
	d := MustDash(t)
	e := d.e
	id := d.cohort.ID
	routes := []string{
		cohortURL(id),
		cohortURL(id) + "?sort=total&dir=desc",
		labStatsURL(id, d.lab0.Slug),
		learnerLabURL(id, d.alice.ID, d.lab0.Slug),
		cohortURL(id) + "/gradebook.csv",
	}
	allowed := map[string]*faultline.User{"owner": d.owner, "co-instructor": d.coInst, "admin": d.admin}
	refused := map[string]*faultline.User{"learner of the cohort": d.alice, "instructor of another cohort": d.otherInst, "learner elsewhere": d.outsider}
	for who, u := range allowed {
		b := e.MustLogin(u)
		for _, path := range routes {
			if res := b.get(path); res.status != 200 {
				t.Errorf("%s GET %s: %d, want 200", who, path, res.status)
			}
		}
	}
	for who, u := range refused {
		b := e.MustLogin(u)
		for _, path := range routes {
			if res := b.get(path); res.status != 404 {
				t.Errorf("%s GET %s: %d, want 404", who, path, res.status)
			} else if strings.Contains(res.body, "Bob") {
				t.Errorf("%s GET %s: 404 page leaks a learner's name", who, path)
			}
		}
	}
	visitor := e.browser()
	for _, path := range routes {
		if res := visitor.get(path); res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/login") {
			t.Errorf("visitor GET %s: %d %q", path, res.status, res.header.Get("Location"))
		}
	}
	// A cohort that does not exist looks the same to an instructor.
	b := e.MustLogin(d.owner)
	for _, path := range []string{cohortURL(9999) + "/gradebook.csv", labStatsURL(9999, d.lab0.Slug), learnerLabURL(9999, d.alice.ID, d.lab0.Slug)} {
		if res := b.get(path); res.status != 404 {
			t.Errorf("GET %s: %d, want 404", path, res.status)
		}
	}
	// The other instructor's own cohort is not opened to this cohort's teachers.
	if res := e.MustLogin(d.coInst).get(cohortURL(d.otherCohort.ID) + "/gradebook.csv"); res.status != 404 {
		t.Errorf("co-instructor opening another cohort's gradebook: %d", res.status)
	}
}

// Chart labels are never cut: a label too long for a line wraps, a test
// name too long for one is broken where its words meet, and every line
// fits the picture.
func TestBarChartLabelsWrapInside(t *testing.T) {
	long := "TestHalfOpenLimitsConcurrentTrialsUnderPartitionsAndCrashesAndLoss (hidden)"
	svg := barChart("c", "t", []views.Bar{{Label: long, Value: 62, Text: "62% (5 of 8)"}, {Label: "under a network partition", Value: 10, Text: "10%"}}, 100)
	d, err := goquery.NewDocumentFromReader(strings.NewReader(svg))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	d.Find(`g[data-testid="chart-bar"]`).First().Find(`[data-testid="chart-label"]`).Each(func(_ int, s *goquery.Selection) {
		got = append(got, s.Text())
		if w := textWidth(s.Text(), chartFont); w > chartWidth-2*chartMargin {
			t.Errorf("label line %q is about %.0f px wide, the chart %d", s.Text(), w, chartWidth)
		}
		if strings.HasSuffix(s.Text(), "…") {
			t.Errorf("label line %q is cut", s.Text())
		}
	})
	if len(got) < 2 || strings.ReplaceAll(strings.Join(got, ""), " ", "") != strings.ReplaceAll(long, " ", "") {
		t.Errorf("label lines %q do not spell out %q", got, long)
	}
	if !strings.HasPrefix(got[1], "Limits") && !strings.HasPrefix(got[1], "Trials") && !strings.HasPrefix(got[1], "Concurrent") &&
		!strings.HasPrefix(got[1], "Under") && !strings.HasPrefix(got[1], "Partitions") && !strings.HasPrefix(got[1], "And") && !strings.HasPrefix(got[1], "Crashes") {
		t.Errorf("the test name is broken mid-word: %q", got)
	}
}

// Every kind of fault the reports name is said in words on the charts.
func TestFaultKindsHavePhrases(t *testing.T) {
	for _, k := range []string{faultline.FaultPartition, faultline.FaultOneWay, faultline.FaultCrash, faultline.FaultLoss,
		faultline.FaultDuplicate, faultline.FaultLatency, faultline.FaultLate, faultline.FaultDependency, faultline.FaultWrite,
		faultline.FaultRetry, faultline.FaultMembership, faultline.FaultOther} {
		if p := faultPhrase(k); p == k || p == "" {
			t.Errorf("fault kind %q has no phrase", k)
		}
	}
}

package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// The instructor dashboards: the cohort page's progress heat map, per-lab
// statistics with server-rendered charts, one learner's submissions for a
// lab, and the gradebook as CSV. Every route answers 404 to anyone who does
// not teach the cohort (admins always may), like the cohort page itself.

func (s *Server) dashboardRoutes(r chi.Router) {
	r.Get("/cohorts/{id}/labs/{slug}", s.h(s.serveLabStats))
	r.Get("/cohorts/{id}/learners/{uid}/labs/{slug}", s.h(s.serveLearnerLab))
	r.Get("/cohorts/{id}/gradebook.csv", s.h(s.serveGradebookCSV))
}

// taughtCohort returns the cohort in the URL if the user teaches it (or is an
// admin); ENOTFOUND for anyone else, as for a cohort that does not exist.
func (s *Server) taughtCohort(r *http.Request) (*faultline.Cohort, error) {
	id, ok := course.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	}
	return s.c.Cohort(r.Context(), UserFromContext(r.Context()), id)
}

func learnerLabURL(cohortID, userID int64, lab string) string {
	return cohortURL(cohortID) + "/learners/" + strconv.FormatInt(userID, 10) + "/labs/" + url.PathEscape(lab)
}

func labStatsURL(cohortID int64, lab string) string {
	return cohortURL(cohortID) + "/labs/" + url.PathEscape(lab)
}

// heatClass is the CSS class of a cell by its score fraction.
func heatClass(best, max int) string {
	switch {
	case max <= 0:
		return "heat-0"
	case best >= max:
		return "heat-full"
	case best*4 >= max*3:
		return "heat-3"
	case best*2 >= max:
		return "heat-2"
	case best*4 >= max:
		return "heat-1"
	}
	return "heat-0"
}

// matrixSort is how the heat map is ordered: by "name", "total" or
// "lab:<slug>", ascending or descending.
type matrixSort struct {
	key  string
	desc bool
}

func parseMatrixSort(q url.Values, labs []*faultline.Lab) matrixSort {
	ms := matrixSort{key: "name"}
	switch k := q.Get("sort"); {
	case k == "total":
		ms.key = k
	case strings.HasPrefix(k, "lab:"):
		if slices.ContainsFunc(labs, func(l *faultline.Lab) bool { return "lab:"+l.Slug == k }) {
			ms.key = k
		}
	}
	ms.desc = q.Get("dir") == "desc"
	return ms
}

// link returns the sort link of column key on the cohort page: clicking the
// active column flips its direction; another column starts ascending for
// names and descending for numbers.
func (ms matrixSort) link(cohortID int64, key, label string) views.SortLink {
	l := views.SortLink{Label: label, Active: ms.key == key}
	dir := "desc"
	if key == "name" {
		dir = "asc"
	}
	if l.Active {
		l.Dir = "asc"
		if ms.desc {
			l.Dir = "desc"
		}
		dir = "desc"
		if ms.desc {
			dir = "asc"
		}
	}
	q := url.Values{"sort": {key}, "dir": {dir}}
	l.URL = cohortURL(cohortID) + "?" + q.Encode()
	return l
}

// labCodes gives every lab a short code for the heat map's headers: the
// initials of its slug's words ("circuit-breaker" → "CB"), or the first
// two letters of a one-word slug ("saga" → "SA"); a code taken already gets
// a number.
func labCodes(all []*faultline.Lab) map[string]string {
	out := make(map[string]string, len(all))
	used := map[string]bool{}
	for _, l := range all {
		var code string
		words := strings.FieldsFunc(l.Slug, func(r rune) bool { return r == '-' || r == '_' })
		if len(words) > 1 {
			for _, w := range words {
				code += string([]rune(w)[:1])
			}
		} else {
			r := []rune(l.Slug)
			code = string(r[:min(2, len(r))])
		}
		code = strings.ToUpper(code)
		base := code
		for n := 2; used[code]; n++ {
			code = base + strconv.Itoa(n)
		}
		used[code] = true
		out[l.Slug] = code
	}
	return out
}

// progressView builds the cohort page's heat map from ProgressMatrix, sorted
// as the request's ?sort=&dir= asks.
func (s *Server) progressView(r *http.Request, cohortID int64, rows []*faultline.MatrixRow) views.ProgressMatrix {
	m, ms := s.progressHead(r, cohortID)
	heat := s.heatRows(cohortID, rows)
	keys := make([]heatKeys, len(heat))
	for i, h := range heat {
		keys[i] = h.keys
	}
	for _, i := range heatOrder(ms, keys) {
		m.Rows = append(m.Rows, heat[i].row)
	}
	return m
}

// progressHead is the heat map without its rows: the columns with their
// sort links as the request's ?sort=&dir= asks, and that order.
func (s *Server) progressHead(r *http.Request, cohortID int64) (views.ProgressMatrix, matrixSort) {
	all := s.d.Labs.All()
	ms := parseMatrixSort(r.URL.Query(), all)
	m := views.ProgressMatrix{
		Lessons:      len(s.d.Content.Lessons()) + len(s.d.Content.Cases()), // what "Mark as read" counts
		NameSort:     ms.link(cohortID, "name", "Learner"),
		TotalSort:    ms.link(cohortID, "total", "Total"),
		GradebookURL: cohortURL(cohortID) + "/gradebook.csv",
	}
	codes := labCodes(all)
	for _, l := range all {
		sl := ms.link(cohortID, "lab:"+l.Slug, codes[l.Slug])
		sl.Title = fmt.Sprintf("%s (%d points)", l.Title, l.MaxScore())
		sl.Stats = labStatsURL(cohortID, l.Slug)
		m.Labs = append(m.Labs, sl)
		m.MaxTotal += l.MaxScore()
	}
	return m, ms
}

// heatRow is one learner's row of the heat map with what it sorts by.
type heatRow struct {
	user int64
	row  views.HeatRow
	keys heatKeys
}

// heatKeys are what a row of the heat map sorts by.
type heatKeys struct {
	total int
	best  map[string]int // best score by lab slug, for the labs they hold one on
}

// heatRows builds the heat map's rows from ProgressMatrix, in its order (by
// name).
func (s *Server) heatRows(cohortID int64, rows []*faultline.MatrixRow) []heatRow {
	all := s.d.Labs.All()
	out := make([]heatRow, 0, len(rows))
	for _, row := range rows {
		hr := heatRow{user: row.UserID, row: views.HeatRow{Name: row.Name, Email: row.Email, LessonsRead: row.LessonsRead}, keys: heatKeys{best: map[string]int{}}}
		for _, l := range all {
			cell := views.HeatCell{Max: l.MaxScore()}
			c := row.Cells[l.Slug]
			switch {
			case c == nil:
			case c.Attempts == 0 || c.BestID == 0:
				cell.Pending, cell.Heat = true, "heat-pending"
			default:
				if c.MaxScore > 0 {
					cell.Max = c.MaxScore
				}
				cell.Has, cell.Best, cell.Attempts = true, c.BestScore, c.Attempts
				cell.Heat = heatClass(cell.Best, cell.Max)
				cell.URL = learnerLabURL(cohortID, row.UserID, l.Slug)
				hr.row.Total += c.BestScore
				hr.keys.best[l.Slug] = c.BestScore
			}
			hr.row.Cells = append(hr.row.Cells, cell)
		}
		hr.keys.total = hr.row.Total
		out = append(out, hr)
	}
	return out
}

// heatOrder returns the order of rows (indexes) the sort ms asks for. Rows
// come by name; a stable sort keeps that order among equal keys, and a
// learner without a score on the sorting lab sorts as -1.
func heatOrder(ms matrixSort, rows []heatKeys) []int {
	key := func(r heatKeys) int {
		if ms.key == "total" {
			return r.total
		}
		if v, ok := r.best[strings.TrimPrefix(ms.key, "lab:")]; ok && strings.HasPrefix(ms.key, "lab:") {
			return v
		}
		return -1
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	if ms.key != "name" {
		keys := make([]int, len(rows))
		for i, r := range rows {
			keys[i] = key(r)
		}
		sort.SliceStable(idx, func(a, b int) bool {
			if ms.desc {
				return keys[idx[a]] > keys[idx[b]]
			}
			return keys[idx[a]] < keys[idx[b]]
		})
	} else if ms.desc {
		slices.Reverse(idx)
	}
	return idx
}

// serveLearnerLab lists one learner's submissions for one lab, newest first.
func (s *Server) serveLearnerLab(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	uid, ok := course.ParseID(chi.URLParam(r, "uid"))
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such learner in this cohort.")
	}
	ll, err := s.c.LearnerLab(r.Context(), UserFromContext(r.Context()), c.ID, uid, l.Slug)
	if err != nil {
		return err
	}
	u := ll.Learner
	m := views.LearnerLabPage{
		Page: s.page(r, u.Name+" · "+l.Title, "cohorts"), Cohort: c.Name, CohortURL: cohortURL(c.ID),
		Learner: u.Name, Email: u.Email, LabTitle: l.Title, StatsURL: labStatsURL(c.ID, l.Slug),
	}
	for _, sub := range ll.Standing.Submissions {
		line := views.SubmissionLine{URL: submissionURL(sub.ID), When: fmtTime(sub.CreatedAt), State: string(sub.State)}
		if res := sub.Result; res != nil {
			line.State = statusText[res.Status]
			if sub.Graded {
				line.Score = scoreString(sub.Scored.Score, sub.Scored.MaxScore)
				if note := sub.Scored.Note(); note != "" {
					line.Score += " (" + note + ")"
				}
			}
		}
		m.Submissions = append(m.Submissions, line)
	}
	if m.Feedback, err = s.learnerFeedbackPanel(r, c.ID, uid, l.Slug); err != nil { // feedback.go
		return err
	}
	return s.render(w, r, http.StatusOK, views.LearnerLab(m))
}

func scoreString(score, max int) string { return strconv.Itoa(score) + "/" + strconv.Itoa(max) }

// serveLabStats shows one lab's statistics in the cohort as charts and tables.
func (s *Server) serveLabStats(w http.ResponseWriter, r *http.Request) error {
	id, ok := course.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	}
	rep, err := s.c.LabReport(r.Context(), UserFromContext(r.Context()), id, chi.URLParam(r, "slug"))
	if err != nil {
		return err
	}
	c, l, st := rep.Cohort, rep.Lab, rep.Stats
	max := st.MaxScore
	if max <= 0 {
		max = l.MaxScore()
	}
	m := views.LabStatsPage{
		Page: s.page(r, l.Title+" · "+c.Name, "cohorts"), Cohort: c.Name, CohortURL: cohortURL(c.ID),
		Lab: l.Slug, LabTitle: l.Title, Learners: st.Learners, MaxScore: max, Solved: len(st.AttemptsToFull),
	}
	m.Charts = labCharts(st, max)
	m.Similar = s.labSimilar(c.ID, l, rep.Similar, rep.Compared) // similar.go
	m.Regrade = s.labRegradeForm(r, c.ID, l.Slug, rep.Jobs)      // regrades.go
	return s.render(w, r, http.StatusOK, views.LabStats(m))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func pctText(pct, failing, learners int) string {
	return fmt.Sprintf("%d%% (%d of %d)", pct, failing, learners)
}

// labCharts turns LabStats into the page's five charts.
func labCharts(st *faultline.LabStats, maxScore int) []views.Chart {
	var out []views.Chart
	add := func(c views.Chart, full int) {
		if len(c.Bars) > 0 {
			c.SVG = barChart(c.ID, c.Title, c.Bars, full)
		}
		out = append(out, c)
	}

	scores := views.Chart{ID: "chart-scores", Title: "Best scores", Column: "Best score", Value: "Learners",
		Empty: "No graded submissions yet."}
	for _, b := range st.Scores {
		scores.Bars = append(scores.Bars, views.Bar{Label: scoreString(b.Score, maxScore), Value: b.Learners, Text: plural(b.Learners, "learner", "learners")})
	}
	add(scores, 0)

	attempts := views.Chart{ID: "chart-attempts", Title: "Attempts until full marks", Column: "Attempts", Value: "Learners",
		Empty: "Nobody has full marks yet."}
	if n := len(st.AttemptsToFull); n > 0 {
		const capAt = 10
		top := min(st.AttemptsToFull[n-1], capAt)
		counts := make([]int, top+1)
		for _, a := range st.AttemptsToFull {
			counts[min(max(a, 1), capAt)]++
		}
		for a := 1; a <= top; a++ {
			label := plural(a, "attempt", "attempts")
			if a == capAt {
				label = fmt.Sprintf("%d or more attempts", capAt)
			}
			attempts.Bars = append(attempts.Bars, views.Bar{Label: label, Value: counts[a], Text: plural(counts[a], "learner", "learners")})
		}
		a := st.AttemptsToFull
		if n%2 == 1 {
			attempts.Summary = "Median: " + plural(a[n/2], "attempt", "attempts") + "."
		} else if m := a[n/2-1] + a[n/2]; m%2 == 0 {
			attempts.Summary = "Median: " + plural(m/2, "attempt", "attempts") + "."
		} else {
			attempts.Summary = fmt.Sprintf("Median: %.1f attempts.", float64(m)/2)
		}
	}
	add(attempts, 0)

	solve := views.Chart{ID: "chart-time", Title: "Time to solve", Column: "Time from first try to full marks", Value: "Learners",
		Empty: "Nobody has full marks yet."}
	if n := len(st.TimeToSolve); n > 0 {
		buckets := []struct {
			label string
			upTo  time.Duration
		}{
			{"under 10 minutes", 10 * time.Minute}, {"10–30 minutes", 30 * time.Minute}, {"30–60 minutes", time.Hour},
			{"1–3 hours", 3 * time.Hour}, {"3–24 hours", 24 * time.Hour}, {"1–7 days", 7 * 24 * time.Hour},
			{"over a week", 1<<63 - 1},
		}
		counts := make([]int, len(buckets))
		for _, d := range st.TimeToSolve {
			for i, b := range buckets {
				if d < b.upTo {
					counts[i]++
					break
				}
			}
		}
		for i, b := range buckets {
			solve.Bars = append(solve.Bars, views.Bar{Label: b.label, Value: counts[i], Text: plural(counts[i], "learner", "learners")})
		}
		med := st.TimeToSolve[n/2]
		if n%2 == 0 {
			med = (st.TimeToSolve[n/2-1] + st.TimeToSolve[n/2]) / 2
		}
		solve.Summary = "Median: " + durationText(med) + "."
	}
	add(solve, 0)

	tests := views.Chart{ID: "chart-tests", Title: "Tests that fail most", Column: "Test", Value: "Learners failing it (latest result)",
		Empty: "No failing tests."}
	for _, t := range st.FailingTests {
		if t.Failing == 0 {
			continue
		}
		label := t.Name
		if t.Hidden {
			label += " (hidden)"
		}
		tests.Bars = append(tests.Bars, views.Bar{Label: label, Value: t.Percent, Text: pctText(t.Percent, t.Failing, t.Learners)})
	}
	add(tests, 100)

	faults := views.Chart{ID: "chart-faults", Title: "Faults that break solutions most", Column: "Fault injected", Value: "Learners failing under it (latest result)",
		Empty: "No failures under injected faults."}
	for _, f := range st.FailingFault {
		if f.Failing == 0 {
			continue
		}
		faults.Bars = append(faults.Bars, views.Bar{Label: "under " + faultPhrase(f.Fault), Value: f.Percent, Text: pctText(f.Percent, f.Failing, f.Learners)})
	}
	if len(faults.Bars) > 0 {
		f := st.FailingFault[0]
		faults.Summary = fmt.Sprintf("%d%% fail under %s.", f.Percent, faultPhrase(f.Fault))
	}
	add(faults, 100)
	return out
}

// faultPhrases say what each kind of injected fault (faultline.FaultKinds)
// did, for the charts.
var faultPhrases = map[string]string{
	faultline.FaultPartition:  "a network partition",
	faultline.FaultOneWay:     "a one-way network cut",
	faultline.FaultCrash:      "crashes (memory lost, disk kept)",
	faultline.FaultLoss:       "lost messages or acks",
	faultline.FaultDuplicate:  "duplicated or redelivered messages",
	faultline.FaultLatency:    "slow, jittery links",
	faultline.FaultLate:       "messages arriving after a timeout",
	faultline.FaultDependency: "a failing dependency",
	faultline.FaultWrite:      "failed commits and writes",
	faultline.FaultRetry:      "clients retrying a request",
	faultline.FaultMembership: "nodes joining or leaving",
	faultline.FaultOther:      "faults of the lab's own kind",
}

// faultPhrase says a fault kind in words; an unknown kind as it is.
func faultPhrase(kind string) string {
	if p, ok := faultPhrases[kind]; ok {
		return p
	}
	return kind
}

// durationText says d roughly, in the largest sensible unit.
func durationText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return plural(int(d/time.Second), "second", "seconds")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute", "minutes")
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	}
	return plural(int(d/(24*time.Hour)), "day", "days")
}

// csvSafe defuses a cell a spreadsheet would run as a formula: text starting
// with = + - @ (or a tab or carriage return) gets a leading apostrophe.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// serveGradebookCSV downloads the cohort's gradebook: one row per learner,
// one column per lab with the best graded score, then the total and the
// maximum total, under headers LMS gradebook imports understand.
func (s *Server) serveGradebookCSV(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	rows, err := s.c.Gradebook(r.Context(), UserFromContext(r.Context()), c.ID)
	if err != nil {
		return err
	}
	all := s.d.Labs.All()
	header := []string{"Name", "Email"}
	maxTotal := 0
	for _, l := range all {
		header = append(header, csvSafe(fmt.Sprintf("%s (%d)", l.Title, l.MaxScore())))
		maxTotal += l.MaxScore()
	}
	header = append(header, "Total", "Max total")
	var sb strings.Builder
	cw := csv.NewWriter(&sb)
	_ = cw.Write(header)
	for _, row := range rows {
		rec := []string{csvSafe(row.Name), csvSafe(row.Email)}
		total := 0
		for _, l := range all {
			if v, ok := row.Best[l.Slug]; ok {
				rec = append(rec, strconv.Itoa(v))
				total += v
			} else {
				rec = append(rec, "")
			}
		}
		rec = append(rec, strconv.Itoa(total), strconv.Itoa(maxTotal))
		_ = cw.Write(rec)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("gradebook CSV of cohort %d: %w", c.ID, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gradebook-cohort-%d.csv"`, c.ID))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(sb.String()))
	return nil
}

package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// This file holds the per cohort and lab settings: the settings page, the
// submission gate, the line on the lab page and what a learner's result page
// shows of hidden tests and late penalties.

func labSettingsURL(cohortID int64, slug string) string {
	return cohortURL(cohortID) + "/labs/" + url.PathEscape(slug) + "/settings"
}

// settingsService returns Deps.Instructor, else Cohorts when it implements
// InstructorService too (as *store.DB does); nil (no settings page, no
// gate) if neither.
func (s *Server) settingsService() faultline.InstructorService {
	if s.d.Instructor != nil {
		return s.d.Instructor
	}
	is, _ := s.d.Cohorts.(faultline.InstructorService)
	return is
}

// records returns the SubmissionRecords: Deps.Records, else Submissions
// when it implements them too; nil if neither.
func (s *Server) records() faultline.SubmissionRecords {
	if s.d.Records != nil {
		return s.d.Records
	}
	sr, _ := s.d.Submissions.(faultline.SubmissionRecords)
	return sr
}

var errNoSettings = faultline.Errorf(faultline.EUNAVAILABLE, "Lab settings are not available on this server.")

// settingsTarget loads the cohort (which the user must teach) and the lab in the URL.
func (s *Server) settingsTarget(r *http.Request) (*faultline.Cohort, *faultline.Lab, error) {
	c, err := s.taughtCohort(r)
	if err != nil {
		return nil, nil, err
	}
	l, err := s.d.Labs.Lab(chi.URLParam(r, "slug"))
	if err != nil {
		return nil, nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such lab.")
	}
	return c, l, nil
}

func settingsPage(s *Server, r *http.Request, c *faultline.Cohort, l *faultline.Lab) views.LabSettingsPage {
	return views.LabSettingsPage{
		Page:   s.page(r, l.Title+" settings", "cohorts"),
		Cohort: c.Name, CohortURL: cohortURL(c.ID), LabTitle: l.Title,
		Action: labSettingsURL(c.ID, l.Slug),
	}
}

func numValue(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// serveLabSettings shows the settings form of one lab in one cohort.
func (s *Server) serveLabSettings(w http.ResponseWriter, r *http.Request) error {
	c, l, err := s.settingsTarget(r)
	if err != nil {
		return err
	}
	is := s.settingsService()
	if is == nil {
		return errNoSettings
	}
	st, err := is.LabSettings(r.Context(), c.ID, l.Slug)
	if err != nil {
		return fmt.Errorf("lab settings of cohort %d lab %q: %w", c.ID, l.Slug, err)
	}
	m := settingsPage(s, r, c, l)
	m.OpensAt, m.DueAt = localValue(st.OpensAt), localValue(st.DueAt)
	m.Late, m.PerDay, m.Cap = string(st.Late.Mode), numValue(st.Late.PercentPerDay), numValue(st.Late.CapPercent)
	m.MaxSubmissions, m.PerMinute = numValue(st.MaxSubmissions), numValue(st.PerMinute)
	m.Visibility = string(st.Visibility)
	m.Updated = fmtTime(st.UpdatedAt)
	m.Saved = r.URL.Query().Get("saved") == "1"
	return s.render(w, r, http.StatusOK, views.LabSettings(m))
}

// serveLabSettingsPost stores the settings; a rejected form comes back with
// the reason and the input as typed.
func (s *Server) serveLabSettingsPost(w http.ResponseWriter, r *http.Request) error {
	c, l, err := s.settingsTarget(r)
	if err != nil {
		return err
	}
	is := s.settingsService()
	if is == nil {
		return errNoSettings
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	m := settingsPage(s, r, c, l)
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	m.OpensAt, m.DueAt, m.Late, m.PerDay, m.Cap = f("opens_at"), f("due_at"), f("late"), f("per_day"), f("cap")
	m.MaxSubmissions, m.PerMinute, m.Visibility = f("max_submissions"), f("per_minute"), f("visibility")

	st, err := readSettings(m)
	if err == nil {
		st.CohortID, st.Lab = c.ID, l.Slug
		err = is.SetLabSettings(r.Context(), st)
	}
	if err != nil {
		code, msg, ok := userError(err)
		if !ok || code != faultline.EINVALID {
			return fmt.Errorf("set lab settings of cohort %d lab %q: %w", c.ID, l.Slug, err)
		}
		m.Error = msg
		return s.render(w, r, statusOf(code), views.LabSettings(m))
	}
	return redirect(w, r, labSettingsURL(c.ID, l.Slug)+"?saved=1")
}

// readSettings parses the form's fields; EINVALID says which is wrong.
func readSettings(m views.LabSettingsPage) (*faultline.LabSettings, error) {
	st := &faultline.LabSettings{Late: faultline.LatePolicy{Mode: faultline.LateMode(m.Late)}, Visibility: faultline.TestVisibility(m.Visibility)}
	var err error
	if st.OpensAt, err = parseUTC(m.OpensAt, "The opening date"); err != nil {
		return nil, err
	}
	if st.DueAt, err = parseUTC(m.DueAt, "The due date"); err != nil {
		return nil, err
	}
	num := func(v, what string) (int, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, faultline.Errorf(faultline.EINVALID, "%s must be a whole number.", what)
		}
		return n, nil
	}
	if st.Late.Mode == faultline.LatePenalty {
		if st.Late.PercentPerDay, err = num(m.PerDay, "The penalty per day"); err != nil {
			return nil, err
		}
		if st.Late.CapPercent, err = num(m.Cap, "The penalty cap"); err != nil {
			return nil, err
		}
	}
	if st.MaxSubmissions, err = num(m.MaxSubmissions, "Maximum submissions"); err != nil {
		return nil, err
	}
	if st.PerMinute, err = num(m.PerMinute, "Submissions per minute"); err != nil {
		return nil, err
	}
	return st, nil
}

// labRules are a learner's settings for one lab: one per cohort where they
// are a learner (usually one). With several cohorts the strictest applies,
// decision by decision: a submission is refused if any cohort refuses it,
// hidden tests show only if every cohort shows them, and the largest late
// penalty counts.
type labRules []*faultline.LabSettings

// learnerRules loads the lab's settings of every cohort where userID is a
// learner; nil without an InstructorService or a cohort.
func (s *Server) learnerRules(ctx context.Context, userID int64, lab string) (labRules, error) {
	is := s.settingsService()
	if is == nil {
		return nil, nil
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", userID, err)
	}
	var rules labRules
	for _, c := range cs {
		role, err := s.d.Cohorts.MemberRole(ctx, c.ID, userID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("role of user %d in cohort %d: %w", userID, c.ID, err)
		}
		if role != faultline.MemberLearner {
			continue
		}
		st, err := is.LabSettings(ctx, c.ID, lab)
		if err != nil {
			return nil, fmt.Errorf("lab settings of cohort %d lab %q: %w", c.ID, lab, err)
		}
		rules = append(rules, st)
	}
	return rules, nil
}

// admit returns whether the refusal is the per-minute rate (the one worth
// retrying in a minute) and the first refusal of any cohort's settings.
func (rs labRules) admit(now time.Time, c faultline.SubmissionCount) (rate bool, err error) {
	for _, st := range rs {
		if err := st.Admit(now, c); err != nil {
			rate := faultline.ErrorCode(err) == faultline.ETOOMANY && !(st.MaxSubmissions > 0 && c.Total >= st.MaxSubmissions)
			return rate, err
		}
	}
	return false, nil
}

// showHidden reports whether every cohort lets the learner see hidden tests at now.
func (rs labRules) showHidden(now time.Time) bool {
	for _, st := range rs {
		if !st.ShowHiddenTests(now) {
			return false
		}
	}
	return true
}

// penalize returns the score after the largest late penalty of the cohorts
// for a submission made at t, with a note saying so ("" when none applies).
func (rs labRules) penalize(score int, t time.Time) (int, string) {
	best, note := score, ""
	for _, st := range rs {
		late := st.LateBy(t)
		if late <= 0 || st.Late.Mode != faultline.LatePenalty {
			continue
		}
		if got := st.Late.Apply(score, late); got < best || note == "" {
			days := int(math.Ceil(late.Hours() / 24))
			pct := min(days*st.Late.PercentPerDay, st.Late.CapPercent)
			unit := "days"
			if days == 1 {
				unit = "day"
			}
			best, note = got, fmt.Sprintf("Late by %d %s: −%d%%.", days, unit, pct)
		}
	}
	return best, note
}

// line describes the settings that apply on the lab page: due date,
// submissions left, late policy; "" when nothing is set.
func (rs labRules) line(now time.Time, c faultline.SubmissionCount) string {
	var opens, due time.Time
	left, max := -1, 0
	refuse, perDay, capPct := false, 0, 0
	for _, st := range rs {
		if !st.OpensAt.IsZero() && st.OpensAt.After(opens) {
			opens = st.OpensAt
		}
		if !st.DueAt.IsZero() && (due.IsZero() || st.DueAt.Before(due)) {
			due = st.DueAt
		}
		if st.MaxSubmissions > 0 && (left < 0 || st.MaxSubmissions-c.Total < left) {
			left, max = max0(st.MaxSubmissions-c.Total), st.MaxSubmissions
		}
		switch st.Late.Mode {
		case faultline.LateRefuse:
			refuse = refuse || !st.DueAt.IsZero()
		case faultline.LatePenalty:
			perDay, capPct = maxInt(perDay, st.Late.PercentPerDay), maxInt(capPct, st.Late.CapPercent)
		}
	}
	var parts []string
	if !opens.IsZero() && now.Before(opens) {
		parts = append(parts, "Opens "+fmtTime(opens))
	}
	if !due.IsZero() {
		d := "Due " + fmtTime(due)
		switch {
		case refuse:
			d += " (no late submissions)"
		case perDay > 0:
			d += fmt.Sprintf(" (late: −%d%% a day, at most −%d%%)", perDay, capPct)
		}
		parts = append(parts, d)
	}
	if left >= 0 {
		parts = append(parts, fmt.Sprintf("%d of %d submissions left", left, max))
	}
	return strings.Join(parts, " · ")
}

func max0(n int) int { return maxInt(n, 0) }

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// createSubmission applies the learner's cohort settings and creates the
// submission. The limits are checked against counts taken in the same
// transaction as the insert, so two submits at once cannot both pass a limit.
// A refusal keeps everything (saved files are stored apart from
// submissions); the per-minute rate also sets Retry-After.
func (s *Server) createSubmission(w http.ResponseWriter, r *http.Request, sub *faultline.Submission) error {
	rules, err := s.learnerRules(r.Context(), sub.UserID, sub.Lab)
	if err != nil {
		return err
	}
	rec := s.records()
	if len(rules) == 0 || rec == nil {
		return s.d.Submissions.CreateSubmission(r.Context(), sub)
	}
	return rec.CreateSubmissionIf(r.Context(), sub, func(c faultline.SubmissionCount) error {
		rate, err := rules.admit(s.now(), c)
		if rate {
			w.Header().Set("Retry-After", "60")
		}
		return err
	})
}

// labRulesLine is the settings line of the lab page; errors are logged and
// leave the line out.
func (s *Server) labRulesLine(ctx context.Context, userID int64, lab string) string {
	rules, err := s.learnerRules(ctx, userID, lab)
	if err == nil && len(rules) > 0 {
		var counts faultline.SubmissionCount
		if rec := s.records(); rec != nil {
			counts, err = rec.SubmissionCounts(ctx, userID, lab)
		}
		if err == nil {
			return rules.line(s.now(), counts)
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "lab settings line", "user", userID, "lab", lab, "err", err)
	}
	return ""
}

// hidesTests reports whether viewer sees sub's hidden tests only as a
// count: viewer is the owner and a cohort of theirs hides them now.
// Instructors and admins looking at others' work always see everything.
func (s *Server) hidesTests(ctx context.Context, sub *faultline.Submission, viewer *faultline.User) (bool, error) {
	if viewer == nil || viewer.ID != sub.UserID {
		return false, nil
	}
	rules, err := s.learnerRules(ctx, sub.UserID, sub.Lab)
	if err != nil {
		return false, err
	}
	return !rules.showHidden(s.now()), nil
}

// displayResult is resultView with the owner's cohort settings applied: the
// late penalty on the score (for every viewer) and, for a learner whose
// cohort hides them, hidden tests reduced to a count and a total.
func (s *Server) displayResult(ctx context.Context, sub *faultline.Submission, viewer *faultline.User) (views.ResultView, error) {
	teacher, err := s.teacher(ctx, viewer)
	if err != nil {
		return views.ResultView{}, err
	}
	v := resultView(sub, teacher)
	if !v.Finished || sub.Result == nil {
		return v, nil
	}
	rules, err := s.learnerRules(ctx, sub.UserID, sub.Lab)
	if err != nil {
		return v, err
	}
	if score, note := rules.penalize(v.Score, sub.CreatedAt); note != "" {
		v.LateNote = fmt.Sprintf("%s Score before the penalty: %s.", note, fmt.Sprintf("%d/%d", v.Score, v.MaxScore))
		v.Score = score
	}
	if viewer == nil || viewer.ID != sub.UserID || rules.showHidden(s.now()) {
		return v, nil
	}
	hidden := map[string]bool{}
	n, got, max := 0, 0, 0
	for _, t := range sub.Result.Tests {
		if t.Hidden {
			hidden[t.Name] = true
			n++
			got += t.Score
			max += t.MaxScore
		}
	}
	if n == 0 {
		return v, nil
	}
	unit := "hidden tests"
	if n == 1 {
		unit = "hidden test"
	}
	v.HiddenSummary = fmt.Sprintf("%d %s: %d of %d points", n, unit, got, max)
	var tests []views.TestRow
	for _, t := range v.Tests {
		if !t.Hidden {
			tests = append(tests, t)
		}
	}
	v.Tests = tests
	var pics []views.PictureView
	for _, p := range v.Pictures {
		if !hidden[p.Test] {
			pics = append(pics, p)
		}
	}
	v.Pictures = pics
	var replays []views.ReplayLink
	for _, p := range v.Replays {
		if !p.Hidden {
			replays = append(replays, p)
		}
	}
	v.Replays = replays
	v.Output = "" // the whole run's output names hidden tests
	return v, nil
}

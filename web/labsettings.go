package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// This file holds the per cohort and lab settings page and the line on the
// lab page that says which rules apply.

// settingsTarget loads the cohort (which the user must teach) and the lab in the URL.
func (s *Server) settingsTarget(r *http.Request) (*faultline.Cohort, *faultline.Lab, error) {
	c, err := s.taughtCohort(r)
	if err != nil {
		return nil, nil, err
	}
	l, err := s.lab(r)
	if err != nil {
		return nil, nil, err
	}
	return c, l, nil
}

func labSettingsURL(cohortID int64, slug string) string {
	return cohortURL(cohortID) + "/labs/" + url.PathEscape(slug) + "/settings"
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
	st, err := s.c.LabSettings(r.Context(), UserFromContext(r.Context()), c.ID, l.Slug)
	if err != nil {
		return err
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
	if err := s.parseForm(r); err != nil {
		return err
	}
	m := settingsPage(s, r, c, l)
	f := func(name string) string { return strings.TrimSpace(formValue(r, name)) }
	m.OpensAt, m.DueAt, m.Late, m.PerDay, m.Cap = f("opens_at"), f("due_at"), f("late"), f("per_day"), f("cap")
	m.MaxSubmissions, m.PerMinute, m.Visibility = f("max_submissions"), f("per_minute"), f("visibility")

	st, err := readSettings(m)
	if err == nil {
		st.CohortID, st.Lab = c.ID, l.Slug
		err = s.c.SetLabSettings(r.Context(), UserFromContext(r.Context()), st)
	}
	if err != nil {
		code, msg, ok := userError(err)
		if !ok || code != faultline.EINVALID {
			return err
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

// rulesLine describes the rules a learner works the lab under, for the lab
// page: opening, due date with the late policy, submissions left; "" when
// no cohort sets any.
func rulesLine(st *course.LabStanding, now time.Time) string {
	if st == nil || !st.InCohort {
		return ""
	}
	p := st.Policy
	var parts []string
	if !p.OpensAt.IsZero() && now.Before(p.OpensAt) {
		parts = append(parts, "Opens "+fmtTime(p.OpensAt))
	}
	if !p.DueAt.IsZero() {
		d := "Due " + fmtTime(p.DueAt)
		switch p.Late.Mode {
		case faultline.LateRefuse:
			d += " (no late submissions)"
		case faultline.LatePenalty:
			d += fmt.Sprintf(" (late: −%d%% a day, at most −%d%%)", p.Late.PercentPerDay, p.Late.CapPercent)
		}
		if p.Extended {
			d += " — extended for you"
		}
		parts = append(parts, d)
	}
	if p.MaxSubmissions > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d submissions left", max(p.MaxSubmissions-st.Counts.Total, 0), p.MaxSubmissions))
	}
	return strings.Join(parts, " · ")
}

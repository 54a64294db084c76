package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// The live view: the running sandboxes of a cohort's learners, each with a
// Stop button, and the grading queue (its size, the cohort's queued and
// running submissions, the running regrades with a Cancel button). An
// instructor sees it for the cohorts they teach (/cohorts/{id}/live); an
// admin also has /admin/live for every user. Pages refresh by themselves with
// static/live.js and work without it through a Refresh link.

// liveRoutes adds the live view's routes, behind requireTeacher. Its
// script, static/live.js, is one of the static assets (static.go).
func (s *Server) liveRoutes(r chi.Router) {
	r.Get("/cohorts/{id}/live", s.h(s.serveLive))
	r.Get("/cohorts/{id}/live/panel", s.h(s.serveLivePanel))
	r.Post("/cohorts/{id}/live/stop", s.h(s.serveLiveStop))
	r.Get("/admin/live", s.h(s.serveLive))
	r.Get("/admin/live/panel", s.h(s.serveLivePanel))
	r.Post("/admin/live/stop", s.h(s.serveLiveStop))
}

func liveURL(cohortID int64) string { return cohortURL(cohortID) + "/live" }

var liveNotices = map[string]string{
	"stopped":         "Sandbox stopped. The learner's saved files are unaffected; they come back when the learner starts the lab again.",
	"stop-gone":       "That sandbox was not running any more.",
	"canceled":        regradeNotices["canceled"],
	"cancel-conflict": regradeNotices["cancel-conflict"],
}

// liveScope is whose live view a request is for: a cohort the viewer
// teaches, or (c nil) every user, on the admin's /admin/live.
type liveScope struct {
	c    *faultline.Cohort
	base string // the page's URL
}

func (sc liveScope) cohortID() int64 {
	if sc.c == nil {
		return 0
	}
	return sc.c.ID
}

// liveScope answers ENOTFOUND to anyone but the cohort's teachers (and
// admins), and for /admin/live to anyone but admins.
func (s *Server) liveScope(r *http.Request) (liveScope, error) {
	if chi.URLParam(r, "id") == "" {
		if u := UserFromContext(r.Context()); u == nil || u.Role != faultline.RoleAdmin {
			return liveScope{}, faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
		}
		return liveScope{base: "/admin/live"}, nil
	}
	c, err := s.taughtCohort(r)
	if err != nil {
		return liveScope{}, err
	}
	return liveScope{c: c, base: liveURL(c.ID)}, nil
}

// livePanel builds the refreshed part of the live view.
func (s *Server) livePanel(r *http.Request, sc liveScope) (views.LivePanel, error) {
	now := s.now()
	p := views.LivePanel{Fragment: sc.base + "/panel", AllCohorts: sc.c == nil, Updated: fmtSeconds(now)}
	live, err := s.c.Live(r.Context(), UserFromContext(r.Context()), sc.cohortID())
	if err != nil {
		return p, err
	}
	for _, sb := range live.Sandboxes {
		row := views.LiveSandboxRow{
			Learner: sb.Name, Email: sb.Email, Lab: sb.Lab, LabTitle: s.labTitle(sb.Lab), State: string(sb.State),
			Started: fmtSeconds(sb.UpdatedAt), LastActive: fmtSeconds(sb.LastActiveAt),
			UserID: strconv.FormatInt(sb.UserID, 10), StopURL: sc.base + "/stop",
		}
		if d := now.Sub(sb.LastActiveAt); !sb.LastActiveAt.IsZero() && d >= 0 {
			row.Idle = durationText(d)
		}
		p.Sandboxes = append(p.Sandboxes, row)
	}
	q := live.Queue
	p.Queue = views.QueueSummary{Depth: q.Queued, Regrades: q.Regrades, Running: q.Running, Workers: q.Workers}
	if !q.OldestQueued.IsZero() {
		p.Queue.OldestAge = durationText(max(now.Sub(q.OldestQueued), 0))
	}
	for _, e := range live.Entries {
		row := views.QueueRow{URL: submissionURL(e.SubmissionID), ID: e.SubmissionID, Learner: e.Name,
			LabTitle: s.labTitle(e.Lab), State: string(e.State)}
		switch {
		case e.State == faultline.SubmissionRunning && !e.StartedAt.IsZero():
			row.Waiting = "grading for " + durationText(max(now.Sub(e.StartedAt), 0))
		case e.RegradeJobID != 0:
			row.Waiting = "a regrade, behind learners' submissions"
		default:
			row.Waiting = "submitted " + durationText(max(now.Sub(e.CreatedAt), 0)) + " ago"
		}
		if e.RegradeJobID != 0 {
			row.Regrade = "regrade #" + strconv.FormatInt(e.RegradeJobID, 10)
			if sc.c != nil {
				row.RegradeURL = regradeJobURL(sc.c.ID, e.RegradeJobID)
			}
		}
		p.Entries = append(p.Entries, row)
	}
	p.Jobs = s.jobLines(live.Jobs, 0)
	for i := range p.Jobs {
		p.Jobs[i].Back = "live"
	}
	return p, nil
}

// serveLive renders the live view.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.liveScope(r)
	if err != nil {
		return err
	}
	p, err := s.livePanel(r, sc)
	if err != nil {
		return err
	}
	m := views.LivePage{URL: sc.base, Script: s.assets.urls.Live, Notice: noticeOf(r, liveNotices), Panel: p}
	title := "Live · every cohort"
	if sc.c != nil {
		m.Cohort, m.CohortURL = sc.c.Name, cohortURL(sc.c.ID)
		title = "Live · " + sc.c.Name
	}
	m.Page = s.page(r, title, "cohorts")
	return s.render(w, r, http.StatusOK, views.Live(m))
}

// serveLivePanel renders the refreshed part alone, for the live script.
func (s *Server) serveLivePanel(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.liveScope(r)
	if err != nil {
		return err
	}
	p, err := s.livePanel(r, sc)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.LivePanelFragment(p))
}

// serveLiveStop stops one learner's sandbox (form fields user and lab). On a
// cohort's page the learner must be one of its learners (else 404); saved
// files are unaffected.
func (s *Server) serveLiveStop(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.liveScope(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	uid, _ := course.ParseID(formValue(r, "user"))
	lab := strings.TrimSpace(formValue(r, "lab"))
	notice := "stopped"
	switch err := s.c.StopSandbox(r.Context(), UserFromContext(r.Context()), sc.cohortID(), uid, lab); {
	case err == course.ErrSandboxGone:
		notice = "stop-gone"
	case err != nil:
		return err
	}
	return redirect(w, r, sc.base+"?notice="+notice)
}

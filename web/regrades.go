package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// Regrades: an instructor regrades every graded submission of a lab in the
// cohort, or one submission, as a background job. The grading worker grades
// the queued regrades like any submission (behind learners' new ones); the
// job page shows the progress, refreshed by the live script (live.go) or the
// Refresh link. Every route answers 404 to anyone who does not teach the
// cohort, like the dashboards.

func (s *Server) regradeRoutes(r chi.Router) {
	r.Post("/cohorts/{id}/labs/{slug}/regrade", s.h(s.serveRegradeLab))
	r.Post("/cohorts/{id}/submissions/{sid}/regrade", s.h(s.serveRegradeSubmission))
	r.Get("/cohorts/{id}/regrades", s.h(s.serveRegrades))
	r.Get("/cohorts/{id}/regrades/{job}", s.h(s.serveRegradeJob))
	r.Get("/cohorts/{id}/regrades/{job}/progress", s.h(s.serveRegradeProgress))
	r.Post("/cohorts/{id}/regrades/{job}/cancel", s.h(s.serveCancelRegrade))
}

func regradesURL(cohortID int64) string { return cohortURL(cohortID) + "/regrades" }

func regradeJobURL(cohortID, jobID int64) string {
	return regradesURL(cohortID) + "/" + strconv.FormatInt(jobID, 10)
}

// Notices shown after a redirect, named by the ?notice= key so that nothing
// from the query string reaches the page.
var regradeNotices = map[string]string{
	"nothing-lab": "Nothing to regrade: no submission of this lab by the cohort's learners has a result yet, " +
		"or every one is already waiting to be graded.",
	"nothing-submission": "Nothing to regrade: this submission is waiting to be graded, or has no result yet. " +
		"Regrade it once it has one.",
	"queued":          "Regrade queued. Results arrive as the grader works through the queue.",
	"canceled":        "Regrade canceled. The submissions that were still waiting keep their current result.",
	"cancel-conflict": "Nothing to cancel: this regrade has finished, or what is left of it is being graded right now.",
}

func noticeOf(r *http.Request, notices map[string]string) string {
	return notices[r.URL.Query().Get("notice")]
}

// jobID is the regrade job ID in the URL; ENOTFOUND when it is not one.
func jobID(r *http.Request) (int64, error) {
	id, ok := course.ParseID(chi.URLParam(r, "job"))
	if !ok {
		return 0, faultline.Errorf(faultline.ENOTFOUND, "There is no such regrade.")
	}
	return id, nil
}

// serveRegradeLab queues every graded submission of the lab by the cohort's
// learners and shows the new job; with nothing to regrade it goes back to
// the lab's statistics with a notice.
func (s *Server) serveRegradeLab(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	slug := chi.URLParam(r, "slug")
	j, err := s.c.RegradeLab(r.Context(), UserFromContext(r.Context()), c.ID, slug)
	if err == course.ErrNothingToRegrade {
		return redirect(w, r, labStatsURL(c.ID, slug)+"?notice=nothing-lab#regrade")
	} else if err != nil {
		return err
	}
	return redirect(w, r, regradeJobURL(c.ID, j.ID)+"?notice=queued")
}

// serveRegradeSubmission queues one submission of a learner of the cohort.
func (s *Server) serveRegradeSubmission(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	sid, ok := course.ParseID(chi.URLParam(r, "sid"))
	if !ok {
		return errNoSubmission
	}
	j, err := s.c.RegradeSubmission(r.Context(), UserFromContext(r.Context()), c.ID, sid)
	if err == course.ErrNothingToRegrade {
		return redirect(w, r, submissionURL(sid)+"?notice=nothing-submission#regrade")
	} else if err != nil {
		return err
	}
	return redirect(w, r, regradeJobURL(c.ID, j.ID)+"?notice=queued")
}

// regradeState names a job's state for pages: running, done or canceled.
func regradeState(j *faultline.RegradeJob) (state, text string) {
	switch {
	case j.Canceled():
		return "canceled", "canceled"
	case j.State == faultline.RegradeDone:
		return "done", "done"
	}
	return "running", "running"
}

// labTitle returns the lab's title, or its slug for a lab no longer in the catalog.
func (s *Server) labTitle(slug string) string {
	if l, err := s.d.Labs.Lab(slug); err == nil {
		return l.Title
	}
	return slug
}

// regradeWhat says what a job regrades.
func (s *Server) regradeWhat(j *faultline.RegradeJob) string {
	if j.SubmissionID != 0 {
		return fmt.Sprintf("submission #%d of %s", j.SubmissionID, s.labTitle(j.Lab))
	}
	return "every graded submission of " + s.labTitle(j.Lab)
}

func fmtSeconds(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04:05 UTC")
}

func (s *Server) progressModel(j *faultline.RegradeJob) views.RegradeProgress {
	p := views.RegradeProgress{
		ID: j.ID, URL: regradeJobURL(j.CohortID, j.ID), Fragment: regradeJobURL(j.CohortID, j.ID) + "/progress",
		Done: j.Done, Total: j.Total, Failed: j.Failed,
		Finished: j.State != faultline.RegradeRunning,
		Started:  fmtSeconds(j.CreatedAt), Ended: fmtSeconds(j.FinishedAt),
	}
	p.State, p.StateText = regradeState(j)
	if j.Total > 0 {
		p.Percent = min(j.Done*100/j.Total, 100)
	}
	if !p.Finished {
		p.CancelURL = regradeJobURL(j.CohortID, j.ID) + "/cancel"
	}
	return p
}

// jobLines lists jobs for a table; current marks the page's own job.
func (s *Server) jobLines(jobs []*faultline.RegradeJob, current int64) []views.RegradeJobLine {
	out := make([]views.RegradeJobLine, 0, len(jobs))
	for _, j := range jobs {
		l := views.RegradeJobLine{
			URL: regradeJobURL(j.CohortID, j.ID), ID: j.ID, What: s.regradeWhat(j),
			Done: j.Done, Total: j.Total, Failed: j.Failed, Started: fmtSeconds(j.CreatedAt), Current: j.ID == current,
		}
		l.State, l.StateText = regradeState(j)
		if j.State == faultline.RegradeRunning {
			l.CancelURL = regradeJobURL(j.CohortID, j.ID) + "/cancel"
		}
		out = append(out, l)
	}
	return out
}

// serveRegrades lists the cohort's regrades, newest first.
func (s *Server) serveRegrades(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	jobs, err := s.c.RegradeJobs(r.Context(), UserFromContext(r.Context()), c.ID)
	if err != nil {
		return err
	}
	m := views.RegradeJobPage{
		Page: s.page(r, "Regrades · "+c.Name, "cohorts"), Cohort: c.Name, CohortURL: cohortURL(c.ID),
		LiveURL: liveURL(c.ID), Jobs: s.jobLines(jobs, 0),
	}
	return s.render(w, r, http.StatusOK, views.RegradeJob(m))
}

// serveRegradeJob shows one job's progress and the cohort's other jobs.
func (s *Server) serveRegradeJob(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	jid, err := jobID(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	j, err := s.c.RegradeJob(r.Context(), viewer, c.ID, jid)
	if err != nil {
		return err
	}
	jobs, err := s.c.RegradeJobs(r.Context(), viewer, c.ID)
	if err != nil {
		return err
	}
	p := s.progressModel(j)
	m := views.RegradeJobPage{
		Page: s.page(r, fmt.Sprintf("Regrade #%d · %s", j.ID, c.Name), "cohorts"), Cohort: c.Name, CohortURL: cohortURL(c.ID),
		LiveURL: liveURL(c.ID), Script: s.assets.urls.Live, What: s.regradeWhat(j), Notice: noticeOf(r, regradeNotices),
		Progress: &p, Jobs: s.jobLines(jobs, j.ID),
	}
	if j.SubmissionID != 0 {
		m.SubURL = submissionURL(j.SubmissionID)
	} else {
		m.LabURL = labStatsURL(c.ID, j.Lab)
	}
	return s.render(w, r, http.StatusOK, views.RegradeJob(m))
}

// serveRegradeProgress renders the job's progress fragment alone, for the
// live script.
func (s *Server) serveRegradeProgress(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	jid, err := jobID(r)
	if err != nil {
		return err
	}
	j, err := s.c.RegradeJob(r.Context(), UserFromContext(r.Context()), c.ID, jid)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.RegradeProgressFragment(s.progressModel(j)))
}

// serveCancelRegrade ends a running job (see RegradeCanceler) and goes back
// to the page the form was on: the live view or the job page.
func (s *Server) serveCancelRegrade(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	jid, err := jobID(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	notice := "canceled"
	switch _, err := s.c.CancelRegrade(r.Context(), UserFromContext(r.Context()), c.ID, jid); faultline.ErrorCode(err) {
	case "":
	case faultline.ECONFLICT:
		notice = "cancel-conflict"
	default:
		return err
	}
	if formValue(r, "back") == "live" {
		return redirect(w, r, liveURL(c.ID)+"?notice="+notice)
	}
	return redirect(w, r, regradeJobURL(c.ID, jid)+"?notice="+notice)
}

// labRegradeForm is the regrade panel of a lab's statistics page: the form
// and the lab's regrades in the cohort.
func (s *Server) labRegradeForm(r *http.Request, cohortID int64, lab string, jobs []*faultline.RegradeJob) views.RegradeForm {
	f := views.RegradeForm{Notice: noticeOf(r, regradeNotices), Action: labStatsURL(cohortID, lab) + "/regrade"}
	f.Jobs = s.jobLines(jobs[:min(len(jobs), 10)], 0)
	return f
}

// submissionRegrade is the teacher's part of a submission page: every
// result the submission has had and the Regrade button. It returns nil for
// a viewer who does not teach the owner (learners see only the shown result).
func submissionRegrade(r *http.Request, p *course.SubmissionPage) *views.SubmissionRegrade {
	if !p.Teacher {
		return nil
	}
	sub := p.Submission
	m := &views.SubmissionRegrade{Form: views.RegradeForm{Notice: noticeOf(r, regradeNotices)}}
	if p.RegradeCohort != 0 {
		m.Form.Action = cohortURL(p.RegradeCohort) + "/submissions/" + strconv.FormatInt(sub.ID, 10) + "/regrade"
	}
	for _, h := range p.History {
		line := views.ResultHistoryLine{ID: h.ID, When: fmtSeconds(h.CreatedAt), Current: h.Current}
		if res := h.Result; res != nil {
			line.StatusText = statusText[res.Status]
			if line.StatusText == "" {
				line.StatusText = string(res.Status)
			}
			if res.Status != faultline.StatusError {
				line.Score = scoreString(res.Score, res.MaxScore)
			}
		}
		if h.RegradeJobID != 0 {
			line.Regrade = "regrade #" + strconv.FormatInt(h.RegradeJobID, 10)
			if cid := p.JobCohorts[h.RegradeJobID]; cid != 0 {
				line.RegradeURL = regradeJobURL(cid, h.RegradeJobID)
			}
		}
		m.History = append(m.History, line)
	}
	return m
}

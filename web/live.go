package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
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

// liveService returns the LiveService behind Deps.Instructor or Deps.Cohorts
// (both *store.DB in the portal); EUNAVAILABLE if neither.
func (s *Server) liveService() (faultline.LiveService, error) {
	if ls, ok := s.d.Instructor.(faultline.LiveService); ok {
		return ls, nil
	}
	if ls, ok := s.d.Cohorts.(faultline.LiveService); ok {
		return ls, nil
	}
	return nil, faultline.Errorf(faultline.EUNAVAILABLE, "The live view is unavailable right now.")
}

// livePanel builds the refreshed part of the live view.
func (s *Server) livePanel(ctx context.Context, sc liveScope) (views.LivePanel, error) {
	ls, err := s.liveService()
	if err != nil {
		return views.LivePanel{}, err
	}
	now := s.now()
	cid := sc.cohortID()
	p := views.LivePanel{Fragment: sc.base + "/panel", AllCohorts: sc.c == nil, Updated: fmtSeconds(now)}

	sbs, err := ls.LiveSandboxes(ctx, cid)
	if err != nil {
		return p, fmt.Errorf("live sandboxes of cohort %d: %w", cid, err)
	}
	if s.d.Sandboxes == nil {
		p.SandboxesNote = "Sandboxes are not available on this portal, so none can be stopped from here."
	}
	for _, sb := range sbs {
		row := views.LiveSandboxRow{
			Learner: sb.Name, Email: sb.Email, Lab: sb.Lab, LabTitle: s.labTitle(sb.Lab), State: string(sb.State),
			Started: fmtSeconds(sb.UpdatedAt), LastActive: fmtSeconds(sb.LastActiveAt),
			UserID: strconv.FormatInt(sb.UserID, 10),
		}
		if d := now.Sub(sb.LastActiveAt); !sb.LastActiveAt.IsZero() && d >= 0 {
			row.Idle = durationText(d)
		}
		if s.d.Sandboxes != nil {
			row.StopURL = sc.base + "/stop"
		}
		p.Sandboxes = append(p.Sandboxes, row)
	}

	if svc, err := s.dashService(); err != nil {
		p.Queue.Unavailable = true
	} else if q, err := svc.QueueStats(ctx); err != nil {
		return p, fmt.Errorf("queue stats: %w", err)
	} else {
		p.Queue = views.QueueSummary{Depth: q.Queued, Regrades: q.Regrades, Running: q.Running, Workers: q.Workers}
		if !q.OldestQueued.IsZero() {
			p.Queue.OldestAge = durationText(max(now.Sub(q.OldestQueued), 0))
		}
	}

	entries, err := ls.QueueEntries(ctx, cid)
	if err != nil {
		return p, fmt.Errorf("queue entries of cohort %d: %w", cid, err)
	}
	for _, e := range entries {
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

	if sc.c != nil {
		if jobs, err := s.cohortJobs(ctx, sc.c.ID); err == nil {
			var running []*faultline.RegradeJob
			for _, j := range jobs {
				if j.State == faultline.RegradeRunning {
					running = append(running, j)
				}
			}
			p.Jobs = s.jobLines(running, 0)
			for i := range p.Jobs {
				p.Jobs[i].Back = "live"
			}
		} else if faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
			return p, err
		}
	}
	return p, nil
}

// serveLive renders the live view.
func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.liveScope(r)
	if err != nil {
		return err
	}
	p, err := s.livePanel(r.Context(), sc)
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
	p, err := s.livePanel(r.Context(), sc)
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
	noSandbox := faultline.Errorf(faultline.ENOTFOUND, "There is no such sandbox.")
	uid, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
	lab := strings.TrimSpace(r.PostFormValue("lab"))
	if err != nil || uid <= 0 || lab == "" {
		return noSandbox
	}
	if sc.c != nil {
		role, err := s.d.Cohorts.MemberRole(r.Context(), sc.c.ID, uid)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND || (err == nil && role != faultline.MemberLearner) {
			return noSandbox
		} else if err != nil {
			return fmt.Errorf("role of user %d in cohort %d: %w", uid, sc.c.ID, err)
		}
	}
	if s.d.Sandboxes == nil {
		return errNoSandboxes
	}
	notice := "stopped"
	switch err := s.d.Sandboxes.Stop(r.Context(), uid, lab); faultline.ErrorCode(err) {
	case "":
		s.log.InfoContext(r.Context(), "sandbox stopped by instructor", "user", uid, "lab", lab,
			"by", UserFromContext(r.Context()).ID, "cohort", sc.cohortID())
	case faultline.ENOTFOUND:
		notice = "stop-gone"
	default:
		if _, _, ok := userError(err); ok {
			return err
		}
		return fmt.Errorf("stop sandbox of user %d lab %q: %w", uid, lab, err)
	}
	return redirect(w, r, sc.base+"?notice="+notice)
}

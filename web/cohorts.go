package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

func cohortURL(id int64) string { return "/cohorts/" + strconv.FormatInt(id, 10) }

// cohortLinks lists the cohorts the user teaches (all of them for admins).
func (s *Server) cohortLinks(r *http.Request) ([]views.CohortLink, error) {
	cs, err := s.c.TaughtCohorts(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return nil, err
	}
	var links []views.CohortLink
	for _, c := range cs {
		links = append(links, views.CohortLink{Name: c.Name, URL: cohortURL(c.ID), Created: fmtDate(c.CreatedAt)})
	}
	return links, nil
}

// serveCohorts lists the instructor's cohorts with the create form.
func (s *Server) serveCohorts(w http.ResponseWriter, r *http.Request) error {
	links, err := s.cohortLinks(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Cohorts(views.CohortsPage{
		Page: s.page(r, "Cohorts", "cohorts"), Cohorts: links, CanCreate: UserFromContext(r.Context()).CanTeach(),
	}))
}

// serveCreateCohort creates a cohort with a fresh invite code; a bad name
// re-renders the form with the input kept.
func (s *Server) serveCreateCohort(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	name := strings.TrimSpace(formValue(r, "name"))
	c, err := s.c.CreateCohort(r.Context(), UserFromContext(r.Context()), name)
	if err != nil {
		code, msg, ok := userError(err)
		if !ok || code != faultline.EINVALID {
			return err
		}
		links, err := s.cohortLinks(r)
		if err != nil {
			return err
		}
		return s.render(w, r, statusOf(code), views.Cohorts(views.CohortsPage{
			Page: s.page(r, "Cohorts", "cohorts"), Cohorts: links, Name: name, Error: msg, CanCreate: true,
		}))
	}
	return redirect(w, r, cohortURL(c.ID))
}

// serveCohort is the cohort dashboard: invite link, members and the progress
// matrix of learners × labs. Anyone but its instructors and admins gets 404.
// The heat map's rows and the member list come from dashboardCache while
// the cohort's dashboard version has not moved (dashboard_cache.go).
func (s *Server) serveCohort(w http.ResponseWriter, r *http.Request) error {
	id, ok := course.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	}
	viewer := UserFromContext(r.Context())
	p, err := s.c.CohortPage(r.Context(), viewer, id, s.dashboards.held(id))
	if err != nil {
		return err
	}
	c := p.Cohort
	e := s.dashboards.get(id, p.Version)
	if e == nil {
		if p.Matrix == nil {
			// Left out for a version whose entry went since: ask again.
			if p, err = s.c.CohortPage(r.Context(), viewer, id, 0); err != nil {
				return err
			}
		}
		if e, err = s.dashboardEntryFor(r.Context(), id, p); err != nil { // dashboard_cache.go
			return err
		}
		s.dashboards.put(id, e)
	}
	m := views.CohortPage{
		Page:      s.page(r, c.Name, "cohorts"),
		Name:      c.Name,
		InviteURL: strings.TrimRight(s.d.BaseURL, "/") + "/join/" + url.PathEscape(c.InviteCode),
		Live:      liveURL(c.ID), Regrades: regradesURL(c.ID), // live.go, regrades.go
	}
	head, ms := s.progressHead(r, c.ID) // dashboard.go
	head.RowsHTML = e.rowsHTML(ms)
	m.Progress = head
	m.Invite = s.inviteView(c)                         // roster.go
	key := rosterKey(viewer, moveTargets(c, p.Taught)) // roster.go
	if m.RosterHTML = s.dashboards.roster(e, key); m.RosterHTML == "" {
		roster := s.rosterView(viewer, c, e.members, p.Taught)
		if m.RosterHTML, err = rosterHTML(r.Context(), roster); err != nil {
			return err
		}
		s.dashboards.putRoster(e, key, m.RosterHTML)
	}
	m.Conversation = e.conversation
	if acceptsGzip(r) { // lessonpage.go
		if ok, err := s.writeCohortGzip(w, r, m, e, ms, key); ok || err != nil { // dashboard_cache.go
			return err
		}
	}
	// The rows and the member list, and some 64 KB for the rest.
	return s.renderSized(w, r, http.StatusOK, views.Cohort(m), e.size+len(m.RosterHTML)+64<<10)
}

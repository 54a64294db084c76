package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

func cohortURL(id int64) string { return "/cohorts/" + strconv.FormatInt(id, 10) }

// teaches reports whether the signed-in user may open the cohort's dashboard:
// an admin, or an instructor of that cohort.
func (s *Server) teaches(r *http.Request, cohortID int64) (bool, error) {
	u := UserFromContext(r.Context())
	if u == nil {
		return false, nil
	}
	if u.Role == faultline.RoleAdmin {
		return true, nil
	}
	role, err := s.d.Cohorts.MemberRole(r.Context(), cohortID, u.ID)
	switch faultline.ErrorCode(err) {
	case "":
		return role.Teaches(), nil
	case faultline.ENOTFOUND:
		return false, nil
	}
	return false, fmt.Errorf("role of user %d in cohort %d: %w", u.ID, cohortID, err)
}

// cohortLinks lists the cohorts the user teaches (all of them for admins).
func (s *Server) cohortLinks(r *http.Request) ([]views.CohortLink, error) {
	u := UserFromContext(r.Context())
	var id int64
	if u.Role != faultline.RoleAdmin {
		id = u.ID
	}
	cs, err := s.d.Cohorts.ListCohorts(r.Context(), id)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", id, err)
	}
	var links []views.CohortLink
	for _, c := range cs {
		ok, err := s.teaches(r, c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			links = append(links, views.CohortLink{Name: c.Name, URL: cohortURL(c.ID), Created: fmtDate(c.CreatedAt)})
		}
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
	if !UserFromContext(r.Context()).CanTeach() {
		// A co-instructor with a learner account teaches cohorts but
		// creates none.
		return faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	again := func(code, msg string) error {
		links, err := s.cohortLinks(r)
		if err != nil {
			return err
		}
		return s.render(w, r, statusOf(code), views.Cohorts(views.CohortsPage{
			Page: s.page(r, "Cohorts", "cohorts"), Cohorts: links, Name: name, Error: msg, CanCreate: true,
		}))
	}
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return again(faultline.EINVALID, "Give the cohort a name of 1 to 100 characters.")
	}
	u := UserFromContext(r.Context())
	c := &faultline.Cohort{Name: name, InviteCode: randomToken(18), CreatedBy: u.ID}
	if err := s.d.Cohorts.CreateCohort(r.Context(), c); err != nil {
		if code, msg, ok := userError(err); ok && code == faultline.EINVALID {
			return again(code, msg)
		}
		return fmt.Errorf("create cohort %q by user %d: %w", name, u.ID, err)
	}
	return redirect(w, r, cohortURL(c.ID))
}

// serveCohort is the cohort dashboard: invite link, members and the progress
// matrix of learners × labs. Anyone but its instructors and admins gets 404.
func (s *Server) serveCohort(w http.ResponseWriter, r *http.Request) error {
	notFound := faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return notFound
	}
	ok, err := s.teaches(r, id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound
	}
	c, err := s.d.Cohorts.FindCohortByID(r.Context(), id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return notFound
	} else if err != nil {
		return fmt.Errorf("find cohort %d: %w", id, err)
	}
	members, err := s.d.Cohorts.ListMembers(r.Context(), id)
	if err != nil {
		return fmt.Errorf("list members of cohort %d: %w", id, err)
	}
	m := views.CohortPage{
		Page:      s.page(r, c.Name, "cohorts"),
		Name:      c.Name,
		InviteURL: strings.TrimRight(s.d.BaseURL, "/") + "/join/" + url.PathEscape(c.InviteCode),
		Live:      liveURL(c.ID), Regrades: regradesURL(c.ID), // live.go, regrades.go
	}
	for _, mem := range members {
		m.Members = append(m.Members, views.MemberRow{
			Name: mem.User.Name, Email: mem.User.Email, Role: string(mem.Role), Joined: fmtDate(mem.JoinedAt),
		})
	}
	if m.Progress, err = s.progressView(r, id); err != nil {
		return err
	}
	m.Invite = s.inviteView(c) // roster.go
	if m.Roster, err = s.rosterView(r, c, members); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Cohort(m))
}

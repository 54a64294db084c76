package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// This file holds the cohort management routes: the invite link's expiry
// and regeneration, member roles, removal and moves between cohorts.

const dateTimeLocal = "2006-01-02T15:04"

// parseUTC reads a datetime-local value as UTC; empty means zero.
func parseUTC(v, what string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{dateTimeLocal, dateTimeLocal + ":05"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, faultline.Errorf(faultline.EINVALID, "%s must be a date and time like 2026-03-01T17:00 (UTC).", what)
}

func localValue(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateTimeLocal)
}

var roleText = map[faultline.MemberRole]string{
	faultline.MemberInstructor:   "instructor",
	faultline.MemberCoInstructor: "co-instructor",
	faultline.MemberLearner:      "learner",
}

// inviteView is the invite panel's model.
func (s *Server) inviteView(c *faultline.Cohort) views.InviteView {
	return views.InviteView{
		Action:  cohortURL(c.ID) + "/invite",
		Expires: fmtTime(c.InviteExpiresAt),
		Expired: c.InviteExpired(s.now()),
		Value:   localValue(c.InviteExpiresAt),
	}
}

// rosterView is the members panel's model: every member with the actions
// the viewer (who teaches c) may take, and the other cohorts the viewer
// teaches as move targets.
func (s *Server) rosterView(r *http.Request, c *faultline.Cohort, members []*faultline.Member) (views.RosterView, error) {
	var v views.RosterView
	base := cohortURL(c.ID) + "/members/"
	for _, mem := range members {
		row := views.RosterMember{
			Name: mem.User.Name, Email: mem.User.Email, Role: string(mem.Role), RoleText: roleText[mem.Role],
			Joined:    fmtDate(mem.JoinedAt),
			RemoveURL: base + strconv.FormatInt(mem.User.ID, 10) + "/remove",
		}
		if row.RoleText == "" {
			row.RoleText = string(mem.Role)
		}
		switch mem.Role {
		case faultline.MemberLearner:
			row.RoleURL, row.NewRole, row.NewText = base+strconv.FormatInt(mem.User.ID, 10)+"/role", string(faultline.MemberCoInstructor), "Make co-instructor"
			row.MoveURL = base + strconv.FormatInt(mem.User.ID, 10) + "/move"
		case faultline.MemberCoInstructor:
			row.RoleURL, row.NewRole, row.NewText = base+strconv.FormatInt(mem.User.ID, 10)+"/role", string(faultline.MemberLearner), "Make learner"
		}
		v.Members = append(v.Members, row)
	}
	cs, err := s.taughtCohorts(r)
	if err != nil {
		return v, err
	}
	for _, o := range cs {
		if o.ID != c.ID {
			v.Targets = append(v.Targets, views.MoveTarget{ID: strconv.FormatInt(o.ID, 10), Name: o.Name})
		}
	}
	for _, l := range s.d.Labs.All() {
		v.Labs = append(v.Labs, views.SettingsLink{Title: l.Title, URL: labSettingsURL(c.ID, l.Slug)})
	}
	return v, nil
}

// taughtCohorts lists the cohorts the signed-in user teaches (every cohort for admins).
func (s *Server) taughtCohorts(r *http.Request) ([]*faultline.Cohort, error) {
	u := UserFromContext(r.Context())
	var id int64
	if u.Role != faultline.RoleAdmin {
		id = u.ID
	}
	cs, err := s.d.Cohorts.ListCohorts(r.Context(), id)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", id, err)
	}
	var out []*faultline.Cohort
	for _, c := range cs {
		ok, err := s.teaches(r, c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// serveInvite sets the invite link's expiry (action=expiry) or replaces its
// code, keeping the expiry (action=regenerate).
func (s *Server) serveInvite(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	code, expires := c.InviteCode, c.InviteExpiresAt
	switch r.PostFormValue("action") {
	case "expiry":
		if expires, err = parseUTC(r.PostFormValue("expires"), "The expiry"); err != nil {
			return err
		}
	case "regenerate":
		code = randomToken(18)
	default:
		return faultline.Errorf(faultline.EINVALID, "Choose to set the expiry or to regenerate the link.")
	}
	if _, err := s.d.Cohorts.SetInvite(r.Context(), c.ID, code, expires); err != nil {
		if _, _, ok := userError(err); ok {
			return err
		}
		return fmt.Errorf("set invite of cohort %d: %w", c.ID, err)
	}
	return redirect(w, r, cohortURL(c.ID))
}

// member loads the member in the URL of a cohort the user teaches;
// ENOTFOUND when the user is not on its roster.
func (s *Server) member(r *http.Request) (*faultline.Cohort, *faultline.Member, error) {
	c, err := s.taughtCohort(r)
	if err != nil {
		return nil, nil, err
	}
	noMember := faultline.Errorf(faultline.ENOTFOUND, "That user is not a member of this cohort.")
	uid, err := strconv.ParseInt(chi.URLParam(r, "user"), 10, 64)
	if err != nil || uid <= 0 {
		return nil, nil, noMember
	}
	members, err := s.d.Cohorts.ListMembers(r.Context(), c.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("list members of cohort %d: %w", c.ID, err)
	}
	for _, m := range members {
		if m.User.ID == uid {
			return c, m, nil
		}
	}
	return nil, nil, noMember
}

// serveMemberRole switches a member between learner and co-instructor. The
// cohort's instructor keeps their role.
func (s *Server) serveMemberRole(w http.ResponseWriter, r *http.Request) error {
	c, m, err := s.member(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	role := faultline.MemberRole(r.PostFormValue("role"))
	if role != faultline.MemberLearner && role != faultline.MemberCoInstructor {
		return faultline.Errorf(faultline.EINVALID, "A member can be made a learner or a co-instructor.")
	}
	if m.Role == faultline.MemberInstructor {
		return faultline.Errorf(faultline.ECONFLICT, "The cohort's instructor keeps their role.")
	}
	if err := s.d.Cohorts.AddMember(r.Context(), c.ID, m.User.ID, role); err != nil {
		if _, _, ok := userError(err); ok {
			return err
		}
		return fmt.Errorf("set role of user %d in cohort %d: %w", m.User.ID, c.ID, err)
	}
	return redirect(w, r, cohortURL(c.ID))
}

// serveRemoveMemberPage asks to confirm a removal.
func (s *Server) serveRemoveMemberPage(w http.ResponseWriter, r *http.Request) error {
	c, m, err := s.member(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.RemoveMember(views.RemovePage{
		Page:   s.page(r, "Remove "+m.User.Name, "cohorts"),
		Cohort: c.Name, CohortURL: cohortURL(c.ID),
		Name: m.User.Name, Email: m.User.Email, Role: roleText[m.Role],
		Action: cohortURL(c.ID) + "/members/" + strconv.FormatInt(m.User.ID, 10) + "/remove",
	}))
}

// serveRemoveMember takes a member off the roster; their work is kept. The
// store refuses (ECONFLICT) to remove the last instructor.
func (s *Server) serveRemoveMember(w http.ResponseWriter, r *http.Request) error {
	c, m, err := s.member(r)
	if err != nil {
		return err
	}
	if err := s.d.Cohorts.RemoveMember(r.Context(), c.ID, m.User.ID); err != nil {
		if _, _, ok := userError(err); ok {
			return err
		}
		return fmt.Errorf("remove user %d from cohort %d: %w", m.User.ID, c.ID, err)
	}
	return redirect(w, r, cohortURL(c.ID))
}

// serveMoveMember moves a learner to another cohort the user also teaches.
func (s *Server) serveMoveMember(w http.ResponseWriter, r *http.Request) error {
	c, m, err := s.member(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	to, err := strconv.ParseInt(r.PostFormValue("to"), 10, 64)
	if err != nil || to <= 0 {
		return faultline.Errorf(faultline.EINVALID, "Choose a cohort to move to.")
	}
	ok, err := s.teaches(r, to)
	if err != nil {
		return err
	}
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "You can move learners only to a cohort you teach.")
	}
	if err := s.d.Cohorts.MoveMember(r.Context(), m.User.ID, c.ID, to); err != nil {
		if _, _, ok := userError(err); ok {
			return err
		}
		return fmt.Errorf("move user %d from cohort %d to %d: %w", m.User.ID, c.ID, to, err)
	}
	return redirect(w, r, cohortURL(c.ID))
}

// rosterRoutes adds the cohort management and lab settings routes (inside
// requireTeacher; each handler checks that the user teaches the cohort).
func (s *Server) rosterRoutes(r chi.Router) {
	r.Post("/cohorts/{id}/invite", s.h(s.serveInvite))
	r.Post("/cohorts/{id}/members/{user}/role", s.h(s.serveMemberRole))
	r.Get("/cohorts/{id}/members/{user}/remove", s.h(s.serveRemoveMemberPage))
	r.Post("/cohorts/{id}/members/{user}/remove", s.h(s.serveRemoveMember))
	r.Post("/cohorts/{id}/members/{user}/move", s.h(s.serveMoveMember))
	r.Get("/cohorts/{id}/labs/{slug}/settings", s.h(s.serveLabSettings))
	r.Post("/cohorts/{id}/labs/{slug}/settings", s.h(s.serveLabSettingsPost))
}

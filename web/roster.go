package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
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
func (s *Server) rosterView(viewer *faultline.User, c *faultline.Cohort, members []*faultline.Member, taught []*faultline.Cohort) views.RosterView {
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
		if s.d.Recovery != nil && !s.d.SSOOnly && course.MayIssueResetLink(viewer, mem) {
			row.ResetURL = base + strconv.FormatInt(mem.User.ID, 10) + "/reset-link"
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
	v.Targets = moveTargets(c, taught)
	for _, l := range s.d.Labs.All() {
		v.Labs = append(v.Labs, views.SettingsLink{Title: l.Title, URL: labSettingsURL(c.ID, l.Slug)})
	}
	return v
}

// moveTargets are the cohorts a learner of c may be moved to: the others
// the viewer teaches.
func moveTargets(c *faultline.Cohort, taught []*faultline.Cohort) []views.MoveTarget {
	var out []views.MoveTarget
	for _, o := range taught {
		if o.ID != c.ID {
			out = append(out, views.MoveTarget{ID: strconv.FormatInt(o.ID, 10), Name: o.Name})
		}
	}
	return out
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
	viewer := UserFromContext(r.Context())
	switch formValue(r, "action") {
	case "expiry":
		expires, err := parseUTC(formValue(r, "expires"), "The expiry")
		if err != nil {
			return err
		}
		_, err = s.c.SetInviteExpiry(r.Context(), viewer, c.ID, expires)
		if err != nil {
			return err
		}
	case "regenerate":
		if _, err := s.c.RegenerateInvite(r.Context(), viewer, c.ID); err != nil {
			return err
		}
	default:
		return faultline.Errorf(faultline.EINVALID, "Choose to set the expiry or to regenerate the link.")
	}
	return redirect(w, r, cohortURL(c.ID))
}

// memberTarget reads the cohort and member IDs of the URL.
func memberTarget(r *http.Request) (cohortID, userID int64, err error) {
	cohortID, ok := course.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return 0, 0, faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	}
	userID, ok = course.ParseID(chi.URLParam(r, "user"))
	if !ok {
		return 0, 0, faultline.Errorf(faultline.ENOTFOUND, "That user is not a member of this cohort.")
	}
	return cohortID, userID, nil
}

// serveMemberRole switches a member between learner and co-instructor. The
// cohort's instructor keeps their role.
func (s *Server) serveMemberRole(w http.ResponseWriter, r *http.Request) error {
	cid, uid, err := memberTarget(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	role := faultline.MemberRole(formValue(r, "role"))
	if err := s.c.SetMemberRole(r.Context(), UserFromContext(r.Context()), cid, uid, role); err != nil {
		return err
	}
	return redirect(w, r, cohortURL(cid))
}

// serveRemoveMemberPage asks to confirm a removal.
func (s *Server) serveRemoveMemberPage(w http.ResponseWriter, r *http.Request) error {
	cid, uid, err := memberTarget(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	m, err := s.c.Member(r.Context(), viewer, cid, uid)
	if err != nil {
		return err
	}
	c, err := s.c.Cohort(r.Context(), viewer, cid)
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

// serveRemoveMember takes a member off the roster; their work is kept.
func (s *Server) serveRemoveMember(w http.ResponseWriter, r *http.Request) error {
	cid, uid, err := memberTarget(r)
	if err != nil {
		return err
	}
	if err := s.c.RemoveMember(r.Context(), UserFromContext(r.Context()), cid, uid); err != nil {
		return err
	}
	return redirect(w, r, cohortURL(cid))
}

// serveMoveMember moves a learner to another cohort the user also teaches.
func (s *Server) serveMoveMember(w http.ResponseWriter, r *http.Request) error {
	cid, uid, err := memberTarget(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	to, _ := course.ParseID(formValue(r, "to"))
	if err := s.c.MoveMember(r.Context(), UserFromContext(r.Context()), cid, uid, to); err != nil {
		return err
	}
	return redirect(w, r, cohortURL(cid))
}

// rosterRoutes adds the cohort management and lab settings routes (inside
// requireTeacher; each handler checks that the user teaches the cohort).
func (s *Server) rosterRoutes(r chi.Router) {
	r.Post("/cohorts/{id}/invite", s.h(s.serveInvite))
	r.Post("/cohorts/{id}/members/{user}/role", s.h(s.serveMemberRole))
	r.Get("/cohorts/{id}/members/{user}/remove", s.h(s.serveRemoveMemberPage))
	r.Post("/cohorts/{id}/members/{user}/remove", s.h(s.serveRemoveMember))
	r.Post("/cohorts/{id}/members/{user}/move", s.h(s.serveMoveMember))
	r.Post("/cohorts/{id}/members/{user}/reset-link", s.h(s.serveResetLink))
	r.Get("/cohorts/{id}/labs/{slug}/settings", s.h(s.serveLabSettings))
	r.Post("/cohorts/{id}/labs/{slug}/settings", s.h(s.serveLabSettingsPost))
}

// serveResetLink makes a one-time password reset link for a member and
// shows it once, for the teacher to hand over (no email is sent). The link
// is never logged; the page is not cached.
func (s *Server) serveResetLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.linksEnabled(); err != nil { // password.go
		return err
	}
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	uid, ok := course.ParseID(chi.URLParam(r, "user"))
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "That user is not a member of this cohort.")
	}
	iss, err := s.c.IssueResetLink(r.Context(), UserFromContext(r.Context()), c.ID, uid)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ResetLink(views.ResetLinkPage{
		Page: s.page(r, "Reset link for "+iss.User.Name, "cohorts"), Cohort: c.Name, CohortURL: cohortURL(c.ID),
		Name: iss.User.Name, Email: iss.User.Email,
		Link:    strings.TrimRight(s.d.BaseURL, "/") + "/password/reset?token=" + url.QueryEscape(iss.Token),
		Expires: fmtTime(iss.Expires),
	}))
}

package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// Discussion groups (staff): split the cohort at random or by hand, and a
// case study's groups side by side.

func (s *Server) groupRoutes(r chi.Router) {
	r.Get("/cohorts/{id}/groups", s.h(s.serveGroups))
	r.Post("/cohorts/{id}/groups/split", s.h(s.serveSplitGroups))
	r.Post("/cohorts/{id}/groups/new", s.h(s.serveNewGroup))
	r.Post("/cohorts/{id}/groups/move", s.h(s.serveMoveToGroup))
	r.Get("/cohorts/{id}/cases/{case}", s.h(s.serveCaseBoard))
}

func groupsURL(cohortID int64) string { return cohortURL(cohortID) + "/groups" }

var groupNotices = map[string]string{
	"split": "The cohort is split into new groups.",
	"new":   "The group is added; move learners into it below.",
	"moved": "Moved.",
}

func (s *Server) groupsModel(r *http.Request, cid int64) (views.GroupsPage, error) {
	pg, err := s.c.Groups(r.Context(), UserFromContext(r.Context()), cid)
	if err != nil {
		return views.GroupsPage{}, err
	}
	base := groupsURL(cid)
	m := views.GroupsPage{
		Page: s.page(r, "Groups · "+pg.Cohort.Name, "cohorts"), CohortID: cid, CohortName: pg.Cohort.Name,
		CohortURL: cohortURL(cid), SplitURL: base + "/split", NewURL: base + "/new", MoveURL: base + "/move",
		Notice: noticeOf(r, groupNotices), Size: "4",
	}
	m.Options = append(m.Options, views.Choice{Value: "0", Label: "no group"})
	for _, g := range pg.Groups {
		gv := views.GroupView{ID: g.Group.ID, Name: g.Group.Name}
		for _, u := range g.Members {
			gv.Members = append(gv.Members, views.MemberLine{ID: u.ID, Name: u.Name})
		}
		m.Groups = append(m.Groups, gv)
		m.Options = append(m.Options, views.Choice{Value: strconv.FormatInt(g.Group.ID, 10), Label: g.Group.Name})
	}
	for _, u := range pg.Ungrouped {
		m.Ungrouped = append(m.Ungrouped, views.MemberLine{ID: u.ID, Name: u.Name})
	}
	for _, l := range s.d.Content.Cases() {
		if len(l.Discussion) > 0 {
			m.Cases = append(m.Cases, views.Link{Label: l.Title, URL: cohortURL(cid) + "/cases/" + url.PathEscape(l.Slug)})
		}
	}
	return m, nil
}

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	m, err := s.groupsModel(r, cid)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Groups(m))
}

// groupsFailed re-shows the groups page with the error, or returns err
// when it is not the user's to fix.
func (s *Server) groupsFailed(w http.ResponseWriter, r *http.Request, cid int64, err error) error {
	code := faultline.ErrorCode(err)
	if code != faultline.EINVALID && code != faultline.ECONFLICT {
		return err
	}
	m, merr := s.groupsModel(r, cid)
	if merr != nil {
		return err
	}
	m.Error = faultline.ErrorMessage(err)
	if v := r.PostFormValue("size"); v != "" {
		m.Size = v
	}
	return s.render(w, r, statusOf(code), views.Groups(m))
}

func (s *Server) serveSplitGroups(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	size, convErr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("size")))
	if convErr != nil {
		size = 0
	}
	if _, err := s.c.SplitGroups(r.Context(), UserFromContext(r.Context()), cid, size); err != nil {
		return s.groupsFailed(w, r, cid, err)
	}
	return redirect(w, r, groupsURL(cid)+"?notice=split")
}

func (s *Server) serveNewGroup(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	if _, err := s.c.NewGroup(r.Context(), UserFromContext(r.Context()), cid, r.PostFormValue("name")); err != nil {
		return s.groupsFailed(w, r, cid, err)
	}
	return redirect(w, r, groupsURL(cid)+"?notice=new")
}

func (s *Server) serveMoveToGroup(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	uid, err := formID(r, "user")
	if err != nil {
		return err
	}
	gid, err := formID(r, "group")
	if err != nil {
		return err
	}
	if err := s.c.MoveToGroup(r.Context(), UserFromContext(r.Context()), cid, uid, gid); err != nil {
		return s.groupsFailed(w, r, cid, err)
	}
	return redirect(w, r, groupsURL(cid)+"?notice=moved")
}

func (s *Server) serveCaseBoard(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	b, err := s.c.CaseBoard(r.Context(), UserFromContext(r.Context()), cid, chi.URLParam(r, "case"))
	if err != nil {
		return err
	}
	m := views.CaseBoardPage{
		Page: s.page(r, b.Case.Title+" · groups", "cohorts"), CohortName: b.Cohort.Name, GroupsURL: groupsURL(cid),
		Case: b.Case.Title, CaseURL: "/cases/" + url.PathEscape(b.Case.Slug),
	}
	for _, g := range b.Groups {
		m.Groups = append(m.Groups, g.Group.Name)
	}
	for _, p := range b.Prompts {
		bp := views.BoardPrompt{N: p.N, Text: p.Text}
		for i, tp := range p.Threads {
			g := b.Groups[i].Group
			cell := views.BoardCell{Group: g.Name, GroupID: g.ID,
				StartURL: fmt.Sprintf("%s/cases/%s/prompts/%d", discussURL(cid), url.PathEscape(b.Case.Slug), p.N)}
			if tp != nil {
				cell.URL = course.ThreadURL(cid, tp.Thread.ID)
				cell.Shared = tp.Thread.Shared
				cell.ShareURL = cell.URL + "/flags"
				for _, pv := range tp.Replies {
					cell.Posts = append(cell.Posts, postViewOf(cid, tp.Thread.ID, pv, false))
				}
			}
			bp.Cells = append(bp.Cells, cell)
		}
		m.Prompts = append(m.Prompts, bp)
	}
	return s.render(w, r, http.StatusOK, views.CaseBoard(m))
}

// cohortID is the cohort ID in a /cohorts/{id} URL; ENOTFOUND when it is
// not one.
func cohortID(r *http.Request) (int64, error) {
	id, ok := course.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return 0, faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	}
	return id, nil
}

package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// Moderation and regrade requests (staff): held, reported and hidden
// posts with the audit log, and learners' regrade requests with the forms
// that answer them.

func (s *Server) moderationRoutes(r chi.Router) {
	r.Get("/cohorts/{id}/moderation", s.h(s.serveModeration))
	r.Get("/cohorts/{id}/requests", s.h(s.serveRequests))
	r.Post("/cohorts/{id}/requests/{rid}", s.h(s.serveAnswerRequest))
}

func heldLines(cid int64, hs []course.HeldPost) []views.HeldLine {
	out := make([]views.HeldLine, 0, len(hs))
	for _, h := range hs {
		pv := postViewOf(cid, h.Thread.ID, h.Post, false)
		pv.CanReply, pv.CanReport, pv.CanEdit, pv.CanDelete, pv.CanAnswer, pv.CanEndorse = false, false, false, false, false, false
		pv.ModerateURL += "?back=moderation"
		out = append(out, views.HeldLine{Post: pv, Thread: h.Thread.Title, ThreadURL: course.ThreadURL(cid, h.Thread.ID), Reasons: h.Reasons})
	}
	return out
}

func (s *Server) serveModeration(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	pg, err := s.c.Moderation(r.Context(), UserFromContext(r.Context()), cid)
	if err != nil {
		return err
	}
	m := views.ModerationPage{
		Page: s.page(r, "Moderation · "+pg.Cohort.Name, "cohorts"), CohortName: pg.Cohort.Name, CohortURL: cohortURL(cid),
		Held: heldLines(cid, pg.Held), Reported: heldLines(cid, pg.Reported), Hidden: heldLines(cid, pg.Hidden),
	}
	for _, a := range pg.Audit {
		m.Audit = append(m.Audit, views.AuditRow{When: fmtTime(a.CreatedAt), Actor: a.Actor, Action: a.Action, Target: a.Target, Detail: a.Detail})
	}
	return s.render(w, r, http.StatusOK, views.Moderation(m))
}

// requestRow is a regrade request for a page; action is where staff answer
// it ("" for the learner, or once answered).
func (s *Server) requestRow(rv course.RequestView, action string) views.RequestRow {
	q := views.RequestRow{
		ID: rv.ID, Learner: rv.Learner, Lab: s.labTitle(rv.Lab), Test: rv.Test, Reason: rv.Reason,
		SubmissionURL: submissionURL(rv.SubmissionID), Created: fmtTime(rv.CreatedAt), State: string(rv.State),
		Outcome: string(rv.Outcome), Answer: rv.Answer, AnsweredBy: rv.AnsweredBy, Answered: fmtTime(rv.AnsweredAt),
	}
	if rv.State == faultline.RequestOpen {
		q.Action = action
	}
	return q
}

var requestNotices = map[string]string{"answered": "The answer is sent; the learner is notified."}

func (s *Server) serveRequests(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	c, err := s.c.Cohort(r.Context(), viewer, cid)
	if err != nil {
		return err
	}
	reqs, err := s.c.RegradeRequests(r.Context(), viewer, cid, false)
	if err != nil {
		return err
	}
	m := views.RequestsPage{Page: s.page(r, "Regrade requests · "+c.Name, "cohorts"), CohortName: c.Name, CohortURL: cohortURL(cid),
		Notice: noticeOf(r, requestNotices)}
	for _, rv := range reqs {
		row := s.requestRow(rv, course.RequestsURL(cid)+"/"+strconv.FormatInt(rv.ID, 10))
		if rv.State == faultline.RequestOpen {
			m.Open = append(m.Open, row)
		} else {
			m.Done = append(m.Done, row)
		}
	}
	return s.render(w, r, http.StatusOK, views.Requests(m))
}

func (s *Server) serveAnswerRequest(w http.ResponseWriter, r *http.Request) error {
	cid, err := cohortID(r)
	if err != nil {
		return err
	}
	rid, err := pathID(r, "rid")
	if err != nil {
		return err
	}
	points, _ := strconv.Atoi(r.PostFormValue("points"))
	if _, err := s.c.AnswerRegradeRequest(r.Context(), UserFromContext(r.Context()), cid, rid,
		r.PostFormValue("decision"), r.PostFormValue("answer"), points); err != nil {
		return err
	}
	return redirect(w, r, course.RequestsURL(cid)+"?notice=answered")
}

// conversationPanel builds the instructor dashboard's discussion numbers
// from what course.CohortPage gathered.
func conversationPanel(cid int64, st *course.ConversationStats) *views.ConversationPanel {
	if st == nil {
		return nil
	}
	p := &views.ConversationPanel{
		Unanswered: st.Unanswered, Unresolved: st.Unresolved, Answered: st.StaffAnswered, OpenRequests: st.OpenRequests,
		Held: st.Held, Reported: st.Reported, DiscussURL: discussURL(cid), Unanswer: indexLink(cid, course.FilterUnanswered, "", ""),
		RequestsURL: course.RequestsURL(cid), ModerateURL: course.ModerationURL(cid), GroupsURL: groupsURL(cid),
	}
	if st.StaffAnswered > 0 {
		p.MedianFirst = waitText(st.MedianFirstStaff)
	}
	return p
}

// waitText writes a wait for people: "45 s", "12 min", "3 h 20 min", "2 d 4 h".
func waitText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return strconv.Itoa(h) + " h"
		}
		return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return strconv.Itoa(days) + " d"
	}
	return strconv.Itoa(days) + " d " + strconv.Itoa(h) + " h"
}

package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// A cohort's discussions: the index with filters and search, threads with
// their posts (live over SSE), the forms that write, and the discussion
// panel of lesson, case study and lab pages. Every handler parses, calls
// one course verb and renders; who may see or do what is decided there.

// conversationRoutes adds the discussion, feedback, inbox and office-hours
// routes every signed-in user reaches (each verb checks more).
func (s *Server) conversationRoutes(r chi.Router) {
	r.Get("/discuss", s.h(s.serveDiscussHome))
	r.Get("/discuss/{cid}", s.h(s.serveDiscussIndex))
	r.Get("/discuss/{cid}/events", s.h(s.serveDiscussEvents))
	r.Get("/discuss/{cid}/new", s.h(s.serveNewThread))
	r.Post("/discuss/{cid}/threads", s.h(s.serveCreateThread))
	r.Get("/discuss/{cid}/threads/{tid}", s.h(s.serveThread))
	r.Get("/discuss/{cid}/threads/{tid}/events", s.h(s.serveThreadEvents))
	r.Post("/discuss/{cid}/threads/{tid}/posts", s.h(s.serveReply))
	r.Post("/discuss/{cid}/threads/{tid}/read", s.h(s.serveMarkThreadRead))
	r.Post("/discuss/{cid}/threads/{tid}/vote", s.h(s.serveVote))
	r.Post("/discuss/{cid}/threads/{tid}/answer", s.h(s.serveMarkAnswer))
	r.Post("/discuss/{cid}/threads/{tid}/flags", s.h(s.serveThreadFlag))
	r.Get("/discuss/{cid}/threads/{tid}/run/{n}/{name}", s.h(s.serveRunPicture))
	r.Get("/discuss/{cid}/posts/{pid}/edit", s.h(s.serveEditPost))
	r.Post("/discuss/{cid}/posts/{pid}/edit", s.h(s.serveEditPostPost))
	r.Get("/discuss/{cid}/posts/{pid}/history", s.h(s.servePostHistory))
	r.Post("/discuss/{cid}/posts/{pid}/delete", s.h(s.serveDeletePost))
	r.Post("/discuss/{cid}/posts/{pid}/endorse", s.h(s.serveEndorse))
	r.Post("/discuss/{cid}/posts/{pid}/report", s.h(s.serveReport))
	r.Post("/discuss/{cid}/posts/{pid}/moderate", s.h(s.serveModerate))
	r.Post("/discuss/{cid}/cases/{case}/prompts/{n}", s.h(s.serveStartPrompt))
	s.feedbackRoutes(r)          // feedback.go
	s.inboxRoutes(r)             // inbox.go
	s.officeHourLearnerRoutes(r) // officehours.go
}

// conversationTeacherRoutes adds the staff pages under /cohorts/{id}
// (behind requireTeacher; each verb checks the cohort).
func (s *Server) conversationTeacherRoutes(r chi.Router) {
	s.groupRoutes(r)           // groups.go
	s.moderationRoutes(r)      // moderation.go
	s.feedbackTeacherRoutes(r) // feedback.go
	s.officeHourRoutes(r)      // officehours.go
}

var errNoThread = faultline.Errorf(faultline.ENOTFOUND, "There is no such thread.")

func discussURL(cohortID int64) string { return "/discuss/" + strconv.FormatInt(cohortID, 10) }

// pathID reads a positive ID from the URL parameter; ENOTFOUND otherwise.
func pathID(r *http.Request, name string) (int64, error) {
	id, ok := course.ParseID(chi.URLParam(r, name))
	if !ok {
		return 0, faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	}
	return id, nil
}

// pathIDs reads the cohort and one more ID from the URL.
func pathIDs(r *http.Request, other string) (int64, int64, error) {
	cid, err := pathID(r, "cid")
	if err != nil {
		return 0, 0, err
	}
	id, err := pathID(r, other)
	return cid, id, err
}

// formID reads an ID field of a form: 0 when empty, EINVALID when not a number.
func formID(r *http.Request, name string) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" || v == "0" {
		return 0, nil
	}
	id, ok := course.ParseID(v)
	if !ok {
		return 0, faultline.Errorf(faultline.EINVALID, "The form's %s is not valid.", name)
	}
	return id, nil
}

func formBool(r *http.Request, name string) bool {
	v := r.PostFormValue(name)
	return v == "1" || v == "on" || v == "true"
}

// placeURL is the page of a place ("" for the cohort).
func placeURL(p faultline.Place) string {
	switch p.Kind {
	case faultline.PlaceLab:
		return labURL(p.Slug)
	case faultline.PlaceLesson:
		return "/lessons/" + url.PathEscape(p.Slug)
	case faultline.PlaceCase:
		return "/cases/" + url.PathEscape(p.Slug)
	}
	return ""
}

func authorView(a course.Author) views.AuthorView {
	return views.AuthorView{Name: a.Name, Self: a.Self, Staff: a.Staff, AnonNote: a.Anonymous && a.ID != 0}
}

func threadRowView(tv *course.ThreadView) views.ThreadRow {
	t := tv.Thread
	return views.ThreadRow{
		ID: t.ID, URL: course.ThreadURL(t.CohortID, t.ID), Title: t.Title, Kind: string(t.Kind), Place: tv.PlaceTitle,
		Author: authorView(tv.Author), Replies: t.Replies, Unread: t.Unread, Votes: t.Votes,
		Answered: t.Answered(), Resolved: t.Resolved(), Pinned: t.Pinned, Locked: t.Locked, Private: t.Private,
		Group: tv.GroupName, Shared: t.Shared, HasRun: t.Run != nil, Activity: fmtAgo(t.LastActivityAt, time.Now()),
	}
}

// fmtAgo says how long ago t was, for lists; the full time past a week.
func fmtAgo(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute ago", "minutes ago")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour ago", "hours ago")
	case d < 7*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day ago", "days ago")
	}
	return fmtTime(t)
}

// postViewOf maps a post as the course layer let the viewer see it.
func postViewOf(cid, tid int64, p *course.PostView, anonReply bool) views.PostView {
	pid := strconv.FormatInt(p.Post.ID, 10)
	base := discussURL(cid) + "/posts/" + pid
	v := views.PostView{
		ID: p.Post.ID, Anchor: "post-" + pid, Opening: p.Post.Opening, Author: authorView(p.Author),
		HTML: p.Post.HTML, State: string(p.Post.State), HeldReason: p.Post.HeldReason,
		Created: fmtTime(p.Post.CreatedAt), Edited: fmtTime(p.Post.EditedAt), EndorsedBy: p.EndorsedBy, Answer: p.Answer,
		Reports: p.Reports, CanEdit: p.CanEdit, CanDelete: p.CanDelete, CanEndorse: p.CanEndorse, CanAnswer: p.CanAnswer,
		CanModerate: p.CanModerate, CanReport: p.CanReport, CanReply: p.CanReply, CanHistory: p.CanHistory, AnonReply: anonReply,
		EditURL: base + "/edit", DeleteURL: base + "/delete", EndorseURL: base + "/endorse", ReportURL: base + "/report",
		ModerateURL: base + "/moderate", HistoryURL: base + "/history",
		AnswerURL: course.ThreadURL(cid, tid) + "/answer", ReplyURL: course.ThreadURL(cid, tid) + "/posts",
	}
	for _, r := range p.Replies {
		v.Replies = append(v.Replies, postViewOf(cid, tid, r, anonReply))
	}
	return v
}

func (s *Server) runView(cid, tid int64, run *faultline.RunAttachment) *views.FailingRunView {
	if run == nil {
		return nil
	}
	v := &views.FailingRunView{
		Lab: run.Lab, LabTitle: s.labTitle(run.Lab), LabURL: labURL(run.Lab), Test: run.Test, Hidden: run.Hidden,
		Verdict: string(run.Verdict), Status: string(run.Status), Score: scoreString(run.Score, run.MaxScore),
		Message: run.Message, Report: run.Report, Faults: run.Faults, FailedRun: run.FailedRun,
	}
	if run.Seed != 0 {
		v.Seed = strconv.FormatInt(run.Seed, 10)
	}
	if run.SubmissionID != 0 {
		v.SubmissionURL = submissionURL(run.SubmissionID)
	}
	for i, p := range run.Pictures {
		u := fmt.Sprintf("%s/run/%d/%s", course.ThreadURL(cid, tid), i, url.PathEscape(p.Name))
		if tid == 0 { // a preview: the picture is still the submission's
			u = ""
		}
		v.Pictures = append(v.Pictures, views.PictureView{Test: run.Test, Name: p.Name, URL: u})
	}
	return v
}

// ---- The index ----

func (s *Server) serveDiscussHome(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.c.DiscussionCohorts(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return err
	}
	if len(cs) == 1 {
		return redirect(w, r, discussURL(cs[0].Cohort.ID))
	}
	m := views.DiscussCohortsPage{Page: s.page(r, "Discussions", "discuss")}
	for _, c := range cs {
		m.Cohorts = append(m.Cohorts, views.Link{Label: c.Cohort.Name, URL: discussURL(c.Cohort.ID), Count: c.Unread})
	}
	return s.render(w, r, http.StatusOK, views.DiscussCohorts(m))
}

// indexQuery reads the index's filter, place and search from the URL.
func indexQuery(r *http.Request) (course.ThreadQuery, string, error) {
	q := r.URL.Query()
	tq := course.ThreadQuery{Filter: q.Get("filter"), Search: strings.TrimSpace(q.Get("q"))}
	place := q.Get("place")
	if place != "" {
		p, err := faultline.ParsePlace(place)
		if err != nil {
			return tq, "", err
		}
		tq.Place = &p
	}
	return tq, place, nil
}

func indexLink(cid int64, filter, place, q string) string {
	v := url.Values{}
	if filter != "" {
		v.Set("filter", filter)
	}
	if place != "" {
		v.Set("place", place)
	}
	if q != "" {
		v.Set("q", q)
	}
	if len(v) == 0 {
		return discussURL(cid)
	}
	return discussURL(cid) + "?" + v.Encode()
}

func (s *Server) serveDiscussIndex(w http.ResponseWriter, r *http.Request) error {
	cid, err := pathID(r, "cid")
	if err != nil {
		return err
	}
	tq, place, err := indexQuery(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	ctx := r.Context()
	version, err := s.c.DiscussionVersion(ctx, viewer, cid, false)
	if err != nil {
		return err
	}
	list, err := s.c.Threads(ctx, viewer, cid, tq)
	if err != nil {
		return err
	}
	m := views.DiscussIndexPage{
		Page: s.page(r, "Discussions · "+list.Cohort.Name, "discuss"), CohortID: cid, CohortName: list.Cohort.Name,
		Staff: list.Staff, Search: tq.Search, Filter: tq.Filter, Place: place, Unread: list.Unread,
		NewURL: discussURL(cid) + "/new",
	}
	if place != "" {
		m.NewURL += "?place=" + url.QueryEscape(place)
	}
	rq := r.URL.Query()
	rq.Set("v", strconv.FormatInt(version, 10))
	m.EventsURL = discussURL(cid) + "/events?" + rq.Encode()
	for _, f := range []struct{ key, label string }{
		{course.FilterAll, "All"}, {course.FilterUnanswered, "Unanswered"}, {course.FilterUnresolved, "Unresolved"},
		{course.FilterUnread, "Unread"}, {course.FilterMine, "Mine"},
	} {
		m.Filters = append(m.Filters, views.Link{Label: f.label, URL: indexLink(cid, f.key, place, tq.Search), Active: f.key == tq.Filter})
	}
	for _, p := range list.Places {
		m.Places = append(m.Places, views.Link{Label: p.Title, URL: p.Place.String(), Active: p.Place.String() == place, Count: p.N})
	}
	for _, tv := range list.Threads {
		m.Threads = append(m.Threads, threadRowView(tv))
	}
	if list.Staff {
		stats, err := s.c.ConversationStats(ctx, viewer, cid)
		if err != nil {
			return err
		}
		m.StaffLinks = []views.Link{
			{Label: "Groups", URL: cohortURL(cid) + "/groups"},
			{Label: "Moderation", URL: course.ModerationURL(cid), Count: stats.Held + stats.Reported},
			{Label: "Regrade requests", URL: course.RequestsURL(cid), Count: stats.OpenRequests},
		}
	} else if g, err := s.c.MyGroup(ctx, viewer, cid); err != nil {
		return err
	} else if g != nil {
		m.Group = g.Group.Name
	}
	cs, err := s.c.DiscussionCohorts(ctx, viewer)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Cohort.ID != cid {
			m.Cohorts = append(m.Cohorts, views.Link{Label: c.Cohort.Name, URL: discussURL(c.Cohort.ID), Count: c.Unread})
		}
	}
	return s.render(w, r, http.StatusOK, views.DiscussIndex(m))
}

// sseStart answers with an event stream that outlives the write timeout.
func sseStart(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return rc
}

// follow polls version every PollInterval and, whenever it differs from
// the version the page was rendered at (from), calls send; it ends when
// the client goes, the stream limit passes, or send or version fails.
func (s *Server) follow(ctx context.Context, w http.ResponseWriter, from int64, version func(known bool) (int64, error), send func() error) error {
	if _, err := version(false); err != nil {
		return err
	}
	rc := sseStart(w)
	_ = rc.Flush()
	limit := time.NewTimer(s.StreamLimit)
	defer limit.Stop()
	tick := time.NewTicker(s.PollInterval)
	defer tick.Stop()
	last := from
	for {
		v, err := version(true)
		if err != nil {
			return nil // the thread or cohort went away: end the stream
		}
		if v != last {
			last = v
			if err := send(); err != nil {
				if ctx.Err() != nil || faultline.ErrorCode(err) != faultline.EINTERNAL {
					return nil // gone, or no longer theirs to see
				}
				return err
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-limit.C:
			return nil
		case <-tick.C:
		}
	}
}

// renderString renders a fragment to a string.
func renderString(ctx context.Context, c templ.Component) (string, error) {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// serveDiscussEvents streams the index's thread list as Server-Sent Events:
// a "threads" event with the rendered list (as the viewer may see it)
// whenever anything in the cohort's discussions changes.
func (s *Server) serveDiscussEvents(w http.ResponseWriter, r *http.Request) error {
	cid, err := pathID(r, "cid")
	if err != nil {
		return err
	}
	tq, place, err := indexQuery(r)
	if err != nil {
		return err
	}
	from, _ := strconv.ParseInt(r.URL.Query().Get("v"), 10, 64)
	viewer := UserFromContext(r.Context())
	ctx := r.Context()
	return s.follow(ctx, w, from, func(known bool) (int64, error) {
		return s.c.DiscussionVersion(ctx, viewer, cid, known)
	}, func() error {
		list, err := s.c.Threads(ctx, viewer, cid, tq)
		if err != nil {
			return err
		}
		rows := make([]views.ThreadRow, 0, len(list.Threads))
		for _, tv := range list.Threads {
			rows = append(rows, threadRowView(tv))
		}
		html, err := renderString(ctx, views.ThreadList(rows, tq.Search != "" || tq.Filter != "" || place != ""))
		if err != nil {
			return fmt.Errorf("render thread list: %w", err)
		}
		return writeEvent(w, "threads", html)
	})
}

// ---- A thread ----

var threadNotices = map[string]string{
	"posted":    "Posted.",
	"edited":    "Saved.",
	"deleted":   "The post was deleted.",
	"reported":  "Thanks: staff will look at the post.",
	"endorsed":  "Endorsed.",
	"answer":    "The answer is marked.",
	"voted":     "Noted.",
	"flags":     "Saved.",
	"moderated": "Done.",
}

// threadModel builds a thread page for the viewer.
func (s *Server) threadModel(r *http.Request, cid, tid int64) (views.ThreadPageModel, error) {
	viewer := UserFromContext(r.Context())
	pg, err := s.c.Thread(r.Context(), viewer, cid, tid)
	if err != nil {
		return views.ThreadPageModel{}, err
	}
	t := pg.Thread
	tu := course.ThreadURL(cid, tid)
	anonReply := !pg.Staff
	m := views.ThreadPageModel{
		Page: s.page(r, t.Title, "discuss"), CohortName: pg.Cohort.Name, IndexURL: discussURL(cid),
		Head: views.ThreadHead{
			ID: t.ID, Title: t.Title, Kind: string(t.Kind), Place: pg.PlaceTitle, PlaceURL: placeURL(t.Place),
			Author: authorView(pg.Author), Created: fmtTime(t.CreatedAt), Pinned: t.Pinned, Locked: t.Locked,
			Private: t.Private, Anonymous: t.Anonymous, Group: pg.GroupName, Shared: t.Shared, SharedRead: pg.SharedGroup,
			Prompt: pg.Prompt, Resolved: t.Resolved(), Votes: t.Votes, Voted: pg.Voted, CanVote: pg.CanVote,
		},
		Run: s.runView(cid, tid, t.Run), Posts: threadPosts(cid, pg, anonReply), Staff: pg.Staff, CanPost: pg.CanPost,
		AnonReply: anonReply, ReplyURL: tu + "/posts", VoteURL: tu + "/vote", ReadURL: tu + "/read", FlagsURL: tu + "/flags",
		EventsURL: tu + "/events?v=" + strconv.FormatInt(t.Version, 10), Notice: noticeOf(r, threadNotices),
	}
	if t.AuthorID == 0 && t.GroupID != 0 {
		m.Head.Author = views.AuthorView{}
	}
	if r.URL.Query().Get("notice") == "held" {
		for _, p := range allPosts(m.Posts) {
			if p.State == "held" && p.Author.Self {
				m.Held = p.HeldReason
			}
		}
	}
	return m, nil
}

func allPosts(tp views.ThreadPosts) []views.PostView {
	var out []views.PostView
	var walk func(ps []views.PostView)
	walk = func(ps []views.PostView) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Replies)
		}
	}
	if tp.Opening != nil {
		out = append(out, *tp.Opening)
	}
	walk(tp.Replies)
	return out
}

func threadPosts(cid int64, pg *course.ThreadPage, anonReply bool) views.ThreadPosts {
	tp := views.ThreadPosts{ThreadID: pg.Thread.ID, Last: pg.LastPostID}
	if pg.Opening != nil {
		v := postViewOf(cid, pg.Thread.ID, pg.Opening, anonReply)
		tp.Opening = &v
	}
	for _, p := range pg.Replies {
		tp.Replies = append(tp.Replies, postViewOf(cid, pg.Thread.ID, p, anonReply))
	}
	if pg.Opening == nil && len(pg.Replies) == 0 {
		tp.Empty = "Nobody has written here yet: start your group's discussion."
	}
	return tp
}

func (s *Server) serveThread(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	m, err := s.threadModel(r, cid, tid)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Thread(m))
}

// serveThreadEvents streams a thread's posts as Server-Sent Events: a
// "posts" event with the rendered posts (as the viewer may see them)
// whenever the thread changes. Nothing of a post the viewer may not see,
// and no anonymous author's name, reaches the stream: it renders the same
// view the page does.
func (s *Server) serveThreadEvents(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	from, _ := strconv.ParseInt(r.URL.Query().Get("v"), 10, 64)
	viewer := UserFromContext(r.Context())
	ctx := r.Context()
	return s.follow(ctx, w, from, func(known bool) (int64, error) {
		return s.c.ThreadVersion(ctx, viewer, cid, tid, known)
	}, func() error {
		pg, err := s.c.Thread(ctx, viewer, cid, tid)
		if err != nil {
			return err
		}
		html, err := renderString(ctx, views.Posts(threadPosts(cid, pg, !pg.Staff)))
		if err != nil {
			return fmt.Errorf("render posts of thread %d: %w", tid, err)
		}
		return writeEvent(w, "posts", html)
	})
}

// serveReply adds a reply; a refused one re-shows the page with the text.
func (s *Server) serveReply(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	parent, err := formID(r, "parent")
	if err != nil {
		return err
	}
	body, anon := r.PostFormValue("body"), formBool(r, "anonymous")
	res, err := s.c.Reply(r.Context(), UserFromContext(r.Context()), cid, tid, parent, body, anon)
	if code := faultline.ErrorCode(err); code == faultline.EINVALID || code == faultline.EFORBIDDEN {
		m, merr := s.threadModel(r, cid, tid)
		if merr != nil {
			return err
		}
		m.Error, m.Body, m.Anonymous = faultline.ErrorMessage(err), body, anon
		return s.render(w, r, statusOf(code), views.Thread(m))
	} else if err != nil {
		return err
	}
	notice := "posted"
	if res.Held != "" {
		notice = "held"
	}
	return redirect(w, r, course.ThreadURL(cid, tid)+"?notice="+notice+"#post-"+strconv.FormatInt(res.Post.ID, 10))
}

// wantsNoContent reports whether the request came from the page's script
// (which wants 204, not a redirect).
func wantsNoContent(r *http.Request) bool {
	return r.Header.Get("X-Requested-With") == "fetch"
}

func (s *Server) serveMarkThreadRead(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	upTo, err := formID(r, "upto")
	if err != nil {
		return err
	}
	if err := s.c.MarkThreadRead(r.Context(), UserFromContext(r.Context()), cid, tid, upTo); err != nil {
		return err
	}
	if wantsNoContent(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return redirect(w, r, discussURL(cid))
}

func (s *Server) serveVote(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	if _, err := s.c.Vote(r.Context(), UserFromContext(r.Context()), cid, tid, formBool(r, "on")); err != nil {
		return err
	}
	return redirect(w, r, course.ThreadURL(cid, tid)+"?notice=voted")
}

func (s *Server) serveMarkAnswer(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	pid, err := formID(r, "post")
	if err != nil {
		return err
	}
	if _, err := s.c.MarkAnswer(r.Context(), UserFromContext(r.Context()), cid, tid, pid); err != nil {
		return err
	}
	to := course.ThreadURL(cid, tid) + "?notice=answer"
	if pid != 0 {
		to += "#post-" + strconv.FormatInt(pid, 10)
	}
	return redirect(w, r, to)
}

func (s *Server) serveThreadFlag(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	if _, err := s.c.SetThreadFlag(r.Context(), UserFromContext(r.Context()), cid, tid, r.PostFormValue("flag"), formBool(r, "on")); err != nil {
		return err
	}
	return redirect(w, r, course.ThreadURL(cid, tid)+"?notice=flags")
}

// serveRunPicture serves a picture of the run attached to a thread, to
// whoever may see the thread, as servePicture does for a submission.
func (s *Server) serveRunPicture(w http.ResponseWriter, r *http.Request) error {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(chi.URLParam(r, "n"))
	if err != nil {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
	}
	a, err := s.c.RunPicture(r.Context(), UserFromContext(r.Context()), cid, tid, n, chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", pictureCSP)
	h.Set("Content-Disposition", "inline")
	h.Set("Cache-Control", "private, max-age=3600")
	_, err = io.WriteString(w, a.SVG)
	return err
}

// ---- Starting a thread ----

// newThreadModel builds the form for the cohort: the places to choose
// from, the kinds, and the run being attached.
func (s *Server) newThreadModel(r *http.Request, cid int64, place, kind string, run *course.RunRef) (views.NewThreadPage, error) {
	viewer := UserFromContext(r.Context())
	list, err := s.c.Threads(r.Context(), viewer, cid, course.ThreadQuery{})
	if err != nil {
		return views.NewThreadPage{}, err
	}
	m := views.NewThreadPage{
		Page: s.page(r, "New thread · "+list.Cohort.Name, "discuss"), CohortName: list.Cohort.Name,
		Action: discussURL(cid) + "/threads", IndexURL: discussURL(cid), Staff: list.Staff,
	}
	if place == "" {
		place = faultline.Place{Kind: faultline.PlaceCohort}.String()
	}
	m.Places = append(m.Places, views.Choice{Value: "cohort", Label: "General: the cohort", Selected: place == "cohort"})
	for _, l := range s.d.Labs.All() {
		v := faultline.Place{Kind: faultline.PlaceLab, Slug: l.Slug}.String()
		m.Places = append(m.Places, views.Choice{Value: v, Label: "Lab: " + l.Title, Selected: v == place})
	}
	for _, l := range s.d.Content.Lessons() {
		v := faultline.Place{Kind: faultline.PlaceLesson, Slug: l.Slug}.String()
		m.Places = append(m.Places, views.Choice{Value: v, Label: "Lesson: " + l.Title, Selected: v == place})
	}
	for _, l := range s.d.Content.Cases() {
		v := faultline.Place{Kind: faultline.PlaceCase, Slug: l.Slug}.String()
		m.Places = append(m.Places, views.Choice{Value: v, Label: l.Title, Selected: v == place})
	}
	if kind == "" {
		kind = string(faultline.ThreadQuestion)
	}
	m.Kinds = []views.Choice{
		{Value: "question", Label: "Question: ask for an answer", Selected: kind == "question"},
		{Value: "discussion", Label: "Discussion: an open conversation", Selected: kind == "discussion"},
	}
	if list.Staff {
		m.Kinds = append(m.Kinds, views.Choice{Value: "announcement", Label: "Announcement: to everyone in the cohort", Selected: kind == "announcement"})
	}
	if run != nil {
		att, err := s.c.RunPreview(r.Context(), viewer, cid, *run)
		if err != nil {
			return m, err
		}
		m.Run, m.RunSub, m.RunTest = s.runView(cid, 0, att), run.SubmissionID, run.Test
		m.Title = "Why does " + att.Test + " fail?"
		m.Private = att.Hidden
	}
	return m, nil
}

// runRef reads the run to attach from the URL or form ("run", "test").
func runRef(run, test string) (*course.RunRef, error) {
	if run == "" {
		return nil, nil
	}
	id, ok := course.ParseID(run)
	ti, err := strconv.Atoi(test)
	if !ok || err != nil || ti < 0 {
		return nil, faultline.Errorf(faultline.EINVALID, "Choose a failing test of one of your submissions to attach.")
	}
	return &course.RunRef{SubmissionID: id, Test: ti}, nil
}

func (s *Server) serveNewThread(w http.ResponseWriter, r *http.Request) error {
	cid, err := pathID(r, "cid")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	run, err := runRef(q.Get("run"), q.Get("test"))
	if err != nil {
		return err
	}
	m, err := s.newThreadModel(r, cid, q.Get("place"), q.Get("kind"), run)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.NewThreadForm(m))
}

func (s *Server) serveCreateThread(w http.ResponseWriter, r *http.Request) error {
	cid, err := pathID(r, "cid")
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	run, err := runRef(r.PostFormValue("run"), r.PostFormValue("test"))
	if err != nil {
		return err
	}
	in := course.NewThread{Kind: faultline.ThreadKind(r.PostFormValue("kind")), Title: r.PostFormValue("title"),
		Body: r.PostFormValue("body"), Anonymous: formBool(r, "anonymous"), Private: formBool(r, "private"), Run: run}
	place, perr := faultline.ParsePlace(r.PostFormValue("place"))
	in.Place = place
	var res *course.Posted
	if err = perr; err == nil {
		res, err = s.c.StartThread(r.Context(), UserFromContext(r.Context()), cid, in)
	}
	if faultline.ErrorCode(err) == faultline.EINVALID {
		m, merr := s.newThreadModel(r, cid, r.PostFormValue("place"), string(in.Kind), run)
		if merr != nil {
			return err
		}
		m.Error, m.Title, m.Body, m.Anonymous, m.Private = faultline.ErrorMessage(err), in.Title, in.Body, in.Anonymous, in.Private
		return s.render(w, r, http.StatusUnprocessableEntity, views.NewThreadForm(m))
	} else if err != nil {
		return err
	}
	notice := "posted"
	if res.Held != "" {
		notice = "held"
	}
	return redirect(w, r, course.ThreadURL(cid, res.Thread.ID)+"?notice="+notice)
}

// ---- A post ----

func (s *Server) editModel(r *http.Request, cid, pid int64) (views.EditPostPage, error) {
	pv, _, err := s.c.PostHistory(r.Context(), UserFromContext(r.Context()), cid, pid)
	if err != nil {
		return views.EditPostPage{}, err
	}
	if !pv.Author.Self {
		return views.EditPostPage{}, faultline.Errorf(faultline.ENOTFOUND, "There is no such post.")
	}
	pg, err := s.c.Thread(r.Context(), UserFromContext(r.Context()), cid, pv.Post.ThreadID)
	if err != nil {
		return views.EditPostPage{}, err
	}
	return views.EditPostPage{
		Page: s.page(r, "Edit your post", "discuss"), Action: discussURL(cid) + "/posts/" + strconv.FormatInt(pid, 10) + "/edit",
		ThreadURL: course.ThreadURL(cid, pv.Post.ThreadID), Title: pg.Thread.Title, Body: pv.Post.Body,
		Held: pv.Post.State == faultline.PostHeld,
	}, nil
}

func (s *Server) serveEditPost(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	m, err := s.editModel(r, cid, pid)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.EditPost(m))
}

func (s *Server) serveEditPostPost(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	body := r.PostFormValue("body")
	res, err := s.c.EditPost(r.Context(), UserFromContext(r.Context()), cid, pid, body)
	if code := faultline.ErrorCode(err); code == faultline.EINVALID || code == faultline.EFORBIDDEN {
		m, merr := s.editModel(r, cid, pid)
		if merr != nil {
			return err
		}
		m.Error, m.Body = faultline.ErrorMessage(err), body
		return s.render(w, r, statusOf(code), views.EditPost(m))
	} else if err != nil {
		return err
	}
	notice := "edited"
	if res.Held != "" {
		notice = "held"
	}
	return redirect(w, r, course.ThreadURL(cid, res.Thread.ID)+"?notice="+notice+"#post-"+strconv.FormatInt(pid, 10))
}

func (s *Server) servePostHistory(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	pv, revs, err := s.c.PostHistory(r.Context(), viewer, cid, pid)
	if err != nil {
		return err
	}
	pg, err := s.c.Thread(r.Context(), viewer, cid, pv.Post.ThreadID)
	if err != nil {
		return err
	}
	cur := postViewOf(cid, pv.Post.ThreadID, pv, false)
	cur.CanReply, cur.CanReport, cur.CanEndorse, cur.CanAnswer, cur.CanModerate, cur.CanEdit, cur.CanDelete = false, false, false, false, false, false, false
	m := views.PostHistoryPage{Page: s.page(r, "Edit history", "discuss"), ThreadURL: course.ThreadURL(cid, pv.Post.ThreadID),
		Title: pg.Thread.Title, Current: cur}
	for _, rv := range revs {
		m.Revisions = append(m.Revisions, views.RevisionView{Body: rv.Body, Editor: authorView(rv.Editor), When: fmtTime(rv.At)})
	}
	return s.render(w, r, http.StatusOK, views.PostHistory(m))
}

func (s *Server) serveDeletePost(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	t, err := s.c.DeletePost(r.Context(), UserFromContext(r.Context()), cid, pid)
	if err != nil {
		return err
	}
	return redirect(w, r, course.ThreadURL(cid, t.ID)+"?notice=deleted")
}

func (s *Server) serveEndorse(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	t, err := s.c.Endorse(r.Context(), UserFromContext(r.Context()), cid, pid, formBool(r, "on"))
	if err != nil {
		return err
	}
	return redirect(w, r, course.ThreadURL(cid, t.ID)+"?notice=endorsed#post-"+strconv.FormatInt(pid, 10))
}

func (s *Server) serveReport(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	t, err := s.c.ReportPost(r.Context(), UserFromContext(r.Context()), cid, pid, r.PostFormValue("reason"))
	if err != nil {
		return err
	}
	return redirect(w, r, course.ThreadURL(cid, t.ID)+"?notice=reported")
}

func (s *Server) serveModerate(w http.ResponseWriter, r *http.Request) error {
	cid, pid, err := pathIDs(r, "pid")
	if err != nil {
		return err
	}
	t, err := s.c.ModeratePost(r.Context(), UserFromContext(r.Context()), cid, pid, r.PostFormValue("action"))
	if err != nil {
		return err
	}
	if r.URL.Query().Get("back") == "moderation" {
		return redirect(w, r, course.ModerationURL(cid)+"?notice=moderated")
	}
	return redirect(w, r, course.ThreadURL(cid, t.ID)+"?notice=moderated#post-"+strconv.FormatInt(pid, 10))
}

// serveStartPrompt opens the viewer's group's thread on a case prompt (a
// POST: it may create the thread) and goes there.
func (s *Server) serveStartPrompt(w http.ResponseWriter, r *http.Request) error {
	cid, err := pathID(r, "cid")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(chi.URLParam(r, "n"))
	if err != nil {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such prompt.")
	}
	gid, err := formID(r, "group")
	if err != nil {
		return err
	}
	t, err := s.c.StartPrompt(r.Context(), UserFromContext(r.Context()), cid, chi.URLParam(r, "case"), n, gid)
	if err != nil {
		return err
	}
	return redirect(w, r, course.ThreadURL(cid, t.ID)+"#reply")
}

// ---- The panel on lesson, case study and lab pages ----

// placeThreads is how many threads a page's panel lists.
const placeThreads = 8

// placeDiscussions builds the discussion panels of a page about place.
func (s *Server) placeDiscussions(r *http.Request, place faultline.Place) ([]views.PlaceDiscussionView, error) {
	viewer := UserFromContext(r.Context())
	ds, err := s.c.AtPlace(r.Context(), viewer, place)
	if err != nil {
		return nil, err
	}
	return placeDiscussionViews(place, ds), nil
}

// placeDiscussionViews are the discussion panels of a page about place
// from what course.AtPlace returned.
func placeDiscussionViews(place faultline.Place, ds []course.PlaceDiscussion) []views.PlaceDiscussionView {
	out := make([]views.PlaceDiscussionView, 0, len(ds))
	for _, d := range ds {
		cid := d.Cohort.ID
		v := views.PlaceDiscussionView{
			CohortName: d.Cohort.Name, Staff: d.Staff,
			AllURL: indexLink(cid, "", place.String(), ""),
			NewURL: discussURL(cid) + "/new?place=" + url.QueryEscape(place.String()),
		}
		for i, t := range d.Threads {
			if i == placeThreads {
				v.More = len(d.Threads) - placeThreads
				break
			}
			v.Threads = append(v.Threads, threadRowView(t))
		}
		if len(d.Prompts) > 0 {
			if d.Group != nil {
				v.Group = d.Group.Name
			}
			v.NoGroup = !d.Staff && d.Group == nil
			if d.Staff {
				v.BoardURL = fmt.Sprintf("%s/cases/%s", cohortURL(cid), url.PathEscape(place.Slug))
			}
			for _, p := range d.Prompts {
				pl := views.PromptLine{N: p.N, Text: p.Text, Posts: p.Posts}
				switch {
				case p.ThreadID != 0:
					pl.URL = course.ThreadURL(cid, p.ThreadID)
				case d.Group != nil:
					pl.StartURL = fmt.Sprintf("%s/cases/%s/prompts/%d", discussURL(cid), url.PathEscape(place.Slug), p.N)
				}
				v.Prompts = append(v.Prompts, pl)
			}
		}
		out = append(out, v)
	}
	return out
}

// searchThreads is how many threads of each cohort a site search lists.
const searchThreads = 10

// discussionHits are the threads of the viewer's cohorts matching a site
// search, as the viewer may see them.
func (s *Server) discussionHits(r *http.Request, q string) ([]views.SearchResult, error) {
	viewer := UserFromContext(r.Context())
	cs, err := s.c.DiscussionCohorts(r.Context(), viewer)
	if err != nil {
		return nil, err
	}
	var out []views.SearchResult
	for _, c := range cs {
		list, err := s.c.Threads(r.Context(), viewer, c.Cohort.ID, course.ThreadQuery{Search: q})
		if err != nil {
			return nil, err
		}
		for i, tv := range list.Threads {
			if i == searchThreads {
				break
			}
			kind := "Discussion"
			if len(cs) > 1 {
				kind += " · " + c.Cohort.Name
			}
			row := threadRowView(tv)
			out = append(out, views.SearchResult{Kind: kind, Title: row.Title, URL: row.URL, Snippet: []views.SnippetPart{
				{Text: fmt.Sprintf("%s · %s · %s", row.Place, row.Author.Name, plural(row.Replies, "reply", "replies"))},
			}})
		}
	}
	return out, nil
}

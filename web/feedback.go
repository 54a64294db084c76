package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// Feedback on a submission: comments on lines (in the file view and the
// diff) and on the whole, the learner's replies, score adjustments,
// extensions and regrade requests, and "Attach my failing run".

func (s *Server) feedbackRoutes(r chi.Router) {
	r.Post("/submissions/{id}/comments", s.h(s.serveAddComment))
	r.Post("/submissions/{id}/comments/{comment}/delete", s.h(s.serveDeleteComment))
	r.Post("/submissions/{id}/regrade-requests", s.h(s.serveRequestRegrade))
}

func (s *Server) feedbackTeacherRoutes(r chi.Router) {
	r.Post("/cohorts/{id}/learners/{uid}/labs/{slug}/adjust", s.h(s.serveAdjust))
	r.Post("/cohorts/{id}/learners/{uid}/labs/{slug}/extension", s.h(s.serveExtend))
	r.Post("/cohorts/{id}/learners/{uid}/labs/{slug}/extension/remove", s.h(s.serveRemoveExtension))
}

func commentAnchor(id int64) string { return "comment-" + strconv.FormatInt(id, 10) }

// commentViews maps comments as the course layer let the viewer see them;
// reply is where replies post ("" when the viewer may not reply).
func commentViews(subID int64, cs []*course.CommentView, reply string) []views.CommentView {
	out := make([]views.CommentView, 0, len(cs))
	for _, c := range cs {
		v := views.CommentView{
			ID: c.Comment.ID, Anchor: commentAnchor(c.Comment.ID), Author: c.Author, Staff: c.Staff, Self: c.Self,
			HTML: c.Comment.HTML, Deleted: c.Comment.Deleted, When: fmtTime(c.Comment.CreatedAt), ReplyURL: reply,
			Replies: commentViews(subID, c.Replies, ""),
		}
		if c.Comment.Path != "" {
			v.Where = fmt.Sprintf("%s line %d", c.Comment.Path, c.Comment.Line)
		}
		if c.CanDelete {
			v.DeleteURL = fmt.Sprintf("%s/comments/%d/delete", submissionURL(subID), c.Comment.ID)
		}
		if c.Comment.Deleted {
			v.ReplyURL = ""
		}
		out = append(out, v)
	}
	return out
}

// feedback is the feedback of a submission page: the panel, and the line
// comments set into the files of the review (by path).
type feedback struct {
	panel *views.FeedbackPanel
	lines map[string]map[int][]views.CommentView
	fv    *course.FeedbackView
}

// submissionFeedback builds the feedback section of a submission page from
// what course.SubmissionPage gathered: the feedback, and for the owner the
// failing runs they may attach and the cohorts a question can go to.
func (s *Server) submissionFeedback(sh *course.Shown, fv *course.FeedbackView, runs []course.RunChoice, cohorts []*faultline.Cohort) *feedback {
	sub := sh.Submission
	base := submissionURL(sub.ID)
	p := &views.FeedbackPanel{SubmissionID: sub.ID, Teacher: fv.Teacher, Own: fv.Own, CommentURL: base + "/comments"}
	p.Overall = commentViews(sub.ID, fv.Overall, base+"/comments")
	fb := &feedback{panel: p, lines: map[string]map[int][]views.CommentView{}, fv: fv}
	paths := make([]string, 0, len(fv.Lines))
	for path := range fv.Lines {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		fb.lines[path] = map[int][]views.CommentView{}
		lines := make([]int, 0, len(fv.Lines[path]))
		for n := range fv.Lines[path] {
			lines = append(lines, n)
		}
		slices.Sort(lines)
		for _, n := range lines {
			cvs := commentViews(sub.ID, fv.Lines[path][n], base+"/comments")
			fb.lines[path][n] = cvs
			p.LineComments = append(p.LineComments, cvs...)
		}
	}
	p.Held = "—"
	if fv.Held.Has {
		p.Held = scoreString(fv.Held.Score, fv.Held.MaxScore)
		if fv.Held.Adjustment != 0 {
			p.HeldNote = fmt.Sprintf("(best attempt %s, adjusted %+d)", scoreString(fv.Held.Best.Score, fv.Held.MaxScore), fv.Held.Adjustment)
		}
	}
	p.Extension = extensionText(fv.Extension, fv.Own)
	for _, a := range fv.Adjustments {
		p.Adjustments = append(p.Adjustments, adjustmentRow(a))
	}
	if fv.Teacher && fv.Cohort != nil {
		ll := learnerLabURL(fv.Cohort.ID, sub.UserID, sub.Lab)
		p.AdjustURL, p.LabPageURL = ll+"/adjust", ll
	}
	for _, rv := range fv.Requests {
		action := ""
		if fv.Teacher && fv.Cohort != nil {
			action = course.RequestsURL(fv.Cohort.ID) + "/" + strconv.FormatInt(rv.ID, 10)
		}
		row := s.requestRow(rv, action)
		if fv.Own {
			row.Learner = ""
		}
		p.Requests = append(p.Requests, row)
	}
	if fv.Own {
		p.RequestURL = base + "/regrade-requests"
		for i, name := range fv.Askable {
			p.Askable = append(p.Askable, views.Choice{Value: strconv.Itoa(i), Label: name})
		}
		for _, c := range cohorts {
			for _, run := range runs {
				u := fmt.Sprintf("%s/new?run=%d&test=%d", discussURL(c.ID), sub.ID, run.Index)
				a := views.AttachLink{Test: run.Test, URL: u, Hidden: run.Hidden}
				if len(cohorts) > 1 {
					a.Cohort = c.Name
				}
				p.AttachRuns = append(p.AttachRuns, a)
			}
		}
	}
	return fb
}

// extensionText says what an extension changes, to its learner (own) or
// their teacher.
func extensionText(e *faultline.Extension, own bool) string {
	if e == nil {
		return ""
	}
	who := "This learner has"
	if own {
		who = "You have"
	}
	t := fmt.Sprintf("%s an extension: due %s", who, fmtTime(e.DueAt))
	if e.Late != nil {
		switch e.Late.Mode {
		case faultline.LateAccept:
			t += "; late work after it counts in full"
		case faultline.LatePenalty:
			t += fmt.Sprintf("; late work after it loses %d%% a day, at most %d%%", e.Late.PercentPerDay, e.Late.CapPercent)
		case faultline.LateRefuse:
			t += "; no submissions after it"
		}
	}
	if e.MaxSubmissions != nil {
		if *e.MaxSubmissions == 0 {
			t += "; unlimited submissions"
		} else {
			t += fmt.Sprintf("; up to %d submissions", *e.MaxSubmissions)
		}
	}
	if e.Reason != "" {
		t += " (" + e.Reason + ")"
	}
	return t + "."
}

func adjustmentRow(a course.AdjustmentView) views.AdjustmentRow {
	return views.AdjustmentRow{Points: fmt.Sprintf("%+d", a.Points), Reason: a.Reason, By: a.By, When: fmtTime(a.CreatedAt)}
}

// withLineComments turns the review's files into line-by-line views with
// the comments under their lines: every file for the learner's teacher
// (who comments by clicking a line number), and the commented files for
// everyone else. open is "<file index>:<line>" from ?comment=.
func withLineComments(files []views.CodeFile, fb *feedback, subID int64, open string) []views.CodeFile {
	openFile, openLine := -1, 0
	if a, b, ok := strings.Cut(open, ":"); ok {
		openFile, _ = strconv.Atoi(a)
		openLine, _ = strconv.Atoi(b)
	}
	teacher := fb.panel.Teacher
	for i := range files {
		f := &files[i]
		comments := fb.lines[f.Path]
		if !teacher && len(comments) == 0 {
			continue
		}
		pieces := splitHighlighted(f.HTML, f.Content)
		for n := 1; n <= len(pieces); n++ {
			cl := views.CodeLine{N: n, Comments: comments[n]}
			if pieces[n-1].html {
				cl.HTML = pieces[n-1].text
			} else {
				cl.Text = pieces[n-1].text
			}
			if teacher {
				cl.CommentURL = fmt.Sprintf("%s?comment=%d:%d#%s-L%d", submissionURL(subID), i, n, f.Anchor, n)
				cl.Open = i == openFile && n == openLine
			}
			f.LineView = append(f.LineView, cl)
		}
		f.CommentAction = submissionURL(subID) + "/comments"
	}
	return files
}

type codePiece struct {
	text string
	html bool
}

// splitHighlighted cuts highlighted code (content.Render's chroma output:
// every line a <span class="line"> inside <pre><code>) into one sanitized
// piece per line. When the output does not split into as many lines as the
// text has, each line is the plain text instead (escaped by the template).
func splitHighlighted(h, text string) []codePiece {
	text = strings.TrimSuffix(text, "\n")
	lines := strings.Split(text, "\n")
	plain := func() []codePiece {
		out := make([]codePiece, len(lines))
		for i, l := range lines {
			out[i] = codePiece{text: l}
		}
		return out
	}
	const open, lineTag = "<code>", `<span class="line">`
	start := strings.Index(h, open)
	end := strings.LastIndex(h, "</code>")
	if h == "" || start < 0 || end < start {
		return plain()
	}
	body := h[start+len(open) : end]
	if !strings.HasPrefix(body, lineTag) {
		return plain()
	}
	parts := strings.Split(body, lineTag)[1:]
	if len(parts) != len(lines) {
		return plain()
	}
	out := make([]codePiece, len(parts))
	for i, p := range parts {
		p = strings.TrimSuffix(p, "</span>") // the line's own span
		out[i] = codePiece{text: p, html: true}
	}
	// Check the pieces are the lines: what is left once the tags go must be
	// the escaped text of each line.
	for i, p := range out {
		if stripTags(p.text) != html.EscapeString(lines[i])+"\n" && stripTags(p.text) != html.EscapeString(lines[i]) {
			return plain()
		}
	}
	return out
}

// stripTags drops <…> tags, leaving the escaped text between them.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.NewReplacer("&#34;", "&#34;", "&quot;", "&#34;", "&#39;", "&#39;").Replace(b.String())
}

// diffComments sets each file's comments into a diff whose newer side is
// the submission sh.
func (s *Server) diffComments(ctx context.Context, sh *course.Shown, files []views.FileDiff) error {
	fv, err := s.c.Feedback(ctx, UserFromContext(ctx), sh)
	if err != nil {
		return err
	}
	for i := range files {
		byLine := fv.Lines[files[i].Path]
		lines := make([]int, 0, len(byLine))
		for n := range byLine {
			lines = append(lines, n)
		}
		slices.Sort(lines)
		for _, n := range lines {
			for _, c := range commentViews(sh.Submission.ID, byLine[n], "") {
				c.DeleteURL = ""
				c.Anchor = "diff-" + c.Anchor
				files[i].Comments = append(files[i].Comments, c)
			}
		}
	}
	return nil
}

func (s *Server) serveAddComment(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
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
	line := 0
	if v := r.PostFormValue("line"); v != "" {
		if line, err = strconv.Atoi(v); err != nil {
			return faultline.Errorf(faultline.EINVALID, "The line %q is not a number.", v)
		}
	}
	c, err := s.c.AddComment(r.Context(), UserFromContext(r.Context()), id, r.PostFormValue("path"), line, parent, r.PostFormValue("body"))
	if faultline.ErrorCode(err) == faultline.EINVALID {
		return s.renderSubmission(w, r, http.StatusUnprocessableEntity, faultline.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	return redirect(w, r, submissionURL(id)+"#"+commentAnchor(c.ID))
}

func (s *Server) serveDeleteComment(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	cid, err := pathID(r, "comment")
	if err != nil {
		return err
	}
	if err := s.c.DeleteComment(r.Context(), UserFromContext(r.Context()), id, cid); err != nil {
		return err
	}
	return redirect(w, r, submissionURL(id)+"#feedback")
}

func (s *Server) serveRequestRegrade(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	ti, convErr := strconv.Atoi(r.PostFormValue("test"))
	if convErr != nil {
		ti = -1
	}
	_, err = s.c.RequestRegrade(r.Context(), UserFromContext(r.Context()), id, ti, r.PostFormValue("reason"))
	if code := faultline.ErrorCode(err); code == faultline.EINVALID || code == faultline.ECONFLICT {
		return s.renderSubmission(w, r, statusOf(code), faultline.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	return redirect(w, r, submissionURL(id)+"#regrade-requests")
}

// learnerLabTarget reads the cohort, learner and lab of a
// /cohorts/{id}/learners/{uid}/labs/{slug} URL.
func learnerLabTarget(r *http.Request) (int64, int64, string, error) {
	cid, err := cohortID(r)
	if err != nil {
		return 0, 0, "", err
	}
	uid, err := pathID(r, "uid")
	if err != nil {
		return 0, 0, "", err
	}
	return cid, uid, chi.URLParam(r, "slug"), nil
}

// backTo is where a staff form returns: the submission it came from (a
// same-site path given as "back"), else the learner's lab page.
func backTo(r *http.Request, fallback string) string {
	if b := r.PostFormValue("back"); strings.HasPrefix(b, "/submissions/") && !strings.ContainsAny(b, "\\\r\n") {
		if _, ok := course.ParseID(strings.TrimPrefix(b, "/submissions/")); ok {
			return b
		}
	}
	return fallback
}

func (s *Server) serveAdjust(w http.ResponseWriter, r *http.Request) error {
	cid, uid, lab, err := learnerLabTarget(r)
	if err != nil {
		return err
	}
	// Input the course layer refuses after it checked who asks: a wrong
	// number becomes 0 points (EINVALID there), never a 422 to outsiders.
	points, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue("points")))
	if _, err := s.c.AdjustScore(r.Context(), UserFromContext(r.Context()), cid, uid, lab, points, r.PostFormValue("reason")); err != nil {
		return err
	}
	return redirect(w, r, backTo(r, learnerLabURL(cid, uid, lab)+"?notice=adjusted"))
}

func (s *Server) serveExtend(w http.ResponseWriter, r *http.Request) error {
	cid, uid, lab, err := learnerLabTarget(r)
	if err != nil {
		return err
	}
	// As in serveAdjust, bad input reaches the course layer as values it
	// refuses (no due date, a limit of -1) once it checked who asks.
	due, _ := parseUTC(r.PostFormValue("due"), "due date")
	e := faultline.Extension{Lab: lab, DueAt: due, Reason: r.PostFormValue("reason")}
	if mode := r.PostFormValue("late"); mode != "" {
		pct, _ := strconv.Atoi(r.PostFormValue("pct"))
		cap, _ := strconv.Atoi(r.PostFormValue("cap"))
		if mode != string(faultline.LatePenalty) {
			pct, cap = 0, 0
		}
		e.Late = &faultline.LatePolicy{Mode: faultline.LateMode(mode), PercentPerDay: pct, CapPercent: cap}
	}
	if v := strings.TrimSpace(r.PostFormValue("max")); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil {
			n = -1
		}
		e.MaxSubmissions = &n
	}
	if _, err := s.c.GrantExtension(r.Context(), UserFromContext(r.Context()), cid, uid, e); err != nil {
		return err
	}
	return redirect(w, r, learnerLabURL(cid, uid, lab)+"?notice=extended")
}

func (s *Server) serveRemoveExtension(w http.ResponseWriter, r *http.Request) error {
	cid, uid, lab, err := learnerLabTarget(r)
	if err != nil {
		return err
	}
	if err := s.c.RemoveExtension(r.Context(), UserFromContext(r.Context()), cid, uid, lab); err != nil {
		return err
	}
	return redirect(w, r, learnerLabURL(cid, uid, lab)+"?notice=unextended")
}

var learnerFeedbackNotices = map[string]string{
	"adjusted":   "The score is adjusted; the learner is notified.",
	"extended":   "The extension is granted; the learner is notified.",
	"unextended": "The extension is withdrawn.",
}

// learnerFeedbackPanel builds the adjustments and extension panel of a
// teacher's page of one learner's lab.
func (s *Server) learnerFeedbackPanel(r *http.Request, cid, uid int64, lab string) (*views.LearnerFeedbackPanel, error) {
	lf, err := s.c.LearnerFeedback(r.Context(), UserFromContext(r.Context()), cid, uid, lab)
	if err != nil {
		return nil, err
	}
	base := learnerLabURL(cid, uid, lab)
	p := &views.LearnerFeedbackPanel{
		Learner: lf.Learner.Name, Lab: lf.Lab.Title, Held: "—", AdjustURL: base + "/adjust", ExtendURL: base + "/extension",
		RemoveURL: base + "/extension/remove", Extension: extensionText(lf.Extension, false), FilesURL: base + "/files",
		Notice: noticeOf(r, learnerFeedbackNotices),
	}
	if lf.Held.Has {
		p.Held = scoreString(lf.Held.Score, lf.Held.MaxScore)
	}
	for _, a := range lf.Adjustments {
		p.Adjustments = append(p.Adjustments, adjustmentRow(a))
	}
	due := lf.Policy.DueAt
	if due.IsZero() {
		due = time.Now().Add(7 * 24 * time.Hour)
	}
	p.DueValue = localValue(due)
	return p, nil
}

// labConversation builds what the lab page shows of the conversation: the
// discussion panel, the learner's extension and adjustments, and the
// terminal-sharing control.
func (s *Server) labConversation(r *http.Request, st *course.LabStanding) (views.LabConversation, error) {
	var lc views.LabConversation
	l := st.Lab
	ds, err := s.placeDiscussions(r, faultline.Place{Kind: faultline.PlaceLab, Slug: l.Slug})
	if err != nil {
		return lc, err
	}
	lc.Discussions = ds
	viewer := UserFromContext(r.Context())
	lc.Extension = extensionText(st.Extension, true)
	for _, a := range st.Adjustments {
		lc.Adjustments = append(lc.Adjustments, views.AdjustmentRow{Points: fmt.Sprintf("%+d", a.Points), Reason: a.Reason, When: fmtTime(a.CreatedAt)})
	}
	if st.InCohort {
		lc.Share = &views.ShareTerminal{Action: labURL(l.Slug) + "/share-terminal", Shared: s.c.TerminalShared(viewer, l.Slug)}
	}
	return lc, nil
}

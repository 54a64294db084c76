package course

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/faultline-dev/faultline"
)

// Feedback on submitted work: staff comment on lines of a submission's
// files and on the whole; the learner replies. Staff adjust a learner's
// score (± points with a reason, recorded beside the graded results and
// shown everywhere through the one score, LabPolicy.Held) and grant
// extensions (through the learner's policy, LabPolicy.WithExtension). A
// learner asks about one test (a regrade request); staff answer, accept
// with an adjustment or a regrade, or decline. Every staff action is in the
// cohort's audit log and notifies the learner.

// SubmissionURL is the address of a submission.
func SubmissionURL(id int64) string { return fmt.Sprintf("/submissions/%d", id) }

// CommentView is a comment as its viewer sees it.
type CommentView struct {
	Comment   faultline.SubmissionComment
	Author    string
	Staff     bool // the author teaches the learner
	Self      bool
	Replies   []*CommentView
	CanDelete bool
}

// AdjustmentView is an adjustment with who made it.
type AdjustmentView struct {
	faultline.Adjustment
	By string
}

// RequestView is a regrade request with who answered.
type RequestView struct {
	faultline.RegradeRequest
	Learner    string
	AnsweredBy string
}

// FeedbackView is the feedback on one submission as its viewer may see it:
// the owner and whoever teaches them.
type FeedbackView struct {
	Teacher bool // the viewer teaches the owner
	Own     bool
	// Cohort is where staff adjust, extend and answer (a cohort the owner
	// learns in and the viewer teaches); nil for the owner.
	Cohort *faultline.Cohort
	// Overall are the comments on the whole submission; Lines the comments
	// on lines, by file path and line, each with its replies.
	Overall []*CommentView
	Lines   map[string]map[int][]*CommentView
	// Adjustments of the owner's score on the lab, oldest first; Held what
	// they hold for it now (the one score).
	Adjustments []AdjustmentView
	Held        faultline.HeldScore
	Policy      faultline.LabPolicy
	Extension   *faultline.Extension
	Requests    []RequestView // on this submission, newest first
	// Tests the owner may ask about (their visible tests), by index.
	Askable []string
}

// Feedback returns the feedback on a submission the viewer may see (see
// FeedbackView); sh comes from Submission.
func (s *Service) Feedback(ctx context.Context, viewer *faultline.User, sh *Shown) (*FeedbackView, error) {
	sub := sh.Submission
	fv := &FeedbackView{Own: sh.Own, Teacher: sh.Teacher, Lines: map[string]map[int][]*CommentView{}}
	if sh.Teacher {
		cs, err := s.learnerCohortsTaughtBy(ctx, viewer, sub.UserID)
		if err != nil {
			return nil, err
		}
		if len(cs) > 0 {
			fv.Cohort = cs[0]
		}
	}
	n := s.names()
	comments, err := s.d.Feedback.ListComments(ctx, sub.ID)
	if err != nil {
		return nil, fmt.Errorf("comments of submission %d: %w", sub.ID, err)
	}
	byID := map[int64]*CommentView{}
	for _, c := range comments {
		who, err := n.user(ctx, c.AuthorID)
		if err != nil {
			return nil, err
		}
		cv := &CommentView{Comment: *c, Author: who.Name, Staff: c.AuthorID != sub.UserID, Self: c.AuthorID == viewer.ID}
		cv.CanDelete = cv.Self && !c.Deleted
		if c.Deleted {
			cv.Comment.Body, cv.Comment.HTML = "", ""
		}
		byID[c.ID] = cv
		if parent := byID[c.ParentID]; c.ParentID != 0 && parent != nil {
			for parent.Comment.ParentID != 0 && byID[parent.Comment.ParentID] != nil {
				parent = byID[parent.Comment.ParentID]
			}
			parent.Replies = append(parent.Replies, cv)
			continue
		}
		if c.Path == "" {
			fv.Overall = append(fv.Overall, cv)
			continue
		}
		if fv.Lines[c.Path] == nil {
			fv.Lines[c.Path] = map[int][]*CommentView{}
		}
		fv.Lines[c.Path][c.Line] = append(fv.Lines[c.Path][c.Line], cv)
	}
	var l *faultline.Lab
	if sh.Lab != nil {
		l = sh.Lab
	} else {
		l = &faultline.Lab{Slug: sub.Lab, Title: sh.LabTitle}
	}
	st, err := s.standing(ctx, sub.UserID, l, 0)
	if err != nil {
		return nil, err
	}
	fv.Held, fv.Policy, fv.Extension = st.Held, st.Policy, st.Extension
	for _, a := range st.Adjustments {
		by, err := n.name(ctx, a.CreatedBy)
		if err != nil {
			return nil, err
		}
		fv.Adjustments = append(fv.Adjustments, AdjustmentView{Adjustment: a, By: by})
	}
	reqs, err := s.d.Feedback.ListRegradeRequests(ctx, sub.ID, 0, false)
	if err != nil {
		return nil, fmt.Errorf("regrade requests of submission %d: %w", sub.ID, err)
	}
	for _, r := range reqs {
		rv := RequestView{RegradeRequest: *r}
		if rv.Learner, err = n.name(ctx, r.UserID); err != nil {
			return nil, err
		}
		if rv.AnsweredBy, err = n.name(ctx, r.AnsweredBy); err != nil {
			return nil, err
		}
		fv.Requests = append(fv.Requests, rv)
	}
	if sh.Own && sh.Result != nil {
		for _, t := range sh.Result.Tests {
			fv.Askable = append(fv.Askable, t.Name)
		}
	}
	return fv, nil
}

// AddComment comments on a submission: staff on a line of a file (path and
// a 1-based line), on the whole (path ""), or in reply to a comment
// (parentID); the owner only in reply to a comment. ENOTFOUND unless the
// viewer may see the submission; EINVALID for an empty or long text, a file
// the submission does not have or a line past its end.
func (s *Service) AddComment(ctx context.Context, viewer *faultline.User, submissionID int64, path string, line int, parentID int64, body string) (*faultline.SubmissionComment, error) {
	sh, err := s.Submission(ctx, viewer, submissionID)
	if err != nil {
		return nil, err
	}
	sub := sh.Submission
	body = strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n"))
	switch {
	case body == "":
		return nil, faultline.Errorf(faultline.EINVALID, "Write the comment first.")
	case utf8.RuneCountInString(body) > faultline.MaxCommentBody:
		return nil, faultline.Errorf(faultline.EINVALID, "A comment may be at most %d characters.", faultline.MaxCommentBody)
	}
	var parent *faultline.SubmissionComment
	if parentID != 0 {
		parent, err = s.d.Feedback.FindComment(ctx, parentID)
		if err != nil || parent.SubmissionID != sub.ID {
			return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such comment.")
		}
		path, line = parent.Path, parent.Line
	} else {
		if !sh.Teacher {
			return nil, faultline.Errorf(faultline.EINVALID, "Reply to your teacher's comment.")
		}
		if path != "" {
			if line < 1 {
				return nil, faultline.Errorf(faultline.EINVALID, "Choose the line to comment on.")
			}
			i := slices.IndexFunc(sub.Files, func(f faultline.File) bool { return f.Path == path })
			if i < 0 {
				return nil, faultline.Errorf(faultline.EINVALID, "The submission has no file %s.", path)
			}
			if n := strings.Count(string(sub.Files[i].Content), "\n") + 1; line > n {
				return nil, faultline.Errorf(faultline.EINVALID, "%s has %d lines.", path, n)
			}
		} else {
			line = 0
		}
	}
	html, err := s.renderMarkdown(body)
	if err != nil {
		return nil, err
	}
	c := &faultline.SubmissionComment{SubmissionID: sub.ID, ParentID: parentID, AuthorID: viewer.ID, Path: path, Line: line, Body: body, HTML: html}
	if err := s.d.Feedback.AddComment(ctx, c); err != nil {
		return nil, internal(err, "comment on submission %d", sub.ID)
	}
	where := "your submission"
	if path != "" {
		where = fmt.Sprintf("%s line %d", path, line)
	}
	url := fmt.Sprintf("%s#comment-%d", SubmissionURL(sub.ID), c.ID)
	topic := fmt.Sprintf("submission #%d of %s", sub.ID, sh.LabTitle)
	var ns []notice
	if sh.Own {
		// The learner replied: tell whoever wrote the comments above.
		cs, err := s.d.Feedback.ListComments(ctx, sub.ID)
		if err == nil {
			for _, o := range cs {
				if o.AuthorID != viewer.ID && (o.ID == parentID || o.ParentID == parentID) {
					ns = append(ns, notice{to: o.AuthorID, kind: faultline.NotifyFeedback, topic: topic, actor: viewer.Name,
						title: fmt.Sprintf("%s replied on submission #%d of %s", viewer.Name, sub.ID, sh.LabTitle), excerpt: excerptOf(body), url: url})
				}
			}
		}
	} else {
		ns = append(ns, notice{to: sub.UserID, kind: faultline.NotifyFeedback, topic: topic, actor: viewer.Name,
			title: fmt.Sprintf("%s commented on %s (%s, #%d)", viewer.Name, where, sh.LabTitle, sub.ID), excerpt: excerptOf(body), url: url})
	}
	s.notify(ctx, viewer.ID, ns)
	return c, nil
}

// DeleteComment deletes one of the viewer's own comments on a submission;
// ENOTFOUND for anyone else's.
func (s *Service) DeleteComment(ctx context.Context, viewer *faultline.User, submissionID, commentID int64) error {
	if _, err := s.Submission(ctx, viewer, submissionID); err != nil {
		return err
	}
	c, err := s.d.Feedback.FindComment(ctx, commentID)
	if err != nil || c.SubmissionID != submissionID || c.AuthorID != viewer.ID {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such comment.")
	}
	if err := s.d.Feedback.DeleteComment(ctx, c.ID); err != nil {
		return internal(err, "delete comment %d", c.ID)
	}
	return nil
}

// learnerTarget checks that viewer teaches the cohort and userID learns in
// it, and returns the cohort, the learner and the lab.
func (s *Service) learnerTarget(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) (*faultline.Cohort, *faultline.User, *faultline.Lab, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.learnerOf(ctx, c.ID, userID); err != nil {
		return nil, nil, nil, err
	}
	u, err := s.d.Users.FindUserByID(ctx, userID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("find user %d: %w", userID, err)
	}
	return c, u, l, nil
}

// MaxAdjustment bounds one adjustment's points either way.
const MaxAdjustment = 1000

// AdjustScore adds points (negative to take away) to the score a learner of
// the cohort holds for the lab, with a reason the learner reads. The graded
// results stay as they are; every score surface shows the adjusted score.
// ENOTFOUND unless viewer teaches the cohort and the learner learns in it;
// EINVALID for 0 or too many points or no reason.
func (s *Service) AdjustScore(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string, points int, reason string) (*faultline.Adjustment, error) {
	c, u, l, err := s.learnerTarget(ctx, viewer, cohortID, userID, lab)
	if err != nil {
		return nil, err
	}
	return s.adjust(ctx, viewer, c, u, l, points, reason)
}

func (s *Service) adjust(ctx context.Context, viewer *faultline.User, c *faultline.Cohort, u *faultline.User, l *faultline.Lab, points int, reason string) (*faultline.Adjustment, error) {
	reason = oneLine(reason, 1000)
	switch {
	case points == 0 || points > MaxAdjustment || points < -MaxAdjustment:
		return nil, faultline.Errorf(faultline.EINVALID, "Adjust by 1 to %d points, up or down.", MaxAdjustment)
	case reason == "":
		return nil, faultline.Errorf(faultline.EINVALID, "Give the reason for the adjustment; the learner reads it.")
	}
	a := &faultline.Adjustment{UserID: u.ID, Lab: l.Slug, Points: points, Reason: reason, CreatedBy: viewer.ID}
	if err := s.d.Feedback.AddAdjustment(ctx, a); err != nil {
		return nil, internal(err, "adjust score of user %d on %q", u.ID, l.Slug)
	}
	s.audit(ctx, &discussant{user: viewer, cohort: c, staff: true}, "adjust score",
		fmt.Sprintf("%s on %s", u.Name, l.Title), fmt.Sprintf("%+d: %s", points, reason))
	s.notify(ctx, viewer.ID, []notice{{to: u.ID, kind: faultline.NotifyFeedback, cohortID: c.ID, topic: "your score on " + l.Title, actor: viewer.Name,
		title: fmt.Sprintf("Your score on %s was adjusted by %+d", l.Title, points), excerpt: reason, url: "/labs/" + l.Slug}})
	return a, nil
}

// GrantExtension gives a learner of the cohort their own due date for the
// lab, and optionally their own late policy and submission limit, replacing
// any extension they had. ENOTFOUND unless viewer teaches the cohort and the
// learner learns in it; EINVALID says what to fix.
func (s *Service) GrantExtension(ctx context.Context, viewer *faultline.User, cohortID, userID int64, e faultline.Extension) (*faultline.Extension, error) {
	c, u, l, err := s.learnerTarget(ctx, viewer, cohortID, userID, e.Lab)
	if err != nil {
		return nil, err
	}
	e.UserID, e.Lab, e.GrantedBy, e.Reason = u.ID, l.Slug, viewer.ID, oneLine(e.Reason, 1000)
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := s.d.Feedback.SetExtension(ctx, &e); err != nil {
		return nil, internal(err, "extend %q for user %d", l.Slug, u.ID)
	}
	detail := "due " + e.DueAt.UTC().Format("2 Jan 2006 15:04 UTC")
	if e.Late != nil {
		detail += ", late work: " + string(e.Late.Mode)
	}
	if e.MaxSubmissions != nil {
		detail += fmt.Sprintf(", at most %d submissions", *e.MaxSubmissions)
	}
	if e.Reason != "" {
		detail += " (" + e.Reason + ")"
	}
	s.audit(ctx, &discussant{user: viewer, cohort: c, staff: true}, "grant extension", fmt.Sprintf("%s on %s", u.Name, l.Title), detail)
	s.notify(ctx, viewer.ID, []notice{{to: u.ID, kind: faultline.NotifyFeedback, cohortID: c.ID, topic: "your extension on " + l.Title, actor: viewer.Name,
		title: "You have an extension on " + l.Title + ": " + detail, url: "/labs/" + l.Slug}})
	return &e, nil
}

// RemoveExtension takes a learner's extension of the lab back. ENOTFOUND
// as GrantExtension, or when there is none.
func (s *Service) RemoveExtension(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) error {
	c, u, l, err := s.learnerTarget(ctx, viewer, cohortID, userID, lab)
	if err != nil {
		return err
	}
	if err := s.d.Feedback.RemoveExtension(ctx, u.ID, l.Slug); err != nil {
		return internal(err, "remove extension of %q for user %d", l.Slug, u.ID)
	}
	s.audit(ctx, &discussant{user: viewer, cohort: c, staff: true}, "remove extension", fmt.Sprintf("%s on %s", u.Name, l.Title), "")
	s.notify(ctx, viewer.ID, []notice{{to: u.ID, kind: faultline.NotifyFeedback, cohortID: c.ID, topic: "your extension on " + l.Title, actor: viewer.Name,
		title: "Your extension on " + l.Title + " was withdrawn", url: "/labs/" + l.Slug}})
	return nil
}

// LearnerFeedback is a learner's adjustments and extension on a lab, for
// their teacher's page of the learner's work.
type LearnerFeedback struct {
	Cohort      *faultline.Cohort
	Learner     *faultline.User
	Lab         *faultline.Lab
	Adjustments []AdjustmentView
	Extension   *faultline.Extension
	Held        faultline.HeldScore
	Policy      faultline.LabPolicy
}

// LearnerFeedback returns a learner's adjustments and extension on the lab;
// ENOTFOUND unless viewer teaches the cohort and the learner learns in it.
func (s *Service) LearnerFeedback(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) (*LearnerFeedback, error) {
	c, u, l, err := s.learnerTarget(ctx, viewer, cohortID, userID, lab)
	if err != nil {
		return nil, err
	}
	st, err := s.standing(ctx, u.ID, l, 0)
	if err != nil {
		return nil, err
	}
	lf := &LearnerFeedback{Cohort: c, Learner: u, Lab: l, Extension: st.Extension, Held: st.Held, Policy: st.Policy}
	n := s.names()
	for _, a := range st.Adjustments {
		by, err := n.name(ctx, a.CreatedBy)
		if err != nil {
			return nil, err
		}
		lf.Adjustments = append(lf.Adjustments, AdjustmentView{Adjustment: a, By: by})
	}
	return lf, nil
}

// ---- Regrade requests ----

// RequestRegrade asks staff about test ti (of the tests the owner sees) of
// their own submission, with a reason. ENOTFOUND for someone else's
// submission; EINVALID for an unfinished one, an unknown test or an empty
// or long reason; ECONFLICT when they already asked about the test.
func (s *Service) RequestRegrade(ctx context.Context, viewer *faultline.User, submissionID int64, ti int, reason string) (*faultline.RegradeRequest, error) {
	sh, err := s.Submission(ctx, viewer, submissionID)
	if err != nil {
		return nil, err
	}
	if !sh.Own {
		return nil, errNoSubmission
	}
	if sh.Result == nil || ti < 0 || ti >= len(sh.Result.Tests) {
		return nil, faultline.Errorf(faultline.EINVALID, "Choose a test of this submission's result.")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 2000 {
		return nil, faultline.Errorf(faultline.EINVALID, "Say in up to 2000 characters why you think the result of the test is wrong.")
	}
	sub := sh.Submission
	r := &faultline.RegradeRequest{SubmissionID: sub.ID, UserID: viewer.ID, Lab: sub.Lab, Test: sh.Result.Tests[ti].Name, Reason: reason}
	if err := s.d.Feedback.CreateRegradeRequest(ctx, r); err != nil {
		return nil, internal(err, "request regrade of submission %d", sub.ID)
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, viewer.ID)
	if err != nil {
		return nil, fmt.Errorf("cohorts of user %d: %w", viewer.ID, err)
	}
	var ns []notice
	for _, c := range cs {
		staff, err := s.staffOf(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, u := range staff {
			ns = append(ns, notice{to: u, kind: faultline.NotifyFeedback, cohortID: c.ID, topic: fmt.Sprintf("a regrade request on %s", r.Test), started: true, actor: viewer.Name,
				title: fmt.Sprintf("%s asks about %s on %s (#%d)", viewer.Name, r.Test, sh.LabTitle, sub.ID), excerpt: reason,
				url: RequestsURL(c.ID)})
		}
	}
	s.notify(ctx, viewer.ID, ns)
	return r, nil
}

// RequestsURL is the address of a cohort's regrade requests.
func RequestsURL(cohortID int64) string { return fmt.Sprintf("/cohorts/%d/requests", cohortID) }

// RegradeRequests returns the regrade requests of the cohort's learners,
// newest first (open ones only when openOnly); staff only.
func (s *Service) RegradeRequests(ctx context.Context, viewer *faultline.User, cohortID int64, openOnly bool) ([]RequestView, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	reqs, err := s.d.Feedback.ListRegradeRequests(ctx, 0, c.ID, openOnly)
	if err != nil {
		return nil, fmt.Errorf("regrade requests of cohort %d: %w", c.ID, err)
	}
	n := s.names()
	out := make([]RequestView, 0, len(reqs))
	for _, r := range reqs {
		rv := RequestView{RegradeRequest: *r}
		if rv.Learner, err = n.name(ctx, r.UserID); err != nil {
			return nil, err
		}
		if rv.AnsweredBy, err = n.name(ctx, r.AnsweredBy); err != nil {
			return nil, err
		}
		out = append(out, rv)
	}
	return out, nil
}

// Decisions on a regrade request.
const (
	DecideAnswer  = "answer"  // an answer, no change
	DecideDecline = "decline" // the result stands
	DecideAdjust  = "adjust"  // accept: adjust the score by points
	DecideRegrade = "regrade" // accept: regrade the submission
)

// AnswerRegradeRequest answers a request of a learner of the cohort: with
// an answer alone, a decline, an adjustment of points, or a regrade of the
// submission. The learner is notified. ENOTFOUND unless viewer teaches the
// cohort and the request is one of its learners'; EINVALID for an unknown
// decision, no answer, or bad points; ECONFLICT when it was answered or the
// submission is being regraded already.
func (s *Service) AnswerRegradeRequest(ctx context.Context, viewer *faultline.User, cohortID, requestID int64, decision, answer string, points int) (*faultline.RegradeRequest, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	r, err := s.d.Feedback.FindRegradeRequest(ctx, requestID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such regrade request.")
	} else if err != nil {
		return nil, fmt.Errorf("find regrade request %d: %w", requestID, err)
	}
	if err := s.learnerOf(ctx, c.ID, r.UserID); err != nil {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such regrade request.")
	}
	if r.State != faultline.RequestOpen {
		return nil, faultline.Errorf(faultline.ECONFLICT, "This request has been answered already.")
	}
	answer = strings.TrimSpace(answer)
	if answer == "" || utf8.RuneCountInString(answer) > 2000 {
		return nil, faultline.Errorf(faultline.EINVALID, "Write an answer of up to 2000 characters; the learner reads it.")
	}
	u, err := s.d.Users.FindUserByID(ctx, r.UserID)
	if err != nil {
		return nil, fmt.Errorf("find user %d: %w", r.UserID, err)
	}
	r.Answer, r.AnsweredBy = answer, viewer.ID
	switch decision {
	case DecideAnswer:
		r.State = faultline.RequestAnswered
	case DecideDecline:
		r.State = faultline.RequestDeclined
	case DecideAdjust:
		l, err := s.Lab(r.Lab)
		if err != nil {
			return nil, err
		}
		a, err := s.adjust(ctx, viewer, c, u, l, points, fmt.Sprintf("Regrade request on %s: %s", r.Test, answer))
		if err != nil {
			return nil, err
		}
		r.State, r.Outcome, r.AdjustmentID = faultline.RequestAccepted, faultline.OutcomeAdjusted, a.ID
	case DecideRegrade:
		j := &faultline.RegradeJob{CohortID: c.ID, Lab: r.Lab, SubmissionID: r.SubmissionID, CreatedBy: viewer.ID}
		if err := s.d.Regrades.CreateRegradeJob(ctx, j); err != nil {
			return nil, internal(err, "regrade submission %d", r.SubmissionID)
		}
		s.kick()
		r.State, r.Outcome, r.RegradeJobID = faultline.RequestAccepted, faultline.OutcomeRegraded, j.ID
	default:
		return nil, faultline.Errorf(faultline.EINVALID, "Answer, decline, adjust the score or regrade.")
	}
	if err := s.d.Feedback.AnswerRegradeRequest(ctx, r); err != nil {
		return nil, internal(err, "answer regrade request %d", r.ID)
	}
	s.audit(ctx, &discussant{user: viewer, cohort: c, staff: true}, decision+" regrade request",
		fmt.Sprintf("%s on %s, %s (#%d)", u.Name, r.Lab, r.Test, r.SubmissionID), answer)
	what := map[string]string{DecideAnswer: "answered", DecideDecline: "declined", DecideAdjust: "accepted (score adjusted)",
		DecideRegrade: "accepted (regrading)"}[decision]
	s.notify(ctx, viewer.ID, []notice{{to: u.ID, kind: faultline.NotifyFeedback, cohortID: c.ID, topic: fmt.Sprintf("your regrade request on %s", r.Test), actor: viewer.Name,
		title: fmt.Sprintf("Your regrade request on %s was %s", r.Test, what), excerpt: answer, url: SubmissionURL(r.SubmissionID) + "#feedback"}})
	return r, nil
}

// ---- The dashboard ----

// ConversationStats is what the instructor dashboard shows of the cohort's
// discussions and feedback.
type ConversationStats struct {
	Unanswered int // questions nobody but their author replied to
	Unresolved int // questions without a marked answer
	// MedianFirstStaff is the median time from a question to the first
	// staff reply, over questions that have one; Answered how many.
	MedianFirstStaff time.Duration
	StaffAnswered    int
	OpenRequests     int // regrade requests waiting for staff
	Held             int // posts held by the solution-leak guard
	Reported         int // posts with open reports
}

// ConversationStats returns the cohort's discussion and feedback numbers;
// staff only (ENOTFOUND for anyone else).
func (s *Service) ConversationStats(ctx context.Context, viewer *faultline.User, cohortID int64) (*ConversationStats, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	st := &ConversationStats{}
	ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: c.ID})
	if err != nil {
		return nil, fmt.Errorf("threads of cohort %d: %w", c.ID, err)
	}
	for _, t := range ts {
		if t.Kind != faultline.ThreadQuestion || t.GroupID != 0 {
			continue
		}
		if !t.Answered() {
			st.Unanswered++
		}
		if !t.Resolved() {
			st.Unresolved++
		}
	}
	reps, err := s.d.Discussions.FirstStaffReplies(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("staff replies in cohort %d: %w", c.ID, err)
	}
	var waits []time.Duration
	for _, r := range reps {
		if !r.RepliedAt.IsZero() {
			waits = append(waits, r.RepliedAt.Sub(r.AskedAt))
		}
	}
	st.StaffAnswered = len(waits)
	st.MedianFirstStaff = medianDuration(waits)
	reqs, err := s.d.Feedback.ListRegradeRequests(ctx, 0, c.ID, true)
	if err != nil {
		return nil, fmt.Errorf("regrade requests of cohort %d: %w", c.ID, err)
	}
	st.OpenRequests = len(reqs)
	mod, err := s.Moderation(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	st.Held, st.Reported = len(mod.Held), len(mod.Reported)
	return st, nil
}

// medianDuration is the median (the mean of the two middle values for an
// even count); 0 for none.
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	m := len(ds) / 2
	if len(ds)%2 == 1 {
		return ds[m]
	}
	return (ds[m-1] + ds[m]) / 2
}

package course

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/faultline-dev/faultline"
)

// Writing in a cohort's discussions: threads, replies, edits, and what
// staff do (endorse, pin, lock, move between private and public, share a
// group's thread, moderate).

// ThreadURL is the address of a thread.
func ThreadURL(cohortID, threadID int64) string {
	return fmt.Sprintf("/discuss/%d/threads/%d", cohortID, threadID)
}

// PostURL is the address of a post within its thread.
func PostURL(cohortID, threadID, postID int64) string {
	return fmt.Sprintf("%s#post-%d", ThreadURL(cohortID, threadID), postID)
}

// ModerationURL is the address of a cohort's moderation page.
func ModerationURL(cohortID int64) string { return fmt.Sprintf("/cohorts/%d/moderation", cohortID) }

var fenceOpen = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+-]*)(.*)$")

// safeMarkdown keeps a post's fenced blocks plain code: the lesson
// renderer draws ```diagram and ```ring blocks into files kept for the life
// of the portal and turns ```quiz into a quiz slot, which is for authors of
// the course, not for posts.
func safeMarkdown(md string) string {
	lines := strings.Split(md, "\n")
	fence := ""
	for i, ln := range lines {
		if fence != "" {
			t := strings.TrimLeft(ln, " ")
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]+" \t") == "" {
				fence = ""
			}
			continue
		}
		m := fenceOpen.FindStringSubmatch(ln)
		if m == nil {
			continue
		}
		fence = m[2]
		switch strings.ToLower(m[3]) {
		case "diagram", "ring", "quiz":
			lines[i] = m[1] + m[2] + "text" + m[4]
		}
	}
	return strings.Join(lines, "\n")
}

// renderMarkdown renders a post or comment through the lessons' renderer
// and sanitizer.
func (s *Service) renderMarkdown(body string) (string, error) {
	html, err := s.d.Markdown([]byte(safeMarkdown(body)))
	if err != nil {
		return "", faultline.Errorf(faultline.EINVALID, "The text could not be formatted: %v", err)
	}
	return html, nil
}

// NewThread is what starting a thread takes.
type NewThread struct {
	Place     faultline.Place
	Kind      faultline.ThreadKind
	Title     string
	Body      string
	Anonymous bool // to classmates; staff always see who
	Private   bool // to staff only
	Run       *RunRef
}

// RunRef names a failing test of one of the viewer's submissions:
// Test indexes the tests the viewer sees of its result.
type RunRef struct {
	SubmissionID int64
	Test         int
}

// Posted is what writing a post did. Held is the reason the post waits for
// staff ("" when it shows).
type Posted struct {
	Thread *faultline.Thread
	Post   *faultline.Post
	Held   string
}

// StartThread starts a thread in the cohort with its opening post.
// EINVALID says what to fix (title, body, kind, place, a run that cannot be
// attached); ENOTFOUND unless the viewer takes part in the cohort. Only
// staff announce, and staff post under their name. A learner's post much
// like a passing solution is held (Posted.Held says why).
func (s *Service) StartThread(ctx context.Context, viewer *faultline.User, cohortID int64, in NewThread) (*Posted, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	title, err := faultline.CheckTitle(in.Title)
	if err != nil {
		return nil, err
	}
	body, err := faultline.CheckPost(in.Body)
	if err != nil {
		return nil, err
	}
	if in.Kind == "" {
		in.Kind = faultline.ThreadQuestion
	}
	switch {
	case !in.Kind.Valid():
		return nil, faultline.Errorf(faultline.EINVALID, "A thread is a question, a discussion or an announcement.")
	case in.Kind == faultline.ThreadAnnouncement && !d.staff:
		return nil, faultline.Errorf(faultline.EINVALID, "Only staff make announcements; ask a question or start a discussion.")
	case in.Kind == faultline.ThreadAnnouncement && (in.Private || in.Anonymous):
		return nil, faultline.Errorf(faultline.EINVALID, "An announcement goes to everyone under your name.")
	case in.Anonymous && d.staff:
		return nil, faultline.Errorf(faultline.EINVALID, "Staff post under their name.")
	}
	t := &faultline.Thread{CohortID: cohortID, Place: in.Place, Kind: in.Kind, Title: title, AuthorID: viewer.ID,
		Anonymous: in.Anonymous, Private: in.Private}
	if in.Run != nil {
		if t.Run, err = s.attachRun(ctx, viewer, *in.Run, in.Private); err != nil {
			return nil, err
		}
		t.Place = faultline.Place{Kind: faultline.PlaceLab, Slug: t.Run.Lab}
		t.Kind = faultline.ThreadQuestion
	}
	if t.Place.Kind == "" {
		t.Place.Kind = faultline.PlaceCohort
	}
	if err := s.checkPlace(t.Place); err != nil {
		return nil, err
	}
	html, err := s.renderMarkdown(body)
	if err != nil {
		return nil, err
	}
	op := &faultline.Post{AuthorID: viewer.ID, Staff: d.staff, Anonymous: in.Anonymous, Body: body, HTML: html, State: faultline.PostVisible}
	out := &Posted{Thread: t, Post: op}
	if !d.staff && !t.Private {
		runLab := ""
		if t.Run != nil {
			runLab = t.Run.Lab
		}
		if out.Held, err = s.leakReason(ctx, cohortID, t.Place, runLab, body); err != nil {
			return nil, err
		}
		if out.Held != "" {
			op.State, op.HeldReason = faultline.PostHeld, out.Held
		}
	}
	if err := s.d.Discussions.CreateThread(ctx, t, op); err != nil {
		return nil, internal(err, "start thread in cohort %d", cohortID)
	}
	if out.Held != "" {
		s.notifyHeld(ctx, d, t, op)
	} else {
		s.announcePost(ctx, d, t, op)
	}
	return out, nil
}

// attachRun copies a failing run of one of the viewer's own submissions:
// the test, verdict, message, failure report, faults, seed and pictures,
// never the code. A hidden test (shown to the viewer after the due date)
// goes only into a private thread: classmates must not learn hidden tests.
func (s *Service) attachRun(ctx context.Context, viewer *faultline.User, ref RunRef, private bool) (*faultline.RunAttachment, error) {
	sh, err := s.Submission(ctx, viewer, ref.SubmissionID)
	if err != nil {
		return nil, err
	}
	if !sh.Own {
		return nil, faultline.Errorf(faultline.EINVALID, "You can attach runs of your own submissions only.")
	}
	if sh.Result == nil || ref.Test < 0 || ref.Test >= len(sh.Result.Tests) {
		return nil, faultline.Errorf(faultline.EINVALID, "Choose a test of this submission's result to attach.")
	}
	t := sh.Result.Tests[ref.Test]
	if t.Status == faultline.TestPass {
		return nil, faultline.Errorf(faultline.EINVALID, "%s passed; attach a failing run.", t.Name)
	}
	if t.Hidden && !private {
		return nil, faultline.Errorf(faultline.EINVALID, "%s is a hidden test: ask about it privately, to staff only.", t.Name)
	}
	report := t.Output
	if len(report) > faultline.MaxRunReport {
		report = report[:faultline.MaxRunReport]
		for !utf8.ValidString(report) && len(report) > 0 {
			report = report[:len(report)-1]
		}
	}
	return &faultline.RunAttachment{
		SubmissionID: sh.Submission.ID, Lab: sh.Submission.Lab, Test: t.Name, Hidden: t.Hidden,
		Verdict: sh.Result.Status, Status: t.Status, Score: t.Score, MaxScore: t.MaxScore,
		Message: t.Message, Report: report, Faults: faultline.FaultKinds(t.Output),
		Seed: t.Seed, FailedRun: t.FailedRun, Pictures: append([]faultline.Attachment(nil), t.Attachments...),
	}, nil
}

// RunChoice is a failing test of a submission the viewer may attach.
type RunChoice struct {
	Index  int // into the tests the viewer sees
	Test   string
	Hidden bool // attachable to a private thread only
}

// AttachableRuns returns the failing tests of the viewer's own submission
// that "Attach my failing run" offers, and the cohorts they learn in (where
// the thread can go). Nothing for someone else's submission.
func (s *Service) AttachableRuns(ctx context.Context, viewer *faultline.User, sh *Shown) ([]RunChoice, []*faultline.Cohort, error) {
	if !sh.Own || sh.Result == nil {
		return nil, nil, nil
	}
	var runs []RunChoice
	for i, t := range sh.Result.Tests {
		if t.Status != faultline.TestPass {
			runs = append(runs, RunChoice{Index: i, Test: t.Name, Hidden: t.Hidden})
		}
	}
	if len(runs) == 0 {
		return nil, nil, nil
	}
	var cohorts []*faultline.Cohort
	dcs, err := s.DiscussionCohorts(ctx, viewer)
	if err != nil {
		return nil, nil, err
	}
	for _, dc := range dcs {
		if !dc.Staff {
			cohorts = append(cohorts, dc.Cohort)
		}
	}
	return runs, cohorts, nil
}

// RunPreview returns what attaching a failing run would show, for the
// new-thread form.
func (s *Service) RunPreview(ctx context.Context, viewer *faultline.User, cohortID int64, ref RunRef) (*faultline.RunAttachment, error) {
	if _, err := s.discussant(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	return s.attachRun(ctx, viewer, ref, true)
}

// Reply adds a post to a thread (a reply to post parentID when it is not
// 0). ENOTFOUND unless the viewer may see the thread (and the parent);
// EFORBIDDEN when they may not post there (locked, another group's shared
// thread); EINVALID for an empty or long body or a staff member posting
// anonymously. A learner's post much like a passing solution is held.
func (s *Service) Reply(ctx context.Context, viewer *faultline.User, cohortID, threadID, parentID int64, body string, anonymous bool) (*Posted, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return nil, err
	}
	return s.reply(ctx, d, t, parentID, body, anonymous)
}

func (s *Service) reply(ctx context.Context, d *discussant, t *faultline.Thread, parentID int64, body string, anonymous bool) (*Posted, error) {
	if !d.canPost(t) {
		if t.Locked {
			return nil, faultline.Errorf(faultline.EFORBIDDEN, "This thread is locked: only staff can post in it.")
		}
		return nil, faultline.Errorf(faultline.EFORBIDDEN, "Only the group's members post in its thread.")
	}
	if anonymous && d.staff {
		return nil, faultline.Errorf(faultline.EINVALID, "Staff post under their name.")
	}
	body, err := faultline.CheckPost(body)
	if err != nil {
		return nil, err
	}
	if parentID != 0 {
		parent, pt, err := s.post(ctx, d, parentID)
		if err != nil || pt.ID != t.ID || parent.State != faultline.PostVisible {
			return nil, errNoPost
		}
	}
	html, err := s.renderMarkdown(body)
	if err != nil {
		return nil, err
	}
	p := &faultline.Post{ThreadID: t.ID, ParentID: parentID, AuthorID: d.user.ID, Staff: d.staff, Anonymous: anonymous,
		Body: body, HTML: html, State: faultline.PostVisible}
	out := &Posted{Thread: t, Post: p}
	if !d.staff && !t.Private {
		runLab := ""
		if t.Run != nil {
			runLab = t.Run.Lab
		}
		if out.Held, err = s.leakReason(ctx, t.CohortID, t.Place, runLab, body); err != nil {
			return nil, err
		}
		if out.Held != "" {
			p.State, p.HeldReason = faultline.PostHeld, out.Held
		}
	}
	if err := s.d.Discussions.AddPost(ctx, p); err != nil {
		return nil, internal(err, "reply in thread %d", t.ID)
	}
	if out.Held != "" {
		s.notifyHeld(ctx, d, t, p)
	} else {
		s.announcePost(ctx, d, t, p)
	}
	return out, nil
}

// EditPost replaces the text of one of the viewer's posts, keeping the old
// text in its history. The guard looks at the new text: a held post whose
// new text passes shows; a post whose new text is much like a solution is
// held. EFORBIDDEN for a post staff hid; ENOTFOUND for someone else's post.
func (s *Service) EditPost(ctx context.Context, viewer *faultline.User, cohortID, postID int64, body string) (*Posted, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	p, t, err := s.post(ctx, d, postID)
	if err != nil {
		return nil, err
	}
	if p.AuthorID != viewer.ID {
		return nil, errNoPost
	}
	switch {
	case p.State == faultline.PostHidden:
		return nil, faultline.Errorf(faultline.EFORBIDDEN, "Staff hid this post; it cannot be edited.")
	case p.State == faultline.PostDeleted:
		return nil, faultline.Errorf(faultline.EFORBIDDEN, "This post was deleted.")
	case p.State == faultline.PostVisible && !d.canPost(t):
		return nil, faultline.Errorf(faultline.EFORBIDDEN, "This thread is locked.")
	}
	if body, err = faultline.CheckPost(body); err != nil {
		return nil, err
	}
	html, err := s.renderMarkdown(body)
	if err != nil {
		return nil, err
	}
	state, reason := faultline.PostVisible, ""
	if !d.staff && !t.Private {
		runLab := ""
		if t.Run != nil {
			runLab = t.Run.Lab
		}
		if reason, err = s.leakReason(ctx, t.CohortID, t.Place, runLab, body); err != nil {
			return nil, err
		}
		if reason != "" {
			state = faultline.PostHeld
		}
	}
	was := p.State
	np, err := s.d.Discussions.EditPost(ctx, p.ID, viewer.ID, body, html, state, reason)
	if err != nil {
		return nil, internal(err, "edit post %d", p.ID)
	}
	switch {
	case state == faultline.PostHeld && was != faultline.PostHeld:
		s.notifyHeld(ctx, d, t, np)
	case state == faultline.PostVisible && was == faultline.PostHeld:
		s.announcePost(ctx, d, t, np)
	}
	return &Posted{Thread: t, Post: np, Held: reason}, nil
}

// DeletePost deletes one of the viewer's own posts (its text stays in the
// history for staff). A deleted answer is no longer the answer.
// ENOTFOUND for someone else's post.
func (s *Service) DeletePost(ctx context.Context, viewer *faultline.User, cohortID, postID int64) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	p, t, err := s.post(ctx, d, postID)
	if err != nil {
		return nil, err
	}
	if p.AuthorID != viewer.ID || p.State == faultline.PostDeleted {
		return nil, errNoPost
	}
	if _, err := s.d.Discussions.SetPostState(ctx, p.ID, faultline.PostDeleted, ""); err != nil {
		return nil, internal(err, "delete post %d", p.ID)
	}
	if t.AnswerID == p.ID {
		if t, err = s.d.Discussions.UpdateThread(ctx, t.ID, func(t *faultline.Thread) error { t.AnswerID = 0; return nil }); err != nil {
			return nil, internal(err, "unmark answer of thread %d", t.ID)
		}
	}
	return t, nil
}

// Endorse marks a visible reply endorsed by the viewer (on) or takes the
// endorsement back; staff only (ENOTFOUND for anyone else, EINVALID for an
// opening post or one that does not show).
func (s *Service) Endorse(ctx context.Context, viewer *faultline.User, cohortID, postID int64, on bool) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	if !d.staff {
		return nil, errNoPost
	}
	p, t, err := s.post(ctx, d, postID)
	if err != nil {
		return nil, err
	}
	if p.Opening || p.State != faultline.PostVisible {
		return nil, faultline.Errorf(faultline.EINVALID, "Endorse a reply that shows.")
	}
	by := int64(0)
	if on {
		by = viewer.ID
	}
	if _, err := s.d.Discussions.SetEndorsed(ctx, p.ID, by); err != nil {
		return nil, internal(err, "endorse post %d", p.ID)
	}
	action := "endorse answer"
	if !on {
		action = "take back endorsement"
	}
	s.audit(ctx, d, action, fmt.Sprintf("post %d in “%s”", p.ID, t.Title), "")
	if on {
		url := PostURL(t.CohortID, t.ID, p.ID)
		s.notify(ctx, viewer.ID, []notice{
			{to: p.AuthorID, kind: faultline.NotifyAnswer, cohortID: t.CohortID, topic: t.Title, actor: viewer.Name,
				title: "Staff endorsed your answer in “" + t.Title + "”", excerpt: excerptOf(p.Body), url: url},
			{to: t.AuthorID, kind: faultline.NotifyAnswer, cohortID: t.CohortID, topic: t.Title, actor: viewer.Name,
				title: "Staff endorsed an answer to “" + t.Title + "”", excerpt: excerptOf(p.Body), url: url},
		})
	}
	return t, nil
}

// MarkAnswer marks a visible reply as the answer to a question (postID 0
// unmarks it): the question's author or staff. ENOTFOUND for anyone else.
func (s *Service) MarkAnswer(ctx context.Context, viewer *faultline.User, cohortID, threadID, postID int64) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return nil, err
	}
	if t.Kind != faultline.ThreadQuestion || !(d.staff || t.AuthorID == viewer.ID) {
		return nil, errNoThread
	}
	var p *faultline.Post
	if postID != 0 {
		var pt *faultline.Thread
		p, pt, err = s.post(ctx, d, postID)
		if err != nil || pt.ID != t.ID || p.Opening || p.State != faultline.PostVisible {
			return nil, faultline.Errorf(faultline.EINVALID, "Mark a reply of this question that shows as its answer.")
		}
	}
	nt, err := s.d.Discussions.UpdateThread(ctx, t.ID, func(t *faultline.Thread) error { t.AnswerID = postID; return nil })
	if err != nil {
		return nil, internal(err, "mark answer of thread %d", t.ID)
	}
	if d.staff && t.AuthorID != viewer.ID {
		s.audit(ctx, d, "mark answer", fmt.Sprintf("“%s”", t.Title), fmt.Sprintf("post %d", postID))
	}
	if p != nil {
		s.notify(ctx, viewer.ID, []notice{{to: p.AuthorID, kind: faultline.NotifyAnswer, cohortID: t.CohortID,
			actor: s.actorFor(ctx, d, p.AuthorID, t.Anonymous && t.AuthorID == viewer.ID, viewer),
			title: "Your reply was marked as the answer to “" + t.Title + "”", url: PostURL(t.CohortID, t.ID, p.ID)}})
	}
	return nt, nil
}

// Thread flags staff set.
const (
	FlagPinned  = "pinned"
	FlagLocked  = "locked"
	FlagPrivate = "private"
	FlagShared  = "shared" // a group's thread shown to the whole cohort
)

// SetThreadFlag pins, locks, makes private or shares (a group's thread with
// the cohort) a thread, or undoes it; staff only (ENOTFOUND for anyone
// else). EINVALID for an unknown flag or sharing a thread that is no
// group's.
func (s *Service) SetThreadFlag(ctx context.Context, viewer *faultline.User, cohortID, threadID int64, flag string, on bool) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	if !d.staff {
		return nil, errNoThread
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return nil, err
	}
	nt, err := s.d.Discussions.UpdateThread(ctx, t.ID, func(t *faultline.Thread) error {
		switch flag {
		case FlagPinned:
			t.Pinned = on
		case FlagLocked:
			t.Locked = on
		case FlagPrivate:
			if on && t.GroupID != 0 {
				return faultline.Errorf(faultline.EINVALID, "A group's thread is seen by its group; share it or not.")
			}
			t.Private = on
		case FlagShared:
			if t.GroupID == 0 {
				return faultline.Errorf(faultline.EINVALID, "Only a group's thread can be shared with the cohort.")
			}
			t.Shared = on
		default:
			return faultline.Errorf(faultline.EINVALID, "Unknown thread setting %q.", flag)
		}
		return nil
	})
	if err != nil {
		return nil, internal(err, "set %s of thread %d", flag, t.ID)
	}
	verb := map[string][2]string{
		FlagPinned: {"pin thread", "unpin thread"}, FlagLocked: {"lock thread", "unlock thread"},
		FlagPrivate: {"make thread private", "make thread public"}, FlagShared: {"share group thread", "unshare group thread"},
	}[flag]
	action := verb[0]
	if !on {
		action = verb[1]
	}
	s.audit(ctx, d, action, fmt.Sprintf("“%s”", t.Title), "")
	return nt, nil
}

// Vote adds (on) or removes the viewer's "same question" vote on a
// question, which also makes them follow it. Learners only, not on their
// own question (EINVALID).
func (s *Service) Vote(ctx context.Context, viewer *faultline.User, cohortID, threadID int64, on bool) (int, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return 0, err
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return 0, err
	}
	if d.staff || t.AuthorID == viewer.ID || t.Kind != faultline.ThreadQuestion {
		return 0, faultline.Errorf(faultline.EINVALID, "Classmates vote on others' questions.")
	}
	n, err := s.d.Discussions.Vote(ctx, t.ID, viewer.ID, on)
	if err != nil {
		return 0, internal(err, "vote on thread %d", t.ID)
	}
	return n, nil
}

// MarkThreadRead records that the viewer has read the thread up to post
// upTo (at most its newest post they see).
func (s *Service) MarkThreadRead(ctx context.Context, viewer *faultline.User, cohortID, threadID, upTo int64) error {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return err
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return err
	}
	ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: cohortID, IDs: []int64{t.ID}, Groups: t.GroupID != 0})
	if err != nil {
		return fmt.Errorf("thread %d: %w", t.ID, err)
	}
	if len(ts) == 0 {
		return nil
	}
	upTo = min(upTo, ts[0].LastPostID)
	if upTo <= 0 {
		return nil
	}
	if err := s.d.Discussions.MarkRead(ctx, viewer.ID, t.ID, upTo); err != nil {
		return internal(err, "mark thread %d read", t.ID)
	}
	return nil
}

// ReportPost reports someone else's post to staff. ECONFLICT when the
// viewer reported it already; EINVALID for their own post or a long reason.
func (s *Service) ReportPost(ctx context.Context, viewer *faultline.User, cohortID, postID int64, reason string) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	p, t, err := s.post(ctx, d, postID)
	if err != nil {
		return nil, err
	}
	if p.AuthorID == viewer.ID {
		return nil, faultline.Errorf(faultline.EINVALID, "You cannot report your own post; edit or delete it.")
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > 1000 {
		return nil, faultline.Errorf(faultline.EINVALID, "Keep the reason under 1000 characters.")
	}
	if err := s.d.Moderation.ReportPost(ctx, &faultline.PostReport{PostID: p.ID, ReporterID: viewer.ID, Reason: reason}); err != nil {
		return nil, internal(err, "report post %d", p.ID)
	}
	staff, err := s.staffOf(ctx, cohortID)
	if err != nil {
		return nil, err
	}
	var ns []notice
	for _, u := range staff {
		ns = append(ns, notice{to: u, kind: faultline.NotifyModeration, cohortID: cohortID, topic: t.Title, actor: viewer.Name,
			title: "A post in “" + t.Title + "” was reported", excerpt: reason, url: ModerationURL(cohortID)})
	}
	s.notify(ctx, viewer.ID, ns)
	return t, nil
}

// Moderation actions on a post.
const (
	ModHide    = "hide"    // a post that shows or is held: hidden
	ModRestore = "restore" // a hidden post shows again
	ModRelease = "release" // a held post shows
)

// ModeratePost hides, restores or releases a post, closing its reports;
// staff only (ENOTFOUND for anyone else). EINVALID for an action that does
// not fit the post's state.
func (s *Service) ModeratePost(ctx context.Context, viewer *faultline.User, cohortID, postID int64, action string) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	if !d.staff {
		return nil, errNoPost
	}
	p, t, err := s.post(ctx, d, postID)
	if err != nil {
		return nil, err
	}
	var to faultline.PostState
	var title string
	switch {
	case action == ModHide && (p.State == faultline.PostVisible || p.State == faultline.PostHeld):
		to, title = faultline.PostHidden, "Staff hid your post in “"+t.Title+"”"
	case action == ModRestore && p.State == faultline.PostHidden:
		to, title = faultline.PostVisible, "Staff restored your post in “"+t.Title+"”"
	case action == ModRelease && p.State == faultline.PostHeld:
		to, title = faultline.PostVisible, "Staff released your held post in “"+t.Title+"”"
	default:
		return nil, faultline.Errorf(faultline.EINVALID, "A %s post cannot be given “%s”.", p.State, action)
	}
	np, err := s.d.Discussions.SetPostState(ctx, p.ID, to, "")
	if err != nil {
		return nil, internal(err, "%s post %d", action, p.ID)
	}
	if err := s.d.Moderation.ResolveReports(ctx, p.ID, viewer.ID); err != nil {
		return nil, fmt.Errorf("resolve reports of post %d: %w", p.ID, err)
	}
	if to == faultline.PostHidden && t.AnswerID == p.ID {
		if _, err := s.d.Discussions.UpdateThread(ctx, t.ID, func(t *faultline.Thread) error { t.AnswerID = 0; return nil }); err != nil {
			return nil, internal(err, "unmark answer of thread %d", t.ID)
		}
	}
	s.audit(ctx, d, action+" post", fmt.Sprintf("post %d in “%s”", p.ID, t.Title), "")
	s.notify(ctx, viewer.ID, []notice{{to: p.AuthorID, kind: faultline.NotifyModeration, cohortID: cohortID, topic: t.Title, actor: viewer.Name,
		title: title, url: PostURL(cohortID, t.ID, p.ID)}})
	if action == ModRelease {
		s.announcePost(ctx, &discussant{user: s.userOrNil(ctx, p.AuthorID), cohort: d.cohort, staff: p.Staff}, t, np)
	}
	return t, nil
}

// userOrNil loads a user for whose actions notices are sent; a stub when
// the account is gone.
func (s *Service) userOrNil(ctx context.Context, id int64) *faultline.User {
	if u, err := s.d.Users.FindUserByID(ctx, id); err == nil {
		return u
	}
	return &faultline.User{ID: id}
}

// audit records a staff action; a failure is logged, never shown.
func (s *Service) audit(ctx context.Context, d *discussant, action, target, detail string) {
	e := &faultline.AuditEntry{CohortID: d.cohort.ID, ActorID: d.user.ID, Action: action, Target: target, Detail: detail}
	if err := s.d.Moderation.Audit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit", "cohort", d.cohort.ID, "action", action, "err", err)
	}
}

// staffOf returns the IDs of the cohort's instructor and co-instructors.
func (s *Service) staffOf(ctx context.Context, cohortID int64) ([]int64, error) {
	ms, err := s.d.Cohorts.ListMembers(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("members of cohort %d: %w", cohortID, err)
	}
	var out []int64
	for _, m := range ms {
		if m.Role.Teaches() {
			out = append(out, m.User.ID)
		}
	}
	return out, nil
}

// actorFor is the name of user actor as recipient may see it: Anonymous to
// a classmate when anonymous.
func (s *Service) actorFor(ctx context.Context, d *discussant, recipient int64, anonymous bool, actor *faultline.User) string {
	if !anonymous {
		return actor.Name
	}
	staff, err := s.teaches(ctx, s.userOrNil(ctx, recipient), d.cohort.ID)
	if err != nil || !staff {
		return faultline.Anonymous
	}
	return actor.Name
}

// notifyHeld tells the cohort's staff a post waits for them.
func (s *Service) notifyHeld(ctx context.Context, d *discussant, t *faultline.Thread, p *faultline.Post) {
	staff, err := s.staffOf(ctx, t.CohortID)
	if err != nil {
		s.log.ErrorContext(ctx, "notify held post", "post", p.ID, "err", err)
		return
	}
	var ns []notice
	for _, u := range staff {
		ns = append(ns, notice{to: u, kind: faultline.NotifyModeration, cohortID: t.CohortID, topic: t.Title, actor: d.user.Name,
			title: "A post in “" + t.Title + "” was held by the solution-leak guard", excerpt: p.HeldReason, url: ModerationURL(t.CohortID)})
	}
	s.notify(ctx, d.user.ID, ns)
}

// announcePost tells whoever follows the thread about a post that now
// shows: the question's author that it has an answer, @mentioned members,
// the other followers; staff about a new thread; everyone about an
// announcement. Each recipient must be able to see the thread, and sees the
// author's name only when they may.
func (s *Service) announcePost(ctx context.Context, d *discussant, t *faultline.Thread, p *faultline.Post) {
	if err := s.announce(ctx, d, t, p); err != nil {
		s.log.ErrorContext(ctx, "announce post", "post", p.ID, "thread", t.ID, "err", err)
	}
}

func (s *Service) announce(ctx context.Context, d *discussant, t *faultline.Thread, p *faultline.Post) error {
	members, err := s.d.Cohorts.ListMembers(ctx, t.CohortID)
	if err != nil {
		return fmt.Errorf("members of cohort %d: %w", t.CohortID, err)
	}
	var group map[int64]bool
	if t.GroupID != 0 {
		g, err := s.d.Groups.FindGroup(ctx, t.GroupID)
		if err != nil {
			return fmt.Errorf("find group %d: %w", t.GroupID, err)
		}
		group = map[int64]bool{}
		for _, u := range g.Members {
			group[u] = true
		}
	}
	staff := map[int64]bool{}
	canSee := map[int64]bool{}
	for _, m := range members {
		id := m.User.ID
		switch {
		case m.Role.Teaches():
			staff[id], canSee[id] = true, true
		case t.Private:
			canSee[id] = id == t.AuthorID
		case group != nil:
			canSee[id] = group[id]
		default:
			canSee[id] = true
		}
	}
	actor := func(to int64) string {
		if p.Anonymous && !staff[to] {
			return faultline.Anonymous
		}
		return d.user.Name
	}
	url := PostURL(t.CohortID, t.ID, p.ID)
	excerpt := excerptOf(p.Body)
	var ns []notice
	for _, id := range mentions(p.Body, members) {
		if canSee[id] {
			ns = append(ns, notice{to: id, kind: faultline.NotifyMention, cohortID: t.CohortID, topic: t.Title, actor: actor(id),
				title: "You were mentioned in “" + t.Title + "”", excerpt: excerpt, url: url})
		}
	}
	if p.Opening {
		for _, m := range members {
			id := m.User.ID
			switch {
			case t.Kind == faultline.ThreadAnnouncement && canSee[id]:
				ns = append(ns, notice{to: id, kind: faultline.NotifyAnnouncement, cohortID: t.CohortID, topic: t.Title, started: true, actor: actor(id),
					title: "Announcement: " + t.Title, excerpt: excerpt, url: url})
			case staff[id]:
				what := "New question"
				if t.Kind == faultline.ThreadDiscussion {
					what = "New discussion"
				}
				if t.Private {
					what = "New private question"
				}
				ns = append(ns, notice{to: id, kind: faultline.NotifyReply, cohortID: t.CohortID, topic: t.Title, started: true, actor: actor(id),
					title: what + ": “" + t.Title + "”", excerpt: excerpt, url: url})
			}
		}
		s.notify(ctx, d.user.ID, ns)
		return nil
	}
	followers, err := s.d.Discussions.Followers(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("followers of thread %d: %w", t.ID, err)
	}
	for _, id := range followers {
		if !canSee[id] {
			continue
		}
		n := notice{to: id, kind: faultline.NotifyReply, cohortID: t.CohortID, topic: t.Title, actor: actor(id),
			title: "New reply in “" + t.Title + "”", excerpt: excerpt, url: url}
		if id == t.AuthorID && t.Kind == faultline.ThreadQuestion {
			n.kind, n.title = faultline.NotifyAnswer, "New answer to your question “"+t.Title+"”"
		}
		ns = append(ns, n)
	}
	s.notify(ctx, d.user.ID, ns)
	return nil
}

// ---- Moderation page ----

// HeldPost is a post waiting for staff, or a reported one.
type HeldPost struct {
	Post    *PostView
	Thread  *faultline.Thread
	Reasons []string // reports' reasons, with who reported
}

// AuditLine is one entry of the audit log, with the actor's name.
type AuditLine struct {
	faultline.AuditEntry
	Actor string
}

// ModerationPage is what staff moderate in a cohort.
type ModerationPage struct {
	Cohort   *faultline.Cohort
	Held     []HeldPost
	Reported []HeldPost
	Hidden   []HeldPost
	Audit    []AuditLine
}

// Moderation returns the cohort's held, reported and hidden posts and its
// audit log; staff only (ENOTFOUND for anyone else).
func (s *Service) Moderation(ctx context.Context, viewer *faultline.User, cohortID int64) (*ModerationPage, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	pg := &ModerationPage{Cohort: c}
	n := s.names()
	reports, err := s.d.Moderation.OpenReports(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("reports in cohort %d: %w", cohortID, err)
	}
	reasons := map[int64][]string{}
	for _, r := range reports {
		who, err := n.name(ctx, r.ReporterID)
		if err != nil {
			return nil, err
		}
		line := who
		if r.Reason != "" {
			line += ": " + r.Reason
		}
		reasons[r.PostID] = append(reasons[r.PostID], line)
	}
	for _, groups := range []bool{false, true} {
		ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: cohortID, Groups: groups})
		if err != nil {
			return nil, fmt.Errorf("threads of cohort %d: %w", cohortID, err)
		}
		for _, t := range ts {
			if groups && t.Shared {
				continue // listed with the cohort's threads
			}
			posts, err := s.d.Discussions.ListPosts(ctx, t.ID)
			if err != nil {
				return nil, fmt.Errorf("posts of thread %d: %w", t.ID, err)
			}
			for _, p := range posts {
				if p.State != faultline.PostHeld && p.State != faultline.PostHidden && reasons[p.ID] == nil {
					continue
				}
				pv, err := s.postView(ctx, d, n, t, p)
				if err != nil {
					return nil, err
				}
				h := HeldPost{Post: pv, Thread: t, Reasons: reasons[p.ID]}
				switch {
				case p.State == faultline.PostHeld:
					pg.Held = append(pg.Held, h)
				case reasons[p.ID] != nil:
					pg.Reported = append(pg.Reported, h)
				case p.State == faultline.PostHidden:
					pg.Hidden = append(pg.Hidden, h)
				}
			}
		}
	}
	log, err := s.d.Moderation.AuditLog(ctx, cohortID, 200)
	if err != nil {
		return nil, fmt.Errorf("audit log of cohort %d: %w", cohortID, err)
	}
	for _, e := range log {
		who, err := n.name(ctx, e.ActorID)
		if err != nil {
			return nil, err
		}
		pg.Audit = append(pg.Audit, AuditLine{AuditEntry: *e, Actor: who})
	}
	return pg, nil
}

package course

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// A cohort's discussions: who may read and write what, and the threads and
// posts as one viewer may see them. The rules:
//
//   - Only the cohort's members take part: its learners, and whoever
//     teaches it ("staff": instructor, co-instructors, admins). Anyone else
//     gets ENOTFOUND, as for a cohort that does not exist.
//   - A private thread is seen by its author and staff only; a group's
//     thread by the group and staff, until staff share it with the cohort.
//   - An anonymous author appears as faultline.Anonymous to classmates;
//     staff and the author themself see who. The views below carry no
//     user ID and no name a viewer may not see, so no page, JSON answer or
//     event stream built from them can leak one.
//   - A held post (the solution-leak guard) is seen by its author, with the
//     reason, and by staff; a hidden post by staff and its author; a deleted
//     post shows as deleted, its text to staff only.

var (
	errNoThread = faultline.Errorf(faultline.ENOTFOUND, "There is no such thread.")
	errNoPost   = faultline.Errorf(faultline.ENOTFOUND, "There is no such post.")
)

// discussant is a viewer inside one cohort's discussions.
type discussant struct {
	user   *faultline.User
	cohort *faultline.Cohort
	staff  bool
	groups map[int64]bool // groups (current or archived) the viewer is in
}

// discussant returns viewer's standing in the cohort's discussions:
// EUNAUTHORIZED for a visitor, ENOTFOUND unless they learn in or teach it.
func (s *Service) discussant(ctx context.Context, viewer *faultline.User, cohortID int64) (*discussant, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	if cohortID <= 0 {
		return nil, errNoCohort
	}
	staff, err := s.teaches(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	if !staff {
		role, err := s.d.Cohorts.MemberRole(ctx, cohortID, viewer.ID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND || err == nil && role != faultline.MemberLearner {
			return nil, errNoCohort
		} else if err != nil {
			return nil, fmt.Errorf("role of user %d in cohort %d: %w", viewer.ID, cohortID, err)
		}
	}
	c, err := s.d.Cohorts.FindCohortByID(ctx, cohortID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoCohort
	} else if err != nil {
		return nil, fmt.Errorf("find cohort %d: %w", cohortID, err)
	}
	d := &discussant{user: viewer, cohort: c, staff: staff, groups: map[int64]bool{}}
	if !staff {
		gs, err := s.d.Groups.ListGroups(ctx, cohortID, true)
		if err != nil {
			return nil, fmt.Errorf("groups of cohort %d: %w", cohortID, err)
		}
		for _, g := range gs {
			if slices.Contains(g.Members, viewer.ID) {
				d.groups[g.ID] = true
			}
		}
	}
	return d, nil
}

// canSee reports whether the discussant may read the thread.
func (d *discussant) canSee(t *faultline.Thread) bool {
	switch {
	case t.CohortID != d.cohort.ID:
		return false
	case d.staff:
		return true
	case t.Private && t.AuthorID != d.user.ID:
		return false
	case t.GroupID != 0 && !t.Shared && !d.groups[t.GroupID]:
		return false
	}
	return true
}

// canPost reports whether the discussant may reply in the thread: staff
// always; learners when it is not locked and, for a group's thread, when
// they are in the group (a shared group thread is read-only to the rest).
func (d *discussant) canPost(t *faultline.Thread) bool {
	if d.staff {
		return true
	}
	if t.Locked || !d.canSee(t) {
		return false
	}
	return t.GroupID == 0 || d.groups[t.GroupID]
}

// canSeePost reports whether the discussant may see the post at all (a
// deleted post shows as deleted to everyone).
func (d *discussant) canSeePost(p *faultline.Post) bool {
	switch p.State {
	case faultline.PostVisible, faultline.PostDeleted:
		return true
	case faultline.PostHeld, faultline.PostHidden:
		return d.staff || p.AuthorID == d.user.ID
	}
	return false
}

// thread loads a thread the discussant may see; ENOTFOUND otherwise.
func (s *Service) thread(ctx context.Context, d *discussant, id int64) (*faultline.Thread, error) {
	if id <= 0 {
		return nil, errNoThread
	}
	t, err := s.d.Discussions.FindThread(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoThread
	} else if err != nil {
		return nil, fmt.Errorf("find thread %d: %w", id, err)
	}
	if !d.canSee(t) {
		return nil, errNoThread
	}
	return t, nil
}

// post loads a post of a thread the discussant may see, and the thread;
// ENOTFOUND otherwise.
func (s *Service) post(ctx context.Context, d *discussant, id int64) (*faultline.Post, *faultline.Thread, error) {
	if id <= 0 {
		return nil, nil, errNoPost
	}
	p, err := s.d.Discussions.FindPost(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, nil, errNoPost
	} else if err != nil {
		return nil, nil, fmt.Errorf("find post %d: %w", id, err)
	}
	t, err := s.thread(ctx, d, p.ThreadID)
	if err != nil {
		return nil, nil, errNoPost
	}
	if !d.canSeePost(p) {
		return nil, nil, errNoPost
	}
	return p, t, nil
}

// Author is how the author of a thread or post appears to one viewer.
type Author struct {
	// Name is what the viewer may see: the author's name, or
	// faultline.Anonymous to a classmate of an anonymous author, or
	// "Course" for a group's prompt thread.
	Name string
	// ID is the author's user ID when the viewer may know who it is, else 0.
	ID int64
	// Self: the viewer wrote it. Staff: the author teaches the cohort.
	Self  bool
	Staff bool
	// Anonymous: posted anonymously (to staff and the author this says
	// classmates see "Anonymous").
	Anonymous bool
}

// names looks users' names (and whether they teach a cohort) up once each.
type names struct {
	s     *Service
	m     map[int64]*faultline.User
	staff map[[2]int64]bool
}

func (s *Service) names() *names {
	return &names{s: s, m: map[int64]*faultline.User{}, staff: map[[2]int64]bool{}}
}

// teaches reports whether user id teaches the cohort.
func (n *names) teaches(ctx context.Context, cohortID, id int64) (bool, error) {
	k := [2]int64{cohortID, id}
	if v, ok := n.staff[k]; ok {
		return v, nil
	}
	u, err := n.user(ctx, id)
	if err != nil {
		return false, err
	}
	v, err := n.s.teaches(ctx, u, cohortID)
	if err != nil {
		return false, err
	}
	n.staff[k] = v
	return v, nil
}

func (n *names) user(ctx context.Context, id int64) (*faultline.User, error) {
	if u, ok := n.m[id]; ok {
		return u, nil
	}
	u, err := n.s.d.Users.FindUserByID(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		u = &faultline.User{ID: id, Name: "Former member"}
	} else if err != nil {
		return nil, fmt.Errorf("find user %d: %w", id, err)
	}
	n.m[id] = u
	return u, nil
}

func (n *names) name(ctx context.Context, id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	u, err := n.user(ctx, id)
	if err != nil {
		return "", err
	}
	return u.Name, nil
}

// author returns how author authorID (anonymous or not) appears to d.
func (d *discussant) author(ctx context.Context, n *names, authorID int64, anonymous, staffAuthor bool) (Author, error) {
	if authorID == 0 {
		return Author{Name: "Course"}, nil
	}
	self := authorID == d.user.ID
	a := Author{Self: self, Staff: staffAuthor, Anonymous: anonymous}
	if anonymous && !d.staff && !self {
		a.Name = faultline.Anonymous
		return a, nil
	}
	name, err := n.name(ctx, authorID)
	if err != nil {
		return Author{}, err
	}
	a.Name, _ = faultline.AuthorFor(name, anonymous, d.staff, self)
	a.ID = authorID
	return a, nil
}

// ThreadView is a thread as one viewer may see it. Thread is a copy whose
// AuthorID is 0 when the viewer may not know the author, and whose Run has
// no submission ID unless the viewer may open it.
type ThreadView struct {
	Thread     faultline.Thread
	Cohort     *faultline.Cohort
	Author     Author
	PlaceTitle string // "Lab: Circuit breaker", "General"
	GroupName  string // for a group's thread
	// What the viewer may do.
	Staff       bool // the viewer teaches the cohort
	CanPost     bool
	CanVote     bool // a learner who did not start it
	Voted       bool
	CanResolve  bool // mark an answer: the question's author or staff
	CanOpenRun  bool // open the attached run's submission: staff or its owner
	SharedGroup bool // a group's thread shared with the cohort (read-only to others)
}

// threadView builds the view of t for d.
func (s *Service) threadView(ctx context.Context, d *discussant, n *names, t *faultline.Thread) (*ThreadView, error) {
	v := &ThreadView{Thread: *t, Cohort: d.cohort, Staff: d.staff, PlaceTitle: s.placeTitle(t.Place)}
	a, err := d.author(ctx, n, t.AuthorID, t.Anonymous, false)
	if err != nil {
		return nil, err
	}
	if t.AuthorID != 0 {
		if a.Staff, err = n.teaches(ctx, d.cohort.ID, t.AuthorID); err != nil {
			return nil, err
		}
	}
	v.Author = a
	v.Thread.AuthorID = a.ID
	if t.Run != nil {
		run := *t.Run
		v.CanOpenRun = d.staff || a.Self
		if !v.CanOpenRun {
			run.SubmissionID = 0
		}
		v.Thread.Run = &run
	}
	if t.GroupID != 0 {
		g, err := s.d.Groups.FindGroup(ctx, t.GroupID)
		if err != nil {
			return nil, fmt.Errorf("find group %d: %w", t.GroupID, err)
		}
		v.GroupName = g.Name
		v.SharedGroup = t.Shared && !d.staff && !d.groups[t.GroupID]
	}
	v.CanPost = d.canPost(t)
	v.CanVote = !d.staff && !a.Self && t.Kind == faultline.ThreadQuestion
	v.CanResolve = t.Kind == faultline.ThreadQuestion && (d.staff || a.Self)
	return v, nil
}

// placeTitle names a place for people.
func (s *Service) placeTitle(p faultline.Place) string {
	switch p.Kind {
	case faultline.PlaceLab:
		return "Lab: " + s.labTitle(p.Slug)
	case faultline.PlaceLesson, faultline.PlaceCase:
		prefix := "Lesson: "
		if p.Kind == faultline.PlaceCase {
			prefix = "Case study: "
		}
		if l, err := s.d.Lessons.Lesson(p.Slug); err == nil {
			return prefix + strings.TrimPrefix(l.Title, "Case study: ")
		}
		return prefix + p.Slug
	}
	return "General"
}

// checkPlace returns ENOTFOUND-free EINVALID unless the place exists: a
// lesson, a case study or a lab of the catalogs, or the cohort.
func (s *Service) checkPlace(p faultline.Place) error {
	switch p.Kind {
	case faultline.PlaceCohort:
		return nil
	case faultline.PlaceLab:
		if _, err := s.d.Labs.Lab(p.Slug); err == nil {
			return nil
		}
	case faultline.PlaceLesson, faultline.PlaceCase:
		if l, err := s.d.Lessons.Lesson(p.Slug); err == nil && (l.Kind == "case") == (p.Kind == faultline.PlaceCase) {
			return nil
		}
	}
	return faultline.Errorf(faultline.EINVALID, "There is no %s %q to discuss.", p.Kind, p.Slug)
}

// PostView is a post as one viewer may see it. Post is a copy: AuthorID is
// 0 when the viewer may not know the author, and a deleted post's text is
// kept only for staff.
type PostView struct {
	Post       faultline.Post
	Author     Author
	EndorsedBy string // the staff member's name; "" when not endorsed
	Answer     bool   // marked as the answer to the question
	Replies    []*PostView
	// What the viewer may do.
	CanEdit     bool
	CanDelete   bool
	CanEndorse  bool
	CanAnswer   bool // mark (or unmark) it as the answer
	CanModerate bool // hide, restore, release a held post
	CanReport   bool
	CanReply    bool
	CanHistory  bool // see the edit history
	Reports     int  // open reports (staff only)
}

// postViews builds the viewer's tree of posts: the opening post, then the
// replies, each with its replies (one level; deeper replies join their
// top-level ancestor).
func (s *Service) postViews(ctx context.Context, d *discussant, n *names, t *faultline.Thread, posts []*faultline.Post, reports map[int64]int) (opening *PostView, replies []*PostView, err error) {
	byID := map[int64]*PostView{}
	top := map[int64]int64{} // post → its top-level ancestor
	for _, p := range posts {
		if !d.canSeePost(p) {
			continue
		}
		pv, err := s.postView(ctx, d, n, t, p)
		if err != nil {
			return nil, nil, err
		}
		pv.Reports = reports[p.ID]
		byID[p.ID] = pv
		switch {
		case p.Opening:
			opening = pv
		case p.ParentID == 0 || byID[p.ParentID] == nil || byID[p.ParentID].Post.Opening:
			top[p.ID] = p.ID
			replies = append(replies, pv)
		default:
			root := top[p.ParentID]
			if root == 0 {
				root = p.ParentID
			}
			top[p.ID] = root
			if parent := byID[root]; parent != nil {
				parent.Replies = append(parent.Replies, pv)
			} else {
				replies = append(replies, pv)
			}
		}
	}
	return opening, replies, nil
}

// postView builds the view of p for d.
func (s *Service) postView(ctx context.Context, d *discussant, n *names, t *faultline.Thread, p *faultline.Post) (*PostView, error) {
	a, err := d.author(ctx, n, p.AuthorID, p.Anonymous, p.Staff)
	if err != nil {
		return nil, err
	}
	v := &PostView{Post: *p, Author: a, Answer: t.AnswerID == p.ID}
	v.Post.AuthorID = a.ID
	if p.EndorsedBy != 0 {
		if v.EndorsedBy, err = n.name(ctx, p.EndorsedBy); err != nil {
			return nil, err
		}
	}
	if p.State == faultline.PostDeleted && !d.staff {
		v.Post.Body, v.Post.HTML = "", ""
	}
	if p.State != faultline.PostHeld {
		v.Post.HeldReason = ""
	}
	live := p.State != faultline.PostDeleted
	v.CanEdit = live && a.Self && (d.canPost(t) || p.State == faultline.PostHeld)
	v.CanDelete = live && a.Self
	v.CanEndorse = d.staff && live && !p.Opening && p.State == faultline.PostVisible
	v.CanAnswer = t.Kind == faultline.ThreadQuestion && !p.Opening && p.State == faultline.PostVisible && (d.staff || t.AuthorID == d.user.ID)
	v.CanModerate = d.staff && p.State != faultline.PostDeleted
	v.CanReport = !a.Self && live && p.State == faultline.PostVisible
	v.CanReply = live && p.State == faultline.PostVisible && d.canPost(t)
	v.CanHistory = p.Edits > 0 && (d.staff || a.Self)
	return v, nil
}

// ThreadPage is one thread with its posts as the viewer may see them.
type ThreadPage struct {
	*ThreadView
	Opening *PostView // nil for a group's prompt thread
	Replies []*PostView
	Prompt  string // a group thread's prompt
	// LastPostID is the newest post the viewer sees (for the read mark).
	LastPostID int64
}

// Thread returns a thread with its posts as viewer may see it; ENOTFOUND
// unless they may (another cohort, another group, someone else's private
// thread).
func (s *Service) Thread(ctx context.Context, viewer *faultline.User, cohortID, threadID int64) (*ThreadPage, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return nil, err
	}
	return s.threadPage(ctx, d, t)
}

func (s *Service) threadPage(ctx context.Context, d *discussant, t *faultline.Thread) (*ThreadPage, error) {
	n := s.names()
	tv, err := s.threadView(ctx, d, n, t)
	if err != nil {
		return nil, err
	}
	if tv.CanVote {
		if tv.Voted, err = s.d.Discussions.Voted(ctx, t.ID, d.user.ID); err != nil {
			return nil, fmt.Errorf("vote on thread %d: %w", t.ID, err)
		}
	}
	posts, err := s.d.Discussions.ListPosts(ctx, t.ID)
	if err != nil {
		return nil, fmt.Errorf("posts of thread %d: %w", t.ID, err)
	}
	reports := map[int64]int{}
	if d.staff {
		rs, err := s.d.Moderation.OpenReports(ctx, d.cohort.ID)
		if err != nil {
			return nil, fmt.Errorf("reports in cohort %d: %w", d.cohort.ID, err)
		}
		for _, r := range rs {
			if r.ThreadID == t.ID {
				reports[r.PostID]++
			}
		}
	}
	pg := &ThreadPage{ThreadView: tv}
	if pg.Opening, pg.Replies, err = s.postViews(ctx, d, n, t, posts, reports); err != nil {
		return nil, err
	}
	for _, p := range posts {
		if d.canSeePost(p) && p.State == faultline.PostVisible {
			pg.LastPostID = max(pg.LastPostID, p.ID)
		}
	}
	tv.Thread.Votes, _ = countVotes(ctx, s, t.ID)
	if t.GroupID != 0 && t.Prompt > 0 {
		if l, err := s.d.Lessons.Lesson(t.Place.Slug); err == nil && t.Prompt <= len(l.Discussion) {
			pg.Prompt = l.Discussion[t.Prompt-1]
		}
	}
	return pg, nil
}

// countVotes counts a thread's "same question" votes through the list query.
func countVotes(ctx context.Context, s *Service, threadID int64) (int, error) {
	t, err := s.d.Discussions.FindThread(ctx, threadID)
	if err != nil {
		return 0, err
	}
	ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: t.CohortID, IDs: []int64{threadID}, Groups: t.GroupID != 0})
	if err != nil || len(ts) == 0 {
		return 0, err
	}
	return ts[0].Votes, nil
}

// ThreadVersion returns the thread's version (cheap to poll) to whoever may
// see it; known skips the permission check for a stream that made it when
// it began.
func (s *Service) ThreadVersion(ctx context.Context, viewer *faultline.User, cohortID, threadID int64, known bool) (int64, error) {
	if !known {
		d, err := s.discussant(ctx, viewer, cohortID)
		if err != nil {
			return 0, err
		}
		if _, err := s.thread(ctx, d, threadID); err != nil {
			return 0, err
		}
	}
	v, err := s.d.Discussions.ThreadVersion(ctx, threadID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return 0, errNoThread
	}
	return v, err
}

// DiscussionVersion returns a number that changes whenever anything in the
// cohort's discussions does (cheap to poll), to whoever takes part in them;
// known skips the check for a stream that made it when it began.
func (s *Service) DiscussionVersion(ctx context.Context, viewer *faultline.User, cohortID int64, known bool) (int64, error) {
	if !known {
		if _, err := s.discussant(ctx, viewer, cohortID); err != nil {
			return 0, err
		}
	}
	v, err := s.d.Discussions.CohortVersion(ctx, cohortID)
	if err != nil {
		return 0, fmt.Errorf("discussion version of cohort %d: %w", cohortID, err)
	}
	return v, nil
}

// Filters of the cohort's thread list.
const (
	FilterAll        = ""
	FilterUnanswered = "unanswered" // questions nobody but the author replied to
	FilterUnresolved = "unresolved" // questions without a marked answer
	FilterMine       = "mine"       // threads the viewer started
	FilterUnread     = "unread"     // threads with posts the viewer has not read
)

// ThreadQuery selects threads of a cohort's index.
type ThreadQuery struct {
	Filter string
	Place  *faultline.Place
	Search string
}

// ThreadList is a cohort's discussion index as one viewer sees it.
type ThreadList struct {
	Cohort  *faultline.Cohort
	Staff   bool
	Threads []*ThreadView
	// Unread counts threads with unread posts among those listed.
	Unread int
	// Places are the places that have threads the viewer may see, with
	// how many, for the filter.
	Places []PlaceCount
}

// PlaceCount is a place and how many threads it has.
type PlaceCount struct {
	Place faultline.Place
	Title string
	N     int
}

// Threads returns the cohort's threads the viewer may see that match q,
// pinned first, then by latest activity. EINVALID for an unknown filter;
// ENOTFOUND unless the viewer learns in or teaches the cohort.
func (s *Service) Threads(ctx context.Context, viewer *faultline.User, cohortID int64, q ThreadQuery) (*ThreadList, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	switch q.Filter {
	case FilterAll, FilterUnanswered, FilterUnresolved, FilterMine, FilterUnread:
	default:
		return nil, faultline.Errorf(faultline.EINVALID, "Unknown filter %q.", q.Filter)
	}
	f := faultline.ThreadFilter{CohortID: cohortID, Reader: viewer.ID}
	if terms := searchTerms(q.Search); len(terms) > 0 {
		ids, err := s.d.Discussions.SearchThreads(ctx, cohortID, terms)
		if err != nil {
			return nil, fmt.Errorf("search threads of cohort %d: %w", cohortID, err)
		}
		f.IDs = ids
	}
	all, err := s.d.Discussions.ListThreads(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("threads of cohort %d: %w", cohortID, err)
	}
	out := &ThreadList{Cohort: d.cohort, Staff: d.staff, Threads: []*ThreadView{}}
	places := map[faultline.Place]int{}
	n := s.names()
	for _, t := range all {
		if !d.canSee(t) {
			continue
		}
		places[t.Place]++
		if q.Place != nil && t.Place != *q.Place {
			continue
		}
		switch q.Filter {
		case FilterUnanswered:
			if t.Kind != faultline.ThreadQuestion || t.Answered() {
				continue
			}
		case FilterUnresolved:
			if t.Kind != faultline.ThreadQuestion || t.Resolved() {
				continue
			}
		case FilterMine:
			if t.AuthorID != viewer.ID {
				continue
			}
		case FilterUnread:
			if t.Unread == 0 {
				continue
			}
		}
		tv, err := s.threadView(ctx, d, n, t)
		if err != nil {
			return nil, err
		}
		if t.Unread > 0 {
			out.Unread++
		}
		out.Threads = append(out.Threads, tv)
	}
	for p, k := range places {
		out.Places = append(out.Places, PlaceCount{Place: p, Title: s.placeTitle(p), N: k})
	}
	slices.SortFunc(out.Places, func(a, b PlaceCount) int { return strings.Compare(a.Title, b.Title) })
	return out, nil
}

// searchTerms splits a search into at most 8 words of 2 or more characters.
func searchTerms(q string) []string {
	var out []string
	for _, w := range strings.Fields(q) {
		if len([]rune(w)) >= 2 && len(w) <= 100 {
			out = append(out, w)
		}
		if len(out) == 8 {
			break
		}
	}
	return out
}

// DiscussionCohort is a cohort the viewer takes part in, with unread
// threads.
type DiscussionCohort struct {
	Cohort *faultline.Cohort
	Staff  bool
	Unread int
}

// DiscussionCohorts lists the cohorts whose discussions viewer takes part
// in: those they learn in or teach (every cohort for an admin), newest first.
func (s *Service) DiscussionCohorts(ctx context.Context, viewer *faultline.User) ([]DiscussionCohort, error) {
	ds, err := s.discussants(ctx, viewer)
	if err != nil {
		return nil, err
	}
	out := []DiscussionCohort{}
	for _, d := range ds {
		ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: d.cohort.ID, Reader: viewer.ID})
		if err != nil {
			return nil, fmt.Errorf("threads of cohort %d: %w", d.cohort.ID, err)
		}
		dc := DiscussionCohort{Cohort: d.cohort, Staff: d.staff}
		for _, t := range ts {
			if d.canSee(t) && t.Unread > 0 {
				dc.Unread++
			}
		}
		out = append(out, dc)
	}
	return out, nil
}

// discussants returns viewer's standing in each cohort whose discussions
// they take part in, newest cohort first (see DiscussionCohorts).
func (s *Service) discussants(ctx context.Context, viewer *faultline.User) ([]*discussant, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	var cs []*faultline.Cohort
	var err error
	if viewer.Role == faultline.RoleAdmin {
		cs, err = s.d.Cohorts.ListCohorts(ctx, 0)
	} else {
		cs, err = s.d.Cohorts.ListCohorts(ctx, viewer.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("cohorts of user %d: %w", viewer.ID, err)
	}
	var out []*discussant
	for _, c := range cs {
		d, err := s.discussant(ctx, viewer, c.ID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// PlaceDiscussion is what a lesson, case study or lab page shows of one
// cohort's discussions there.
type PlaceDiscussion struct {
	Cohort  *faultline.Cohort
	Staff   bool
	Place   faultline.Place
	Threads []*ThreadView
	// Prompts are a case study's discussion prompts with the viewer's
	// group's thread on each (staff see every group's on the case board).
	Prompts []PromptView
	Group   *faultline.Group // the viewer's current group (nil: none)
}

// PromptView is one discussion prompt of a case study for a viewer.
type PromptView struct {
	N        int // 1-based
	Text     string
	ThreadID int64 // the viewer's group's thread (0: not started)
	Posts    int   // its visible posts
}

// AtPlace returns, for each cohort the viewer takes part in, the threads at
// a place (and a case study's prompts with their group's threads). A visitor
// gets nothing; EINVALID for an unknown place.
func (s *Service) AtPlace(ctx context.Context, viewer *faultline.User, place faultline.Place) ([]PlaceDiscussion, error) {
	if viewer == nil {
		return nil, nil
	}
	if err := s.checkPlace(place); err != nil {
		return nil, err
	}
	ds, err := s.discussants(ctx, viewer)
	if err != nil {
		return nil, err
	}
	var out []PlaceDiscussion
	for _, d := range ds {
		ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: d.cohort.ID, Place: &place, Reader: viewer.ID, Limit: 50})
		if err != nil {
			return nil, fmt.Errorf("threads at %s in cohort %d: %w", place, d.cohort.ID, err)
		}
		pd := PlaceDiscussion{Cohort: d.cohort, Staff: d.staff, Place: place, Threads: []*ThreadView{}}
		n := s.names()
		for _, t := range ts {
			if !d.canSee(t) {
				continue
			}
			tv, err := s.threadView(ctx, d, n, t)
			if err != nil {
				return nil, err
			}
			pd.Threads = append(pd.Threads, tv)
		}
		if place.Kind == faultline.PlaceCase {
			if err := s.placePrompts(ctx, d, &pd); err != nil {
				return nil, err
			}
		}
		out = append(out, pd)
	}
	return out, nil
}

// placePrompts fills a case study's prompts with the viewer's group's threads.
func (s *Service) placePrompts(ctx context.Context, d *discussant, pd *PlaceDiscussion) error {
	l, err := s.d.Lessons.Lesson(pd.Place.Slug)
	if err != nil {
		return nil
	}
	if !d.staff {
		g, err := s.currentGroup(ctx, d.cohort.ID, d.user.ID)
		if err != nil {
			return err
		}
		pd.Group = g
	}
	counts := map[int]*faultline.Thread{}
	if pd.Group != nil {
		ts, err := s.d.Discussions.ListThreads(ctx, faultline.ThreadFilter{CohortID: d.cohort.ID, Groups: true, GroupID: pd.Group.ID, Place: &pd.Place})
		if err != nil {
			return fmt.Errorf("threads of group %d: %w", pd.Group.ID, err)
		}
		for _, t := range ts {
			counts[t.Prompt] = t
		}
	}
	for i, p := range l.Discussion {
		pv := PromptView{N: i + 1, Text: p}
		if t := counts[i+1]; t != nil {
			pv.ThreadID, pv.Posts = t.ID, t.Replies
		}
		pd.Prompts = append(pd.Prompts, pv)
	}
	return nil
}

// currentGroup returns the user's current group in the cohort (nil: none).
func (s *Service) currentGroup(ctx context.Context, cohortID, userID int64) (*faultline.Group, error) {
	gs, err := s.d.Groups.ListGroups(ctx, cohortID, false)
	if err != nil {
		return nil, fmt.Errorf("groups of cohort %d: %w", cohortID, err)
	}
	for _, g := range gs {
		if slices.Contains(g.Members, userID) {
			return g, nil
		}
	}
	return nil, nil
}

// RevisionView is one earlier text of a post.
type RevisionView struct {
	Body   string
	Editor Author
	At     time.Time
}

// PostHistory returns the earlier texts of a post, newest first, to staff
// and to the post's author; ENOTFOUND for anyone else (an edit may have
// taken out what the guard held).
func (s *Service) PostHistory(ctx context.Context, viewer *faultline.User, cohortID, postID int64) (*PostView, []RevisionView, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, nil, err
	}
	p, t, err := s.post(ctx, d, postID)
	if err != nil {
		return nil, nil, err
	}
	if !d.staff && p.AuthorID != viewer.ID {
		return nil, nil, errNoPost
	}
	n := s.names()
	pv, err := s.postView(ctx, d, n, t, p)
	if err != nil {
		return nil, nil, err
	}
	revs, err := s.d.Discussions.PostRevisions(ctx, p.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("revisions of post %d: %w", p.ID, err)
	}
	out := make([]RevisionView, 0, len(revs))
	for _, r := range revs {
		a, err := d.author(ctx, n, r.EditorID, p.Anonymous && r.EditorID == p.AuthorID, false)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, RevisionView{Body: r.Body, Editor: a, At: r.CreatedAt})
	}
	return pv, out, nil
}

// RunPicture returns picture n of the run attached to a thread, to whoever
// may see the thread; ENOTFOUND otherwise or when name is not its name.
func (s *Service) RunPicture(ctx context.Context, viewer *faultline.User, cohortID, threadID int64, n int, name string) (*faultline.Attachment, error) {
	noPicture := faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	t, err := s.thread(ctx, d, threadID)
	if err != nil {
		return nil, err
	}
	if t.Run == nil || n < 0 || n >= len(t.Run.Pictures) || t.Run.Pictures[n].Name != name {
		return nil, noPicture
	}
	a := t.Run.Pictures[n]
	return &a, nil
}

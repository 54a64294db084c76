package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// discussionFixture is a cohort with an instructor and two learners.
type discussionFixture struct {
	db             *store.DB
	clk            *testClock
	inst, ann, bob *faultline.User
	cohort         *faultline.Cohort
	otherCohort    *faultline.Cohort
	ctx            context.Context
	tb             testing.TB
}

func mustDiscussionFixture(tb testing.TB) *discussionFixture {
	tb.Helper()
	db, clk := MustOpenDB(tb)
	f := &discussionFixture{db: db, clk: clk, ctx: context.Background(), tb: tb}
	f.inst = MustCreateUser(tb, db, "inst@example.com", faultline.RoleInstructor)
	f.ann = MustCreateUser(tb, db, "ann@example.com", faultline.RoleLearner)
	f.bob = MustCreateUser(tb, db, "bob@example.com", faultline.RoleLearner)
	f.cohort = MustCreateCohort(tb, db, f.inst.ID, "Spring", "inv-spring")
	f.otherCohort = MustCreateCohort(tb, db, f.inst.ID, "Autumn", "inv-autumn")
	for _, u := range []*faultline.User{f.ann, f.bob} {
		if err := db.AddMember(f.ctx, f.cohort.ID, u.ID, faultline.MemberLearner); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// MustThread starts a question by author with an opening post.
func (f *discussionFixture) MustThread(author *faultline.User, title string, place faultline.Place) (*faultline.Thread, *faultline.Post) {
	f.tb.Helper()
	t := &faultline.Thread{CohortID: f.cohort.ID, Place: place, Kind: faultline.ThreadQuestion, Title: title, AuthorID: author.ID}
	p := &faultline.Post{AuthorID: author.ID, Body: "Why " + title + "?", HTML: "<p>Why?</p>"}
	if err := f.db.CreateThread(f.ctx, t, p); err != nil {
		f.tb.Fatalf("create thread %q: %v", title, err)
	}
	return t, p
}

// MustReply adds a visible reply.
func (f *discussionFixture) MustReply(t *faultline.Thread, author *faultline.User, staff bool, body string) *faultline.Post {
	f.tb.Helper()
	p := &faultline.Post{ThreadID: t.ID, AuthorID: author.ID, Staff: staff, Body: body, HTML: "<p>" + body + "</p>"}
	if err := f.db.AddPost(f.ctx, p); err != nil {
		f.tb.Fatalf("reply: %v", err)
	}
	return p
}

func (f *discussionFixture) list(filter faultline.ThreadFilter) []*faultline.Thread {
	f.tb.Helper()
	if filter.CohortID == 0 {
		filter.CohortID = f.cohort.ID
	}
	ts, err := f.db.ListThreads(f.ctx, filter)
	if err != nil {
		f.tb.Fatal(err)
	}
	return ts
}

func TestThreadsAndPostsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faultline.db")
	clk := newClock()
	db := MustOpenDBAt(t, path, clk)
	ctx := context.Background()
	u := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, u.ID, "Spring", "inv")
	run := &faultline.RunAttachment{SubmissionID: 0, Lab: "circuit-breaker", Test: "TestOpens", Verdict: faultline.StatusGraded,
		Status: faultline.TestFail, Seed: 42, FailedRun: "TestOpens/seed=42", Faults: []string{"partition"},
		Pictures: []faultline.Attachment{{Name: "timeline.svg", SVG: "<svg/>"}}}
	th := &faultline.Thread{CohortID: c.ID, Place: faultline.Place{Kind: faultline.PlaceLab, Slug: "circuit-breaker"},
		Kind: faultline.ThreadQuestion, Title: "Flapping", AuthorID: u.ID, Anonymous: true, Run: run}
	op := &faultline.Post{AuthorID: u.ID, Anonymous: true, Body: "It flaps", HTML: "<p>It flaps</p>"}
	if err := db.CreateThread(ctx, th, op); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = MustOpenDBAt(t, path, clk)
	got, err := db.FindThread(ctx, th.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Flapping" || !got.Anonymous || got.Place != th.Place || got.Run == nil || got.Run.Seed != 42 ||
		len(got.Run.Pictures) != 1 || got.Run.Pictures[0].SVG != "<svg/>" || got.Run.Faults[0] != "partition" {
		t.Fatalf("thread after reopen = %+v, run %+v", got, got.Run)
	}
	posts, err := db.ListPosts(ctx, th.ID)
	if err != nil || len(posts) != 1 || !posts[0].Opening || !posts[0].Anonymous || posts[0].Body != "It flaps" {
		t.Fatalf("posts after reopen = %+v, %v", posts, err)
	}
}

func TestThreadCountsUnreadAndAnswers(t *testing.T) {
	f := mustDiscussionFixture(t)
	q, op := f.MustThread(f.ann, "breaker flaps", faultline.Place{Kind: faultline.PlaceLab, Slug: "circuit-breaker"})
	ts := f.list(faultline.ThreadFilter{Reader: f.bob.ID})
	if len(ts) != 1 || ts[0].Replies != 0 || ts[0].Answered() || ts[0].Unread != 1 || ts[0].LastPostID != op.ID {
		t.Fatalf("fresh question as Bob sees it: %+v", ts)
	}
	// Ann's own opening post is not unread for her.
	if ts := f.list(faultline.ThreadFilter{Reader: f.ann.ID}); ts[0].Unread != 0 {
		t.Fatalf("Ann's unread in her own thread = %d, want 0", ts[0].Unread)
	}
	// Ann adds detail: still unanswered.
	f.clk.Advance(time.Minute)
	f.MustReply(q, f.ann, false, "More detail")
	if ts := f.list(faultline.ThreadFilter{}); ts[0].Replies != 1 || ts[0].Answered() {
		t.Fatalf("after the author's own reply: replies %d, answered %v; want 1, false", ts[0].Replies, ts[0].Answered())
	}
	// Bob reads everything so far, then the instructor answers.
	if err := f.db.MarkRead(f.ctx, f.bob.ID, q.ID, f.list(faultline.ThreadFilter{})[0].LastPostID); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Hour)
	ans := f.MustReply(q, f.inst, true, "Reset the counter on success")
	ts = f.list(faultline.ThreadFilter{Reader: f.bob.ID})
	if !ts[0].Answered() || ts[0].Unread != 1 || ts[0].LastPostID != ans.ID {
		t.Fatalf("after the staff answer Bob sees %+v; want answered, 1 unread", ts[0])
	}
	// A read mark never moves back.
	if err := f.db.MarkRead(f.ctx, f.bob.ID, q.ID, ans.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.db.MarkRead(f.ctx, f.bob.ID, q.ID, op.ID); err != nil {
		t.Fatal(err)
	}
	if ts := f.list(faultline.ThreadFilter{Reader: f.bob.ID}); ts[0].Unread != 0 {
		t.Fatalf("unread after an older mark = %d, want 0", ts[0].Unread)
	}
	// The first staff reply is recorded once, for the dashboard.
	f.clk.Advance(time.Hour)
	f.MustReply(q, f.inst, true, "And again")
	reps, err := f.db.FirstStaffReplies(f.ctx, f.cohort.ID)
	if err != nil || len(reps) != 1 {
		t.Fatalf("first staff replies = %+v, %v", reps, err)
	}
	if d := reps[0].RepliedAt.Sub(reps[0].AskedAt); d != time.Hour+time.Minute {
		t.Fatalf("time to first staff reply = %v, want 1h1m", d)
	}
}

func TestHeldAndHiddenPostsAreNotCounted(t *testing.T) {
	f := mustDiscussionFixture(t)
	q, _ := f.MustThread(f.ann, "quorum", faultline.Place{Kind: faultline.PlaceCohort})
	before := f.list(faultline.ThreadFilter{})[0]
	held := &faultline.Post{ThreadID: q.ID, AuthorID: f.bob.ID, Body: "my solution", HTML: "x", State: faultline.PostHeld, HeldReason: "looks like a solution"}
	if err := f.db.AddPost(f.ctx, held); err != nil {
		t.Fatal(err)
	}
	after := f.list(faultline.ThreadFilter{Reader: f.ann.ID})[0]
	if after.Replies != 0 || after.Unread != 0 || after.Answered() || after.LastPostID != before.LastPostID {
		t.Fatalf("a held reply counts: %+v", after)
	}
	if !after.LastActivityAt.Equal(before.LastActivityAt) {
		t.Error("a held post moved the thread's activity")
	}
	if after.Version <= before.Version {
		t.Error("a held post did not bump the version staff's live pages poll")
	}
	// Released by staff: it counts now.
	f.clk.Advance(time.Minute)
	p, err := f.db.SetPostState(f.ctx, held.ID, faultline.PostVisible, "")
	if err != nil || p.State != faultline.PostVisible || p.HeldReason != "" {
		t.Fatalf("release = %+v, %v", p, err)
	}
	if ts := f.list(faultline.ThreadFilter{}); ts[0].Replies != 1 || !ts[0].Answered() {
		t.Fatalf("after release: %+v", ts[0])
	}
	if _, err := f.db.SetPostState(f.ctx, held.ID, faultline.PostHidden, ""); err != nil {
		t.Fatal(err)
	}
	if ts := f.list(faultline.ThreadFilter{}); ts[0].Replies != 0 {
		t.Fatalf("a hidden post still counts: %+v", ts[0])
	}
	_, err = f.db.SetPostState(f.ctx, held.ID, "gone", "")
	assertCode(t, err, faultline.EINVALID)
}

func TestEditKeepsHistory(t *testing.T) {
	f := mustDiscussionFixture(t)
	_, op := f.MustThread(f.ann, "retry", faultline.Place{Kind: faultline.PlaceCohort})
	f.clk.Advance(time.Minute)
	p, err := f.db.EditPost(f.ctx, op.ID, f.ann.ID, "second", "<p>second</p>", faultline.PostVisible, "")
	if err != nil || p.Body != "second" || p.Edits != 1 || p.EditedAt.IsZero() {
		t.Fatalf("edit = %+v, %v", p, err)
	}
	f.clk.Advance(time.Minute)
	if _, err := f.db.EditPost(f.ctx, op.ID, f.ann.ID, "third", "<p>third</p>", faultline.PostHeld, "held"); err != nil {
		t.Fatal(err)
	}
	revs, err := f.db.PostRevisions(f.ctx, op.ID)
	if err != nil || len(revs) != 2 || revs[0].Body != "second" || revs[1].Body != op.Body {
		t.Fatalf("revisions = %+v, %v; want second then the original", revs, err)
	}
	if !revs[1].CreatedAt.Equal(op.CreatedAt) || !revs[0].CreatedAt.Equal(p.EditedAt) {
		t.Errorf("revision times %v, %v; want when each text was written", revs[1].CreatedAt, revs[0].CreatedAt)
	}
	got, err := f.db.FindPost(f.ctx, op.ID)
	if err != nil || got.Body != "third" || got.State != faultline.PostHeld || got.HeldReason != "held" {
		t.Fatalf("post = %+v, %v", got, err)
	}
	_, err = f.db.EditPost(f.ctx, 9999, f.ann.ID, "x", "x", faultline.PostVisible, "")
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestReplyToAPostOfAnotherThreadIsRefused(t *testing.T) {
	f := mustDiscussionFixture(t)
	a, opA := f.MustThread(f.ann, "a", faultline.Place{Kind: faultline.PlaceCohort})
	b, _ := f.MustThread(f.bob, "b", faultline.Place{Kind: faultline.PlaceCohort})
	err := f.db.AddPost(f.ctx, &faultline.Post{ThreadID: b.ID, ParentID: opA.ID, AuthorID: f.bob.ID, Body: "x", HTML: "x"})
	assertCode(t, err, faultline.ENOTFOUND)
	err = f.db.AddPost(f.ctx, &faultline.Post{ThreadID: 9999, AuthorID: f.bob.ID, Body: "x", HTML: "x"})
	assertCode(t, err, faultline.ENOTFOUND)
	if err := f.db.AddPost(f.ctx, &faultline.Post{ThreadID: a.ID, ParentID: opA.ID, AuthorID: f.bob.ID, Body: "x", HTML: "x"}); err != nil {
		t.Fatalf("reply to a post of the same thread: %v", err)
	}
}

func TestThreadFiltersAndSearch(t *testing.T) {
	f := mustDiscussionFixture(t)
	lab := faultline.Place{Kind: faultline.PlaceLab, Slug: "circuit-breaker"}
	q1, _ := f.MustThread(f.ann, "Half-open state", lab)
	f.clk.Advance(time.Minute)
	q2, _ := f.MustThread(f.bob, "Quorum sizes", faultline.Place{Kind: faultline.PlaceLesson, Slug: "replication-quorums"})
	f.clk.Advance(time.Minute)
	f.MustReply(q1, f.bob, false, "The probe_request 100% decides")
	// Another cohort's thread never shows.
	other := &faultline.Thread{CohortID: f.otherCohort.ID, Kind: faultline.ThreadQuestion, Title: "Half-open elsewhere", AuthorID: f.inst.ID}
	if err := f.db.CreateThread(f.ctx, other, &faultline.Post{AuthorID: f.inst.ID, Body: "x", HTML: "x"}); err != nil {
		t.Fatal(err)
	}
	ids := func(ts []*faultline.Thread) []int64 {
		var out []int64
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	if got := ids(f.list(faultline.ThreadFilter{})); !slices.Equal(got, []int64{q1.ID, q2.ID}) {
		t.Fatalf("cohort threads = %v, want the latest activity first [%d %d]", got, q1.ID, q2.ID)
	}
	if got := ids(f.list(faultline.ThreadFilter{Place: &lab})); !slices.Equal(got, []int64{q1.ID}) {
		t.Fatalf("lab threads = %v", got)
	}
	if got := ids(f.list(faultline.ThreadFilter{AuthorID: f.bob.ID})); !slices.Equal(got, []int64{q2.ID}) {
		t.Fatalf("Bob's threads = %v", got)
	}
	// Pinned first.
	if _, err := f.db.UpdateThread(f.ctx, q2.ID, func(t *faultline.Thread) error { t.Pinned = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := ids(f.list(faultline.ThreadFilter{})); !slices.Equal(got, []int64{q2.ID, q1.ID}) {
		t.Fatalf("with q2 pinned = %v", got)
	}
	search := func(terms ...string) []int64 {
		t.Helper()
		got, err := f.db.SearchThreads(f.ctx, f.cohort.ID, terms)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := search("half-open"); !slices.Equal(got, []int64{q1.ID}) {
		t.Errorf("search title = %v", got)
	}
	if got := search("PROBE_request", "100%"); !slices.Equal(got, []int64{q1.ID}) {
		t.Errorf("search a reply's words (case, _ and %% literal) = %v", got)
	}
	if got := search("probe%request"); len(got) != 0 {
		t.Errorf("%% in a term acted as a wildcard: %v", got)
	}
	if got := search("quorum", "probe"); len(got) != 0 {
		t.Errorf("terms are not all required: %v", got)
	}
	// Words of a hidden post are not found.
	hidden := f.MustReply(q2, f.ann, false, "secretword")
	if _, err := f.db.SetPostState(f.ctx, hidden.ID, faultline.PostHidden, ""); err != nil {
		t.Fatal(err)
	}
	if got := search("secretword"); len(got) != 0 {
		t.Errorf("a hidden post's words are found: %v", got)
	}
	if got := ids(f.list(faultline.ThreadFilter{IDs: []int64{}})); len(got) != 0 {
		t.Errorf("an empty ID list listed %v", got)
	}
}

func TestGroupsAndTheirPromptThreads(t *testing.T) {
	f := mustDiscussionFixture(t)
	cara := MustCreateUser(t, f.db, "cara@example.com", faultline.RoleLearner)
	groups := []*faultline.Group{{Name: "Group 1", Members: []int64{f.ann.ID, cara.ID}}, {Name: "Group 2", Members: []int64{f.bob.ID}}}
	if err := f.db.ReplaceGroups(f.ctx, f.cohort.ID, groups); err != nil {
		t.Fatal(err)
	}
	err := f.db.ReplaceGroups(f.ctx, f.cohort.ID, []*faultline.Group{{Name: "A", Members: []int64{f.ann.ID}}, {Name: "B", Members: []int64{f.ann.ID}}})
	assertCode(t, err, faultline.EINVALID)
	got, err := f.db.ListGroups(f.ctx, f.cohort.ID, false)
	if err != nil || len(got) != 2 || len(got[0].Members) != 2 || got[1].Members[0] != f.bob.ID {
		t.Fatalf("groups = %+v, %v", got, err)
	}
	place := faultline.Place{Kind: faultline.PlaceCase, Slug: "dynamo"}
	gt := &faultline.Thread{CohortID: f.cohort.ID, Place: place, Kind: faultline.ThreadDiscussion, Title: "Prompt 1", GroupID: groups[0].ID, Prompt: 1}
	if err := f.db.CreateThread(f.ctx, gt, nil); err != nil {
		t.Fatal(err)
	}
	dup := &faultline.Thread{CohortID: f.cohort.ID, Place: place, Kind: faultline.ThreadDiscussion, Title: "Prompt 1", GroupID: groups[0].ID, Prompt: 1}
	assertCode(t, f.db.CreateThread(f.ctx, dup, nil), faultline.ECONFLICT)
	if found, err := f.db.FindGroupThread(f.ctx, groups[0].ID, "dynamo", 1); err != nil || found.ID != gt.ID {
		t.Fatalf("find group thread = %+v, %v", found, err)
	}
	_, err = f.db.FindGroupThread(f.ctx, groups[1].ID, "dynamo", 1)
	assertCode(t, err, faultline.ENOTFOUND)
	// Group threads stay out of the cohort's list until shared.
	if ts := f.list(faultline.ThreadFilter{}); len(ts) != 0 {
		t.Fatalf("cohort list shows a group thread: %+v", ts)
	}
	if ts := f.list(faultline.ThreadFilter{Groups: true, GroupID: groups[0].ID}); len(ts) != 1 {
		t.Fatalf("group 1's threads = %+v", ts)
	}
	if _, err := f.db.UpdateThread(f.ctx, gt.ID, func(t *faultline.Thread) error { t.Shared = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if ts := f.list(faultline.ThreadFilter{}); len(ts) != 1 || !ts[0].Shared {
		t.Fatalf("a shared group thread is not in the cohort's list: %+v", ts)
	}
	// A group added by hand sits beside the current ones.
	extra := &faultline.Group{CohortID: f.cohort.ID, Name: "Group 3"}
	if err := f.db.AddGroup(f.ctx, extra); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.db.ListGroups(f.ctx, f.cohort.ID, false); len(got) != 3 || got[2].Name != "Group 3" || len(got[2].Members) != 0 {
		t.Fatalf("after adding a group: %+v", got)
	}
	assertCode(t, f.db.AddGroup(f.ctx, &faultline.Group{CohortID: f.cohort.ID, Name: " "}), faultline.EINVALID)
	// Moving Cara to group 2 by hand.
	if err := f.db.SetGroupMember(f.ctx, f.cohort.ID, cara.ID, groups[1].ID); err != nil {
		t.Fatal(err)
	}
	g1, _ := f.db.FindGroup(f.ctx, groups[0].ID)
	g2, _ := f.db.FindGroup(f.ctx, groups[1].ID)
	if slices.Contains(g1.Members, cara.ID) || !slices.Contains(g2.Members, cara.ID) {
		t.Fatalf("after the move: group 1 %v, group 2 %v", g1.Members, g2.Members)
	}
	// A new split archives the old groups; their threads stay.
	if err := f.db.ReplaceGroups(f.ctx, f.cohort.ID, []*faultline.Group{{Name: "Group A", Members: []int64{f.ann.ID, f.bob.ID}}}); err != nil {
		t.Fatal(err)
	}
	cur, _ := f.db.ListGroups(f.ctx, f.cohort.ID, false)
	all, _ := f.db.ListGroups(f.ctx, f.cohort.ID, true)
	if len(cur) != 1 || len(all) != 4 || !all[0].Archived {
		t.Fatalf("after a new split: current %+v, all %+v", cur, all)
	}
	if _, err := f.db.FindThread(f.ctx, gt.ID); err != nil {
		t.Fatalf("an archived group's thread is gone: %v", err)
	}
	assertCode(t, f.db.SetGroupMember(f.ctx, f.cohort.ID, cara.ID, groups[0].ID), faultline.ENOTFOUND) // archived
	assertCode(t, f.db.SetGroupMember(f.ctx, f.otherCohort.ID, cara.ID, cur[0].ID), faultline.ENOTFOUND)
}

func TestVotesFollowersReportsAndAudit(t *testing.T) {
	f := mustDiscussionFixture(t)
	q, op := f.MustThread(f.ann, "same?", faultline.Place{Kind: faultline.PlaceCohort})
	cara := MustCreateUser(t, f.db, "cara@example.com", faultline.RoleLearner)
	if n, err := f.db.Vote(f.ctx, q.ID, cara.ID, true); err != nil || n != 1 {
		t.Fatalf("vote = %d, %v", n, err)
	}
	if n, err := f.db.Vote(f.ctx, q.ID, cara.ID, true); err != nil || n != 1 {
		t.Fatalf("a second vote by the same user = %d, %v; want still 1", n, err)
	}
	if ok, err := f.db.Voted(f.ctx, q.ID, cara.ID); err != nil || !ok {
		t.Fatalf("voted = %v, %v", ok, err)
	}
	f.MustReply(q, f.bob, false, "me too")
	fol, err := f.db.Followers(f.ctx, q.ID)
	if err != nil || !slices.Equal(fol, []int64{f.ann.ID, f.bob.ID, cara.ID}) {
		t.Fatalf("followers = %v, %v", fol, err)
	}
	if n, err := f.db.Vote(f.ctx, q.ID, cara.ID, false); err != nil || n != 0 {
		t.Fatalf("unvote = %d, %v", n, err)
	}

	r := &faultline.PostReport{PostID: op.ID, ReporterID: f.bob.ID, Reason: "rude"}
	if err := f.db.ReportPost(f.ctx, r); err != nil || r.ThreadID != q.ID {
		t.Fatalf("report = %+v, %v", r, err)
	}
	assertCode(t, f.db.ReportPost(f.ctx, &faultline.PostReport{PostID: op.ID, ReporterID: f.bob.ID}), faultline.ECONFLICT)
	open, err := f.db.OpenReports(f.ctx, f.cohort.ID)
	if err != nil || len(open) != 1 || open[0].Reason != "rude" {
		t.Fatalf("open reports = %+v, %v", open, err)
	}
	if other, _ := f.db.OpenReports(f.ctx, f.otherCohort.ID); len(other) != 0 {
		t.Fatalf("another cohort sees the report: %+v", other)
	}
	if err := f.db.ResolveReports(f.ctx, op.ID, f.inst.ID); err != nil {
		t.Fatal(err)
	}
	if open, _ := f.db.OpenReports(f.ctx, f.cohort.ID); len(open) != 0 {
		t.Fatalf("resolved report still open: %+v", open)
	}
	// Reporting again after it was resolved is a new report.
	if err := f.db.ReportPost(f.ctx, &faultline.PostReport{PostID: op.ID, ReporterID: f.bob.ID}); err != nil {
		t.Fatalf("report after resolution: %v", err)
	}

	for _, a := range []string{"hide post", "restore post"} {
		if err := f.db.Audit(f.ctx, &faultline.AuditEntry{CohortID: f.cohort.ID, ActorID: f.inst.ID, Action: a, Target: "post 1"}); err != nil {
			t.Fatal(err)
		}
	}
	assertCode(t, f.db.Audit(f.ctx, &faultline.AuditEntry{CohortID: f.cohort.ID}), faultline.EINVALID)
	log, err := f.db.AuditLog(f.ctx, f.cohort.ID, 0)
	if err != nil || len(log) != 2 || log[0].Action != "restore post" || log[1].ActorID != f.inst.ID {
		t.Fatalf("audit log = %+v, %v", log, err)
	}
}

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// MustDashboardVersion returns the cohort's dashboard version.
func MustDashboardVersion(tb testing.TB, db *store.DB, cohortID int64) int64 {
	tb.Helper()
	v, err := db.DashboardVersion(context.Background(), cohortID)
	if err != nil {
		tb.Fatalf("DashboardVersion(%d): %v", cohortID, err)
	}
	return v
}

// Every write that changes what a cohort's progress matrix or member list
// shows moves the cohort's dashboard version on, whichever cohort of a
// learner it happened in; writes the dashboard does not show leave it.
func TestDashboardVersionFollowsEveryWrite(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	bob := MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)
	cara := MustCreateUser(t, db, "cara@example.com", faultline.RoleLearner)
	spring := MustCreateCohort(t, db, ins.ID, "Spring", "inv-spring")
	// ann also learns in Autumn: its rules are part of hers in Spring.
	autumn := MustCreateCohort(t, db, ins.ID, "Autumn", "inv-autumn")
	other := MustCreateCohort(t, db, ins.ID, "Other", "inv-other") // nobody of Spring in it
	for _, m := range []struct {
		c *faultline.Cohort
		u *faultline.User
	}{{spring, ann}, {spring, bob}, {autumn, ann}} {
		if err := db.AddMember(ctx, m.c.ID, m.u.ID, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}
	var sub *faultline.Submission
	var adj *faultline.Adjustment

	steps := []struct {
		name  string
		write func() error
		moves bool
	}{
		{"a submission", func() error { sub = MustCreateSubmission(t, db, ann.ID, "saga"); return nil }, true},
		{"its claim (state and lease)", func() error { MustClaim(t, db, "w", time.Minute); return nil }, false},
		{"a lease renewal", func() error { return db.ExtendLease(ctx, sub.ID, "w", time.Minute) }, false},
		{"its grade", func() error { MustComplete(t, db, sub.ID, "w", 5, 10); return nil }, true},
		{"a regrade queued", func() error {
			return db.CreateRegradeJob(ctx, &faultline.RegradeJob{SubmissionID: sub.ID, CohortID: spring.ID, CreatedBy: ins.ID})
		}, false},
		{"the regrade's claim", func() error { MustClaim(t, db, "w", time.Minute); return nil }, false},
		{"the regrade's result", func() error { MustComplete(t, db, sub.ID, "w", 8, 10); return nil }, true},
		{"an extension", func() error {
			return db.SetExtension(ctx, &faultline.Extension{UserID: ann.ID, Lab: "saga", DueAt: clk.Now().Add(48 * time.Hour), Reason: "ill", GrantedBy: ins.ID})
		}, true},
		{"the extension changed", func() error {
			return db.SetExtension(ctx, &faultline.Extension{UserID: ann.ID, Lab: "saga", DueAt: clk.Now().Add(72 * time.Hour), Reason: "ill", GrantedBy: ins.ID})
		}, true},
		{"the extension removed", func() error { return db.RemoveExtension(ctx, ann.ID, "saga") }, true},
		{"an adjustment", func() error {
			adj = &faultline.Adjustment{UserID: bob.ID, Lab: "saga", Points: 2, Reason: "fair", CreatedBy: ins.ID}
			return db.AddAdjustment(ctx, adj)
		}, true},
		{"a deadline in the cohort", func() error {
			return db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: spring.ID, Lab: "saga", DueAt: clk.Now().Add(time.Hour),
				Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 50}})
		}, true},
		{"a deadline in another cohort of a learner", func() error {
			return db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: autumn.ID, Lab: "saga", DueAt: clk.Now().Add(time.Hour),
				Late: faultline.LatePolicy{Mode: faultline.LateRefuse}})
		}, true},
		{"a deadline in a cohort no learner shares", func() error {
			return db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: other.ID, Lab: "saga", DueAt: clk.Now().Add(time.Hour),
				Late: faultline.LatePolicy{Mode: faultline.LateRefuse}})
		}, false},
		{"a new member", func() error { return db.AddMember(ctx, spring.ID, cara.ID, faultline.MemberLearner) }, true},
		{"a member made co-instructor", func() error { return db.AddMember(ctx, spring.ID, cara.ID, faultline.MemberCoInstructor) }, true},
		{"a member removed", func() error { return db.RemoveMember(ctx, spring.ID, cara.ID) }, true},
		{"a learner joining another cohort", func() error { return db.AddMember(ctx, other.ID, bob.ID, faultline.MemberLearner) }, true},
		{"a learner moved out", func() error { return db.MoveMember(ctx, bob.ID, spring.ID, autumn.ID) }, true},
		{"a learner moved back", func() error { return db.MoveMember(ctx, bob.ID, autumn.ID, spring.ID) }, true},
		{"a learner renamed", func() error { return db.SetUserName(ctx, bob.ID, "Robert") }, true},
		{"a lesson read", func() error { return db.MarkLessonRead(ctx, ann.ID, "partial-failure") }, true},
		{"the same lesson read again", func() error { return db.MarkLessonRead(ctx, ann.ID, "partial-failure") }, false},
		{"a file saved", func() error {
			_, err := db.SaveFile(ctx, ann.ID, "saga", "saga.go", []byte("package saga"))
			return err
		}, false},
		{"a quiz answered", func() error {
			_, err := db.RecordQuizAttempt(ctx, faultline.QuizAttempt{UserID: ann.ID, Slug: "retries", Score: 1, Total: 1, Answers: []int{1}})
			return err
		}, false},
		{"a submission in another cohort only", func() error {
			MustCreateSubmission(t, db, cara.ID, "saga") // cara left Spring
			return nil
		}, false},
	}
	for _, st := range steps {
		before := MustDashboardVersion(t, db, spring.ID)
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := MustDashboardVersion(t, db, spring.ID)
		if moved := after != before; moved != st.moves {
			t.Errorf("%s: version %d → %d, want moved=%v", st.name, before, after, st.moves)
		}
		clk.Advance(time.Second)
	}
}

// A new cohort has a version, and an unknown one is ENOTFOUND.
func TestDashboardVersionOfCohorts(t *testing.T) {
	db, _ := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := MustCreateCohort(t, db, ins.ID, "Spring", "inv-spring")
	if v := MustDashboardVersion(t, db, c.ID); v <= 0 {
		t.Fatalf("new cohort's version = %d", v)
	}
	_, err := db.DashboardVersion(context.Background(), c.ID+100)
	assertCode(t, err, faultline.ENOTFOUND)
}

// The conversation figures a dashboard shows (questions unanswered and
// unresolved, staff's first replies, held and reported posts, open regrade
// requests) move the version; reading a thread and voting do not.
func TestDashboardVersionFollowsConversation(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	bob := MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)
	spring := MustCreateCohort(t, db, ins.ID, "Spring", "inv-spring")
	autumn := MustCreateCohort(t, db, ins.ID, "Autumn", "inv-autumn")
	for _, u := range []int64{ann.ID, bob.ID} {
		if err := db.AddMember(ctx, spring.ID, u, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}
	at := faultline.Place{Kind: faultline.PlaceLesson, Slug: "retries"}
	th := &faultline.Thread{CohortID: spring.ID, Place: at, Kind: faultline.ThreadQuestion, Title: "Why jitter?", AuthorID: ann.ID}
	var reply *faultline.Post
	sub := MustCreateSubmission(t, db, ann.ID, "saga")
	MustClaim(t, db, "w", time.Minute)
	MustComplete(t, db, sub.ID, "w", 5, 10)
	req := &faultline.RegradeRequest{SubmissionID: sub.ID, UserID: ann.ID, Lab: "saga", Test: "TestA", Reason: "flaky"}

	steps := []struct {
		name  string
		write func() error
		moves bool
	}{
		{"a question", func() error {
			return db.CreateThread(ctx, th, &faultline.Post{AuthorID: ann.ID, Body: "?", HTML: "<p>?</p>"})
		}, true},
		{"a question in another cohort", func() error {
			return db.CreateThread(ctx, &faultline.Thread{CohortID: autumn.ID, Place: at, Kind: faultline.ThreadQuestion, Title: "Elsewhere", AuthorID: ins.ID},
				&faultline.Post{AuthorID: ins.ID, Body: "?", HTML: "<p>?</p>"})
		}, false},
		{"a staff reply", func() error {
			reply = &faultline.Post{ThreadID: th.ID, AuthorID: ins.ID, Staff: true, Body: "Herds.", HTML: "<p>Herds.</p>"}
			return db.AddPost(ctx, reply)
		}, true},
		{"the thread read", func() error { return db.MarkRead(ctx, bob.ID, th.ID, reply.ID) }, false},
		{"a vote", func() error { _, err := db.Vote(ctx, th.ID, bob.ID, true); return err }, false},
		{"the answer marked", func() error {
			_, err := db.UpdateThread(ctx, th.ID, func(t *faultline.Thread) error { t.AnswerID = reply.ID; return nil })
			return err
		}, true},
		{"a post reported", func() error {
			return db.ReportPost(ctx, &faultline.PostReport{PostID: reply.ID, ReporterID: bob.ID, Reason: "rude"})
		}, true},
		{"the reports resolved", func() error { return db.ResolveReports(ctx, reply.ID, ins.ID) }, true},
		{"a post hidden", func() error { _, err := db.SetPostState(ctx, reply.ID, faultline.PostHidden, ""); return err }, true},
		{"a regrade request", func() error { return db.CreateRegradeRequest(ctx, req) }, true},
		{"its answer", func() error {
			req.State, req.Answer, req.AnsweredBy = faultline.RequestDeclined, "It is not flaky.", ins.ID
			return db.AnswerRegradeRequest(ctx, req)
		}, true},
	}
	for _, st := range steps {
		before := MustDashboardVersion(t, db, spring.ID)
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := MustDashboardVersion(t, db, spring.ID)
		if moved := after != before; moved != st.moves {
			t.Errorf("%s: version %d → %d, want moved=%v", st.name, before, after, st.moves)
		}
		clk.Advance(time.Second)
	}
}

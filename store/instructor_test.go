package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

func TestInviteExpiryAndRegeneration(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := &faultline.Cohort{Name: "Spring", InviteCode: "inv-a", CreatedBy: ins.ID, InviteExpiresAt: clk.Now().Add(time.Hour)}
	if err := db.CreateCohort(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindCohortByInvite(ctx, "inv-a")
	if err != nil || !got.InviteExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("FindCohortByInvite = %+v, %v", got, err)
	}
	if _, err := db.Join(ctx, "inv-a", &faultline.User{Email: "early@example.com", PasswordHash: "h"}); err != nil {
		t.Fatalf("join before expiry: %v", err)
	}

	clk.Advance(time.Hour) // expiry is exclusive: at the instant it expires
	_, err = db.FindCohortByInvite(ctx, "inv-a")
	assertCode(t, err, faultline.EFORBIDDEN)
	if msg := faultline.ErrorMessage(err); msg == "" || msg == "Internal error." {
		t.Fatalf("expired invite message = %q", msg)
	}
	_, err = db.Join(ctx, "inv-a", &faultline.User{Email: "late@example.com", PasswordHash: "h"})
	assertCode(t, err, faultline.EFORBIDDEN)
	_, err = db.FindUserByEmail(ctx, "late@example.com")
	assertCode(t, err, faultline.ENOTFOUND) // no account left behind

	// Regenerating replaces the code: the old link is dead, the new one works.
	c2, err := db.SetInvite(ctx, c.ID, "inv-b", clk.Now().Add(24*time.Hour))
	if err != nil || c2.InviteCode != "inv-b" || c2.InviteExpired(clk.Now()) {
		t.Fatalf("SetInvite = %+v, %v", c2, err)
	}
	_, err = db.FindCohortByInvite(ctx, "inv-a")
	assertCode(t, err, faultline.ENOTFOUND)
	if _, err := db.Join(ctx, "inv-b", &faultline.User{Email: "late@example.com", PasswordHash: "h"}); err != nil {
		t.Fatalf("join with new code: %v", err)
	}
	// No expiry at all.
	if c3, err := db.SetInvite(ctx, c.ID, "inv-c", time.Time{}); err != nil || !c3.InviteExpiresAt.IsZero() {
		t.Fatalf("SetInvite without expiry = %+v, %v", c3, err)
	}
	clk.Advance(1000 * time.Hour)
	if _, err := db.FindCohortByInvite(ctx, "inv-c"); err != nil {
		t.Fatalf("never-expiring invite: %v", err)
	}

	other := MustCreateCohort(t, db, ins.ID, "Other", "inv-other")
	_, err = db.SetInvite(ctx, other.ID, "inv-c", time.Time{})
	assertCode(t, err, faultline.ECONFLICT)
	_, err = db.SetInvite(ctx, other.ID, "", time.Time{})
	assertCode(t, err, faultline.EINVALID)
	_, err = db.SetInvite(ctx, 999, "inv-z", time.Time{})
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestCoInstructorRemoveAndMove(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	co := MustCreateUser(t, db, "co@example.com", faultline.RoleInstructor)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	a := MustCreateCohort(t, db, ins.ID, "A", "inv-a")
	b := MustCreateCohort(t, db, ins.ID, "B", "inv-b")
	for _, m := range []struct {
		u    int64
		role faultline.MemberRole
	}{{co.ID, faultline.MemberCoInstructor}, {ann.ID, faultline.MemberLearner}} {
		if err := db.AddMember(ctx, a.ID, m.u, m.role); err != nil {
			t.Fatal(err)
		}
	}
	assertCode(t, db.AddMember(ctx, a.ID, ann.ID, "teacher"), faultline.EINVALID)
	members, err := db.ListMembers(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var roles []faultline.MemberRole
	for _, m := range members {
		roles = append(roles, m.Role)
	}
	if want := []faultline.MemberRole{faultline.MemberInstructor, faultline.MemberCoInstructor, faultline.MemberLearner}; !slices.Equal(roles, want) {
		t.Fatalf("roles = %v, want %v", roles, want)
	}
	if r, _ := db.MemberRole(ctx, a.ID, co.ID); !r.Teaches() {
		t.Fatalf("co-instructor role %q does not teach", r)
	}

	// Ann's work: a graded submission, a saved file, a lesson read.
	s := MustCreateSubmission(t, db, ann.ID, "saga")
	MustClaim(t, db, "w1", time.Minute)
	MustComplete(t, db, s.ID, "w1", 8, 10)
	if _, err := db.SaveFile(ctx, ann.ID, "saga", "saga.go", []byte("package saga")); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkLessonRead(ctx, ann.ID, "sagas"); err != nil {
		t.Fatal(err)
	}

	// Moving: refused cases change nothing.
	assertCode(t, db.MoveMember(ctx, ann.ID, a.ID, a.ID), faultline.EINVALID)
	assertCode(t, db.MoveMember(ctx, co.ID, a.ID, b.ID), faultline.ENOTFOUND) // not a learner
	assertCode(t, db.MoveMember(ctx, ann.ID, a.ID, 999), faultline.ENOTFOUND)
	if err := db.AddMember(ctx, b.ID, ann.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.MoveMember(ctx, ann.ID, a.ID, b.ID), faultline.ECONFLICT)
	if r, err := db.MemberRole(ctx, a.ID, ann.ID); err != nil || r != faultline.MemberLearner {
		t.Fatalf("after refused move, role in A = %q, %v", r, err)
	}
	if err := db.RemoveMember(ctx, b.ID, ann.ID); err != nil {
		t.Fatal(err)
	}

	if err := db.MoveMember(ctx, ann.ID, a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.MemberRole(ctx, a.ID, ann.ID)
	assertCode(t, err, faultline.ENOTFOUND)
	if r, err := db.MemberRole(ctx, b.ID, ann.ID); err != nil || r != faultline.MemberLearner {
		t.Fatalf("role in B = %q, %v", r, err)
	}
	if held := MustHeld(t, db, b.ID); len(held) != 1 || held[heldKey(ann.ID, "saga")].Score != 8 {
		t.Fatalf("B's held scores after move = %+v", held)
	}
	if held := MustHeld(t, db, a.ID); len(held) != 0 {
		t.Fatalf("A still shows the moved learner: %+v", held)
	}

	// Removing keeps the learner's work.
	if err := db.RemoveMember(ctx, b.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.RemoveMember(ctx, b.ID, ann.ID), faultline.ENOTFOUND)
	if got, err := db.FindSubmission(ctx, s.ID); err != nil || got.Result == nil || got.Result.Score != 8 {
		t.Fatalf("submission after removal = %+v, %v", got, err)
	}
	if files, err := db.Files(ctx, ann.ID, "saga"); err != nil || len(files) != 1 {
		t.Fatalf("files after removal = %v, %v", files, err)
	}
	if read, err := db.LessonsRead(ctx, ann.ID); err != nil || len(read) != 1 {
		t.Fatalf("lessons after removal = %v, %v", read, err)
	}
	// Re-adding brings the work back into the dashboards.
	if err := db.AddMember(ctx, b.ID, ann.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	if held := MustHeld(t, db, b.ID); len(held) != 1 {
		t.Fatalf("B after re-adding = %+v", held)
	}

	// The last instructor stays; a co-instructor can go.
	assertCode(t, db.RemoveMember(ctx, a.ID, ins.ID), faultline.ECONFLICT)
	if err := db.RemoveMember(ctx, a.ID, co.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, a.ID, co.ID, faultline.MemberInstructor); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveMember(ctx, a.ID, ins.ID); err != nil {
		t.Fatalf("removing one of two instructors: %v", err)
	}
}

func TestLabSettings(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := MustCreateCohort(t, db, ins.ID, "A", "inv-a")

	got, err := db.LabSettings(ctx, c.ID, "saga")
	if err != nil {
		t.Fatal(err)
	}
	if *got != *faultline.DefaultLabSettings(c.ID, "saga") {
		t.Fatalf("unset settings = %+v, want defaults", got)
	}
	_, err = db.LabSettings(ctx, 999, "saga")
	assertCode(t, err, faultline.ENOTFOUND)

	now := clk.Now()
	bad := []faultline.LabSettings{
		{CohortID: c.ID},
		{CohortID: c.ID, Lab: "saga", OpensAt: now, DueAt: now},
		{CohortID: c.ID, Lab: "saga", Late: faultline.LatePolicy{Mode: "sometimes"}},
		{CohortID: c.ID, Lab: "saga", Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 0, CapPercent: 50}},
		{CohortID: c.ID, Lab: "saga", Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 101}},
		{CohortID: c.ID, Lab: "saga", Late: faultline.LatePolicy{Mode: faultline.LateRefuse, PercentPerDay: 10}},
		{CohortID: c.ID, Lab: "saga", MaxSubmissions: -1},
		{CohortID: c.ID, Lab: "saga", PerMinute: 601},
		{CohortID: c.ID, Lab: "saga", Visibility: "sometimes"},
		{CohortID: c.ID, Lab: "saga", Visibility: faultline.TestsAfterDue},
	}
	for i, s := range bad {
		assertCode(t, db.SetLabSettings(ctx, &s), faultline.EINVALID)
		_ = i
	}
	if all, err := db.ListLabSettings(ctx, c.ID); err != nil || len(all) != 0 {
		t.Fatalf("after invalid sets, settings = %+v, %v", all, err)
	}

	want := &faultline.LabSettings{CohortID: c.ID, Lab: "saga", OpensAt: now, DueAt: now.Add(72 * time.Hour),
		Late:           faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 30},
		MaxSubmissions: 20, PerMinute: 2, Visibility: faultline.TestsAfterDue}
	if err := db.SetLabSettings(ctx, want); err != nil {
		t.Fatal(err)
	}
	if !want.UpdatedAt.Equal(now) {
		t.Fatalf("UpdatedAt = %v", want.UpdatedAt)
	}
	got, err = db.LabSettings(ctx, c.ID, "saga")
	if err != nil || *got != *want {
		t.Fatalf("settings = %+v, %v; want %+v", got, err, want)
	}
	// Setting again replaces; empty modes become the defaults.
	if err := db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: c.ID, Lab: "saga", MaxSubmissions: 5}); err != nil {
		t.Fatal(err)
	}
	got, _ = db.LabSettings(ctx, c.ID, "saga")
	if got.MaxSubmissions != 5 || !got.DueAt.IsZero() || got.Late.Mode != faultline.LateAccept || got.Visibility != faultline.TestsVisible {
		t.Fatalf("replaced settings = %+v", got)
	}
	assertCode(t, db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: 999, Lab: "saga"}), faultline.ENOTFOUND)
	if all, err := db.ListLabSettings(ctx, c.ID); err != nil || len(all) != 1 || all[0].Lab != "saga" {
		t.Fatalf("ListLabSettings = %+v, %v", all, err)
	}
}

func TestSubmissionCountsGate(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	other := MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)
	MustCreateSubmission(t, db, u.ID, "saga")
	clk.Advance(30 * time.Second)
	MustCreateSubmission(t, db, u.ID, "saga")
	MustCreateSubmission(t, db, u.ID, "outbox")
	MustCreateSubmission(t, db, other.ID, "saga")
	clk.Advance(40 * time.Second) // the first is now older than a minute
	c, err := db.SubmissionCounts(ctx, u.ID, "saga")
	if err != nil || c != (faultline.SubmissionCount{Total: 2, LastMinute: 1, Waiting: 3}) {
		t.Fatalf("counts = %+v, %v; want total 2, last minute 1, 3 waiting of any lab", c, err)
	}
	set := &faultline.LabSettings{Lab: "saga", MaxSubmissions: 3, PerMinute: 1}
	assertCode(t, set.Policy().Admit(clk.Now(), c), faultline.ETOOMANY)
	clk.Advance(time.Minute)
	c, _ = db.SubmissionCounts(ctx, u.ID, "saga")
	if err := set.Policy().Admit(clk.Now(), c); err != nil {
		t.Fatalf("admit after a quiet minute: %v", err)
	}
	if c, err := db.SubmissionCounts(ctx, u.ID, "nothing"); err != nil || c.Total != 0 {
		t.Fatalf("counts for an untouched lab = %+v, %v", c, err)
	}
}

// MustCompleteWith completes submission id with the given result.
func MustCompleteWith(tb testing.TB, db *store.DB, id int64, worker string, r *faultline.Result) {
	tb.Helper()
	if err := db.CompleteSubmission(context.Background(), id, worker, r); err != nil {
		tb.Fatalf("complete %d by %q: %v", id, worker, err)
	}
}

func TestRegradeKeepsHistory(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	bob := MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, ins.ID, "A", "inv-a")
	for _, u := range []int64{ann.ID, bob.ID} {
		if err := db.AddMember(ctx, c.ID, u, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}
	s1 := MustCreateSubmission(t, db, ann.ID, "saga")
	MustClaim(t, db, "w", time.Minute)
	MustCompleteWith(t, db, s1.ID, "w", &faultline.Result{Status: faultline.StatusGraded, Score: 5, MaxScore: 10,
		Tests: []faultline.TestResult{{Name: "TestA", Status: faultline.TestFail, MaxScore: 10, Message: "old"}}})
	clk.Advance(time.Second)

	// Nothing to regrade yet for a queued submission.
	s2 := MustCreateSubmission(t, db, bob.ID, "saga")
	assertCode(t, db.CreateRegradeJob(ctx, &faultline.RegradeJob{SubmissionID: s2.ID, CreatedBy: ins.ID}), faultline.ECONFLICT)
	assertCode(t, db.CreateRegradeJob(ctx, &faultline.RegradeJob{CreatedBy: ins.ID}), faultline.EINVALID)
	assertCode(t, db.CreateRegradeJob(ctx, &faultline.RegradeJob{SubmissionID: 999, CreatedBy: ins.ID}), faultline.ENOTFOUND)

	elsewhere := MustCreateCohort(t, db, ins.ID, "B", "inv-b")
	assertCode(t, db.CreateRegradeJob(ctx, &faultline.RegradeJob{SubmissionID: s1.ID, CohortID: elsewhere.ID, CreatedBy: ins.ID}), faultline.ENOTFOUND)
	j := &faultline.RegradeJob{SubmissionID: s1.ID, CohortID: c.ID, CreatedBy: ins.ID}
	if err := db.CreateRegradeJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if j.ID == 0 || j.Total != 1 || j.Done != 0 || j.State != faultline.RegradeRunning || j.Lab != "saga" {
		t.Fatalf("job = %+v", j)
	}
	// While queued for regrade the old result is still shown and counted.
	got, _ := db.FindSubmission(ctx, s1.ID)
	if got.State != faultline.SubmissionQueued || got.Result == nil || got.Result.Score != 5 {
		t.Fatalf("queued regrade = %+v (result %+v)", got, got.Result)
	}
	if h := MustHeld(t, db, c.ID)[heldKey(ann.ID, "saga")]; h.Score != 5 || h.Attempts != 1 {
		t.Fatalf("held during regrade = %+v", h)
	}
	q, err := db.QueueStats(ctx)
	if err != nil || q.Queued != 2 || q.Regrades != 1 || !q.OldestQueued.Equal(s2.CreatedAt) {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	// The learner's new submission is claimed before the older regrade.
	if first := MustClaim(t, db, "w", time.Minute); first.ID != s2.ID {
		t.Fatalf("claimed %d first, want the learner's %d", first.ID, s2.ID)
	}
	if q, _ := db.QueueStats(ctx); q.Running != 1 || q.Workers != 1 {
		t.Fatalf("queue with one running = %+v", q)
	}
	MustComplete(t, db, s2.ID, "w", 3, 10)
	if again := MustClaim(t, db, "w", time.Minute); again.ID != s1.ID {
		t.Fatalf("claimed %d, want regrade %d", again.ID, s1.ID)
	}
	clk.Advance(time.Second)
	MustCompleteWith(t, db, s1.ID, "w", &faultline.Result{Status: faultline.StatusGraded, Score: 10, MaxScore: 10,
		Tests: []faultline.TestResult{{Name: "TestA", Status: faultline.TestPass, Score: 10, MaxScore: 10}}})

	got, _ = db.FindSubmission(ctx, s1.ID)
	if got.State != faultline.SubmissionDone || got.Result.Score != 10 || len(got.Result.Tests) != 1 || got.Result.Tests[0].Status != faultline.TestPass {
		t.Fatalf("after regrade = %+v (result %+v)", got, got.Result)
	}
	hist, err := db.ResultHistory(ctx, s1.ID)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	if !hist[0].Current || hist[0].Result.Score != 10 || hist[0].RegradeJobID != j.ID ||
		hist[1].Current || hist[1].Result.Score != 5 || hist[1].RegradeJobID != 0 || hist[1].Result.Tests[0].Message != "old" {
		t.Fatalf("history = %+v / %+v", hist[0], hist[1])
	}
	if j, err = db.FindRegradeJob(ctx, j.ID); err != nil || j.State != faultline.RegradeDone || j.Done != 1 || j.FinishedAt.IsZero() {
		t.Fatalf("finished job = %+v, %v", j, err)
	}

	// A lab-wide regrade whose run fails keeps the results learners had.
	lj := &faultline.RegradeJob{CohortID: c.ID, Lab: "saga", CreatedBy: ins.ID}
	if err := db.CreateRegradeJob(ctx, lj); err != nil || lj.Total != 2 {
		t.Fatalf("lab job = %+v, %v", lj, err)
	}
	assertCode(t, db.CreateRegradeJob(ctx, &faultline.RegradeJob{CohortID: c.ID, Lab: "saga", CreatedBy: ins.ID}), faultline.ECONFLICT)
	for range 2 {
		s := MustClaim(t, db, "w", time.Minute)
		MustCompleteWith(t, db, s.ID, "w", &faultline.Result{Status: faultline.StatusError, Message: "engine down"})
	}
	for _, id := range []int64{s1.ID, s2.ID} {
		got, _ := db.FindSubmission(ctx, id)
		if got.State != faultline.SubmissionDone || got.Result.Status != faultline.StatusGraded {
			t.Fatalf("submission %d after failed regrade = %+v (result %+v)", id, got, got.Result)
		}
	}
	if hist, _ := db.ResultHistory(ctx, s1.ID); len(hist) != 3 || hist[0].Result.Status != faultline.StatusError || hist[0].Current {
		t.Fatalf("history after failed regrade = %+v", hist)
	}
	if lj, _ = db.FindRegradeJob(ctx, lj.ID); lj.State != faultline.RegradeDone || lj.Done != 2 || lj.Failed != 2 {
		t.Fatalf("failed lab job = %+v", lj)
	}
	if jobs, err := db.ListRegradeJobs(ctx, c.ID); err != nil || len(jobs) != 2 || jobs[0].ID != lj.ID {
		t.Fatalf("jobs = %+v, %v", jobs, err)
	}
	_, err = db.FindRegradeJob(ctx, 999)
	assertCode(t, err, faultline.ENOTFOUND)
	_, err = db.ResultHistory(ctx, 999)
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestTestAttachmentsRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	s := MustCreateSubmission(t, db, u.ID, "saga")
	MustClaim(t, db, "w", time.Minute)
	pics := []faultline.Attachment{{Name: "a.svg", SVG: "<svg/>"}, {Name: "b.svg", SVG: "<svg>b</svg>"}}
	MustCompleteWith(t, db, s.ID, "w", &faultline.Result{Status: faultline.StatusGraded, MaxScore: 2, Tests: []faultline.TestResult{
		{Name: "TestA", Status: faultline.TestFail, MaxScore: 1, Attachments: pics},
		{Name: "TestB", Status: faultline.TestPass, Score: 1, MaxScore: 1},
	}})
	got, err := db.FindSubmission(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tests := got.Result.Tests; !slices.Equal(tests[0].Attachments, pics) || tests[1].Attachments != nil {
		t.Fatalf("attachments = %+v / %+v", tests[0].Attachments, tests[1].Attachments)
	}
}

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

var (
	_ faultline.RegradeCanceler = (*store.DB)(nil)
	_ faultline.LiveService     = (*store.DB)(nil)
)

// TestCancelRegradeJob: cancelling unqueues what is still waiting (its state
// back from its shown result, no new result), lets the running one finish and
// count, and ends the job as canceled.
func TestCancelRegradeJob(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := MustCreateCohort(t, db, ins.ID, "A", "inv-a")
	var learners []*faultline.User
	for _, e := range []string{"ann@example.com", "bob@example.com", "cat@example.com"} {
		u := MustCreateUser(t, db, e, faultline.RoleLearner)
		if err := db.AddMember(ctx, c.ID, u.ID, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
		learners = append(learners, u)
	}
	// ann: graded 4/10; bob: graded 7/10; cat: could not be graded.
	var subs []*faultline.Submission
	for i, u := range learners {
		s := MustCreateSubmission(t, db, u.ID, "saga")
		MustClaim(t, db, "w", time.Minute)
		r := &faultline.Result{Status: faultline.StatusGraded, Score: 4 + 3*i, MaxScore: 10}
		if i == 2 {
			r = &faultline.Result{Status: faultline.StatusError, Message: "engine down"}
		}
		MustCompleteWith(t, db, s.ID, "w", r)
		subs = append(subs, s)
		clk.Advance(time.Second)
	}

	j := &faultline.RegradeJob{CohortID: c.ID, Lab: "saga", CreatedBy: ins.ID}
	if err := db.CreateRegradeJob(ctx, j); err != nil || j.Total != 3 {
		t.Fatalf("create regrade: %+v, %v", j, err)
	}
	// A worker takes ann's regrade; bob's and cat's wait.
	running := MustClaim(t, db, "w2", time.Hour)
	if running.ID != subs[0].ID {
		t.Fatalf("claimed %d, want ann's %d", running.ID, subs[0].ID)
	}
	q, err := db.QueueEntries(ctx, c.ID)
	if err != nil || len(q) != 3 || q[0].State != faultline.SubmissionRunning || q[0].RegradeJobID != j.ID || q[1].SubmissionID != subs[1].ID {
		t.Fatalf("queue before cancel = %+v, %v", q, err)
	}

	clk.Advance(time.Minute)
	got, err := db.CancelRegradeJob(ctx, j.ID)
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if got.State != faultline.RegradeDone || !got.Canceled() || got.Done != 0 || got.Total != 3 || !got.FinishedAt.Equal(clk.Now()) {
		t.Fatalf("canceled job = %+v", got)
	}
	for i, want := range []faultline.SubmissionState{faultline.SubmissionRunning, faultline.SubmissionDone, faultline.SubmissionFailed} {
		s, err := db.FindSubmission(ctx, subs[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != want {
			t.Errorf("submission %d state %q, want %q", i, s.State, want)
		}
		hist, err := db.ResultHistory(ctx, subs[i].ID)
		if err != nil || len(hist) != 1 || !hist[0].Current {
			t.Errorf("submission %d history = %d records, %v; want its one old result, current", i, len(hist), err)
		}
	}
	if s, _ := db.FindSubmission(ctx, subs[1].ID); s.Result == nil || s.Result.Score != 7 {
		t.Errorf("bob's shown result changed: %+v", s.Result)
	}
	// Nothing left to claim but the one already running.
	if _, err := db.ClaimSubmission(ctx, "w3", time.Minute); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("claim after cancel: %v, want ENOTFOUND", err)
	}
	if st, err := db.QueueStats(ctx); err != nil || st.Queued != 0 || st.Regrades != 0 || st.Running != 1 {
		t.Fatalf("queue stats after cancel = %+v, %v", st, err)
	}
	assertCode(t, func() error { _, err := db.CancelRegradeJob(ctx, j.ID); return err }(), faultline.ECONFLICT)

	// The running one finishes and counts; the job stays done and canceled.
	MustComplete(t, db, running.ID, "w2", 9, 10)
	got, err = db.FindRegradeJob(ctx, j.ID)
	if err != nil || got.State != faultline.RegradeDone || got.Done != 1 || !got.Canceled() || got.Remaining() != 2 {
		t.Fatalf("job after the running one finished = %+v, %v", got, err)
	}
	if hist, _ := db.ResultHistory(ctx, subs[0].ID); len(hist) != 2 || hist[0].Result.Score != 9 || hist[0].RegradeJobID != j.ID {
		t.Fatalf("ann's history after the regrade = %+v", hist)
	}

	// The canceled submissions can be regraded again.
	again := &faultline.RegradeJob{SubmissionID: subs[1].ID, CohortID: c.ID, CreatedBy: ins.ID}
	if err := db.CreateRegradeJob(ctx, again); err != nil {
		t.Fatalf("regrade after cancel: %v", err)
	}
	// A job whose only submission is being graded has nothing left to cancel.
	MustClaim(t, db, "w4", time.Minute)
	assertCode(t, func() error { _, err := db.CancelRegradeJob(ctx, again.ID); return err }(), faultline.ECONFLICT)
	assertCode(t, func() error { _, err := db.CancelRegradeJob(ctx, 999); return err }(), faultline.ENOTFOUND)
}

// TestLiveSandboxesAndQueue: the live view lists only the cohort's learners'
// sandboxes that are up and their queued or running submissions.
func TestLiveSandboxesAndQueue(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	bob := MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, ins.ID, "A", "inv-a")
	other := MustCreateCohort(t, db, ins.ID, "B", "inv-b")
	if err := db.AddMember(ctx, c.ID, ann.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, other.ID, bob.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	for _, sb := range []*faultline.Sandbox{
		{UserID: ann.ID, Lab: "saga", State: faultline.SandboxRunning, ContainerID: "c1"},
		{UserID: ann.ID, Lab: "bulkhead", State: faultline.SandboxStopped},
		{UserID: bob.ID, Lab: "saga", State: faultline.SandboxStarting},
		{UserID: ins.ID, Lab: "saga", State: faultline.SandboxRunning}, // the instructor is no learner
	} {
		if err := db.UpsertSandbox(ctx, sb); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	got, err := db.LiveSandboxes(ctx, c.ID)
	if err != nil || len(got) != 1 || got[0].UserID != ann.ID || got[0].Lab != "saga" || got[0].Name != ann.Name ||
		got[0].State != faultline.SandboxRunning {
		t.Fatalf("live sandboxes of A = %+v, %v", got, err)
	}
	all, err := db.LiveSandboxes(ctx, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("live sandboxes of everyone = %d, %v; want 3", len(all), err)
	}
	if none, err := db.LiveSandboxes(ctx, 999); err != nil || len(none) != 0 {
		t.Fatalf("unknown cohort: %+v, %v", none, err)
	}

	a1 := MustCreateSubmission(t, db, ann.ID, "saga")
	clk.Advance(time.Second)
	MustCreateSubmission(t, db, bob.ID, "saga")
	clk.Advance(time.Second)
	a2 := MustCreateSubmission(t, db, ann.ID, "bulkhead")
	MustClaim(t, db, "w", time.Minute) // a1
	q, err := db.QueueEntries(ctx, c.ID)
	if err != nil || len(q) != 2 {
		t.Fatalf("queue of A = %+v, %v", q, err)
	}
	if q[0].SubmissionID != a1.ID || q[0].State != faultline.SubmissionRunning || q[0].StartedAt.IsZero() || q[0].Name != ann.Name ||
		q[1].SubmissionID != a2.ID || q[1].State != faultline.SubmissionQueued || !q[1].StartedAt.IsZero() || q[1].RegradeJobID != 0 {
		t.Fatalf("queue of A = %+v %+v", q[0], q[1])
	}
	if all, err := db.QueueEntries(ctx, 0); err != nil || len(all) != 3 {
		t.Fatalf("queue of everyone = %d, %v; want 3", len(all), err)
	}
}

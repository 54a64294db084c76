package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// TestCreateSubmissionIfHoldsLimitsUnderRace submits many times at once
// against a limit of three submissions: the gate sees counts taken in the
// same transaction as the insert, so exactly three get in and the refusals
// carry the gate's own error.
func TestCreateSubmissionIfHoldsLimitsUnderRace(t *testing.T) {
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	const limit, tries = 3, 12
	refused := faultline.Errorf(faultline.ETOOMANY, "You have used your %d submissions.", limit)
	var wg sync.WaitGroup
	errs := make(chan error, tries)
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &faultline.Submission{UserID: u.ID, Lab: "saga", Files: []faultline.File{{Path: "saga.go", Content: []byte("package saga\n")}}}
			errs <- db.CreateSubmissionIf(context.Background(), s, func(c faultline.SubmissionCount) error {
				if c.Total >= limit {
					return refused
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case err != refused:
			t.Errorf("a refused submission returned %v, want the gate's error", err)
		}
	}
	c, err := db.SubmissionCounts(context.Background(), u.ID, "saga")
	if err != nil {
		t.Fatal(err)
	}
	if ok != limit || c.Total != limit {
		t.Fatalf("%d submissions accepted and %d stored under a limit of %d", ok, c.Total, limit)
	}
}

// TestCreateSubmissionIfCountsTheLastMinute checks the gate sees the
// per-minute count, which the web layer's rate limit reads.
func TestCreateSubmissionIfCountsTheLastMinute(t *testing.T) {
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	MustCreateSubmission(t, db, u.ID, "saga")
	MustCreateSubmission(t, db, u.ID, "saga")
	MustCreateSubmission(t, db, u.ID, "rate-limiter") // another lab: not counted
	var seen faultline.SubmissionCount
	s := &faultline.Submission{UserID: u.ID, Lab: "saga", Files: []faultline.File{{Path: "saga.go", Content: []byte("package saga\n")}}}
	if err := db.CreateSubmissionIf(context.Background(), s, func(c faultline.SubmissionCount) error { seen = c; return nil }); err != nil {
		t.Fatal(err)
	}
	if seen.Total != 2 || seen.LastMinute != 2 || s.ID == 0 {
		t.Fatalf("gate saw %+v (want 2 in all, 2 in the last minute) and the submission got id %d", seen, s.ID)
	}
}

// TestSubmissionStateFollowsTheQueue checks the cheap state read the event
// stream polls: queued, running once claimed, done once completed, and
// ENOTFOUND for a submission that does not exist.
func TestSubmissionStateFollowsTheQueue(t *testing.T) {
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	s := MustCreateSubmission(t, db, u.ID, "saga")
	ctx := context.Background()
	want := func(step string, st faultline.SubmissionState) {
		t.Helper()
		got, err := db.SubmissionState(ctx, s.ID)
		if err != nil || got != st {
			t.Fatalf("%s: state %q, %v; want %q", step, got, err, st)
		}
	}
	want("created", faultline.SubmissionQueued)
	MustClaim(t, db, "w1", time.Minute)
	want("claimed", faultline.SubmissionRunning)
	MustComplete(t, db, s.ID, "w1", 3, 4)
	want("completed", faultline.SubmissionDone)
	if _, err := db.SubmissionState(ctx, s.ID+100); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("state of a missing submission: %v, want ENOTFOUND", err)
	}
}

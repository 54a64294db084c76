package grader_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/store"
)

// gateGrader grades learner B at once and learner A's submissions (busy
// loops, as far as the queue can tell) only when the test lets each one go.
type gateGrader struct {
	release chan struct{}
	graded  chan string // who, in the order grades finish
}

func (g *gateGrader) Grade(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
	who := string(files[0].Content)
	if who == "A" {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g.graded <- who
	return &faultline.Result{Lab: lab.Slug, Status: faultline.StatusGraded, Score: 1, MaxScore: 1}, nil
}

// TestWorkerServesLearnersFairly: learner A has 30 submissions waiting and
// one being graded; learner B's one submission is graded next, so B waits
// only for the job already running.
func TestWorkerServesLearnersFairly(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk := func(email string) *faultline.User {
		u := &faultline.User{Email: email, Name: email, Role: faultline.RoleLearner, PasswordHash: "x"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	a, b := mk("a@example.com"), mk("b@example.com")
	submit := func(u *faultline.User, who string) *faultline.Submission {
		s := &faultline.Submission{UserID: u.ID, Lab: "saga", Files: []faultline.File{{Path: "who.txt", Content: []byte(who)}}}
		if err := db.CreateSubmission(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for i := 0; i < 31; i++ {
		submit(a, "A")
	}
	g := &gateGrader{release: make(chan struct{}), graded: make(chan string, 64)}
	lab := &faultline.Lab{Slug: "saga", Tests: []faultline.LabTest{{Name: "TestX", Points: 1}}}
	w := grader.NewWorker(db, func(string) (*faultline.Lab, error) { return lab, nil }, g,
		grader.WorkerOptions{Concurrency: 1, Poll: 10 * time.Millisecond})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		cancel()
		close(g.release)
		<-done
	})
	// Wait until A's first submission is being graded.
	for {
		q, err := db.QueueStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if q.Running == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	bSub := submit(b, "B")
	w.Kick()
	g.release <- struct{}{} // the job that was running when B submitted finishes
	next := func() string {
		select {
		case who := <-g.graded:
			return who
		case <-time.After(2 * time.Minute): // a deadlock guard, not a speed requirement
			t.Fatal("no grade finished: the worker is waiting on one of A's")
			return ""
		}
	}
	if who := next(); who != "A" {
		t.Fatalf("first grade finished was %s's", who)
	}
	if who := next(); who != "B" {
		t.Fatalf("after the running job, %s was graded, not B (A has 30 waiting)", who)
	}
	for {
		st, err := db.SubmissionState(ctx, bSub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st == faultline.SubmissionDone {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

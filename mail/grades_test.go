package mail_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/mail/smtptest"
)

// TestGradeMailer: a learner's own grade sends nothing; a regrade that
// changes the score sends one email over SMTP naming both scores and
// linking the submission; a regrade with the same score sends nothing; a
// restart of the mailer sends nothing twice.
func TestGradeMailer(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db := MustStore(t, filepath.Join(t.TempDir(), "f.db"), clk)
	srv := smtptest.Start(t, smtptest.Options{})
	n := mail.NewNotifier(db, site, nil)
	q := mail.NewQueue(db, MustSender(t, srv, "", ""), mail.QueueOptions{Now: clk.Now})
	newMailer := func() *mail.GradeMailer {
		return &mail.GradeMailer{Events: db, Users: db, Notifier: n, BaseURL: site.BaseURL,
			LabTitle: func(s string) string { return strings.ToUpper(s) }}
	}
	g := newMailer()
	if err := g.Once(ctx); err != nil { // sets the cursor
		t.Fatal(err)
	}
	inst := &faultline.User{Email: "i@example.com", Name: "I", Role: faultline.RoleInstructor, PasswordHash: "x"}
	lin := &faultline.User{Email: "lin@example.com", Name: "Lin", Role: faultline.RoleLearner, PasswordHash: "x"}
	for _, u := range []*faultline.User{inst, lin} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	sub := &faultline.Submission{UserID: lin.ID, Lab: "saga", Files: []faultline.File{{Path: "a.go", Content: []byte("package a\n")}}}
	if err := db.CreateSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	grade := func(score int) {
		t.Helper()
		s, err := db.ClaimSubmission(ctx, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CompleteSubmission(ctx, s.ID, "w", &faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: score, MaxScore: 10}); err != nil {
			t.Fatal(err)
		}
	}
	regrade := func(score int) {
		t.Helper()
		if err := db.CreateRegradeJob(ctx, &faultline.RegradeJob{Lab: "saga", SubmissionID: sub.ID, CreatedBy: inst.ID}); err != nil {
			t.Fatal(err)
		}
		grade(score)
	}
	grade(6)
	regrade(8)
	regrade(8)
	if err := g.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if err := newMailer().Once(ctx); err != nil { // a restarted mailer
		t.Fatal(err)
	}
	if sent, err := q.Drain(ctx); err != nil || sent != 1 {
		t.Fatalf("sent %d, %v; want one email (the regrade that changed the score)", sent, err)
	}
	m := srv.Messages()[0]
	if m.To[0] != "lin@example.com" || m.Subject != "Your grade for SAGA: 8/10" ||
		!strings.Contains(m.Parts["text/plain"], "went from 6 to 8/10") || !strings.Contains(m.Parts["text/plain"], site.BaseURL+"/submissions/1") {
		t.Fatalf("grade email: to %v subject %q\n%s", m.To, m.Subject, m.Parts["text/plain"])
	}
}

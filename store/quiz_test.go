package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestQuizAttempts(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	alice := MustCreateUser(t, db, "alice@example.com", faultline.RoleLearner)
	bob := MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)

	if got, err := db.QuizScores(ctx, alice.ID); err != nil || len(got) != 0 {
		t.Fatalf("QuizScores before any attempt = %v, %v; want empty", got, err)
	}
	a, err := db.RecordQuizAttempt(ctx, faultline.QuizAttempt{UserID: alice.ID, Slug: "circuit-breakers", Score: 2, Total: 3, Answers: []int{1, 0, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || !a.CreatedAt.Equal(clk.Now()) || !slices.Equal(a.Answers, []int{1, 0, 3}) {
		t.Fatalf("recorded attempt = %+v", a)
	}
	clk.Advance(time.Minute)
	for _, at := range []faultline.QuizAttempt{
		{UserID: alice.ID, Slug: "circuit-breakers", Score: 3, Total: 3, Answers: []int{1, 2, 3}},
		{UserID: alice.ID, Slug: "circuit-breakers", Score: 1, Total: 3, Answers: []int{1, 1, 1}},
		{UserID: alice.ID, Slug: "partial-failure", Score: 0, Total: 4, Answers: []int{0, 0, 0, 0}},
		{UserID: bob.ID, Slug: "partial-failure", Score: 4, Total: 4, Answers: []int{1, 1, 1, 1}},
	} {
		if _, err := db.RecordQuizAttempt(ctx, at); err != nil {
			t.Fatalf("RecordQuizAttempt(%+v): %v", at, err)
		}
	}
	got, err := db.QuizScores(ctx, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]faultline.QuizScore{
		"circuit-breakers": {Best: 3, Total: 3, Attempts: 3},
		"partial-failure":  {Best: 0, Total: 4, Attempts: 1},
	}
	if len(got) != len(want) || got["circuit-breakers"] != want["circuit-breakers"] || got["partial-failure"] != want["partial-failure"] {
		t.Fatalf("QuizScores(alice) = %+v, want %+v", got, want)
	}
	if got, err := db.QuizScores(ctx, bob.ID); err != nil || got["partial-failure"] != (faultline.QuizScore{Best: 4, Total: 4, Attempts: 1}) || len(got) != 1 {
		t.Fatalf("QuizScores(bob) = %+v, %v", got, err)
	}
}

func TestQuizAttemptInvalid(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "alice@example.com", faultline.RoleLearner)
	for name, tc := range map[string]struct {
		a    faultline.QuizAttempt
		code string
	}{
		"empty slug":       {faultline.QuizAttempt{UserID: u.ID, Score: 1, Total: 1, Answers: []int{1}}, faultline.EINVALID},
		"score over total": {faultline.QuizAttempt{UserID: u.ID, Slug: "x", Score: 2, Total: 1, Answers: []int{1}}, faultline.EINVALID},
		"negative score":   {faultline.QuizAttempt{UserID: u.ID, Slug: "x", Score: -1, Total: 1, Answers: []int{1}}, faultline.EINVALID},
		"zero total":       {faultline.QuizAttempt{UserID: u.ID, Slug: "x", Answers: []int{}}, faultline.EINVALID},
		"answers mismatch": {faultline.QuizAttempt{UserID: u.ID, Slug: "x", Score: 1, Total: 2, Answers: []int{1}}, faultline.EINVALID},
		"unknown user":     {faultline.QuizAttempt{UserID: u.ID + 99, Slug: "x", Score: 1, Total: 1, Answers: []int{1}}, faultline.ENOTFOUND},
	} {
		if _, err := db.RecordQuizAttempt(ctx, tc.a); faultline.ErrorCode(err) != tc.code {
			t.Errorf("%s: err = %v, want code %s", name, err, tc.code)
		}
	}
	if got, err := db.QuizScores(ctx, u.ID); err != nil || len(got) != 0 {
		t.Fatalf("after refused attempts QuizScores = %v, %v; want empty", got, err)
	}
}

// A tie on the best score goes to the latest attempt, whose total is the
// quiz as it is now (a quiz that gained a question since).
func TestQuizScoresTieTakesLatestTotal(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "alice@example.com", faultline.RoleLearner)
	for _, at := range []faultline.QuizAttempt{
		{UserID: u.ID, Slug: "circuit-breakers", Score: 2, Total: 3, Answers: []int{1, 2, 0}},
		{UserID: u.ID, Slug: "circuit-breakers", Score: 2, Total: 4, Answers: []int{1, 2, 0, 0}},
		{UserID: u.ID, Slug: "circuit-breakers", Score: 1, Total: 4, Answers: []int{1, 0, 0, 0}},
	} {
		if _, err := db.RecordQuizAttempt(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.QuizScores(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (faultline.QuizScore{Best: 2, Total: 4, Attempts: 3}); got["circuit-breakers"] != want || len(got) != 1 {
		t.Fatalf("QuizScores = %+v, want circuit-breakers %+v", got, want)
	}
}

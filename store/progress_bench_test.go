package store_test

import (
	"context"
	"testing"

	"github.com/faultline-dev/faultline"
)

// BenchmarkLessonProgress measures the per-request reads of a lesson page
// (lessons read and best quiz scores of one learner with a few attempts):
//
//	go test ./store/ -run '^$' -bench LessonProgress
func BenchmarkLessonProgress(b *testing.B) {
	ctx := context.Background()
	db, _ := MustOpenDB(b)
	u := MustCreateUser(b, db, "lea@example.com", faultline.RoleLearner)
	for i, slug := range []string{"circuit-breakers", "partial-failure", "retries"} {
		for j := 0; j < 3; j++ {
			if _, err := db.RecordQuizAttempt(ctx, faultline.QuizAttempt{UserID: u.ID, Slug: slug, Score: (i + j) % 3, Total: 3, Answers: []int{1, 2, 3}}); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.MarkLessonRead(ctx, u.ID, slug); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.LessonsRead(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
		if _, err := db.QuizScores(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
	}
}

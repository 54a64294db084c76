package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// MarkLessonRead records that the user read the lesson. It is idempotent: the
// first read time is kept. EINVALID for an empty slug, ENOTFOUND for an
// unknown user.
func (db *DB) MarkLessonRead(ctx context.Context, userID int64, slug string) error {
	if slug == "" || len(slug) > 200 {
		return faultline.Errorf(faultline.EINVALID, "Lesson slug must be 1 to 200 characters.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `
		INSERT INTO lesson_reads (user_id, slug, read_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id, slug) DO NOTHING`, userID, slug, encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("mark lesson %q read by user %d: %w", slug, userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark lesson %q read by user %d: commit: %w", slug, userID, err)
	}
	return nil
}

// LessonsRead returns the slugs the user has read, each with when it was
// first read; an empty map if none.
func (db *DB) LessonsRead(ctx context.Context, userID int64) (map[string]time.Time, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT slug, read_at FROM lesson_reads WHERE user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("lessons read by user %d: %w", userID, err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var slug string
		var at time.Time
		if err := rows.Scan(&slug, timeText{&at}); err != nil {
			return nil, fmt.Errorf("lessons read by user %d: %w", userID, err)
		}
		out[slug] = at
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lessons read by user %d: %w", userID, err)
	}
	return out, nil
}

// RecordQuizAttempt stores a graded quiz attempt. EINVALID for an empty or
// overlong slug, a total below 1, a score outside 0..total, or answers that do
// not match total; ENOTFOUND for an unknown user.
func (db *DB) RecordQuizAttempt(ctx context.Context, a faultline.QuizAttempt) (*faultline.QuizAttempt, error) {
	switch {
	case a.Slug == "" || len(a.Slug) > 200:
		return nil, faultline.Errorf(faultline.EINVALID, "Lesson slug must be 1 to 200 characters.")
	case a.Total < 1 || a.Score < 0 || a.Score > a.Total:
		return nil, faultline.Errorf(faultline.EINVALID, "A quiz score must be between 0 and the number of questions.")
	case len(a.Answers) != a.Total:
		return nil, faultline.Errorf(faultline.EINVALID, "A quiz attempt needs one answer per question.")
	}
	parts := make([]string, len(a.Answers))
	for i, n := range a.Answers {
		if n < 0 {
			return nil, faultline.Errorf(faultline.EINVALID, "Quiz answer %d is not a choice.", i+1)
		}
		parts[i] = strconv.Itoa(n)
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `
		INSERT INTO quiz_attempts (user_id, slug, score, total, answers, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, a.UserID, a.Slug, a.Score, a.Total, strings.Join(parts, ","), encodeTime(tx.now))
	if isForeignKey(err) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("record quiz attempt on %q by user %d: %w", a.Slug, a.UserID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("record quiz attempt on %q by user %d: id: %w", a.Slug, a.UserID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record quiz attempt on %q by user %d: commit: %w", a.Slug, a.UserID, err)
	}
	out := a
	out.ID = id
	out.CreatedAt = tx.now
	out.Answers = append([]int(nil), a.Answers...)
	return &out, nil
}

// QuizScores returns, per lesson slug, the user's best score (with the total
// of that attempt) and how many attempts they made; an empty map if none.
func (db *DB) QuizScores(ctx context.Context, userID int64) (map[string]faultline.QuizScore, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The best attempt is the highest score; ties go to the latest attempt,
	// whose total reflects the quiz as it is now. With one max() aggregate
	// SQLite takes the bare column total from the row holding the maximum,
	// so one pass over the user's rows of the (user_id, slug, score) index
	// answers it (a window query here cost a sort per request).
	rows, err := tx.QueryContext(ctx, `
		SELECT slug, total, MAX((score << 32) + id), COUNT(*)
		FROM quiz_attempts WHERE user_id = +? -- see db.go
		GROUP BY slug`, userID)
	if err != nil {
		return nil, fmt.Errorf("quiz scores of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := map[string]faultline.QuizScore{}
	for rows.Next() {
		var slug string
		var s faultline.QuizScore
		var key int64
		if err := rows.Scan(&slug, &s.Total, &key, &s.Attempts); err != nil {
			return nil, fmt.Errorf("quiz scores of user %d: %w", userID, err)
		}
		s.Best = int(key >> 32)
		out[slug] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quiz scores of user %d: %w", userID, err)
	}
	return out, nil
}

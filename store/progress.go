package store

import (
	"context"
	"fmt"
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

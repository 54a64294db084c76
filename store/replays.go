package store

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

// StartReplay records r unless admit, given how many replays r.UserID
// started in the hour before now (counted in the same transaction, so two
// replays at once cannot both slip past a limit), returns an error, which
// is then returned with nothing recorded. It fills r.ID and r.CreatedAt.
// ENOTFOUND for an unknown user or submission.
func (db *DB) StartReplay(ctx context.Context, r *faultline.ReplayRecord, admit func(lastHour int) error) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM replays WHERE user_id = ? AND created_at > ?`,
		r.UserID, encodeTime(tx.now.Add(-time.Hour))).Scan(&n); err != nil {
		return fmt.Errorf("count replays of user %d: %w", r.UserID, err)
	}
	if admit != nil {
		if err := admit(n); err != nil {
			return err
		}
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO replays (user_id, submission_id, lab, test, seed, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, r.UserID, r.SubmissionID, r.Lab, r.Test, r.Seed, encodeTime(tx.now)).Scan(&r.ID)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User or submission not found.")
	} else if err != nil {
		return fmt.Errorf("record replay of user %d: %w", r.UserID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record replay of user %d: commit: %w", r.UserID, err)
	}
	r.CreatedAt = tx.now
	return nil
}

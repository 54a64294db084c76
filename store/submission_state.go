package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// SubmissionState returns where the submission is in the queue, reading one
// column: the event stream polls it and loads the whole submission (files
// and result) only when it changes. ENOTFOUND if there is no such submission.
func (db *DB) SubmissionState(ctx context.Context, id int64) (faultline.SubmissionState, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var st string
	err = tx.QueryRowContext(ctx, `SELECT state FROM submissions WHERE id = ?`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", faultline.Errorf(faultline.ENOTFOUND, "Submission not found.")
	} else if err != nil {
		return "", fmt.Errorf("state of submission %d: %w", id, err)
	}
	return faultline.SubmissionState(st), nil
}

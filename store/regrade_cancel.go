package store

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// CancelRegradeJob ends a running regrade job early. Its submissions still
// queued leave the queue: each goes back to the state its shown result gives
// it (failed for a result that could not be graded, else done), with that
// result kept and no new one recorded. Submissions a worker is grading now
// finish and are counted as usual. The job is marked done now, so Done stays
// below Total (faultline.RegradeJob.Canceled). It returns ENOTFOUND for an
// unknown job and ECONFLICT when the job has finished or none of its
// submissions is still queued (the rest are being graded and will finish).
func (db *DB) CancelRegradeJob(ctx context.Context, id int64) (*faultline.RegradeJob, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	j, err := findRegradeJob(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if j.State != faultline.RegradeRunning {
		return nil, faultline.Errorf(faultline.ECONFLICT, "This regrade has already finished.")
	}
	// The shown result decides the state, as CompleteSubmission does when a
	// regrade could not run. A queued regrade always has a shown result
	// (CreateRegradeJob only queues graded submissions).
	res, err := tx.ExecContext(ctx, `UPDATE submissions
		SET state = COALESCE((SELECT CASE r.status WHEN 'error' THEN 'failed' ELSE 'done' END
		                      FROM results r WHERE r.id = submissions.result_id), 'failed'),
		    priority = 0, regrade_job_id = NULL, lease_owner = '', lease_expires = NULL
		WHERE regrade_job_id = ? AND state = 'queued'`, id)
	if err != nil {
		return nil, fmt.Errorf("cancel regrade job %d: unqueue: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("cancel regrade job %d: unqueue: %w", id, err)
	}
	if n == 0 {
		return nil, faultline.Errorf(faultline.ECONFLICT,
			"Nothing of this regrade is still waiting: the rest is being graded now and will finish shortly.")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE regrade_jobs SET state = 'done', finished_at = ? WHERE id = ?`,
		encodeTime(tx.now), id); err != nil {
		return nil, fmt.Errorf("cancel regrade job %d: %w", id, err)
	}
	j, err = findRegradeJob(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cancel regrade job %d: commit: %w", id, err)
	}
	return j, nil
}

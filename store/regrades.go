package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// CreateRegradeJob queues a regrade and fills j (ID, State, Total, Done,
// CreatedAt). With j.SubmissionID set it regrades that one submission (Lab
// is filled from it; with CohortID set too, the submission's author must be
// a learner of that cohort, else ENOTFOUND); otherwise every submission of
// j.Lab by learners of j.CohortID that has a result and is not already queued
// or running. Queued regrades go behind learners' new submissions; their
// current results stay shown until new ones arrive, and old results are kept
// as history. It returns EINVALID without a submission or a cohort and lab,
// ENOTFOUND for an unknown submission or cohort, ECONFLICT when there is
// nothing to regrade (the submission is queued, running or never graded, or
// the lab has no graded submissions in the cohort).
func (db *DB) CreateRegradeJob(ctx context.Context, j *faultline.RegradeJob) error {
	if j.SubmissionID == 0 && (j.CohortID == 0 || j.Lab == "") {
		return faultline.Errorf(faultline.EINVALID, "Choose a submission, or a cohort and a lab, to regrade.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var target string
	var args []any
	if j.SubmissionID != 0 {
		var lab, state string
		var rid sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT lab, state, result_id FROM submissions WHERE id = ?`, j.SubmissionID).
			Scan(&lab, &state, &rid)
		if errors.Is(err, sql.ErrNoRows) {
			return faultline.Errorf(faultline.ENOTFOUND, "Submission not found.")
		} else if err != nil {
			return fmt.Errorf("create regrade of submission %d: %w", j.SubmissionID, err)
		}
		if !rid.Valid || state == string(faultline.SubmissionQueued) || state == string(faultline.SubmissionRunning) {
			return faultline.Errorf(faultline.ECONFLICT, "Submission %d is waiting to be graded; regrade it once it has a result.", j.SubmissionID)
		}
		if j.CohortID != 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships m JOIN submissions s ON s.user_id = m.user_id
				WHERE s.id = ? AND m.cohort_id = ? AND m.role = 'learner'`, j.SubmissionID, j.CohortID).Scan(&n); err != nil {
				return fmt.Errorf("create regrade of submission %d: %w", j.SubmissionID, err)
			}
			if n == 0 {
				return faultline.Errorf(faultline.ENOTFOUND, "Submission not found in this cohort.")
			}
		}
		if j.Lab == "" {
			j.Lab = lab
		}
		target, args = `id = ?`, []any{j.SubmissionID}
	} else {
		if _, err := findCohort(ctx, tx, "id = ?", j.CohortID); err != nil {
			return err
		}
		target = `lab = ? AND user_id IN (SELECT user_id FROM memberships WHERE cohort_id = ? AND role = 'learner')`
		args = []any{j.Lab, j.CohortID}
	}
	var cohort any
	if j.CohortID != 0 {
		cohort = j.CohortID
	}
	var sub any
	if j.SubmissionID != 0 {
		sub = j.SubmissionID
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO regrade_jobs (cohort_id, lab, submission_id, state, total, created_by, created_at)
		VALUES (?, ?, ?, 'running', 0, ?, ?) RETURNING id`, cohort, j.Lab, sub, j.CreatedBy, encodeTime(tx.now)).Scan(&id)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "Cohort or user not found.")
	} else if err != nil {
		return fmt.Errorf("create regrade job for lab %q: %w", j.Lab, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE submissions
		SET state = 'queued', priority = 1, regrade_job_id = ?, attempts = 0, lease_owner = '', lease_expires = NULL
		WHERE `+target+` AND result_id IS NOT NULL AND state IN ('done', 'failed')`, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("create regrade job %d: queue: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("create regrade job %d: queue: %w", id, err)
	}
	if n == 0 {
		return faultline.Errorf(faultline.ECONFLICT, "There is nothing to regrade: no graded submissions of %s.", j.Lab)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE regrade_jobs SET total = ? WHERE id = ?`, n, id); err != nil {
		return fmt.Errorf("create regrade job %d: %w", id, err)
	}
	got, err := findRegradeJob(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create regrade job %d: commit: %w", id, err)
	}
	*j = *got
	return nil
}

// advanceRegrade counts one more submission of job id as regraded (failed
// when it could not be graded) and finishes the job with its last one.
func advanceRegrade(ctx context.Context, tx *dbTx, id int64, failed bool) error {
	f := 0
	if failed {
		f = 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE regrade_jobs SET done = done + 1, failed = failed + ?,
		state = CASE WHEN done + 1 >= total THEN 'done' ELSE state END,
		finished_at = CASE WHEN done + 1 >= total THEN ? ELSE finished_at END
		WHERE id = ?`, f, encodeTime(tx.now), id); err != nil {
		return fmt.Errorf("advance regrade job %d: %w", id, err)
	}
	return nil
}

// FindRegradeJob returns the job; ENOTFOUND if there is none.
func (db *DB) FindRegradeJob(ctx context.Context, id int64) (*faultline.RegradeJob, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findRegradeJob(ctx, tx, id)
}

// ListRegradeJobs returns the cohort's regrade jobs, newest first (an empty
// slice for none or an unknown cohort).
func (db *DB) ListRegradeJobs(ctx context.Context, cohortID int64) ([]*faultline.RegradeJob, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+regradeColumns+` FROM regrade_jobs WHERE cohort_id = ? ORDER BY id DESC`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("list regrade jobs of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.RegradeJob{}
	for rows.Next() {
		j, err := scanRegradeJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list regrade jobs of cohort %d: %w", cohortID, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list regrade jobs of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

const regradeColumns = `id, COALESCE(cohort_id, 0), lab, COALESCE(submission_id, 0), state, total, done, failed,
	created_by, created_at, finished_at`

func scanRegradeJob(sc interface{ Scan(...any) error }) (*faultline.RegradeJob, error) {
	j := &faultline.RegradeJob{}
	var state string
	if err := sc.Scan(&j.ID, &j.CohortID, &j.Lab, &j.SubmissionID, &state, &j.Total, &j.Done, &j.Failed,
		&j.CreatedBy, timeText{&j.CreatedAt}, timeText{&j.FinishedAt}); err != nil {
		return nil, err
	}
	j.State = faultline.RegradeState(state)
	return j, nil
}

func findRegradeJob(ctx context.Context, tx *dbTx, id int64) (*faultline.RegradeJob, error) {
	j, err := scanRegradeJob(tx.QueryRowContext(ctx, `SELECT `+regradeColumns+` FROM regrade_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Regrade job not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find regrade job %d: %w", id, err)
	}
	return j, nil
}

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

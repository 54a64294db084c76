package store

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// The instructors' live view: sandboxes that are up and the part of the
// grading queue that belongs to a cohort's learners.

// cohortLearners restricts a user_id column to the learners of cohortID, or
// leaves it unrestricted when cohortID is 0.
func cohortLearners(col string, cohortID int64) (string, []any) {
	if cohortID == 0 {
		return "1 = 1", nil
	}
	return col + ` IN (SELECT user_id FROM memberships WHERE cohort_id = ? AND role = 'learner')`, []any{cohortID}
}

// LiveSandboxes returns the starting and running sandboxes of the cohort's
// learners (of everyone for cohortID 0) with their names, least recently
// active first. An unknown cohort has none.
func (db *DB) LiveSandboxes(ctx context.Context, cohortID int64) ([]*faultline.LiveSandbox, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := cohortLearners("sb.user_id", cohortID)
	rows, err := tx.QueryContext(ctx, `SELECT sb.id, sb.user_id, sb.lab, sb.container_id, sb.state, sb.error,
		sb.created_at, sb.updated_at, sb.last_active_at, u.name, u.email
		FROM sandboxes sb JOIN users u ON u.id = sb.user_id
		WHERE sb.state IN ('starting', 'running') AND `+where+`
		ORDER BY sb.last_active_at, sb.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("live sandboxes of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.LiveSandbox{}
	for rows.Next() {
		ls := &faultline.LiveSandbox{}
		var state string
		if err := rows.Scan(&ls.ID, &ls.UserID, &ls.Lab, &ls.ContainerID, &state, &ls.Error,
			timeText{&ls.CreatedAt}, timeText{&ls.UpdatedAt}, timeText{&ls.LastActiveAt}, &ls.Name, &ls.Email); err != nil {
			return nil, fmt.Errorf("live sandboxes of cohort %d: %w", cohortID, err)
		}
		ls.State = faultline.SandboxState(state)
		out = append(out, ls)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("live sandboxes of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

// QueueEntries returns the queued and running submissions of the cohort's
// learners (of everyone for cohortID 0): running ones first by when they
// started, then queued ones in the order ClaimSubmission takes them
// (learners' submissions before regrades, oldest first). An unknown cohort
// has none.
func (db *DB) QueueEntries(ctx context.Context, cohortID int64) ([]*faultline.QueueEntry, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := cohortLearners("s.user_id", cohortID)
	rows, err := tx.QueryContext(ctx, `SELECT s.id, s.user_id, u.name, s.lab, s.state, COALESCE(s.regrade_job_id, 0),
		s.created_at, CASE WHEN s.state = 'running' THEN s.started_at END, s.attempts
		FROM submissions s JOIN users u ON u.id = s.user_id
		WHERE s.state IN ('queued', 'running') AND `+where+`
		ORDER BY s.state = 'queued', CASE WHEN s.state = 'running' THEN s.started_at END, s.priority, s.created_at, s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("queue entries of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.QueueEntry{}
	for rows.Next() {
		q := &faultline.QueueEntry{}
		var state string
		if err := rows.Scan(&q.SubmissionID, &q.UserID, &q.Name, &q.Lab, &state, &q.RegradeJobID,
			timeText{&q.CreatedAt}, timeText{&q.StartedAt}, &q.Attempts); err != nil {
			return nil, fmt.Errorf("queue entries of cohort %d: %w", cohortID, err)
		}
		q.State = faultline.SubmissionState(state)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue entries of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

package store

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

var _ faultline.ScoreService = (*DB)(nil)

// LearnerCohorts returns, for each of userIDs, the IDs of the cohorts in
// which that user is a learner, ascending; users who learn nowhere are
// absent.
func (db *DB) LearnerCohorts(ctx context.Context, userIDs []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	if len(userIDs) == 0 {
		return out, nil
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// In batches, to stay under SQLite's parameter limit.
	for start := 0; start < len(userIDs); start += 500 {
		batch := userIDs[start:min(start+500, len(userIDs))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		rows, err := tx.QueryContext(ctx, `SELECT user_id, cohort_id FROM memberships
			WHERE role = 'learner' AND user_id IN (`+placeholders(len(batch))+`)
			ORDER BY user_id, cohort_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("learner cohorts: %w", err)
		}
		for rows.Next() {
			var uid, cid int64
			if err := rows.Scan(&uid, &cid); err != nil {
				rows.Close()
				return nil, fmt.Errorf("learner cohorts: %w", err)
			}
			out[uid] = append(out[uid], cid)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("learner cohorts: %w", err)
		}
		rows.Close()
	}
	return out, nil
}

// CohortAttempts returns every submission of the cohort's learners for lab
// (every lab when lab is "") as attempts: graded when its shown result is
// not StatusError, with that result's score. Ordered by learner, lab and
// submission id. ENOTFOUND for an unknown cohort.
func (db *DB) CohortAttempts(ctx context.Context, cohortID int64, lab string) ([]*faultline.LearnerAttempt, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	q := `SELECT s.user_id, s.lab, s.id, s.created_at, COALESCE(r.status <> 'error', 0), COALESCE(r.score, 0), COALESCE(r.max_score, 0)
		FROM memberships m
		JOIN submissions s ON s.user_id = m.user_id
		LEFT JOIN results r ON r.id = s.result_id
		WHERE m.cohort_id = ? AND m.role = 'learner'`
	args := []any{cohortID}
	if lab != "" {
		q += ` AND s.lab = ?`
		args = append(args, lab)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY s.user_id, s.lab, s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("attempts of cohort %d lab %q: %w", cohortID, lab, err)
	}
	defer rows.Close()
	out := []*faultline.LearnerAttempt{}
	for rows.Next() {
		a := &faultline.LearnerAttempt{}
		if err := rows.Scan(&a.UserID, &a.Lab, &a.SubmissionID, timeText{&a.At}, &a.Graded, &a.Score, &a.MaxScore); err != nil {
			return nil, fmt.Errorf("attempts of cohort %d lab %q: %w", cohortID, lab, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts of cohort %d lab %q: %w", cohortID, lab, err)
	}
	return out, nil
}

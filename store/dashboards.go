package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// This file holds the read models across aggregates: the instructors'
// dashboards (progress matrix, lab statistics, the lab_progress summary
// behind them), the live view's queue, the grading queue's statistics, and
// what deciding held scores reads.

// ---- dashboards ----

// ProgressMatrix returns one row per learner of the cohort, ordered by name
// then id, with the number of lessons they have read and one cell per lab
// they submitted to: best score over graded submissions (shown result not
// StatusError; BestID the earliest among equals), graded attempts, all
// submissions and the last submission time. Cells come from the lab_progress
// summary the store keeps on every submission and result write, so the cost
// is one row per learner and lab, whatever the number of submissions.
// ENOTFOUND for an unknown cohort.
func (db *DB) ProgressMatrix(ctx context.Context, cohortID int64) ([]*faultline.MatrixRow, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT u.id, u.name, u.email, (SELECT COUNT(*) FROM lesson_reads l WHERE l.user_id = u.id)
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.cohort_id = ? AND m.role = 'learner'
		ORDER BY u.name, u.id`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("progress matrix of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.MatrixRow{}
	byUser := map[int64]*faultline.MatrixRow{}
	for rows.Next() {
		r := &faultline.MatrixRow{Cells: map[string]*faultline.MatrixCell{}}
		if err := rows.Scan(&r.UserID, &r.Name, &r.Email, &r.LessonsRead); err != nil {
			return nil, fmt.Errorf("progress matrix of cohort %d: %w", cohortID, err)
		}
		out = append(out, r)
		byUser[r.UserID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("progress matrix of cohort %d: %w", cohortID, err)
	}
	rows.Close()

	crows, err := tx.QueryContext(ctx, `
		SELECT p.user_id, p.lab, p.submissions, p.attempts, p.last_at, p.best_key, p.max_score
		FROM memberships m JOIN lab_progress p ON p.user_id = m.user_id
		WHERE m.cohort_id = ? AND m.role = 'learner'`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("progress matrix of cohort %d: cells: %w", cohortID, err)
	}
	defer crows.Close()
	for crows.Next() {
		var uid int64
		var best sql.NullInt64
		c := &faultline.MatrixCell{}
		if err := crows.Scan(&uid, &c.Lab, &c.Submissions, &c.Attempts, timeText{&c.LastSubmitAt}, &best, &c.MaxScore); err != nil {
			return nil, fmt.Errorf("progress matrix of cohort %d: cells: %w", cohortID, err)
		}
		if best.Valid {
			c.BestScore, c.BestID = unpackBest(best.Int64)
		}
		if r := byUser[uid]; r != nil {
			r.Cells[c.Lab] = c
		}
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("progress matrix of cohort %d: cells: %w", cohortID, err)
	}
	return out, nil
}

// DashboardVersion returns the version of what the cohort's dashboard shows in
// its progress matrix (ProgressMatrix, with the attempts, extensions,
// adjustments and lab settings the held scores are decided from), its
// member list and its conversation figures (threads, posts, reports,
// regrade requests): triggers move it on with every write that changes any of it
// (migration 0030), in the transaction of the write, so a caller that read
// the version and then the data (or both in one ReadSnapshot) may keep what
// it made of them until the version moves. ENOTFOUND for an unknown cohort.
func (db *DB) DashboardVersion(ctx context.Context, cohortID int64) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v int64
	err = tx.QueryRowContext(ctx, `SELECT version FROM cohort_versions WHERE cohort_id = ?`, cohortID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	} else if err != nil {
		return 0, fmt.Errorf("dashboard version of cohort %d: %w", cohortID, err)
	}
	return v, nil
}

// progressSQL recomputes lab_progress rows from submissions and their shown
// results; the caller appends a WHERE on s (and may bind arguments).
const progressSQL = `INSERT INTO lab_progress (user_id, lab, submissions, attempts, best_key, max_score, last_at)
	SELECT s.user_id, s.lab, COUNT(*), COALESCE(SUM(r.status <> 'error'), 0),
	       MAX(CASE WHEN r.status <> 'error' THEN (r.score << 32) - s.id END),
	       COALESCE(MAX(CASE WHEN r.status <> 'error' THEN r.max_score END), 0), MAX(s.created_at)
	FROM submissions s LEFT JOIN results r ON r.id = s.result_id
	WHERE %s
	GROUP BY s.user_id, s.lab
	ON CONFLICT (user_id, lab) DO UPDATE SET submissions = excluded.submissions, attempts = excluded.attempts,
		best_key = excluded.best_key, max_score = excluded.max_score, last_at = excluded.last_at`

// refreshProgress recomputes the lab_progress row of one learner and lab
// inside tx (about as many rows as they have submissions for the lab).
func refreshProgress(ctx context.Context, tx *dbTx, userID int64, lab string) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(progressSQL, "s.user_id = ? AND s.lab = ?"), userID, lab); err != nil {
		return fmt.Errorf("refresh progress of user %d lab %q: %w", userID, lab, err)
	}
	return nil
}

// unpackBest splits (score << 32) - id into score and id.
func unpackBest(v int64) (score int, id int64) {
	s := (v + (1<<32 - 1)) >> 32
	return int(s), s<<32 - v
}

// LabStats returns the cohort-wide statistics of one lab over its learners'
// submissions (see faultline.LabStats). A learner's "latest result" is the
// shown result of their newest graded submission; a test "fails" unless it
// passed. Fault kinds come from the test_results.faults column, filled when
// a result is stored from the labkit report's "Faults injected" list.
// ENOTFOUND for an unknown cohort.
func (db *DB) LabStats(ctx context.Context, cohortID int64, lab string) (*faultline.LabStats, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT s.user_id, s.created_at, COALESCE(r.id, 0), COALESCE(r.status, ''), COALESCE(r.score, 0),
		       COALESCE(r.max_score, 0), (SELECT sb.created_at FROM sandboxes sb WHERE sb.user_id = s.user_id AND sb.lab = s.lab)
		FROM memberships m
		JOIN submissions s ON s.user_id = m.user_id AND s.lab = ?
		LEFT JOIN results r ON r.id = s.result_id
		WHERE m.cohort_id = ? AND m.role = 'learner'
		ORDER BY s.user_id, s.id`, lab, cohortID)
	if err != nil {
		return nil, fmt.Errorf("lab stats of cohort %d lab %q: %w", cohortID, lab, err)
	}
	defer rows.Close()
	type learner struct {
		best, n      int
		graded       bool
		first        time.Time
		solvedAt     time.Time
		solvedN      int
		latestResult int64
	}
	st := &faultline.LabStats{Lab: lab}
	var order []int64
	ls := map[int64]*learner{}
	for rows.Next() {
		var uid, rid int64
		var at, sandboxAt time.Time
		var status string
		var score, max int
		if err := rows.Scan(&uid, timeText{&at}, &rid, &status, &score, &max, timeText{&sandboxAt}); err != nil {
			return nil, fmt.Errorf("lab stats of cohort %d lab %q: %w", cohortID, lab, err)
		}
		l := ls[uid]
		if l == nil {
			l = &learner{first: at}
			if !sandboxAt.IsZero() && sandboxAt.Before(at) {
				l.first = sandboxAt
			}
			ls[uid] = l
			order = append(order, uid)
		}
		l.n++
		if rid == 0 || status == string(faultline.StatusError) {
			continue
		}
		if !l.graded || score > l.best {
			l.best = score
		}
		l.graded = true
		l.latestResult = rid
		if max > st.MaxScore {
			st.MaxScore = max
		}
		if max > 0 && score >= max && l.solvedAt.IsZero() {
			l.solvedAt, l.solvedN = at, l.n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lab stats of cohort %d lab %q: %w", cohortID, lab, err)
	}
	rows.Close()

	buckets := map[int]int{}
	var latest []any
	for _, uid := range order {
		l := ls[uid]
		if !l.graded {
			continue
		}
		st.Learners++
		buckets[l.best]++
		latest = append(latest, l.latestResult)
		if !l.solvedAt.IsZero() {
			st.AttemptsToFull = append(st.AttemptsToFull, l.solvedN)
			st.TimeToSolve = append(st.TimeToSolve, l.solvedAt.Sub(l.first))
		}
	}
	for score, n := range buckets {
		st.Scores = append(st.Scores, faultline.ScoreBucket{Score: score, Learners: n})
	}
	slices.SortFunc(st.Scores, func(a, b faultline.ScoreBucket) int { return a.Score - b.Score })
	slices.Sort(st.AttemptsToFull)
	slices.Sort(st.TimeToSolve)
	st.FailingTests = []faultline.TestFailRate{}
	st.FailingFault = []faultline.FaultFailRate{}
	if len(latest) == 0 {
		return st, nil
	}

	trows, err := tx.QueryContext(ctx, `SELECT t.result_id, t.name, t.hidden, t.status, t.faults FROM test_results t
		WHERE t.result_id IN (`+placeholders(len(latest))+`)`, latest...)
	if err != nil {
		return nil, fmt.Errorf("lab stats of cohort %d lab %q: tests: %w", cohortID, lab, err)
	}
	defer trows.Close()
	tests := map[string]*faultline.TestFailRate{}
	faults := map[string]map[int64]bool{} // kind -> results failing under it
	for trows.Next() {
		var rid int64
		var name, status, fk string
		var hidden bool
		if err := trows.Scan(&rid, &name, &hidden, &status, &fk); err != nil {
			return nil, fmt.Errorf("lab stats of cohort %d lab %q: tests: %w", cohortID, lab, err)
		}
		t := tests[name]
		if t == nil {
			t = &faultline.TestFailRate{Name: name, Hidden: hidden, Learners: st.Learners}
			tests[name] = t
		}
		if status == string(faultline.TestPass) {
			continue
		}
		t.Failing++
		for _, k := range strings.Split(fk, ",") {
			if k == "" {
				continue
			}
			if faults[k] == nil {
				faults[k] = map[int64]bool{}
			}
			faults[k][rid] = true
		}
	}
	if err := trows.Err(); err != nil {
		return nil, fmt.Errorf("lab stats of cohort %d lab %q: tests: %w", cohortID, lab, err)
	}
	for _, t := range tests {
		t.Percent = t.Failing * 100 / st.Learners
		st.FailingTests = append(st.FailingTests, *t)
	}
	slices.SortFunc(st.FailingTests, func(a, b faultline.TestFailRate) int {
		if a.Failing != b.Failing {
			return b.Failing - a.Failing
		}
		return strings.Compare(a.Name, b.Name)
	})
	for k, set := range faults {
		st.FailingFault = append(st.FailingFault, faultline.FaultFailRate{
			Fault: k, Failing: len(set), Learners: st.Learners, Percent: len(set) * 100 / st.Learners,
		})
	}
	slices.SortFunc(st.FailingFault, func(a, b faultline.FaultFailRate) int {
		if a.Failing != b.Failing {
			return b.Failing - a.Failing
		}
		return strings.Compare(a.Fault, b.Fault)
	})
	return st, nil
}

// QueueStats describes the grading queue now: queued submissions (and how
// many are regrades), running ones, distinct workers holding a live lease,
// and when the oldest queued learner submission was made (regrades keep
// their original creation time, so they are left out of it).
func (db *DB) QueueStats(ctx context.Context) (*faultline.QueueStats, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := &faultline.QueueStats{}
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM submissions WHERE state = 'queued'),
		(SELECT COUNT(*) FROM submissions WHERE state = 'queued' AND priority > 0),
		(SELECT COUNT(*) FROM submissions WHERE state = 'running'),
		(SELECT COUNT(DISTINCT lease_owner) FROM submissions WHERE state = 'running' AND lease_expires > ?),
		(SELECT MIN(created_at) FROM submissions WHERE state = 'queued' AND priority = 0)`, encodeTime(tx.now)).
		Scan(&q.Queued, &q.Regrades, &q.Running, &q.Workers, timeText{&q.OldestQueued}); err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	return q, nil
}

// cohortLearners restricts a user_id column to the learners of cohortID, or
// leaves it unrestricted when cohortID is 0.
func cohortLearners(col string, cohortID int64) (string, []any) {
	if cohortID == 0 {
		return "1 = 1", nil
	}
	return col + ` IN (SELECT user_id FROM memberships WHERE cohort_id = ? AND role = 'learner')`, []any{cohortID}
}

// QueueEntries returns the queued and running submissions of the cohort's
// learners (of everyone for cohortID 0): running ones first by when they
// started, then queued ones in the order ClaimSubmission takes them
// (fairOrder). An unknown cohort has none.
func (db *DB) QueueEntries(ctx context.Context, cohortID int64) ([]*faultline.QueueEntry, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := cohortLearners("q.user_id", cohortID)
	rows, err := tx.QueryContext(ctx, `SELECT q.id, q.user_id, u.name, q.lab, q.state, COALESCE(q.regrade_job_id, 0),
		q.created_at, CASE WHEN q.state = 'running' THEN q.started_at END, q.attempts
		FROM submissions q JOIN users u ON u.id = q.user_id
		WHERE q.state IN ('queued', 'running') AND `+where+`
		ORDER BY q.state = 'queued', CASE WHEN q.state = 'running' THEN q.started_at END, `+fairOrder, args...)
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

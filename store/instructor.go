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

var (
	_ faultline.InstructorService = (*DB)(nil)
	_ faultline.SubmissionRecords = (*DB)(nil)
	_ faultline.RegradeService    = (*DB)(nil)
	_ faultline.TokenService      = (*DB)(nil)
)

// ---- per cohort and lab settings ----

const labSettingsColumns = `cohort_id, lab, opens_at, due_at, late_mode, late_pct_per_day, late_cap_pct,
	max_submissions, per_minute, test_visibility, updated_at`

func scanLabSettings(sc interface{ Scan(...any) error }) (*faultline.LabSettings, error) {
	s := &faultline.LabSettings{}
	var mode, vis string
	if err := sc.Scan(&s.CohortID, &s.Lab, timeText{&s.OpensAt}, timeText{&s.DueAt}, &mode, &s.Late.PercentPerDay,
		&s.Late.CapPercent, &s.MaxSubmissions, &s.PerMinute, &vis, timeText{&s.UpdatedAt}); err != nil {
		return nil, err
	}
	s.Late.Mode = faultline.LateMode(mode)
	s.Visibility = faultline.TestVisibility(vis)
	return s, nil
}

// LabSettings returns the cohort's settings for the lab, or
// faultline.DefaultLabSettings (UpdatedAt zero) when none were set. ENOTFOUND
// for an unknown cohort.
func (db *DB) LabSettings(ctx context.Context, cohortID int64, lab string) (*faultline.LabSettings, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	s, err := scanLabSettings(tx.QueryRowContext(ctx, `SELECT `+labSettingsColumns+` FROM cohort_labs
		WHERE cohort_id = ? AND lab = ?`, cohortID, lab))
	if errors.Is(err, sql.ErrNoRows) {
		return faultline.DefaultLabSettings(cohortID, lab), nil
	} else if err != nil {
		return nil, fmt.Errorf("lab settings of cohort %d lab %q: %w", cohortID, lab, err)
	}
	return s, nil
}

// ListLabSettings returns the settings of every lab of the cohort that has
// been set, ordered by lab; labs never set are absent (use
// faultline.DefaultLabSettings). ENOTFOUND for an unknown cohort.
func (db *DB) ListLabSettings(ctx context.Context, cohortID int64) ([]*faultline.LabSettings, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+labSettingsColumns+` FROM cohort_labs WHERE cohort_id = ? ORDER BY lab`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("list lab settings of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.LabSettings{}
	for rows.Next() {
		s, err := scanLabSettings(rows)
		if err != nil {
			return nil, fmt.Errorf("list lab settings of cohort %d: %w", cohortID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list lab settings of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

// SetLabSettings validates s (EINVALID with what to fix, see
// LabSettings.Validate), fills empty modes with their defaults, stores it
// replacing earlier settings and sets s.UpdatedAt. ENOTFOUND for an unknown
// cohort.
func (db *DB) SetLabSettings(ctx context.Context, s *faultline.LabSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Late.Mode == "" {
		s.Late.Mode = faultline.LateAccept
	}
	if s.Visibility == "" {
		s.Visibility = faultline.TestsVisible
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO cohort_labs (`+labSettingsColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (cohort_id, lab) DO UPDATE SET opens_at = excluded.opens_at, due_at = excluded.due_at,
			late_mode = excluded.late_mode, late_pct_per_day = excluded.late_pct_per_day,
			late_cap_pct = excluded.late_cap_pct, max_submissions = excluded.max_submissions,
			per_minute = excluded.per_minute, test_visibility = excluded.test_visibility,
			updated_at = excluded.updated_at`,
		s.CohortID, s.Lab, encodeTime(s.OpensAt), encodeTime(s.DueAt), string(s.Late.Mode), s.Late.PercentPerDay,
		s.Late.CapPercent, s.MaxSubmissions, s.PerMinute, string(s.Visibility), encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	} else if err != nil {
		return fmt.Errorf("set lab settings of cohort %d lab %q: %w", s.CohortID, s.Lab, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set lab settings of cohort %d lab %q: commit: %w", s.CohortID, s.Lab, err)
	}
	s.UpdatedAt = tx.now
	return nil
}

// SubmissionCounts returns how many submissions the user has made for the
// lab in all, how many within the minute before now, and how many of theirs
// (any lab, regrades aside) wait in the queue, in one query. Feed it to LabSettings.Admit before CreateSubmission. Unknown users
// or labs count zero.
func (db *DB) SubmissionCounts(ctx context.Context, userID int64, lab string) (faultline.SubmissionCount, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return faultline.SubmissionCount{}, err
	}
	defer tx.Rollback()
	return submissionCounts(ctx, tx, userID, lab)
}

func submissionCounts(ctx context.Context, tx *dbTx, userID int64, lab string) (faultline.SubmissionCount, error) {
	var c faultline.SubmissionCount
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(created_at > ?), 0),
		(SELECT COUNT(*) FROM submissions WHERE user_id = ? AND state = 'queued' AND priority = 0)
		FROM submissions WHERE user_id = ? AND lab = ?`,
		encodeTime(tx.now.Add(-time.Minute)), userID, userID, lab).Scan(&c.Total, &c.LastMinute, &c.Waiting); err != nil {
		return c, fmt.Errorf("submission counts of user %d lab %q: %w", userID, lab, err)
	}
	return c, nil
}

// ResultHistory returns every result the submission has had, newest first,
// with Current marking the one its Result shows; an empty slice while it was
// never graded. ENOTFOUND if there is no such submission.
func (db *DB) ResultHistory(ctx context.Context, submissionID int64) ([]*faultline.ResultRecord, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var lab string
	err = tx.QueryRowContext(ctx, `SELECT lab FROM submissions WHERE id = ?`, submissionID).Scan(&lab)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Submission not found.")
	} else if err != nil {
		return nil, fmt.Errorf("result history of submission %d: %w", submissionID, err)
	}
	recs, err := loadResults(ctx, tx, "r.submission_id = ?", submissionID)
	if err != nil {
		return nil, fmt.Errorf("result history of submission %d: %w", submissionID, err)
	}
	out := []*faultline.ResultRecord{}
	for _, rec := range recs {
		rec.Result.Lab = lab
		out = append(out, rec)
	}
	return out, nil
}

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

// Gradebook returns one row per learner of the cohort, ordered by name then
// id, with the best graded score on each lab they have a graded submission
// for, and the total of those. Late penalties are not applied here. ENOTFOUND
// for an unknown cohort.
func (db *DB) Gradebook(ctx context.Context, cohortID int64) ([]*faultline.GradebookRow, error) {
	matrix, err := db.ProgressMatrix(ctx, cohortID)
	if err != nil {
		return nil, err
	}
	out := make([]*faultline.GradebookRow, 0, len(matrix))
	for _, m := range matrix {
		g := &faultline.GradebookRow{UserID: m.UserID, Name: m.Name, Email: m.Email, Best: map[string]int{}}
		for lab, c := range m.Cells {
			if c.Attempts > 0 {
				g.Best[lab] = c.BestScore
				g.Total += c.BestScore
			}
		}
		out = append(out, g)
	}
	return out, nil
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

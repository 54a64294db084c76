package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline"
)

var _ faultline.FeedbackService = (*DB)(nil)

// ---- Comments on submissions ----

// AddComment inserts c and fills ID and CreatedAt. ENOTFOUND for an unknown
// submission, or a parent comment of another submission.
func (db *DB) AddComment(ctx context.Context, c *faultline.SubmissionComment) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if c.ParentID != 0 {
		var sid int64
		err := tx.QueryRowContext(ctx, `SELECT submission_id FROM submission_comments WHERE id = ?`, c.ParentID).Scan(&sid)
		if errors.Is(err, sql.ErrNoRows) || err == nil && sid != c.SubmissionID {
			return faultline.Errorf(faultline.ENOTFOUND, "There is no such comment.")
		} else if err != nil {
			return fmt.Errorf("add comment: parent %d: %w", c.ParentID, err)
		}
	}
	c.CreatedAt = tx.now
	err = tx.QueryRowContext(ctx, `INSERT INTO submission_comments (submission_id, parent_id, author_id, path, line, body, html, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, c.SubmissionID, nullID(c.ParentID), nullID(c.AuthorID), c.Path, c.Line,
		c.Body, c.HTML, encodeTime(tx.now)).Scan(&c.ID)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such submission.")
	} else if err != nil {
		return fmt.Errorf("add comment to submission %d: %w", c.SubmissionID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add comment to submission %d: commit: %w", c.SubmissionID, err)
	}
	return nil
}

const commentColumns = `id, submission_id, COALESCE(parent_id, 0), COALESCE(author_id, 0), path, line, body, html, deleted, created_at`

func scanComment(sc interface{ Scan(...any) error }, c *faultline.SubmissionComment) error {
	return sc.Scan(&c.ID, &c.SubmissionID, &c.ParentID, &c.AuthorID, &c.Path, &c.Line, &c.Body, &c.HTML, &c.Deleted, timeText{&c.CreatedAt})
}

// ListComments returns a submission's comments, oldest first.
func (db *DB) ListComments(ctx context.Context, submissionID int64) ([]*faultline.SubmissionComment, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+commentColumns+` FROM submission_comments WHERE submission_id = ? ORDER BY id`, submissionID)
	if err != nil {
		return nil, fmt.Errorf("comments of submission %d: %w", submissionID, err)
	}
	defer rows.Close()
	out := []*faultline.SubmissionComment{}
	for rows.Next() {
		c := &faultline.SubmissionComment{}
		if err := scanComment(rows, c); err != nil {
			return nil, fmt.Errorf("comments of submission %d: %w", submissionID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("comments of submission %d: %w", submissionID, err)
	}
	return out, nil
}

// FindComment returns ENOTFOUND for an unknown comment.
func (db *DB) FindComment(ctx context.Context, id int64) (*faultline.SubmissionComment, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c := &faultline.SubmissionComment{}
	err = scanComment(tx.QueryRowContext(ctx, `SELECT `+commentColumns+` FROM submission_comments WHERE id = ?`, id), c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such comment.")
	} else if err != nil {
		return nil, fmt.Errorf("find comment %d: %w", id, err)
	}
	return c, nil
}

// DeleteComment marks a comment deleted; its text is kept. ENOTFOUND for
// an unknown comment.
func (db *DB) DeleteComment(ctx context.Context, id int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE submission_comments SET deleted = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete comment %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete comment %d: %w", id, err)
	} else if n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such comment.")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete comment %d: commit: %w", id, err)
	}
	return nil
}

// ---- Score adjustments ----

// AddAdjustment inserts a and fills ID and CreatedAt. EINVALID for 0 points,
// an empty lab or reason; ENOTFOUND for an unknown user.
func (db *DB) AddAdjustment(ctx context.Context, a *faultline.Adjustment) error {
	a.Reason = strings.TrimSpace(a.Reason)
	switch {
	case a.Points == 0:
		return faultline.Errorf(faultline.EINVALID, "An adjustment adds or takes away at least one point.")
	case a.Reason == "":
		return faultline.Errorf(faultline.EINVALID, "Give the reason for the adjustment; the learner reads it.")
	case a.Lab == "":
		return faultline.Errorf(faultline.EINVALID, "Lab is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	a.CreatedAt = tx.now
	err = tx.QueryRowContext(ctx, `INSERT INTO score_adjustments (user_id, lab, points, reason, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, a.UserID, a.Lab, a.Points, a.Reason, nullID(a.CreatedBy), encodeTime(tx.now)).Scan(&a.ID)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("adjust score of user %d on %q: %w", a.UserID, a.Lab, err)
	}
	if err := tx.scoreChanged(ctx, a.UserID, a.Lab, "adjustment"); err != nil {
		return fmt.Errorf("adjust score of user %d on %q: %w", a.UserID, a.Lab, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("adjust score of user %d on %q: commit: %w", a.UserID, a.Lab, err)
	}
	return nil
}

// userArgs turns IDs into query arguments.
func userArgs(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// Adjustments returns the adjustments of userIDs on lab (every lab when lab
// is ""), oldest first.
func (db *DB) Adjustments(ctx context.Context, userIDs []int64, lab string) ([]faultline.Adjustment, error) {
	out := []faultline.Adjustment{}
	if len(userIDs) == 0 {
		return out, nil
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for start := 0; start < len(userIDs); start += 500 {
		batch := userIDs[start:min(start+500, len(userIDs))]
		q := `SELECT id, user_id, lab, points, reason, COALESCE(created_by, 0), created_at FROM score_adjustments
			WHERE user_id IN (` + placeholders(len(batch)) + `)`
		args := userArgs(batch)
		if lab != "" {
			q += ` AND lab = ?`
			args = append(args, lab)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY id`, args...)
		if err != nil {
			return nil, fmt.Errorf("adjustments on %q: %w", lab, err)
		}
		for rows.Next() {
			var a faultline.Adjustment
			if err := rows.Scan(&a.ID, &a.UserID, &a.Lab, &a.Points, &a.Reason, &a.CreatedBy, timeText{&a.CreatedAt}); err != nil {
				rows.Close()
				return nil, fmt.Errorf("adjustments on %q: %w", lab, err)
			}
			out = append(out, a)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("adjustments on %q: %w", lab, err)
		}
	}
	return out, nil
}

// ---- Extensions ----

// SetExtension validates e and stores it, replacing the learner's extension
// of the lab (CreatedAt filled). EINVALID says what to fix; ENOTFOUND for
// an unknown user.
func (db *DB) SetExtension(ctx context.Context, e *faultline.Extension) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if e.Lab == "" {
		return faultline.Errorf(faultline.EINVALID, "Lab is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	e.CreatedAt = tx.now
	var mode any
	pct, cap := 0, 0
	if e.Late != nil {
		mode, pct, cap = string(e.Late.Mode), e.Late.PercentPerDay, e.Late.CapPercent
		if e.Late.Mode == "" {
			mode = string(faultline.LateAccept)
		}
	}
	var limit any
	if e.MaxSubmissions != nil {
		limit = *e.MaxSubmissions
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO extensions (user_id, lab, due_at, late_mode, late_pct_per_day, late_cap_pct,
			max_submissions, reason, granted_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, lab) DO UPDATE SET due_at = excluded.due_at, late_mode = excluded.late_mode,
			late_pct_per_day = excluded.late_pct_per_day, late_cap_pct = excluded.late_cap_pct,
			max_submissions = excluded.max_submissions, reason = excluded.reason, granted_by = excluded.granted_by,
			created_at = excluded.created_at`,
		e.UserID, e.Lab, encodeTime(e.DueAt), mode, pct, cap, limit, e.Reason, nullID(e.GrantedBy), encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("extend %q for user %d: %w", e.Lab, e.UserID, err)
	}
	if err := tx.scoreChanged(ctx, e.UserID, e.Lab, "extension"); err != nil {
		return fmt.Errorf("extend %q for user %d: %w", e.Lab, e.UserID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("extend %q for user %d: commit: %w", e.Lab, e.UserID, err)
	}
	return nil
}

// RemoveExtension removes the learner's extension of the lab; ENOTFOUND
// when there is none.
func (db *DB) RemoveExtension(ctx context.Context, userID int64, lab string) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM extensions WHERE user_id = ? AND lab = ?`, userID, lab)
	if err != nil {
		return fmt.Errorf("remove extension of %q for user %d: %w", lab, userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("remove extension of %q for user %d: %w", lab, userID, err)
	} else if n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no extension to remove.")
	}
	if err := tx.scoreChanged(ctx, userID, lab, "extension"); err != nil {
		return fmt.Errorf("remove extension of %q for user %d: %w", lab, userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("remove extension of %q for user %d: commit: %w", lab, userID, err)
	}
	return nil
}

// Extensions returns the extensions of userIDs on lab, by user.
func (db *DB) Extensions(ctx context.Context, userIDs []int64, lab string) (map[int64]*faultline.Extension, error) {
	out := map[int64]*faultline.Extension{}
	if len(userIDs) == 0 {
		return out, nil
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for start := 0; start < len(userIDs); start += 500 {
		batch := userIDs[start:min(start+500, len(userIDs))]
		rows, err := tx.QueryContext(ctx, `SELECT user_id, lab, due_at, late_mode, late_pct_per_day, late_cap_pct, max_submissions,
				reason, COALESCE(granted_by, 0), created_at
			FROM extensions WHERE lab = ? AND user_id IN (`+placeholders(len(batch))+`)`, append([]any{lab}, userArgs(batch)...)...)
		if err != nil {
			return nil, fmt.Errorf("extensions of %q: %w", lab, err)
		}
		for rows.Next() {
			e := &faultline.Extension{}
			var mode sql.NullString
			var pct, cap int
			var limit sql.NullInt64
			if err := rows.Scan(&e.UserID, &e.Lab, timeText{&e.DueAt}, &mode, &pct, &cap, &limit, &e.Reason, &e.GrantedBy, timeText{&e.CreatedAt}); err != nil {
				rows.Close()
				return nil, fmt.Errorf("extensions of %q: %w", lab, err)
			}
			if mode.Valid {
				e.Late = &faultline.LatePolicy{Mode: faultline.LateMode(mode.String), PercentPerDay: pct, CapPercent: cap}
			}
			if limit.Valid {
				n := int(limit.Int64)
				e.MaxSubmissions = &n
			}
			out[e.UserID] = e
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("extensions of %q: %w", lab, err)
		}
	}
	return out, nil
}

// ---- Regrade requests ----

// CreateRegradeRequest inserts r as open (ID, state and time filled).
// ECONFLICT when the submission already has an open request about the
// test; ENOTFOUND for an unknown submission; EINVALID without a test or a
// reason.
func (db *DB) CreateRegradeRequest(ctx context.Context, r *faultline.RegradeRequest) error {
	r.Reason = strings.TrimSpace(r.Reason)
	if r.Test == "" || r.Reason == "" {
		return faultline.Errorf(faultline.EINVALID, "Say which test and why you think its result is wrong.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r.State, r.CreatedAt = faultline.RequestOpen, tx.now
	err = tx.QueryRowContext(ctx, `INSERT INTO regrade_requests (submission_id, user_id, lab, test, reason, state, created_at)
		VALUES (?, ?, ?, ?, ?, 'open', ?) RETURNING id`, r.SubmissionID, r.UserID, r.Lab, r.Test, r.Reason, encodeTime(tx.now)).Scan(&r.ID)
	switch {
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "You already asked about %s on this submission; staff will answer.", r.Test)
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such submission.")
	case err != nil:
		return fmt.Errorf("request regrade of submission %d: %w", r.SubmissionID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("request regrade of submission %d: commit: %w", r.SubmissionID, err)
	}
	return nil
}

const requestColumns = `q.id, q.submission_id, q.user_id, q.lab, q.test, q.reason, q.state, q.outcome, q.answer,
	COALESCE(q.answered_by, 0), q.answered_at, COALESCE(q.adjustment_id, 0), COALESCE(q.regrade_job_id, 0), q.created_at`

func scanRequest(sc interface{ Scan(...any) error }, r *faultline.RegradeRequest) error {
	var state, outcome string
	err := sc.Scan(&r.ID, &r.SubmissionID, &r.UserID, &r.Lab, &r.Test, &r.Reason, &state, &outcome, &r.Answer,
		&r.AnsweredBy, timeText{&r.AnsweredAt}, &r.AdjustmentID, &r.RegradeJobID, timeText{&r.CreatedAt})
	r.State, r.Outcome = faultline.RequestState(state), faultline.RequestOutcome(outcome)
	return err
}

// FindRegradeRequest returns ENOTFOUND for an unknown request.
func (db *DB) FindRegradeRequest(ctx context.Context, id int64) (*faultline.RegradeRequest, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r := &faultline.RegradeRequest{}
	err = scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM regrade_requests q WHERE q.id = ?`, id), r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such regrade request.")
	} else if err != nil {
		return nil, fmt.Errorf("find regrade request %d: %w", id, err)
	}
	return r, nil
}

// ListRegradeRequests returns the requests on a submission (submissionID >
// 0) or of the cohort's learners (cohortID > 0), newest first; open ones
// only when openOnly.
func (db *DB) ListRegradeRequests(ctx context.Context, submissionID, cohortID int64, openOnly bool) ([]*faultline.RegradeRequest, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := `SELECT ` + requestColumns + ` FROM regrade_requests q WHERE 1 = 1`
	var args []any
	if submissionID > 0 {
		q += ` AND q.submission_id = ?`
		args = append(args, submissionID)
	}
	if cohortID > 0 {
		q += ` AND q.user_id IN (SELECT user_id FROM memberships WHERE cohort_id = ? AND role = 'learner')`
		args = append(args, cohortID)
	}
	if openOnly {
		q += ` AND q.state = 'open'`
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY q.id DESC LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("list regrade requests: %w", err)
	}
	defer rows.Close()
	out := []*faultline.RegradeRequest{}
	for rows.Next() {
		r := &faultline.RegradeRequest{}
		if err := scanRequest(rows, r); err != nil {
			return nil, fmt.Errorf("list regrade requests: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list regrade requests: %w", err)
	}
	return out, nil
}

// AnswerRegradeRequest stores staff's answer of an open request (State,
// Outcome, Answer, AnsweredBy, AdjustmentID, RegradeJobID; AnsweredAt
// filled). ECONFLICT when it was answered already, EINVALID for an open
// state; ENOTFOUND for an unknown request.
func (db *DB) AnswerRegradeRequest(ctx context.Context, r *faultline.RegradeRequest) error {
	switch r.State {
	case faultline.RequestAccepted, faultline.RequestDeclined, faultline.RequestAnswered:
	default:
		return faultline.Errorf(faultline.EINVALID, "Accept, decline or answer the request.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var state string
	err = tx.QueryRowContext(ctx, `SELECT state FROM regrade_requests WHERE id = ?`, r.ID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such regrade request.")
	} else if err != nil {
		return fmt.Errorf("answer regrade request %d: %w", r.ID, err)
	}
	if state != string(faultline.RequestOpen) {
		return faultline.Errorf(faultline.ECONFLICT, "This request has been answered already.")
	}
	r.AnsweredAt = tx.now
	if _, err := tx.ExecContext(ctx, `UPDATE regrade_requests SET state = ?, outcome = ?, answer = ?, answered_by = ?, answered_at = ?,
		adjustment_id = ?, regrade_job_id = ? WHERE id = ?`, string(r.State), string(r.Outcome), r.Answer, nullID(r.AnsweredBy),
		encodeTime(tx.now), nullID(r.AdjustmentID), nullID(r.RegradeJobID), r.ID); err != nil {
		return fmt.Errorf("answer regrade request %d: %w", r.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("answer regrade request %d: commit: %w", r.ID, err)
	}
	return nil
}

// ---- Score changes ----

// scoreChanged records, inside the write that made it, that the score the
// learner holds for lab may have changed without a new grade.
func (tx *dbTx) scoreChanged(ctx context.Context, userID int64, lab, reason string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO score_changes (user_id, lab, reason, at) VALUES (?, ?, ?, ?)`,
		userID, lab, reason, encodeTime(tx.now)); err != nil {
		return fmt.Errorf("record score change: %w", err)
	}
	return nil
}

// ScoreChanges returns up to limit score changes with ids above afterID, in
// id order (limit outside 1…10000 means 1000).
func (db *DB) ScoreChanges(ctx context.Context, afterID int64, limit int) ([]faultline.ScoreChange, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, user_id, lab, reason, at FROM score_changes WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("score changes after %d: %w", afterID, err)
	}
	defer rows.Close()
	var out []faultline.ScoreChange
	for rows.Next() {
		var c faultline.ScoreChange
		if err := rows.Scan(&c.ID, &c.UserID, &c.Lab, &c.Reason, timeText{&c.At}); err != nil {
			return nil, fmt.Errorf("score changes after %d: %w", afterID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("score changes after %d: %w", afterID, err)
	}
	return out, nil
}

// LatestScoreChangeID is the newest score change's id (0 when none).
func (db *DB) LatestScoreChangeID(ctx context.Context) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var id sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM score_changes`).Scan(&id); err != nil {
		return 0, fmt.Errorf("latest score change id: %w", err)
	}
	return id.Int64, nil
}

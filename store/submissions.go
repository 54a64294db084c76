package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// CreateSubmission inserts s as queued together with its files and fills
// s.ID, State, Attempts and CreatedAt. It returns EINVALID for an empty lab,
// no files, a bad or repeated path; ETOOLARGE over MaxFileSize,
// MaxWorkspaceFiles or MaxWorkspaceSize; ENOTFOUND for an unknown user.
func (db *DB) CreateSubmission(ctx context.Context, s *faultline.Submission) error {
	return db.createSubmission(ctx, s, nil)
}

// CreateSubmissionIf is CreateSubmission behind a gate: admit is called with
// the learner's submission counts for the lab inside the same write
// transaction as the insert, so two simultaneous submissions cannot both
// pass a count or rate limit. An error from admit is returned as is and
// nothing is inserted.
func (db *DB) CreateSubmissionIf(ctx context.Context, s *faultline.Submission, admit func(faultline.SubmissionCount) error) error {
	return db.createSubmission(ctx, s, admit)
}

func (db *DB) createSubmission(ctx context.Context, s *faultline.Submission, admit func(faultline.SubmissionCount) error) error {
	if s.Lab == "" {
		return faultline.Errorf(faultline.EINVALID, "Lab is required.")
	}
	if err := checkSubmissionFiles(s.Files); err != nil {
		return err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if admit != nil {
		c, err := submissionCounts(ctx, tx, s.UserID, s.Lab)
		if err != nil {
			return err
		}
		if err := admit(c); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO submissions (user_id, lab, state, attempts, created_at)
		VALUES (?, ?, 'queued', 0, ?)`, s.UserID, s.Lab, encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("create submission of user %d lab %q: %w", s.UserID, s.Lab, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create submission of user %d lab %q: last id: %w", s.UserID, s.Lab, err)
	}
	if err := refreshProgress(ctx, tx, s.UserID, s.Lab); err != nil {
		return err
	}
	for _, f := range s.Files {
		content := f.Content
		if content == nil {
			content = []byte{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO submission_files (submission_id, path, content) VALUES (?, ?, ?)`,
			id, f.Path, content); err != nil {
			return fmt.Errorf("create submission %d: file %q: %w", id, f.Path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create submission of user %d lab %q: commit: %w", s.UserID, s.Lab, err)
	}
	s.ID = id
	s.State = faultline.SubmissionQueued
	s.Attempts = 0
	s.LeaseOwner = ""
	s.LeaseExpires = time.Time{}
	s.CreatedAt = tx.now
	s.StartedAt = time.Time{}
	s.FinishedAt = time.Time{}
	s.Result = nil
	return nil
}

// checkSubmissionFiles applies the tree caps to a submission's files (the
// starter overlaid by the learner's own, which are held to the workspace
// caps when saved).
func checkSubmissionFiles(files []faultline.File) error {
	if len(files) == 0 {
		return faultline.Errorf(faultline.EINVALID, "A submission needs at least one file.")
	}
	return faultline.CheckFiles(files, faultline.MaxTreeFiles, faultline.MaxTreeSize, "A submission")
}

// FindSubmission returns the submission with its files (sorted by path) and
// its result, if any; ENOTFOUND if there is none.
func (db *DB) FindSubmission(ctx context.Context, id int64) (*faultline.Submission, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findSubmission(ctx, tx, id)
}

// ListSubmissions returns the submissions matching f, newest first, with
// their results but without files. f.Limit 0 (or less) means 100; at most
// 1000 are returned.
func (db *DB) ListSubmissions(ctx context.Context, f faultline.SubmissionFilter) ([]*faultline.Submission, error) {
	var where []string
	var args []any
	if f.UserID != 0 {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Lab != "" {
		where, args = append(where, "lab = ?"), append(args, f.Lab)
	}
	if f.CohortID != 0 {
		where = append(where, "user_id IN (SELECT user_id FROM memberships WHERE cohort_id = ? AND role = 'learner')")
		args = append(args, f.CohortID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	q := `SELECT ` + submissionColumns + ` FROM submissions`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)

	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list submissions %+v: %w", f, err)
	}
	defer rows.Close()
	out := []*faultline.Submission{}
	for rows.Next() {
		s, err := scanSubmission(rows)
		if err != nil {
			return nil, fmt.Errorf("list submissions %+v: %w", f, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list submissions %+v: %w", f, err)
	}
	rows.Close()
	if err := attachResults(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// fairOrder orders queued submissions (of a table aliased q) as workers
// take them, fairly across learners: learners' own submissions before
// regrades (priority 0 first); among them, first those of learners with
// none being graded now, then the learner served least recently (whose last
// grading started earliest, or who was never served), then the oldest
// submission. So one learner with many waiting submissions delays another's
// by no more than the jobs already running, and learners take turns.
const fairOrder = `q.priority,
	(SELECT COUNT(*) FROM submissions r WHERE r.user_id = q.user_id AND r.state = 'running'),
	COALESCE((SELECT MAX(p.started_at) FROM submissions p WHERE p.user_id = q.user_id AND p.started_at IS NOT NULL), ''),
	q.created_at, q.id`

// fairNextSQL selects the queued submission a worker takes next.
const fairNextSQL = `SELECT q.id FROM submissions q WHERE q.state = 'queued' ORDER BY ` + fairOrder + ` LIMIT 1`

// ClaimSubmission takes the next queued submission, chosen fairly across
// learners (fairNextSQL), for worker: it marks it running, leases it until
// now+lease, increments Attempts and sets StartedAt, atomically. The
// returned submission includes its files. It returns ENOTFOUND if nothing
// is queued and EINVALID for an empty worker name or a lease that is not
// positive.
func (db *DB) ClaimSubmission(ctx context.Context, worker string, lease time.Duration) (*faultline.Submission, error) {
	if worker == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "Worker name is required.")
	}
	if lease <= 0 {
		return nil, faultline.Errorf(faultline.EINVALID, "Lease must be positive.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `
		UPDATE submissions
		SET state = 'running', lease_owner = ?, lease_expires = ?, attempts = attempts + 1, started_at = ?
		WHERE id = (`+fairNextSQL+`)
		RETURNING id`, worker, encodeTime(tx.now.Add(lease)), encodeTime(tx.now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "No submission is queued.")
	} else if err != nil {
		return nil, fmt.Errorf("claim submission for %q: %w", worker, err)
	}
	s, err := findSubmission(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim submission %d for %q: commit: %w", id, worker, err)
	}
	return s, nil
}

// ExtendLease pushes the lease of a running submission the worker holds to
// now+lease. It returns ECONFLICT if the worker no longer holds a live lease
// on it (expired, requeued, finished or taken by another worker), ENOTFOUND if
// there is no such submission, EINVALID for a lease that is not positive.
func (db *DB) ExtendLease(ctx context.Context, id int64, worker string, lease time.Duration) error {
	if lease <= 0 {
		return faultline.Errorf(faultline.EINVALID, "Lease must be positive.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, id, worker, true); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE submissions SET lease_expires = ? WHERE id = ?`,
		encodeTime(tx.now.Add(lease)), id); err != nil {
		return fmt.Errorf("extend lease of submission %d for %q: %w", id, worker, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("extend lease of submission %d for %q: commit: %w", id, worker, err)
	}
	return nil
}

// CompleteSubmission stores r as a new result of the submission with its
// per-test rows and marks it done, or failed when r.Status is StatusError;
// FinishedAt is set and the lease cleared (LeaseOwner is kept as a record of
// who graded it). Older results are kept as history (see ResultHistory). For
// a regrade, the new result becomes the one shown unless it is StatusError:
// then the previous result stays shown and the submission keeps its state;
// either way the regrade job counts it done. It returns ECONFLICT unless
// worker holds a live lease on the running submission; ENOTFOUND if there
// is no such submission; EINVALID for a nil result, an unknown status or
// test status, or a result for another lab.
func (db *DB) CompleteSubmission(ctx context.Context, id int64, worker string, r *faultline.Result) error {
	if err := checkResult(r); err != nil {
		return err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, id, worker, true); err != nil {
		return err
	}
	var lab string
	var userID int64
	var jobID sql.NullInt64
	var prev sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT user_id, lab, regrade_job_id, result_id FROM submissions WHERE id = ?`, id).
		Scan(&userID, &lab, &jobID, &prev); err != nil {
		return fmt.Errorf("complete submission %d for %q: %w", id, worker, err)
	}
	if r.Lab != "" && r.Lab != lab {
		return faultline.Errorf(faultline.EINVALID, "Result is for lab %q, submission for %q.", r.Lab, lab)
	}
	rid, err := insertResult(ctx, tx, id, jobID.Int64, r)
	if err != nil {
		return err
	}
	failed := r.Status == faultline.StatusError
	state, shown := faultline.SubmissionDone, rid
	switch {
	case failed && jobID.Valid && prev.Valid:
		// A regrade that could not run keeps the result the learner had.
		if err := tx.QueryRowContext(ctx, `SELECT CASE status WHEN 'error' THEN 'failed' ELSE 'done' END
			FROM results WHERE id = ?`, prev.Int64).Scan(&state); err != nil {
			return fmt.Errorf("complete submission %d for %q: previous result: %w", id, worker, err)
		}
		shown = prev.Int64
	case failed:
		state = faultline.SubmissionFailed
	}
	if _, err := tx.ExecContext(ctx, `UPDATE submissions SET state = ?, lease_expires = NULL, finished_at = ?,
		result_id = ?, regrade_job_id = NULL, priority = 0 WHERE id = ?`,
		string(state), encodeTime(tx.now), shown, id); err != nil {
		return fmt.Errorf("complete submission %d for %q: %w", id, worker, err)
	}
	if err := refreshProgress(ctx, tx, userID, lab); err != nil {
		return err
	}
	if jobID.Valid {
		if err := advanceRegrade(ctx, tx, jobID.Int64, failed); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("complete submission %d for %q: commit: %w", id, worker, err)
	}
	return nil
}

// ReleaseSubmission puts a running submission the worker holds back in the
// queue (on shutdown or infrastructure failure); Attempts is kept. It returns
// ECONFLICT if the submission is not running under worker's name (an expired
// lease not yet requeued still counts as held), ENOTFOUND if there is none.
func (db *DB) ReleaseSubmission(ctx context.Context, id int64, worker string) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := checkLease(ctx, tx, id, worker, false); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE submissions SET state = 'queued', lease_owner = '', lease_expires = NULL
		WHERE id = ?`, id); err != nil {
		return fmt.Errorf("release submission %d from %q: %w", id, worker, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("release submission %d from %q: commit: %w", id, worker, err)
	}
	return nil
}

// RequeueExpired puts running submissions whose lease has expired back in the
// queue and returns how many. Their former workers can no longer complete,
// extend or release them.
func (db *DB) RequeueExpired(ctx context.Context) (int, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE submissions SET state = 'queued', lease_owner = '', lease_expires = NULL
		WHERE state = 'running' AND lease_expires <= ?`, encodeTime(tx.now))
	if err != nil {
		return 0, fmt.Errorf("requeue expired submissions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("requeue expired submissions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("requeue expired submissions: commit: %w", err)
	}
	return int(n), nil
}

// ---- helpers ----

const submissionColumns = `id, user_id, lab, state, attempts, lease_owner, lease_expires, created_at, started_at, finished_at`

func scanSubmission(sc interface{ Scan(...any) error }) (*faultline.Submission, error) {
	s := &faultline.Submission{}
	var state string
	if err := sc.Scan(&s.ID, &s.UserID, &s.Lab, &state, &s.Attempts, &s.LeaseOwner,
		timeText{&s.LeaseExpires}, timeText{&s.CreatedAt}, timeText{&s.StartedAt}, timeText{&s.FinishedAt}); err != nil {
		return nil, err
	}
	s.State = faultline.SubmissionState(state)
	return s, nil
}

// findSubmission loads one submission with files and result.
func findSubmission(ctx context.Context, tx *dbTx, id int64) (*faultline.Submission, error) {
	s, err := scanSubmission(tx.QueryRowContext(ctx, `SELECT `+submissionColumns+` FROM submissions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Submission not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find submission %d: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT path, content FROM submission_files WHERE submission_id = ? ORDER BY path`, id)
	if err != nil {
		return nil, fmt.Errorf("find submission %d: files: %w", id, err)
	}
	defer rows.Close()
	s.Files = []faultline.File{}
	for rows.Next() {
		var f faultline.File
		if err := rows.Scan(&f.Path, &f.Content); err != nil {
			return nil, fmt.Errorf("find submission %d: files: %w", id, err)
		}
		if f.Content == nil {
			f.Content = []byte{}
		}
		s.Files = append(s.Files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find submission %d: files: %w", id, err)
	}
	rows.Close()
	if err := attachResults(ctx, tx, []*faultline.Submission{s}); err != nil {
		return nil, err
	}
	return s, nil
}

// checkLease returns nil if submission id is running under worker's name and,
// when live is set, its lease has not expired at tx.now. Otherwise ECONFLICT,
// or ENOTFOUND if the submission does not exist.
func checkLease(ctx context.Context, tx *dbTx, id int64, worker string, live bool) error {
	var state, owner string
	var expires time.Time
	err := tx.QueryRowContext(ctx, `SELECT state, lease_owner, lease_expires FROM submissions WHERE id = ?`, id).
		Scan(&state, &owner, timeText{&expires})
	if errors.Is(err, sql.ErrNoRows) {
		return faultline.Errorf(faultline.ENOTFOUND, "Submission not found.")
	} else if err != nil {
		return fmt.Errorf("check lease of submission %d for %q: %w", id, worker, err)
	}
	switch {
	case worker == "" || state != string(faultline.SubmissionRunning) || owner != worker:
		return faultline.Errorf(faultline.ECONFLICT, "Submission %d is not held by worker %q.", id, worker)
	case live && !expires.After(tx.now):
		return faultline.Errorf(faultline.ECONFLICT, "The lease of worker %q on submission %d has expired.", worker, id)
	}
	return nil
}

var resultStatuses = map[faultline.ResultStatus]bool{
	faultline.StatusGraded: true, faultline.StatusBuildFailed: true, faultline.StatusTimeLimit: true,
	faultline.StatusMemoryLimit: true, faultline.StatusOutputLimit: true, faultline.StatusProcessLimit: true,
	faultline.StatusDiskLimit: true, faultline.StatusError: true,
}

var testStatuses = map[faultline.TestStatus]bool{
	faultline.TestPass: true, faultline.TestFail: true, faultline.TestSkip: true, faultline.TestNone: true,
}

func checkResult(r *faultline.Result) error {
	if r == nil {
		return faultline.Errorf(faultline.EINVALID, "Result is required.")
	}
	if !resultStatuses[r.Status] {
		return faultline.Errorf(faultline.EINVALID, "Unknown result status %q.", r.Status)
	}
	for _, t := range r.Tests {
		if !testStatuses[t.Status] {
			return faultline.Errorf(faultline.EINVALID, "Unknown status %q of test %q.", t.Status, t.Name)
		}
	}
	return nil
}

// insertResult stores r and its tests as a new result of submission id
// (jobID 0 unless a regrade) and returns the result's id. Each test's failure
// report is scanned for fault kinds (faultline.FaultKinds).
func insertResult(ctx context.Context, tx *dbTx, id, jobID int64, r *faultline.Result) (int64, error) {
	flags := r.Flags
	if flags == nil {
		flags = []string{}
	}
	fj, err := json.Marshal(flags)
	if err != nil {
		return 0, fmt.Errorf("store result of submission %d: flags: %w", id, err)
	}
	var job any
	if jobID != 0 {
		job = jobID
	}
	var rid int64
	err = tx.QueryRowContext(ctx, `INSERT INTO results
		(submission_id, regrade_job_id, status, score, max_score, message, output, flags, duration_ns, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		id, job, string(r.Status), r.Score, r.MaxScore, r.Message, r.Output, string(fj), int64(r.Duration), encodeTime(tx.now)).Scan(&rid)
	if err != nil {
		return 0, fmt.Errorf("store result of submission %d: %w", id, err)
	}
	for i, t := range r.Tests {
		faults := ""
		if t.Status != faultline.TestPass {
			faults = strings.Join(faultline.FaultKinds(t.Output+"\n"+t.Message), ",")
		}
		atts := t.Attachments
		if atts == nil {
			atts = []faultline.Attachment{}
		}
		aj, err := json.Marshal(atts)
		if err != nil {
			return 0, fmt.Errorf("store result of submission %d: test %q: attachments: %w", id, t.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO test_results
			(result_id, seq, name, hidden, status, score, max_score, message, output, faults, attachments, failed_run, seed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			rid, i, t.Name, t.Hidden, string(t.Status), t.Score, t.MaxScore, t.Message, t.Output, faults, string(aj),
			t.FailedRun, t.Seed); err != nil {
			return 0, fmt.Errorf("store result of submission %d: test %q: %w", id, t.Name, err)
		}
	}
	return rid, nil
}

// attachResults loads the shown results (with tests, in reported order) of
// subs and sets each submission's Result; submissions without one keep nil.
func attachResults(ctx context.Context, tx *dbTx, subs []*faultline.Submission) error {
	if len(subs) == 0 {
		return nil
	}
	byID := make(map[int64]*faultline.Submission, len(subs))
	args := make([]any, 0, len(subs))
	for _, s := range subs {
		byID[s.ID] = s
		args = append(args, s.ID)
	}
	recs, err := loadResults(ctx, tx, `r.id IN (SELECT result_id FROM submissions WHERE id IN (`+placeholders(len(args))+`))`, args...)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if s := byID[rec.SubmissionID]; s != nil {
			rec.Result.Lab = s.Lab
			s.Result = rec.Result
		}
	}
	return nil
}

// loadResults returns the results matching where (a trusted SQL fragment on
// results r), newest first, each with its tests in reported order.
func loadResults(ctx context.Context, tx *dbTx, where string, args ...any) ([]*faultline.ResultRecord, error) {
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.submission_id, COALESCE(r.regrade_job_id, 0), r.created_at,
		r.status, r.score, r.max_score, r.message, r.output, r.flags, r.duration_ns,
		COALESCE(r.id = (SELECT result_id FROM submissions WHERE id = r.submission_id), 0)
		FROM results r WHERE `+where+` ORDER BY r.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("load results: %w", err)
	}
	defer rows.Close()
	var out []*faultline.ResultRecord
	byID := map[int64]*faultline.ResultRecord{}
	for rows.Next() {
		var dur int64
		var status, flags string
		rec := &faultline.ResultRecord{Result: &faultline.Result{}}
		r := rec.Result
		if err := rows.Scan(&rec.ID, &rec.SubmissionID, &rec.RegradeJobID, timeText{&rec.CreatedAt},
			&status, &r.Score, &r.MaxScore, &r.Message, &r.Output, &flags, &dur, &rec.Current); err != nil {
			return nil, fmt.Errorf("load results: %w", err)
		}
		r.Status = faultline.ResultStatus(status)
		r.Duration = time.Duration(dur)
		if err := json.Unmarshal([]byte(flags), &r.Flags); err != nil {
			return nil, fmt.Errorf("load result %d: flags: %w", rec.ID, err)
		}
		if len(r.Flags) == 0 {
			r.Flags = nil
		}
		out = append(out, rec)
		byID[rec.ID] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load results: %w", err)
	}
	rows.Close()
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, rec := range out {
		ids = append(ids, rec.ID)
	}
	trows, err := tx.QueryContext(ctx, `SELECT result_id, name, hidden, status, score, max_score, message, output, attachments,
		failed_run, seed
		FROM test_results WHERE result_id IN (`+placeholders(len(ids))+`) ORDER BY result_id, seq`, ids...)
	if err != nil {
		return nil, fmt.Errorf("load test results: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var id int64
		var status string
		var t faultline.TestResult
		var atts string
		if err := trows.Scan(&id, &t.Name, &t.Hidden, &status, &t.Score, &t.MaxScore, &t.Message, &t.Output, &atts, &t.FailedRun, &t.Seed); err != nil {
			return nil, fmt.Errorf("load test results: %w", err)
		}
		t.Status = faultline.TestStatus(status)
		if err := json.Unmarshal([]byte(atts), &t.Attachments); err != nil {
			return nil, fmt.Errorf("load test results of result %d: attachments: %w", id, err)
		}
		if len(t.Attachments) == 0 {
			t.Attachments = nil
		}
		if rec := byID[id]; rec != nil {
			rec.Result.Tests = append(rec.Result.Tests, t)
		}
	}
	if err := trows.Err(); err != nil {
		return nil, fmt.Errorf("load test results: %w", err)
	}
	return out, nil
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

package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

// This file answers the operator's questions: readiness, and what the
// metrics read at each scrape.

// Ready returns nil when the database answers on both connection pools and
// every migration this build embeds is applied; otherwise EUNAVAILABLE
// saying which.
func (db *DB) Ready(ctx context.Context) error {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	want := 0
	if len(ms) > 0 {
		want = ms[len(ms)-1].Version
	}
	for _, p := range []*sql.DB{db.write, db.read} {
		var got sql.NullInt64
		var n int
		if err := p.QueryRowContext(ctx, `SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&got, &n); err != nil {
			return faultline.Errorf(faultline.EUNAVAILABLE, "The database does not answer: %v", err)
		}
		if int(got.Int64) != want || n != len(ms) {
			return faultline.Errorf(faultline.EUNAVAILABLE, "The database has %d of %d migrations applied (newest %d, want %d).", n, len(ms), got.Int64, want)
		}
	}
	return nil
}

// CountSandboxes counts sandbox rows by state.
func (db *DB) CountSandboxes(ctx context.Context) (map[faultline.SandboxState]int, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT state, COUNT(*) FROM sandboxes GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count sandboxes: %w", err)
	}
	defer rows.Close()
	out := map[faultline.SandboxState]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count sandboxes: %w", err)
		}
		out[faultline.SandboxState(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count sandboxes: %w", err)
	}
	return out, nil
}

// LatestResultID returns the newest result's id, 0 when there is none.
func (db *DB) LatestResultID(ctx context.Context) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var id sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM results`).Scan(&id); err != nil {
		return 0, fmt.Errorf("latest result id: %w", err)
	}
	return id.Int64, nil
}

// GradeTimings returns up to limit results with ids above afterID, in id
// order, with the lab, verdict, run time and (for learners' own
// submissions) how long the submission waited before grading started.
func (db *DB) GradeTimings(ctx context.Context, afterID int64, limit int) ([]faultline.GradeTiming, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
		SELECT r.id, s.lab, r.status, r.duration_ns, r.regrade_job_id IS NOT NULL, s.created_at, s.started_at
		FROM results r JOIN submissions s ON s.id = r.submission_id
		WHERE r.id > ? ORDER BY r.id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("grade timings after %d: %w", afterID, err)
	}
	defer rows.Close()
	var out []faultline.GradeTiming
	for rows.Next() {
		var g faultline.GradeTiming
		var status string
		var ns int64
		var created, started time.Time
		if err := rows.Scan(&g.ResultID, &g.Lab, &status, &ns, &g.Regrade, timeText{&created}, timeText{&started}); err != nil {
			return nil, fmt.Errorf("grade timings: %w", err)
		}
		g.Status, g.Duration = faultline.ResultStatus(status), time.Duration(ns)
		if !g.Regrade && !started.IsZero() && started.After(created) {
			g.Wait = started.Sub(created)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("grade timings: %w", err)
	}
	return out, nil
}

// InUse reports whether another process (a running portal) has the
// database at path open. See databaseInUse.
func InUse(path string) (bool, error) { return databaseInUse(path) }

// StopAllSandboxes records every starting or running sandbox as stopped
// with no container (for `faultline down`, after the engine removed them)
// and returns how many rows changed. Saved files are not touched.
func (db *DB) StopAllSandboxes(ctx context.Context) (int, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE sandboxes SET state = 'stopped', container_id = '', error = '', updated_at = ?
		WHERE state IN ('starting', 'running') OR container_id <> ''`, encodeTime(tx.now))
	if err != nil {
		return 0, fmt.Errorf("stop all sandboxes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("stop all sandboxes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("stop all sandboxes: commit: %w", err)
	}
	return int(n), nil
}

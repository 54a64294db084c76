package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

func validSandboxState(s faultline.SandboxState) bool {
	switch s {
	case faultline.SandboxStarting, faultline.SandboxRunning, faultline.SandboxStopped, faultline.SandboxFailed:
		return true
	}
	return false
}

// UpsertSandbox inserts or updates the row for (sb.UserID, sb.Lab) and fills
// sb.ID, CreatedAt, UpdatedAt and LastActiveAt. A zero sb.LastActiveAt means
// now on insert and "unchanged" on update. It returns EINVALID for an empty lab
// or unknown state and ENOTFOUND for an unknown user.
func (db *DB) UpsertSandbox(ctx context.Context, sb *faultline.Sandbox) error {
	if sb.Lab == "" {
		return faultline.Errorf(faultline.EINVALID, "Lab is required.")
	}
	if !validSandboxState(sb.State) {
		return faultline.Errorf(faultline.EINVALID, "Unknown sandbox state %q.", sb.State)
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	cur, err := findSandbox(ctx, tx, `user_id = ? AND lab = ?`, sb.UserID, sb.Lab)
	switch {
	case err == nil:
		active := cur.LastActiveAt
		if !sb.LastActiveAt.IsZero() {
			active = sb.LastActiveAt.UTC()
		}
		_, err := tx.ExecContext(ctx, `UPDATE sandboxes
			SET container_id = ?, state = ?, error = ?, updated_at = ?, last_active_at = ?
			WHERE id = ?`, sb.ContainerID, string(sb.State), sb.Error, encodeTime(tx.now), encodeTime(active), cur.ID)
		if err != nil {
			return fmt.Errorf("update sandbox %d: %w", cur.ID, err)
		}
		sb.ID, sb.CreatedAt, sb.LastActiveAt = cur.ID, cur.CreatedAt, active
	case faultline.ErrorCode(err) == faultline.ENOTFOUND:
		active := tx.now
		if !sb.LastActiveAt.IsZero() {
			active = sb.LastActiveAt.UTC()
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sandboxes
			(user_id, lab, container_id, state, error, created_at, updated_at, last_active_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sb.UserID, sb.Lab, sb.ContainerID, string(sb.State), sb.Error,
			encodeTime(tx.now), encodeTime(tx.now), encodeTime(active))
		if isForeignKey(err) {
			return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("insert sandbox of user %d lab %q: %w", sb.UserID, sb.Lab, err)
		}
		if sb.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("insert sandbox of user %d lab %q: last id: %w", sb.UserID, sb.Lab, err)
		}
		sb.CreatedAt, sb.LastActiveAt = tx.now, active
	default:
		return err
	}
	sb.UpdatedAt = tx.now
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("upsert sandbox of user %d lab %q: commit: %w", sb.UserID, sb.Lab, err)
	}
	return nil
}

// FindSandbox returns the learner's sandbox row for the lab; ENOTFOUND if the
// learner never started it.
func (db *DB) FindSandbox(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findSandbox(ctx, tx, `user_id = ? AND lab = ?`, userID, lab)
}

// ListSandboxes returns all rows in the given states (all rows if none are
// given), ordered by id. EINVALID for an unknown state.
func (db *DB) ListSandboxes(ctx context.Context, states ...faultline.SandboxState) ([]*faultline.Sandbox, error) {
	q := `SELECT ` + sandboxColumns + ` FROM sandboxes`
	args := make([]any, 0, len(states))
	for _, s := range states {
		if !validSandboxState(s) {
			return nil, faultline.Errorf(faultline.EINVALID, "Unknown sandbox state %q.", s)
		}
		args = append(args, string(s))
	}
	if len(states) > 0 {
		q += ` WHERE state IN (` + placeholders(len(states)) + `)`
	}
	q += ` ORDER BY id`
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list sandboxes in %v: %w", states, err)
	}
	defer rows.Close()
	out := []*faultline.Sandbox{}
	for rows.Next() {
		sb := &faultline.Sandbox{}
		if err := scanSandbox(rows, sb); err != nil {
			return nil, fmt.Errorf("list sandboxes in %v: %w", states, err)
		}
		out = append(out, sb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sandboxes in %v: %w", states, err)
	}
	return out, nil
}

// TouchSandbox sets the sandbox's LastActiveAt to now; ENOTFOUND if there is
// no such sandbox.
func (db *DB) TouchSandbox(ctx context.Context, id int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE sandboxes SET last_active_at = ? WHERE id = ?`, encodeTime(tx.now), id)
	if err != nil {
		return fmt.Errorf("touch sandbox %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("touch sandbox %d: %w", id, err)
	} else if n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "Sandbox not found.")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("touch sandbox %d: commit: %w", id, err)
	}
	return nil
}

const sandboxColumns = `id, user_id, lab, container_id, state, error, created_at, updated_at, last_active_at`

func scanSandbox(sc interface{ Scan(...any) error }, sb *faultline.Sandbox) error {
	var state string
	if err := sc.Scan(&sb.ID, &sb.UserID, &sb.Lab, &sb.ContainerID, &state, &sb.Error,
		timeText{&sb.CreatedAt}, timeText{&sb.UpdatedAt}, timeText{&sb.LastActiveAt}); err != nil {
		return err
	}
	sb.State = faultline.SandboxState(state)
	return nil
}

// findSandbox returns the one sandbox matching where (a trusted SQL fragment).
func findSandbox(ctx context.Context, tx *dbTx, where string, args ...any) (*faultline.Sandbox, error) {
	sb := &faultline.Sandbox{}
	err := scanSandbox(tx.QueryRowContext(ctx, `SELECT `+sandboxColumns+` FROM sandboxes WHERE `+where, args...), sb)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Sandbox not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find sandbox where %s %v: %w", where, args, err)
	}
	return sb, nil
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

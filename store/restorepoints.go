package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

// AddRestorePoint records the learner's live saved files of the lab as a
// new restore point pinning their versions (an empty point when nothing is
// saved), and drops the oldest beyond faultline.MaxRestorePoints. EINVALID
// for an empty lab or label, ENOTFOUND for an unknown user.
func (db *DB) AddRestorePoint(ctx context.Context, userID int64, lab, label string) (*faultline.RestorePoint, error) {
	if lab == "" || label == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "A restore point needs a lab and a label.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p := &faultline.RestorePoint{UserID: userID, Lab: lab, Label: label, CreatedAt: tx.now, Files: []faultline.RestoreFile{}}
	err = tx.QueryRowContext(ctx, `INSERT INTO restore_points (user_id, lab, label, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		userID, lab, label, encodeTime(tx.now)).Scan(&p.ID)
	if isForeignKey(err) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("add restore point of user %d lab %q: %w", userID, lab, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, path FROM file_versions
		WHERE id IN (SELECT MAX(id) FROM file_versions WHERE user_id = ? AND lab = ? GROUP BY path) AND deleted = 0
		ORDER BY path`, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("add restore point of user %d lab %q: %w", userID, lab, err)
	}
	for rows.Next() {
		var f faultline.RestoreFile
		if err := rows.Scan(&f.VersionID, &f.Path); err != nil {
			rows.Close()
			return nil, fmt.Errorf("add restore point of user %d lab %q: %w", userID, lab, err)
		}
		p.Files = append(p.Files, f)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("add restore point of user %d lab %q: %w", userID, lab, err)
	}
	rows.Close()
	for _, f := range p.Files {
		if _, err := tx.ExecContext(ctx, `INSERT INTO restore_point_files (point_id, path, version_id) VALUES (?, ?, ?)`,
			p.ID, f.Path, f.VersionID); err != nil {
			return nil, fmt.Errorf("add restore point of user %d lab %q: %w", userID, lab, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM restore_points WHERE user_id = ? AND lab = ? AND id NOT IN
		(SELECT id FROM restore_points WHERE user_id = ? AND lab = ? ORDER BY id DESC LIMIT ?)`,
		userID, lab, userID, lab, faultline.MaxRestorePoints); err != nil {
		return nil, fmt.Errorf("drop old restore points of user %d lab %q: %w", userID, lab, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("add restore point of user %d lab %q: commit: %w", userID, lab, err)
	}
	return p, nil
}

// ListRestorePoints returns the learner's restore points of the lab, newest
// first, each with its files (paths and versions).
func (db *DB) ListRestorePoints(ctx context.Context, userID int64, lab string) ([]*faultline.RestorePoint, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.label, p.created_at, COALESCE(f.path, ''), COALESCE(f.version_id, 0)
		FROM restore_points p LEFT JOIN restore_point_files f ON f.point_id = p.id
		WHERE p.user_id = ? AND p.lab = ? ORDER BY p.id DESC, f.path`, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("restore points of user %d lab %q: %w", userID, lab, err)
	}
	defer rows.Close()
	out := []*faultline.RestorePoint{}
	var cur *faultline.RestorePoint
	for rows.Next() {
		var id int64
		var label, path string
		var at struct{ t time.Time }
		var version int64
		if err := rows.Scan(&id, &label, timeText{&at.t}, &path, &version); err != nil {
			return nil, fmt.Errorf("restore points of user %d lab %q: %w", userID, lab, err)
		}
		if cur == nil || cur.ID != id {
			cur = &faultline.RestorePoint{ID: id, UserID: userID, Lab: lab, Label: label, CreatedAt: at.t, Files: []faultline.RestoreFile{}}
			out = append(out, cur)
		}
		if path != "" {
			cur.Files = append(cur.Files, faultline.RestoreFile{Path: path, VersionID: version})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("restore points of user %d lab %q: %w", userID, lab, err)
	}
	return out, nil
}

// RestorePointFiles returns one of the learner's restore points of the lab
// with the content of its files, sorted by path; ENOTFOUND unless it is
// theirs for that lab.
func (db *DB) RestorePointFiles(ctx context.Context, userID int64, lab string, id int64) (*faultline.RestorePoint, []faultline.File, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	p := &faultline.RestorePoint{ID: id, UserID: userID, Lab: lab, Files: []faultline.RestoreFile{}}
	err = tx.QueryRowContext(ctx, `SELECT label, created_at FROM restore_points WHERE id = ? AND user_id = ? AND lab = ?`,
		id, userID, lab).Scan(&p.Label, timeText{&p.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, faultline.Errorf(faultline.ENOTFOUND, "Restore point not found.")
	} else if err != nil {
		return nil, nil, fmt.Errorf("restore point %d: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT f.path, f.version_id, v.content FROM restore_point_files f
		JOIN file_versions v ON v.id = f.version_id WHERE f.point_id = ? ORDER BY f.path`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("restore point %d: %w", id, err)
	}
	defer rows.Close()
	var files []faultline.File
	for rows.Next() {
		var rf faultline.RestoreFile
		var content []byte
		if err := rows.Scan(&rf.Path, &rf.VersionID, &content); err != nil {
			return nil, nil, fmt.Errorf("restore point %d: %w", id, err)
		}
		if content == nil {
			content = []byte{}
		}
		p.Files = append(p.Files, rf)
		files = append(files, faultline.File{Path: rf.Path, Content: content})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("restore point %d: %w", id, err)
	}
	return p, files, nil
}

package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// SaveFile stores a new version of one workspace file and returns it. Saving
// content identical to the current live version is a no-op that returns the
// current version. It returns EINVALID for a bad path or empty lab, ETOOLARGE
// when the file exceeds MaxFileSize or the save would take the workspace over
// MaxWorkspaceFiles live files or MaxWorkspaceSize bytes, and ENOTFOUND for
// an unknown user.
func (db *DB) SaveFile(ctx context.Context, userID int64, lab, path string, content []byte) (*faultline.FileVersion, error) {
	p, err := checkWorkspaceArgs(lab, path)
	if err != nil {
		return nil, err
	}
	if len(content) > faultline.MaxFileSize {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "File %q is larger than %d KiB.", p, faultline.MaxFileSize>>10)
	}
	if content == nil {
		content = []byte{} // a nil []byte would bind as NULL
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	switch cur, err := latestVersion(ctx, tx, userID, lab, p); {
	case err == nil && !cur.Deleted && bytes.Equal(cur.Content, content):
		return cur, nil // unchanged: keep the current version
	case err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND:
		return nil, err
	}

	// Caps over the live files other than this one, plus the new content.
	var others, otherBytes int
	err = tx.QueryRowContext(ctx, `
		SELECT COUNT(*), COALESCE(SUM(LENGTH(content)), 0) FROM file_versions
		WHERE id IN (SELECT MAX(id) FROM file_versions WHERE user_id = ? AND lab = ? GROUP BY path)
		  AND deleted = 0 AND path <> ?`, userID, lab, p).Scan(&others, &otherBytes)
	if err != nil {
		return nil, fmt.Errorf("save file %q of user %d lab %q: size workspace: %w", p, userID, lab, err)
	}
	if others+1 > faultline.MaxWorkspaceFiles {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "A workspace holds at most %d files; delete one first.", faultline.MaxWorkspaceFiles)
	}
	if otherBytes+len(content) > faultline.MaxWorkspaceSize {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "A workspace holds at most %d MiB.", faultline.MaxWorkspaceSize>>20)
	}

	v := &faultline.FileVersion{UserID: userID, Lab: lab, Path: p, Content: content, CreatedAt: tx.now}
	if err := insertVersion(ctx, tx, v); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("save file %q of user %d lab %q: commit: %w", p, userID, lab, err)
	}
	return v, nil
}

// DeleteFile records a tombstone version for the file. It returns EINVALID
// for a bad path and ENOTFOUND if the file has no live version.
func (db *DB) DeleteFile(ctx context.Context, userID int64, lab, path string) error {
	p, err := checkWorkspaceArgs(lab, path)
	if err != nil {
		return err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	cur, err := latestVersion(ctx, tx, userID, lab, p)
	if err != nil {
		return err
	}
	if cur.Deleted {
		return faultline.Errorf(faultline.ENOTFOUND, "File %q not found.", p)
	}
	v := &faultline.FileVersion{UserID: userID, Lab: lab, Path: p, Content: []byte{}, Deleted: true, CreatedAt: tx.now}
	if err := insertVersion(ctx, tx, v); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete file %q of user %d lab %q: commit: %w", p, userID, lab, err)
	}
	return nil
}

// Files returns the latest live version of each saved file, sorted by path;
// an empty slice when the learner has saved nothing (or deleted everything).
func (db *DB) Files(ctx context.Context, userID int64, lab string) ([]*faultline.FileVersion, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+versionColumns+` FROM file_versions
		WHERE id IN (SELECT MAX(id) FROM file_versions WHERE user_id = ? AND lab = ? GROUP BY path)
		  AND deleted = 0
		ORDER BY path`, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("files of user %d lab %q: %w", userID, lab, err)
	}
	out, err := scanVersions(rows)
	if err != nil {
		return nil, fmt.Errorf("files of user %d lab %q: %w", userID, lab, err)
	}
	return out, nil
}

// FileHistory returns every version of one file, tombstones included, newest
// first. EINVALID for a bad path, ENOTFOUND if the file was never saved.
func (db *DB) FileHistory(ctx context.Context, userID int64, lab, path string) ([]*faultline.FileVersion, error) {
	p, err := checkWorkspaceArgs(lab, path)
	if err != nil {
		return nil, err
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+versionColumns+` FROM file_versions
		WHERE user_id = ? AND lab = ? AND path = ? ORDER BY id DESC`, userID, lab, p)
	if err != nil {
		return nil, fmt.Errorf("history of %q of user %d lab %q: %w", p, userID, lab, err)
	}
	out, err := scanVersions(rows)
	if err != nil {
		return nil, fmt.Errorf("history of %q of user %d lab %q: %w", p, userID, lab, err)
	}
	if len(out) == 0 {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "File %q not found.", p)
	}
	return out, nil
}

func checkWorkspaceArgs(lab, path string) (string, error) {
	if lab == "" {
		return "", faultline.Errorf(faultline.EINVALID, "Lab is required.")
	}
	return faultline.CleanPath(path)
}

const versionColumns = `id, user_id, lab, path, content, deleted, created_at`

func scanVersion(sc interface{ Scan(...any) error }) (*faultline.FileVersion, error) {
	v := &faultline.FileVersion{}
	if err := sc.Scan(&v.ID, &v.UserID, &v.Lab, &v.Path, &v.Content, &v.Deleted, timeText{&v.CreatedAt}); err != nil {
		return nil, err
	}
	if v.Content == nil {
		v.Content = []byte{}
	}
	return v, nil
}

// scanVersions reads and closes rows.
func scanVersions(rows *sql.Rows) ([]*faultline.FileVersion, error) {
	defer rows.Close()
	out := []*faultline.FileVersion{}
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// latestVersion returns the newest version of the file, perhaps a tombstone;
// ENOTFOUND if it was never saved.
func latestVersion(ctx context.Context, tx *dbTx, userID int64, lab, path string) (*faultline.FileVersion, error) {
	v, err := scanVersion(tx.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM file_versions
		WHERE user_id = ? AND lab = ? AND path = ? ORDER BY id DESC LIMIT 1`, userID, lab, path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "File %q not found.", path)
	} else if err != nil {
		return nil, fmt.Errorf("latest version of %q of user %d lab %q: %w", path, userID, lab, err)
	}
	return v, nil
}

// insertVersion inserts v and fills v.ID.
func insertVersion(ctx context.Context, tx *dbTx, v *faultline.FileVersion) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO file_versions (user_id, lab, path, content, deleted, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, v.UserID, v.Lab, v.Path, v.Content, v.Deleted, encodeTime(v.CreatedAt))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("insert version of %q of user %d lab %q: %w", v.Path, v.UserID, v.Lab, err)
	}
	if v.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("insert version of %q of user %d lab %q: last id: %w", v.Path, v.UserID, v.Lab, err)
	}
	return nil
}

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
// MaxWorkspaceFiles live files or MaxWorkspaceSize bytes or when the
// learner's storage budget has no room even after thinning old versions
// (see makeRoom), and ENOTFOUND for an unknown user.
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

	if err := db.makeRoom(ctx, tx, userID, int64(len(content))); err != nil {
		return nil, err
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
	res, err := tx.ExecContext(ctx, `INSERT INTO file_versions (user_id, lab, path, content, deleted, created_at, size)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, v.UserID, v.Lab, v.Path, v.Content, v.Deleted, encodeTime(v.CreatedAt), len(v.Content))
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

// budget is the per-learner storage budget for saved versions.
func (db *DB) budget() int64 {
	if db.StorageBudget > 0 {
		return db.StorageBudget
	}
	return faultline.DefaultFairness.StorageBytes
}

// makeRoom makes room for incoming more bytes of the learner's saved
// versions within the storage budget: when they would not fit, it deletes
// the old versions faultline.ThinVersions picks (never a file's newest
// version, one a restore point holds or one from the last hour), and when
// even that leaves no room it deletes nothing and returns ETOOLARGE saying
// so.
func (db *DB) makeRoom(ctx context.Context, tx *dbTx, userID int64, incoming int64) error {
	budget := db.budget()
	var used int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM file_versions WHERE user_id = ?`, userID).Scan(&used); err != nil {
		return fmt.Errorf("storage used by user %d: %w", userID, err)
	}
	if used+incoming <= budget {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT v.id, v.lab, v.path, v.size, v.created_at,
		v.id = (SELECT MAX(w.id) FROM file_versions w WHERE w.user_id = v.user_id AND w.lab = v.lab AND w.path = v.path),
		EXISTS (SELECT 1 FROM restore_point_files r WHERE r.version_id = v.id)
		FROM file_versions v WHERE v.user_id = ?`, userID)
	if err != nil {
		return fmt.Errorf("versions of user %d: %w", userID, err)
	}
	defer rows.Close()
	var vs []faultline.VersionInfo
	for rows.Next() {
		var v faultline.VersionInfo
		if err := rows.Scan(&v.ID, &v.Lab, &v.Path, &v.Size, timeText{&v.At}, &v.Live, &v.Pinned); err != nil {
			return fmt.Errorf("versions of user %d: %w", userID, err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("versions of user %d: %w", userID, err)
	}
	rows.Close()
	drop, ok := faultline.ThinVersions(vs, budget, incoming, tx.now)
	if !ok {
		return faultline.Errorf(faultline.ETOOLARGE,
			"Your saved work has reached its storage budget of %s, and no older version can be thinned to make room. "+
				"Nothing was saved: delete files you no longer need, or ask your instructor.", faultline.SizeText(budget))
	}
	for start := 0; start < len(drop); start += 500 {
		batch := drop[start:min(start+500, len(drop))]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM file_versions WHERE id IN (`+placeholders(len(batch))+`)`, args...); err != nil {
			return fmt.Errorf("thin versions of user %d: %w", userID, err)
		}
	}
	return nil
}

// StorageUsed returns the bytes the learner's saved versions take and the
// budget they are held to.
func (db *DB) StorageUsed(ctx context.Context, userID int64) (used, budget int64, err error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM file_versions WHERE user_id = ?`, userID).Scan(&used); err != nil {
		return 0, 0, fmt.Errorf("storage used by user %d: %w", userID, err)
	}
	return used, db.budget(), nil
}

// ReplaceFiles makes files the learner's saved files for the lab in one
// transaction: every other live file gets a tombstone and each file a new
// version where its content changed. Either all of it is stored or none:
// a reset or restore interrupted half-way never leaves a mix of old and new
// files. EINVALID for a bad path or a path given twice, ETOOLARGE over
// MaxFileSize, MaxWorkspaceFiles or MaxWorkspaceSize or past the storage
// budget (see makeRoom). Earlier versions are kept, unless thinning them
// makes room.
func (db *DB) ReplaceFiles(ctx context.Context, userID int64, lab string, files []faultline.File) error {
	if lab == "" {
		return faultline.Errorf(faultline.EINVALID, "Lab is required.")
	}
	if err := faultline.CheckFiles(files, faultline.MaxWorkspaceFiles, faultline.MaxWorkspaceSize, "Your saved files"); err != nil {
		return err
	}
	want := make(map[string][]byte, len(files))
	for _, f := range files {
		c := f.Content
		if c == nil {
			c = []byte{}
		}
		want[f.Path] = c
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The newest version of every path ever saved, tombstones included.
	rows, err := tx.QueryContext(ctx, `SELECT `+versionColumns+` FROM file_versions
		WHERE id IN (SELECT MAX(id) FROM file_versions WHERE user_id = ? AND lab = ? GROUP BY path)`, userID, lab)
	if err != nil {
		return fmt.Errorf("replace files of user %d lab %q: %w", userID, lab, err)
	}
	cur, err := scanVersions(rows)
	if err != nil {
		return fmt.Errorf("replace files of user %d lab %q: %w", userID, lab, err)
	}
	latest := make(map[string]*faultline.FileVersion, len(cur))
	for _, v := range cur {
		latest[v.Path] = v
		if _, keep := want[v.Path]; keep || v.Deleted {
			continue
		}
		t := &faultline.FileVersion{UserID: userID, Lab: lab, Path: v.Path, Content: []byte{}, Deleted: true, CreatedAt: tx.now}
		if err := insertVersion(ctx, tx, t); err != nil {
			return err
		}
	}
	var changed []*faultline.FileVersion
	var incoming int64
	for _, f := range files {
		p := f.Path
		if v := latest[p]; v != nil && !v.Deleted && bytes.Equal(v.Content, want[p]) {
			continue // unchanged: keep the current version
		}
		changed = append(changed, &faultline.FileVersion{UserID: userID, Lab: lab, Path: p, Content: want[p], CreatedAt: tx.now})
		incoming += int64(len(want[p]))
	}
	if err := db.makeRoom(ctx, tx, userID, incoming); err != nil {
		return err
	}
	for _, nv := range changed {
		if err := insertVersion(ctx, tx, nv); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replace files of user %d lab %q: commit: %w", userID, lab, err)
	}
	return nil
}

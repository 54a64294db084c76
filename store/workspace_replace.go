package store

import (
	"bytes"
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

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

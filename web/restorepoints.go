package web

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

// Restore points are kept without a store migration. The file versions are
// already the history of a workspace: a restore point only has to name, for
// each file live at that moment, the version that was live. That manifest is
// itself saved through WorkspaceService as one JSON file in a companion
// workspace of the lab (restoreLab), so it is versioned like learner work and
// never shows up among the learner's files, in a sandbox or in a submission.
//
// A dedicated table (restore_points: id, user_id, lab, label, created_at, and
// a restore_point_files (point_id, path, version_id) child table) would be the
// proper home; see the report that came with this change.

// restoreLab is the companion workspace that holds a lab's restore points.
// Lab slugs are lowercase letters, digits and dashes, so it cannot collide.
func restoreLab(lab string) string { return lab + "~restore-points" }

const restoreManifest = "points.json"

// maxRestorePoints bounds the manifest; the oldest points drop off the list
// (their versions stay in the file history).
const maxRestorePoints = 30

// restorePoint is one saved moment of a learner's workspace.
type restorePoint struct {
	ID    int           `json:"id"`
	Label string        `json:"label"`
	At    time.Time     `json:"at"`
	Files []pointedFile `json:"files"`
}

// pointedFile is one file live at the restore point and its version.
type pointedFile struct {
	Path    string `json:"path"`
	Version int64  `json:"version"`
}

// restorePoints returns the learner's restore points of lab, oldest first.
func (s *Server) restorePoints(ctx context.Context, userID int64, lab string) ([]restorePoint, error) {
	vs, err := s.d.Workspace.Files(ctx, userID, restoreLab(lab))
	if err != nil {
		return nil, fmt.Errorf("restore points of user %d lab %q: %w", userID, lab, err)
	}
	for _, v := range vs {
		if v.Path != restoreManifest || v.Deleted {
			continue
		}
		var points []restorePoint
		if err := json.Unmarshal(v.Content, &points); err != nil {
			return nil, fmt.Errorf("restore points of user %d lab %q: decode: %w", userID, lab, err)
		}
		return points, nil
	}
	return nil, nil
}

// addRestorePoint records the learner's saved files of lab as they are now.
func (s *Server) addRestorePoint(ctx context.Context, userID int64, lab, label string) (*restorePoint, error) {
	points, err := s.restorePoints(ctx, userID, lab)
	if err != nil {
		return nil, err
	}
	cur, err := s.d.Workspace.Files(ctx, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("workspace files of user %d lab %q: %w", userID, lab, err)
	}
	p := restorePoint{ID: 1, Label: label, At: s.d.Now().UTC(), Files: []pointedFile{}}
	if n := len(points); n > 0 {
		p.ID = points[n-1].ID + 1
	}
	for _, v := range cur {
		if !v.Deleted {
			p.Files = append(p.Files, pointedFile{Path: v.Path, Version: v.ID})
		}
	}
	points = append(points, p)
	if len(points) > maxRestorePoints {
		points = points[len(points)-maxRestorePoints:]
	}
	body, err := json.Marshal(points)
	if err != nil {
		return nil, fmt.Errorf("encode restore points: %w", err)
	}
	if _, err := s.d.Workspace.SaveFile(ctx, userID, restoreLab(lab), restoreManifest, body); err != nil {
		return nil, fmt.Errorf("save restore points of user %d lab %q: %w", userID, lab, err)
	}
	return &p, nil
}

// pointFiles returns the contents of the files live at restore point p,
// read back from each file's version history.
func (s *Server) pointFiles(ctx context.Context, userID int64, lab string, p *restorePoint) ([]faultline.File, error) {
	out := make([]faultline.File, 0, len(p.Files))
	for _, pf := range p.Files {
		hist, err := s.d.Workspace.FileHistory(ctx, userID, lab, pf.Path)
		if err != nil {
			return nil, fmt.Errorf("history of %q of user %d lab %q: %w", pf.Path, userID, lab, err)
		}
		found := false
		for _, v := range hist {
			if v.ID == pf.Version {
				out = append(out, faultline.File{Path: v.Path, Content: v.Content})
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("restore point %d of user %d lab %q: version %d of %q is missing", p.ID, userID, lab, pf.Version, pf.Path)
		}
	}
	return out, nil
}

package faultline

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// This file holds the learner's workspace beyond single files: restore
// points, and the thinning of old versions under the storage budget.

// RestorePoint is one saved moment of a learner's workspace for a lab: the
// version of each file that was live then. Its versions are pinned: thinning
// never removes them while the point exists.
type RestorePoint struct {
	ID        int64
	UserID    int64
	Lab       string
	Label     string // what it was made before, e.g. "Before reset to starter"
	CreatedAt time.Time
	Files     []RestoreFile
}

// RestoreFile is one file of a restore point and its pinned version.
type RestoreFile struct {
	Path      string
	VersionID int64
}

// MaxRestorePoints is how many restore points a learner keeps per lab; the
// oldest beyond it is dropped (and its versions unpinned).
const MaxRestorePoints = 30

// RestorePoints stores learners' restore points.
type RestorePoints interface {
	// AddRestorePoint records the learner's live saved files of the lab as
	// a new restore point (an empty one when nothing is saved) and drops
	// the oldest beyond MaxRestorePoints.
	AddRestorePoint(ctx context.Context, userID int64, lab, label string) (*RestorePoint, error)
	// ListRestorePoints returns the learner's points for the lab, newest
	// first.
	ListRestorePoints(ctx context.Context, userID int64, lab string) ([]*RestorePoint, error)
	// RestorePointFiles returns the files of one point with their content;
	// ENOTFOUND unless it is the learner's point for the lab.
	RestorePointFiles(ctx context.Context, userID int64, lab string, id int64) (*RestorePoint, []File, error)
}

// VersionInfo describes one stored file version for thinning.
type VersionInfo struct {
	ID     int64
	Lab    string
	Path   string
	Size   int64
	At     time.Time
	Live   bool // the newest version of its path (live or a tombstone)
	Pinned bool // held by a restore point
}

// ThinVersions decides which of a learner's stored versions to delete so
// that a save of incoming more bytes fits within budget: it never deletes
// the newest version of a path, a pinned version or one saved in the hour
// before now. It first drops versions that have a newer version of the same
// path within the same hour (bursts of autosaves), then within the same
// day, then any, oldest first within each round, and stops as soon as the
// rest fits. ok is false (and nothing should be deleted) when even deleting
// every candidate leaves no room.
func ThinVersions(vs []VersionInfo, budget, incoming int64, now time.Time) (drop []int64, ok bool) {
	var total int64
	for _, v := range vs {
		total += v.Size
	}
	if total+incoming <= budget {
		return nil, true
	}
	type cand struct {
		v     VersionInfo
		round int // 0: a newer version within the hour; 1: within the day; 2: older
	}
	last := map[string]time.Time{} // lab/path -> newest time seen so far, walking newest first
	byAge := make([]VersionInfo, len(vs))
	copy(byAge, vs)
	sortVersions(byAge) // newest first
	var cands []cand
	for _, v := range byAge {
		key := v.Lab + "\x00" + v.Path
		next, seen := last[key]
		last[key] = v.At
		if !seen || v.Live || v.Pinned || now.Sub(v.At) < time.Hour {
			continue
		}
		round := 2
		switch {
		case next.Sub(v.At) < time.Hour:
			round = 0
		case next.Sub(v.At) < 24*time.Hour:
			round = 1
		}
		cands = append(cands, cand{v: v, round: round})
	}
	need := total + incoming - budget
	for round := 0; round <= 2 && need > 0; round++ {
		for i := len(cands) - 1; i >= 0 && need > 0; i-- { // oldest first
			c := cands[i]
			if c.round != round {
				continue
			}
			drop = append(drop, c.v.ID)
			need -= c.v.Size
		}
	}
	if need > 0 {
		return nil, false
	}
	return drop, true
}

// sortVersions orders vs newest first (by time, then by ID).
func sortVersions(vs []VersionInfo) {
	slices.SortFunc(vs, func(a, b VersionInfo) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
}

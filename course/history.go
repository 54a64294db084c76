package course

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// A learner's history on a lab: diffs between attempts, reset to the
// starter and restore points.

// Side is one side of a diff: a submission, or the learner's saved files.
type Side struct {
	Submission *faultline.Submission // nil for the saved files
	Files      []faultline.File
}

// ownSubmission loads one of the learner's submissions of the lab;
// anything else (no such id, another learner's, another lab's) is
// ENOTFOUND.
func (s *Service) ownSubmission(ctx context.Context, id, userID int64, lab string) (*faultline.Submission, error) {
	if id <= 0 {
		return nil, errNoSubmission
	}
	sub, err := s.d.Submissions.FindSubmission(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoSubmission
	} else if err != nil {
		return nil, fmt.Errorf("find submission %d: %w", id, err)
	}
	if sub.UserID != userID || sub.Lab != lab {
		return nil, errNoSubmission
	}
	return sub, nil
}

// LabDiff returns two of the viewer's attempts of the lab to compare:
// submission a against submission b, or against their saved files now when
// b is 0. ENOTFOUND for a submission that is not theirs on this lab.
func (s *Service) LabDiff(ctx context.Context, viewer *faultline.User, slug string, a, b int64) (*Side, *Side, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, nil, err
	}
	sa, err := s.ownSubmission(ctx, a, viewer.ID, l.Slug)
	if err != nil {
		return nil, nil, err
	}
	if b == 0 {
		saved, err := s.savedFiles(ctx, viewer.ID, l.Slug)
		if err != nil {
			return nil, nil, err
		}
		return &Side{Submission: sa, Files: sa.Files}, &Side{Files: faultline.MergeFiles(l.Starter, saved)}, nil
	}
	sb, err := s.ownSubmission(ctx, b, viewer.ID, l.Slug)
	if err != nil {
		return nil, nil, err
	}
	return &Side{Submission: sa, Files: sa.Files}, &Side{Submission: sb, Files: sb.Files}, nil
}

// SubmissionDiff returns an earlier submission (against) of the same
// learner and lab beside submission id, for whoever may see id; ENOTFOUND
// otherwise.
func (s *Service) SubmissionDiff(ctx context.Context, viewer *faultline.User, id, against int64) (*Shown, *faultline.Submission, error) {
	sh, err := s.Submission(ctx, viewer, id)
	if err != nil {
		return nil, nil, err
	}
	other, err := s.ownSubmission(ctx, against, sh.Submission.UserID, sh.Submission.Lab)
	if err != nil {
		return nil, nil, err
	}
	return sh, other, nil
}

// ResetPlan says what a reset or a restore would do, for the page that asks
// to confirm it.
type ResetPlan struct {
	Lab    *faultline.Lab
	Point  *faultline.RestorePoint // nil: back to the starter files
	Saved  []string                // the paths saved now, which a restore point keeps
	Target []string                // the paths saved after
}

// PlanReset says what resetting the viewer's lab to the starter (point 0)
// or to restore point point would do. ENOTFOUND for a point that is not
// theirs on this lab.
func (s *Service) PlanReset(ctx context.Context, viewer *faultline.User, slug string, point int64) (*ResetPlan, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	saved, err := s.savedFiles(ctx, viewer.ID, l.Slug)
	if err != nil {
		return nil, err
	}
	plan := &ResetPlan{Lab: l}
	for _, f := range saved {
		plan.Saved = append(plan.Saved, f.Path)
	}
	target, p, err := s.resetTarget(ctx, viewer.ID, l, point)
	if err != nil {
		return nil, err
	}
	plan.Point = p
	for _, f := range target {
		plan.Target = append(plan.Target, f.Path)
	}
	return plan, nil
}

// resetTarget returns the files a reset to point (0: the starter) saves.
func (s *Service) resetTarget(ctx context.Context, userID int64, l *faultline.Lab, point int64) ([]faultline.File, *faultline.RestorePoint, error) {
	if point == 0 {
		var target []faultline.File
		for _, f := range l.Starter {
			if !isVisibleTest(l, f.Path) {
				target = append(target, f)
			}
		}
		return target, nil, nil
	}
	p, files, err := s.d.RestorePts.RestorePointFiles(ctx, userID, l.Slug, point)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such restore point.")
	} else if err != nil {
		return nil, nil, fmt.Errorf("restore point %d of user %d lab %q: %w", point, userID, l.Slug, err)
	}
	return files, p, nil
}

// Reset makes the viewer's saved files of the lab the starter files (point
// 0) or those of a restore point, after keeping the current ones as a new
// restore point, so nothing saved is lost. The files are replaced in one
// transaction and written into a running sandbox; the returned notice
// (user-safe) says when that last step failed.
func (s *Service) Reset(ctx context.Context, viewer *faultline.User, slug string, point int64) (string, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return "", err
	}
	target, p, err := s.resetTarget(ctx, viewer.ID, l, point)
	if err != nil {
		return "", err
	}
	label := "Before reset to starter"
	if p != nil {
		label = "Before restoring “" + p.Label + "”"
	}
	before, err := s.savedFiles(ctx, viewer.ID, l.Slug)
	if err != nil {
		return "", err
	}
	if _, err := s.d.RestorePts.AddRestorePoint(ctx, viewer.ID, l.Slug, label); err != nil {
		return "", internal(err, "add restore point of user %d lab %q", viewer.ID, l.Slug)
	}
	if err := s.d.Workspace.ReplaceFiles(ctx, viewer.ID, l.Slug, target); err != nil {
		return "", internal(err, "replace files of user %d lab %q", viewer.ID, l.Slug)
	}
	if !s.syncSandbox(ctx, viewer.ID, l, before, target) {
		return "They could not all be written into your sandbox: restart the lab to copy them in.", nil
	}
	return "", nil
}

// syncSandbox makes a running sandbox hold what a sandbox started now would
// after the saved files went from before to after: every file of after, and
// for each path saved before but not after, the lab's own version of it
// (starter or visible test) or nothing. It reports whether that worked (or
// no sandbox runs).
func (s *Service) syncSandbox(ctx context.Context, userID int64, l *faultline.Lab, before, after []faultline.File) bool {
	sb, err := s.findSandbox(ctx, userID, l.Slug)
	if err != nil || sb == nil || sb.State != faultline.SandboxRunning {
		return true
	}
	if s.writeIntoSandbox(ctx, userID, l.Slug, after) != "" {
		return false
	}
	kept := map[string]bool{}
	for _, f := range after {
		kept[f.Path] = true
	}
	own := map[string]faultline.File{}
	for _, f := range faultline.MergeFiles(l.Starter, l.Visible) {
		own[f.Path] = f
	}
	for _, f := range before {
		if kept[f.Path] {
			continue
		}
		if lf, ok := own[f.Path]; ok {
			if s.writeIntoSandbox(ctx, userID, l.Slug, []faultline.File{lf}) != "" {
				return false
			}
		} else if err := s.d.Sandboxes.RemoveFile(ctx, userID, l.Slug, f.Path); err != nil {
			s.log.ErrorContext(ctx, "remove file from sandbox", "user", userID, "lab", l.Slug, "path", f.Path, "err", err)
			return false
		}
	}
	return true
}

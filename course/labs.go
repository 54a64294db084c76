package course

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// A learner's work on a lab: the workspace, the sandbox, running the
// visible tests, submitting.

// Timeouts of the lab actions that run inside a request.
const (
	StartTimeout = 3 * time.Minute // starting a sandbox
	RunTimeout   = 2 * time.Minute // "Run tests" in a sandbox
)

// Workspace is everything the lab page shows of one learner's work on a lab.
type Workspace struct {
	Lab *faultline.Lab
	// Files are the learner's files: the starter overlaid by what they
	// saved, sorted by path; Saved says which paths they saved.
	Files []faultline.File
	Saved map[string]bool
	// Tests are the lab's visible tests the learner has not saved over,
	// shown read-only.
	Tests []faultline.File
	// Sandbox is the learner's sandbox (nil: never started); SandboxErr is
	// set instead when sandboxes are unavailable (EUNAVAILABLE).
	Sandbox    *faultline.Sandbox
	SandboxErr error
	// StopsAt is when a running sandbox is stopped whatever its activity
	// (zero when not running), MaxLife the cap it follows.
	StopsAt time.Time
	MaxLife time.Duration
	// Standing is the held score, the policy and the recent submissions.
	Standing *LabStanding
	// RestorePoints are the learner's restore points, newest first.
	RestorePoints []*faultline.RestorePoint
}

// Workspace returns the viewer's workspace of the lab: ENOTFOUND for an
// unknown lab, EUNAUTHORIZED for a visitor.
func (s *Service) Workspace(ctx context.Context, viewer *faultline.User, slug string) (*Workspace, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	saved, err := s.savedFiles(ctx, viewer.ID, l.Slug)
	if err != nil {
		return nil, err
	}
	w := &Workspace{Lab: l, Saved: map[string]bool{}, Files: faultline.MergeFiles(l.Starter, saved)}
	for _, f := range saved {
		w.Saved[f.Path] = true
	}
	for _, f := range faultline.MergeFiles(nil, l.Visible) {
		if !w.Saved[f.Path] {
			w.Tests = append(w.Tests, f)
		}
	}
	w.Sandbox, w.SandboxErr = s.findSandbox(ctx, viewer.ID, l.Slug)
	if w.Sandbox != nil && w.Sandbox.State == faultline.SandboxRunning {
		w.StopsAt, w.MaxLife = s.d.Sandboxes.StopsAt(w.Sandbox), s.d.Sandboxes.MaxLife()
	}
	if w.Standing, err = s.standing(ctx, viewer.ID, l, 20); err != nil {
		return nil, err
	}
	if w.RestorePoints, err = s.d.RestorePts.ListRestorePoints(ctx, viewer.ID, l.Slug); err != nil {
		return nil, fmt.Errorf("restore points of user %d lab %q: %w", viewer.ID, l.Slug, err)
	}
	return w, nil
}

// viewerLab returns the lab a signed-in viewer acts on: EUNAUTHORIZED for a
// visitor, ENOTFOUND for an unknown lab.
func (s *Service) viewerLab(viewer *faultline.User, slug string) (*faultline.Lab, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	return s.Lab(slug)
}

// Sandbox returns the viewer's sandbox of the lab: nil with a nil error when
// they never started it, EUNAVAILABLE when sandboxes are unavailable.
func (s *Service) Sandbox(ctx context.Context, viewer *faultline.User, slug string) (*faultline.Sandbox, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	return s.findSandbox(ctx, viewer.ID, l.Slug)
}

// SandboxLife returns when the running sandbox sb is stopped whatever its
// activity (zero when unknown) and the cap it follows.
func (s *Service) SandboxLife(sb *faultline.Sandbox) (time.Time, time.Duration) {
	if sb == nil || sb.State != faultline.SandboxRunning {
		return time.Time{}, s.d.Sandboxes.MaxLife()
	}
	return s.d.Sandboxes.StopsAt(sb), s.d.Sandboxes.MaxLife()
}

// ErrSandboxesUnavailable is what a learner reads when the engine is down.
var ErrSandboxesUnavailable = faultline.Errorf(faultline.EUNAVAILABLE,
	"Lab sandboxes are unavailable right now. Your saved files are safe; try again later.")

// findSandbox returns the learner's sandbox (nil, nil when none) or the
// user-safe reason sandboxes cannot be reached.
func (s *Service) findSandbox(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	sb, err := s.d.Sandboxes.Find(ctx, userID, lab)
	switch faultline.ErrorCode(err) {
	case "":
		return sb, nil
	case faultline.ENOTFOUND:
		return nil, nil
	case faultline.EUNAVAILABLE:
		return nil, ErrSandboxesUnavailable
	}
	s.log.ErrorContext(ctx, "find sandbox", "user", userID, "lab", lab, "err", err)
	return nil, ErrSandboxesUnavailable
}

// savedFiles returns the learner's latest live saved files of a lab.
func (s *Service) savedFiles(ctx context.Context, userID int64, lab string) ([]faultline.File, error) {
	vs, err := s.d.Workspace.Files(ctx, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("workspace files of user %d lab %q: %w", userID, lab, err)
	}
	files := make([]faultline.File, 0, len(vs))
	for _, v := range vs {
		if !v.Deleted {
			files = append(files, faultline.File{Path: v.Path, Content: v.Content})
		}
	}
	return files, nil
}

// isVisibleTest reports whether path is one of the lab's visible test files.
func isVisibleTest(l *faultline.Lab, path string) bool {
	for _, f := range l.Visible {
		if f.Path == path {
			return true
		}
	}
	return false
}

// Saved is what saving a file did.
type Saved struct {
	Path string // the cleaned path
	// Notice is set when the file was saved but not written into the
	// running sandbox (user-safe).
	Notice string
}

// SaveFile saves a new version of one of the viewer's files of the lab and
// writes it into their running sandbox. EINVALID for a bad path or a visible
// test's path, ETOOLARGE over the file caps or the storage budget (nothing
// saved), ENOTFOUND for an unknown lab.
func (s *Service) SaveFile(ctx context.Context, viewer *faultline.User, slug, path string, content []byte) (*Saved, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	p, err := faultline.CleanPath(path)
	if err != nil {
		return nil, err
	}
	if isVisibleTest(l, p) {
		return nil, faultline.Errorf(faultline.EINVALID,
			"%s is one of the lab's tests and cannot be changed. Save your code under another name.", p)
	}
	if len(content) > faultline.MaxFileSize {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "The file is %s; a file may be at most %s. Nothing was saved.",
			faultline.SizeText(int64(len(content))), faultline.SizeText(faultline.MaxFileSize))
	}
	if _, err := s.d.Workspace.SaveFile(ctx, viewer.ID, l.Slug, p, content); err != nil {
		return nil, internal(err, "save %q of user %d lab %q", p, viewer.ID, l.Slug)
	}
	out := &Saved{Path: p}
	out.Notice = s.writeIntoSandbox(ctx, viewer.ID, l.Slug, []faultline.File{{Path: p, Content: content}})
	return out, nil
}

// DeleteFile deletes one of the viewer's saved files of the lab (its
// versions stay in the history) and removes it from their running sandbox.
// A starter file comes back as the starter has it. ENOTFOUND for an unknown
// lab or a file they never saved, EINVALID for a bad path.
func (s *Service) DeleteFile(ctx context.Context, viewer *faultline.User, slug, path string) (*Saved, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	p, err := faultline.CleanPath(path)
	if err != nil {
		return nil, err
	}
	if err := s.d.Workspace.DeleteFile(ctx, viewer.ID, l.Slug, p); err != nil {
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return nil, faultline.Errorf(faultline.ENOTFOUND, "You have no saved file %s.", p)
		}
		return nil, internal(err, "delete %q of user %d lab %q", p, viewer.ID, l.Slug)
	}
	out := &Saved{Path: p}
	sb, err := s.findSandbox(ctx, viewer.ID, l.Slug)
	if err != nil || sb == nil || sb.State != faultline.SandboxRunning {
		return out, nil
	}
	// What the sandbox should hold now at that path: the starter's (or
	// visible test's) version, or nothing.
	for _, f := range faultline.MergeFiles(l.Starter, l.Visible) {
		if f.Path == p {
			out.Notice = s.writeIntoSandbox(ctx, viewer.ID, l.Slug, []faultline.File{f})
			return out, nil
		}
	}
	if err := s.d.Sandboxes.RemoveFile(ctx, viewer.ID, l.Slug, p); err != nil {
		out.Notice = s.sandboxNotice(ctx, viewer.ID, l.Slug, err, "Deleted, but the file is still in your sandbox")
	}
	return out, nil
}

// writeIntoSandbox writes files into the learner's running sandbox, if it
// runs; it returns a notice for the learner when that failed ("" if not).
func (s *Service) writeIntoSandbox(ctx context.Context, userID int64, lab string, files []faultline.File) string {
	sb, err := s.findSandbox(ctx, userID, lab)
	if err != nil || sb == nil || sb.State != faultline.SandboxRunning {
		return ""
	}
	for _, f := range files {
		if err := s.d.Sandboxes.WriteFile(ctx, userID, lab, f); err != nil {
			return s.sandboxNotice(ctx, userID, lab, err, "Saved, but not written into your sandbox")
		}
	}
	return ""
}

func (s *Service) sandboxNotice(ctx context.Context, userID int64, lab string, err error, prefix string) string {
	if m := faultline.ErrorMessage(err); faultline.ErrorCode(err) != faultline.EINTERNAL {
		return prefix + ": " + m
	}
	s.log.ErrorContext(ctx, "sandbox file", "user", userID, "lab", lab, "err", err)
	return prefix + ". Restart the lab to copy your files in."
}

// sandboxTree is what goes into a sandbox: starter and saved files, plus the
// visible tests. Never the hidden tests.
func sandboxTree(l *faultline.Lab, saved []faultline.File) []faultline.File {
	return faultline.MergeFiles(faultline.MergeFiles(l.Starter, saved), l.Visible)
}

// StartLab starts (or re-opens) the viewer's sandbox of the lab with their
// files copied in, reporting phases to phase (may be nil). The start is
// bounded by StartTimeout and does not end with ctx: a learner who leaves
// mid-start finds it running. Errors the learner should read: EUNAVAILABLE
// (saying the saved files are safe), ETOOMANY with a retry time when too
// many sandboxes are starting.
func (s *Service) StartLab(ctx context.Context, viewer *faultline.User, slug string, phase func(faultline.SandboxPhase)) (*faultline.Sandbox, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	saved, err := s.savedFiles(ctx, viewer.ID, l.Slug)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StartTimeout)
	defer cancel()
	if phase == nil {
		phase = func(faultline.SandboxPhase) {}
	}
	sb, err := s.d.Sandboxes.Start(sctx, viewer.ID, l, sandboxTree(l, saved), phase)
	if err != nil {
		return nil, s.startFailure(ctx, viewer.ID, l.Slug, err)
	}
	return sb, nil
}

// startFailure turns a failed start into the error the learner sees: a
// timeout or an internal error becomes EUNAVAILABLE (the cause is logged),
// and every unavailable message says the saved files are safe.
func (s *Service) startFailure(ctx context.Context, userID int64, lab string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		err = faultline.Errorf(faultline.EUNAVAILABLE, "Starting the sandbox took too long. Try again in a moment.")
	}
	if faultline.ErrorCode(err) == faultline.EINTERNAL {
		s.log.ErrorContext(ctx, "start sandbox", "user", userID, "lab", lab, "err", err)
		err = faultline.Errorf(faultline.EUNAVAILABLE, "The sandbox could not be started. Your saved files are safe; try again in a moment.")
	}
	if msg := faultline.ErrorMessage(err); faultline.ErrorCode(err) == faultline.EUNAVAILABLE && !strings.Contains(msg, "saved files are safe") {
		err = faultline.Errorf(faultline.EUNAVAILABLE, "%s Your saved files are safe.", strings.TrimSpace(msg))
	}
	return err
}

// ErrNotStarted is RunTests' answer when the sandbox does not run.
var ErrNotStarted = faultline.Errorf(faultline.ECONFLICT, "Start the lab first: the visible tests run in your sandbox.")

// ErrRunTimeout is RunTests' answer when the tests ran out of RunTimeout.
var ErrRunTimeout = faultline.Errorf(faultline.ETOOMANY, "The tests did not finish within %s and were stopped.", RunTimeout)

// RunTests runs the lab's visible tests in the viewer's running sandbox,
// streaming their raw `go test -json` output to out, and returns the
// per-test results. ECONFLICT (ErrNotStarted) when the sandbox does not
// run, EUNAVAILABLE when sandboxes are unavailable, and a result with status
// time_limit when the tests ran out of RunTimeout.
func (s *Service) RunTests(ctx context.Context, viewer *faultline.User, slug string, out io.Writer) (*faultline.Result, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	sb, err := s.findSandbox(ctx, viewer.ID, l.Slug)
	if err != nil {
		return nil, err
	}
	if sb == nil || sb.State != faultline.SandboxRunning {
		return nil, ErrNotStarted
	}
	rctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	res, err := s.d.Sandboxes.RunTests(rctx, viewer.ID, l, out)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return &faultline.Result{Lab: l.Slug, Status: faultline.StatusTimeLimit,
			Message: fmt.Sprintf("The tests did not finish within %s and were stopped.", RunTimeout)}, nil
	case faultline.ErrorCode(err) == faultline.EINTERNAL:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.ErrorContext(ctx, "run tests", "user", viewer.ID, "lab", l.Slug, "err", err)
		return nil, faultline.Errorf(faultline.EUNAVAILABLE, "The tests could not be run in your sandbox. Try again, or restart the lab.")
	}
	return nil, err
}

// Terminal opens a shell in the viewer's own running sandbox of the lab.
// While the viewer shares their terminal of the lab with staff (office
// hours, ShareTerminal), its output also reaches the staff who watch it.
// ENOTFOUND when it does not run, EUNAVAILABLE when the engine is down.
func (s *Service) Terminal(ctx context.Context, viewer *faultline.User, slug string, size faultline.TermSize) (faultline.Terminal, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	t, err := s.d.Terminals.Terminal(ctx, viewer.ID, l.Slug, size)
	if err != nil {
		return nil, err
	}
	return s.shares.tee(viewer.ID, l.Slug, t), nil
}

// Submit snapshots the viewer's files of the lab (starter overlaid by what
// they saved) into a new submission and wakes the grader. Refusals keep
// everything saved: EFORBIDDEN before the lab opens or past a refused due
// date, ETOOMANY (with a retry time where waiting helps) when a submission
// limit, the per-minute rate or the bound on waiting submissions is reached.
func (s *Service) Submit(ctx context.Context, viewer *faultline.User, slug string) (*faultline.Submission, error) {
	l, err := s.viewerLab(viewer, slug)
	if err != nil {
		return nil, err
	}
	saved, err := s.savedFiles(ctx, viewer.ID, l.Slug)
	if err != nil {
		return nil, err
	}
	p, _, err := s.policyFor(ctx, viewer.ID, l.Slug)
	if err != nil {
		return nil, err
	}
	sub := &faultline.Submission{UserID: viewer.ID, Lab: l.Slug, Files: faultline.MergeFiles(l.Starter, saved)}
	now := s.now()
	err = s.d.Records.CreateSubmissionIf(ctx, sub, func(c faultline.SubmissionCount) error {
		if err := p.Admit(now, c); err != nil {
			return err
		}
		return s.admitWaiting(c)
	})
	if err != nil {
		return nil, internal(err, "create submission of user %d lab %q", viewer.ID, l.Slug)
	}
	s.kick()
	return sub, nil
}

// admitWaiting refuses a submission while the learner already has
// Fairness.MaxWaiting submissions waiting in the queue.
func (s *Service) admitWaiting(c faultline.SubmissionCount) error {
	if c.Waiting < s.fair.MaxWaiting {
		return nil
	}
	wait := 30 * time.Second
	return faultline.RetryLater(wait,
		"You already have %d submissions waiting to be graded; submit again when one of them has its result.", c.Waiting)
}

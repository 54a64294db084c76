package course

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// Regrades and the instructors' live view of sandboxes and the queue.

// ErrNothingToRegrade is RegradeLab's and RegradeSubmission's answer when
// there is nothing to queue (no result yet, or already queued).
var ErrNothingToRegrade = faultline.Errorf(faultline.ECONFLICT, "Nothing to regrade: it has no result yet, or is already waiting to be graded.")

// RegradeLab queues every graded submission of the lab by the cohort's
// learners and returns the job. ENOTFOUND unless viewer teaches the cohort
// and the lab exists; ErrNothingToRegrade when there is nothing to queue.
func (s *Service) RegradeLab(ctx context.Context, viewer *faultline.User, cohortID int64, lab string) (*faultline.RegradeJob, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, err
	}
	j := &faultline.RegradeJob{CohortID: c.ID, Lab: l.Slug, CreatedBy: viewer.ID}
	switch err := s.d.Regrades.CreateRegradeJob(ctx, j); faultline.ErrorCode(err) {
	case "":
	case faultline.ECONFLICT:
		return nil, ErrNothingToRegrade
	default:
		return nil, fmt.Errorf("regrade lab %q of cohort %d: %w", l.Slug, c.ID, err)
	}
	s.log.InfoContext(ctx, "regrade queued", "job", j.ID, "cohort", c.ID, "lab", l.Slug, "total", j.Total)
	s.kick()
	return j, nil
}

// RegradeSubmission queues one submission of a learner of the cohort.
// ENOTFOUND unless viewer teaches the cohort and the submission is one of
// its learners'; ErrNothingToRegrade when it is queued or has no result.
func (s *Service) RegradeSubmission(ctx context.Context, viewer *faultline.User, cohortID, submissionID int64) (*faultline.RegradeJob, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	if submissionID <= 0 {
		return nil, errNoSubmission
	}
	sub, err := s.d.Submissions.FindSubmission(ctx, submissionID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoSubmission
	} else if err != nil {
		return nil, fmt.Errorf("find submission %d: %w", submissionID, err)
	}
	if err := s.learnerOf(ctx, c.ID, sub.UserID); err != nil {
		return nil, errNoSubmission
	}
	j := &faultline.RegradeJob{CohortID: c.ID, SubmissionID: submissionID, CreatedBy: viewer.ID}
	switch err := s.d.Regrades.CreateRegradeJob(ctx, j); faultline.ErrorCode(err) {
	case "":
	case faultline.ENOTFOUND:
		return nil, errNoSubmission
	case faultline.ECONFLICT:
		return nil, ErrNothingToRegrade
	default:
		return nil, fmt.Errorf("regrade submission %d in cohort %d: %w", submissionID, c.ID, err)
	}
	s.log.InfoContext(ctx, "regrade queued", "job", j.ID, "cohort", c.ID, "submission", submissionID)
	s.kick()
	return j, nil
}

// RegradeCohort returns a cohort in which viewer may regrade the work of
// ownerID (one they teach with ownerID as a learner), or 0 when none.
func (s *Service) RegradeCohort(ctx context.Context, viewer *faultline.User, ownerID int64) (int64, error) {
	if viewer == nil || viewer.ID == ownerID && !viewer.CanTeach() {
		return 0, nil
	}
	cs, err := s.learnerCohortsTaughtBy(ctx, viewer, ownerID)
	if err != nil || len(cs) == 0 {
		return 0, err
	}
	return cs[0].ID, nil
}

// RegradeJobs lists the cohort's regrades, newest first; ENOTFOUND unless
// viewer teaches the cohort.
func (s *Service) RegradeJobs(ctx context.Context, viewer *faultline.User, cohortID int64) ([]*faultline.RegradeJob, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	jobs, err := s.d.Regrades.ListRegradeJobs(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("list regrade jobs of cohort %d: %w", cohortID, err)
	}
	return jobs, nil
}

// RegradeJob returns one job of a cohort viewer teaches; ENOTFOUND for a
// job of another cohort, as for one that does not exist.
func (s *Service) RegradeJob(ctx context.Context, viewer *faultline.User, cohortID, jobID int64) (*faultline.RegradeJob, error) {
	noJob := faultline.Errorf(faultline.ENOTFOUND, "There is no such regrade.")
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	if jobID <= 0 {
		return nil, noJob
	}
	j, err := s.d.Regrades.FindRegradeJob(ctx, jobID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, noJob
	} else if err != nil {
		return nil, fmt.Errorf("find regrade job %d: %w", jobID, err)
	}
	if j.CohortID != cohortID {
		return nil, noJob
	}
	return j, nil
}

// JobCohort returns the cohort of a regrade job if viewer teaches it (so a
// page may link to the job), 0 otherwise.
func (s *Service) JobCohort(ctx context.Context, viewer *faultline.User, jobID int64) (int64, error) {
	j, err := s.d.Regrades.FindRegradeJob(ctx, jobID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("find regrade job %d: %w", jobID, err)
	}
	if j.CohortID == 0 {
		return 0, nil
	}
	ok, err := s.teaches(ctx, viewer, j.CohortID)
	if err != nil || !ok {
		return 0, err
	}
	return j.CohortID, nil
}

// CancelRegrade ends a running job (see faultline.RegradeCanceler).
// ECONFLICT when it has finished or nothing of it still waits.
func (s *Service) CancelRegrade(ctx context.Context, viewer *faultline.User, cohortID, jobID int64) (*faultline.RegradeJob, error) {
	j, err := s.RegradeJob(ctx, viewer, cohortID, jobID)
	if err != nil {
		return nil, err
	}
	out, err := s.d.Canceler.CancelRegradeJob(ctx, j.ID)
	if err != nil {
		return nil, internal(err, "cancel regrade job %d", j.ID)
	}
	s.log.InfoContext(ctx, "regrade canceled", "job", j.ID, "cohort", cohortID, "by", viewer.ID)
	return out, nil
}

// Live is what the instructors' live view shows.
type Live struct {
	Sandboxes []*faultline.LiveSandbox
	Queue     *faultline.QueueStats
	Entries   []*faultline.QueueEntry
	Jobs      []*faultline.RegradeJob // running regrades of the cohort (none on the admin's view)
}

// Live returns the live view of a cohort viewer teaches, or with cohortID 0
// of every user for an admin; ENOTFOUND for anyone else.
func (s *Service) Live(ctx context.Context, viewer *faultline.User, cohortID int64) (*Live, error) {
	if err := s.liveScope(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	out := &Live{}
	var err error
	if out.Sandboxes, err = s.d.Live.LiveSandboxes(ctx, cohortID); err != nil {
		return nil, fmt.Errorf("live sandboxes of cohort %d: %w", cohortID, err)
	}
	if out.Queue, err = s.d.Instructor.QueueStats(ctx); err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	if out.Entries, err = s.d.Live.QueueEntries(ctx, cohortID); err != nil {
		return nil, fmt.Errorf("queue entries of cohort %d: %w", cohortID, err)
	}
	if cohortID != 0 {
		jobs, err := s.d.Regrades.ListRegradeJobs(ctx, cohortID)
		if err != nil {
			return nil, fmt.Errorf("list regrade jobs of cohort %d: %w", cohortID, err)
		}
		for _, j := range jobs {
			if j.State == faultline.RegradeRunning {
				out.Jobs = append(out.Jobs, j)
			}
		}
	}
	return out, nil
}

func (s *Service) liveScope(ctx context.Context, viewer *faultline.User, cohortID int64) error {
	if cohortID == 0 {
		if viewer == nil || viewer.Role != faultline.RoleAdmin {
			return errNoPage
		}
		return nil
	}
	_, err := s.Cohort(ctx, viewer, cohortID)
	return err
}

// ErrSandboxGone is StopSandbox's answer for a sandbox that no longer runs.
var ErrSandboxGone = faultline.Errorf(faultline.ENOTFOUND, "That sandbox was not running any more.")

// StopSandbox stops a learner's sandbox from the live view: on a cohort's
// view (cohortID > 0) only a learner of that cohort's, on the admin's
// (cohortID 0) anyone's. Saved files are unaffected. ErrSandboxGone when
// it no longer runs, ENOTFOUND for no right to it.
func (s *Service) StopSandbox(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) error {
	if err := s.liveScope(ctx, viewer, cohortID); err != nil {
		return err
	}
	noSandbox := faultline.Errorf(faultline.ENOTFOUND, "There is no such sandbox.")
	if userID <= 0 || lab == "" {
		return noSandbox
	}
	if cohortID != 0 {
		if err := s.learnerOf(ctx, cohortID, userID); err != nil {
			return noSandbox
		}
	}
	if err := s.d.Sandboxes.Stop(ctx, userID, lab); err != nil {
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return ErrSandboxGone
		}
		return internal(err, "stop sandbox of user %d lab %q", userID, lab)
	}
	s.log.InfoContext(ctx, "sandbox stopped by instructor", "user", userID, "lab", lab, "by", viewer.ID, "cohort", cohortID)
	return nil
}

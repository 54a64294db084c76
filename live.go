package faultline

import (
	"context"
	"time"
)

// This file holds what the instructors' live view reads and does: the
// learners' running sandboxes, a cohort's share of the grading queue, and
// cancelling a regrade job.

// LiveSandbox is one learner sandbox that is starting or running, with the
// learner's name for the instructor's live view.
type LiveSandbox struct {
	Sandbox
	Name  string // the learner's name
	Email string
}

// QueueEntry is one queued or running submission of the grading queue.
type QueueEntry struct {
	SubmissionID int64
	UserID       int64
	Name         string // the learner's name
	Lab          string
	State        SubmissionState // queued or running
	RegradeJobID int64           // 0 for a learner's own submission
	CreatedAt    time.Time       // when the learner submitted
	StartedAt    time.Time       // when the current grading attempt began; zero while queued
	Attempts     int
}

// LiveService reads what the live view shows. Both methods take a cohort
// and list its learners' rows only; cohortID 0 means every user (admins).
type LiveService interface {
	// LiveSandboxes returns the starting and running sandboxes, least
	// recently active first.
	LiveSandboxes(ctx context.Context, cohortID int64) ([]*LiveSandbox, error)
	// QueueEntries returns the queued and running submissions: running
	// ones first, then queued in the order a worker claims them.
	QueueEntries(ctx context.Context, cohortID int64) ([]*QueueEntry, error)
}

// RegradeCanceler ends regrade jobs early.
type RegradeCanceler interface {
	// CancelRegradeJob ends a running job: its still-queued submissions go
	// back to the state they had before the regrade, keeping the result
	// they show now (no new result is recorded for them); submissions
	// already being graded finish and are counted as usual. The job is
	// returned done, with Done < Total (see Canceled). ENOTFOUND for an
	// unknown job, ECONFLICT when it has finished or none of its
	// submissions is still queued.
	CancelRegradeJob(ctx context.Context, id int64) (*RegradeJob, error)
}

// Canceled reports whether the job ended before all its submissions were
// regraded (CancelRegradeJob).
func (j *RegradeJob) Canceled() bool {
	return j.State == RegradeDone && j.Done < j.Total
}

// Remaining is how many of the job's submissions have no new result yet.
func (j *RegradeJob) Remaining() int {
	return max(j.Total-j.Done, 0)
}

package faultline

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// This file holds the domain types and services of the instructor tools:
// per-lab settings of a cohort, dashboards, regrades, the gradebook and
// personal access tokens.

// ---- Per cohort and lab settings ----

// LateMode says what happens to a submission made after the due date.
type LateMode string

const (
	LateAccept  LateMode = "accept"  // late work counts in full (the default)
	LatePenalty LateMode = "penalty" // lose PercentPerDay per started day late, at most CapPercent
	LateRefuse  LateMode = "refuse"  // no submissions after the due date
)

// LatePolicy is how a cohort treats late submissions of one lab.
type LatePolicy struct {
	Mode          LateMode
	PercentPerDay int // LatePenalty only: 1..100
	CapPercent    int // LatePenalty only: 1..100, the most a submission can lose
}

// Validate returns EINVALID unless p is a known mode with sensible numbers:
// penalty needs PercentPerDay and CapPercent in 1..100; other modes need both 0.
// The empty mode means LateAccept.
func (p LatePolicy) Validate() error {
	switch p.Mode {
	case "", LateAccept, LateRefuse:
		if p.PercentPerDay != 0 || p.CapPercent != 0 {
			return Errorf(EINVALID, "A late penalty needs the late policy \"penalty\".")
		}
	case LatePenalty:
		if p.PercentPerDay < 1 || p.PercentPerDay > 100 {
			return Errorf(EINVALID, "Late penalty per day must be 1 to 100 percent.")
		}
		if p.CapPercent < 1 || p.CapPercent > 100 {
			return Errorf(EINVALID, "Late penalty cap must be 1 to 100 percent.")
		}
	default:
		return Errorf(EINVALID, "Late policy must be accept, penalty or refuse.")
	}
	return nil
}

// PenaltyPercent returns the percent of the score a submission late by
// late loses under the policy: each started day costs PercentPerDay, up to
// CapPercent; 0 when on time or the mode is not LatePenalty.
func (p LatePolicy) PenaltyPercent(late time.Duration) int {
	if p.Mode != LatePenalty || late <= 0 {
		return 0
	}
	days := int(math.Ceil(late.Hours() / 24))
	return min(days*p.PercentPerDay, p.CapPercent)
}

// Apply returns score after the policy's penalty for a submission made late
// after the due date (late <= 0 means on time), rounded down.
func (p LatePolicy) Apply(score int, late time.Duration) int {
	if score <= 0 {
		return score
	}
	return score * (100 - p.PenaltyPercent(late)) / 100
}

// TestVisibility says when learners see the per-test results of a lab's
// hidden tests on their result page (visible tests are always shown: the
// learner has them).
type TestVisibility string

const (
	TestsVisible  TestVisibility = "visible"   // at once (the default)
	TestsHidden   TestVisibility = "hidden"    // never: only the score
	TestsAfterDue TestVisibility = "after_due" // once the due date has passed
)

// LabSettings are a cohort's settings for one lab. The zero value of each
// field means "no limit": always open, no due date, accept late work,
// unlimited submissions, hidden-test results shown at once.
type LabSettings struct {
	CohortID       int64
	Lab            string
	OpensAt        time.Time // zero: open now
	DueAt          time.Time // zero: no due date
	Late           LatePolicy
	MaxSubmissions int // 0: unlimited; else 1..10000
	PerMinute      int // 0: unlimited; else 1..600 submissions a minute
	Visibility     TestVisibility
	UpdatedAt      time.Time // zero when never set
}

// DefaultLabSettings returns the settings a lab has until an instructor sets them.
func DefaultLabSettings(cohortID int64, lab string) *LabSettings {
	return &LabSettings{CohortID: cohortID, Lab: lab, Late: LatePolicy{Mode: LateAccept}, Visibility: TestsVisible}
}

// Validate returns EINVALID with a message saying what to fix: an empty lab,
// a due date not after the opening, an unknown late policy or visibility,
// negative or oversized limits, "after_due" without a due date.
func (s *LabSettings) Validate() error {
	if s.Lab == "" {
		return Errorf(EINVALID, "Lab is required.")
	}
	if !s.OpensAt.IsZero() && !s.DueAt.IsZero() && !s.DueAt.After(s.OpensAt) {
		return Errorf(EINVALID, "The due date must be after the opening date.")
	}
	if err := s.Late.Validate(); err != nil {
		return err
	}
	if s.MaxSubmissions < 0 || s.MaxSubmissions > 10000 {
		return Errorf(EINVALID, "Maximum submissions must be 0 (unlimited) to 10000.")
	}
	if s.PerMinute < 0 || s.PerMinute > 600 {
		return Errorf(EINVALID, "Submissions per minute must be 0 (unlimited) to 600.")
	}
	switch s.Visibility {
	case "", TestsVisible, TestsHidden:
	case TestsAfterDue:
		if s.DueAt.IsZero() {
			return Errorf(EINVALID, "Showing tests after the due date needs a due date.")
		}
	default:
		return Errorf(EINVALID, "Test visibility must be visible, hidden or after_due.")
	}
	return nil
}

// ---- Results history ----

// ResultRecord is one result a submission has had. A regrade adds a record
// and never overwrites an older one; the newest non-error record is the one
// shown as the submission's Result.
type ResultRecord struct {
	ID           int64
	SubmissionID int64
	RegradeJobID int64 // 0 for the first grading
	Current      bool  // the one Submission.Result shows
	CreatedAt    time.Time
	Result       *Result
}

// SubmissionRecords complements SubmissionService (kept separate so the
// grader's narrow use of SubmissionService does not grow).
type SubmissionRecords interface {
	// SubmissionCounts returns how many submissions the user has made for the
	// lab in all and within the minute before now; pass it to
	// LabSettings.Admit before CreateSubmission.
	SubmissionCounts(ctx context.Context, userID int64, lab string) (SubmissionCount, error)
	// CreateSubmissionIf is SubmissionService.CreateSubmission behind a
	// gate: admit sees the counts in the same transaction as the insert (so
	// simultaneous submissions cannot both slip past a limit), and its error
	// is returned with nothing inserted.
	CreateSubmissionIf(ctx context.Context, s *Submission, admit func(SubmissionCount) error) error
	// SubmissionState returns only the submission's state (cheap to poll);
	// ENOTFOUND if there is no such submission.
	SubmissionState(ctx context.Context, id int64) (SubmissionState, error)
	// ResultHistory returns every result the submission has had (regrades
	// included), newest first; ENOTFOUND if there is no such submission.
	ResultHistory(ctx context.Context, submissionID int64) ([]*ResultRecord, error)
}

// ---- Dashboards ----

// MatrixCell is one learner's standing on one lab.
type MatrixCell struct {
	Lab          string
	BestScore    int
	MaxScore     int
	Attempts     int // graded submissions
	Submissions  int // submissions of any state
	BestID       int64
	LastSubmitAt time.Time
}

// MatrixRow is one learner of a progress matrix.
type MatrixRow struct {
	UserID      int64
	Name        string
	Email       string
	LessonsRead int
	Cells       map[string]*MatrixCell // by lab slug; labs never submitted to are absent
}

// ScoreBucket counts learners whose best score on a lab equals Score.
type ScoreBucket struct {
	Score    int
	Learners int
}

// TestFailRate is how many learners' latest graded result fails one test.
type TestFailRate struct {
	Name     string
	Hidden   bool
	Failing  int // learners whose latest result does not pass it
	Learners int // learners with a graded result on the lab
	Percent  int // Failing*100/Learners, rounded down
}

// FaultFailRate is how many learners' latest result fails a test whose
// failure report lists a fault of this kind ("62% fail under partition").
type FaultFailRate struct {
	Fault    string // a FaultKinds kind
	Failing  int
	Learners int
	Percent  int
}

// LabStats are the cohort-wide statistics of one lab.
type LabStats struct {
	Lab      string
	Learners int // learners of the cohort with a graded submission
	MaxScore int
	// Scores is the distribution of best scores, lowest score first.
	Scores []ScoreBucket
	// AttemptsToFull holds, per learner who reached full marks, how many
	// submissions it took (1 = first try), ascending.
	AttemptsToFull []int
	// TimeToSolve holds, per learner who reached full marks, the time from
	// their first submission or sandbox start (whichever came first) to the
	// first full-marks submission, ascending.
	TimeToSolve  []time.Duration
	FailingTests []TestFailRate  // most failing first
	FailingFault []FaultFailRate // most failing first
}

// GradebookRow is one learner's line of a cohort gradebook.
type GradebookRow struct {
	UserID int64
	Name   string
	Email  string
	Best   map[string]int // best graded score per lab slug; absent: no graded submission
	Total  int            // sum of Best
}

// QueueStats describe the grading queue at one instant.
type QueueStats struct {
	Queued       int       // waiting submissions (learner and regrade)
	Regrades     int       // of Queued, how many are regrades
	Running      int       // being graded
	Workers      int       // distinct workers holding a live lease
	OldestQueued time.Time // oldest queued learner submission (not regrade); zero if none
}

// InstructorService holds per-lab settings and the dashboard queries. Every
// method returns ENOTFOUND for an unknown cohort.
type InstructorService interface {
	// LabSettings returns the cohort's settings for the lab, or
	// DefaultLabSettings when none were set.
	LabSettings(ctx context.Context, cohortID int64, lab string) (*LabSettings, error)
	// ListLabSettings returns every lab's settings that were set, by lab.
	ListLabSettings(ctx context.Context, cohortID int64) ([]*LabSettings, error)
	// SetLabSettings validates and stores s (EINVALID with the reason).
	SetLabSettings(ctx context.Context, s *LabSettings) error
	// ProgressMatrix returns one row per learner of the cohort, by name.
	ProgressMatrix(ctx context.Context, cohortID int64) ([]*MatrixRow, error)
	// LabStats returns the cohort-wide statistics of one lab.
	LabStats(ctx context.Context, cohortID int64, lab string) (*LabStats, error)
	// QueueStats describes the grading queue now.
	QueueStats(ctx context.Context) (*QueueStats, error)
}

// ---- Regrades ----

// RegradeState is where a regrade job is.
type RegradeState string

const (
	RegradeRunning RegradeState = "running" // submissions queued or being graded
	RegradeDone    RegradeState = "done"    // every submission has a new result
)

// RegradeJob regrades one submission, or every graded submission of a lab by
// a cohort's learners, in the background.
type RegradeJob struct {
	ID           int64
	CohortID     int64 // 0 for a single submission outside a cohort scope
	Lab          string
	SubmissionID int64 // set for a single-submission job
	State        RegradeState
	Total        int // submissions queued
	Done         int // submissions with a new result
	Failed       int // of Done, how many could not be graded (old result kept)
	CreatedBy    int64
	CreatedAt    time.Time
	FinishedAt   time.Time
}

// RegradeService queues regrades. Regraded submissions go back into the
// grading queue behind learners' new submissions; the grader completes them
// as usual and each gets a new ResultRecord.
type RegradeService interface {
	// CreateRegradeJob queues j.SubmissionID alone, or every graded
	// submission of j.Lab by learners of j.CohortID, and fills j. EINVALID for
	// neither or an empty lab, ENOTFOUND for an unknown submission or cohort,
	// ECONFLICT when the one submission (or every one of the lab) is already
	// queued or running.
	CreateRegradeJob(ctx context.Context, j *RegradeJob) error
	// FindRegradeJob returns ENOTFOUND if there is none.
	FindRegradeJob(ctx context.Context, id int64) (*RegradeJob, error)
	// ListRegradeJobs returns the cohort's jobs, newest first.
	ListRegradeJobs(ctx context.Context, cohortID int64) ([]*RegradeJob, error)
}

// ---- Personal access tokens ----

// APIToken is a personal access token for the JSON API. Only a hash of the
// secret is stored; the plaintext is shown once, when it is created.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	Prefix     string // first characters of the secret, to tell tokens apart
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	ExpiresAt  time.Time // zero: never expires
	RevokedAt  time.Time // zero: live
}

// TokenService stores personal access tokens.
type TokenService interface {
	// CreateToken makes a token for the user and returns it with the
	// plaintext secret (never stored). EINVALID for an empty or long name,
	// ENOTFOUND for an unknown user.
	CreateToken(ctx context.Context, userID int64, name string, expiresAt time.Time) (*APIToken, string, error)
	// ListTokens returns the user's tokens, newest first, revoked ones included.
	ListTokens(ctx context.Context, userID int64) ([]*APIToken, error)
	// RevokeToken revokes one of the user's tokens; ENOTFOUND if it is not theirs.
	RevokeToken(ctx context.Context, userID, tokenID int64) error
	// AuthenticateToken returns the token and its user and records the use;
	// EUNAUTHORIZED for an unknown, revoked or expired secret.
	AuthenticateToken(ctx context.Context, secret string) (*APIToken, *User, error)
}

// ---- Fault kinds in failure reports ----

// FaultKinds returns the kinds of fault listed under "Faults injected:" in a
// labkit failure report (a test's output), each once, in the order first
// seen: "partition", "one-way partition", "crash", "loss", "duplication",
// "latency" or "other". Recoveries (heal, restore, restart) are not faults.
// Text without such a section yields nil.
func FaultKinds(report string) []string {
	_, rest, ok := strings.Cut(report, "Faults injected:")
	if !ok {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, line := range strings.Split(rest, "\n")[1:] {
		if !strings.HasPrefix(line, "  ") {
			break // the section ends at the first line that is not indented
		}
		text := strings.TrimSpace(line)
		if _, after, ok := strings.Cut(text, ": "); ok && strings.HasPrefix(text, "at ") {
			text = after
		} else if strings.HasPrefix(text, "(") {
			continue // "(N earlier faults not shown)"
		}
		for _, k := range faultKinds(strings.ToLower(text)) {
			add(k)
		}
	}
	return out
}

func faultKinds(t string) []string {
	switch {
	case strings.HasPrefix(t, "heal"), strings.HasPrefix(t, "restore"), strings.HasPrefix(t, "restart"):
		return nil
	case strings.HasPrefix(t, "one-way partition"):
		return []string{"one-way partition"}
	case strings.HasPrefix(t, "partition"):
		return []string{"partition"}
	case strings.Contains(t, "crash"):
		return []string{"crash"}
	}
	var ks []string
	if strings.Contains(t, "loss") || strings.Contains(t, "lost") {
		ks = append(ks, "loss")
	}
	if strings.Contains(t, "duplicat") || strings.Contains(t, "twice") {
		ks = append(ks, "duplication")
	}
	if len(ks) == 0 {
		if strings.Contains(t, "latency") {
			return []string{"latency"}
		}
		return []string{"other"}
	}
	return ks
}

// String describes j for logs.
func (j *RegradeJob) String() string {
	return fmt.Sprintf("regrade job %d (lab %q, cohort %d, submission %d)", j.ID, j.Lab, j.CohortID, j.SubmissionID)
}

package faultline

import (
	"context"
	"strings"
	"time"
)

// This file holds feedback on submitted work: staff comments on lines of a
// submission's files (and an overall comment) with the learner's replies,
// manual score adjustments (Adjustment, in policy.go), per-learner
// extensions, and regrade requests.

// SubmissionComment is one comment on a submission: on a line of a file
// (Path, Line), on the submission as a whole (Path "", Line 0), or a reply
// to another comment (ParentID).
type SubmissionComment struct {
	ID           int64
	SubmissionID int64
	ParentID     int64
	AuthorID     int64
	Path         string
	Line         int // 1-based; 0 with Path "" for the overall comment
	Body         string
	HTML         string
	Deleted      bool
	CreatedAt    time.Time
}

// MaxCommentBody caps one comment.
const MaxCommentBody = 10000

// Extension overrides, for one learner and one lab, what their cohort set:
// the due date, and optionally the late policy and the submission limit.
type Extension struct {
	UserID int64
	Lab    string
	DueAt  time.Time
	// Late replaces the late policy when set.
	Late *LatePolicy
	// MaxSubmissions replaces the submission limit when set (0: unlimited).
	MaxSubmissions *int
	Reason         string
	GrantedBy      int64
	CreatedAt      time.Time
}

// Validate returns EINVALID saying what to fix: no due date, a bad late
// policy or a limit out of 0..10000.
func (e *Extension) Validate() error {
	if e.DueAt.IsZero() {
		return Errorf(EINVALID, "An extension needs a new due date.")
	}
	if e.Late != nil {
		if err := e.Late.Validate(); err != nil {
			return err
		}
	}
	if e.MaxSubmissions != nil && (*e.MaxSubmissions < 0 || *e.MaxSubmissions > 10000) {
		return Errorf(EINVALID, "Maximum submissions must be 0 (unlimited) to 10000.")
	}
	if len(e.Reason) > 1000 {
		return Errorf(EINVALID, "Keep the reason under 1000 characters.")
	}
	return nil
}

// WithExtension returns p under the learner's extension e (p itself when e
// is nil): e's due date, and its late policy and submission limit where it
// sets them. Extended is set. Everything that reads the due date follows:
// admission, the late penalty and when hidden tests are shown (a learner
// with an extension sees hidden tests after their own due date, never
// before).
func (p LabPolicy) WithExtension(e *Extension) LabPolicy {
	if e == nil {
		return p
	}
	p.DueAt = e.DueAt
	if e.Late != nil {
		p.Late = *e.Late
	}
	if e.MaxSubmissions != nil {
		p.MaxSubmissions = *e.MaxSubmissions
	}
	p.Extended = true
	return p
}

// RequestState is where a regrade request is.
type RequestState string

const (
	RequestOpen     RequestState = "open"
	RequestAccepted RequestState = "accepted" // staff adjusted the score or regraded
	RequestDeclined RequestState = "declined"
	RequestAnswered RequestState = "answered" // an answer without a change
)

// RequestOutcome is what accepting a request did.
type RequestOutcome string

const (
	OutcomeNone     RequestOutcome = ""
	OutcomeAdjusted RequestOutcome = "adjusted" // a score adjustment
	OutcomeRegraded RequestOutcome = "regraded" // the submission was regraded
)

// RegradeRequest is a learner's question about one test of their
// submission, with staff's answer.
type RegradeRequest struct {
	ID           int64
	SubmissionID int64
	UserID       int64
	Lab          string
	Test         string
	Reason       string
	State        RequestState
	Outcome      RequestOutcome
	Answer       string
	AnsweredBy   int64
	AnsweredAt   time.Time
	AdjustmentID int64 // set with OutcomeAdjusted
	RegradeJobID int64 // set with OutcomeRegraded
	CreatedAt    time.Time
}

// FeedbackService stores comments, adjustments, extensions and regrade
// requests.
type FeedbackService interface {
	// AddComment inserts c and fills ID and CreatedAt. ENOTFOUND for an
	// unknown submission or parent comment.
	AddComment(ctx context.Context, c *SubmissionComment) error
	// ListComments returns a submission's comments, oldest first.
	ListComments(ctx context.Context, submissionID int64) ([]*SubmissionComment, error)
	// FindComment returns ENOTFOUND for an unknown comment.
	FindComment(ctx context.Context, id int64) (*SubmissionComment, error)
	// DeleteComment marks a comment deleted (its text is kept).
	DeleteComment(ctx context.Context, id int64) error

	// AddAdjustment inserts a and fills ID and CreatedAt. EINVALID for 0
	// points or an empty reason.
	AddAdjustment(ctx context.Context, a *Adjustment) error
	// Adjustments returns the adjustments of userIDs on lab (every lab
	// when lab is ""), oldest first.
	Adjustments(ctx context.Context, userIDs []int64, lab string) ([]Adjustment, error)

	// SetExtension stores e, replacing the learner's extension of the lab.
	SetExtension(ctx context.Context, e *Extension) error
	// RemoveExtension removes it; ENOTFOUND when there is none.
	RemoveExtension(ctx context.Context, userID int64, lab string) error
	// Extensions returns the extensions of userIDs on lab, by user.
	Extensions(ctx context.Context, userIDs []int64, lab string) (map[int64]*Extension, error)

	// CreateRegradeRequest inserts r as open. ECONFLICT when the learner
	// already has an open request about the test of that submission.
	CreateRegradeRequest(ctx context.Context, r *RegradeRequest) error
	// FindRegradeRequest returns ENOTFOUND for an unknown request.
	FindRegradeRequest(ctx context.Context, id int64) (*RegradeRequest, error)
	// ListRegradeRequests returns requests on a submission (submissionID
	// > 0) or of the cohort's learners (cohortID > 0), newest first; open
	// only when openOnly.
	ListRegradeRequests(ctx context.Context, submissionID, cohortID int64, openOnly bool) ([]*RegradeRequest, error)
	// AnswerRegradeRequest stores staff's answer (State, Outcome, Answer,
	// AnsweredBy and the IDs) of an open request. ECONFLICT when it was
	// answered already.
	AnswerRegradeRequest(ctx context.Context, r *RegradeRequest) error
}

// CodeBlocks returns the contents of the fenced code blocks (``` or ~~~)
// and indented code of a Markdown text, in order: what the solution-leak
// guard compares with learners' submissions.
func CodeBlocks(md string) []string {
	var out []string
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	var cur []string
	fence := ""
	var indented []string
	flushIndented := func() {
		if len(indented) > 0 {
			out = append(out, strings.Join(indented, "\n"))
			indented = nil
		}
	}
	for _, ln := range lines {
		trimmed := strings.TrimLeft(ln, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				out = append(out, strings.Join(cur, "\n"))
				cur, fence = nil, ""
				continue
			}
			cur = append(cur, ln)
			continue
		}
		if len(ln)-len(trimmed) <= 3 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			flushIndented()
			c := trimmed[:1]
			n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
			fence = strings.Repeat(c, n)
			continue
		}
		if strings.HasPrefix(ln, "    ") || strings.HasPrefix(ln, "\t") {
			indented = append(indented, ln)
			continue
		}
		if strings.TrimSpace(ln) != "" {
			flushIndented()
		}
	}
	if fence != "" && len(cur) > 0 { // an unclosed fence runs to the end
		out = append(out, strings.TrimRight(strings.Join(cur, "\n"), "\n"))
	}
	flushIndented()
	return out
}

package course

import (
	"context"

	"github.com/faultline-dev/faultline"
)

// Verbs that gather what one page shows, so a handler makes one call.

// SubmissionPage is everything the page of one submission shows.
type SubmissionPage struct {
	*Shown
	Review *Review
	// For the owner's teachers only (nil and 0 otherwise): every result the
	// submission has had, the cohort in which they may regrade it, and the
	// cohort of each regrade job in the history they may open.
	History       []*faultline.ResultRecord
	RegradeCohort int64
	JobCohorts    map[int64]int64
	// Next is what to do after full marks on one's own submission (NextOK).
	Next   *NextStep
	NextOK bool
	// Feedback on the submission (feedback.go); for the owner, the failing
	// runs they may attach to a question and the cohorts it can go to.
	Feedback   *FeedbackView
	Runs       []RunChoice
	RunCohorts []*faultline.Cohort
}

// SubmissionPage returns what the page of submission id shows to viewer;
// ENOTFOUND as Submission.
func (s *Service) SubmissionPage(ctx context.Context, viewer *faultline.User, id int64) (*SubmissionPage, error) {
	sh, err := s.Submission(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	p := &SubmissionPage{Shown: sh}
	if p.Review, err = s.Review(ctx, viewer, sh); err != nil {
		return nil, err
	}
	if p.Next, p.NextOK, err = s.NextStep(ctx, viewer, sh); err != nil {
		return nil, err
	}
	if p.Feedback, err = s.Feedback(ctx, viewer, sh); err != nil {
		return nil, err
	}
	if p.Runs, p.RunCohorts, err = s.AttachableRuns(ctx, viewer, sh); err != nil {
		return nil, err
	}
	if !sh.Teacher {
		return p, nil
	}
	if p.History, err = s.ResultHistory(ctx, viewer, id); err != nil {
		return nil, err
	}
	if p.RegradeCohort, err = s.RegradeCohort(ctx, viewer, sh.Submission.UserID); err != nil {
		return nil, err
	}
	p.JobCohorts = map[int64]int64{}
	for _, h := range p.History {
		if h.RegradeJobID == 0 {
			continue
		}
		if _, seen := p.JobCohorts[h.RegradeJobID]; seen {
			continue
		}
		if p.JobCohorts[h.RegradeJobID], err = s.JobCohort(ctx, viewer, h.RegradeJobID); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// CohortPage is everything a cohort's dashboard shows.
type CohortPage struct {
	Cohort *faultline.Cohort
	// Version is the cohort's dashboard version when Members, Matrix and
	// Conversation were read: they are the same as long as it is.
	Version int64
	// Members, Matrix and Conversation are nil when the caller holds them
	// already (the have of CohortPage is Version).
	Members []*faultline.Member
	Matrix  []*faultline.MatrixRow
	// Conversation: questions, moderation and regrade requests (feedback.go).
	Conversation *ConversationStats
	// Taught are the cohorts viewer teaches, the targets of a move.
	Taught []*faultline.Cohort
}

// CohortPage returns what the dashboard of a cohort viewer teaches shows,
// read in one read snapshot; ENOTFOUND otherwise. have is the Version of
// the members, matrix and conversation figures the caller kept from an
// earlier call (0: none): when nothing they show changed since, they are
// left out.
func (s *Service) CohortPage(ctx context.Context, viewer *faultline.User, id, have int64) (*CohortPage, error) {
	ctx, done, err := s.readSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	c, err := s.Cohort(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	p := &CohortPage{Cohort: c}
	// The version first: the members and matrix read after it are at least
	// as new (and, in the snapshot, exactly as new).
	if p.Version, err = s.d.Dashboards.DashboardVersion(ctx, id); err != nil {
		return nil, internal(err, "dashboard version of cohort %d", id)
	}
	if have == 0 || have != p.Version {
		if p.Members, err = s.Members(ctx, viewer, id); err != nil {
			return nil, err
		}
		if p.Matrix, err = s.Matrix(ctx, viewer, id); err != nil {
			return nil, err
		}
		if p.Conversation, err = s.ConversationStats(ctx, viewer, id); err != nil {
			return nil, err
		}
	}
	if p.Taught, err = s.TaughtCohorts(ctx, viewer); err != nil {
		return nil, err
	}
	return p, nil
}

// LabReport is everything a lab's statistics page in a cohort shows.
type LabReport struct {
	Cohort   *faultline.Cohort
	Lab      *faultline.Lab
	Stats    *faultline.LabStats
	Similar  []SimilarPair
	Compared int                     // submissions compared for similarity
	Jobs     []*faultline.RegradeJob // the cohort's regrades of this lab, newest first
}

// LabReport returns the statistics page of a lab in a cohort viewer
// teaches; ENOTFOUND otherwise or for an unknown lab.
func (s *Service) LabReport(ctx context.Context, viewer *faultline.User, cohortID int64, lab string) (*LabReport, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, err
	}
	r := &LabReport{Cohort: c, Lab: l}
	if r.Stats, err = s.LabStats(ctx, viewer, cohortID, l.Slug); err != nil {
		return nil, err
	}
	if r.Similar, r.Compared, err = s.LabSimilar(ctx, viewer, cohortID, l.Slug); err != nil {
		return nil, err
	}
	jobs, err := s.RegradeJobs(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.Lab == l.Slug {
			r.Jobs = append(r.Jobs, j)
		}
	}
	return r, nil
}

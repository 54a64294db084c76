package course

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

// The learner's home page: their cohorts, every lab with its due date and
// the score they hold, where they left off, and their latest results.

// RecentResults is how many of a learner's latest submissions the home page
// lists.
const RecentResults = 5

// HomeLab is one lab as a learner's home page shows it.
type HomeLab struct {
	Lab *faultline.Lab
	// Policy is the rules the learner works the lab under (opening and due
	// date); InCohort is false when no cohort sets any.
	Policy   faultline.LabPolicy
	InCohort bool
	Held     faultline.HeldScore
	// Worked is when the learner last saved a file of the lab or submitted
	// it; zero when they never did.
	Worked time.Time
}

// RecentResult is one of the learner's latest submissions with its score
// under their policy.
type RecentResult struct {
	ScoredSubmission
	LabTitle string
}

// Home is what a signed-in user's home page shows.
type Home struct {
	Cohorts  []MyCohort
	Labs     []HomeLab // catalog order
	Recent   []RecentResult
	Progress *Progress
	// Continue is the lab the learner worked on last; ok is false before
	// they ever saved or submitted anything.
	Continue   HomeLab
	ContinueOK bool
}

// Home returns viewer's home page: EUNAUTHORIZED for a visitor.
func (s *Service) Home(ctx context.Context, viewer *faultline.User) (*Home, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	h := &Home{}
	var err error
	if h.Cohorts, err = s.MyCohorts(ctx, viewer); err != nil {
		return nil, err
	}
	if h.Progress, err = s.Progress(ctx, viewer); err != nil {
		return nil, err
	}
	subs, err := s.d.Submissions.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: viewer.ID, Limit: 100000})
	if err != nil {
		return nil, fmt.Errorf("submissions of user %d: %w", viewer.ID, err)
	}
	byLab := map[string][]*faultline.Submission{}
	for _, sub := range subs { // newest first
		byLab[sub.Lab] = append(byLab[sub.Lab], sub)
	}
	policy, err := s.learnerPolicy(ctx, viewer.ID)
	if err != nil {
		return nil, err
	}
	for _, l := range s.d.Labs.All() {
		hl := HomeLab{Lab: l}
		if hl.Policy, hl.InCohort, err = policy(l.Slug); err != nil {
			return nil, err
		}
		var atts []faultline.Attempt
		for _, sub := range byLab[l.Slug] {
			atts = append(atts, attemptOf(sub))
			hl.Worked = later(hl.Worked, sub.CreatedAt)
		}
		hl.Held = hl.Policy.Held(atts, nil)
		files, err := s.d.Workspace.Files(ctx, viewer.ID, l.Slug)
		if err != nil {
			return nil, fmt.Errorf("saved files of user %d lab %q: %w", viewer.ID, l.Slug, err)
		}
		for _, f := range files {
			hl.Worked = later(hl.Worked, f.CreatedAt)
		}
		if !hl.Worked.IsZero() && (!h.ContinueOK || hl.Worked.After(h.Continue.Worked)) {
			h.Continue, h.ContinueOK = hl, true
		}
		h.Labs = append(h.Labs, hl)
	}
	for _, sub := range subs[:min(len(subs), RecentResults)] {
		p, _, err := policy(sub.Lab)
		if err != nil {
			return nil, err
		}
		a := attemptOf(sub)
		r := RecentResult{ScoredSubmission: ScoredSubmission{Submission: sub, Graded: a.Graded}, LabTitle: s.labTitle(sub.Lab)}
		if a.Graded {
			r.Scored = p.Score(a)
		}
		h.Recent = append(h.Recent, r)
	}
	return h, nil
}

// learnerPolicy returns one learner's policy on any lab, looking up their
// cohorts once and each cohort's settings once.
func (s *Service) learnerPolicy(ctx context.Context, userID int64) (func(lab string) (faultline.LabPolicy, bool, error), error) {
	cohorts, err := s.d.Scores.LearnerCohorts(ctx, []int64{userID})
	if err != nil {
		return nil, fmt.Errorf("learner cohorts of user %d: %w", userID, err)
	}
	cache := settingsCache{}
	return func(lab string) (faultline.LabPolicy, bool, error) {
		ps, err := s.policiesOf(ctx, cohorts, lab, cache)
		if err != nil {
			return faultline.LabPolicy{}, false, err
		}
		if p, ok := ps[userID]; ok {
			return p, true, nil
		}
		return faultline.LabPolicy{Lab: lab}, false, nil
	}, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// NextStep is where a learner goes after full marks on a lab: the next lab
// they have not finished (Lab nil when they finished every lab) and what
// they have read, to mark the lessons offered.
type NextStep struct {
	Lab  *faultline.Lab
	Read map[string]time.Time
}

// NextStep returns the next step after the submission sh when it is the
// viewer's own with full marks; ok is false otherwise.
func (s *Service) NextStep(ctx context.Context, viewer *faultline.User, sh *Shown) (next *NextStep, ok bool, err error) {
	if !sh.Own || !sh.Finished() || sh.Result == nil || sh.Result.MaxScore <= 0 || sh.Result.Score < sh.Result.MaxScore {
		return nil, false, nil
	}
	lab, found, err := s.NextLab(ctx, viewer, sh.Submission.Lab)
	if err != nil {
		return nil, false, err
	}
	p, err := s.Progress(ctx, viewer)
	if err != nil {
		return nil, false, err
	}
	n := &NextStep{Read: p.Read}
	if found {
		n.Lab = lab
	}
	return n, true, nil
}

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
	policies, err := s.policiesOf(ctx, viewer.ID)
	if err != nil {
		return nil, err
	}
	for _, l := range s.d.Labs.All() {
		hl := HomeLab{Lab: l}
		if hl.Policy, hl.InCohort, err = policies.policy(l.Slug); err != nil {
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
		p, _, err := policies.policy(sub.Lab)
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

// policiesOf looks up the cohorts userID learns in once, for their policy
// on any lab (each cohort's settings loaded once).
func (s *Service) policiesOf(ctx context.Context, userID int64) (*policyLookup, error) {
	cohorts, err := s.d.Scores.LearnerCohorts(ctx, []int64{userID})
	if err != nil {
		return nil, fmt.Errorf("learner cohorts of user %d: %w", userID, err)
	}
	return &policyLookup{s: s, ctx: ctx, cohorts: cohorts[userID], cache: settingsCache{}}, nil
}

// policyLookup finds one learner's policy lab by lab.
type policyLookup struct {
	s       *Service
	ctx     context.Context
	cohorts []int64
	cache   settingsCache
}

// policy returns the rules the learner works lab under, the same as
// policyFor decides, and false when no cohort of theirs sets any (the zero
// policy of the lab).
func (l *policyLookup) policy(lab string) (faultline.LabPolicy, bool, error) {
	if len(l.cohorts) == 0 {
		return faultline.LabPolicy{Lab: lab}, false, nil
	}
	var sets []*faultline.LabSettings
	for _, cid := range l.cohorts {
		st, err := l.s.cohortSettings(l.ctx, l.cache, cid, lab)
		if err != nil {
			return faultline.LabPolicy{}, false, err
		}
		sets = append(sets, st)
	}
	return faultline.PolicyFor(lab, sets), true, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

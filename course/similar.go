package course

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/faultline-dev/faultline"
)

// Reviewing submissions: the previous attempt, similar submissions of other
// learners, side-by-side comparisons.

// SimilarThreshold is the share of fingerprints two submissions must have in
// common to be listed as similar.
const SimilarThreshold = 0.8

// SimilarPair is two learners' submissions of a lab that share much code.
type SimilarPair struct {
	faultline.SimilarPair
	OwnerA, OwnerB *faultline.User
}

// LabSimilar compares the submissions holding the score of every learner of
// the cohort on the lab and returns the pairs at or above
// SimilarThreshold, highest first, and how many submissions were compared.
// ENOTFOUND unless viewer teaches the cohort and the lab exists.
func (s *Service) LabSimilar(ctx context.Context, viewer *faultline.User, cohortID int64, lab string) ([]SimilarPair, int, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, 0, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, 0, err
	}
	inputs, err := s.bestInputs(ctx, cohortID, l.Slug)
	if err != nil {
		return nil, 0, err
	}
	pairs, err := s.d.Similarity.SimilarPairs(l, inputs, SimilarThreshold)
	if err != nil {
		return nil, 0, fmt.Errorf("similar pairs of cohort %d lab %q: %w", cohortID, l.Slug, err)
	}
	owner := map[int64]int64{}
	for _, in := range inputs {
		owner[in.ID] = in.Owner
	}
	users := userCache{s: s, m: map[int64]*faultline.User{}}
	out := make([]SimilarPair, 0, len(pairs))
	for _, p := range pairs {
		a, err := users.get(ctx, owner[p.A])
		if err != nil {
			return nil, 0, err
		}
		b, err := users.get(ctx, owner[p.B])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, SimilarPair{SimilarPair: p, OwnerA: a, OwnerB: b})
	}
	return out, len(inputs), nil
}

// bestInputs returns the submission holding the score of every learner of
// the cohort on the lab, as similarity inputs whose files load on demand.
func (s *Service) bestInputs(ctx context.Context, cohortID int64, lab string) ([]faultline.SimilarityInput, error) {
	best, err := s.bestSubmissions(ctx, cohortID, lab)
	if err != nil {
		return nil, err
	}
	out := make([]faultline.SimilarityInput, 0, len(best))
	for uid, id := range best {
		out = append(out, s.similarityInput(ctx, id, uid, nil))
	}
	// A stable order, so pairs come out the same on every view.
	slices.SortFunc(out, func(a, b faultline.SimilarityInput) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *Service) similarityInput(ctx context.Context, id, owner int64, files []faultline.File) faultline.SimilarityInput {
	return faultline.SimilarityInput{ID: id, Owner: owner, Files: func() ([]faultline.File, error) {
		if files != nil {
			return files, nil
		}
		sub, err := s.d.Submissions.FindSubmission(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("find submission %d: %w", id, err)
		}
		return sub.Files, nil
	}}
}

// userCache looks users up once each.
type userCache struct {
	s *Service
	m map[int64]*faultline.User
}

func (c userCache) get(ctx context.Context, id int64) (*faultline.User, error) {
	if u, ok := c.m[id]; ok {
		return u, nil
	}
	u, err := c.s.d.Users.FindUserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("find user %d: %w", id, err)
	}
	c.m[id] = u
	return u, nil
}

// Review is what a submission page shows beyond the result.
type Review struct {
	// Previous is the learner's submission of the lab made just before
	// (nil for the first), with its files.
	Previous *faultline.Submission
	// Cohorts are the cohorts in which the viewer teaches the owner as a
	// learner (empty when the viewer is the owner).
	Cohorts []*faultline.Cohort
	// Similar are other learners' submissions (of those cohorts) much like
	// this one; only for the owner's teachers.
	Similar []SimilarFlag
}

// SimilarFlag is one submission of another learner much like the one
// reviewed.
type SimilarFlag struct {
	faultline.SimilarPair
	Owner  *faultline.User
	Cohort *faultline.Cohort
}

// Review returns what the page of a submission the viewer may see shows
// beyond its result (see Review).
func (s *Service) Review(ctx context.Context, viewer *faultline.User, sh *Shown) (*Review, error) {
	sub := sh.Submission
	rv := &Review{}
	prev, err := s.previousAttempt(ctx, sub)
	if err != nil {
		return nil, err
	}
	rv.Previous = prev
	if sh.Own {
		return rv, nil
	}
	if rv.Cohorts, err = s.learnerCohortsTaughtBy(ctx, viewer, sub.UserID); err != nil {
		return nil, err
	}
	if sh.Lab == nil {
		return rv, nil
	}
	users := userCache{s: s, m: map[int64]*faultline.User{}}
	seen := map[int64]bool{}
	for _, c := range rv.Cohorts {
		others, err := s.bestInputs(ctx, c.ID, sub.Lab)
		if err != nil {
			return nil, err
		}
		owners := map[int64]int64{}
		for _, o := range others {
			owners[o.ID] = o.Owner
		}
		pairs, err := s.d.Similarity.SimilarTo(sh.Lab, s.similarityInput(ctx, sub.ID, sub.UserID, sub.Files), others, SimilarThreshold)
		if err != nil {
			return nil, fmt.Errorf("submissions like %d in cohort %d: %w", sub.ID, c.ID, err)
		}
		for _, p := range pairs {
			if seen[p.B] {
				continue
			}
			seen[p.B] = true
			u, err := users.get(ctx, owners[p.B])
			if err != nil {
				return nil, err
			}
			rv.Similar = append(rv.Similar, SimilarFlag{SimilarPair: p, Owner: u, Cohort: c})
		}
	}
	return rv, nil
}

// previousAttempt finds the learner's submission of the same lab made just
// before sub, with its files; nil for the first.
func (s *Service) previousAttempt(ctx context.Context, sub *faultline.Submission) (*faultline.Submission, error) {
	subs, err := s.d.Submissions.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: sub.UserID, Lab: sub.Lab, Limit: 100000})
	if err != nil {
		return nil, fmt.Errorf("submissions of user %d for lab %q: %w", sub.UserID, sub.Lab, err)
	}
	for _, o := range subs { // newest first
		if o.ID != sub.ID && (o.CreatedAt.Before(sub.CreatedAt) || o.CreatedAt.Equal(sub.CreatedAt) && o.ID < sub.ID) {
			prev, err := s.d.Submissions.FindSubmission(ctx, o.ID)
			if err != nil {
				return nil, fmt.Errorf("find submission %d: %w", o.ID, err)
			}
			return prev, nil
		}
	}
	return nil, nil
}

// Compared is one side of a comparison: a submission and its learner.
type Compared struct {
	Submission *faultline.Submission
	Owner      *faultline.User
}

// Compare returns two submissions of the lab by learners of the cohort, for
// the cohort's teachers to compare; ENOTFOUND for anything else.
func (s *Service) Compare(ctx context.Context, viewer *faultline.User, cohortID int64, lab string, a, b int64) (*Compared, *Compared, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, nil, err
	}
	side := func(id int64) (*Compared, error) {
		if id <= 0 {
			return nil, errNoSubmission
		}
		sub, err := s.d.Submissions.FindSubmission(ctx, id)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return nil, errNoSubmission
		} else if err != nil {
			return nil, fmt.Errorf("find submission %d: %w", id, err)
		}
		if sub.Lab != l.Slug {
			return nil, errNoSubmission
		}
		if err := s.learnerOf(ctx, cohortID, sub.UserID); err != nil {
			return nil, errNoSubmission
		}
		u, err := s.d.Users.FindUserByID(ctx, sub.UserID)
		if err != nil {
			return nil, fmt.Errorf("find user %d: %w", sub.UserID, err)
		}
		return &Compared{Submission: sub, Owner: u}, nil
	}
	ca, err := side(a)
	if err != nil {
		return nil, nil, err
	}
	cb, err := side(b)
	if err != nil {
		return nil, nil, err
	}
	return ca, cb, nil
}

package course

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// Who may see what. Every verb that shows or changes something of a cohort
// or of another user's work goes through one of these; a refusal is always
// ENOTFOUND, as for something that does not exist, so pages never admit
// what they hide.

var (
	errNoCohort     = faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	errNoSubmission = faultline.Errorf(faultline.ENOTFOUND, "There is no such submission.")
	errNoPage       = faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	errNoLearner    = faultline.Errorf(faultline.ENOTFOUND, "There is no such learner in this cohort.")
)

// teaches reports whether viewer teaches the cohort: an admin, or its
// instructor or a co-instructor.
func (s *Service) teaches(ctx context.Context, viewer *faultline.User, cohortID int64) (bool, error) {
	if viewer == nil {
		return false, nil
	}
	if viewer.Role == faultline.RoleAdmin {
		return true, nil
	}
	role, err := s.d.Cohorts.MemberRole(ctx, cohortID, viewer.ID)
	switch faultline.ErrorCode(err) {
	case "":
		return role.Teaches(), nil
	case faultline.ENOTFOUND:
		return false, nil
	}
	return false, fmt.Errorf("role of user %d in cohort %d: %w", viewer.ID, cohortID, err)
}

// TeachesAnywhere reports whether viewer teaches at all: an instructor or
// admin account, or a member who teaches some cohort. A cohort's instructor
// can make any member a co-instructor, a learner account included; that
// gives them the cohort's instructor pages, not the right to create cohorts.
func (s *Service) TeachesAnywhere(ctx context.Context, viewer *faultline.User) (bool, error) {
	if viewer == nil {
		return false, nil
	}
	if viewer.CanTeach() {
		return true, nil
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, viewer.ID)
	if err != nil {
		return false, fmt.Errorf("list cohorts of user %d: %w", viewer.ID, err)
	}
	for _, c := range cs {
		ok, err := s.teaches(ctx, viewer, c.ID)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// Cohort returns the cohort if viewer teaches it; ENOTFOUND for anyone else,
// as for a cohort that does not exist.
func (s *Service) Cohort(ctx context.Context, viewer *faultline.User, id int64) (*faultline.Cohort, error) {
	if id <= 0 {
		return nil, errNoCohort
	}
	ok, err := s.teaches(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoCohort
	}
	c, err := s.d.Cohorts.FindCohortByID(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoCohort
	} else if err != nil {
		return nil, fmt.Errorf("find cohort %d: %w", id, err)
	}
	return c, nil
}

// TaughtCohorts lists the cohorts viewer teaches (every cohort for an
// admin), newest first.
func (s *Service) TaughtCohorts(ctx context.Context, viewer *faultline.User) ([]*faultline.Cohort, error) {
	if viewer == nil {
		return nil, nil
	}
	var id int64
	if viewer.Role != faultline.RoleAdmin {
		id = viewer.ID
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", id, err)
	}
	out := []*faultline.Cohort{}
	for _, c := range cs {
		ok, err := s.teaches(ctx, viewer, c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// MyCohort is a cohort the viewer belongs to, with their role in it.
type MyCohort struct {
	*faultline.Cohort
	Role    faultline.MemberRole
	Teaches bool // the viewer may open its instructor pages
}

// MyCohorts lists the cohorts viewer belongs to (any role), newest first.
func (s *Service) MyCohorts(ctx context.Context, viewer *faultline.User) ([]MyCohort, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, viewer.ID)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", viewer.ID, err)
	}
	out := make([]MyCohort, 0, len(cs))
	for _, c := range cs {
		role, err := s.d.Cohorts.MemberRole(ctx, c.ID, viewer.ID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("role of user %d in cohort %d: %w", viewer.ID, c.ID, err)
		}
		out = append(out, MyCohort{Cohort: c, Role: role, Teaches: role.Teaches() || viewer.Role == faultline.RoleAdmin})
	}
	return out, nil
}

// canSeeWorkOf reports whether viewer may see the work of the user ownerID:
// the owner, an admin, or someone who teaches a cohort ownerID belongs to.
func (s *Service) canSeeWorkOf(ctx context.Context, viewer *faultline.User, ownerID int64) (bool, error) {
	switch {
	case viewer == nil:
		return false, nil
	case viewer.ID == ownerID || viewer.Role == faultline.RoleAdmin:
		return true, nil
	}
	cs, err := s.learnerCohortsTaughtBy(ctx, viewer, ownerID)
	return len(cs) > 0, err
}

// learnerCohortsTaughtBy returns the cohorts in which ownerID is a learner
// and viewer teaches (every such cohort, for an admin), newest first.
func (s *Service) learnerCohortsTaughtBy(ctx context.Context, viewer *faultline.User, ownerID int64) ([]*faultline.Cohort, error) {
	if viewer == nil {
		return nil, nil
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", ownerID, err)
	}
	var out []*faultline.Cohort
	for _, c := range cs {
		role, err := s.d.Cohorts.MemberRole(ctx, c.ID, ownerID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("role of user %d in cohort %d: %w", ownerID, c.ID, err)
		}
		if role != faultline.MemberLearner {
			continue
		}
		ok, err := s.teaches(ctx, viewer, c.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// learnerOf returns errNoLearner unless userID is a learner of the cohort.
func (s *Service) learnerOf(ctx context.Context, cohortID, userID int64) error {
	if userID <= 0 {
		return errNoLearner
	}
	role, err := s.d.Cohorts.MemberRole(ctx, cohortID, userID)
	switch {
	case faultline.ErrorCode(err) == faultline.ENOTFOUND || err == nil && role != faultline.MemberLearner:
		return errNoLearner
	case err != nil:
		return fmt.Errorf("role of user %d in cohort %d: %w", userID, cohortID, err)
	}
	return nil
}

// submission loads a submission viewer may see: their own, or the work of a
// learner of a cohort they teach (any, for an admin). Anyone else gets
// ENOTFOUND, as for a submission that does not exist.
func (s *Service) submission(ctx context.Context, viewer *faultline.User, id int64) (*faultline.Submission, error) {
	if viewer == nil || id <= 0 {
		return nil, errNoSubmission
	}
	sub, err := s.d.Submissions.FindSubmission(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoSubmission
	} else if err != nil {
		return nil, fmt.Errorf("find submission %d: %w", id, err)
	}
	ok, err := s.canSeeWorkOf(ctx, viewer, sub.UserID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoSubmission
	}
	return sub, nil
}

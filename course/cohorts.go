package course

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/faultline-dev/faultline"
)

// Cohorts: creating them, their invite links, rosters and per-lab settings.

// CreateCohort creates a cohort taught by viewer with a fresh invite link.
// ENOTFOUND for anyone who may not create cohorts (learner accounts,
// co-instructors among them), EINVALID for a bad name.
func (s *Service) CreateCohort(ctx context.Context, viewer *faultline.User, name string) (*faultline.Cohort, error) {
	if !viewer.CanTeach() {
		return nil, errNoPage
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return nil, faultline.Errorf(faultline.EINVALID, "Give the cohort a name of 1 to 100 characters.")
	}
	c := &faultline.Cohort{Name: name, InviteCode: RandomToken(18), CreatedBy: viewer.ID}
	if err := s.d.Cohorts.CreateCohort(ctx, c); err != nil {
		return nil, internal(err, "create cohort %q by user %d", name, viewer.ID)
	}
	return c, nil
}

// Members lists the cohort's members, by role then name; ENOTFOUND unless
// viewer teaches it.
func (s *Service) Members(ctx context.Context, viewer *faultline.User, cohortID int64) ([]*faultline.Member, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	ms, err := s.d.Cohorts.ListMembers(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("list members of cohort %d: %w", cohortID, err)
	}
	return ms, nil
}

// SetInviteExpiry sets when the cohort's invite link stops working (zero:
// never); RegenerateInvite replaces its code, keeping the expiry (the old
// link stops working). Both ENOTFOUND unless viewer teaches the cohort.
func (s *Service) SetInviteExpiry(ctx context.Context, viewer *faultline.User, cohortID int64, expires time.Time) (*faultline.Cohort, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	return s.setInvite(ctx, c, c.InviteCode, expires)
}

// RegenerateInvite: see SetInviteExpiry.
func (s *Service) RegenerateInvite(ctx context.Context, viewer *faultline.User, cohortID int64) (*faultline.Cohort, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	return s.setInvite(ctx, c, RandomToken(18), c.InviteExpiresAt)
}

func (s *Service) setInvite(ctx context.Context, c *faultline.Cohort, code string, expires time.Time) (*faultline.Cohort, error) {
	out, err := s.d.Cohorts.SetInvite(ctx, c.ID, code, expires)
	if err != nil {
		return nil, internal(err, "set invite of cohort %d", c.ID)
	}
	return out, nil
}

// member returns the member userID of a cohort viewer teaches; ENOTFOUND
// when they are not on its roster.
func (s *Service) member(ctx context.Context, viewer *faultline.User, cohortID, userID int64) (*faultline.Cohort, *faultline.Member, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, nil, err
	}
	ms, err := s.d.Cohorts.ListMembers(ctx, c.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("list members of cohort %d: %w", c.ID, err)
	}
	for _, m := range ms {
		if m.User.ID == userID {
			return c, m, nil
		}
	}
	return nil, nil, faultline.Errorf(faultline.ENOTFOUND, "That user is not a member of this cohort.")
}

// Member returns one member of a cohort viewer teaches (for confirming a
// removal); ENOTFOUND otherwise.
func (s *Service) Member(ctx context.Context, viewer *faultline.User, cohortID, userID int64) (*faultline.Member, error) {
	_, m, err := s.member(ctx, viewer, cohortID, userID)
	return m, err
}

// SetMemberRole makes a member a learner or a co-instructor. EINVALID for
// another role, ECONFLICT for the cohort's instructor (who keeps the role).
func (s *Service) SetMemberRole(ctx context.Context, viewer *faultline.User, cohortID, userID int64, role faultline.MemberRole) error {
	c, m, err := s.member(ctx, viewer, cohortID, userID)
	if err != nil {
		return err
	}
	if role != faultline.MemberLearner && role != faultline.MemberCoInstructor {
		return faultline.Errorf(faultline.EINVALID, "A member can be made a learner or a co-instructor.")
	}
	if m.Role == faultline.MemberInstructor {
		return faultline.Errorf(faultline.ECONFLICT, "The cohort's instructor keeps their role.")
	}
	if err := s.d.Cohorts.AddMember(ctx, c.ID, userID, role); err != nil {
		return internal(err, "set role of user %d in cohort %d", userID, c.ID)
	}
	return nil
}

// RemoveMember takes a member off the roster; their work is kept.
// ECONFLICT for the cohort's last instructor.
func (s *Service) RemoveMember(ctx context.Context, viewer *faultline.User, cohortID, userID int64) error {
	c, m, err := s.member(ctx, viewer, cohortID, userID)
	if err != nil {
		return err
	}
	if err := s.d.Cohorts.RemoveMember(ctx, c.ID, m.User.ID); err != nil {
		return internal(err, "remove user %d from cohort %d", m.User.ID, c.ID)
	}
	return nil
}

// MoveMember moves a learner to another cohort viewer also teaches, keeping
// their work. ENOTFOUND for a cohort viewer does not teach.
func (s *Service) MoveMember(ctx context.Context, viewer *faultline.User, cohortID, userID, to int64) error {
	c, m, err := s.member(ctx, viewer, cohortID, userID)
	if err != nil {
		return err
	}
	if to <= 0 {
		return faultline.Errorf(faultline.EINVALID, "Choose a cohort to move to.")
	}
	if _, err := s.Cohort(ctx, viewer, to); err != nil {
		return faultline.Errorf(faultline.ENOTFOUND, "You can move learners only to a cohort you teach.")
	}
	if err := s.d.Cohorts.MoveMember(ctx, m.User.ID, c.ID, to); err != nil {
		return internal(err, "move user %d from cohort %d to %d", m.User.ID, c.ID, to)
	}
	return nil
}

// LabSettings returns a cohort's settings of a lab (defaults when never
// set); ENOTFOUND unless viewer teaches the cohort and the lab exists.
func (s *Service) LabSettings(ctx context.Context, viewer *faultline.User, cohortID int64, lab string) (*faultline.LabSettings, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, err
	}
	st, err := s.d.Instructor.LabSettings(ctx, cohortID, l.Slug)
	if err != nil {
		return nil, fmt.Errorf("lab settings of cohort %d lab %q: %w", cohortID, l.Slug, err)
	}
	return st, nil
}

// SetLabSettings validates and stores a cohort's settings of a lab
// (st.CohortID and st.Lab name them). EINVALID says what to fix; ENOTFOUND
// unless viewer teaches the cohort and the lab exists.
func (s *Service) SetLabSettings(ctx context.Context, viewer *faultline.User, st *faultline.LabSettings) error {
	if _, err := s.Cohort(ctx, viewer, st.CohortID); err != nil {
		return err
	}
	if _, err := s.Lab(st.Lab); err != nil {
		return err
	}
	if err := s.d.Instructor.SetLabSettings(ctx, st); err != nil {
		return internal(err, "set lab settings of cohort %d lab %q", st.CohortID, st.Lab)
	}
	return nil
}

// LearnerLab is one learner's work on one lab, for their teacher.
type LearnerLab struct {
	Learner  *faultline.User
	Standing *LabStanding
}

// LearnerLab returns a learner's submissions of a lab (newest first, each
// scored under their policy) and what they hold; ENOTFOUND unless viewer
// teaches the cohort and userID is one of its learners.
func (s *Service) LearnerLab(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) (*LearnerLab, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, err
	}
	if err := s.learnerOf(ctx, cohortID, userID); err != nil {
		return nil, err
	}
	u, err := s.d.Users.FindUserByID(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("find user %d: %w", userID, err)
	}
	st, err := s.standing(ctx, userID, l, 500)
	if err != nil {
		return nil, err
	}
	return &LearnerLab{Learner: u, Standing: st}, nil
}

package course

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/faultline-dev/faultline"
)

// Small groups discuss the case studies' prompts. An instructor splits the
// cohort into groups (at random, of about k each, or by hand); each group
// has its own thread per prompt, seen by the group and staff; staff see the
// groups side by side and may share one group's thread with the cohort.

// GroupsPage is the cohort's groups for staff.
type GroupsPage struct {
	Cohort    *faultline.Cohort
	Groups    []GroupMembers
	Ungrouped []*faultline.User // learners in no current group
	Cases     []*faultline.Lesson
}

// GroupMembers is a group with its members.
type GroupMembers struct {
	Group   *faultline.Group
	Members []*faultline.User
}

// Groups returns the cohort's current groups with their members and the
// learners in none; staff only (ENOTFOUND for anyone else).
func (s *Service) Groups(ctx context.Context, viewer *faultline.User, cohortID int64) (*GroupsPage, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	gs, err := s.d.Groups.ListGroups(ctx, c.ID, false)
	if err != nil {
		return nil, fmt.Errorf("groups of cohort %d: %w", c.ID, err)
	}
	learners, err := s.cohortLearners(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*faultline.User{}
	for _, u := range learners {
		byID[u.ID] = u
	}
	pg := &GroupsPage{Cohort: c}
	grouped := map[int64]bool{}
	for _, g := range gs {
		gm := GroupMembers{Group: g}
		for _, id := range g.Members {
			if u := byID[id]; u != nil {
				gm.Members = append(gm.Members, u)
				grouped[id] = true
			}
		}
		pg.Groups = append(pg.Groups, gm)
	}
	for _, u := range learners {
		if !grouped[u.ID] {
			pg.Ungrouped = append(pg.Ungrouped, u)
		}
	}
	return pg, nil
}

// cohortLearners lists the cohort's learners by name.
func (s *Service) cohortLearners(ctx context.Context, cohortID int64) ([]*faultline.User, error) {
	ms, err := s.d.Cohorts.ListMembers(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("members of cohort %d: %w", cohortID, err)
	}
	var out []*faultline.User
	for _, m := range ms {
		if m.Role == faultline.MemberLearner {
			out = append(out, m.User)
		}
	}
	return out, nil
}

// MaxGroupSize bounds the size asked of a random split.
const MaxGroupSize = 50

// SplitGroups splits the cohort's learners at random into groups of about
// size each ("Group 1", "Group 2", …; the remainder spread over the groups
// so none is much smaller), archiving the current groups (their threads
// stay readable to their members). Staff only; EINVALID for a size out of
// 2..MaxGroupSize or a cohort without learners.
func (s *Service) SplitGroups(ctx context.Context, viewer *faultline.User, cohortID int64, size int) ([]*faultline.Group, error) {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	if size < 2 || size > MaxGroupSize {
		return nil, faultline.Errorf(faultline.EINVALID, "Groups must have 2 to %d learners.", MaxGroupSize)
	}
	learners, err := s.cohortLearners(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if len(learners) == 0 {
		return nil, faultline.Errorf(faultline.EINVALID, "The cohort has no learners to split yet.")
	}
	ids := make([]int64, len(learners))
	for i, u := range learners {
		ids[i] = u.ID
	}
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	groups := splitEvenly(ids, size)
	if err := s.d.Groups.ReplaceGroups(ctx, c.ID, groups); err != nil {
		return nil, internal(err, "split cohort %d into groups", c.ID)
	}
	d := &discussant{user: viewer, cohort: c, staff: true}
	s.audit(ctx, d, "split into groups", c.Name, fmt.Sprintf("%d groups of about %d", len(groups), size))
	return groups, nil
}

// splitEvenly deals ids into ceil-free groups of about size: as many
// groups as fit size, the remainder dealt one each over the groups.
func splitEvenly(ids []int64, size int) []*faultline.Group {
	n := max(len(ids)/size, 1)
	groups := make([]*faultline.Group, n)
	for i := range groups {
		groups[i] = &faultline.Group{Name: "Group " + strconv.Itoa(i+1)}
	}
	for i, id := range ids {
		g := groups[i%n]
		g.Members = append(g.Members, id)
	}
	return groups
}

// NewGroup adds an empty group to the cohort's current ones, for a split
// by hand; staff only. EINVALID for an empty or long name, ECONFLICT for a
// name a current group has.
func (s *Service) NewGroup(ctx context.Context, viewer *faultline.User, cohortID int64, name string) (*faultline.Group, error) {
	pg, err := s.Groups(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	name = oneLine(name, 200)
	if name == "" || len([]rune(name)) > 60 {
		return nil, faultline.Errorf(faultline.EINVALID, "Give the group a name of 1 to 60 characters.")
	}
	for _, g := range pg.Groups {
		if g.Group.Name == name {
			return nil, faultline.Errorf(faultline.ECONFLICT, "There is a group called %q already.", name)
		}
	}
	g := &faultline.Group{CohortID: pg.Cohort.ID, Name: name}
	if err := s.d.Groups.AddGroup(ctx, g); err != nil {
		return nil, internal(err, "create group in cohort %d", pg.Cohort.ID)
	}
	s.audit(ctx, &discussant{user: viewer, cohort: pg.Cohort, staff: true}, "create group", name, "")
	return g, nil
}

// MoveToGroup moves a learner of the cohort into one of its current groups
// (groupID 0: out of every group); staff only. ENOTFOUND for a learner or
// group not of the cohort.
func (s *Service) MoveToGroup(ctx context.Context, viewer *faultline.User, cohortID, userID, groupID int64) error {
	c, err := s.Cohort(ctx, viewer, cohortID)
	if err != nil {
		return err
	}
	if err := s.learnerOf(ctx, c.ID, userID); err != nil {
		return err
	}
	if err := s.d.Groups.SetGroupMember(ctx, c.ID, userID, groupID); err != nil {
		return internal(err, "move user %d to group %d", userID, groupID)
	}
	u := s.userOrNil(ctx, userID)
	target := "no group"
	if groupID != 0 {
		if g, err := s.d.Groups.FindGroup(ctx, groupID); err == nil {
			target = g.Name
		}
	}
	s.audit(ctx, &discussant{user: viewer, cohort: c, staff: true}, "move to group", u.Name, target)
	return nil
}

// CaseBoard is a case study's prompts with every group's thread on each,
// side by side, for staff.
type CaseBoard struct {
	Cohort  *faultline.Cohort
	Case    *faultline.Lesson
	Groups  []GroupMembers
	Prompts []BoardPrompt
}

// BoardPrompt is one prompt with each group's thread (in Groups' order).
type BoardPrompt struct {
	N       int
	Text    string
	Threads []*ThreadPage // nil where a group has not started
}

// CaseBoard returns a case study's prompts with every current group's
// thread on each; staff only (ENOTFOUND for anyone else or an unknown case).
func (s *Service) CaseBoard(ctx context.Context, viewer *faultline.User, cohortID int64, caseSlug string) (*CaseBoard, error) {
	pg, err := s.Groups(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	l, err := s.d.Lessons.Lesson(caseSlug)
	if err != nil || l.Kind != "case" {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no case study %q.", caseSlug)
	}
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	b := &CaseBoard{Cohort: pg.Cohort, Case: l, Groups: pg.Groups}
	for i, text := range l.Discussion {
		bp := BoardPrompt{N: i + 1, Text: text}
		for _, g := range pg.Groups {
			t, err := s.d.Discussions.FindGroupThread(ctx, g.Group.ID, l.Slug, i+1)
			if faultline.ErrorCode(err) == faultline.ENOTFOUND {
				bp.Threads = append(bp.Threads, nil)
				continue
			} else if err != nil {
				return nil, fmt.Errorf("thread of group %d: %w", g.Group.ID, err)
			}
			tp, err := s.threadPage(ctx, d, t)
			if err != nil {
				return nil, err
			}
			bp.Threads = append(bp.Threads, tp)
		}
		b.Prompts = append(b.Prompts, bp)
	}
	return b, nil
}

// StartPrompt opens the viewer's group's thread on prompt n (1-based) of a
// case study, or returns it when the group has one: learners in a current
// group of the cohort; staff name the group. ENOTFOUND for an unknown case
// or prompt, a group not of the cohort, or a learner outside every group.
func (s *Service) StartPrompt(ctx context.Context, viewer *faultline.User, cohortID int64, caseSlug string, n int, groupID int64) (*faultline.Thread, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	l, err := s.d.Lessons.Lesson(caseSlug)
	if err != nil || l.Kind != "case" || n < 1 || n > len(l.Discussion) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such prompt.")
	}
	var g *faultline.Group
	if d.staff {
		if groupID > 0 {
			if g, err = s.d.Groups.FindGroup(ctx, groupID); err != nil || g.CohortID != cohortID || g.Archived {
				return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such group.")
			}
		}
	} else if g, err = s.currentGroup(ctx, cohortID, viewer.ID); err != nil {
		return nil, err
	}
	if g == nil {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "You are in no discussion group of this cohort yet; your instructor sets them up.")
	}
	t, err := s.d.Discussions.FindGroupThread(ctx, g.ID, l.Slug, n)
	if err == nil {
		return t, nil
	} else if faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return nil, fmt.Errorf("thread of group %d: %w", g.ID, err)
	}
	t = &faultline.Thread{CohortID: cohortID, Place: faultline.Place{Kind: faultline.PlaceCase, Slug: l.Slug},
		Kind: faultline.ThreadDiscussion, Title: oneLine(l.Discussion[n-1], faultline.MaxTitle), GroupID: g.ID, Prompt: n}
	err = s.d.Discussions.CreateThread(ctx, t, nil)
	if faultline.ErrorCode(err) == faultline.ECONFLICT { // a groupmate opened it at the same moment
		return s.d.Discussions.FindGroupThread(ctx, g.ID, l.Slug, n)
	} else if err != nil {
		return nil, internal(err, "open prompt %d of %s for group %d", n, l.Slug, g.ID)
	}
	return t, nil
}

// MyGroup returns the viewer's current group in the cohort with its
// members (nil when they are in none).
func (s *Service) MyGroup(ctx context.Context, viewer *faultline.User, cohortID int64) (*GroupMembers, error) {
	d, err := s.discussant(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	g, err := s.currentGroup(ctx, d.cohort.ID, viewer.ID)
	if err != nil || g == nil {
		return nil, err
	}
	gm := &GroupMembers{Group: g}
	n := s.names()
	for _, id := range g.Members {
		u, err := n.user(ctx, id)
		if err != nil {
			return nil, err
		}
		gm.Members = append(gm.Members, u)
	}
	slices.SortFunc(gm.Members, func(a, b *faultline.User) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return gm, nil
}

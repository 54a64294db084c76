package course

import (
	"context"
	"fmt"
	"slices"

	"github.com/faultline-dev/faultline"
)

// The one score. A learner holds one score per lab, decided by
// faultline.LabPolicy.Held from their attempts under the rules of the
// cohorts they learn in; every surface (result page, lab page, home page,
// gradebook and its CSV, the API, the heat map, the charts) reads it through
// the functions of this file.

// policyFor returns the rules userID works lab under and whether any cohort
// sets them (false: the zero policy of a learner in no cohort).
func (s *Service) policyFor(ctx context.Context, userID int64, lab string) (faultline.LabPolicy, bool, error) {
	ps, err := s.policies(ctx, []int64{userID}, lab, nil)
	if err != nil {
		return faultline.LabPolicy{}, false, err
	}
	p, ok := ps[userID]
	if !ok {
		return faultline.LabPolicy{Lab: lab}, false, nil
	}
	return p, true, nil
}

// settingsCache holds cohorts' lab settings loaded during one call.
type settingsCache map[int64]map[string]*faultline.LabSettings

// policies returns the policy of each of userIDs for lab; users in no cohort
// are absent. cache may be nil.
func (s *Service) policies(ctx context.Context, userIDs []int64, lab string, cache settingsCache) (map[int64]faultline.LabPolicy, error) {
	cohorts, err := s.d.Scores.LearnerCohorts(ctx, userIDs)
	if err != nil {
		return nil, fmt.Errorf("learner cohorts: %w", err)
	}
	return s.policiesOf(ctx, cohorts, lab, cache)
}

// policiesOf is policies for learners whose cohorts are known, each under
// their extension of the lab when they have one.
func (s *Service) policiesOf(ctx context.Context, cohorts map[int64][]int64, lab string, cache settingsCache) (map[int64]faultline.LabPolicy, error) {
	if cache == nil {
		cache = settingsCache{}
	}
	userIDs := make([]int64, 0, len(cohorts))
	for uid := range cohorts {
		userIDs = append(userIDs, uid)
	}
	exts, err := s.d.Feedback.Extensions(ctx, userIDs, lab)
	if err != nil {
		return nil, fmt.Errorf("extensions of %q: %w", lab, err)
	}
	out := make(map[int64]faultline.LabPolicy, len(cohorts))
	for uid, cids := range cohorts {
		var sets []*faultline.LabSettings
		for _, cid := range cids {
			st, err := s.cohortSettings(ctx, cache, cid, lab)
			if err != nil {
				return nil, err
			}
			sets = append(sets, st)
		}
		out[uid] = faultline.PolicyFor(lab, sets).WithExtension(exts[uid])
	}
	return out, nil
}

// cohortSettings returns the cohort's settings for lab (its defaults when
// unset), loading every lab's settings of the cohort once per cache.
func (s *Service) cohortSettings(ctx context.Context, cache settingsCache, cohortID int64, lab string) (*faultline.LabSettings, error) {
	m, ok := cache[cohortID]
	if !ok {
		list, err := s.d.Instructor.ListLabSettings(ctx, cohortID)
		if err != nil {
			return nil, fmt.Errorf("lab settings of cohort %d: %w", cohortID, err)
		}
		m = map[string]*faultline.LabSettings{}
		for _, st := range list {
			m[st.Lab] = st
		}
		cache[cohortID] = m
	}
	if st, ok := m[lab]; ok {
		return st, nil
	}
	return faultline.DefaultLabSettings(cohortID, lab), nil
}

// attemptOf is a submission as the score rules see it.
func attemptOf(sub *faultline.Submission) faultline.Attempt {
	a := faultline.Attempt{SubmissionID: sub.ID, At: sub.CreatedAt}
	if sub.Result != nil && sub.Result.Status != faultline.StatusError {
		a.Graded, a.Score, a.MaxScore = true, sub.Result.Score, sub.Result.MaxScore
	}
	return a
}

// cellKey names one learner's lab.
type cellKey struct {
	user int64
	lab  string
}

// cohortHeld decides the held score of every learner of the cohort on lab
// (every lab when lab is ""), with each learner's attempts. Learners without
// a submission are absent.
func (s *Service) cohortHeld(ctx context.Context, cohortID int64, lab string) (map[cellKey]faultline.HeldScore, map[cellKey][]*faultline.LearnerAttempt, error) {
	atts, err := s.d.Scores.CohortAttempts(ctx, cohortID, lab)
	if err != nil {
		return nil, nil, fmt.Errorf("attempts of cohort %d: %w", cohortID, err)
	}
	byCell := map[cellKey][]*faultline.LearnerAttempt{}
	byLab := map[string][]int64{}
	for _, a := range atts {
		k := cellKey{a.UserID, a.Lab}
		if _, seen := byCell[k]; !seen {
			byLab[a.Lab] = append(byLab[a.Lab], a.UserID)
		}
		byCell[k] = append(byCell[k], a)
	}
	cache := settingsCache{}
	held := make(map[cellKey]faultline.HeldScore, len(byCell))
	for l, users := range byLab {
		ps, err := s.policies(ctx, users, l, cache)
		if err != nil {
			return nil, nil, err
		}
		adj, err := s.adjustments(ctx, users, l)
		if err != nil {
			return nil, nil, err
		}
		for _, uid := range users {
			k := cellKey{uid, l}
			list := make([]faultline.Attempt, len(byCell[k]))
			for i, a := range byCell[k] {
				list[i] = a.Attempt
			}
			p, ok := ps[uid]
			if !ok {
				p = faultline.LabPolicy{Lab: l}
			}
			held[k] = p.Held(list, adj[k])
		}
	}
	return held, byCell, nil
}

// adjustments returns the manual adjustments of userIDs on lab (every lab
// when lab is ""), by learner and lab.
func (s *Service) adjustments(ctx context.Context, userIDs []int64, lab string) (map[cellKey][]faultline.Adjustment, error) {
	list, err := s.d.Feedback.Adjustments(ctx, userIDs, lab)
	if err != nil {
		return nil, fmt.Errorf("adjustments on %q: %w", lab, err)
	}
	out := map[cellKey][]faultline.Adjustment{}
	for _, a := range list {
		k := cellKey{a.UserID, a.Lab}
		out[k] = append(out[k], a)
	}
	return out, nil
}

// LabStanding is what one learner holds on one lab.
type LabStanding struct {
	Lab      *faultline.Lab
	Policy   faultline.LabPolicy // under their extension, if any
	InCohort bool                // some cohort sets the rules
	Held     faultline.HeldScore
	// Adjustments are staff's manual changes to the score, oldest first;
	// Extension is the learner's extension of the lab (nil: none).
	Adjustments []faultline.Adjustment
	Extension   *faultline.Extension
	// Submissions are the learner's submissions of the lab, newest first,
	// each with its score under the policy (for finished ones).
	Submissions []ScoredSubmission
	Counts      faultline.SubmissionCount
}

// ScoredSubmission is a submission with its score under the learner's
// policy (Scored is zero until it is graded).
type ScoredSubmission struct {
	*faultline.Submission
	Graded bool
	Scored faultline.Scored
}

// standing returns what userID holds on lab with their submissions (at most
// limit of them listed, newest first; the score counts every one).
func (s *Service) standing(ctx context.Context, userID int64, l *faultline.Lab, limit int) (*LabStanding, error) {
	p, in, err := s.policyFor(ctx, userID, l.Slug)
	if err != nil {
		return nil, err
	}
	subs, err := s.d.Submissions.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: userID, Lab: l.Slug, Limit: 100000})
	if err != nil {
		return nil, fmt.Errorf("submissions of user %d lab %q: %w", userID, l.Slug, err)
	}
	st := &LabStanding{Lab: l, Policy: p, InCohort: in}
	atts := make([]faultline.Attempt, 0, len(subs))
	for i, sub := range subs {
		a := attemptOf(sub)
		atts = append(atts, a)
		if i < limit {
			ss := ScoredSubmission{Submission: sub, Graded: a.Graded}
			if a.Graded {
				ss.Scored = p.Score(a)
			}
			st.Submissions = append(st.Submissions, ss)
		}
	}
	adj, err := s.adjustments(ctx, []int64{userID}, l.Slug)
	if err != nil {
		return nil, err
	}
	st.Adjustments = adj[cellKey{userID, l.Slug}]
	st.Held = p.Held(atts, st.Adjustments)
	if p.Extended {
		exts, err := s.d.Feedback.Extensions(ctx, []int64{userID}, l.Slug)
		if err != nil {
			return nil, fmt.Errorf("extension of user %d on %q: %w", userID, l.Slug, err)
		}
		st.Extension = exts[userID]
	}
	if st.Counts, err = s.d.Records.SubmissionCounts(ctx, userID, l.Slug); err != nil {
		return nil, fmt.Errorf("submission counts of user %d lab %q: %w", userID, l.Slug, err)
	}
	return st, nil
}

// MyScores returns what viewer holds on every lab they submitted to, by lab.
func (s *Service) MyScores(ctx context.Context, viewer *faultline.User) (map[string]faultline.HeldScore, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	subs, err := s.d.Submissions.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: viewer.ID, Limit: 100000})
	if err != nil {
		return nil, fmt.Errorf("submissions of user %d: %w", viewer.ID, err)
	}
	byLab := map[string][]faultline.Attempt{}
	for _, sub := range subs {
		byLab[sub.Lab] = append(byLab[sub.Lab], attemptOf(sub))
	}
	cache := settingsCache{}
	adj, err := s.adjustments(ctx, []int64{viewer.ID}, "")
	if err != nil {
		return nil, err
	}
	out := make(map[string]faultline.HeldScore, len(byLab))
	for lab, atts := range byLab {
		ps, err := s.policies(ctx, []int64{viewer.ID}, lab, cache)
		if err != nil {
			return nil, err
		}
		p, ok := ps[viewer.ID]
		if !ok {
			p = faultline.LabPolicy{Lab: lab}
		}
		out[lab] = p.Held(atts, adj[cellKey{viewer.ID, lab}])
	}
	return out, nil
}

// Matrix returns the cohort's progress matrix (one row per learner, by
// name) with every cell's best score the held score; ENOTFOUND unless
// viewer teaches the cohort. Cells come from the store's summary of each
// learner's best attempt; the attempts of a lab are loaded only when some
// learner's policy makes lateness count (LabPolicy.LateMatters), since
// otherwise the best attempt alone decides the held score.
func (s *Service) Matrix(ctx context.Context, viewer *faultline.User, cohortID int64) ([]*faultline.MatrixRow, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	rows, err := s.d.Instructor.ProgressMatrix(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("progress matrix of cohort %d: %w", cohortID, err)
	}
	users := make([]int64, 0, len(rows))
	labs := map[string]bool{}
	for _, r := range rows {
		users = append(users, r.UserID)
		for lab := range r.Cells {
			labs[lab] = true
		}
	}
	cohorts, err := s.d.Scores.LearnerCohorts(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("learner cohorts: %w", err)
	}
	cache := settingsCache{}
	policy := map[string]map[int64]faultline.LabPolicy{}
	for lab := range labs {
		ps, err := s.policiesOf(ctx, cohorts, lab, cache)
		if err != nil {
			return nil, err
		}
		policy[lab] = ps
	}
	adj, err := s.adjustments(ctx, users, "")
	if err != nil {
		return nil, err
	}
	attempts := map[cellKey][]faultline.Attempt{}
	for lab, ps := range policy {
		late := false
		for _, p := range ps {
			late = late || p.LateMatters()
		}
		if !late {
			continue
		}
		atts, err := s.d.Scores.CohortAttempts(ctx, cohortID, lab)
		if err != nil {
			return nil, fmt.Errorf("attempts of cohort %d lab %q: %w", cohortID, lab, err)
		}
		for _, a := range atts {
			k := cellKey{a.UserID, a.Lab}
			attempts[k] = append(attempts[k], a.Attempt)
		}
	}
	for _, r := range rows {
		for lab, c := range r.Cells {
			p, ok := policy[lab][r.UserID]
			if !ok {
				p = faultline.LabPolicy{Lab: lab}
			}
			var h faultline.HeldScore
			if p.LateMatters() {
				h = p.Held(attempts[cellKey{r.UserID, lab}], adj[cellKey{r.UserID, lab}])
			} else if c.BestID > 0 {
				h = p.Held([]faultline.Attempt{{SubmissionID: c.BestID, Graded: true, Score: c.BestScore, MaxScore: c.MaxScore}}, adj[cellKey{r.UserID, lab}])
			}
			c.BestScore, c.BestID = h.Score, h.BestID
			if h.Has {
				c.MaxScore = h.MaxScore
			}
		}
	}
	return rows, nil
}

// Gradebook returns one row per learner of the cohort, by name, with the
// held score of every lab they have a graded attempt on and their total;
// ENOTFOUND unless viewer teaches the cohort.
func (s *Service) Gradebook(ctx context.Context, viewer *faultline.User, cohortID int64) ([]*faultline.GradebookRow, error) {
	rows, err := s.Matrix(ctx, viewer, cohortID)
	if err != nil {
		return nil, err
	}
	out := make([]*faultline.GradebookRow, 0, len(rows))
	for _, m := range rows {
		g := &faultline.GradebookRow{UserID: m.UserID, Name: m.Name, Email: m.Email, Best: map[string]int{}}
		for lab, c := range m.Cells {
			if c.Attempts > 0 && c.BestID > 0 {
				g.Best[lab] = c.BestScore
				g.Total += c.BestScore
			}
		}
		out = append(out, g)
	}
	return out, nil
}

// LabStats returns the cohort-wide statistics of one lab, the score
// distribution over held scores; ENOTFOUND unless viewer teaches the cohort
// and the lab exists.
func (s *Service) LabStats(ctx context.Context, viewer *faultline.User, cohortID int64, lab string) (*faultline.LabStats, error) {
	if _, err := s.Cohort(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	l, err := s.Lab(lab)
	if err != nil {
		return nil, err
	}
	st, err := s.d.Instructor.LabStats(ctx, cohortID, l.Slug)
	if err != nil {
		return nil, fmt.Errorf("lab stats of cohort %d lab %q: %w", cohortID, l.Slug, err)
	}
	held, _, err := s.cohortHeld(ctx, cohortID, l.Slug)
	if err != nil {
		return nil, err
	}
	buckets := map[int]int{}
	st.Learners = 0
	for _, h := range held {
		if !h.Has {
			continue
		}
		st.Learners++
		buckets[h.Score]++
		st.MaxScore = max(st.MaxScore, h.MaxScore)
	}
	st.Scores = st.Scores[:0]
	for score, n := range buckets {
		st.Scores = append(st.Scores, faultline.ScoreBucket{Score: score, Learners: n})
	}
	slices.SortFunc(st.Scores, func(a, b faultline.ScoreBucket) int { return a.Score - b.Score })
	if st.MaxScore <= 0 {
		st.MaxScore = l.MaxScore()
	}
	return st, nil
}

// bestSubmissions returns, for every learner of the cohort with a graded
// attempt on lab, the submission holding their score.
func (s *Service) bestSubmissions(ctx context.Context, cohortID int64, lab string) (map[int64]int64, error) {
	held, _, err := s.cohortHeld(ctx, cohortID, lab)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	for k, h := range held {
		if h.Has {
			out[k.user] = h.BestID
		}
	}
	return out, nil
}

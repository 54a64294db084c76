package faultline

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the course's policy as pure functions: the rules a learner
// works a lab under (LabPolicy), the one score a learner holds for a lab
// (LabPolicy.Held), the password rule, and the fairness defaults. The course
// package calls them; no page computes a score or a permission of its own.

// LabPolicy is the one set of rules a learner works one lab under: the
// settings of the cohort they learn in, combined when they learn in several
// (see PolicyFor). The zero value (no cohort, or nothing set) is "always open,
// no due date, accept late work, unlimited submissions, every test shown".
type LabPolicy struct {
	Lab            string
	OpensAt        time.Time // zero: open now
	DueAt          time.Time // zero: no due date
	Late           LatePolicy
	MaxSubmissions int // 0: unlimited
	PerMinute      int // 0: unlimited
	Visibility     TestVisibility
	// Extended is set when a per-learner extension replaced the cohort's
	// due date, late policy or submission limit.
	Extended bool
}

// Policy returns the policy these settings alone make.
func (s *LabSettings) Policy() LabPolicy {
	return LabPolicy{
		Lab: s.Lab, OpensAt: s.OpensAt, DueAt: s.DueAt, Late: s.Late,
		MaxSubmissions: s.MaxSubmissions, PerMinute: s.PerMinute, Visibility: s.Visibility,
	}
}

// PolicyFor combines the lab's settings of every cohort a learner learns in
// into one policy. A learner in one cohort gets that cohort's settings. A
// learner in several (rare: a move normally takes them out of the old one)
// gets the strictest of each rule: the latest opening, the earliest due
// date, the strictest late mode (refuse, then penalty, then accept) with the
// largest penalty numbers, the smallest submission limits, and the most
// restrictive test visibility. No settings give the zero policy.
func PolicyFor(lab string, settings []*LabSettings) LabPolicy {
	p := LabPolicy{Lab: lab}
	for i, s := range settings {
		if i == 0 {
			p = s.Policy()
			p.Lab = lab
			continue
		}
		if s.OpensAt.After(p.OpensAt) {
			p.OpensAt = s.OpensAt
		}
		if !s.DueAt.IsZero() && (p.DueAt.IsZero() || s.DueAt.Before(p.DueAt)) {
			p.DueAt = s.DueAt
		}
		p.Late = stricterLate(p.Late, s.Late)
		p.MaxSubmissions = smallerLimit(p.MaxSubmissions, s.MaxSubmissions)
		p.PerMinute = smallerLimit(p.PerMinute, s.PerMinute)
		if visibilityRank(s.Visibility) > visibilityRank(p.Visibility) {
			p.Visibility = s.Visibility
		}
	}
	return p
}

func lateRank(m LateMode) int {
	switch m {
	case LateRefuse:
		return 2
	case LatePenalty:
		return 1
	}
	return 0
}

func stricterLate(a, b LatePolicy) LatePolicy {
	switch {
	case lateRank(b.Mode) > lateRank(a.Mode):
		return b
	case lateRank(a.Mode) > lateRank(b.Mode):
		return a
	case a.Mode == LatePenalty:
		return LatePolicy{Mode: LatePenalty, PercentPerDay: max(a.PercentPerDay, b.PercentPerDay), CapPercent: max(a.CapPercent, b.CapPercent)}
	}
	return a
}

// smallerLimit returns the stricter of two limits where 0 means unlimited.
func smallerLimit(a, b int) int {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

func visibilityRank(v TestVisibility) int {
	switch v {
	case TestsHidden:
		return 2
	case TestsAfterDue:
		return 1
	}
	return 0
}

// LateBy returns how late a submission made at t is (0 if on time or there
// is no due date).
func (p LabPolicy) LateBy(t time.Time) time.Duration {
	if p.DueAt.IsZero() || !t.After(p.DueAt) {
		return 0
	}
	return t.Sub(p.DueAt)
}

// ShowHiddenTests reports whether a learner under p may see the per-test
// results of hidden tests (and replay them) at now.
func (p LabPolicy) ShowHiddenTests(now time.Time) bool {
	switch p.Visibility {
	case TestsHidden:
		return false
	case TestsAfterDue:
		return !p.DueAt.IsZero() && !now.Before(p.DueAt)
	}
	return true
}

// SubmissionCount is how many submissions a learner made for one lab.
type SubmissionCount struct {
	Total      int
	LastMinute int // made in the minute before now
	// Waiting is how many of the learner's submissions (of any lab) are
	// queued and not yet being graded.
	Waiting int
}

// Admit decides whether a learner may submit at now, having made c before:
// EFORBIDDEN before the lab opens or after the due date under LateRefuse,
// ETOOMANY when the submission limit or the per-minute rate is used up (see
// RetryAfter). Each message tells the learner what happened and, for the
// rate, when to retry.
func (p LabPolicy) Admit(now time.Time, c SubmissionCount) error {
	const layout = "Mon 2 Jan 2006 15:04 MST"
	if !p.OpensAt.IsZero() && now.Before(p.OpensAt) {
		return Errorf(EFORBIDDEN, "This lab opens for submissions on %s.", p.OpensAt.UTC().Format(layout))
	}
	if p.Late.Mode == LateRefuse && p.LateBy(now) > 0 {
		return Errorf(EFORBIDDEN, "This lab was due on %s; late submissions are not accepted.", p.DueAt.UTC().Format(layout))
	}
	if p.MaxSubmissions > 0 && c.Total >= p.MaxSubmissions {
		return Errorf(ETOOMANY, "You have used all %d submissions for this lab.", p.MaxSubmissions)
	}
	if p.PerMinute > 0 && c.LastMinute >= p.PerMinute {
		return RetryLater(time.Minute, "At most %d submissions a minute; please wait a minute and submit again.", p.PerMinute)
	}
	return nil
}

// Attempt is one submission as the score rules see it.
type Attempt struct {
	SubmissionID int64
	At           time.Time // when it was submitted
	// Graded is true when the submission has a result that is not
	// StatusError (an infrastructure failure is no attempt at all).
	Graded   bool
	Score    int // as graded, before any late rule
	MaxScore int
}

// Scored is one attempt's score under a policy.
type Scored struct {
	Raw        int // as graded
	Score      int // after the late rule
	MaxScore   int
	Late       time.Duration // how late it was (0: on time)
	PenaltyPct int           // percent taken off for lateness
	Refused    bool          // late under LateRefuse (made before the refusal was set): counts zero
}

// Score returns a's score under p: late work loses the late policy's
// penalty, and late work under LateRefuse counts zero.
func (p LabPolicy) Score(a Attempt) Scored {
	sc := Scored{Raw: a.Score, Score: a.Score, MaxScore: a.MaxScore, Late: p.LateBy(a.At)}
	if sc.Late <= 0 {
		return sc
	}
	switch p.Late.Mode {
	case LateRefuse:
		sc.Score, sc.Refused, sc.PenaltyPct = 0, true, 100
	case LatePenalty:
		sc.PenaltyPct = p.Late.PenaltyPercent(sc.Late)
		sc.Score = p.Late.Apply(a.Score, sc.Late)
	}
	return sc
}

// LateMatters reports whether lateness can change an attempt's score under
// p (a due date with a penalty or refusal). When it cannot, Held depends
// only on the best graded attempt (the earliest among equals), which lets
// callers skip loading the rest.
func (p LabPolicy) LateMatters() bool {
	return !p.DueAt.IsZero() && (p.Late.Mode == LatePenalty || p.Late.Mode == LateRefuse)
}

// Note describes what the late rule did to the score, for the learner:
// "" when nothing applied.
func (s Scored) Note() string {
	if s.Late <= 0 {
		return ""
	}
	days := int(math.Ceil(s.Late.Hours() / 24))
	unit := "days"
	if days == 1 {
		unit = "day"
	}
	switch {
	case s.Refused:
		return fmt.Sprintf("Late by %d %s after the due date; late submissions count zero.", days, unit)
	case s.PenaltyPct > 0:
		return fmt.Sprintf("Late by %d %s: −%d%%.", days, unit, s.PenaltyPct)
	}
	return fmt.Sprintf("Late by %d %s (late work is accepted in full).", days, unit)
}

// Adjustment is a manual change an instructor made to the score a learner
// holds for a lab (± points), kept beside the graded results and never
// overwriting them.
type Adjustment struct {
	ID        int64
	UserID    int64
	Lab       string
	Points    int
	Reason    string
	CreatedBy int64
	CreatedAt time.Time
}

// HeldScore is the score a learner holds for a lab: the best of their graded
// attempts under the policy (the earliest among equals), plus the manual
// adjustments, kept within 0..MaxScore.
type HeldScore struct {
	Has        bool // at least one graded attempt
	Score      int
	MaxScore   int
	Best       Scored // the best attempt's score under the policy
	BestID     int64  // its submission
	Attempts   int    // graded attempts
	Adjustment int    // sum of the adjustments' points
}

// Held decides the score a learner holds for a lab under p from their
// attempts (any order) and adjustments. It is the only place that decides
// it: the result page, the lab page, the gradebook and its CSV, the API, the
// heat map, the charts and any grade passback all show what it returns.
// Without a graded attempt the learner holds nothing (Has false), whatever
// the adjustments.
func (p LabPolicy) Held(attempts []Attempt, adjustments []Adjustment) HeldScore {
	var h HeldScore
	var bestAt time.Time
	for _, a := range attempts {
		if !a.Graded {
			continue
		}
		h.Attempts++
		h.MaxScore = max(h.MaxScore, a.MaxScore)
		sc := p.Score(a)
		better := !h.Has || sc.Score > h.Best.Score ||
			sc.Score == h.Best.Score && (a.At.Before(bestAt) || a.At.Equal(bestAt) && a.SubmissionID < h.BestID)
		if better {
			h.Has, h.Best, h.BestID, bestAt = true, sc, a.SubmissionID, a.At
		}
	}
	if !h.Has {
		return HeldScore{}
	}
	for _, adj := range adjustments {
		h.Adjustment += adj.Points
	}
	h.Score = min(max(h.Best.Score+h.Adjustment, 0), h.MaxScore)
	return h
}

// Password rules: at least MinPassword characters; bcrypt reads at most
// MaxPassword bytes.
const (
	MinPassword = 10
	MaxPassword = 72
)

// ValidatePassword returns EINVALID saying what to fix unless password is
// an acceptable new password that matches its confirmation.
func ValidatePassword(password, confirm string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPassword:
		return Errorf(EINVALID, "The password must be at least %d characters long.", MinPassword)
	case len(password) > MaxPassword:
		return Errorf(EINVALID, "The password must be at most %d bytes long.", MaxPassword)
	case password != confirm:
		return Errorf(EINVALID, "The two passwords do not match.")
	}
	return nil
}

// Fairness bounds what one learner can take of shared capacity, so one
// learner never starves the others. Zero fields take DefaultFairness's.
type Fairness struct {
	// MaxWaiting is how many of a learner's submissions may wait in the
	// grading queue (queued, not yet running) at once; past it a submit
	// gets ETOOMANY with a retry time.
	MaxWaiting int
	// ReplaysPerHour is how many replays one learner may start in an hour.
	ReplaysPerHour int
	// ReplaySlots is how many replays run at once on the portal; one
	// learner holds at most one of them.
	ReplaySlots int
	// StorageBytes is the per-learner budget for saved file versions (all
	// labs, restore points included). Past it old versions are thinned;
	// when thinning cannot make room the save is refused.
	StorageBytes int64
}

// DefaultFairness are the documented defaults.
var DefaultFairness = Fairness{
	MaxWaiting:     3,
	ReplaysPerHour: 30,
	ReplaySlots:    2,
	StorageBytes:   64 << 20,
}

// WithDefaults returns f with zero fields taken from DefaultFairness.
func (f Fairness) WithDefaults() Fairness {
	d := DefaultFairness
	if f.MaxWaiting <= 0 {
		f.MaxWaiting = d.MaxWaiting
	}
	if f.ReplaysPerHour <= 0 {
		f.ReplaysPerHour = d.ReplaysPerHour
	}
	if f.ReplaySlots <= 0 {
		f.ReplaySlots = d.ReplaySlots
	}
	if f.StorageBytes <= 0 {
		f.StorageBytes = d.StorageBytes
	}
	return f
}

// LearnerAttempt is one submission of a learner as the score rules see it.
type LearnerAttempt struct {
	UserID int64
	Lab    string
	Attempt
}

// ScoreService reads what deciding held scores needs beyond the submissions
// themselves.
type ScoreService interface {
	// LearnerCohorts returns, for each of userIDs, the IDs of the cohorts
	// in which that user is a learner (users in none are absent).
	LearnerCohorts(ctx context.Context, userIDs []int64) (map[int64][]int64, error)
	// CohortAttempts returns every submission of the cohort's learners for
	// lab (every lab when lab is ""), ordered by learner, lab and
	// submission. ENOTFOUND for an unknown cohort.
	CohortAttempts(ctx context.Context, cohortID int64, lab string) ([]*LearnerAttempt, error)
}

// ValidateAccount returns EINVALID saying what to fix unless name (trimmed,
// 1 to 100 characters) and email (trimmed, lower-cased) make an account.
func ValidateAccount(name, email string) error {
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return Errorf(EINVALID, "Enter your name (up to 100 characters).")
	}
	if !validEmail(email) {
		return Errorf(EINVALID, "Enter a valid email address, like ada@example.com.")
	}
	return nil
}

func validEmail(e string) bool {
	if len(e) < 3 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>\"") {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	return at > 0 && at < len(e)-1 && strings.Count(e, "@") == 1
}

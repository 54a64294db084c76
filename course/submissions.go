package course

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// Results as their viewer may see them, and replays of a failing run.

// Shown is a submission as one viewer may see it.
type Shown struct {
	Submission *faultline.Submission // with files; Result is the stored one, unfiltered
	Lab        *faultline.Lab        // nil when the lab left the catalog
	LabTitle   string
	Owner      *faultline.User // the learner; the viewer themself for their own work
	Own        bool            // the viewer is the owner
	Teacher    bool            // the viewer teaches the owner (or is an admin): flags, history, regrades
	// Result is what the viewer may see of the result (nil until it is
	// finished): the score under the owner's policy and, for a learner
	// whose policy hides them, no hidden tests, pictures or run output.
	Result *faultline.Result
	Scored faultline.Scored // the score under the owner's policy (Result.Score is Scored.Score)
	// Hidden summarises the hidden tests left out of Result: how many and
	// their points; zero when nothing was left out.
	Hidden HiddenSummary
	// Replayable maps the index (into Result.Tests) of each failing test
	// the viewer may replay to its seed.
	Replayable map[int]int64
}

// HiddenSummary is what a learner sees of hidden tests they may not see.
type HiddenSummary struct {
	Tests, Score, MaxScore int
}

// Finished reports whether the submission has its result.
func (s *Shown) Finished() bool {
	st := s.Submission.State
	return st == faultline.SubmissionDone || st == faultline.SubmissionFailed
}

// Submission returns submission id as viewer may see it: their own, or a
// learner's of a cohort they teach (any, for an admin); ENOTFOUND for
// anyone else, as for a submission that does not exist.
func (s *Service) Submission(ctx context.Context, viewer *faultline.User, id int64) (*Shown, error) {
	sub, err := s.submission(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	return s.show(ctx, viewer, sub)
}

// show applies the owner's policy and the viewer's rights to sub.
func (s *Service) show(ctx context.Context, viewer *faultline.User, sub *faultline.Submission) (*Shown, error) {
	sh := &Shown{Submission: sub, LabTitle: s.labTitle(sub.Lab), Own: viewer.ID == sub.UserID, Owner: viewer}
	if l, err := s.d.Labs.Lab(sub.Lab); err == nil {
		sh.Lab = l
	}
	if !sh.Own {
		owner, err := s.d.Users.FindUserByID(ctx, sub.UserID)
		if err != nil {
			return nil, fmt.Errorf("find owner %d of submission %d: %w", sub.UserID, sub.ID, err)
		}
		sh.Owner = owner
		sh.Teacher = true // submission() let a non-owner in only as a teacher or admin
	}
	if !sh.Finished() {
		return sh, nil
	}
	res := sub.Result
	if res == nil {
		res = &faultline.Result{Lab: sub.Lab, Status: faultline.StatusError, Message: "No result was recorded."}
	}
	p, _, err := s.policyFor(ctx, sub.UserID, sub.Lab)
	if err != nil {
		return nil, err
	}
	shown := *res
	a := attemptOf(&faultline.Submission{ID: sub.ID, CreatedAt: sub.CreatedAt, Result: res})
	if a.Graded {
		sh.Scored = p.Score(a)
		shown.Score = sh.Scored.Score
	}
	if !sh.Teacher {
		shown.Flags = nil
	}
	hide := sh.Own && !p.ShowHiddenTests(s.now())
	if hide {
		shown.Tests = nil
		for _, t := range res.Tests {
			if t.Hidden {
				sh.Hidden.Tests++
				sh.Hidden.Score += t.Score
				sh.Hidden.MaxScore += t.MaxScore
				continue
			}
			shown.Tests = append(shown.Tests, t)
		}
		if sh.Hidden.Tests > 0 {
			shown.Output = "" // the whole run's output names hidden tests
		}
	}
	sh.Result = &shown
	sh.Replayable = map[int]int64{}
	for i, t := range shown.Tests {
		if t.Status == faultline.TestFail && replayRun(t) != "" {
			sh.Replayable[i] = t.Seed
		}
	}
	return sh, nil
}

// SubmissionState returns only the state of a submission viewer may see
// (cheap to poll); ENOTFOUND otherwise. Callers load it with Submission
// once it changes.
func (s *Service) SubmissionState(ctx context.Context, viewer *faultline.User, id int64, known bool) (faultline.SubmissionState, error) {
	if !known {
		if _, err := s.submission(ctx, viewer, id); err != nil {
			return "", err
		}
	}
	st, err := s.d.Records.SubmissionState(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return "", errNoSubmission
	}
	return st, err
}

// Picture returns picture n of test ti of a submission's result, to whoever
// may see the submission and that test; ENOTFOUND otherwise, or when name
// is not the picture's name.
func (s *Service) Picture(ctx context.Context, viewer *faultline.User, id int64, ti, n int, name string) (*faultline.Attachment, error) {
	noPicture := faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
	sh, err := s.Submission(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	res := sh.Submission.Result
	if res == nil || ti < 0 || ti >= len(res.Tests) || n < 0 || n >= len(res.Tests[ti].Attachments) {
		return nil, noPicture
	}
	t := res.Tests[ti]
	if t.Hidden && sh.Hidden.Tests > 0 {
		return nil, noPicture
	}
	a := t.Attachments[n]
	if a.Name != name {
		return nil, noPicture
	}
	return &a, nil
}

// replayRun is the -run pattern that replays test t's failing run: every
// part of the recorded run's path quoted literally, and only when it is a
// run of t itself ("" otherwise). Nothing of the test's output goes into
// it: the path comes from the test events the grader recorded.
func replayRun(t faultline.TestResult) string {
	parts := strings.Split(t.FailedRun, "/")
	if t.FailedRun == "" || parts[0] != t.Name {
		return ""
	}
	for i, p := range parts {
		if p == "" {
			return ""
		}
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// Replayed is the outcome of a replay.
type Replayed struct {
	Shown   *Shown
	Test    string
	Seed    int64
	Run     string
	Against string // "your saved files as they are now" or "the files of this submission"
	Result  *faultline.Result
}

// ReplayTimeout bounds one replay.
const ReplayTimeout = 3 * time.Minute

// Replay reruns exactly the failing run of test ti of a submission (its
// recorded run and seed), hidden tests included, in a fresh grading
// container: against the owner's saved files when the owner asks (to check
// a fix), against the submitted files when their teacher does. EINVALID
// unless ti is a failing test the viewer may see with a recorded run;
// ETOOMANY with a retry time when the viewer's replay allowance or a replay
// slot is used up.
func (s *Service) Replay(ctx context.Context, viewer *faultline.User, id int64, ti int) (*Replayed, error) {
	sh, err := s.Submission(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if sh.Result == nil {
		return nil, faultline.Errorf(faultline.EINVALID, "This submission has no result to replay yet.")
	}
	seed, ok := sh.Replayable[ti]
	if !ok {
		return nil, faultline.Errorf(faultline.EINVALID, "Choose a failing test of this submission that names a run to replay.")
	}
	t := sh.Result.Tests[ti]
	if sh.Lab == nil {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Lab %q is no longer in the catalog.", sh.Submission.Lab)
	}
	rp := faultline.Repro{Run: replayRun(t), Seed: seed}
	if err := rp.Validate(); err != nil {
		return nil, err
	}
	out := &Replayed{Shown: sh, Test: t.Name, Seed: seed, Run: rp.Run, Against: "the files of this submission"}
	files := sh.Submission.Files
	if sh.Own {
		saved, err := s.savedFiles(ctx, viewer.ID, sh.Lab.Slug)
		if err != nil {
			return nil, err
		}
		files, out.Against = faultline.MergeFiles(sh.Lab.Starter, saved), "your saved files as they are now"
	}
	release, err := s.replays.acquire(viewer.ID)
	if err != nil {
		return nil, err
	}
	defer release()
	rec := &faultline.ReplayRecord{UserID: viewer.ID, SubmissionID: sh.Submission.ID, Lab: sh.Lab.Slug, Test: t.Name, Seed: seed}
	limit := s.fair.ReplaysPerHour
	err = s.d.Replays.StartReplay(ctx, rec, func(lastHour int) error {
		if sh.Teacher || lastHour < limit {
			return nil
		}
		return faultline.RetryLater(10*time.Minute, "You have replayed %d runs in the last hour, the most allowed; try again later.", limit)
	})
	if err != nil {
		return nil, internal(err, "record replay of submission %d", sh.Submission.ID)
	}
	rctx, cancel := context.WithTimeout(ctx, ReplayTimeout)
	defer cancel()
	res, err := s.d.Replayer.Replay(rctx, sh.Lab, files, rp)
	if err != nil {
		return nil, err
	}
	if sh.Own {
		// The replay ran the one test the learner may see; keep it that way
		// whatever the run reported.
		var keep []faultline.TestResult
		for _, rt := range res.Tests {
			if rt.Name == t.Name {
				keep = append(keep, rt)
			}
		}
		res.Tests = keep
	}
	out.Result = res
	return out, nil
}

// ResultHistory returns every result a submission has had (regrades
// included), newest first, to whoever teaches its owner; ENOTFOUND for
// anyone else.
func (s *Service) ResultHistory(ctx context.Context, viewer *faultline.User, id int64) ([]*faultline.ResultRecord, error) {
	sh, err := s.Submission(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	if !sh.Teacher {
		return nil, errNoSubmission
	}
	hist, err := s.d.Records.ResultHistory(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("result history of submission %d: %w", id, err)
	}
	return hist, nil
}

// ParseID reads a positive decimal ID; ok is false for anything else.
func ParseID(raw string) (int64, bool) {
	id, err := strconv.ParseInt(raw, 10, 64)
	return id, err == nil && id > 0
}

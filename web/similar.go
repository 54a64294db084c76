package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/web/views"
)

// The instructor's view of a submission (its files, the diff against the
// learner's previous attempt, the flags explained, submissions of other
// learners much like it) and the similar pairs of a lab in a cohort.

// similarThreshold is the score from which two learners' submissions are
// shown as similar. The score is the share of the smaller submission's
// fingerprints found in the other, after the lab's own files are set aside
// (grader/similar.go); at 0.8 most of what one learner wrote appears in the
// other's, which a copy with renamed names and moved functions reaches
// (about 0.9 in grader/similar_test.go) and two independent solutions do not
// come near (about 0.05 there). It makes a reason to look, never a verdict.
const similarThreshold = 0.8

// maxSimilarPairs is how many pairs the lab statistics page lists.
const maxSimilarPairs = 100

// maxHighlight is the largest file shown highlighted; bigger ones are plain.
const maxHighlight = 256 << 10

func (s *Server) similarRoutes(r chi.Router) {
	r.Get("/cohorts/{id}/labs/{slug}/compare", s.h(s.serveCompare))
}

func percent(score float64) int { return int(math.Floor(score*100 + 1e-9)) }

func compareURL(cohortID int64, lab string, a, b int64) string {
	return labStatsURL(cohortID, lab) + "/compare?a=" + strconv.FormatInt(a, 10) + "&b=" + strconv.FormatInt(b, 10)
}

// bestInputs returns the best graded submission of every learner of the
// cohort on the lab, as similarity inputs whose files load on demand.
func (s *Server) bestInputs(ctx context.Context, cohortID int64, lab string) ([]faultline.SimilarityInput, error) {
	scores, err := s.d.Submissions.LabScores(ctx, cohortID)
	if err != nil {
		return nil, fmt.Errorf("lab scores of cohort %d: %w", cohortID, err)
	}
	var out []faultline.SimilarityInput
	for _, ls := range scores {
		if ls.Lab == lab && ls.BestID > 0 {
			out = append(out, s.similarityInput(ctx, ls.BestID, ls.UserID, nil))
		}
	}
	return out, nil
}

// similarityInput describes submission id of owner; files, when known, save
// a load on a cache miss.
func (s *Server) similarityInput(ctx context.Context, id, owner int64, files []faultline.File) faultline.SimilarityInput {
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

// userNames returns the names of users by ID, each looked up once.
type userNames struct {
	s     *Server
	ctx   context.Context
	known map[int64]string
}

func (n *userNames) of(id int64) (string, error) {
	if name, ok := n.known[id]; ok {
		return name, nil
	}
	u, err := n.s.d.Users.FindUserByID(n.ctx, id)
	if err != nil {
		return "", fmt.Errorf("find user %d: %w", id, err)
	}
	n.known[id] = u.Name
	return u.Name, nil
}

// labSimilar builds the lab statistics page's similar pairs.
func (s *Server) labSimilar(ctx context.Context, cohortID int64, l *faultline.Lab) (views.SimilarSection, error) {
	sec := views.SimilarSection{Threshold: percent(similarThreshold)}
	if s.d.Similarity == nil {
		sec.Unavailable = true
		return sec, nil
	}
	inputs, err := s.bestInputs(ctx, cohortID, l.Slug)
	if err != nil {
		return sec, err
	}
	sec.Compared = len(inputs)
	pairs, err := s.d.Similarity.SimilarPairs(l, inputs, similarThreshold)
	if err != nil {
		return sec, fmt.Errorf("similar pairs of cohort %d lab %q: %w", cohortID, l.Slug, err)
	}
	if len(pairs) > maxSimilarPairs {
		sec.More = len(pairs) - maxSimilarPairs
		pairs = pairs[:maxSimilarPairs]
	}
	owner := map[int64]int64{} // submission -> learner
	for _, in := range inputs {
		owner[in.ID] = in.Owner
	}
	nm := &userNames{s: s, ctx: ctx, known: map[int64]string{}}
	side := func(id int64) (views.SimilarSide, error) {
		name, err := nm.of(owner[id])
		return views.SimilarSide{
			Learner: name, LearnerURL: learnerLabURL(cohortID, owner[id], l.Slug),
			SubmissionID: id, SubmissionURL: submissionURL(id),
		}, err
	}
	for _, p := range pairs {
		a, err := side(p.A)
		if err != nil {
			return sec, err
		}
		b, err := side(p.B)
		if err != nil {
			return sec, err
		}
		sec.Pairs = append(sec.Pairs, views.SimilarPairView{A: a, B: b, Percent: percent(p.Score), CompareURL: compareURL(cohortID, l.Slug, p.A, p.B)})
	}
	return sec, nil
}

// reviewCohorts returns the cohorts in which viewer teaches ownerID as a
// learner (every cohort ownerID learns in, for admins); none when viewer is
// ownerID.
func (s *Server) reviewCohorts(ctx context.Context, viewer *faultline.User, ownerID int64) ([]*faultline.Cohort, error) {
	if viewer == nil || viewer.ID == ownerID {
		return nil, nil
	}
	return s.learnerCohortsTaughtBy(ctx, viewer, ownerID)
}

// learnerCohortsTaughtBy returns the cohorts in which ownerID is a learner
// and viewer teaches (every such cohort, for an admin).
func (s *Server) learnerCohortsTaughtBy(ctx context.Context, viewer *faultline.User, ownerID int64) ([]*faultline.Cohort, error) {
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
		if viewer.Role != faultline.RoleAdmin {
			vr, err := s.d.Cohorts.MemberRole(ctx, c.ID, viewer.ID)
			if faultline.ErrorCode(err) == faultline.ENOTFOUND {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("role of user %d in cohort %d: %w", viewer.ID, c.ID, err)
			}
			if !vr.Teaches() {
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// submissionReview builds what the submission page shows beyond its result:
// the files for everyone who may see it, the previous attempt, and for the
// learner's teachers links to the learner's work and similar submissions.
func (s *Server) submissionReview(ctx context.Context, sub *faultline.Submission, viewer *faultline.User) (views.SubmissionReview, error) {
	rv := views.SubmissionReview{Files: codeFiles(sub.Files), Threshold: percent(similarThreshold)}
	if prev, ok, err := s.previousAttempt(ctx, sub); err != nil {
		return rv, err
	} else if ok {
		rv.Prev = &prev
	}
	cohorts, err := s.reviewCohorts(ctx, viewer, sub.UserID)
	if err != nil || len(cohorts) == 0 {
		return rv, err
	}
	rv.Teacher = true
	owner, err := s.d.Users.FindUserByID(ctx, sub.UserID)
	if err != nil {
		return rv, fmt.Errorf("find owner %d of submission %d: %w", sub.UserID, sub.ID, err)
	}
	for _, c := range cohorts {
		rv.LearnerLinks = append(rv.LearnerLinks, views.ReviewLink{
			Label: owner.Name + "'s submissions in " + c.Name, URL: learnerLabURL(c.ID, sub.UserID, sub.Lab),
		})
	}
	if s.d.Similarity == nil {
		rv.SimilarUnavailable = true
		return rv, nil
	}
	l, err := s.d.Labs.Lab(sub.Lab)
	if err != nil { // a lab no longer in the catalog: nothing to compare against
		return rv, nil
	}
	nm := &userNames{s: s, ctx: ctx, known: map[int64]string{}}
	seen := map[int64]bool{}
	for _, c := range cohorts {
		others, err := s.bestInputs(ctx, c.ID, sub.Lab)
		if err != nil {
			return rv, err
		}
		owners := map[int64]int64{}
		for _, o := range others {
			owners[o.ID] = o.Owner
		}
		pairs, err := s.d.Similarity.SimilarTo(l, s.similarityInput(ctx, sub.ID, sub.UserID, sub.Files), others, similarThreshold)
		if err != nil {
			return rv, fmt.Errorf("submissions like %d in cohort %d: %w", sub.ID, c.ID, err)
		}
		for _, p := range pairs {
			if seen[p.B] {
				continue
			}
			seen[p.B] = true
			name, err := nm.of(owners[p.B])
			if err != nil {
				return rv, err
			}
			f := views.SimilarFlag{
				Learner: name, SubmissionID: p.B, SubmissionURL: submissionURL(p.B),
				CompareURL: compareURL(c.ID, sub.Lab, sub.ID, p.B), Percent: percent(p.Score),
			}
			if len(cohorts) > 1 {
				f.Cohort = c.Name
			}
			rv.Similar = append(rv.Similar, f)
		}
	}
	return rv, nil
}

// previousAttempt finds the learner's submission of the same lab made just
// before sub, and what changed since; ok is false for the first.
func (s *Server) previousAttempt(ctx context.Context, sub *faultline.Submission) (p views.PrevAttempt, ok bool, err error) {
	subs, err := s.d.Submissions.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: sub.UserID, Lab: sub.Lab, Limit: 1000})
	if err != nil {
		return p, false, fmt.Errorf("submissions of user %d for lab %q: %w", sub.UserID, sub.Lab, err)
	}
	var prevID int64
	for _, o := range subs { // newest first
		if o.ID != sub.ID && (o.CreatedAt.Before(sub.CreatedAt) || (o.CreatedAt.Equal(sub.CreatedAt) && o.ID < sub.ID)) {
			prevID = o.ID
			break
		}
	}
	if prevID == 0 {
		return p, false, nil
	}
	prev, err := s.d.Submissions.FindSubmission(ctx, prevID)
	if err != nil {
		return p, false, fmt.Errorf("find submission %d: %w", prevID, err)
	}
	p = views.PrevAttempt{
		ID: prev.ID, URL: submissionURL(prev.ID),
		DiffURL: submissionURL(sub.ID) + "/diff?against=" + strconv.FormatInt(prev.ID, 10),
		Label:   strings.TrimPrefix(submissionAttempt(prev).label, "Submission "),
	}
	for _, d := range diffFiles(prev.Files, sub.Files) {
		if d.Status == "same" {
			continue
		}
		c := views.FileChange{Path: d.Path, Status: d.Status}
		for _, h := range d.Hunks {
			for _, ln := range h.Lines {
				switch ln.Kind {
				case "add":
					c.Added++
				case "del":
					c.Removed++
				}
			}
		}
		p.Changes = append(p.Changes, c)
	}
	return p, true, nil
}

// codeFiles prepares a submission's files for display: Go files
// highlighted (through content.Render, which sanitizes), others plain.
func codeFiles(files []faultline.File) []views.CodeFile {
	out := make([]views.CodeFile, 0, len(files))
	for i, f := range files {
		text := string(f.Content)
		cf := views.CodeFile{Path: f.Path, Anchor: "file-" + strconv.Itoa(i+1), Content: text, Lines: lineCount(text)}
		if lang := codeLang(f.Path); lang != "" && len(text) <= maxHighlight {
			if html, err := content.Render([]byte(fenced(lang, text))); err == nil {
				cf.HTML = html
			}
		}
		out = append(out, cf)
	}
	return out
}

func lineCount(s string) int {
	if s == "" {
		return 0
	}
	n := strings.Count(s, "\n")
	if !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// codeLang is the highlighting language of a path, or "" for plain text.
func codeLang(path string) string {
	if strings.HasSuffix(path, ".go") {
		return "go"
	}
	return ""
}

// fenced wraps text in a Markdown code fence longer than any run of
// backticks inside it, so no content can close the fence early.
func fenced(lang, text string) string {
	longest, run := 0, 0
	for _, c := range text {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return fence + lang + "\n" + text + fence + "\n"
}

// serveCompare is /cohorts/{id}/labs/{slug}/compare?a=&b=: two learners'
// submissions of the lab side by side as a diff, for the cohort's teachers.
// Both must be submissions of the lab by learners of the cohort.
func (s *Server) serveCompare(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	side := func(raw string) (attempt, error) {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			return attempt{}, errNoSubmission
		}
		sub, err := s.d.Submissions.FindSubmission(ctx, id)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return attempt{}, errNoSubmission
		} else if err != nil {
			return attempt{}, fmt.Errorf("find submission %d: %w", id, err)
		}
		if sub.Lab != l.Slug {
			return attempt{}, errNoSubmission
		}
		role, err := s.d.Cohorts.MemberRole(ctx, c.ID, sub.UserID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND || (err == nil && role != faultline.MemberLearner) {
			return attempt{}, errNoSubmission
		} else if err != nil {
			return attempt{}, fmt.Errorf("role of user %d in cohort %d: %w", sub.UserID, c.ID, err)
		}
		u, err := s.d.Users.FindUserByID(ctx, sub.UserID)
		if err != nil {
			return attempt{}, fmt.Errorf("find user %d: %w", sub.UserID, err)
		}
		a := submissionAttempt(sub)
		a.label = u.Name + ": " + a.label
		return a, nil
	}
	q := r.URL.Query()
	a, err := side(q.Get("a"))
	if err != nil {
		return err
	}
	b, err := side(q.Get("b"))
	if err != nil {
		return err
	}
	return s.renderDiff(w, r, l.Title+" · "+c.Name, labStatsURL(c.ID, l.Slug), a, b)
}

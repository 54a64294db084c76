package web

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// The instructor's view of a submission (its files, the diff against the
// learner's previous attempt, the flags explained, submissions of other
// learners much like it) and the similar pairs of a lab in a cohort.

// similarThreshold is the score from which two learners' submissions are
// shown as similar (course.SimilarThreshold). The score is the share of the
// smaller submission's fingerprints found in the other, after the lab's own
// files are set aside (grader/similar.go); at 0.8 most of what one learner
// wrote appears in the other's, which a copy with renamed names and moved
// functions reaches (about 0.9 in grader/similar_test.go) and two
// independent solutions do not come near (about 0.05 there). It makes a
// reason to look, never a verdict.
const similarThreshold = course.SimilarThreshold

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

// labSimilar builds the lab statistics page's similar pairs.
func (s *Server) labSimilar(cohortID int64, l *faultline.Lab, pairs []course.SimilarPair, compared int) views.SimilarSection {
	sec := views.SimilarSection{Threshold: percent(similarThreshold)}
	sec.Compared = compared
	if len(pairs) > maxSimilarPairs {
		sec.More = len(pairs) - maxSimilarPairs
		pairs = pairs[:maxSimilarPairs]
	}
	side := func(u *faultline.User, id int64) views.SimilarSide {
		return views.SimilarSide{
			Learner: u.Name, LearnerURL: learnerLabURL(cohortID, u.ID, l.Slug),
			SubmissionID: id, SubmissionURL: submissionURL(id),
		}
	}
	for _, p := range pairs {
		sec.Pairs = append(sec.Pairs, views.SimilarPairView{A: side(p.OwnerA, p.A), B: side(p.OwnerB, p.B),
			Percent: percent(p.Score), CompareURL: compareURL(cohortID, l.Slug, p.A, p.B)})
	}
	return sec
}

// submissionReview builds what the submission page shows beyond its result:
// the files for everyone who may see it, the previous attempt, and for the
// learner's teachers links to the learner's work and similar submissions.
func submissionReview(sh *course.Shown, review *course.Review) views.SubmissionReview {
	sub := sh.Submission
	rv := views.SubmissionReview{Files: codeFiles(sub.Files), Threshold: percent(similarThreshold)}
	if prev := review.Previous; prev != nil {
		p := views.PrevAttempt{
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
		rv.Prev = &p
	}
	if len(review.Cohorts) == 0 {
		return rv
	}
	rv.Teacher = true
	for _, c := range review.Cohorts {
		rv.LearnerLinks = append(rv.LearnerLinks, views.ReviewLink{
			Label: sh.Owner.Name + "'s submissions in " + c.Name, URL: learnerLabURL(c.ID, sub.UserID, sub.Lab),
		})
	}
	for _, f := range review.Similar {
		flag := views.SimilarFlag{
			Learner: f.Owner.Name, SubmissionID: f.B, SubmissionURL: submissionURL(f.B),
			CompareURL: compareURL(f.Cohort.ID, sub.Lab, sub.ID, f.B), Percent: percent(f.Score),
		}
		if len(review.Cohorts) > 1 {
			flag.Cohort = f.Cohort.Name
		}
		rv.Similar = append(rv.Similar, flag)
	}
	return rv
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
	q := r.URL.Query()
	a, _ := course.ParseID(q.Get("a"))
	b, _ := course.ParseID(q.Get("b"))
	ca, cb, err := s.c.Compare(r.Context(), UserFromContext(r.Context()), c.ID, l.Slug, a, b)
	if err != nil {
		return err
	}
	side := func(cmp *course.Compared) attempt {
		at := submissionAttempt(cmp.Submission)
		at.label = cmp.Owner.Name + ": " + at.label
		return at
	}
	return s.renderDiff(w, r, l.Title+" · "+c.Name, labStatsURL(c.ID, l.Slug), side(ca), side(cb))
}

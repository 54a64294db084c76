package course

import (
	"context"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

// Lessons and case studies: what a learner has read, and quizzes.

// Progress is a learner's reading and quiz progress.
type Progress struct {
	Read map[string]time.Time           // lesson and case slugs read, with when
	Quiz map[string]faultline.QuizScore // best quiz score per lesson slug
}

// Progress returns viewer's reading and quiz progress.
func (s *Service) Progress(ctx context.Context, viewer *faultline.User) (*Progress, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	read, err := s.d.Progress.LessonsRead(ctx, viewer.ID)
	if err != nil {
		return nil, fmt.Errorf("lessons read by user %d: %w", viewer.ID, err)
	}
	scores, err := s.d.Progress.QuizScores(ctx, viewer.ID)
	if err != nil {
		return nil, fmt.Errorf("quiz scores of user %d: %w", viewer.ID, err)
	}
	return &Progress{Read: read, Quiz: scores}, nil
}

// LessonPage is what the page of a lesson or case study shows its viewer
// beyond the lesson itself.
type LessonPage struct {
	Progress    *Progress
	Discussions []PlaceDiscussion // the cohorts' threads at the lesson (AtPlace)
	Unread      int               // the viewer's unread notifications
}

// LessonPage gathers what l's page shows viewer, reading it all in one read
// snapshot: their progress, the discussions at the lesson and their unread
// notifications. EUNAUTHORIZED for a visitor; EINVALID as AtPlace.
func (s *Service) LessonPage(ctx context.Context, viewer *faultline.User, l *faultline.Lesson) (*LessonPage, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	ctx, done, err := s.readSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	p := &LessonPage{}
	if p.Progress, err = s.Progress(ctx, viewer); err != nil {
		return nil, err
	}
	place := faultline.Place{Kind: faultline.PlaceLesson, Slug: l.Slug}
	if l.Kind == "case" {
		place.Kind = faultline.PlaceCase
	}
	if p.Discussions, err = s.AtPlace(ctx, viewer, place); err != nil {
		return nil, err
	}
	// As on every page, a count that cannot be read shows as none (and is
	// logged) rather than failing the page.
	if p.Unread, err = s.UnreadNotifications(ctx, viewer); err != nil {
		s.log.ErrorContext(ctx, "unread notifications", "user", viewer.ID, "err", err)
		p.Unread = 0
	}
	return p, nil
}

// MarkRead records that viewer read a lesson or case study (idempotent).
func (s *Service) MarkRead(ctx context.Context, viewer *faultline.User, l *faultline.Lesson) error {
	if err := signedIn(viewer); err != nil {
		return err
	}
	if err := s.d.Progress.MarkLessonRead(ctx, viewer.ID, l.Slug); err != nil {
		return fmt.Errorf("mark %q read by user %d: %w", l.Slug, viewer.ID, err)
	}
	return nil
}

// AnswerQuiz grades viewer's answers to a lesson's quiz (one 1-based choice
// per question, 0 for none, which counts as wrong), records the attempt and
// returns the score and which answers were right. ENOTFOUND for a lesson
// without a quiz, EINVALID for a choice a question does not have.
func (s *Service) AnswerQuiz(ctx context.Context, viewer *faultline.User, l *faultline.Lesson, answers []int) (int, []bool, error) {
	if err := signedIn(viewer); err != nil {
		return 0, nil, err
	}
	if len(l.Quiz) == 0 {
		return 0, nil, faultline.Errorf(faultline.ENOTFOUND, "%q has no quiz.", l.Title)
	}
	if len(answers) != len(l.Quiz) {
		return 0, nil, faultline.Errorf(faultline.EINVALID, "The quiz has %d questions.", len(l.Quiz))
	}
	for i, a := range answers {
		if a < 0 || a > len(l.Quiz[i].Choices) {
			return 0, nil, faultline.Errorf(faultline.EINVALID, "Question %d has no choice %d.", i+1, a)
		}
	}
	score, right := faultline.GradeQuiz(l.Quiz, answers)
	if _, err := s.d.Progress.RecordQuizAttempt(ctx, faultline.QuizAttempt{
		UserID: viewer.ID, Slug: l.Slug, Score: score, Total: len(l.Quiz), Answers: answers,
	}); err != nil {
		return 0, nil, fmt.Errorf("record quiz attempt on %q by user %d: %w", l.Slug, viewer.ID, err)
	}
	return score, right, nil
}

// Package course is Faultline's use-case layer: every verb a page or the API
// offers (start a lab, save a file, submit, replay, show a result, the
// gradebook, manage a cohort, …) as a method of Service that takes domain
// arguments — the viewer, a lab, a cohort, files — and never an HTTP
// request. Every permission check and every policy decision is made here or
// by a pure function of the root package (faultline.LabPolicy and friends);
// web only parses, calls one verb and renders.
//
// Service reaches storage, sandboxes and the grader only through the root
// package's interfaces, so it imports nothing but the root package.
package course

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
)

// Lessons is the read-only catalog of lessons and case studies.
type Lessons interface {
	// Lesson returns ENOTFOUND when there is no lesson or case study with
	// the slug.
	Lesson(slug string) (*faultline.Lesson, error)
}

// Labs is the read-only lab catalog.
type Labs interface {
	// Lab returns ENOTFOUND when there is no lab with the slug.
	Lab(slug string) (*faultline.Lab, error)
	// All lists every lab in catalog order.
	All() []*faultline.Lab
}

// Snapshots lets a verb that only reads make all its reads in one read
// transaction: they see one consistent state and cost one transaction
// instead of one each (store.DB.ReadSnapshot).
type Snapshots interface {
	// ReadSnapshot returns a context whose reads share one read
	// transaction, and done, which ends it.
	ReadSnapshot(ctx context.Context) (context.Context, func(), error)
}

// DashboardVersions tells when what a cohort's dashboard shows in its
// progress matrix, member list and conversation figures last changed
// (store.DB.DashboardVersion).
type DashboardVersions interface {
	// DashboardVersion returns a number that moves on with every write that
	// changes them; ENOTFOUND for an unknown cohort.
	DashboardVersion(ctx context.Context, cohortID int64) (int64, error)
}

// Deps are everything a Service needs. Every field is required (New says
// which is missing); the portal passes its one *store.DB for each storage
// interface.
type Deps struct {
	Users       faultline.UserService
	Sessions    faultline.SessionService
	Cohorts     faultline.CohortService
	Progress    faultline.ProgressService
	Workspace   faultline.WorkspaceService
	Submissions faultline.SubmissionService
	Records     faultline.SubmissionRecords
	Instructor  faultline.InstructorService
	Scores      faultline.ScoreService
	Regrades    faultline.RegradeService
	Canceler    faultline.RegradeCanceler
	Live        faultline.LiveService
	Tokens      faultline.TokenService
	Replays     faultline.ReplayLog
	RestorePts  faultline.RestorePoints
	// Recovery makes password reset links (by email when the portal sends
	// email; IssueResetLink hands one to an administrator or instructor).
	Recovery faultline.PasswordRecovery
	// Discussions, feedback on work and the inbox (discuss.go, feedback.go,
	// inbox.go).
	Discussions faultline.DiscussionService
	Groups      faultline.GroupService
	Moderation  faultline.ModerationService
	Feedback    faultline.FeedbackService
	Inbox       faultline.InboxService
	// Snapshots gives the verbs that gather a whole page one read
	// transaction (LessonPage, CohortPage).
	Snapshots Snapshots
	// Dashboards lets CohortPage leave out what its caller holds already.
	Dashboards DashboardVersions

	// Sandboxes and Terminals run learners' sandboxes; when the container
	// engine is down they answer EUNAVAILABLE, which pages show as such.
	Sandboxes  faultline.Sandboxes
	Terminals  faultline.Terminals
	Replayer   faultline.Replayer
	Similarity faultline.SimilarityChecker
	Labs       Labs
	Lessons    Lessons
	// Markdown renders a post or comment to sanitized HTML: the renderer
	// and sanitizer of the lessons (content.Render).
	Markdown func(md []byte) (string, error)
	// Mailer sends notifications by email to those whose settings ask for
	// it; nil when the portal has no email (notifications stay in the
	// inbox). The one optional dependency: email is a deployment choice.
	Mailer faultline.NotificationMailer

	// Kick wakes the grading workers after a submission or a regrade.
	Kick func()
	// Now is the clock (time.Now in the portal).
	Now    func() time.Time
	Logger *slog.Logger

	// Fairness bounds one learner's share of the queue, replays and
	// storage; zero fields take faultline.DefaultFairness.
	Fairness faultline.Fairness
	// SetupToken is the one-time secret of /setup?token=…; "" disables
	// setup.
	SetupToken string
	// BcryptCost is the work factor of new password hashes (0: bcrypt's
	// default, 10; tests may lower it).
	BcryptCost int
}

// Service is the use-case layer. It is safe for concurrent use.
type Service struct {
	d    Deps
	log  *slog.Logger
	now  func() time.Time
	fair faultline.Fairness

	logins  *throttle
	replays *replaySlots
	dummy   dummyHash
	setup   setupOnce
	shares  *termShares // terminals shared with staff (officehours.go)
}

// New returns a Service over d, or EINVALID naming the first missing
// dependency.
func New(d Deps) (*Service, error) {
	required := []struct {
		name string
		ok   bool
	}{
		{"Users", d.Users != nil}, {"Sessions", d.Sessions != nil}, {"Cohorts", d.Cohorts != nil},
		{"Progress", d.Progress != nil}, {"Workspace", d.Workspace != nil}, {"Submissions", d.Submissions != nil},
		{"Records", d.Records != nil}, {"Instructor", d.Instructor != nil}, {"Scores", d.Scores != nil},
		{"Regrades", d.Regrades != nil}, {"Canceler", d.Canceler != nil}, {"Live", d.Live != nil},
		{"Tokens", d.Tokens != nil}, {"Replays", d.Replays != nil}, {"RestorePts", d.RestorePts != nil},
		{"Recovery", d.Recovery != nil},
		{"Sandboxes", d.Sandboxes != nil}, {"Terminals", d.Terminals != nil}, {"Replayer", d.Replayer != nil},
		{"Similarity", d.Similarity != nil}, {"Labs", d.Labs != nil}, {"Kick", d.Kick != nil}, {"Now", d.Now != nil},
		{"Discussions", d.Discussions != nil}, {"Groups", d.Groups != nil}, {"Moderation", d.Moderation != nil},
		{"Feedback", d.Feedback != nil}, {"Inbox", d.Inbox != nil}, {"Snapshots", d.Snapshots != nil}, {"Dashboards", d.Dashboards != nil}, {"Lessons", d.Lessons != nil}, {"Markdown", d.Markdown != nil},
	}
	for _, r := range required {
		if !r.ok {
			return nil, faultline.Errorf(faultline.EINVALID, "course: Deps.%s is required", r.name)
		}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.BcryptCost == 0 {
		d.BcryptCost = bcrypt.DefaultCost
	}
	s := &Service{d: d, log: d.Logger, now: d.Now, fair: d.Fairness.WithDefaults()}
	s.logins = newThrottle(5, 5*time.Minute, d.Now)
	s.replays = newReplaySlots(s.fair.ReplaySlots)
	s.shares = newTermShares()
	return s, nil
}

// Fairness returns the fairness bounds in force (defaults filled in).
func (s *Service) Fairness() faultline.Fairness { return s.fair }

// Lab returns the lab with the slug; ENOTFOUND with a message naming it.
func (s *Service) Lab(slug string) (*faultline.Lab, error) {
	l, err := s.d.Labs.Lab(slug)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no lab %q.", slug)
	} else if err != nil {
		return nil, fmt.Errorf("lab %q: %w", slug, err)
	}
	return l, nil
}

// Labs lists every lab in catalog order.
func (s *Service) Labs() []*faultline.Lab { return s.d.Labs.All() }

// labTitle is the lab's title, or its slug when it left the catalog.
func (s *Service) labTitle(slug string) string {
	if l, err := s.d.Labs.Lab(slug); err == nil {
		return l.Title
	}
	return slug
}

// readSnapshot returns ctx with one read transaction for the reads of a
// verb that only reads, and done, which ends it.
func (s *Service) readSnapshot(ctx context.Context) (context.Context, func(), error) {
	sctx, done, err := s.d.Snapshots.ReadSnapshot(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read snapshot: %w", err)
	}
	return sctx, done, nil
}

// ReadOnly returns a context in which the verbs called with it read from
// one read snapshot, and done, which ends it: for a request that only reads
// (a lesson page), so that finding its session and gathering its page cost
// one read transaction. Only verbs that read may be called with it: a read
// after a write in the same snapshot would not see the write.
func (s *Service) ReadOnly(ctx context.Context) (context.Context, func(), error) {
	return s.readSnapshot(ctx)
}

// kick wakes the grading workers.
func (s *Service) kick() { s.d.Kick() }

// internal wraps err with op unless it is a user error (which passes as is).
func internal(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if c := faultline.ErrorCode(err); c != faultline.EINTERNAL {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// signedIn returns EUNAUTHORIZED for a visitor.
func signedIn(viewer *faultline.User) error {
	if viewer == nil {
		return faultline.Errorf(faultline.EUNAUTHORIZED, "Please sign in to continue.")
	}
	return nil
}

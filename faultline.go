// Package faultline holds the domain types of the Faultline learning portal and
// the small interfaces the other packages implement. It imports nothing of ours:
// store, sandbox, grader, labs and content implement or fill these types, web
// depends on the interfaces, and cmd/faultline wires them together.
package faultline

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// Role is a user's role across the whole portal.
type Role string

const (
	RoleAdmin      Role = "admin"      // runs the portal; everything an instructor can, for every cohort
	RoleInstructor Role = "instructor" // creates cohorts and sees their learners
	RoleLearner    Role = "learner"    // reads lessons, works labs
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleInstructor || r == RoleLearner
}

// User is a person with an account.
type User struct {
	ID           int64
	Email        string // unique, stored lower-case
	Name         string
	Role         Role
	PasswordHash string // bcrypt; never rendered
	CreatedAt    time.Time
}

// CanTeach reports whether the user may create cohorts and open dashboards.
func (u *User) CanTeach() bool {
	return u != nil && (u.Role == RoleAdmin || u.Role == RoleInstructor)
}

// Session is a server-side login session. ID is the SHA-256 of the cookie
// token (hex), so a leaked database does not leak live cookies.
type Session struct {
	ID        string
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Cohort is a group of learners taught by one or more instructors.
type Cohort struct {
	ID         int64
	Name       string
	InviteCode string // secret part of the invite link; unique
	// InviteExpiresAt is when the invite link stops working; zero means never.
	InviteExpiresAt time.Time
	CreatedBy       int64
	CreatedAt       time.Time
}

// InviteExpired reports whether the invite link no longer works at now.
func (c *Cohort) InviteExpired(now time.Time) bool {
	return !c.InviteExpiresAt.IsZero() && !now.Before(c.InviteExpiresAt)
}

// MemberRole is a user's role inside one cohort.
type MemberRole string

const (
	MemberInstructor   MemberRole = "instructor"    // owns the cohort: settings, roster, dashboards
	MemberCoInstructor MemberRole = "co_instructor" // teaches alongside: dashboards, regrades, roster
	MemberLearner      MemberRole = "learner"
)

// Valid reports whether r is a known member role.
func (r MemberRole) Valid() bool {
	return r == MemberInstructor || r == MemberCoInstructor || r == MemberLearner
}

// Teaches reports whether the role may open the cohort's dashboards and
// submissions (instructor or co-instructor).
func (r MemberRole) Teaches() bool {
	return r == MemberInstructor || r == MemberCoInstructor
}

// Member is a user's membership of a cohort.
type Member struct {
	CohortID int64
	User     *User
	Role     MemberRole
	JoinedAt time.Time
}

// Lesson is one page of the course or one case study, rendered at load.
type Lesson struct {
	Slug    string
	Title   string
	Kind    string // "lesson" or "case"
	Module  string // module title, for lessons
	Order   int    // position within the module
	Summary string
	Labs    []string // lab slugs that practise it
	HTML    string   // rendered, sanitized body (up to the quiz, if any)
	// AfterQuiz is the rendered, sanitized body after the quiz block; the page
	// shows the quiz and the labs that practise the lesson between HTML and
	// AfterQuiz. Empty when the body has no quiz.
	AfterQuiz string
	// Quiz is the lesson's quiz (nil for a case study without one). Answers
	// and explanations must never reach a page before the learner submits.
	Quiz []QuizQuestion
	// Text is the body as plain text, for search.
	Text string
	// Discussion holds a case study's prompts for small-group discussion
	// (front matter discussion:); nil for lessons.
	Discussion []string
}

// QuizQuestion is one multiple-choice question of a lesson's quiz.
type QuizQuestion struct {
	Question string
	Choices  []string
	Answer   int // 1-based index into Choices
	Explain  string
}

// QuizAttempt is one graded submission of a lesson's quiz.
type QuizAttempt struct {
	ID        int64
	UserID    int64
	Slug      string
	Score     int
	Total     int
	Answers   []int // the chosen 1-based choice per question; 0 = unanswered
	CreatedAt time.Time
}

// QuizScore is a learner's best quiz result for one lesson.
type QuizScore struct {
	Best     int
	Total    int
	Attempts int
}

// File is one file of a lab workspace or submission. Path is slash-separated,
// relative and clean (see CleanPath).
type File struct {
	Path    string
	Content []byte
}

// FileVersion is one saved version of a learner's workspace file. Every save is
// kept: the database is the source of truth for learner work.
type FileVersion struct {
	ID        int64
	UserID    int64
	Lab       string
	Path      string
	Content   []byte
	Deleted   bool // a tombstone: the learner deleted the file
	CreatedAt time.Time
}

// Limits bound a grading run or a sandbox.
type Limits struct {
	Time     time.Duration // wall time of a grading run
	MemoryMB int64
	CPUs     float64
	Pids     int64
}

// DefaultGradeLimits are the grading-container limits of DESIGN.md.
var DefaultGradeLimits = Limits{Time: 30 * time.Second, MemoryMB: 512, CPUs: 1, Pids: 256}

// LabTest is one graded test of a lab.
type LabTest struct {
	Name   string // top-level Go test function name, e.g. TestOpensAfterThreshold
	Points int
	Hidden bool   // from hidden/: never shown before grading, never in a sandbox
	Part   string // the id of the part it grades (lab.yaml tests[].part); "" in a lab without parts
}

// LabPart is one part of a lab graded on its own over the learner's one
// package (lab.yaml parts:), like the A, B, C of a course's multi-part lab:
// the learner keeps one workspace and submits it whole, and a result gives
// a score per part beside the total.
type LabPart struct {
	ID      string // short and stable, e.g. "A"
	Title   string // e.g. "Leader election"
	Summary string // optional, one line
}

// PartScore is a result's score in one part of a lab.
type PartScore struct {
	LabPart
	Score    int // points of the part's tests that passed
	MaxScore int // points of the part's tests
	Tests    int // how many tests the part has
	Passed   int // how many of them passed
}

// Full reports whether every test of the part passed.
func (p PartScore) Full() bool { return p.Score >= p.MaxScore && p.Passed == p.Tests }

// Lab is one lab of the catalog with all its files loaded.
type Lab struct {
	Slug       string
	Title      string
	Pattern    string
	Summary    string
	Difficulty string // "intro", "intermediate" or "advanced"
	Minutes    int
	Lessons    []string // lesson slugs
	Limits     Limits
	Image      string // optional image override; "" means the built-in lab image
	Network    string // learner sandbox's network (lab.yaml sandbox.network): "" none, or LabNetworkPrivate
	Module     string // Go module path of the learner's package (lab.yaml; go.mod is synthesized)
	Tests      []LabTest
	// Parts are the lab's parts in lab.yaml order, each graded by the tests
	// that name it; nil for a lab without parts (most labs), whose tests
	// then name none.
	Parts  []LabPart
	README string // Markdown
	// Rules are the rules the README states, marked **R1** … **Rn**, in
	// order, each with the tests lab.yaml says check it (tests[].rules).
	Rules []LabRule
	// Equivalent maps the id of a generated mutant (faultline labs mutate)
	// to the author's reason why no test can tell it from the solution
	// (equivalent.yaml in the lab folder).
	Equivalent map[string]string
	// Unreachable maps the id of a generated mutant that survives although
	// it does change behaviour, because no deterministic test can bring
	// about the case that shows it (a data race in a window with no
	// scheduling point), to the author's reason (equivalent.yaml's
	// unreachable list). Unlike an equivalent mutant it still counts
	// against the mutation score; the mark only explains it.
	Unreachable map[string]string

	Starter  []File            // what a learner starts from, go.mod included
	Visible  []File            // tests/: copied into the learner's package
	Hidden   []File            // hidden/: grader only
	Solution []File            // full learner file set
	Mutants  map[string][]File // full learner file sets (solution with the mutant applied)
}

// LabRule is one rule a lab's README states, with a stable id (R1, R2, …)
// written in the README as **R1**, and the tests that check it.
type LabRule struct {
	ID    string   // "R1"
	Text  string   // the rule's first sentence in the README, as plain text
	Tests []string // names of the tests that check it, in lab.yaml order
}

// UntestedRules returns the ids of the rules no test checks.
func (l *Lab) UntestedRules() []string {
	var out []string
	for _, r := range l.Rules {
		if len(r.Tests) == 0 {
			out = append(out, r.ID)
		}
	}
	return out
}

// LabNetworkPrivate puts each learner's sandbox for the lab on a Docker
// network of its own, with no route out, so several processes in it can talk
// over the network interface (lab.yaml sandbox: {network: private}).
const LabNetworkPrivate = "private"

// MaxScore is the sum of the points of every test.
func (l *Lab) MaxScore() int {
	n := 0
	for _, t := range l.Tests {
		n += t.Points
	}
	return n
}

// PartScores returns the score of each part of the lab, in the lab's order,
// for the results of a grading run (a Result's Tests): the points of the
// part's tests that passed, out of the points lab.yaml gives them. A test
// the result lacks (a run that stopped early) scores nothing; a result's
// test the lab no longer has counts in no part. It returns nil for a lab
// without parts. Scores are raw, before any late penalty.
func (l *Lab) PartScores(results []TestResult) []PartScore {
	if len(l.Parts) == 0 {
		return nil
	}
	out := make([]PartScore, len(l.Parts))
	index := make(map[string]int, len(l.Parts))
	for i, p := range l.Parts {
		out[i].LabPart = p
		index[p.ID] = i
	}
	partOf := make(map[string]int, len(l.Tests))
	for _, t := range l.Tests {
		i, ok := index[t.Part]
		if !ok {
			continue
		}
		partOf[t.Name] = i
		out[i].MaxScore += t.Points
		out[i].Tests++
	}
	seen := make(map[string]bool, len(results))
	for _, r := range results {
		i, ok := partOf[r.Name]
		if !ok || seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		out[i].Score += r.Score
		if r.Status == TestPass {
			out[i].Passed++
		}
	}
	return out
}

// SandboxState is the lifecycle state of a learner sandbox.
type SandboxState string

const (
	SandboxStarting SandboxState = "starting"
	SandboxRunning  SandboxState = "running"
	SandboxStopped  SandboxState = "stopped"
	SandboxFailed   SandboxState = "failed"
)

// Sandbox is a learner's container for one lab.
type Sandbox struct {
	ID           int64
	UserID       int64
	Lab          string
	ContainerID  string
	State        SandboxState
	Error        string // user-safe reason when State is SandboxFailed
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastActiveAt time.Time
}

// SubmissionState is where a submission is in the grading queue.
type SubmissionState string

const (
	SubmissionQueued  SubmissionState = "queued"
	SubmissionRunning SubmissionState = "running"
	SubmissionDone    SubmissionState = "done"   // graded; Result set
	SubmissionFailed  SubmissionState = "failed" // could not be graded after retries; Result holds the reason
)

// Submission is a learner's request to grade a snapshot of their files.
type Submission struct {
	ID           int64
	UserID       int64
	Lab          string
	State        SubmissionState
	Files        []File // snapshot; loaded by FindSubmission only
	Attempts     int    // grading attempts started (infrastructure retries)
	LeaseOwner   string
	LeaseExpires time.Time
	CreatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	Result       *Result // set when State is done or failed
}

// ResultStatus is the verdict of a grading run as a whole.
type ResultStatus string

const (
	StatusGraded       ResultStatus = "graded"        // tests ran; see per-test results
	StatusBuildFailed  ResultStatus = "build_failed"  // did not compile; Output has the compiler's words
	StatusTimeLimit    ResultStatus = "time_limit"    // wall time exceeded
	StatusMemoryLimit  ResultStatus = "memory_limit"  // killed for memory
	StatusOutputLimit  ResultStatus = "output_limit"  // printed more than allowed
	StatusProcessLimit ResultStatus = "process_limit" // too many processes or threads
	StatusDiskLimit    ResultStatus = "disk_limit"    // wrote more than allowed
	StatusError        ResultStatus = "error"         // could not be graded (not the learner's fault)
)

// TestStatus is the outcome of one test.
type TestStatus string

const (
	TestPass TestStatus = "pass"
	TestFail TestStatus = "fail"
	TestSkip TestStatus = "skip"
	TestNone TestStatus = "not_run" // never reported a result (crash, limit, exit)
)

// Result is the outcome of grading one set of files for one lab.
type Result struct {
	Lab      string
	Status   ResultStatus
	Score    int
	MaxScore int
	Message  string // one line for the whole run, user-safe
	Output   string // build output or tail of the run's output (capped)
	Tests    []TestResult
	Flags    []string // suspicious code found in the files, for instructors
	Duration time.Duration
}

// TestResult is the outcome of one graded test.
type TestResult struct {
	Name     string
	Hidden   bool
	Status   TestStatus
	Score    int
	MaxScore int
	Message  string // why it failed, in plain words
	Output   string // the test's own output, capped, attachments lifted out
	// Attachments are the pictures the test attached, in order.
	Attachments []Attachment
	// FailedRun names the run a Replay repeats: the path of the failing
	// (sub)test as the test events reported it, e.g.
	// "TestNoAckedWriteLost/seed=42" ("" when the test passed or named no
	// run); Seed is the labkit seed its failure report gave. The grader
	// records both; a replay builds its -run pattern from them itself,
	// quoting every part, and only for a test its viewer may see.
	FailedRun string
	Seed      int64
}

// CleanPath validates a learner-supplied workspace path and returns it cleaned.
// It returns EINVALID for empty, absolute, parent-escaping, hidden or oddly
// named paths. Only letters, digits, '.', '_', '-' and '/' are allowed.
func CleanPath(p string) (string, error) {
	if p == "" || len(p) > 200 {
		return "", Errorf(EINVALID, "File path must be 1 to 200 characters.")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return "", Errorf(EINVALID, "File path %q must be relative.", p)
	}
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '_' || r == '-' || r == '/'
		if !ok {
			return "", Errorf(EINVALID, "File path %q may only use letters, digits, '.', '_', '-' and '/'.", p)
		}
	}
	c := path.Clean(p)
	if c != p {
		return "", Errorf(EINVALID, "File path %q is not clean; use %q.", p, c)
	}
	for _, part := range strings.Split(c, "/") {
		if part == ".." || part == "." || strings.HasPrefix(part, ".") {
			return "", Errorf(EINVALID, "File path %q may not contain '..' or hidden names.", p)
		}
	}
	return c, nil
}

// File caps, one set for the whole portal. A learner's own saved files of
// one lab hold at most MaxWorkspaceFiles files and MaxWorkspaceSize bytes,
// each file at most MaxFileSize. A tree assembled from a lab's files and the
// learner's (a submission, a sandbox's files, a grading tree) may hold up to
// MaxTreeFiles and MaxTreeSize: a lab's starter, tests and hidden tests are
// each held to the learner's caps when the lab is loaded, so learner files
// within theirs always fit.
const (
	MaxFileSize       = 256 << 10 // bytes of one file
	MaxWorkspaceFiles = 64        // a learner's own saved files of one lab
	MaxWorkspaceSize  = 2 << 20   // bytes of a learner's own saved files of one lab
	MaxTreeFiles      = 4 * MaxWorkspaceFiles
	MaxTreeSize       = 4 * MaxWorkspaceSize
)

// CheckFiles returns an error unless files fit the caps: every path clean
// (EINVALID, see CleanPath) and unique (EINVALID), each file at most
// MaxFileSize (ETOOLARGE), at most maxFiles files and maxBytes bytes in all
// (ETOOLARGE). what names the set in messages, e.g. "A submission".
func CheckFiles(files []File, maxFiles, maxBytes int, what string) error {
	if len(files) > maxFiles {
		return Errorf(ETOOLARGE, "%s may hold at most %d files; this one has %d.", what, maxFiles, len(files))
	}
	seen := make(map[string]bool, len(files))
	total := 0
	for _, f := range files {
		p, err := CleanPath(f.Path)
		if err != nil {
			return err
		}
		if seen[p] {
			return Errorf(EINVALID, "File %q appears twice.", p)
		}
		seen[p] = true
		if len(f.Content) > MaxFileSize {
			return Errorf(ETOOLARGE, "File %q is %s; a file may be at most %s.", p, SizeText(int64(len(f.Content))), SizeText(MaxFileSize))
		}
		total += len(f.Content)
	}
	if total > maxBytes {
		return Errorf(ETOOLARGE, "%s may hold at most %s; this one has %s.", what, SizeText(int64(maxBytes)), SizeText(int64(total)))
	}
	return nil
}

// SizeText writes a byte count for people: "2 MiB", "256 KiB", "12 bytes".
func SizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// MergeFiles overlays saved files on base (saved wins, by path) and returns
// the result sorted by path. Tombstones in saved are not handled here; pass
// only live files.
func MergeFiles(base, saved []File) []File {
	m := make(map[string]File, len(base)+len(saved))
	for _, f := range base {
		m[f.Path] = f
	}
	for _, f := range saved {
		m[f.Path] = f
	}
	out := make([]File, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// ---- Services. Implementations return *Error codes named in each doc. ----

// UserService stores accounts.
type UserService interface {
	// CreateUser inserts u (Email lower-cased, PasswordHash set) and fills ID and
	// CreatedAt. ECONFLICT if the email is taken, EINVALID for a bad role or email.
	CreateUser(ctx context.Context, u *User) error
	// FindUserByID returns ENOTFOUND if there is no such user.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// FindUserByEmail matches case-insensitively; ENOTFOUND if none.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// CountUsers counts all accounts (0 means the portal needs its first admin).
	CountUsers(ctx context.Context) (int, error)
	// SetPassword replaces the user's password hash and ends every session
	// of theirs but keep (a session ID; "" ends all). ENOTFOUND for an
	// unknown user.
	SetPassword(ctx context.Context, userID int64, hash, keep string) error
	// SetUserName changes the user's display name. EINVALID for a name the
	// account rule refuses, ENOTFOUND for an unknown user.
	SetUserName(ctx context.Context, userID int64, name string) error
}

// SessionService stores login sessions.
type SessionService interface {
	// CreateSession inserts s; s.ID is the hashed token.
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the session and its user; ENOTFOUND if missing or expired.
	FindSession(ctx context.Context, id string) (*Session, *User, error)
	// DeleteSession removes one session; deleting a missing one is not an error.
	DeleteSession(ctx context.Context, id string) error
}

// CohortService stores cohorts and memberships.
type CohortService interface {
	// CreateCohort inserts c (InviteCode and optional InviteExpiresAt set by
	// the caller) and makes c.CreatedBy its instructor, in one transaction.
	// EINVALID for an empty name.
	CreateCohort(ctx context.Context, c *Cohort) error
	// FindCohortByID returns ENOTFOUND if there is none.
	FindCohortByID(ctx context.Context, id int64) (*Cohort, error)
	// FindCohortByInvite returns ENOTFOUND for an unknown code and EFORBIDDEN
	// (with a message saying so) for an expired one.
	FindCohortByInvite(ctx context.Context, code string) (*Cohort, error)
	// SetInvite replaces the cohort's invite code (the old link stops working)
	// and its expiry (zero: never). EINVALID for an empty code, ECONFLICT if the
	// code is taken, ENOTFOUND for an unknown cohort.
	SetInvite(ctx context.Context, cohortID int64, code string, expiresAt time.Time) (*Cohort, error)
	// ListCohorts lists the cohorts userID belongs to (any role), or every
	// cohort when userID is 0, newest first.
	ListCohorts(ctx context.Context, userID int64) ([]*Cohort, error)
	// Join creates a learner account from u and adds it to the cohort with the
	// invite code, in one transaction. ENOTFOUND for a bad code, EFORBIDDEN for
	// an expired one, ECONFLICT for a taken email.
	Join(ctx context.Context, inviteCode string, u *User) (*Cohort, error)
	// AddMember adds an existing user; re-adding updates the role.
	AddMember(ctx context.Context, cohortID, userID int64, role MemberRole) error
	// RemoveMember takes the user off the cohort's roster; their submissions,
	// workspace and progress are kept. ENOTFOUND if not a member, ECONFLICT
	// when it would remove the cohort's last instructor.
	RemoveMember(ctx context.Context, cohortID, userID int64) error
	// MoveMember moves a learner from one cohort to another in one
	// transaction, keeping their work. ENOTFOUND if not a learner of from or
	// to does not exist, EINVALID when from == to.
	MoveMember(ctx context.Context, userID, from, to int64) error
	// MemberRole returns the user's role in the cohort; ENOTFOUND if not a member.
	MemberRole(ctx context.Context, cohortID, userID int64) (MemberRole, error)
	// ListMembers lists members ordered by role then name.
	ListMembers(ctx context.Context, cohortID int64) ([]*Member, error)
}

// ProgressService stores lesson progress.
type ProgressService interface {
	// MarkLessonRead records that the user read the lesson (idempotent).
	MarkLessonRead(ctx context.Context, userID int64, slug string) error
	// LessonsRead returns the slugs the user has read with when.
	LessonsRead(ctx context.Context, userID int64) (map[string]time.Time, error)
	// RecordQuizAttempt stores a graded quiz attempt and returns it with its
	// ID and time. EINVALID for an empty slug or a score outside 0..total.
	RecordQuizAttempt(ctx context.Context, a QuizAttempt) (*QuizAttempt, error)
	// QuizScores returns the user's best score per lesson slug; an empty map
	// if none.
	QuizScores(ctx context.Context, userID int64) (map[string]QuizScore, error)
}

// WorkspaceService stores every saved version of learners' lab files.
type WorkspaceService interface {
	// SaveFile stores a new version of one file (a no-op returning the current
	// version if the content is unchanged). EINVALID for a bad path, ETOOLARGE
	// over MaxFileSize or MaxWorkspaceFiles.
	SaveFile(ctx context.Context, userID int64, lab, path string, content []byte) (*FileVersion, error)
	// DeleteFile records a tombstone version; ENOTFOUND if the file has none.
	DeleteFile(ctx context.Context, userID int64, lab, path string) error
	// Files returns the latest live version of each saved file, sorted by path;
	// an empty slice when the learner has saved nothing yet.
	Files(ctx context.Context, userID int64, lab string) ([]*FileVersion, error)
	// FileHistory returns every version of one file, newest first.
	FileHistory(ctx context.Context, userID int64, lab, path string) ([]*FileVersion, error)
	// ReplaceFiles makes files the saved files in one transaction (a
	// tombstone for every other live file, a new version where content
	// changed): all of it is stored or none. EINVALID, ETOOLARGE as SaveFile.
	ReplaceFiles(ctx context.Context, userID int64, lab string, files []File) error
}

// SandboxStore records learner sandboxes (sandbox.Manager keeps it in step with Docker).
type SandboxStore interface {
	// UpsertSandbox inserts or updates the row for (UserID, Lab) and fills ID.
	UpsertSandbox(ctx context.Context, sb *Sandbox) error
	// FindSandbox returns ENOTFOUND if the learner never started this lab.
	FindSandbox(ctx context.Context, userID int64, lab string) (*Sandbox, error)
	// ListSandboxes returns all rows in the given states (all rows if none given).
	ListSandboxes(ctx context.Context, states ...SandboxState) ([]*Sandbox, error)
	// TouchSandbox sets LastActiveAt to now.
	TouchSandbox(ctx context.Context, id int64) error
}

// SubmissionFilter selects submissions for listing. Zero fields match all.
type SubmissionFilter struct {
	UserID   int64
	Lab      string
	CohortID int64 // learners of this cohort
	Limit    int   // 0 means 100
}

// SubmissionService is the grading queue and the record of results.
type SubmissionService interface {
	// CreateSubmission inserts s as queued with its files. ETOOLARGE over the
	// workspace caps, EINVALID for bad paths.
	CreateSubmission(ctx context.Context, s *Submission) error
	// FindSubmission returns the submission with files and result; ENOTFOUND if none.
	FindSubmission(ctx context.Context, id int64) (*Submission, error)
	// ListSubmissions returns matches newest first, without files (results included).
	ListSubmissions(ctx context.Context, f SubmissionFilter) ([]*Submission, error)
	// ClaimSubmission takes the oldest queued submission for worker with a
	// lease, marks it running and increments Attempts; ENOTFOUND if none is queued.
	ClaimSubmission(ctx context.Context, worker string, lease time.Duration) (*Submission, error)
	// ExtendLease pushes the lease of a running submission the worker holds;
	// ECONFLICT if the worker no longer holds it.
	ExtendLease(ctx context.Context, id int64, worker string, lease time.Duration) error
	// CompleteSubmission stores r and marks the submission done (or failed when
	// r.Status is StatusError). ECONFLICT unless worker holds a live lease on it,
	// so each submission gets exactly one result.
	CompleteSubmission(ctx context.Context, id int64, worker string, r *Result) error
	// ReleaseSubmission puts a running submission the worker holds back in the
	// queue (used on shutdown and infrastructure failure). ECONFLICT if not held.
	ReleaseSubmission(ctx context.Context, id int64, worker string) error
	// RequeueExpired puts running submissions whose lease expired back in the
	// queue and returns how many.
	RequeueExpired(ctx context.Context) (int, error)
}

// SandboxPhase is a step of starting a sandbox, reported as it happens.
type SandboxPhase string

const (
	PhaseImage  SandboxPhase = "image"
	PhaseCreate SandboxPhase = "create"
	PhaseStart  SandboxPhase = "start"
	PhaseFiles  SandboxPhase = "files"
	PhaseReady  SandboxPhase = "ready"
)

// Sandboxes runs learners' lab sandboxes. Implemented by sandbox.Manager.
// Methods return EUNAVAILABLE when the container engine cannot be reached.
type Sandboxes interface {
	// Start ensures the learner's sandbox for the lab is running with files
	// copied in, reporting phases to phase (which may be nil). Re-starting a
	// running sandbox returns at once.
	Start(ctx context.Context, userID int64, lab *Lab, files []File, phase func(SandboxPhase)) (*Sandbox, error)
	// Find returns the recorded sandbox; ENOTFOUND if there is none.
	Find(ctx context.Context, userID int64, lab string) (*Sandbox, error)
	// WriteFile writes one file into a running sandbox's workspace.
	WriteFile(ctx context.Context, userID int64, lab string, f File) error
	// RunTests runs the lab's visible tests in the learner's running sandbox,
	// streaming raw output to out, and returns per-test results.
	RunTests(ctx context.Context, userID int64, lab *Lab, out io.Writer) (*Result, error)
	// RemoveFile removes one file from a running sandbox's workspace;
	// removing a file that is not there is not an error.
	RemoveFile(ctx context.Context, userID int64, lab, path string) error
	// Stop stops and removes the learner's container; saved files are unaffected.
	Stop(ctx context.Context, userID int64, lab string) error
	// StopsAt is when the running sandbox sb is stopped whatever its
	// activity (its lifetime cap); zero when unknown.
	StopsAt(sb *Sandbox) time.Time
	// MaxLife is the lifetime cap of a sandbox.
	MaxLife() time.Duration
}

// Grader grades one set of learner files for a lab in a throwaway container.
type Grader interface {
	// Grade returns a Result for any learner input (limits and build failures
	// are verdicts, not errors); an error means grading itself could not run
	// (EUNAVAILABLE when the engine is down) and the caller should retry.
	Grade(ctx context.Context, lab *Lab, files []File) (*Result, error)
}

// GradeQuiz scores answers (1-based choice per question, 0 for none)
// against quiz: the number right and, per question, whether it was right.
// Missing answers count as wrong; extra answers are ignored.
func GradeQuiz(quiz []QuizQuestion, answers []int) (score int, right []bool) {
	right = make([]bool, len(quiz))
	for i, q := range quiz {
		if i < len(answers) && answers[i] == q.Answer {
			right[i] = true
			score++
		}
	}
	return score, right
}

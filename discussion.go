package faultline

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the domain of a cohort's discussions: threads on a lesson,
// a case study, a lab or the cohort in general; their posts with edit
// history; small groups that discuss a case study's prompts; failing runs
// attached to questions; reports and the staff's audit log. Who may see
// what is decided in package course; the pure rules below (limits, who
// appears as the author) are shared by every surface.

// PlaceKind is what a thread is about.
type PlaceKind string

const (
	PlaceCohort PlaceKind = "cohort" // the cohort in general
	PlaceLesson PlaceKind = "lesson"
	PlaceCase   PlaceKind = "case"
	PlaceLab    PlaceKind = "lab"
)

// Place is where a thread is listed: the page of a lesson, a case study or
// a lab, or the cohort in general (Slug "").
type Place struct {
	Kind PlaceKind
	Slug string
}

// String is the place as one word for forms and addresses: "cohort",
// "lesson:partial-failure", "lab:circuit-breaker".
func (p Place) String() string {
	if p.Kind == PlaceCohort || p.Kind == "" {
		return string(PlaceCohort)
	}
	return string(p.Kind) + ":" + p.Slug
}

// ParsePlace reads what Place.String writes; "" is the cohort. EINVALID for
// anything else (the slug's existence is checked by the caller).
func ParsePlace(s string) (Place, error) {
	if s == "" || s == string(PlaceCohort) {
		return Place{Kind: PlaceCohort}, nil
	}
	kind, slug, ok := strings.Cut(s, ":")
	switch PlaceKind(kind) {
	case PlaceLesson, PlaceCase, PlaceLab:
	default:
		ok = false
	}
	if !ok || !validSlug(slug) {
		return Place{}, Errorf(EINVALID, "Choose where the thread belongs: the cohort, a lesson, a case study or a lab.")
	}
	return Place{Kind: PlaceKind(kind), Slug: slug}, nil
}

func validSlug(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ThreadKind says what a thread is for.
type ThreadKind string

const (
	ThreadQuestion     ThreadKind = "question"     // asks for an answer; can be marked answered
	ThreadDiscussion   ThreadKind = "discussion"   // an open conversation (a group's case prompt is one)
	ThreadAnnouncement ThreadKind = "announcement" // from staff to the whole cohort
)

// Valid reports whether k is a known kind.
func (k ThreadKind) Valid() bool {
	return k == ThreadQuestion || k == ThreadDiscussion || k == ThreadAnnouncement
}

// Thread is one conversation of a cohort. Its opening post (if any) is the
// Post with Opening set; a group's thread on a case prompt has none: its
// title is the prompt.
type Thread struct {
	ID       int64
	CohortID int64
	Place    Place
	Kind     ThreadKind
	Title    string
	// AuthorID started the thread; 0 for a group's prompt thread, which
	// the course starts.
	AuthorID int64
	// Anonymous: classmates see "Anonymous" instead of the author's name
	// (staff always see who). Private: only staff and the author see the
	// thread at all.
	Anonymous bool
	Private   bool
	// GroupID is set for a group's thread on prompt Prompt (1-based) of
	// the case study Place.Slug: only the group and staff see it, until
	// staff share it with the cohort (Shared).
	GroupID int64
	Prompt  int
	Shared  bool
	Pinned  bool
	Locked  bool // no new posts except by staff
	// AnswerID is the post marked as the answer to a question (0: none).
	AnswerID int64
	// Run is the failing run the author attached (nil: none).
	Run *RunAttachment
	// Version grows with every change to the thread or its posts, so a
	// live page need only poll this number.
	Version        int64
	CreatedAt      time.Time
	LastActivityAt time.Time
	// FirstStaffReplyAt is when someone who teaches the cohort first
	// replied (zero: not yet); the dashboard's time to a first answer.
	FirstStaffReplyAt time.Time

	// Filled by ListThreads, counting visible posts only.
	Replies    int   // replies (the opening post not counted)
	OthersRepl int   // replies by someone other than the thread's author
	LastPostID int64 // newest visible post
	Unread     int   // visible posts newer than the reader's mark, not their own (ThreadFilter.Reader)
	Votes      int   // "same question" votes
}

// Resolved reports whether a question has its answer marked.
func (t *Thread) Resolved() bool { return t.AnswerID != 0 }

// Answered reports whether someone other than the author replied.
func (t *Thread) Answered() bool { return t.OthersRepl > 0 }

// PostState is whether a post shows.
type PostState string

const (
	PostVisible PostState = "visible"
	PostHeld    PostState = "held"    // held for staff by the solution-leak guard; the author is told why
	PostHidden  PostState = "hidden"  // hidden by staff (moderation); restorable
	PostDeleted PostState = "deleted" // deleted by its author; the text stays in the history for staff
)

// Post is one message of a thread.
type Post struct {
	ID       int64
	ThreadID int64
	// ParentID is the post this one replies to (0: a reply to the thread).
	ParentID int64
	Opening  bool // the thread's first post, written with it
	AuthorID int64
	// Staff is whether the author taught the cohort when they posted.
	Staff     bool
	Anonymous bool
	Body      string // Markdown as written
	HTML      string // Body rendered and sanitized
	State     PostState
	// HeldReason tells the author (and staff) why a held post waits.
	HeldReason string
	// EndorsedBy is the staff member who endorsed the post (0: not endorsed).
	EndorsedBy int64
	Edits      int // revisions after the first
	CreatedAt  time.Time
	EditedAt   time.Time // zero: never edited
}

// PostRevision is one earlier text of a post (every edit keeps the text it
// replaced).
type PostRevision struct {
	ID        int64
	PostID    int64
	Body      string
	EditorID  int64
	CreatedAt time.Time // when this text was written
}

// Post and thread limits.
const (
	MaxTitle    = 200   // characters of a thread's title
	MaxPostBody = 20000 // characters of one post
)

// CheckPost returns EINVALID unless body is 1..MaxPostBody characters once
// trimmed; it returns the trimmed body.
func CheckPost(body string) (string, error) {
	body = strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n"))
	if body == "" {
		return "", Errorf(EINVALID, "Write something first: the post is empty.")
	}
	if n := utf8.RuneCountInString(body); n > MaxPostBody {
		return "", Errorf(EINVALID, "A post may be at most %d characters; this one has %d.", MaxPostBody, n)
	}
	if !utf8.ValidString(body) {
		return "", Errorf(EINVALID, "The post is not valid UTF-8 text.")
	}
	return body, nil
}

// CheckTitle returns EINVALID unless title is 1..MaxTitle characters on one
// line once trimmed; it returns the trimmed title.
func CheckTitle(title string) (string, error) {
	title = strings.Join(strings.Fields(title), " ")
	if title == "" || utf8.RuneCountInString(title) > MaxTitle {
		return "", Errorf(EINVALID, "Give the thread a title of 1 to %d characters.", MaxTitle)
	}
	return title, nil
}

// Anonymous is the name classmates see for an anonymous author.
const Anonymous = "Anonymous"

// AuthorFor returns how an author appears to a viewer: their name, or
// Anonymous to a classmate when they posted anonymously. staff is whether
// the viewer teaches the cohort; self whether the viewer is the author.
// Staff and the author themself always see who wrote it.
func AuthorFor(name string, anonymous, staff, self bool) (shown string, revealed bool) {
	if anonymous && !staff && !self {
		return Anonymous, false
	}
	return name, true
}

// RunAttachment is a failing run of a learner's submission attached to a
// thread: what the grader found (the test, its verdict and message, the
// faults injected, the seed, the pictures), never the code. It is copied
// when attached, so a later regrade does not change the question.
type RunAttachment struct {
	SubmissionID int64
	Lab          string
	Test         string
	Hidden       bool
	Verdict      ResultStatus // of the run as a whole
	Status       TestStatus
	Score        int
	MaxScore     int
	Message      string
	Report       string   // the test's failure report, capped at MaxRunReport
	Faults       []string // FaultKinds(Report)
	Seed         int64
	FailedRun    string
	Pictures     []Attachment
}

// MaxRunReport caps the failure report an attached run keeps.
const MaxRunReport = 16 << 10

// ThreadFilter selects threads of a cohort. Zero fields match all.
type ThreadFilter struct {
	CohortID int64
	Place    *Place // only threads of this place
	// Groups: false lists the cohort's threads without group prompt
	// threads (except shared ones); true lists only group threads.
	Groups   bool
	GroupID  int64 // with Groups: one group's threads
	AuthorID int64 // threads this user started
	// Reader fills Thread.Unread for this user.
	Reader int64
	// IDs restricts the list to these threads (a search's hits).
	IDs   []int64
	Limit int // 0: 500
}

// Group is a small group of a cohort's learners who discuss the case
// studies' prompts together. Splitting the cohort again archives the old
// groups: their threads stay, readable by their members and staff.
type Group struct {
	ID        int64
	CohortID  int64
	Name      string
	Members   []int64 // user IDs
	Archived  bool
	CreatedAt time.Time
}

// PostReport is a learner's or staff member's report of a post.
type PostReport struct {
	ID         int64
	PostID     int64
	ThreadID   int64
	ReporterID int64
	Reason     string
	CreatedAt  time.Time
	ResolvedAt time.Time // zero: open
	ResolvedBy int64
}

// DiscussionService stores threads and posts. Every method returns
// ENOTFOUND for an unknown thread or post.
type DiscussionService interface {
	// CreateThread inserts t and its opening post (nil for a group's
	// prompt thread) in one transaction and fills their IDs and times.
	// ECONFLICT when a group already has a thread on that prompt.
	CreateThread(ctx context.Context, t *Thread, opening *Post) error
	// FindThread returns the thread (without the list counts).
	FindThread(ctx context.Context, id int64) (*Thread, error)
	// FindGroupThread returns a group's thread on prompt (1-based) of a
	// case study; ENOTFOUND when nobody has posted there yet.
	FindGroupThread(ctx context.Context, groupID int64, caseSlug string, prompt int) (*Thread, error)
	// ListThreads returns the matching threads, pinned first, then by
	// latest activity, with their counts.
	ListThreads(ctx context.Context, f ThreadFilter) ([]*Thread, error)
	// SearchThreads returns the IDs of the cohort's threads whose title or
	// some visible post contains every term (case-insensitive).
	SearchThreads(ctx context.Context, cohortID int64, terms []string) ([]int64, error)
	// CohortVersion returns a number that changes whenever any thread of
	// the cohort or any of their posts does (cheap to poll).
	CohortVersion(ctx context.Context, cohortID int64) (int64, error)
	// ThreadVersion returns only the thread's version (cheap to poll).
	ThreadVersion(ctx context.Context, id int64) (int64, error)
	// UpdateThread applies change to the thread's flags (Pinned, Locked,
	// Private, Shared, AnswerID, Title) and stores them with a new version.
	UpdateThread(ctx context.Context, id int64, change func(*Thread) error) (*Thread, error)

	// AddPost inserts p (not an opening post) into its thread, bumps the
	// thread's version and activity, and records the first staff reply.
	// ENOTFOUND for an unknown thread or parent post.
	AddPost(ctx context.Context, p *Post) error
	// FindPost returns the post.
	FindPost(ctx context.Context, id int64) (*Post, error)
	// ListPosts returns the thread's posts (every state), oldest first.
	ListPosts(ctx context.Context, threadID int64) ([]*Post, error)
	// EditPost replaces a post's text, keeping the old text as a revision,
	// and sets its state (a held edit, or visible again).
	EditPost(ctx context.Context, postID, editorID int64, body, html string, state PostState, heldReason string) (*Post, error)
	// PostRevisions returns a post's earlier texts, newest first.
	PostRevisions(ctx context.Context, postID int64) ([]*PostRevision, error)
	// SetPostState sets a post's state (and the reason shown while held).
	SetPostState(ctx context.Context, postID int64, state PostState, reason string) (*Post, error)
	// SetEndorsed marks a post endorsed by staff member by (0 removes it).
	SetEndorsed(ctx context.Context, postID, by int64) (*Post, error)

	// Vote adds (on) or removes the user's "same question" vote and
	// returns the thread's votes.
	Vote(ctx context.Context, threadID, userID int64, on bool) (int, error)
	// Voted reports whether the user voted on the thread.
	Voted(ctx context.Context, threadID, userID int64) (bool, error)
	// MarkRead records that the user has read the thread up to post
	// postID (a mark never moves back).
	MarkRead(ctx context.Context, userID, threadID, postID int64) error
	// Followers returns the users who follow a thread: its author, everyone
	// who posted in it and everyone who voted "same question".
	Followers(ctx context.Context, threadID int64) ([]int64, error)
	// FirstStaffReplies returns, for the cohort's questions, when each was
	// asked and when staff first replied (zero: not yet).
	FirstStaffReplies(ctx context.Context, cohortID int64) ([]StaffReply, error)
}

// StaffReply is when a question was asked and first answered by staff.
type StaffReply struct {
	ThreadID  int64
	AskedAt   time.Time
	RepliedAt time.Time // zero: no staff reply yet
}

// GroupService stores a cohort's discussion groups.
type GroupService interface {
	// ReplaceGroups archives the cohort's current groups and creates
	// groups (names and members set; IDs filled) in one transaction. A
	// learner may be in only one of them (EINVALID).
	ReplaceGroups(ctx context.Context, cohortID int64, groups []*Group) error
	// AddGroup adds an empty group (g.Name, g.CohortID set; ID filled)
	// beside the cohort's current groups. EINVALID for an empty name,
	// ENOTFOUND for an unknown cohort.
	AddGroup(ctx context.Context, g *Group) error
	// ListGroups returns the cohort's groups (archived ones too when
	// archived is true), by ID.
	ListGroups(ctx context.Context, cohortID int64, archived bool) ([]*Group, error)
	// FindGroup returns ENOTFOUND for an unknown group.
	FindGroup(ctx context.Context, id int64) (*Group, error)
	// SetGroupMember moves a learner into a current group of the cohort
	// (groupID 0: out of every current group). ENOTFOUND for an unknown or
	// archived group.
	SetGroupMember(ctx context.Context, cohortID, userID, groupID int64) error
}

// ModerationService stores reports of posts and the staff's audit log.
type ModerationService interface {
	// ReportPost records a report; ECONFLICT when the user already has an
	// open report of the post.
	ReportPost(ctx context.Context, r *PostReport) error
	// OpenReports returns the cohort's open reports, oldest first.
	OpenReports(ctx context.Context, cohortID int64) ([]*PostReport, error)
	// ResolveReports closes every open report of a post.
	ResolveReports(ctx context.Context, postID, by int64) error
	// Audit records a staff action.
	Audit(ctx context.Context, e *AuditEntry) error
	// AuditLog returns the cohort's audit entries, newest first (at most
	// limit; 0 means 200).
	AuditLog(ctx context.Context, cohortID int64, limit int) ([]*AuditEntry, error)
}

// AuditEntry is one staff action on a cohort: moderation, endorsements,
// groups, score adjustments, extensions, answers to regrade requests.
type AuditEntry struct {
	ID        int64
	CohortID  int64
	ActorID   int64
	Action    string // e.g. "hide post", "adjust score"
	Target    string // what it was done to, for people: "post 12 in thread 4", "Lin Learner on circuit-breaker"
	Detail    string // the reason, the points, the new due date
	CreatedAt time.Time
}

// Package views holds the templ pages of the Faultline portal and the typed
// view models they render. Handlers in package web build a model and render
// it; views never call services and never see secrets (password hashes, hidden
// test files, invite codes of cohorts the viewer cannot open).
package views

import (
	"strconv"

	"github.com/faultline-dev/faultline"
)

// Assets are the versioned URLs of the static files.
type Assets struct {
	CSS       string
	JS        string
	Live      string // live.js: the regrade and live pages' refresh
	Highlight string
	Icon      string // favicon.svg
	Trace     string // trace.js: the trace explorer's cursor
	Talk      string // talk.css: discussions and feedback
	TalkJS    string // talk.js: live threads, read marks, terminal watching
}

// Page is what every full page shares.
type Page struct {
	Title   string
	User    *faultline.User // nil when signed out
	Assets  Assets
	Nav     string // "home", "lessons", "labs" or "cohorts": the active menu item
	Refresh int    // > 0: a <noscript> meta refresh after this many seconds
	// BodyClass styles a whole page, e.g. "workspace" for the lab page
	// that fills the window.
	BodyClass string
	Inbox     int // unread notifications, shown beside the Inbox link
}

// ErrorPage is shown for any error that is not re-rendered in its form.
type ErrorPage struct {
	Page
	Status  int
	Message string
	SignIn  bool // offer a sign-in link
}

// AuthForm is the model of the sign-in, setup and join forms. Passwords are
// never echoed back.
type AuthForm struct {
	Page
	Action     string // form action URL
	Heading    string
	Intro      string
	Name       string
	Email      string
	Next       string // where to go after signing in
	Token      string // setup token (hidden field)
	Error      string
	WithName   bool   // ask for a name and a password confirmation (setup, join)
	SignedInAs string // join: the visitor is signed in; offer to join as them
	Submit     string
	// Sign-in extras (web/password.go, web/sso.go): a forgotten-password
	// link, single sign-on buttons, and the password form hidden when the
	// portal signs people in by SSO only.
	Forgot       bool
	SSO          []SSOButton
	HidePassword bool
}

// SSOButton starts single sign-on with one identity provider.
type SSOButton struct {
	Label string // "Sign in with Example University"
	URL   string // /sso/login?next=…
}

// OutlineItem is one lesson or case in an outline.
type OutlineItem struct {
	Slug    string
	Title   string
	Summary string
	URL     string
	Read    bool
	Quiz    string // best quiz score, "4/5"; "" if never taken
	Perfect bool   // the best score is full marks
}

// OutlineModule is one module of the course outline.
type OutlineModule struct {
	Title string
	Items []OutlineItem
}

// Progress counts the items read and the quizzes taken.
func (m OutlineModule) Progress() (read, quizzes int) {
	for _, it := range m.Items {
		if it.Read {
			read++
		}
		if it.Quiz != "" {
			quizzes++
		}
	}
	return read, quizzes
}

// LabCard is one lab in a list.
type LabCard struct {
	Slug       string
	Title      string
	Pattern    string
	Summary    string
	Difficulty string
	Minutes    int
	URL        string
	Best       string // "7/10" when the learner has submitted, else ""
}

// CohortLink is a cohort in a list.
type CohortLink struct {
	Name    string
	URL     string // "" when the viewer cannot open the dashboard
	Created string
}

// HomePage is / for signed-in users and visitors.
type HomePage struct {
	Page
	Modules  []OutlineModule
	Cases    []OutlineItem
	Labs     []HomeLabRow // every lab: due date and held score
	Cohorts  []CohortLink
	Continue *ContinueView // the lab worked on last; nil before any work
	NextRead *OutlineItem  // the first lesson or case study not read yet
	Recent   []RecentRow
	Read     int // lessons and case studies read
	Readable int // lessons and case studies in the course
	Quizzes  int // quizzes taken
	Finished int // labs with full marks
}

// HomeLabRow is one lab on the home page.
type HomeLabRow struct {
	Slug    string
	Title   string
	Pattern string
	URL     string
	Due     string // "due 12 Dec 18:00 UTC"; "" without a due date
	DueISO  string
	DueSoon bool   // due within two days
	Overdue bool   // past due and not at full marks
	Opens   string // "opens 1 Dec 09:00 UTC" while not open yet
	Score   string // the held score, "7/10"; "" before any graded attempt
	Full    bool
	Worked  bool // the learner saved or submitted something
}

// ContinueView is where the learner left off.
type ContinueView struct {
	Title  string
	URL    string
	Worked string // "2 hours ago"
	Score  string
}

// RecentRow is one of the learner's latest submissions.
type RecentRow struct {
	URL      string
	LabTitle string
	When     string
	State    string
	Score    string // "" until graded
	Full     bool
	Note     string // a late penalty
}

// OutlinePage is /lessons.
type OutlinePage struct {
	Page
	Modules []OutlineModule
	Cases   []OutlineItem
}

// LessonPage is one lesson or case study.
type LessonPage struct {
	Page
	Lesson *faultline.Lesson
	Kind   string // "Lesson" or "Case study"
	Read   bool
	// JustRead: the learner has just marked it read; the page confirms it.
	JustRead bool
	ReadURL  string
	Prev     *OutlineItem
	Next     *OutlineItem
	Labs     []LabCard // labs that practise it: named by the lesson or naming it
	Quiz     *QuizView // nil when the page has no quiz
	// Discussions are the cohort's threads here (talk_models.go).
	Discussions []PlaceDiscussionView
}

// QuizView is a lesson's quiz as a form, and after a submission its result.
// Before grading it carries no answers and no explanations.
type QuizView struct {
	Action    string
	Questions []QuizQuestionView
	Graded    bool
	Score     int
	Total     int
	Best      string // "4/5 (best of 3 attempts)"; "" if never taken
	// Spliced, when set, stands (unescaped) where the questions and the
	// button go: the lesson page puts there the questions rendered once
	// per lesson (QuizQuestions of the ungraded form).
	Spliced string
}

// QuizQuestionView is one question of a quiz form.
type QuizQuestionView struct {
	Name    string // form field, "q1"
	Number  int
	Text    string
	Choices []QuizChoiceView
	Right   bool   // graded only
	Explain string // graded only
}

// QuizChoiceView is one choice of a question.
type QuizChoiceView struct {
	ID      string // element id, "q1-2"
	Value   string // "2"
	Text    string
	Checked bool
	Correct bool // graded only: this is the right answer
}

// SearchPage is /search.
type SearchPage struct {
	Page
	Query    string
	Searched bool
	Results  []SearchResult
}

// SearchResult is one page found.
type SearchResult struct {
	Kind    string // "Lesson", "Case study" or "Lab"
	Title   string
	URL     string
	Snippet []SnippetPart
}

// SnippetPart is a piece of a search snippet; Match parts are highlighted.
type SnippetPart struct {
	Text  string
	Match bool
}

// LabsPage is /labs.
type LabsPage struct {
	Page
	Labs []LabCard
}

// LabInfo is the part of a lab a learner may see: never the hidden tests.
type LabInfo struct {
	Slug         string
	Title        string
	Pattern      string
	Summary      string
	Difficulty   string
	Minutes      int
	MaxScore     int
	VisibleTests []TestInfo
	HiddenTests  int // how many hidden tests
	HiddenPoints int
	URL          string
	// Parts are the lab's parts, each with its own tests; nil for a lab
	// without parts, whose tests are VisibleTests and HiddenTests alone.
	Parts []PartInfo
}

// PartInfo is one part of a lab with parts as the lab page lists it: its
// visible tests, and how many hidden ones it has and their points.
type PartInfo struct {
	ID, Title, Summary string
	Points             int // of every test of the part
	VisibleTests       []TestInfo
	HiddenTests        int
	HiddenPoints       int
}

// PartScoreView is a result's score in one part of its lab.
type PartScoreView struct {
	ID, Title       string
	Score, MaxScore int
	Full            bool // every test of the part passed
}

// TestInfo is a visible test and its points.
type TestInfo struct {
	Name   string
	Points int
}

// SandboxView is the state of the learner's sandbox as the lab page shows it.
type SandboxView struct {
	Available bool        // false: the engine is down or not configured
	State     string      // "" (never started), "starting", "running", "stopped", "failed"
	Error     string      // why it failed, user-safe
	Life      SandboxLife // when a running sandbox is stopped (labstream_models.go)
}

// Running reports whether tests can run in the sandbox.
func (s SandboxView) Running() bool { return s.State == "running" }

// FileLink is one file of the workspace list.
type FileLink struct {
	Path     string
	URL      string
	Selected bool
	ReadOnly bool // a visible test of the lab
	Saved    bool // the learner saved their own version
}

// Editor is the file editor form.
type Editor struct {
	Path     string
	Content  string
	ReadOnly bool
}

// TestRow is one test in a result: its verdict, and beside it what helps
// with a failure: the pictures it attached, the button that replays its
// failing run, and the trace explorer of that run.
type TestRow struct {
	Name     string
	Part     string // the id of its part, in a lab with parts
	Hidden   bool
	Status   string
	Score    int
	MaxScore int
	Message  string
	Output   string
	Pictures []PictureView // what the test attached, identical pictures once
	Replay   *ReplayLink   // its failing run names a seed
	Trace    string        // the trace explorer of its failing run; "" if none was recorded
}

// Failed reports whether the test did not pass.
func (t TestRow) Failed() bool { return t.Status != "pass" }

// RunView is the outcome of "Run tests" in the sandbox.
type RunView struct {
	Status   string
	Message  string
	Score    int
	MaxScore int
	Output   string
	Tests    []TestRow
}

// SubmissionRow is one submission in a list.
type SubmissionRow struct {
	ID    int64
	URL   string
	When  string
	State string
	Score string // "7/10" when graded
}

// LabPage is /labs/{slug}: README, sandbox, files, editor, run, submit.
type LabPage struct {
	Page
	Lab         LabInfo
	README      string // sanitized HTML
	Sandbox     SandboxView
	Files       []FileLink
	Editor      Editor
	Run         *RunView
	Submissions []SubmissionRow
	History     LabHistory // submissions with diff links, restore points (history_models.go)
	Notice      string
	Error       string
	Rules       string // cohort settings that apply: due date, submissions left (labsettings.go)
	// Tab is the tab of the bottom pane to show first: "tests" after a
	// test run, "history" after a reset or restore; "" the terminal.
	Tab string
	// Conversation: discussions here, the learner's extension and
	// adjustments, terminal sharing (talk_models.go).
	Conversation LabConversation
}

// ResultView is the state and, when finished, the result of a submission.
// It is rendered both in the page and as the SSE result fragment.
type ResultView struct {
	ID         int64
	State      string
	Finished   bool   // done or failed
	Status     string // result status code, e.g. "graded"
	StatusText string // the status in words
	Score      int
	MaxScore   int
	Message    string
	Output     string
	Tests      []TestRow // each with its pictures, Replay button and trace
	Flags      []string  // shown to instructors only
	Duration   string
	// Parts is the score in each part of a lab with parts, over every
	// test (hidden ones included) and before any late penalty; nil for a
	// lab without parts.
	Parts []PartScoreView
	// HiddenSummary replaces the hidden tests when the learner's cohort hides
	// them; LateNote explains a late penalty applied to Score (labsettings.go).
	HiddenSummary string
	LateNote      string
	// Next is what to do after full marks; nil otherwise.
	Next *WhatNext
}

// Full reports whether the result has full marks.
func (r ResultView) Full() bool { return r.Finished && r.MaxScore > 0 && r.Score >= r.MaxScore }

// Failing counts the tests that did not pass.
func (r ResultView) Failing() int {
	n := 0
	for _, t := range r.Tests {
		if t.Failed() {
			n++
		}
	}
	return n
}

// WhatNext points a learner with full marks onwards: the next lab they have
// not finished and the lessons that go deeper.
type WhatNext struct {
	Lab     *LabCard
	Lessons []OutlineItem
}

// ReplayLink is a button that replays one failing test's run by its seed.
type ReplayLink struct {
	Action string // form action
	Index  string // the test's index in the result
	Test   string
	Hidden bool
	Seed   string
	Run    string // -run pattern
}

// ReplayPage is the result of replaying one failing run.
type ReplayPage struct {
	Page
	SubmissionURL string
	SubmissionID  int64
	Test, Seed    string
	Run           string
	Against       string // which files were replayed
	Result        ResultView
}

// PictureView is one picture a test attached, served as an image.
type PictureView struct {
	Test string // the test that attached it
	Name string // e.g. timeline.svg
	URL  string
	// Inline marks a data: URL (a replay's pictures, never stored): shown,
	// not linked.
	Inline bool
	// SameAs names an earlier test that attached the very same picture: it
	// is not shown twice.
	SameAs string
}

// SubmissionPage is /submissions/{id}.
type SubmissionPage struct {
	Page
	ID        int64
	LabTitle  string
	LabURL    string
	Owner     string // the learner's name, shown to instructors
	Created   string
	EventsURL string // "" once finished
	Result    ResultView
	Review    SubmissionReview   // similar_models.go: files, previous attempt, similarity
	Regrade   *SubmissionRegrade // regrade_models.go: results history and Regrade button; nil unless the viewer teaches
	Feedback  *FeedbackPanel     // talk_models.go: comments, adjustments, regrade requests, attach a failing run
}

// CohortsPage is /cohorts with the create form.
type CohortsPage struct {
	Page
	Cohorts   []CohortLink
	CanCreate bool // instructor and admin accounts create cohorts; co-instructors do not
	Name      string
	Error     string
}

// LabColumn is one lab column of the progress matrix.
type LabColumn struct {
	Slug  string
	Title string
	Max   int
}

// MatrixCell is one learner's standing on one lab.
type MatrixCell struct {
	Has      bool
	Best     int
	Max      int
	Attempts int
	URL      string // the best submission
	Full     bool   // full marks
	Pending  bool   // submitted, nothing graded yet (no link)
}

// MatrixRow is one learner of the progress matrix.
type MatrixRow struct {
	Name  string
	Email string
	Cells []MatrixCell
}

// MemberRow is one member of a cohort.
type MemberRow struct {
	Name   string
	Email  string
	Role   string
	Joined string
}

// CohortPage is /cohorts/{id}: the invite link, members and the matrix.
type CohortPage struct {
	Page
	Name      string
	InviteURL string
	Members   []MemberRow
	Labs      []LabColumn
	Rows      []MatrixRow
	Progress  ProgressMatrix // the sortable heat map (dashboard_models.go)
	Invite    InviteView     // expiry and regenerate forms (roster_models.go)
	Roster    RosterView     // members with roles and actions (roster_models.go)
	Live      string         // the live view's URL (live.go)
	Regrades  string         // the cohort's regrades (regrades.go)
	// Conversation: questions, moderation, regrade requests (talk_models.go).
	Conversation *ConversationPanel
	// RosterHTML, when set instead of Roster, is RosterPanel rendered already.
	RosterHTML string
}

func itoa(n int) string { return strconv.Itoa(n) }

func id64(n int64) string { return strconv.FormatInt(n, 10) }

func scoreText(score, max int) string { return itoa(score) + "/" + itoa(max) }
func itoa64(n int64) string           { return strconv.FormatInt(n, 10) }

// labFilesURL is where a lab page's file forms post.
func labFilesURL(labURL string) string { return labURL + "/files" }

// TraceDiagram is a window of a failing run drawn as a space-time diagram.
type TraceDiagram struct {
	SVG      string // built by web/tracediagram.go from escaped text only
	Lanes    []string
	Rows     []TraceRow
	From, To int // the window: events [From, To)
	Total    int // events recorded
	RunTotal int // events the run had (the trace keeps the last ones)
}

// TraceRow is one event of the diagram as text.
type TraceRow struct {
	Index  int
	Time   string
	Kind   string
	Text   string
	State  string // what held right after it
	Cursor bool
}

// TraceLink is a link of the explorer's controls.
type TraceLink struct {
	Label string
	URL   string
}

// TracePage is the trace explorer of one failing test's run.
type TracePage struct {
	Page
	SubmissionURL string
	SubmissionID  int64
	LabTitle      string
	Test          string // the run, e.g. TestX/seed=42
	Seed          string
	Property      string
	Detail        string
	BrokeAt       string
	Diagram       TraceDiagram
	Cursor        TraceRow // the event stepped to
	Steps         []TraceLink
	Action        string // the controls' form action
	At            int
	From          int
	Max           int // the last event index
	Hide          []TraceKindOption
	Replay        *ReplayLink
	Script        string // trace.js
}

// TraceKindOption is one kind of event the explorer can hide.
type TraceKindOption struct {
	Kind   string
	Label  string
	Hidden bool
}

package views

// View models of the conversation: a cohort's discussions (threads, posts,
// groups, moderation), feedback on submissions (comments, adjustments,
// extensions, regrade requests), the inbox and office hours. Handlers in
// web/discuss*.go, web/feedback.go and web/inbox.go build them from what the
// course layer lets the viewer see: an anonymous author reaches these models
// as "Anonymous", never by name.

// AuthorView is how an author appears to the viewer.
type AuthorView struct {
	Name  string
	Self  bool
	Staff bool
	// AnonNote: the author posted anonymously and the viewer (staff or the
	// author) sees the name anyway; the page says classmates do not.
	AnonNote bool
}

// ThreadRow is one thread in a list.
type ThreadRow struct {
	ID       int64
	URL      string
	Title    string
	Kind     string // question, discussion, announcement
	Place    string
	Author   AuthorView
	Replies  int
	Unread   int
	Votes    int
	Answered bool // a reply by someone other than the author
	Resolved bool // an answer is marked
	Pinned   bool
	Locked   bool
	Private  bool
	Group    string // a group's thread: its group
	Shared   bool
	HasRun   bool
	Activity string
}

// Link is a labelled link, Active when it is the current one.
type Link struct {
	Label  string
	URL    string
	Active bool
	Count  int
}

// DiscussIndexPage is /discuss/{cid}: a cohort's threads with filters.
type DiscussIndexPage struct {
	Page
	CohortID   int64
	CohortName string
	Staff      bool
	Filters    []Link
	Places     []Link
	Search     string
	Filter     string
	Place      string
	Threads    []ThreadRow
	NewURL     string
	EventsURL  string
	ListURL    string // the list fragment, for live updates
	Unread     int
	StaffLinks []Link
	Group      string // the viewer's group
	Cohorts    []Link // other cohorts the viewer takes part in
}

// DiscussCohortsPage is /discuss: the cohorts whose discussions the viewer
// takes part in.
type DiscussCohortsPage struct {
	Page
	Cohorts []Link
}

// PostView is one post as the viewer may see it, with what they may do.
type PostView struct {
	ID         int64
	Anchor     string
	Opening    bool
	Author     AuthorView
	HTML       string
	State      string // visible, held, hidden, deleted
	HeldReason string
	Created    string
	Edited     string // when last edited; "" never
	EndorsedBy string
	Answer     bool
	Reports    int
	Replies    []PostView

	CanEdit     bool
	CanDelete   bool
	CanEndorse  bool
	CanAnswer   bool
	CanModerate bool
	CanReport   bool
	CanReply    bool
	CanHistory  bool
	AnonReply   bool // the reply form offers posting anonymously

	EditURL     string
	DeleteURL   string
	EndorseURL  string
	AnswerURL   string
	ReportURL   string
	ModerateURL string
	HistoryURL  string
	ReplyURL    string
}

// FailingRunView is a failing run attached to a thread: the test, its verdict,
// faults, seed and pictures, never the code.
type FailingRunView struct {
	Lab       string
	LabTitle  string
	LabURL    string
	Test      string
	Hidden    bool
	Verdict   string
	Status    string
	Score     string
	Message   string
	Report    string
	Faults    []string
	Seed      string
	FailedRun string
	Pictures  []PictureView
	// SubmissionURL is set only for whoever may open the submission
	// (staff, the author).
	SubmissionURL string
}

// ThreadHead is a thread's title block and settings.
type ThreadHead struct {
	ID         int64
	Title      string
	Kind       string
	Place      string
	PlaceURL   string
	Author     AuthorView
	Created    string
	Pinned     bool
	Locked     bool
	Private    bool
	Anonymous  bool
	Group      string
	Shared     bool
	SharedRead bool // a group's thread the viewer reads, shared from another group
	Prompt     string
	Resolved   bool
	Votes      int
	Voted      bool
	CanVote    bool
}

// ThreadPosts is the part of a thread page that live updates replace.
type ThreadPosts struct {
	ThreadID int64
	Opening  *PostView
	Replies  []PostView
	Last     int64 // newest post shown
	Empty    string
}

// ThreadPageModel is /discuss/{cid}/threads/{tid}.
type ThreadPageModel struct {
	Page
	CohortName string
	IndexURL   string
	Head       ThreadHead
	Run        *FailingRunView
	Posts      ThreadPosts
	Staff      bool
	CanPost    bool
	AnonReply  bool // a learner may reply anonymously
	ReplyURL   string
	VoteURL    string
	ReadURL    string
	FlagsURL   string
	EventsURL  string
	Notice     string
	Held       string // the reason the viewer's last post was held
	Error      string
	Body       string // the reply being re-shown after an error
	Anonymous  bool
}

// Choice is one option of a select or radio group.
type Choice struct {
	Value    string
	Label    string
	Selected bool
}

// NewThreadPage is /discuss/{cid}/new and its re-shown form.
type NewThreadPage struct {
	Page
	CohortName string
	Action     string
	IndexURL   string
	Places     []Choice
	Kinds      []Choice
	Title      string
	Body       string
	Anonymous  bool
	Private    bool
	Staff      bool
	Run        *FailingRunView
	RunSub     int64
	RunTest    int
	Error      string
}

// EditPostPage is the form that edits a post.
type EditPostPage struct {
	Page
	Action    string
	ThreadURL string
	Title     string
	Body      string
	Error     string
	Held      bool
}

// RevisionView is an earlier text of a post.
type RevisionView struct {
	Body   string
	Editor AuthorView
	When   string
}

// PostHistoryPage lists a post's earlier texts.
type PostHistoryPage struct {
	Page
	ThreadURL string
	Title     string
	Current   PostView
	Revisions []RevisionView
}

// PromptLine is one case prompt with the viewer's group's thread.
type PromptLine struct {
	N        int
	Text     string
	URL      string // the thread, when the group started it
	StartURL string // the form that opens it
	Posts    int
}

// PlaceDiscussionView is what a lesson, case study or lab page shows of one
// cohort's discussions there.
type PlaceDiscussionView struct {
	CohortName string
	Staff      bool
	Threads    []ThreadRow
	More       int    // threads beyond those listed
	AllURL     string // the cohort's index filtered to this place
	NewURL     string // a new thread here
	Prompts    []PromptLine
	Group      string // the viewer's group
	NoGroup    bool   // a case with prompts, and the learner has no group
	BoardURL   string // staff: the groups side by side
}

// GroupView is a group with its members.
type GroupView struct {
	ID      int64
	Name    string
	Members []MemberLine
}

// MemberLine is a learner with the groups they can be moved to.
type MemberLine struct {
	ID   int64
	Name string
}

// GroupsPage is /cohorts/{id}/groups.
type GroupsPage struct {
	Page
	CohortID   int64
	CohortName string
	CohortURL  string
	Groups     []GroupView
	Ungrouped  []MemberLine
	Options    []Choice // groups a learner can be moved to (and "no group")
	SplitURL   string
	NewURL     string
	MoveURL    string
	Cases      []Link // the case boards
	Notice     string
	Error      string
	Size       string
}

// BoardCell is one group's thread on one prompt.
type BoardCell struct {
	Group    string
	URL      string // the thread ("" when not started)
	StartURL string // staff can open it
	GroupID  int64
	Posts    []PostView
	Shared   bool
	ShareURL string
}

// BoardPrompt is one prompt row of the case board.
type BoardPrompt struct {
	N     int
	Text  string
	Cells []BoardCell
}

// CaseBoardPage is /cohorts/{id}/cases/{case}: groups side by side.
type CaseBoardPage struct {
	Page
	CohortName string
	GroupsURL  string
	Case       string
	CaseURL    string
	Groups     []string
	Prompts    []BoardPrompt
}

// HeldLine is a held, reported or hidden post for staff.
type HeldLine struct {
	Post      PostView
	Thread    string
	ThreadURL string
	Reasons   []string
}

// AuditRow is one staff action.
type AuditRow struct {
	When   string
	Actor  string
	Action string
	Target string
	Detail string
}

// ModerationPage is /cohorts/{id}/moderation.
type ModerationPage struct {
	Page
	CohortName string
	CohortURL  string
	Held       []HeldLine
	Reported   []HeldLine
	Hidden     []HeldLine
	Audit      []AuditRow
}

// RequestRow is one regrade request.
type RequestRow struct {
	ID            int64
	Learner       string
	Lab           string
	Test          string
	Reason        string
	SubmissionURL string
	Created       string
	State         string
	Outcome       string
	Answer        string
	AnsweredBy    string
	Answered      string
	Action        string // staff: where the answer form posts ("" when answered)
}

// RequestsPage is /cohorts/{id}/requests.
type RequestsPage struct {
	Page
	CohortName string
	CohortURL  string
	Open       []RequestRow
	Done       []RequestRow
	Notice     string
}

// ConversationPanel is the instructor dashboard's discussion and feedback
// numbers.
type ConversationPanel struct {
	Unanswered   int
	Unresolved   int
	MedianFirst  string // "" when no question has a staff reply yet
	Answered     int
	OpenRequests int
	Held         int
	Reported     int
	DiscussURL   string
	Unanswer     string // the index filtered to unanswered questions
	RequestsURL  string
	ModerateURL  string
	GroupsURL    string
}

// CommentView is one comment on a submission.
type CommentView struct {
	ID        int64
	Anchor    string
	Author    string
	Staff     bool
	Self      bool
	HTML      string
	Deleted   bool
	When      string
	Where     string // "breaker.go line 12"; "" for the overall comment
	Replies   []CommentView
	DeleteURL string
	ReplyURL  string // where a reply posts ("" when the viewer may not reply)
	ParentID  int64
}

// CodeLine is one line of a submitted file in the commentable view.
type CodeLine struct {
	N        int
	HTML     string // highlighted, sanitized; "" shows Text
	Text     string
	Comments []CommentView
	// CommentURL opens the comment form on this line (staff only).
	CommentURL string
	Open       bool // the form is open here
}

// CommentedFile is a submission file with its line comments.
type CommentedFile struct {
	Path     string
	Anchor   string
	Lines    []CodeLine
	Comments int
}

// AdjustmentRow is one score adjustment.
type AdjustmentRow struct {
	Points string // "+2", "−1"
	Reason string
	By     string
	When   string
}

// FeedbackPanel is the feedback section of a submission page.
type FeedbackPanel struct {
	SubmissionID int64
	Teacher      bool
	Own          bool
	CommentURL   string
	Overall      []CommentView
	LineComments []CommentView // every line comment, by file and line, for the summary
	Files        []CommentedFile
	FormPath     string // the open line-comment form
	FormLine     int
	FormAction   string
	Adjustments  []AdjustmentRow
	Held         string // "8/10" the learner holds now
	HeldNote     string
	Extension    string // the learner's extension, in words
	AdjustURL    string // staff
	ExtendURL    string // staff
	LabPageURL   string // staff: the learner's lab in the cohort
	Requests     []RequestRow
	RequestURL   string // owner: where a regrade request posts
	Askable      []Choice
	AttachRuns   []AttachLink // owner: "Attach my failing run"
	Error        string
}

// AttachLink starts a thread with a failing run attached.
type AttachLink struct {
	Test   string
	URL    string
	Hidden bool
	Cohort string // when the learner is in several cohorts
}

// LearnerFeedbackPanel is the adjustments and extension panel on a
// teacher's page of one learner's lab.
type LearnerFeedbackPanel struct {
	Learner     string
	Lab         string
	Held        string
	Adjustments []AdjustmentRow
	AdjustURL   string
	Extension   string
	ExtendURL   string
	RemoveURL   string
	DueValue    string // the current due date, for the form
	FilesURL    string // office hours
	Notice      string
}

// NotificationRow is one inbox entry.
type NotificationRow struct {
	ID      int64
	Kind    string
	Title   string
	Actor   string
	Excerpt string
	When    string
	Unread  bool
	OpenURL string
}

// InboxPage is /inbox.
type InboxPage struct {
	Page
	Rows        []NotificationRow
	Unread      int
	UnreadOnly  bool
	ReadAllURL  string
	SettingsURL string
}

// SettingRow is one kind of notification in the settings form.
type SettingRow struct {
	Kind  string
	Label string
	Help  string
	Inbox bool
	Email bool
}

// NotificationSettingsPage is /settings/notifications.
type NotificationSettingsPage struct {
	Page
	Rows   []SettingRow
	Email  bool // the portal can send email
	Notice string
}

// OfficeFile is one of a learner's current files, read-only.
type OfficeFile struct {
	Path   string
	HTML   string
	Text   string
	Saved  bool
	Anchor string
}

// OfficeHoursPage is /cohorts/{id}/learners/{uid}/labs/{slug}/files.
type OfficeHoursPage struct {
	Page
	Learner     string
	Lab         string
	BackURL     string
	PanelURL    string
	Files       []OfficeFile
	Updated     string
	Sandbox     string
	TerminalURL string
	Shared      bool
}

// TerminalWatchPage is the read-only view of a learner's shared terminal.
type TerminalWatchPage struct {
	Page
	Learner   string
	Lab       string
	BackURL   string
	StreamURL string
	Shared    bool
}

// ShareTerminal is the lab page's control that shares the terminal with
// staff during office hours.
type ShareTerminal struct {
	Action string
	Shared bool
}

// LabConversation is what the lab page shows of the conversation.
type LabConversation struct {
	Discussions []PlaceDiscussionView
	Extension   string
	Adjustments []AdjustmentRow
	Share       *ShareTerminal
}

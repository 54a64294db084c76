package views

// View models of the regrade pages and the live view (regrades.templ,
// live.templ).

// RegradeForm is the "Regrade all submissions of this lab" panel of a lab's
// statistics page, or the "Regrade" button of a submission page.
type RegradeForm struct {
	Action string // form action; empty: not offered
	Notice string // a message after a regrade that could not be queued
	Jobs   []RegradeJobLine
}

// RegradeProgress is a job's progress: the fragment the job page refreshes.
type RegradeProgress struct {
	ID        int64
	URL       string // the job page
	Fragment  string // this fragment alone, for the live script
	State     string // running, done or canceled
	StateText string
	Done      int
	Total     int
	Failed    int
	Percent   int
	Finished  bool
	Started   string
	Ended     string
	CancelURL string // form action; empty unless something is still queued
}

// RegradeJobLine is one job in a cohort's list of regrades.
type RegradeJobLine struct {
	URL       string
	ID        int64
	What      string // "all of saga" or "submission #12"
	State     string
	StateText string
	Done      int
	Total     int
	Failed    int
	Started   string
	Current   bool // the job the page is about
	CancelURL string
	Back      string // "live": the Cancel form returns to the live view
}

// RegradeJobPage is /cohorts/{id}/regrades/{job}; with no job it is the
// cohort's list of regrades (/cohorts/{id}/regrades).
type RegradeJobPage struct {
	Page
	Cohort    string
	CohortURL string
	LiveURL   string
	Script    string // the live script's URL
	What      string // what the job regrades
	LabURL    string // the lab's statistics in the cohort
	SubURL    string // the one submission, for a single-submission job
	Notice    string
	Progress  *RegradeProgress // nil on the list page
	Jobs      []RegradeJobLine
}

// ResultHistoryLine is one result a submission has had, for instructors.
type ResultHistoryLine struct {
	ID         int64
	When       string
	Score      string // "7/10", or "" when it could not be graded
	StatusText string
	Regrade    string // "" for the first grading, else "regrade #3"
	RegradeURL string // the job page, when its cohort is known
	Current    bool
}

// SubmissionRegrade is the instructor's part of a submission page: the
// regrade button and the history of results.
type SubmissionRegrade struct {
	Form    RegradeForm
	History []ResultHistoryLine
}

// LiveSandboxRow is one running sandbox on the live view.
type LiveSandboxRow struct {
	Learner    string
	Email      string
	Lab        string
	LabTitle   string
	State      string
	Started    string
	LastActive string
	Idle       string // "12 minutes" since the last activity
	StopURL    string // form action
	UserID     string
}

// QueueRow is one queued or running submission on the live view.
type QueueRow struct {
	URL        string
	ID         int64
	Learner    string
	LabTitle   string
	State      string
	Regrade    string // "" for a learner's own submission, else "regrade #3"
	RegradeURL string
	Waiting    string // how long since it was submitted or started
}

// QueueSummary is the grading queue as a whole.
type QueueSummary struct {
	Depth     int
	Regrades  int
	Running   int
	Workers   int
	OldestAge string // "" when nothing is waiting
}

// LivePanel is the refreshed part of the live view.
type LivePanel struct {
	Fragment      string // this fragment alone, for the live script
	SandboxesNote string // why sandboxes cannot be listed or stopped, if so
	Sandboxes     []LiveSandboxRow
	Queue         QueueSummary
	Entries       []QueueRow
	Jobs          []RegradeJobLine // running regrade jobs with their Cancel buttons
	AllCohorts    bool             // the admin view of every cohort
	Updated       string
}

// LivePage is /cohorts/{id}/live, or /admin/live for every cohort.
type LivePage struct {
	Page
	Cohort    string // empty on the admin view
	CohortURL string
	URL       string // this page, the no-JS refresh link
	Script    string
	Notice    string
	Panel     LivePanel
}

func regradeStateClass(state string) string {
	switch state {
	case "done":
		return "ok"
	case "canceled":
		return "bad"
	}
	return ""
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

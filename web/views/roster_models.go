package views

// InviteView is the invite panel of a cohort page: the link, when it
// expires, and the forms to set the expiry and to regenerate the link.
type InviteView struct {
	Action  string // form action
	Expires string // "2 Jan 2006 15:04 UTC", empty: never
	Expired bool
	Value   string // the expiry as a datetime-local value (UTC)
}

// RosterMember is one member line of a cohort page with its actions.
type RosterMember struct {
	Name      string
	Email     string
	Role      string // instructor, co_instructor or learner
	RoleText  string // in words
	Joined    string
	RoleURL   string // form action changing learner ↔ co-instructor; empty for the instructor
	NewRole   string // the role the role button switches to
	NewText   string // the role button's label
	RemoveURL string // the confirmation page
	MoveURL   string // form action moving a learner; empty for teachers
	ResetURL  string // form action issuing a password reset link; empty when the viewer may not
}

// ResetLinkPage shows a one-time password reset link, once.
type ResetLinkPage struct {
	Page
	Cohort    string
	CohortURL string
	Name      string
	Email     string
	Link      string
	Expires   string
}

// MoveTarget is another cohort the viewer teaches, where a learner can move.
type MoveTarget struct {
	ID   string
	Name string
}

// RosterView is the members panel of a cohort page.
type RosterView struct {
	Members []RosterMember
	Targets []MoveTarget
	Labs    []SettingsLink
}

// SettingsLink leads to one lab's settings in the cohort.
type SettingsLink struct {
	Title string
	URL   string
}

// RemovePage confirms taking a member off a cohort's roster.
type RemovePage struct {
	Page
	Cohort    string
	CohortURL string
	Name      string
	Email     string
	Role      string
	Action    string
}

// LabSettingsPage is /cohorts/{id}/labs/{slug}/settings. The fields hold the
// user's input as typed, so a rejected form comes back unchanged.
type LabSettingsPage struct {
	Page
	Cohort         string
	CohortURL      string
	LabTitle       string
	Action         string
	OpensAt        string // datetime-local, UTC
	DueAt          string
	Late           string // accept, penalty or refuse
	PerDay         string
	Cap            string
	MaxSubmissions string
	PerMinute      string
	Visibility     string // visible, hidden or after_due
	Updated        string
	Saved          bool
	Error          string
}

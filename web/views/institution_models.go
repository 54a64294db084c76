package views

import "net/url"

// ForgotPasswordPage is the "forgot your password" form and its answer.
type ForgotPasswordPage struct {
	Page
	Email string
	Error string
	Sent  bool // the request was taken: say a link is on its way
}

// ResetPasswordPage is the form to choose a new password. Token is the
// secret from the emailed link, kept in a hidden field.
type ResetPasswordPage struct {
	Page
	Token string
	Email string
	Error string
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// SignInSettingsPage is the account's sign-in settings.
type SignInSettingsPage struct {
	Page
	HasPassword bool
	Provider    string // the SSO provider's name; "" when there is none
	Linked      []LinkedIdentity
}

// LinkedIdentity is one identity linked to the account.
type LinkedIdentity struct {
	Kind     string // "oidc" or "lti"
	Issuer   string
	Since    string
	LastSeen string
}

// LTIAdminPage registers LMS platforms.
type LTIAdminPage struct {
	Page
	Enabled                                   bool
	LoginURL, LaunchURL, DeepLinkURL, JWKSURL string
	Platforms                                 []LTIPlatformRow
	Form                                      LTIPlatformForm
	Error, Notice                             string
}

// LTIPlatformRow is one registered platform.
type LTIPlatformRow struct {
	ID                                                              int64
	Name, Issuer, ClientID, Deployments, AuthURL, TokenURL, JWKSURL string
}

// LTIPlatformForm is the registration form's input, kept on an error.
type LTIPlatformForm struct {
	Name, Issuer, ClientID, Deployments, AuthURL, TokenURL, JWKSURL string
}

// LTIDeepLinkPage is the instructor's choice of what to place in a course.
type LTIDeepLinkPage struct {
	Page
	Token, Platform, Course, Error string
	Multiple                       bool
	Labs, Lessons                  []LTIChoice
}

// LTIChoice is one lab or lesson to pick.
type LTIChoice struct {
	Value, Title, Summary string
	Points                int
}

// LTIDeepLinkReturnPage posts the signed choice back to the platform.
type LTIDeepLinkReturnPage struct {
	Page
	ReturnURL, JWT string
	Count          int
}

// CohortLTIPage is a cohort's link to an LMS course.
type CohortLTIPage struct {
	Page
	CohortID              int64
	CohortName, CohortURL string
	Linked, CanSync       bool
	Course, LastSync      string
	Notice, Error, Report string
	Warnings              []string
}

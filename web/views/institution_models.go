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

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

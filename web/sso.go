package web

import (
	"net/http"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// signInOptions adds to the sign-in form what this portal offers besides
// a password: the forgotten-password link and single sign-on; in SSO-only
// mode it hides the password form unless ?password=1 asks for it (the way
// in an administrator keeps).
func (s *Server) signInOptions(r *http.Request, m views.AuthForm) views.AuthForm {
	m.Forgot = s.resetsEnabled() == nil
	if s.d.SSOOnly && r.URL.Query().Get("password") != "1" && r.PostFormValue("password") == "" {
		m.HidePassword = true
	}
	return m
}

// passwordSignIn returns nil when u may sign in with a password: always,
// except in SSO-only mode, where only administrators may (so the portal's
// administrator keeps a way in when the identity provider is down or
// misconfigured).
func (s *Server) passwordSignIn(u *faultline.User) error {
	if s.d.SSOOnly && u.Role != faultline.RoleAdmin {
		return faultline.Errorf(faultline.EFORBIDDEN, "This portal signs people in through their organisation's sign-in; use the button above.")
	}
	return nil
}

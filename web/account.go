package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// The account page: the signed-in user's display name and password.

func (s *Server) accountRoutes(r chi.Router) {
	r.Get("/account", s.h(s.serveAccount))
	r.Post("/account/name", s.h(s.serveAccountName))
	r.Post("/account/password", s.h(s.serveAccountPassword))
}

// accountPage is the account page's model for the signed-in user.
func (s *Server) accountPage(r *http.Request) views.AccountPage {
	u := UserFromContext(r.Context())
	return views.AccountPage{
		Page: s.page(r, "Your account", "account"), Name: u.Name, Email: u.Email,
		Role: string(u.Role), Teaches: u.CanTeach(),
	}
}

// serveAccount shows the account page; ?saved= says what was just saved
// (display only: the save was the POST that redirected here).
func (s *Server) serveAccount(w http.ResponseWriter, r *http.Request) error {
	m := s.accountPage(r)
	switch r.URL.Query().Get("saved") {
	case "name":
		m.NameNotice = "Your name is saved."
	case "password":
		m.PasswordNotice = "Your password is changed. Your other sign-ins were ended."
	}
	return s.render(w, r, http.StatusOK, views.Account(m))
}

// serveAccountName changes the display name; a refused name re-renders the
// form with what was typed and the reason.
func (s *Server) serveAccountName(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	name := formValue(r, "name")
	if _, err := s.c.Rename(r.Context(), UserFromContext(r.Context()), name); err != nil {
		code, msg, ok := userError(err)
		if !ok {
			return err
		}
		m := s.accountPage(r)
		m.Name, m.NameError = name, msg
		return s.render(w, r, statusOf(code), views.Account(m))
	}
	return redirect(w, r, "/account?saved=name#name")
}

// serveAccountPassword changes the password after checking the current one;
// every other session of the user ends. Passwords are never echoed back.
func (s *Server) serveAccountPassword(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	ctx := r.Context()
	err := s.c.ChangePassword(ctx, UserFromContext(ctx), sessionFromContext(ctx),
		formValue(r, "current"), formValue(r, "password"), formValue(r, "confirm"), clientIP(r))
	if err != nil {
		code, msg, ok := userError(err)
		if !ok {
			return err
		}
		if code == faultline.EUNAUTHORIZED {
			code = faultline.EINVALID // a wrong current password is a form error, not "sign in"
		}
		setRetryAfter(w, err)
		m := s.accountPage(r)
		m.PasswordError = msg
		return s.render(w, r, statusOf(code), views.Account(m))
	}
	return redirect(w, r, "/account?saved=password#password")
}

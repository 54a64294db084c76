package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// resetTTL is how long an emailed password reset link works.
const resetTTL = time.Hour

// institution is the state of the institution features (password resets
// by email, single sign-on, LTI) kept by the Server; its zero value is
// ready, the parts are made on first use.
type institution struct {
	once       sync.Once
	resetsByIP *throttle // reset requests per client address
	resetsByTo *throttle // reset requests per email address
}

func (s *Server) inst() *institution {
	s.institution.once.Do(func() {
		s.institution.resetsByIP = newThrottle(10, 15*time.Minute, s.now)
		s.institution.resetsByTo = newThrottle(3, time.Hour, s.now)
	})
	return &s.institution
}

// passwordRoutes are the forgotten-password pages, open to visitors. The
// reset token travels in the query (GET) and the form body (POST), never in
// the path, which the request log records.
func (s *Server) passwordRoutes(r chi.Router) {
	r.Get("/password/forgot", s.h(s.serveForgot))
	r.Post("/password/forgot", s.h(s.serveForgotPost))
	r.Get("/password/reset", s.h(s.serveResetForm))
	r.Post("/password/reset", s.h(s.serveResetPost))
}

// resetsEnabled returns nil when passwords can be reset by email here.
func (s *Server) resetsEnabled() error {
	if s.d.Notifier == nil || s.d.Resets == nil {
		return faultline.Errorf(faultline.ENOTFOUND, "This portal does not send email, so a password cannot be reset by email. Ask its administrator.")
	}
	if s.d.SSOOnly {
		return faultline.Errorf(faultline.ENOTFOUND, "This portal signs people in through their organisation's sign-in only; it keeps no passwords to reset.")
	}
	return nil
}

func (s *Server) serveForgot(w http.ResponseWriter, r *http.Request) error {
	if err := s.resetsEnabled(); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ForgotPassword(views.ForgotPasswordPage{Page: s.page(r, "Forgot your password?", "")}))
}

// serveForgotPost emails a reset link when an account has the address, and
// answers the same whether or not one does, so the form does not tell who
// has an account. Requests are limited per client address and per email.
func (s *Server) serveForgotPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.resetsEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	m := views.ForgotPasswordPage{Page: s.page(r, "Forgot your password?", ""), Email: email}
	if !validEmail(email) {
		m.Error = "Enter a valid email address, like ada@example.com."
		return s.render(w, r, http.StatusUnprocessableEntity, views.ForgotPassword(m))
	}
	in := s.inst()
	ip := clientIP(r)
	if !in.resetsByIP.allowed(ip) || !in.resetsByTo.allowed(email) {
		m.Error = "Too many reset requests. Wait a while and try again."
		return s.render(w, r, http.StatusTooManyRequests, views.ForgotPassword(m))
	}
	in.resetsByIP.fail(ip)
	in.resetsByTo.fail(email)
	m.Sent = true
	u, err := s.d.Users.FindUserByEmail(r.Context(), email)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return s.render(w, r, http.StatusOK, views.ForgotPassword(m))
	} else if err != nil {
		return fmt.Errorf("find user for password reset: %w", err)
	}
	token := randomToken(32)
	expires := s.now().Add(resetTTL)
	if err := s.d.Resets.CreatePasswordReset(r.Context(), u.ID, hashToken(token), expires); err != nil {
		return fmt.Errorf("password reset for user %d: %w", u.ID, err)
	}
	link := s.d.BaseURL + "/password/reset?token=" + url.QueryEscape(token)
	err = s.d.Notifier.Notify(r.Context(), faultline.PasswordResetNotice{
		To:   faultline.Recipient{UserID: u.ID, Email: u.Email, Name: u.Name},
		Link: link, Expires: expires,
	})
	if err != nil {
		return fmt.Errorf("password reset mail for user %d: %w", u.ID, err)
	}
	s.log.InfoContext(r.Context(), "password reset requested", "user", u.ID)
	return s.render(w, r, http.StatusOK, views.ForgotPassword(m))
}

// serveResetForm shows the new-password form behind a live reset link.
func (s *Server) serveResetForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.resetsEnabled(); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	u, err := s.findReset(r, token)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ResetPassword(views.ResetPasswordPage{
		Page: s.page(r, "Choose a new password", ""), Token: token, Email: u.Email,
	}))
}

func (s *Server) findReset(r *http.Request, token string) (*faultline.User, error) {
	if token == "" || len(token) > 100 {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This reset link is not valid any more. Ask for a new one.")
	}
	u, err := s.d.Resets.FindPasswordReset(r.Context(), hashToken(token))
	if err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return nil, fmt.Errorf("find password reset: %w", err)
	}
	return u, err
}

// serveResetPost sets the new password, ends the account's other sessions,
// voids its other links and signs the user in.
func (s *Server) serveResetPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.resetsEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	token := r.PostFormValue("token")
	u, err := s.findReset(r, token)
	if err != nil {
		return err
	}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	msg := ""
	switch {
	case utf8.RuneCountInString(pw) < minPassword:
		msg = fmt.Sprintf("The password must be at least %d characters long.", minPassword)
	case len(pw) > maxPassword:
		msg = fmt.Sprintf("The password must be at most %d bytes long.", maxPassword)
	case pw != confirm:
		msg = "The two passwords do not match."
	}
	if msg != "" {
		return s.render(w, r, http.StatusUnprocessableEntity, views.ResetPassword(views.ResetPasswordPage{
			Page: s.page(r, "Choose a new password", ""), Token: token, Email: u.Email, Error: msg,
		}))
	}
	hash, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	u, err = s.d.Resets.ResetPassword(r.Context(), hashToken(token), hash)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return err
	} else if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	s.log.InfoContext(r.Context(), "password reset", "user", u.ID)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

package web

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

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
	if s.d.Recovery == nil || !s.d.Recovery.Enabled() {
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

// serveForgotPost asks for a reset link; the answer is the same whether or
// not an account has the address.
func (s *Server) serveForgotPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.resetsEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	m := views.ForgotPasswordPage{Page: s.page(r, "Forgot your password?", ""), Email: email}
	if err := s.d.Recovery.Request(r.Context(), email, clientIP(r)); err != nil {
		code, msg, ok := userError(err)
		if !ok {
			return err
		}
		setRetryAfter(w, err)
		m.Error = msg
		return s.render(w, r, statusOf(code), views.ForgotPassword(m))
	}
	m.Sent = true
	return s.render(w, r, http.StatusOK, views.ForgotPassword(m))
}

// serveResetForm shows the new-password form behind a live reset link.
func (s *Server) serveResetForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.resetsEnabled(); err != nil {
		return err
	}
	token := r.URL.Query().Get("token")
	u, err := s.d.Recovery.Check(r.Context(), token)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ResetPassword(views.ResetPasswordPage{
		Page: s.page(r, "Choose a new password", ""), Token: token, Email: u.Email,
	}))
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
	u, err := s.d.Recovery.Reset(r.Context(), token, r.PostFormValue("password"), r.PostFormValue("confirm"))
	if faultline.ErrorCode(err) == faultline.EINVALID {
		who, cerr := s.d.Recovery.Check(r.Context(), token)
		if cerr != nil {
			return cerr
		}
		return s.render(w, r, http.StatusUnprocessableEntity, views.ResetPassword(views.ResetPasswordPage{
			Page: s.page(r, "Choose a new password", ""), Token: token, Email: who.Email, Error: faultline.ErrorMessage(err),
		}))
	} else if err != nil {
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

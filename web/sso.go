package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// ssoCookie carries the state of a sign-in in flight, so the answer the
// provider sends back is accepted only in the browser that started it.
const ssoCookie = "faultline_sso"

// ssoRoutes are single sign-on's pages: visitors start and finish a
// sign-in; a signed-in user links their provider account on
// /settings/sign-in.
func (s *Server) ssoRoutes(r chi.Router) {
	r.Get("/sso/login", s.h(s.serveSSOLogin))
	r.Get("/sso/callback", s.h(s.serveSSOCallback))
}

func (s *Server) ssoUserRoutes(r chi.Router) {
	r.Get("/settings/sign-in", s.h(s.serveSignInSettings))
}

// signInOptions adds to the sign-in form what this portal offers besides
// a password: the forgotten-password link and single sign-on; in SSO-only
// mode it hides the password form unless ?password=1 asks for it (the way
// in an administrator keeps).
func (s *Server) signInOptions(r *http.Request, m views.AuthForm) views.AuthForm {
	m.Forgot = s.resetsEnabled() == nil
	if s.d.SSO != nil {
		m.SSO = []views.SSOButton{{Label: "Sign in with " + s.d.SSO.Name(), URL: "/sso/login?next=" + urlQueryEscape(m.Next)}}
	}
	if s.d.SSOOnly && r.URL.Query().Get("password") != "1" && r.PostFormValue("password") == "" {
		m.HidePassword = true
	}
	return m
}

// joinOptions: in SSO-only mode a visitor on an invite page signs in
// through the provider first (and comes back to join as themselves)
// instead of making a password account.
func (s *Server) joinOptions(r *http.Request, code string, m views.AuthForm) views.AuthForm {
	if !s.d.SSOOnly || m.SignedInAs != "" {
		return m
	}
	m.HidePassword = true
	m.Intro = "Sign in first; this page then adds you to the cohort."
	if s.d.SSO != nil {
		m.SSO = []views.SSOButton{{Label: "Sign in with " + s.d.SSO.Name(), URL: "/sso/login?next=" + urlQueryEscape("/join/"+code)}}
	}
	return m
}

// passwordSignUp returns nil when visitors may make password accounts
// (not in SSO-only mode).
func (s *Server) passwordSignUp() error {
	if s.d.SSOOnly {
		return faultline.Errorf(faultline.EFORBIDDEN, "This portal signs people in through their organisation's sign-in; sign in first, then open the invite link again.")
	}
	return nil
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

func (s *Server) ssoEnabled() error {
	if s.d.SSO == nil {
		return faultline.Errorf(faultline.ENOTFOUND, "Single sign-on is not set up on this portal.")
	}
	return nil
}

// serveSSOLogin starts a sign-in (or, with link=1 for a signed-in user, a
// link) and sends the browser to the provider.
func (s *Server) serveSSOLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.ssoEnabled(); err != nil {
		return err
	}
	next := localPath(r.URL.Query().Get("next"))
	var link int64
	if u := UserFromContext(r.Context()); u != nil {
		if r.URL.Query().Get("link") != "1" {
			return redirect(w, r, next)
		}
		link = u.ID
		next = "/settings/sign-in"
	}
	to, state, err := s.d.SSO.Start(r.Context(), next, link)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: ssoCookie, Value: state, Path: "/sso/", MaxAge: 600,
		HttpOnly: true, Secure: s.d.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// serveSSOCallback finishes a sign-in: the state must be the one this
// browser started with; the sso service checks the rest.
func (s *Server) serveSSOCallback(w http.ResponseWriter, r *http.Request) error {
	if err := s.ssoEnabled(); err != nil {
		return err
	}
	q := r.URL.Query()
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/sso/", MaxAge: -1,
		HttpOnly: true, Secure: s.d.SecureCookies, SameSite: http.SameSiteLaxMode})
	if e := q.Get("error"); e != "" {
		desc := oneLine(q.Get("error_description"), 200)
		if desc == "" {
			desc = oneLine(e, 60)
		}
		return faultline.Errorf(faultline.EFORBIDDEN, "%s did not sign you in: %s", s.d.SSO.Name(), desc)
	}
	state := q.Get("state")
	c, err := r.Cookie(ssoCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return faultline.Errorf(faultline.EFORBIDDEN, "This sign-in did not start in this browser. Start again from the sign-in page.")
	}
	u, next, err := s.d.SSO.Complete(r.Context(), state, q.Get("code"))
	if faultline.ErrorCode(err) == faultline.EUNAUTHORIZED {
		// Say why on a page; a GET's 401 would only send them to sign in.
		return faultline.Errorf(faultline.EFORBIDDEN, "%s", faultline.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	if cur := UserFromContext(r.Context()); cur != nil && cur.ID == u.ID {
		return redirect(w, r, localPath(next)) // a link: already signed in
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "signed in by single sign-on", "user", u.ID)
	return redirect(w, r, localPath(next))
}

// serveSignInSettings lists the account's linked identities and offers to
// link the single sign-on provider.
func (s *Server) serveSignInSettings(w http.ResponseWriter, r *http.Request) error {
	u := UserFromContext(r.Context())
	m := views.SignInSettingsPage{Page: s.page(r, "Sign-in", ""), HasPassword: u.PasswordHash != faultline.NoPassword}
	if s.d.SSO != nil {
		m.Provider = s.d.SSO.Name()
	}
	if s.d.Identities != nil {
		ids, err := s.d.Identities.ListIdentities(r.Context(), u.ID)
		if err != nil {
			return fmt.Errorf("list identities of user %d: %w", u.ID, err)
		}
		for _, id := range ids {
			m.Linked = append(m.Linked, views.LinkedIdentity{
				Kind: string(id.Kind), Issuer: id.Issuer, Since: id.CreatedAt.Format("2 January 2006"),
				LastSeen: id.LastSeenAt.Format("2 January 2006 15:04"),
			})
		}
	}
	return s.render(w, r, http.StatusOK, views.SignInSettings(m))
}

// oneLine keeps at most n bytes of s on one line of printable text.
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

package web

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// sessionCookie is the name of the login cookie.
const sessionCookie = "faultline_session"

// authenticate loads the session named by the cookie and puts the user in the
// request context. A missing, unknown or expired session means a visitor.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		sess, u, err := s.c.Authenticate(r.Context(), c.Value)
		switch {
		case faultline.ErrorCode(err) == faultline.ENOTFOUND:
			s.clearSessionCookie(w)
			next.ServeHTTP(w, r)
			return
		case err != nil:
			s.fail(w, r, err)
			return
		}
		if ru := requestUserFrom(r.Context()); ru != nil {
			ru.id = u.ID
		}
		next.ServeHTTP(w, r.WithContext(newContextWithAuth(r.Context(), u, sess)))
	})
}

// requireUser sends visitors to the sign-in page.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if UserFromContext(r.Context()) == nil {
			s.fail(w, r, faultline.Errorf(faultline.EUNAUTHORIZED, "Please sign in to continue."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireTeacher answers 404 to anyone who teaches nowhere: instructor
// pages do not admit they exist. Each page's course verb then checks that
// the viewer teaches its cohort.
func (s *Server) requireTeacher(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := s.c.TeachesAnywhere(r.Context(), UserFromContext(r.Context()))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			s.fail(w, r, faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// startSession signs u in: a new session replacing the request's current
// one, if any (rotation at sign-in), and its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *faultline.User) error {
	old := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		old = c.Value
	}
	token, _, err := s.c.StartSession(r.Context(), u, old)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(course.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   s.d.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.d.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// maxMultipartMemory is how much of a multipart form is held in memory; the
// body as a whole is capped by MaxBody anyway.
const maxMultipartMemory = 4 << 20

// parseForm parses a POST form, URL-encoded or multipart; a body over
// MaxBody becomes ETOOLARGE and anything else unreadable EINVALID.
func (s *Server) parseForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxMultipartMemory)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		return faultline.Errorf(faultline.EINVALID, "The form could not be read.")
	}
	return nil
}

// formValue is a POST form field after parseForm (multipart or not).
func formValue(r *http.Request, name string) string {
	if r.MultipartForm != nil {
		if vs := r.MultipartForm.Value[name]; len(vs) > 0 {
			return vs[0]
		}
	}
	return r.PostForm.Get(name)
}

// ---- Sign in / out ----

func (s *Server) loginForm(r *http.Request, email, next, msg string) views.AuthForm {
	return s.signInOptions(r, views.AuthForm{
		Page: s.page(r, "Sign in", ""), Action: "/login", Heading: "Sign in",
		Email: email, Next: next, Error: msg, Submit: "Sign in",
	}) // sso.go
}

// serveLogin shows the sign-in form (or sends a signed-in user on).
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	if UserFromContext(r.Context()) != nil {
		return redirect(w, r, next)
	}
	return s.render(w, r, http.StatusOK, views.Auth(s.loginForm(r, "", next, "")))
}

// serveLoginPost checks the credentials and starts a fresh session.
// Failures re-render the form with the email kept.
func (s *Server) serveLoginPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(formValue(r, "email")))
	next := localPath(formValue(r, "next"))
	u, err := s.c.SignIn(r.Context(), email, formValue(r, "password"), clientIP(r))
	if err != nil {
		code, msg, ok := userError(err)
		if !ok {
			return err
		}
		setRetryAfter(w, err)
		return s.render(w, r, statusOf(code), views.Auth(s.loginForm(r, email, next, msg)))
	}
	if err := s.passwordSignIn(u); err != nil { // sso.go: SSO-only mode
		return s.render(w, r, statusOf(faultline.ErrorCode(err)), views.Auth(s.loginForm(r, email, next, faultline.ErrorMessage(err))))
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, next)
}

// serveLogout deletes the session and clears the cookie.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.c.EndSession(r.Context(), sessionFromContext(r.Context())); err != nil {
		return err
	}
	s.clearSessionCookie(w)
	return redirect(w, r, "/")
}

// ---- First admin ----

func (s *Server) setupForm(r *http.Request, token, name, email, msg string) views.AuthForm {
	return views.AuthForm{
		Page: s.page(r, "Set up Faultline", ""), Action: "/setup", Heading: "Create the administrator",
		Intro: "This account runs the portal: it can create cohorts and see every learner's work.",
		Token: token, Name: name, Email: email, Error: msg, WithName: true, Submit: "Create administrator",
	}
}

// serveSetup shows the first-admin form while the portal has no users.
func (s *Server) serveSetup(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if err := s.c.SetupOpen(r.Context(), token); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Auth(s.setupForm(r, token, "", "", "")))
}

// serveSetupPost creates the first admin, once, and signs them in.
func (s *Server) serveSetupPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	token := formValue(r, "token")
	in := readAccount(r)
	u, err := s.c.Setup(r.Context(), token, in)
	if err != nil {
		if code, msg, ok := userError(err); ok && (code == faultline.EINVALID || code == faultline.ECONFLICT) {
			return s.render(w, r, statusOf(code), views.Auth(s.setupForm(r, token, in.Name, in.Email, msg)))
		}
		return err
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

// ---- Join a cohort ----

func (s *Server) joinForm(r *http.Request, c *faultline.Cohort, code, name, email, msg string) views.AuthForm {
	m := views.AuthForm{
		Page: s.page(r, "Join "+c.Name, ""), Action: "/join/" + url.PathEscape(code),
		Heading: "Join " + c.Name,
		Intro:   "Create your learner account for this cohort.",
		Name:    name, Email: email, Error: msg, WithName: true, Submit: "Create account",
	}
	if u := UserFromContext(r.Context()); u != nil {
		m.Intro = ""
		m.SignedInAs = u.Name
	}
	return s.joinOptions(r, code, m) // sso.go: SSO-only mode
}

// serveJoin shows the sign-up form of a cohort invite; 404 for a bad code.
func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request) error {
	code := chi.URLParam(r, "code")
	c, err := s.c.InviteCohort(r.Context(), code)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Auth(s.joinForm(r, c, code, "", "", "")))
}

// serveJoinPost creates a learner account in the cohort and signs it in; a
// signed-in user is added to the cohort instead.
func (s *Server) serveJoinPost(w http.ResponseWriter, r *http.Request) error {
	code := chi.URLParam(r, "code")
	viewer := UserFromContext(r.Context())
	if viewer != nil {
		if _, _, err := s.c.Join(r.Context(), viewer, code, course.NewAccount{}); err != nil {
			return err
		}
		return redirect(w, r, "/")
	}
	if err := s.passwordSignUp(); err != nil { // sso.go: SSO-only mode
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	in := readAccount(r)
	c, u, err := s.c.Join(r.Context(), nil, code, in)
	if err != nil {
		code2, msg, ok := userError(err)
		if ok && (code2 == faultline.EINVALID || code2 == faultline.ECONFLICT) {
			c, cerr := s.c.InviteCohort(r.Context(), code)
			if cerr != nil {
				return cerr
			}
			return s.render(w, r, statusOf(code2), views.Auth(s.joinForm(r, c, code, in.Name, in.Email, msg)))
		}
		return err
	}
	s.log.InfoContext(r.Context(), "learner joined", "user", u.ID, "cohort", c.ID)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

// readAccount reads the fields of the setup and join forms.
func readAccount(r *http.Request) course.NewAccount {
	return course.NewAccount{
		Name:     strings.TrimSpace(formValue(r, "name")),
		Email:    strings.ToLower(strings.TrimSpace(formValue(r, "email"))),
		Password: formValue(r, "password"),
		Confirm:  formValue(r, "confirm"),
	}
}

// localPath returns p if it is a path on this site, else "/": no open
// redirects, whatever p holds. Browsers drop tabs and newlines from URLs
// and treat a backslash as a slash, so "/\t/evil.example" or "/\\evil" would
// become "//evil.example": any control character, any backslash (raw or
// percent-encoded), and any path whose first two characters (after
// decoding) are slashes, is refused.
func localPath(p string) string {
	if p == "" || p[0] != '/' || len(p) > 2000 {
		return "/"
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == '\\' {
			return "/"
		}
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return "/"
	}
	for _, r := range dec {
		if unicode.IsControl(r) || r == '\\' {
			return "/"
		}
	}
	if strings.HasPrefix(dec, "//") || strings.HasPrefix(p, "//") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// clientIP is the address the request came from (the proxy's, behind one).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

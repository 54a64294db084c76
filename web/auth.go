package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// sessionCookie is the name of the login cookie.
const sessionCookie = "faultline_session"

// Password rules. bcrypt reads at most 72 bytes.
const (
	minPassword = 10
	maxPassword = 72
)

// randomToken returns n random bytes, URL-safe base64 encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the OS cannot supply randomness)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is the session ID stored for a cookie token: SHA-256, hex.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authenticate loads the session named by the cookie and puts the user in the
// request context. A missing, unknown or expired session means a visitor.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" || len(c.Value) > 100 {
			next.ServeHTTP(w, r)
			return
		}
		sess, u, err := s.d.Sessions.FindSession(r.Context(), hashToken(c.Value))
		switch {
		case faultline.ErrorCode(err) == faultline.ENOTFOUND:
			s.clearSessionCookie(w)
			next.ServeHTTP(w, r)
			return
		case err != nil:
			s.fail(w, r, fmt.Errorf("find session: %w", err))
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

// requireTeacher answers 404 to anyone who teaches nowhere (neither an
// instructor or admin account nor a co-instructor of some cohort):
// instructor pages do not admit they exist. Each page then checks that the
// viewer teaches its cohort.
func (s *Server) requireTeacher(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := s.teacher(r.Context(), UserFromContext(r.Context()))
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

// teacher reports whether u teaches anywhere: an instructor or admin
// account, or a member who teaches some cohort. A cohort's instructor can
// make any member a co-instructor, a learner account included; that gives
// them the cohort's instructor pages, not the right to create cohorts.
func (s *Server) teacher(ctx context.Context, u *faultline.User) (bool, error) {
	if u == nil {
		return false, nil
	}
	if u.CanTeach() {
		return true, nil
	}
	cs, err := s.d.Cohorts.ListCohorts(ctx, u.ID)
	if err != nil {
		return false, fmt.Errorf("list cohorts of user %d: %w", u.ID, err)
	}
	for _, c := range cs {
		role, err := s.d.Cohorts.MemberRole(ctx, c.ID, u.ID)
		if err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return false, fmt.Errorf("role of user %d in cohort %d: %w", u.ID, c.ID, err)
		}
		if err == nil && role.Teaches() {
			return true, nil
		}
	}
	return false, nil
}

// startSession creates a new session for u, replacing the request's current
// one if any (rotation at login), and sets the cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *faultline.User) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.d.Sessions.DeleteSession(r.Context(), hashToken(c.Value)); err != nil {
			return fmt.Errorf("delete old session of user %d: %w", u.ID, err)
		}
	}
	token := randomToken(32)
	now := s.now()
	sess := &faultline.Session{ID: hashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.SessionTTL)}
	if err := s.d.Sessions.CreateSession(r.Context(), sess); err != nil {
		return fmt.Errorf("create session for user %d: %w", u.ID, err)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(s.SessionTTL.Seconds()),
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

// parseForm parses a POST form; a body over MaxBody becomes ETOOLARGE and
// anything else unreadable EINVALID.
func (s *Server) parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		return faultline.Errorf(faultline.EINVALID, "The form could not be read.")
	}
	return nil
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

// serveLoginPost checks the credentials, throttled per email and client IP,
// and starts a fresh session. Failures re-render the form with the email kept.
func (s *Server) serveLoginPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	key := email + "|" + clientIP(r)

	again := func(code, msg string) error {
		return s.render(w, r, statusOf(code), views.Auth(s.loginForm(r, email, next, msg)))
	}
	if !s.logins.allowed(key) {
		return again(faultline.ETOOMANY, "Too many failed sign-ins. Wait a few minutes and try again.")
	}
	u, err := s.d.Users.FindUserByEmail(r.Context(), email)
	switch {
	case faultline.ErrorCode(err) == faultline.ENOTFOUND || email == "":
		// Spend the same time as a real check so timing does not reveal accounts.
		_ = bcrypt.CompareHashAndPassword(s.dummy(), []byte(password))
		s.logins.fail(key)
		return again(faultline.EUNAUTHORIZED, "The email or password is wrong.")
	case err != nil:
		return fmt.Errorf("find user %q: %w", email, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		s.logins.fail(key)
		return again(faultline.EUNAUTHORIZED, "The email or password is wrong.")
	}
	if err := s.passwordSignIn(u); err != nil { // sso.go: SSO-only mode
		return again(faultline.ErrorCode(err), faultline.ErrorMessage(err))
	}
	s.logins.reset(key)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, next)
}

// dummy is a bcrypt hash to compare against when the account does not exist.
func (s *Server) dummy() []byte {
	s.dummyOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(randomToken(16)), s.BcryptCost)
		if err != nil {
			panic(fmt.Sprintf("bcrypt dummy hash: %v", err))
		}
		s.dummyHash = h
	})
	return s.dummyHash
}

// serveLogout deletes the session and clears the cookie.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) error {
	if sess := sessionFromContext(r.Context()); sess != nil {
		if err := s.d.Sessions.DeleteSession(r.Context(), sess.ID); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
	}
	s.clearSessionCookie(w)
	return redirect(w, r, "/")
}

// ---- First admin ----

// setupOpen returns nil while setup is possible and token matches, else
// ENOTFOUND (setup is over or disabled) or EFORBIDDEN (wrong token).
func (s *Server) setupOpen(ctx context.Context, token string) error {
	if s.d.SetupToken == "" {
		return faultline.Errorf(faultline.ENOTFOUND, "Setup is finished: this portal already has its administrator.")
	}
	n, err := s.d.Users.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "Setup is finished: this portal already has its administrator.")
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.d.SetupToken)) != 1 {
		return faultline.Errorf(faultline.EFORBIDDEN, "This setup link is not valid. Use the link the server printed when it started.")
	}
	return nil
}

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
	if err := s.setupOpen(r.Context(), token); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Auth(s.setupForm(r, token, "", "", "")))
}

// serveSetupPost creates the first admin, once, and signs them in.
func (s *Server) serveSetupPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	token := r.PostFormValue("token")
	in := readAccount(r)
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if err := s.setupOpen(r.Context(), token); err != nil {
		return err
	}
	if msg := in.validate(); msg != "" {
		return s.render(w, r, http.StatusUnprocessableEntity, views.Auth(s.setupForm(r, token, in.name, in.email, msg)))
	}
	hash, err := s.hashPassword(in.password)
	if err != nil {
		return err
	}
	u := &faultline.User{Email: in.email, Name: in.name, Role: faultline.RoleAdmin, PasswordHash: hash}
	if err := s.d.Users.CreateUser(r.Context(), u); err != nil {
		if code, msg, ok := userError(err); ok && (code == faultline.EINVALID || code == faultline.ECONFLICT) {
			return s.render(w, r, statusOf(code), views.Auth(s.setupForm(r, token, in.name, in.email, msg)))
		}
		return fmt.Errorf("create admin %q: %w", in.email, err)
	}
	s.log.InfoContext(r.Context(), "first administrator created", "user", u.ID)
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

// ---- Join a cohort ----

func (s *Server) joinForm(r *http.Request, c *faultline.Cohort, name, email, msg string) views.AuthForm {
	m := views.AuthForm{
		Page: s.page(r, "Join "+c.Name, ""), Action: "/join/" + url.PathEscape(c.InviteCode),
		Heading: "Join " + c.Name,
		Intro:   "Create your learner account for this cohort.",
		Name:    name, Email: email, Error: msg, WithName: true, Submit: "Create account",
	}
	if u := UserFromContext(r.Context()); u != nil {
		m.Intro = ""
		m.SignedInAs = u.Name
	}
	return m
}

// serveJoin shows the sign-up form of a cohort invite; 404 for a bad code.
func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request) error {
	c, err := s.d.Cohorts.FindCohortByInvite(r.Context(), chi.URLParam(r, "code"))
	if err != nil {
		return inviteErr(err)
	}
	return s.render(w, r, http.StatusOK, views.Auth(s.joinForm(r, c, "", "", "")))
}

func inviteErr(err error) error {
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return faultline.Errorf(faultline.ENOTFOUND, "This invite link is not valid. Ask your instructor for a new one.")
	}
	return fmt.Errorf("find cohort by invite: %w", err)
}

// serveJoinPost creates a learner account in the cohort and signs it in; a
// signed-in user is added to the cohort instead.
func (s *Server) serveJoinPost(w http.ResponseWriter, r *http.Request) error {
	code := chi.URLParam(r, "code")
	c, err := s.d.Cohorts.FindCohortByInvite(r.Context(), code)
	if err != nil {
		return inviteErr(err)
	}
	if u := UserFromContext(r.Context()); u != nil {
		_, err := s.d.Cohorts.MemberRole(r.Context(), c.ID, u.ID)
		switch faultline.ErrorCode(err) {
		case "":
			return redirect(w, r, "/") // already a member: keep the role
		case faultline.ENOTFOUND:
			if err := s.d.Cohorts.AddMember(r.Context(), c.ID, u.ID, faultline.MemberLearner); err != nil {
				return fmt.Errorf("add user %d to cohort %d: %w", u.ID, c.ID, err)
			}
			return redirect(w, r, "/")
		default:
			return fmt.Errorf("member role of user %d in cohort %d: %w", u.ID, c.ID, err)
		}
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	in := readAccount(r)
	if msg := in.validate(); msg != "" {
		return s.render(w, r, http.StatusUnprocessableEntity, views.Auth(s.joinForm(r, c, in.name, in.email, msg)))
	}
	hash, err := s.hashPassword(in.password)
	if err != nil {
		return err
	}
	u := &faultline.User{Email: in.email, Name: in.name, Role: faultline.RoleLearner, PasswordHash: hash}
	if _, err := s.d.Cohorts.Join(r.Context(), code, u); err != nil {
		switch code, msg, _ := userError(err); code {
		case faultline.ECONFLICT:
			msg = "An account with this email exists already. Sign in, then open this invite link again to join."
			fallthrough
		case faultline.EINVALID:
			return s.render(w, r, statusOf(code), views.Auth(s.joinForm(r, c, in.name, in.email, msg)))
		}
		return fmt.Errorf("join cohort %d as %q: %w", c.ID, in.email, err)
	}
	if err := s.startSession(w, r, u); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

// account is the input of the setup and join forms.
type account struct{ name, email, password, confirm string }

func readAccount(r *http.Request) account {
	return account{
		name:     strings.TrimSpace(r.PostFormValue("name")),
		email:    strings.ToLower(strings.TrimSpace(r.PostFormValue("email"))),
		password: r.PostFormValue("password"),
		confirm:  r.PostFormValue("confirm"),
	}
}

// validate returns what to fix, or "".
func (a account) validate() string {
	switch {
	case a.name == "" || utf8.RuneCountInString(a.name) > 100:
		return "Enter your name (up to 100 characters)."
	case !validEmail(a.email):
		return "Enter a valid email address, like ada@example.com."
	case utf8.RuneCountInString(a.password) < minPassword:
		return fmt.Sprintf("The password must be at least %d characters long.", minPassword)
	case len(a.password) > maxPassword:
		return fmt.Sprintf("The password must be at most %d bytes long.", maxPassword)
	case a.password != a.confirm:
		return "The two passwords do not match."
	}
	return ""
}

func validEmail(e string) bool {
	if len(e) < 3 || len(e) > 254 || strings.ContainsAny(e, " \t\r\n<>\"") {
		return false
	}
	at := strings.LastIndexByte(e, '@')
	return at > 0 && at < len(e)-1 && strings.Count(e, "@") == 1
}

// localPath returns p if it is a path on this site, else "/": no open redirects.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n\\") {
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
